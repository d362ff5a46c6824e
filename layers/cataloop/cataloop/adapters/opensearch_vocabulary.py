"""The catalog vocabulary on OpenSearch: the analysed terms of product names, keywords, brands and English
text, plus the compounds of names and keywords (neighbouring terms written together, as the `.joined`
sub-fields index them: "유산균 음료" adds "균음료"), with their frequencies, kept as one small versioned
document (`<alias>-vocabulary/_doc/vocabulary`).

OpenSearch cannot list an index's terms cheaply, so the vocabulary the variant resolvers need (chosung,
wrong keyboard, typos) is built where documents are written: a reindex replaces it (from the full catalog,
analysed by the new generation's own analyzers through `_analyze`), and the stream indexer adds the terms
of each batch. The document is written with external versions (`version = previous + 1`), so two indexer
batches racing on it cannot lose each other's terms: the loser gets a 409, reads again and retries.

Terms of deleted or renamed products stay until the next reindex: a stale term can only propose a variant
that finds nothing, and the typed text is always searched too.

The search function reads the document through a TTL cache (`VOCABULARY_TTL_SECONDS`). It needs only
`es:ESHttpGet`/`es:ESHttpPost` (for `_analyze`), which it already has; the indexer writes it with the
`es:ESHttpPut`/`es:ESHttpPost` it has for the product index.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from cataloop.adapters.korean_analyzer import INDEX_ANALYZER, SHINGLE_FILLER
from cataloop.adapters.opensearch_mapping import JOINED_ANALYZER
from cataloop.adapters.refresh import RefreshClock
from cataloop.domain.search.documents import ProductDocument
from cataloop.errors import CataloopError

if TYPE_CHECKING:
    from opensearchpy import OpenSearch

VOCABULARY_DOCUMENT = "vocabulary"
VOCABULARY_TTL_SECONDS = 300.0
ENGLISH_ANALYZER = "english"
WRITE_ATTEMPTS = 5
# `_analyze` caps the tokens one request may produce (index.analyze.max_token_count, 10,000 by default).
ANALYZE_BATCH_CHARS = 20_000


def vocabulary_index_name(alias: str) -> str:
    """The index holding the vocabulary document of the product alias `alias`."""
    return f"{alias}-vocabulary"


def vocabulary_index_body() -> dict[str, Any]:
    """One shard, no replicas needed beyond the domain default; the terms are stored, never indexed."""
    return {
        "settings": {"index": {"number_of_shards": 1}},
        "mappings": {
            "dynamic": "false",
            "properties": {
                "version": {"type": "long"},
                "generation": {"type": "keyword"},
                "updated_at": {"type": "double"},
                "terms": {"type": "object", "enabled": False},
            },
        },
    }


def vocabulary_texts(document: ProductDocument) -> tuple[list[str], list[str]]:
    """(Korean-analysed texts, English-analysed texts) of a document's vocabulary fields: the fields the
    embedded engine's vocabulary is made of (name, keywords, brand; english)."""
    korean = [text for text in (document.name, *document.keywords, document.brand or "") if text]
    english = [document.english] if document.english else []
    return korean, english


def joined_texts(document: ProductDocument) -> list[str]:
    """The texts of a document's compound (`.joined`) fields: its name and each seller keyword."""
    return [text for text in (document.name, *document.keywords) if text]


def _batches(texts: Sequence[str]) -> Iterable[list[str]]:
    batch: list[str] = []
    size = 0
    for text in texts:
        if batch and size + len(text) > ANALYZE_BATCH_CHARS:
            yield batch
            batch, size = [], 0
        batch.append(text)
        size += len(text)
    if batch:
        yield batch


class OpenSearchVocabulary:
    """Reads, replaces and extends the vocabulary document of one product alias."""

    def __init__(
        self,
        client: OpenSearch,
        alias: str,
        *,
        ttl_seconds: float = VOCABULARY_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self.alias = alias
        self.index = vocabulary_index_name(alias)
        self._refresh_clock = RefreshClock(ttl_seconds, clock)
        self._lock = threading.Lock()
        self._cached: dict[str, int] | None = None
        self._index_ready = False

    # index

    def exists(self) -> bool:
        return bool(self._client.indices.exists(index=self.index))

    def ensure_index(self) -> bool:
        """Create the vocabulary index unless it exists; True when it was created."""
        from opensearchpy.exceptions import RequestError

        if self._index_ready or self.exists():
            self._index_ready = True
            return False
        try:
            self._client.indices.create(index=self.index, body=vocabulary_index_body())
        except RequestError as error:
            if "resource_already_exists_exception" not in str(error.error):
                raise
            self._index_ready = True
            return False
        self._index_ready = True
        return True

    # analysis

    def _analyze(self, target: str, analyzer: str, texts: Sequence[str]) -> Counter[str]:
        counts: Counter[str] = Counter()
        for batch in _batches(texts):
            response = self._client.indices.analyze(index=target, body={"analyzer": analyzer, "text": batch})
            counts.update(str(token["token"]) for token in response.get("tokens", []))
        return counts

    def _compounds(self, target: str, texts: Sequence[str]) -> Counter[str]:
        """The shingles the compound (index) analyzer adds to `texts`: its unigrams are the index analyzer's
        terms, counted already, and a shingle holding the filler "_" (next to a position a stopped word left
        empty: "주방_") is no word anyone types, so it is left out."""
        from opensearchpy.exceptions import RequestError

        counts: Counter[str] = Counter()
        for batch in _batches(texts):
            try:
                response = self._client.indices.analyze(
                    index=target, body={"analyzer": JOINED_ANALYZER, "text": batch}
                )
            except RequestError as error:
                if JOINED_ANALYZER not in str(error.info):
                    raise
                return counts  # a generation created before the compound fields: none until a reindex
            counts.update(
                term
                for token in response.get("tokens", [])
                if token.get("type") == "shingle" and SHINGLE_FILLER not in (term := str(token["token"]))
            )
        return counts

    def terms(self, documents: Sequence[ProductDocument], target: str) -> dict[str, int]:
        """Term frequencies of `documents`' vocabulary fields, analysed by `target`'s analyzers (the alias or
        a generation: a new generation may carry a new user dictionary), with the compounds of names and
        keywords."""
        korean: list[str] = []
        english: list[str] = []
        compound: list[str] = []
        for document in documents:
            k, e = vocabulary_texts(document)
            korean.extend(k)
            english.extend(e)
            compound.extend(joined_texts(document))
        counts = self._analyze(target, INDEX_ANALYZER, korean)
        counts.update(self._compounds(target, compound))
        counts.update(self._analyze(target, ENGLISH_ANALYZER, english))
        return dict(counts)

    def analyse_text(self, target: str, text: str) -> tuple[list[str], list[str]]:
        """(Korean index-analysed terms, English-analysed terms) of one text."""
        return (
            list(self._analyze(target, INDEX_ANALYZER, [text])),
            list(self._analyze(target, ENGLISH_ANALYZER, [text])),
        )

    # the document

    def _read(self) -> tuple[int, dict[str, Any]] | None:
        from opensearchpy.exceptions import NotFoundError

        try:
            found = self._client.get(index=self.index, id=VOCABULARY_DOCUMENT)
        except NotFoundError:
            return None
        if not found.get("found", True):
            return None
        source = found.get("_source", {})
        return int(source.get("version") or found.get("_version") or 0), source

    def load(self) -> dict[str, int]:
        """The stored term counts, at most `ttl_seconds` old (empty when none is stored yet)."""
        with self._lock:
            if self._refresh_clock.due() or self._cached is None:
                stored = self._read()
                terms = stored[1].get("terms", {}) if stored else {}
                self._cached = {str(term): int(count) for term, count in dict(terms).items()}
            return self._cached

    def _write(self, version: int, body: Mapping[str, Any]) -> bool:
        """Write version `version`; False when another writer got there first (409)."""
        from opensearchpy.exceptions import ConflictError

        try:
            self._client.index(
                index=self.index,
                id=VOCABULARY_DOCUMENT,
                body=dict(body),
                params={"version": str(version), "version_type": "external"},
            )
        except ConflictError:
            return False
        return True

    def _update(self, change: Callable[[dict[str, int]], dict[str, int]], generation: str | None) -> int:
        for _ in range(WRITE_ATTEMPTS):
            stored = self._read()
            version, source = stored if stored else (0, {})
            terms = change({str(t): int(c) for t, c in dict(source.get("terms", {})).items()})
            body = {
                "version": version + 1,
                "generation": generation or source.get("generation", ""),
                "updated_at": round(time.time(), 3),
                "terms": terms,
            }
            if self._write(version + 1, body):
                with self._lock:
                    self._cached = terms
                    self._refresh_clock.mark_read()
                return version + 1
        raise CataloopError(
            f"the vocabulary of {self.alias} changed under {WRITE_ATTEMPTS} attempts to write it; retry"
        )

    def replace(self, terms: Mapping[str, int], *, generation: str) -> int:
        """Store `terms` as the whole vocabulary of `generation` (a reindex); returns the new version."""
        self.ensure_index()
        return self._update(lambda _old: dict(terms), generation)

    def extend(self, terms: Mapping[str, int]) -> int | None:
        """Add the terms not stored yet (the indexer; counts of known terms are left to the next reindex,
        so a product updated many times does not inflate them). None when nothing was new."""
        if not terms:
            return None
        current = self.load()
        if all(term in current for term in terms):
            return None
        self.ensure_index()

        def merged(old: dict[str, int]) -> dict[str, int]:
            return {**old, **{term: count for term, count in terms.items() if term not in old}}

        return self._update(merged, None)
