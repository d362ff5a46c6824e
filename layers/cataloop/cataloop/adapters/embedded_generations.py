"""What the embedded index engines share: versioned generations behind an alias pointer file, atomic file
writes, unit-normalised vector rows (the OpenSearch semantics both embedded indexes mirror), and the
sidecar store of a generation: a snapshot plus an append-only journal of changes.

Sidecar persistence (`SidecarStore`): every commit appends one journal line (`<crc32> <json>`, fsync'd)
holding only that commit's changes, so a commit costs its own size, not the index's. The snapshot
(`state.json` + a `vectors-<seq>.npy` it names) is rewritten only when the journal has grown past the
snapshot's size (or `MAX_JOURNAL_ENTRIES`), so the total rewrite work stays linear in what was written.
Opening loads the snapshot and replays the journal entries newer than it, up to the last complete line:
a torn last line (a crash mid-append) is dropped and cut off the file.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
import threading
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cataloop.domain.search.documents import index_generation, index_name
from cataloop.errors import InvalidInput

STATE_FILE = "state.json"
LEGACY_VECTORS_FILE = "vectors.npy"
JOURNAL_FILE = "journal.jsonl"
# Compaction: when the journal holds more than this many entries, or more bytes than the snapshot (and at
# least MIN_COMPACT_BYTES), the snapshot is rewritten and the journal emptied.
MAX_JOURNAL_ENTRIES = 10_000
MIN_COMPACT_BYTES = 1_000_000


def fsync_directory(path: Path) -> None:
    """Make a rename or a new file in `path` durable (the directory entry itself)."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file, an fsync and a rename, so readers (and a process
    restarted after a crash) see the old file or the new one, never half a file."""
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(handle.name, path)
    fsync_directory(path.parent)


def encode_vector(row: np.ndarray) -> str:
    """A float32 row as base64 of its little-endian bytes (exact, and a third the size of JSON floats)."""
    return base64.b64encode(np.ascontiguousarray(row, dtype="<f4").tobytes()).decode("ascii")


def decode_vector(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<f4").astype(np.float32)


class VectorRows:
    """Row-aligned vectors of documents: `ids[row]` owns `matrix[row]`. Appends go into a buffer that
    doubles when full (amortised O(1), not a copy of the matrix per write); a removal moves the last row
    into the gap."""

    def __init__(self, dimension: int, ids: Sequence[str] = (), matrix: np.ndarray | None = None) -> None:
        self.ids = list(ids)
        self.rows = {doc_id: row for row, doc_id in enumerate(self.ids)}
        initial = np.zeros((0, dimension), np.float32) if matrix is None else np.asarray(matrix, np.float32)
        if initial.shape != (len(self.ids), dimension):
            raise InvalidInput(f"vector matrix {initial.shape} does not match {len(self.ids)} ids")
        self._buffer = np.array(initial, dtype=np.float32, copy=True)

    @property
    def matrix(self) -> np.ndarray:
        """The live rows (a view; valid until the next write)."""
        return self._buffer[: len(self.ids)]

    def put(self, doc_id: str, vector: np.ndarray) -> None:
        row = self.rows.get(doc_id)
        if row is None:
            row = len(self.ids)
            if row == self._buffer.shape[0]:
                grown = np.zeros((max(16, 2 * row), self._buffer.shape[1]), dtype=np.float32)
                grown[:row] = self._buffer[:row]
                self._buffer = grown
            self.rows[doc_id] = row
            self.ids.append(doc_id)
        self._buffer[row] = vector

    def drop(self, doc_id: str) -> None:
        row = self.rows.pop(doc_id, None)
        if row is None:
            return
        last = len(self.ids) - 1
        if row != last:
            moved = self.ids[last]
            self._buffer[row] = self._buffer[last]
            self.ids[row] = moved
            self.rows[moved] = row
        self.ids.pop()


class SidecarStore:
    """The durable sidecar state of one generation: a snapshot (`state.json`, naming its vector file) and
    an append-only journal of the changes committed since (see the module docstring)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.journal_path = directory / JOURNAL_FILE
        self.seq = 0  # sequence number of the last committed change set
        self.journal_entries = 0
        self.journal_bytes = 0
        self.snapshot_bytes = 0

    def load(self) -> tuple[dict[str, Any] | None, np.ndarray | None, list[dict[str, Any]]]:
        """The snapshot state (None when there is none), its vector matrix, and the journal entries newer
        than the snapshot, oldest first. A torn or corrupt tail of the journal is cut off."""
        state: dict[str, Any] | None = None
        vectors: np.ndarray | None = None
        state_path = self.directory / STATE_FILE
        if state_path.exists():
            raw = state_path.read_bytes()
            state = json.loads(raw)
            vectors_path = self.directory / state.get("vectors_file", LEGACY_VECTORS_FILE)
            if vectors_path.exists():
                vectors = np.load(vectors_path)
                self.snapshot_bytes = len(raw) + vectors_path.stat().st_size
            else:
                self.snapshot_bytes = len(raw)
            self.seq = int(state.get("seq", 0))
        entries = [entry for entry in self._read_journal() if entry["seq"] > self.seq]
        if entries:
            self.seq = entries[-1]["seq"]
        return state, vectors, entries

    def _read_journal(self) -> list[dict[str, Any]]:
        if not self.journal_path.exists():
            return []
        data = self.journal_path.read_bytes()
        entries: list[dict[str, Any]] = []
        good = 0
        while good < len(data):
            end = data.find(b"\n", good)
            if end < 0:
                break  # the last append was cut short: no newline yet
            entry = _journal_entry(data[good:end])
            if entry is None:
                break
            entries.append(entry)
            good = end + 1
        if good < len(data):
            with open(self.journal_path, "r+b") as handle:
                handle.truncate(good)
                handle.flush()
                os.fsync(handle.fileno())
        self.journal_entries = len(entries)
        self.journal_bytes = good
        return entries

    def append(self, entry: dict[str, Any]) -> None:
        """Durably add one change set (its `seq` is set here) before the change is published."""
        entry["seq"] = self.seq + 1
        payload = json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        line = b"%08x %s\n" % (zlib.crc32(payload), payload)
        created = not self.journal_path.exists()
        with open(self.journal_path, "ab") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
        if created:
            fsync_directory(self.directory)
        self.seq += 1
        self.journal_entries += 1
        self.journal_bytes += len(line)

    def compaction_due(self) -> bool:
        return self.journal_entries > MAX_JOURNAL_ENTRIES or self.journal_bytes > max(
            self.snapshot_bytes, MIN_COMPACT_BYTES
        )

    def compact(self, state: dict[str, Any], vectors: np.ndarray) -> None:
        """Write the whole state as the snapshot at the current `seq`, then empty the journal. Crash-safe in
        any order: the vector file is new and named by `seq`, `state.json` switches atomically, and journal
        entries the snapshot already holds are skipped on replay."""
        if self.journal_entries == 0 and (self.directory / STATE_FILE).exists():
            return
        vectors_file = f"vectors-{self.seq:08d}.npy"
        with tempfile.NamedTemporaryFile(dir=self.directory, suffix=".npy.tmp", delete=False) as handle:
            np.save(handle, np.ascontiguousarray(vectors, dtype=np.float32))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, self.directory / vectors_file)
        payload = json.dumps(
            {**state, "seq": self.seq, "vectors_file": vectors_file}, ensure_ascii=False
        ).encode("utf-8")
        atomic_write(self.directory / STATE_FILE, payload)
        # Older snapshots' matrices, and temporary files a crash mid-compaction left behind.
        for stale in [*self.directory.glob("vectors*.npy"), *self.directory.glob("*.npy.tmp")]:
            if stale.name != vectors_file:
                stale.unlink(missing_ok=True)
        with open(self.journal_path, "wb") as journal:
            journal.flush()
            os.fsync(journal.fileno())
        self.snapshot_bytes = len(payload) + (self.directory / vectors_file).stat().st_size
        self.journal_entries = 0
        self.journal_bytes = 0


def _journal_entry(line: bytes) -> dict[str, Any] | None:
    """The entry of one journal line, or None when its checksum or JSON is wrong (a torn write)."""
    checksum, _, payload = line.partition(b" ")
    try:
        if int(checksum, 16) != zlib.crc32(payload):
            return None
        entry = json.loads(payload)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) and isinstance(entry.get("seq"), int) else None


def journal_ops(entries: Iterable[dict[str, Any]]) -> Iterable[list[Any]]:
    """The change operations of journal entries, in commit order."""
    for entry in entries:
        yield from entry["ops"]


class VersionedDocuments:
    """What one generation knows besides its engine: each document's version, source and (unit) vector, and
    the tombstones of deleted ones. Changed through `upsert` / `delete`, which wait in `_pending` until the
    owner journals them (`take_journal_ops`); restored from a snapshot and the journal's ops."""

    def __init__(self, dimension: int) -> None:
        self.dimension = dimension
        self.versions: dict[str, int] = {}
        self.tombstones: dict[str, int] = {}
        self.sources: dict[str, dict[str, Any]] = {}
        self._vectors = VectorRows(dimension)
        self._pending: list[list[Any]] = []

    def restore(
        self, state: dict[str, Any] | None, vectors: np.ndarray | None, ids_key: str, entries: Any
    ) -> None:
        """Load a snapshot (`ids_key` names its vector ids) and replay the journal entries after it."""
        if state is not None:
            self.versions, self.tombstones = state["versions"], state["tombstones"]
            self.sources = state["sources"]
            ids = state[ids_key]
            self._vectors = VectorRows(self.dimension, ids, vectors if ids else None)
        for op in journal_ops(entries):
            self._apply(op, decode_vector(op[4]) if op[0] == "u" else None)

    def snapshot_state(self, ids_key: str) -> dict[str, Any]:
        return {
            "versions": self.versions,
            "tombstones": self.tombstones,
            "sources": self.sources,
            ids_key: self.ids,
        }

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
            if vector is None:
                raise ValueError(f"journal upsert of {doc_id} has no vector")
            self.versions[doc_id] = version
            self.tombstones.pop(doc_id, None)
            self.sources[doc_id] = op[3]
            self._vectors.put(doc_id, vector)
        else:
            self.versions.pop(doc_id, None)
            self.sources.pop(doc_id, None)
            self.tombstones[doc_id] = version
            self._vectors.drop(doc_id)

    def upsert(self, doc_id: str, version: int, source: dict[str, Any], vector: np.ndarray) -> None:
        """Record a document's new version, source and (unit) vector; durable and visible at the commit."""
        op = ["u", doc_id, version, source, vector]
        self._apply(op, vector)
        self._pending.append(op)

    def delete(self, doc_id: str, version: int) -> None:
        """Record a delete as of `version` (a tombstone); durable and visible at the commit."""
        op = ["d", doc_id, version]
        self._apply(op, None)
        self._pending.append(op)

    def take_journal_ops(self) -> list[list[Any]]:
        """The pending changes as journal ops (vectors base64-encoded), and none pending after."""
        ops = [[*op[:4], encode_vector(op[4])] if op[0] == "u" else op for op in self._pending]
        self._pending = []
        return ops


def unit_rows(vectors: Sequence[Sequence[float]], dimension: int) -> np.ndarray:
    """Vectors as float32 rows of length 1 (zero rows stay zero); InvalidInput on a wrong dimension."""
    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[1] != dimension:
        raise InvalidInput(f"vectors must have dimension {dimension}; got shape {matrix.shape}")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)


class AliasedGenerations:
    """Generations `<alias>-v0001`, ... under `root` (or in memory), and the alias that points at one.
    Subclasses set root, alias, _generations, _memory_alias and _lock, and implement `_open(name)`."""

    root: Path | None
    alias: str
    _generations: dict[str, Any]
    _memory_alias: str | None
    _lock: threading.RLock

    def _open(self, name: str) -> Any:
        raise NotImplementedError

    @property
    def _pointer(self) -> Path | None:
        return self.root / f"{self.alias}.alias.json" if self.root is not None else None

    def existing_indices(self) -> list[str]:
        """Physical generations of this alias, oldest first."""
        names = set(self._generations)
        if self.root is not None:
            names.update(entry.name for entry in self.root.iterdir() if entry.is_dir())
        return sorted(name for name in names if index_generation(self.alias, name) is not None)

    def alias_targets(self) -> list[str]:
        """The generation the alias points at (empty before the first swap)."""
        if self._pointer is None:
            return [self._memory_alias] if self._memory_alias else []
        if not self._pointer.exists():
            return []
        return [json.loads(self._pointer.read_text(encoding="utf-8"))["index"]]

    def create_index(self) -> str:
        """Create the next empty generation (`<alias>-v0002`, ...) and return its name."""
        with self._lock:
            generations = [index_generation(self.alias, name) or 0 for name in self.existing_indices()]
            name = index_name(self.alias, max(generations, default=0) + 1)
            self._open(name)
            return name

    def swap_alias(self, new_index: str) -> None:
        """Point the alias at `new_index`; readers switch at once (an atomic file replace on disk)."""
        with self._lock:
            if new_index not in self.existing_indices():
                raise InvalidInput(f"index {new_index!r} does not exist; create it with create_index() first")
            if self._pointer is None:
                self._memory_alias = new_index
            else:
                atomic_write(self._pointer, json.dumps({"index": new_index}).encode("utf-8"))

    def ensure_index(self) -> str:
        """Create the first generation and point the alias at it, unless the alias already exists."""
        with self._lock:
            targets = self.alias_targets()
            if targets:
                return targets[0]
            name = self.create_index()
            self.swap_alias(name)
            return name
