"""The embedded learnings index: numpy cosine search over learning vectors, with the OpenSearch learnings
index's semantics (generations behind an alias, external versions, tombstones, keyword filters).

A knowledge base holds thousands of learnings, not millions, so a JSON snapshot, a `.npy` matrix and a
journal of the commits since (the `SidecarStore` the product index uses) per generation are simpler than a
second tantivy schema and fast enough (brute-force cosine over 10k x 384 floats is well under a
millisecond per query).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cataloop.adapters.embedded_generations import (
    AliasedGenerations,
    SidecarStore,
    VersionedDocuments,
    unit_rows,
)
from cataloop.domain.knowledge.learning_search import LearningFilter
from cataloop.domain.search.documents import BulkOutcome, LearningDocument, index_name
from cataloop.domain.search.plan import SearchHit
from cataloop.errors import InvalidInput
from cataloop.ports import Embedder


class _Generation(VersionedDocuments):
    """One physical learnings index: sources, versions, tombstones and a row-aligned vector matrix, kept on
    disk as a snapshot plus a journal of the commits since (`SidecarStore`)."""

    def __init__(self, directory: Path | None, dimension: int) -> None:
        super().__init__(dimension)
        self.directory = directory
        self.store: SidecarStore | None = None
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
            self.store = SidecarStore(directory)
            state, vectors, entries = self.store.load()
            self.restore(state, vectors, "ids", entries)

    def save(self) -> None:
        """Journal the pending changes (fsync'd); rewrite the snapshot when the journal has grown enough."""
        ops = self.take_journal_ops()
        if self.store is None or not ops:
            return
        self.store.append({"ops": ops})
        if self.store.compaction_due():
            self.compact()

    def compact(self) -> None:
        if self.store is None:
            return
        self.store.compact(self.snapshot_state("ids"), self.vectors)


class EmbeddedLearningIndex(AliasedGenerations):
    """A learnings index under `path` (in memory when None). API as `OpenSearchLearningIndex`: generations
    behind an alias, `bulk_upsert` / `bulk_delete` with external versions, `similar(vector, filter, k)`."""

    def __init__(
        self,
        path: str | Path | None,
        embedder: Embedder | None,
        dimension: int,
        *,
        alias: str = "learnings",
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
        self._embedder = embedder
        self._generations: dict[str, _Generation] = {}
        self._memory_alias: str | None = None
        self._lock = threading.RLock()
        if self.root is not None:
            self.root.mkdir(parents=True, exist_ok=True)

    # --- generations and alias ---------------------------------------------------------------------

    def _open(self, name: str) -> _Generation:
        generation = self._generations.get(name)
        if generation is None:
            directory = self.root / name if self.root is not None else None
            generation = _Generation(directory, self.dimension)
            self._generations[name] = generation
        return generation

    def _target(self, index: str | None) -> _Generation:
        name = index or next(iter(self.alias_targets()), None)
        if name is None:
            raise InvalidInput(f"alias {self.alias!r} points at no index yet; call ensure_index() first")
        if name not in self.existing_indices():
            raise InvalidInput(f"index {name!r} does not exist")
        return self._open(name)

    def document_count(self, index: str | None = None) -> int:
        """Live documents in `index` (default: the aliased one)."""
        with self._lock:
            return len(self._target(index).sources)

    def close(self) -> None:
        """Nothing is held open between calls; kept so the composition root can close every index alike."""

    # --- writes --------------------------------------------------------------------------------------

    def bulk_upsert(
        self,
        documents: Sequence[LearningDocument],
        vectors: Sequence[Sequence[float]] | None = None,
        *,
        index: str | None = None,
    ) -> BulkOutcome:
        """Index documents unless an equal or newer version (or delete) is there; those come back stale."""
        outcome = BulkOutcome()
        if not documents:
            return outcome
        with self._lock:
            generation = self._target(index)
            fresh = [
                position
                for position, document in enumerate(documents)
                if document.version > generation.current_version(document.id)
            ]
            fresh_positions = set(fresh)
            outcome.stale_skipped.extend(
                document.id for position, document in enumerate(documents) if position not in fresh_positions
            )
            if fresh:
                rows = self._vectors_for(documents, vectors, fresh)
                for row, position in zip(rows, fresh, strict=True):
                    document = documents[position]
                    # A batch may hold two versions of one learning: the later, newer one wins.
                    if document.version <= generation.current_version(document.id):
                        outcome.stale_skipped.append(document.id)
                        continue
                    generation.upsert(document.id, document.version, document.source(), row)
                    outcome.indexed += 1
                generation.save()
        return outcome

    def bulk_delete(self, items: Sequence[tuple[str, int]], *, index: str | None = None) -> BulkOutcome:
        """Delete (id, version) pairs; a tombstone keeps older writes from resurrecting a document."""
        outcome = BulkOutcome()
        if not items:
            return outcome
        with self._lock:
            generation = self._target(index)
            for doc_id, version in items:
                if version <= generation.current_version(doc_id):
                    outcome.stale_skipped.append(doc_id)
                    continue
                generation.delete(doc_id, version)
                outcome.deleted += 1
            generation.save()
        return outcome

    def _vectors_for(
        self,
        documents: Sequence[LearningDocument],
        vectors: Sequence[Sequence[float]] | None,
        positions: Sequence[int],
    ) -> np.ndarray:
        if vectors is not None:
            if len(vectors) != len(documents):
                raise InvalidInput(
                    f"got {len(vectors)} vectors for {len(documents)} documents; give one each"
                )
            return unit_rows([vectors[i] for i in positions], self.dimension)
        if self._embedder is None:
            raise InvalidInput("no vectors given and no embedder configured; pass vectors= or an embedder")
        texts = [documents[i].embedding_text or documents[i].text for i in positions]
        return unit_rows(self._embedder.embed(texts, "passage"), self.dimension)

    # --- search --------------------------------------------------------------------------------------

    def similar(
        self, query_vector: Sequence[float], learning_filter: LearningFilter, k: int = 10
    ) -> list[SearchHit]:
        """The `k` learnings nearest to `query_vector` among those the filter accepts, best first. Scores are
        OpenSearch's cosinesimil scores, (1 + cos) / 2, so thresholds carry over between engines."""
        if k < 1:
            raise InvalidInput(f"k must be at least 1; got {k}")
        with self._lock:
            generation = self._target(None)
            rows = [
                row
                for row, doc_id in enumerate(generation.ids)
                if learning_filter.accepts(generation.sources[doc_id])
            ]
            if not rows:
                return []
            query = unit_rows([query_vector], self.dimension)[0]
            selected = np.asarray(rows, dtype=int)
            cosine = generation.vectors[selected] @ query
            order = np.argsort(-cosine, kind="stable")[:k]
            return [
                SearchHit(
                    id=generation.ids[selected[position]],
                    score=float((1.0 + cosine[position]) / 2.0),
                    source=_public_source(generation.sources[generation.ids[selected[position]]]),
                )
                for position in order
            ]


def _public_source(source: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in source.items() if key != "embedding_text"}
