"""What the embedded index engines share: versioned generations behind an alias pointer file, atomic file
writes, and unit-normalised vector rows (the OpenSearch semantics both embedded indexes mirror)."""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cataloop.domain.search.documents import index_generation, index_name
from cataloop.errors import InvalidInput


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file and a rename, so readers never see half a file."""
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as handle:
        handle.write(data)
    os.replace(handle.name, path)


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
