"""Storage of the embedded product index: the tantivy schema and tokenizers, and `Generation`, one physical
index (tantivy segments, the vector matrix, and the version/tombstone/source sidecar state, persisted next
to the segments as a snapshot plus a write-ahead journal: `SidecarStore` in `embedded_generations.py`).

`embedded_search.py` holds the index API (alias, writes, search) over these generations.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tantivy

from cataloop.adapters.embedded_generations import (
    SidecarStore,
    VersionedDocuments,
    journal_ops,
)
from cataloop.adapters.korean_analyzer import SHINGLE_FILLER
from cataloop.errors import InvalidInput

WRITER_HEAP_BYTES = 50_000_000
TANTIVY_META = "meta.json"

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


class Generation(VersionedDocuments):
    """One physical index: tantivy segments, vectors, and the version/tombstone/source state.

    Writes go through `upsert` / `delete` (memory) and `commit` (disk). A commit first appends its changes
    to the journal (fsync'd), then commits tantivy: the journal is the write-ahead log. Each entry records
    tantivy's last commit opstamp before it; on open, entries tantivy has not committed yet (the process
    died between the journal append and the tantivy commit) are redone from their sources through
    `rebuild`, which is idempotent (delete by id, then add). So a restart never loses an acknowledged write
    nor brings back a deleted document, and search never sees an id the sidecar state does not know."""

    def __init__(
        self,
        name: str,
        directory: Path | None,
        dimension: int,
        rebuild: Callable[[dict[str, Any], int], tantivy.Document] | None = None,
    ) -> None:
        super().__init__(dimension)
        self.name = name
        self.directory = directory
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
        self._rebuild = rebuild
        self._vocabulary: dict[str, int] | None = None
        self.store = SidecarStore(directory) if directory is not None else None
        if self.store is not None:
            self._load(self.store)

    @property
    def writer(self) -> tantivy.IndexWriter:
        if self._writer is None:
            self._writer = self.index.writer(heap_size=WRITER_HEAP_BYTES, num_threads=1)
        return self._writer

    @property
    def vector_ids(self) -> list[str]:
        return self.ids

    @property
    def vector_rows(self) -> dict[str, int]:
        return self._vectors.rows

    def _load(self, store: SidecarStore) -> None:
        state, vectors, entries = store.load()
        self.restore(state, vectors, "vector_ids", entries)
        committed = _committed_opstamp(self.directory / TANTIVY_META) if self.directory else None
        unpublished = [entry for entry in entries if committed is not None and entry["opstamp"] >= committed]
        if unpublished:
            self._redo(unpublished)

    def _redo(self, entries: list[dict[str, Any]]) -> None:
        """Apply to tantivy the journal entries whose tantivy commit never happened."""
        if self._rebuild is None:
            raise InvalidInput(
                f"the search index in {self.directory} needs its journal redone; open it with the index"
            )
        writer = self.writer
        for op in journal_ops(entries):
            writer.delete_documents_by_term("id", op[1])
            if op[0] == "u":
                writer.add_document(self._rebuild(op[3], op[2]))
        writer.commit()
        self.index.reload()

    def commit(self) -> None:
        """Journal the pending changes (fsync'd), then commit and reload tantivy; compact when due."""
        writer = self.writer
        ops = self.take_journal_ops()
        if self.store is not None and ops:
            self.store.append({"opstamp": writer.commit_opstamp, "ops": ops})
        writer.commit()
        self.index.reload()
        self._vocabulary = None
        if self.store is not None and self.store.compaction_due():
            self.compact()

    def compact(self) -> None:
        """Rewrite the snapshot with the whole state and empty the journal."""
        if self.store is None:
            return
        self.store.compact(self.snapshot_state("vector_ids"), self.vectors)

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


def _committed_opstamp(meta: Path) -> int | None:
    """The opstamp of tantivy's last commit in a directory (its meta.json), read without taking the writer
    lock; None when there is no meta file yet."""
    if not meta.exists():
        return None
    return int(json.loads(meta.read_text(encoding="utf-8"))["opstamp"])
