"""Storage of the embedded product index: the tantivy schema and tokenizers, and `Generation`, one physical
index (tantivy segments, the vector matrix, and the version/tombstone/source sidecar state, persisted
atomically next to the segments).

`embedded_search.py` holds the index API (alias, writes, search) over these generations.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tantivy

from cataloop.adapters.embedded_generations import atomic_write
from cataloop.adapters.korean_analyzer import SHINGLE_FILLER
from cataloop.errors import InvalidInput

WRITER_HEAP_BYTES = 50_000_000
STATE_FILE = "state.json"
VECTORS_FILE = "vectors.npy"

# Korean-analysed fields: the logical plan field -> the tantivy field and the document text it holds.
KOREAN_FIELDS = ("name", "description", "keywords", "brand", "category", "child_names", "attributes")
ENGLISH_FIELDS = {"name.en": "name_en", "description.en": "description_en", "english": "english"}
# Compound fields: the Korean tokens and each pair of neighbours written together (an OpenSearch shingle
# sub-field), searched with the query's pairs only, so "주방 세제" finds "주방세제" and vice versa.
JOINED_FIELDS = {"name.joined": "name_joined", "keywords.joined": "keywords_joined"}
PREFIX_FIELDS = ("name_chosung", "name_qwerty")
# Fields whose terms make up the catalog vocabulary the variant resolvers (chosung, keyboard, typo) match
# against; the joined fields add compounds such as "유산균음료".
VOCABULARY_FIELDS = ("name", "keywords", "brand", "english", "name_joined", "keywords_joined")


def product_schema() -> tantivy.Schema:
    """The tantivy schema of a product generation: text fields per analysis, filter and sort fields."""
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw")
    for field in KOREAN_FIELDS:
        builder.add_text_field(field, tokenizer_name="tokens")
    for field in ENGLISH_FIELDS.values():
        builder.add_text_field(field, tokenizer_name="en_text")
    for field in (*PREFIX_FIELDS, *JOINED_FIELDS.values()):
        builder.add_text_field(field, tokenizer_name="tokens")
    builder.add_text_field("name_key", tokenizer_name="raw")
    builder.add_text_field("category_prefixes", tokenizer_name="raw")
    builder.add_text_field("brand_raw", tokenizer_name="raw_lower")
    builder.add_text_field("attr_filter", tokenizer_name="raw_lower")
    builder.add_boolean_field("is_food", indexed=True, fast=True)
    builder.add_boolean_field("has_parent", indexed=True, fast=True)
    for field in ("price", "rating", "unit_price", "total_content"):
        builder.add_float_field(field, indexed=True, fast=True)
    for field in ("review_count", "purchase_count"):
        builder.add_integer_field(field, indexed=True, fast=True)
    return builder.build()


def english_analyzer() -> tantivy.TextAnalyzer:
    """The analyzer of `.en` fields (OpenSearch's `english`: lowercase + English stemmer)."""
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


def register_tokenizers(index: tantivy.Index) -> None:
    """Register the tokenizers `product_schema` names: pre-analysed tokens, English text, lowercased raw."""
    index.register_tokenizer(
        "tokens",
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace())
        .filter(tantivy.Filter.lowercase())
        .build(),
    )
    index.register_tokenizer("en_text", english_analyzer())
    index.register_tokenizer(
        "raw_lower",
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.raw()).filter(tantivy.Filter.lowercase()).build(),
    )


class Generation:
    """One physical index: tantivy segments, vectors, and the version/tombstone/source state."""

    def __init__(self, name: str, directory: Path | None, dimension: int) -> None:
        self.name = name
        self.directory = directory
        self.dimension = dimension
        self.schema = product_schema()
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
            try:
                self.index = tantivy.Index(self.schema, path=str(directory), reuse=True)
            except ValueError as error:
                if "schema does not match" not in str(error):
                    raise
                raise InvalidInput(
                    f"the search index in {directory} was built by an older Cataloop whose index fields "
                    "differ; start the local state over with `cataloop reset` (or `make demo`, which does)"
                ) from error
        else:
            self.index = tantivy.Index(self.schema)
        register_tokenizers(self.index)
        self._writer: tantivy.IndexWriter | None = None
        self.versions: dict[str, int] = {}
        self.tombstones: dict[str, int] = {}
        self.sources: dict[str, dict[str, Any]] = {}
        self.vector_ids: list[str] = []
        self.vector_rows: dict[str, int] = {}
        self.vectors = np.zeros((0, dimension), dtype=np.float32)
        self._vocabulary: dict[str, int] | None = None
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

    def put_vectors(self, doc_ids: Sequence[str], rows: np.ndarray) -> None:
        """Store the vectors of `doc_ids` (row i of `rows` for doc_ids[i]): existing rows are overwritten, new
        rows are appended with one copy of the matrix, not one per document (per-document `vstack` made a
        50k-document build quadratic)."""
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

    def vocabulary(self) -> dict[str, int]:
        """Vocabulary terms with their document frequency (summed over the vocabulary fields)."""
        if self._vocabulary is None:
            searcher = self.index.searcher()
            counts: dict[str, int] = {}
            for field in VOCABULARY_FIELDS:
                for term, count in searcher.terms_with_prefix(field, ""):
                    if SHINGLE_FILLER not in term:  # "주방_": a pair next to a stopped word, not a term
                        counts[term] = counts.get(term, 0) + int(count)
            self._vocabulary = counts
        return self._vocabulary

    def close(self) -> None:
        if self._writer is not None:
            self._writer.wait_merging_threads()
            self._writer = None
