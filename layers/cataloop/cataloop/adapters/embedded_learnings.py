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
    VectorRows,
    decode_vector,
    encode_vector,
    journal_ops,
    unit_rows,
)
from cataloop.domain.knowledge.learning_search import LearningFilter
from cataloop.domain.search.documents import BulkOutcome, LearningDocument, index_name
from cataloop.domain.search.plan import SearchHit
from cataloop.errors import InvalidInput
from cataloop.ports import Embedder


class _Generation:
    """One physical learnings index: sources, versions, tombstones and a row-aligned vector matrix, kept on
    disk as a snapshot plus a journal of the commits since (`SidecarStore`)."""

    def __init__(self, directory: Path | None, dimension: int) -> None:
        self.directory = directory
        self.dimension = dimension
        self.versions: dict[str, int] = {}
        self.tombstones: dict[str, int] = {}
        self.sources: dict[str, dict[str, Any]] = {}
        self._vectors = VectorRows(dimension)
        self._pending: list[list[Any]] = []
        self.store: SidecarStore | None = None
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
            self.store = SidecarStore(directory)
            state, vectors, entries = self.store.load()
            if state is not None:
                self.versions, self.tombstones = state["versions"], state["tombstones"]
                self.sources = state["sources"]
                self._vectors = VectorRows(dimension, state["ids"], vectors if state["ids"] else None)
            for op in journal_ops(entries):
                self._apply(op, decode_vector(op[4]) if op[0] == "u" else None)

    @property
    def ids(self) -> list[str]:
        return self._vectors.ids

    @property
    def vectors(self) -> np.ndarray:
        return self._vectors.matrix

    def current_version(self, doc_id: str) -> int:
        return max(self.versions.get(doc_id, 0), self.tombstones.get(doc_id, 0))

    def _apply(self, op: list[Any], vector: np.ndarray | None) -> None:
        kind, doc_id, version = op[0], op[1], op[2]
        if kind == "u":
            assert vector is not None
            self.versions[doc_id] = version
            self.tombstones.pop(doc_id, None)
            self.sources[doc_id] = op[3]
            self._vectors.put(doc_id, vector)
        else:
            self.versions.pop(doc_id, None)
            self.sources.pop(doc_id, None)
            self.tombstones[doc_id] = version
            self._vectors.drop(doc_id)

    def put(self, doc_id: str, version: int, source: dict[str, Any], vector: np.ndarray) -> None:
        op = ["u", doc_id, version, source, vector]
        self._apply(op, vector)
        self._pending.append(op)

    def remove(self, doc_id: str, version: int) -> None:
        op = ["d", doc_id, version]
        self._apply(op, None)
        self._pending.append(op)

    def save(self) -> None:
        """Journal the pending changes (fsync'd); rewrite the snapshot when the journal has grown enough."""
        if self.store is None or not self._pending:
            self._pending = []
            return
        ops = [[*op[:4], encode_vector(op[4])] if op[0] == "u" else op for op in self._pending]
        self.store.append({"ops": ops})
        self._pending = []
        if self.store.compaction_due():
            self.compact()

    def compact(self) -> None:
        if self.store is None:
            return
        state = {
            "versions": self.versions,
            "tombstones": self.tombstones,
            "sources": self.sources,
            "ids": self.ids,
        }
        self.store.compact(state, self.vectors)


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
                    generation.put(document.id, document.version, document.source(), row)
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
                generation.remove(doc_id, version)
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
