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
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tantivy

from cataloop.adapters.embedded_generations import AliasedGenerations, atomic_write, unit_rows
from cataloop.adapters.korean_analyzer import KoreanAnalyzer, SynonymRules
from cataloop.domain.search.documents import (
    CATEGORY_SEPARATOR,
    BulkOutcome,
    ProductDocument,
    attribute_field,
    index_name,
    prefix_grams,
)
from cataloop.domain.search.plan import (
    FieldBoost,
    LexicalClause,
    SearchFilters,
    SearchHit,
    SearchPage,
    SearchPlan,
    SortKey,
    combine_sub_queries,
    rank_by_score,
)
from cataloop.errors import InvalidInput
from cataloop.ports import Embedder

WRITER_HEAP_BYTES = 50_000_000
STATE_FILE = "state.json"
VECTORS_FILE = "vectors.npy"

# Korean-analysed fields: the logical plan field -> the tantivy field and the document text it holds.
KOREAN_FIELDS = ("name", "description", "keywords", "brand", "category", "child_names", "attributes")
ENGLISH_FIELDS = {"name.en": "name_en", "description.en": "description_en", "english": "english"}
PREFIX_FIELDS = ("name_chosung", "name_qwerty")
# Fields whose terms make up the catalog vocabulary a keyboard-converted query word must be found in.
VOCABULARY_FIELDS = ("name", "keywords", "brand", "english")

_SORT_FIELDS: dict[SortKey, tuple[str, bool]] = {
    "price_asc": ("price", False),
    "price_desc": ("price", True),
    "rating": ("rating", True),
    "review_count": ("review_count", True),
    "purchase_count": ("purchase_count", True),
}


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw")
    for field in KOREAN_FIELDS:
        builder.add_text_field(field, tokenizer_name="tokens")
    for field in ENGLISH_FIELDS.values():
        builder.add_text_field(field, tokenizer_name="en_text")
    for field in PREFIX_FIELDS:
        builder.add_text_field(field, tokenizer_name="tokens")
    builder.add_text_field("category_prefixes", tokenizer_name="raw")
    builder.add_text_field("brand_raw", tokenizer_name="raw_lower")
    builder.add_text_field("attr_filter", tokenizer_name="raw_lower")
    builder.add_boolean_field("is_food", indexed=True, fast=True)
    builder.add_boolean_field("has_parent", indexed=True, fast=True)
    for field in ("price", "rating"):
        builder.add_float_field(field, indexed=True, fast=True)
    for field in ("review_count", "purchase_count"):
        builder.add_integer_field(field, indexed=True, fast=True)
    return builder.build()


def _english_analyzer() -> tantivy.TextAnalyzer:
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


def _register_tokenizers(index: tantivy.Index) -> None:
    index.register_tokenizer(
        "tokens",
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace())
        .filter(tantivy.Filter.lowercase())
        .build(),
    )
    index.register_tokenizer("en_text", _english_analyzer())
    index.register_tokenizer(
        "raw_lower",
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.raw()).filter(tantivy.Filter.lowercase()).build(),
    )


class _Generation:
    """One physical index: tantivy segments, vectors, and the version/tombstone/source state."""

    def __init__(self, name: str, directory: Path | None, dimension: int) -> None:
        self.name = name
        self.directory = directory
        self.dimension = dimension
        self.schema = _schema()
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
            self.index = tantivy.Index(self.schema, path=str(directory), reuse=True)
        else:
            self.index = tantivy.Index(self.schema)
        _register_tokenizers(self.index)
        self._writer: tantivy.IndexWriter | None = None
        self.versions: dict[str, int] = {}
        self.tombstones: dict[str, int] = {}
        self.sources: dict[str, dict[str, Any]] = {}
        self.vector_ids: list[str] = []
        self.vector_rows: dict[str, int] = {}
        self.vectors = np.zeros((0, dimension), dtype=np.float32)
        self._vocabulary: set[str] | None = None
        if directory is not None:
            self._load()

    @property
    def writer(self) -> tantivy.IndexWriter:
        if self._writer is None:
            self._writer = self.index.writer(heap_size=WRITER_HEAP_BYTES, num_threads=1)
        return self._writer

    def _load(self) -> None:
        assert self.directory is not None
        state_path = self.directory / STATE_FILE
        if not state_path.exists():
            return
        state = json.loads(state_path.read_text(encoding="utf-8"))
        self.versions = state["versions"]
        self.tombstones = state["tombstones"]
        self.sources = state["sources"]
        self.vector_ids = state["vector_ids"]
        self.vector_rows = {doc_id: row for row, doc_id in enumerate(self.vector_ids)}
        vectors_path = self.directory / VECTORS_FILE
        if vectors_path.exists():
            self.vectors = np.load(vectors_path)

    def save(self) -> None:
        """Persist the sidecar state atomically (temp file + os.replace) after a commit."""
        if self.directory is None:
            return
        state = {
            "versions": self.versions,
            "tombstones": self.tombstones,
            "sources": self.sources,
            "vector_ids": self.vector_ids,
        }
        atomic_write(self.directory / STATE_FILE, json.dumps(state, ensure_ascii=False).encode("utf-8"))
        with tempfile.NamedTemporaryFile(dir=self.directory, suffix=".npy", delete=False) as handle:
            np.save(handle, self.vectors)
        os.replace(handle.name, self.directory / VECTORS_FILE)

    def current_version(self, doc_id: str) -> int:
        return max(self.versions.get(doc_id, 0), self.tombstones.get(doc_id, 0))

    def put_vector(self, doc_id: str, vector: np.ndarray) -> None:
        row = self.vector_rows.get(doc_id)
        if row is None:
            self.vector_rows[doc_id] = len(self.vector_ids)
            self.vector_ids.append(doc_id)
            self.vectors = np.vstack([self.vectors, vector[None, :]])
        else:
            self.vectors[row] = vector

    def put_vectors(self, doc_ids: Sequence[str], rows: np.ndarray) -> None:
        """`put_vector` for a batch: new rows are appended with one copy of the matrix, not one per
        document (per-document `vstack` made a 50k-document build quadratic)."""
        appended: dict[str, int] = {}  # new id -> its last position in the batch (the newest version)
        for position, doc_id in enumerate(doc_ids):
            row = self.vector_rows.get(doc_id)
            if row is not None:
                self.vectors[row] = rows[position]
            else:
                appended[doc_id] = position
        if appended:
            for doc_id in appended:
                self.vector_rows[doc_id] = len(self.vector_ids)
                self.vector_ids.append(doc_id)
            self.vectors = np.vstack([self.vectors, rows[list(appended.values())]])

    def drop_vector(self, doc_id: str) -> None:
        row = self.vector_rows.pop(doc_id, None)
        if row is None:
            return
        last = len(self.vector_ids) - 1
        if row != last:
            moved = self.vector_ids[last]
            self.vectors[row] = self.vectors[last]
            self.vector_ids[row] = moved
            self.vector_rows[moved] = row
        self.vector_ids.pop()
        self.vectors = self.vectors[:last]

    def commit(self) -> None:
        self.writer.commit()
        self.index.reload()
        self._vocabulary = None
        self.save()

    def vocabulary(self) -> set[str]:
        if self._vocabulary is None:
            searcher = self.index.searcher()
            self._vocabulary = {
                term for field in VOCABULARY_FIELDS for term, _ in searcher.terms_with_prefix(field, "")
            }
        return self._vocabulary

    def close(self) -> None:
        if self._writer is not None:
            self._writer.wait_merging_threads()
            self._writer = None


class LocalSearchIndex(AliasedGenerations):
    """A product index with OpenSearch semantics, on disk under `path` (or in memory when `path` is None).
    The API mirrors `OpenSearchIndex`: generations behind an alias, bulk writes, `search(plan, vector)`."""

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
        self.root = Path(path) if path is not None else None
        self.alias = alias
        self.dimension = dimension
        self._analyzer = analyzer
        self._embedder = embedder
        self._synonyms = SynonymRules(synonyms)
        self._english = _english_analyzer()
        self._generations: dict[str, _Generation] = {}
        self._memory_alias: str | None = None
        self._lock = threading.RLock()
        if self.root is not None:
            self.root.mkdir(parents=True, exist_ok=True)

    # --- generations and alias ---------------------------------------------------------------------

    def drop_index(self, name: str) -> None:
        """Delete a generation the alias no longer points at (after a successful reindex)."""
        with self._lock:
            if name in self.alias_targets():
                raise InvalidInput(f"index {name!r} is behind the alias; swap the alias away first")
            generation = self._generations.pop(name, None)
            if generation is not None:
                generation.close()
            if self.root is not None and (self.root / name).is_dir():
                shutil.rmtree(self.root / name)

    def close(self) -> None:
        """Release the tantivy writers (their directory locks)."""
        with self._lock:
            for generation in self._generations.values():
                generation.close()

    def _open(self, name: str) -> _Generation:
        generation = self._generations.get(name)
        if generation is None:
            directory = self.root / name if self.root is not None else None
            generation = _Generation(name, directory, self.dimension)
            self._generations[name] = generation
        return generation

    def _target(self, index: str | None) -> _Generation:
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
            for position in fresh:
                document = documents[position]
                writer.delete_documents_by_term("id", document.id)
                writer.add_document(self._tantivy_document(document))
                generation.versions[document.id] = document.version
                generation.tombstones.pop(document.id, None)
                generation.sources[document.id] = document.source()
                outcome.indexed += 1
            generation.put_vectors([documents[position].id for position in fresh], rows)
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
                generation.versions.pop(doc_id, None)
                generation.sources.pop(doc_id, None)
                generation.tombstones[doc_id] = version
                generation.drop_vector(doc_id)
                outcome.deleted += 1
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

    def _tokens(self, text: str) -> str:
        return " ".join(self._analyzer.analyze(text)) if text else ""

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
        doc.add_integer("review_count", document.review_count)
        doc.add_integer("purchase_count", document.purchase_count)
        return doc

    # --- vocabulary ----------------------------------------------------------------------------------

    def vocabulary(self) -> set[str]:
        """Analysed terms of names, keywords, brands and English text in the aliased index."""
        with self._lock:
            return set(self._target(None).vocabulary())

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
            lexical = self._lexical_query(generation.schema, plan)
            filters = self._filter_query(generation.schema, plan.filters)
            if plan.mode == "hybrid":
                if query_vector is None:
                    if self._embedder is None:
                        raise InvalidInput("a hybrid plan needs a query vector or an embedder")
                    query_vector = self._embedder.embed([plan.query], "query")[0]
                return self._hybrid(generation, searcher, plan, lexical, filters, query_vector)
            return self._keyword(generation, searcher, plan, lexical, filters)

    def _keyword(
        self,
        generation: _Generation,
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
        generation: _Generation,
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
        self, generation: _Generation, query_vector: Sequence[float], k: int, allowed: set[str] | None
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
        top = rows[np.argsort(-candidates, kind="stable")[:k]]
        return {generation.vector_ids[row]: float((1.0 + cosine[row]) / 2.0) for row in top}

    def _ordered(self, generation: _Generation, scores: dict[str, float], sort: SortKey) -> list[str]:
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
        generation: _Generation,
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

    # --- query building ------------------------------------------------------------------------------

    def _lexical_query(self, schema: tantivy.Schema, plan: SearchPlan) -> tantivy.Query | None:
        clauses = [
            query for clause in plan.clauses if (query := self._clause_query(schema, clause)) is not None
        ]
        if not clauses:
            return None
        return tantivy.Query.boolean_query([(tantivy.Occur.Should, query) for query in clauses])

    def _clause_query(self, schema: tantivy.Schema, clause: LexicalClause) -> tantivy.Query | None:
        korean: list[list[str]] | None = None
        english: list[list[str]] | None = None
        prefix = [[term] for term in clause.text.lower().split()]
        per_field: list[tantivy.Query] = []
        for item in clause.fields:
            tantivy_field: str = ENGLISH_FIELDS.get(item.field, item.field)
            if item.field in KOREAN_FIELDS:
                if korean is None:
                    korean = self._analyzer.analyze_query(clause.text, self._synonyms)
                groups = korean
            elif item.field in ENGLISH_FIELDS:
                if english is None:
                    english = [[term] for term in self._english.analyze(clause.text)]
                groups = english
            else:
                groups = prefix
            query = _groups_query(schema, tantivy_field, groups, clause.operator)
            if query is not None:
                per_field.append(_boosted(query, item))
        if not per_field:
            return None
        best = per_field[0] if len(per_field) == 1 else tantivy.Query.disjunction_max_query(per_field)
        return tantivy.Query.boost_query(best, clause.boost) if clause.boost != 1.0 else best

    def _filter_query(
        self, schema: tantivy.Schema, filters: SearchFilters
    ) -> list[tuple[tantivy.Occur, tantivy.Query]]:
        """Filters as (occur, query) pairs; required filters score 0 so they never change a ranking."""
        include: list[tantivy.Query] = []
        exclude: list[tantivy.Query] = []
        term = tantivy.Query.term_query
        if filters.category_prefix:
            include.append(
                term(schema, "category_prefixes", CATEGORY_SEPARATOR.join(filters.category_prefix))
            )
        if filters.brands:
            include.append(_any_of([term(schema, "brand_raw", brand.lower()) for brand in filters.brands]))
        if filters.is_food is not None:
            include.append(term(schema, "is_food", filters.is_food))
        if filters.price_min is not None or filters.price_max is not None:
            include.append(
                tantivy.Query.range_query(
                    schema, "price", tantivy.FieldType.Float, filters.price_min, filters.price_max
                )
            )
        if filters.min_rating is not None:
            include.append(
                tantivy.Query.range_query(schema, "rating", tantivy.FieldType.Float, filters.min_rating)
            )
        for name, values in sorted(filters.attributes.items()):
            field = attribute_field(name)
            include.append(
                _any_of([term(schema, "attr_filter", f"{field}={value}".lower()) for value in values])
            )
        exclude.extend(term(schema, "id", doc_id) for doc_id in filters.exclude_ids)
        if filters.top_level_only:
            exclude.append(term(schema, "has_parent", True))
        pairs = [(tantivy.Occur.Must, tantivy.Query.const_score_query(query, 0.0)) for query in include]
        pairs.extend((tantivy.Occur.MustNot, query) for query in exclude)
        return pairs


def _any_of(queries: list[tantivy.Query]) -> tantivy.Query:
    if len(queries) == 1:
        return queries[0]
    return tantivy.Query.boolean_query([(tantivy.Occur.Should, query) for query in queries])


def _boosted(query: tantivy.Query, item: FieldBoost) -> tantivy.Query:
    return tantivy.Query.boost_query(query, item.boost) if item.boost != 1.0 else query


def _groups_query(
    schema: tantivy.Schema, field: str, groups: list[list[str]], operator: str
) -> tantivy.Query | None:
    """A match query over analysed groups: alternatives within a group are OR-ed (synonyms), groups are
    OR-ed or AND-ed by the clause operator; a multi-word alternative is a phrase."""
    group_queries: list[tantivy.Query] = []
    for alternatives in groups:
        options: list[tantivy.Query] = []
        for alternative in alternatives:
            words: list[str | tuple[int, str]] = list(alternative.split())
            if len(words) == 1:
                options.append(tantivy.Query.term_query(schema, field, alternative.strip()))
            elif words:
                options.append(tantivy.Query.phrase_query(schema, field, words))
        if options:
            group_queries.append(_any_of(options))
    if not group_queries:
        return None
    occur = tantivy.Occur.Must if operator == "and" else tantivy.Occur.Should
    if len(group_queries) == 1:
        return group_queries[0]
    return tantivy.Query.boolean_query([(occur, query) for query in group_queries])


def _public_source(source: dict[str, Any]) -> dict[str, Any]:
    # Same exclusions as the OpenSearch search body's _source.excludes.
    return {key: value for key, value in source.items() if key != "embedding_text"}
