"""The embedded search engine: tantivy for BM25, numpy for vectors, with the OpenSearch index's semantics.

- Korean text fields hold the `KoreanAnalyzer` tokens joined by spaces, indexed with a whitespace tokenizer,
  so tantivy sees the same terms nori would produce; `.en` fields use tantivy's English stemmer.
- Chosung and keyboard fields hold Python-built word prefixes (what the OpenSearch edge_ngram emits).
- External versioning: a write whose version is not newer than the indexed one (or than a delete's) is
  reported stale and skipped, exactly as a 409 from OpenSearch.
- Physical indices are generations (`products-v0001`) behind an alias, a JSON pointer file swapped with
  `os.replace`, so a reindex is invisible to readers until the swap.
- Hybrid plans fuse BM25 and cosine scores with `combine_sub_queries`, the same function the OpenSearch
  search pipeline mirrors. k-NN scores use OpenSearch's cosinesimil score, (1 + cos) / 2.

This module is the index API (`EmbeddedSearchIndex`: alias, writes, plan execution); the tantivy schema and
per-generation storage are in `embedded_search_storage.py`, the tantivy query building in
`embedded_search_queries.py`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import tantivy

from cataloop.adapters.embedded_generations import AliasedGenerations, unit_rows
from cataloop.adapters.embedded_search_queries import PlanQueries, filter_queries
from cataloop.adapters.embedded_search_storage import Generation, english_analyzer
from cataloop.adapters.korean_analyzer import AnalyzedToken, KoreanAnalyzer, SynonymRules, joined_terms
from cataloop.domain.search.documents import BulkOutcome, ProductDocument, index_name, prefix_grams
from cataloop.domain.search.plan import (
    SearchHit,
    SearchPage,
    SearchPlan,
    SortKey,
    combine_sub_queries,
    rank_by_score,
    vector_floor,
)
from cataloop.errors import InvalidInput
from cataloop.ports import Embedder

# Token streams of analysed texts remembered per index (about 1-3 kB each; the memo is cleared when full).
ANALYSIS_MEMO_SIZE = 20_000

_SORT_FIELDS: dict[SortKey, tuple[str, bool]] = {
    "price_asc": ("price", False),
    "price_desc": ("price", True),
    "rating": ("rating", True),
    "review_count": ("review_count", True),
    "purchase_count": ("purchase_count", True),
    "unit_price_asc": ("unit_price", False),
    "total_content_desc": ("total_content", True),
}


_blas_pinned = False


def pin_blas_threads(threads: int = 1) -> None:
    """Limit numpy's BLAS to `threads` threads in this process (once), with threadpoolctl.

    The k-NN side is one matrix-vector product per search: on the two shared cores of a local run a BLAS
    thread pool only adds hand-offs and contends with the other request threads, tantivy and e5 (itself
    pinned to one thread); issue 15 measured a 10k k-NN at 8 ms instead of 0.2 ms on a busy box."""
    global _blas_pinned
    if _blas_pinned:
        return
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads, user_api="blas")
    _blas_pinned = True


class EmbeddedSearchIndex(AliasedGenerations):
    """A product index with OpenSearch semantics, on disk under `path` (or in memory when `path` is None).
    The API mirrors `OpenSearchIndex`: generations behind an alias, bulk writes, `search(plan, vector)`.
    Building one pins the process's OpenBLAS to one thread (`pin_blas_threads`)."""

    def __init__(
        self,
        path: str | Path | None,
        analyzer: KoreanAnalyzer,
        embedder: Embedder | None,
        dimension: int,
        *,
        alias: str = "products",
        synonyms: Sequence[str] = (),
    ) -> None:
        try:
            index_name(alias, 1)
        except ValueError as error:
            raise InvalidInput(str(error)) from error
        if embedder is not None and embedder.dimension != dimension:
            raise InvalidInput(
                f"embedder dimension {embedder.dimension} differs from index dimension {dimension}"
            )
        pin_blas_threads()
        self.root = Path(path) if path is not None else None
        self.alias = alias
        self.dimension = dimension
        self._analyzer = analyzer
        self._embedder = embedder
        self._english = english_analyzer()
        self._queries = PlanQueries(analyzer, SynonymRules(synonyms), self._english)
        self._generations: dict[str, Generation] = {}
        self._memory_alias: str | None = None
        self._lock = threading.RLock()
        self._token_memo: dict[str, list[AnalyzedToken]] = {}
        if self.root is not None:
            self.root.mkdir(parents=True, exist_ok=True)

    # --- generations and alias ---------------------------------------------------------------------

    def close(self) -> None:
        """Release the tantivy writers (their directory locks)."""
        with self._lock:
            for generation in self._generations.values():
                generation.close()

    def _open(self, name: str) -> Generation:
        generation = self._generations.get(name)
        if generation is None:
            directory = self.root / name if self.root is not None else None
            generation = Generation(name, directory, self.dimension, rebuild=self._rebuilt_document)
            self._generations[name] = generation
        return generation

    def _target(self, index: str | None) -> Generation:
        if index is not None:
            if index not in self.existing_indices():
                raise InvalidInput(f"index {index!r} does not exist; create it with create_index() first")
            return self._open(index)
        targets = self.alias_targets()
        if not targets:
            raise InvalidInput(f"alias {self.alias!r} points at no index yet; call ensure_index() first")
        return self._open(targets[0])

    # --- writes --------------------------------------------------------------------------------------

    def bulk_upsert(
        self,
        documents: Sequence[ProductDocument],
        vectors: Sequence[Sequence[float]] | None = None,
        *,
        index: str | None = None,
    ) -> BulkOutcome:
        """Index documents with external versions: a version not newer than the indexed (or deleted) one is
        stale and skipped. Vectors default to the embedder's passage vectors of `embedding_text`."""
        outcome = BulkOutcome()
        if not documents:
            return outcome
        with self._lock:
            generation = self._target(index)
            fresh: list[int] = []
            batch_versions: dict[str, int] = {}
            for position, document in enumerate(documents):
                known = max(generation.current_version(document.id), batch_versions.get(document.id, 0))
                if document.version <= known:
                    outcome.stale_skipped.append(document.id)
                else:
                    batch_versions[document.id] = document.version
                    fresh.append(position)
            if not fresh:
                return outcome
            rows = self._vectors_for([documents[i] for i in fresh], vectors, fresh)
            writer = generation.writer
            for row, position in zip(rows, fresh, strict=True):
                document = documents[position]
                writer.delete_documents_by_term("id", document.id)
                writer.add_document(self._tantivy_document(document))
                generation.upsert(document.id, document.version, document.source(), row)
                outcome.indexed += 1
            generation.commit()
        return outcome

    def delete(self, doc_id: str, version: int, *, index: str | None = None) -> BulkOutcome:
        """Remove a document as of `version`, which must be newer than the indexed one (for a DynamoDB
        REMOVE pass the old image's version + 1); a tombstone keeps older writes from resurrecting it."""
        return self.bulk_delete([(doc_id, version)], index=index)

    def bulk_delete(self, items: Sequence[tuple[str, int]], *, index: str | None = None) -> BulkOutcome:
        """`delete` for many (id, version) pairs, committed once."""
        outcome = BulkOutcome()
        if not items:
            return outcome
        with self._lock:
            generation = self._target(index)
            for doc_id, version in items:
                if version <= generation.current_version(doc_id):
                    outcome.stale_skipped.append(doc_id)
                    continue
                generation.writer.delete_documents_by_term("id", doc_id)
                generation.delete(doc_id, version)
                outcome.deleted += 1
            if outcome.deleted:
                generation.commit()
        return outcome

    def _vectors_for(
        self,
        documents: Sequence[ProductDocument],
        vectors: Sequence[Sequence[float]] | None,
        positions: Sequence[int],
    ) -> np.ndarray:
        if vectors is not None:
            if len(vectors) < max(positions) + 1:
                raise InvalidInput("give one vector per document, in the same order")
            return unit_rows([vectors[i] for i in positions], self.dimension)
        if self._embedder is None:
            raise InvalidInput("no vectors given and no embedder configured; pass vectors= or an embedder")
        embedded = self._embedder.embed([document.embedding_text for document in documents], "passage")
        return unit_rows(embedded, self.dimension)

    def _rebuilt_document(self, source: dict[str, Any], version: int) -> tantivy.Document:
        """The tantivy document of a journalled source (`ProductDocument.source()` plus its version): what
        a generation redoes on open when its last commit reached the journal but not tantivy."""
        fields = {key: value for key, value in source.items() if not key.startswith("attr_")}
        attributes = {key: value for key, value in source.items() if key.startswith("attr_")}
        return self._tantivy_document(ProductDocument(**fields, attributes=attributes, version=version))

    def _tokens(self, text: str) -> str:
        return " ".join(self._analyzed(text)) if text else ""

    def _analyzed(self, text: str) -> list[str]:
        """`analyzer.analyze(text)`, from the memoised token stream."""
        return [token.term for token in self._token_stream(text)]

    def _joined(self, text: str) -> list[str]:
        """`analyzer.joined(text)` from the memoised token stream, so a name is parsed once for both its field
        and its joined field."""
        return joined_terms(self._token_stream(text))

    def _token_stream(self, text: str) -> list[AnalyzedToken]:
        """`analyzer.tokens(text)`, memoised: categories, brands, keywords, attribute values and an updated
        product's unchanged fields repeat across writes, and Korean analysis is most of indexing's cost."""
        tokens = self._token_memo.get(text)
        if tokens is None:
            tokens = self._analyzer.tokens(text)
            if len(self._token_memo) >= ANALYSIS_MEMO_SIZE:
                self._token_memo.clear()  # bounded; what repeats comes back
            self._token_memo[text] = tokens
        return tokens

    def _tantivy_document(self, document: ProductDocument) -> tantivy.Document:
        doc = tantivy.Document()
        doc.add_text("id", document.id)
        attribute_values = [value for values in document.attributes.values() for value in values]
        korean_text = {
            "name": document.name,
            "description": document.description,
            "keywords": " ".join(document.keywords),
            "brand": document.brand or "",
            "category": document.category,
            "child_names": " ".join(document.child_names),
            "attributes": " ".join(attribute_values),
        }
        for field, text in korean_text.items():
            tokens = self._tokens(text)
            if tokens:
                doc.add_text(field, tokens)
        if document.name_key:
            doc.add_text("name_key", document.name_key)
        joined = {
            "name_joined": self._joined(document.name),
            "keywords_joined": [term for keyword in document.keywords for term in self._joined(keyword)],
        }
        for field, terms in joined.items():
            if terms:
                doc.add_text(field, " ".join(terms))
        for field, text in (("name_en", document.name), ("description_en", document.description)):
            if text:
                doc.add_text(field, text)
        if document.english:
            doc.add_text("english", document.english)
        for field, forms in (("name_chosung", document.name_chosung), ("name_qwerty", document.name_qwerty)):
            grams = [gram for form in forms for gram in prefix_grams(form.lower())]
            if grams:
                doc.add_text(field, " ".join(grams))
        for prefix in document.category_prefixes:
            doc.add_text("category_prefixes", prefix)
        if document.brand:
            doc.add_text("brand_raw", document.brand)
        for field, values in document.attributes.items():
            for value in values:
                doc.add_text("attr_filter", f"{field}={value}")
        doc.add_boolean("is_food", document.is_food)
        doc.add_boolean("has_parent", document.parent_id is not None)
        if document.price is not None:
            doc.add_float("price", document.price)
        if document.rating is not None:
            doc.add_float("rating", document.rating)
        if document.unit_price is not None:
            doc.add_float("unit_price", document.unit_price)
        if document.total_content is not None:
            doc.add_float("total_content", document.total_content)
        doc.add_integer("review_count", document.review_count)
        doc.add_integer("purchase_count", document.purchase_count)
        return doc

    # --- vocabulary ----------------------------------------------------------------------------------

    def vocabulary(self) -> Mapping[str, int]:
        """Analysed terms of names, keywords, brands, English text and compounds in the aliased index, with
        their document frequencies (the generation's cached mapping, rebuilt after a commit: not a copy)."""
        with self._lock:
            return MappingProxyType(self._target(None).vocabulary())

    def in_catalog(self, text: str) -> bool:
        """True when every analysed term of `text` (Korean analysis, or else English stemming) occurs in
        the catalog vocabulary: the check a keyboard-layout variant must pass before the planner uses it."""
        korean = self._analyzer.analyze(text)
        english = self._english.analyze(text)
        with self._lock:
            vocabulary = self._target(None).vocabulary()
            return any(terms and all(term in vocabulary for term in terms) for terms in (korean, english))

    # --- search --------------------------------------------------------------------------------------

    def search(self, plan: SearchPlan, query_vector: Sequence[float] | None = None) -> SearchPage:
        """Execute a plan with the OpenSearch semantics: BM25 per clause (best field, boosted), filters,
        sort; hybrid plans add cosine k-NN and fuse both with the shared normalisation/combination."""
        with self._lock:
            generation = self._target(None)
            searcher = generation.index.searcher()
            lexical = self._queries.lexical(generation.schema, plan)
            filters = filter_queries(generation.schema, plan.filters)
            if plan.mode == "hybrid":
                if query_vector is None:
                    if self._embedder is None:
                        raise InvalidInput("a hybrid plan needs a query vector or an embedder")
                    query_vector = self._embedder.embed([plan.query], "query")[0]
                return self._hybrid(generation, searcher, plan, lexical, filters, query_vector)
            return self._keyword(generation, searcher, plan, lexical, filters)

    def _keyword(
        self,
        generation: Generation,
        searcher: tantivy.Searcher,
        plan: SearchPlan,
        lexical: tantivy.Query | None,
        filters: list[tuple[tantivy.Occur, tantivy.Query]],
    ) -> SearchPage:
        if lexical is None:
            return SearchPage(hits=[], total=0)
        query = tantivy.Query.boolean_query([(tantivy.Occur.Must, lexical), *filters])
        limit = plan.offset + plan.size if plan.sort == "relevance" else max(searcher.num_docs, 1)
        result = searcher.search(query, limit=limit, count=True)
        scores = {searcher.doc(address)["id"][0]: float(score) for score, address in result.hits}
        ordered = self._ordered(generation, scores, plan.sort)
        # `count` exists at run time (count=True) but is missing from tantivy's type stub.
        total = int(getattr(result, "count", None) or len(scores))
        return self._page(generation, ordered, scores, plan, total=total)

    def _hybrid(
        self,
        generation: Generation,
        searcher: tantivy.Searcher,
        plan: SearchPlan,
        lexical: tantivy.Query | None,
        filters: list[tuple[tantivy.Occur, tantivy.Query]],
        query_vector: Sequence[float],
    ) -> SearchPage:
        lexical_scores: dict[str, float] = {}
        if lexical is not None:
            query = tantivy.Query.boolean_query([(tantivy.Occur.Must, lexical), *filters])
            result = searcher.search(query, limit=plan.candidate_depth)
            lexical_scores = {searcher.doc(address)["id"][0]: float(score) for score, address in result.hits}
        allowed = None
        if filters:
            query = tantivy.Query.boolean_query([(tantivy.Occur.Must, tantivy.Query.all_query()), *filters])
            result = searcher.search(query, limit=max(searcher.num_docs, 1))
            allowed = {searcher.doc(address)["id"][0] for _, address in result.hits}
        vector_scores = self._knn(generation, query_vector, plan.candidate_depth, allowed)
        if vector_scores:
            best = max(vector_scores.values())
            floor = vector_floor(best, plan.min_vector_score, plan.vector_score_margin)
            if floor is not None:
                # Above the floor, or found by the lexical side (scored by similarity like any k-NN hit).
                vector_scores = {doc_id: score for doc_id, score in vector_scores.items() if score >= floor}
                vector_scores.update(self._similarities(generation, query_vector, lexical_scores))
        fused = combine_sub_queries(
            [lexical_scores, vector_scores],
            normalization=plan.normalization,
            combination=plan.combination,
            weights=plan.sub_query_weights(),
            rank_constant=plan.rank_constant,
        )
        ordered = self._ordered(generation, fused, plan.sort)
        return self._page(generation, ordered, fused, plan, total=len(fused))

    def _knn(
        self, generation: Generation, query_vector: Sequence[float], k: int, allowed: set[str] | None
    ) -> dict[str, float]:
        if not generation.vector_ids:
            return {}
        query = unit_rows([query_vector], self.dimension)[0]
        cosine = generation.vectors @ query
        rows = np.arange(len(generation.vector_ids))
        if allowed is not None:
            rows = np.array(
                [row for row, doc_id in enumerate(generation.vector_ids) if doc_id in allowed], dtype=int
            )
            if rows.size == 0:
                return {}
        candidates = cosine[rows]
        if k < candidates.size:
            # The k best in O(n), then only those sorted (ties by row, as a stable sort of all would).
            best = np.argpartition(-candidates, k - 1)[:k]
            order = best[np.lexsort((best, -candidates[best]))]
        else:
            order = np.argsort(-candidates, kind="stable")
        top = rows[order]
        return {generation.vector_ids[row]: float((1.0 + cosine[row]) / 2.0) for row in top}

    def _similarities(
        self, generation: Generation, query_vector: Sequence[float], doc_ids: Iterable[str]
    ) -> dict[str, float]:
        """The k-NN score ((1 + cosine) / 2) of each of `doc_ids` that has a vector."""
        rows = [
            (doc_id, row) for doc_id in doc_ids if (row := generation.vector_rows.get(doc_id)) is not None
        ]
        if not rows:
            return {}
        query = unit_rows([query_vector], self.dimension)[0]
        cosine = generation.vectors[[row for _, row in rows]] @ query
        return {doc_id: float((1.0 + value) / 2.0) for (doc_id, _), value in zip(rows, cosine, strict=True)}

    def _ordered(self, generation: Generation, scores: dict[str, float], sort: SortKey) -> list[str]:
        by_score = rank_by_score(scores)
        if sort == "relevance":
            return by_score
        field, descending = _SORT_FIELDS[sort]
        rank = {doc_id: position for position, doc_id in enumerate(by_score)}

        def key(doc_id: str) -> tuple[bool, float, int]:
            value = generation.sources[doc_id].get(field)
            if value is None:
                return (True, 0.0, rank[doc_id])  # missing values last, as OpenSearch's "missing": "_last"
            return (False, -float(value) if descending else float(value), rank[doc_id])

        return sorted(by_score, key=key)

    def _page(
        self,
        generation: Generation,
        ordered: list[str],
        scores: dict[str, float],
        plan: SearchPlan,
        total: int,
    ) -> SearchPage:
        window = ordered[plan.offset : plan.offset + plan.size]
        hits = [
            SearchHit(id=doc_id, score=scores[doc_id], source=_public_source(generation.sources[doc_id]))
            for doc_id in window
        ]
        return SearchPage(hits=hits, total=total)


def _public_source(source: dict[str, Any]) -> dict[str, Any]:
    # Same exclusions as the OpenSearch search body's _source.excludes.
    public = dict(source)
    public.pop("embedding_text", None)
    return public
