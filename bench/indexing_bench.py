"""Local indexing at 10k documents: the embedded engine against bare tantivy, in the same run.

Run: `.venv/bin/python -m bench.indexing_bench` (about a minute on two cores). Writes
bench/results/indexing.json as {"figures": {name: {"value", "floor", "ratio", "n", "how"}}}: `floor` is
bare tantivy doing the same work (same schema and tokenizers, the same documents already analysed, so it
excludes Korean analysis, which the engine pays), `ratio` is value / floor.

- bulk: 10,000 documents (the search bench's corpus) in bulk calls of 1,000 with their vectors given (no
  embedder), into a new on-disk index; bare tantivy adds the prebuilt documents and commits per 1,000; the
  two alternate call by call, so a busy machine slows both alike.
- single upsert: 200 further documents, one `bulk_upsert` call each into the 10k index, against bare
  tantivy's delete-by-id + add + commit of the same prebuilt document; the two alternate, document by
  document, so a busy machine slows both alike.
- reopen: a new `EmbeddedSearchIndex` on the directory after the single upserts (snapshot + journal replay)
  and its first query, against opening the bare tantivy index and the same query.
Vectors are random unit vectors: their values do not change the cost of indexing them.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import percentiles, print_table, write_result

SIZE = 10_000
BULK_SIZE = 1_000
SINGLES = 200
DIMENSION = 384


def _documents() -> tuple[list[Any], np.ndarray]:
    from bench.search_bench import _base_listings, _corpus

    bases = _base_listings()
    base_vectors = np.random.default_rng(3).normal(size=(len(bases), DIMENSION)).astype(np.float32)
    return _corpus(SIZE + SINGLES, bases, base_vectors)


def _bare(directory: Path) -> tuple[Any, Any]:
    import tantivy

    from cataloop.adapters.embedded_search_storage import (
        WRITER_HEAP_BYTES,
        product_schema,
        register_tokenizers,
    )

    directory.mkdir(parents=True)
    index = tantivy.Index(product_schema(), path=str(directory))
    register_tokenizers(index)
    return index, index.writer(heap_size=WRITER_HEAP_BYTES, num_threads=1)


def measure(make_index: Callable[[Path], Any], scratch: Path) -> dict[str, Any]:
    """Every figure for the engine `make_index(directory)` builds (an `EmbeddedSearchIndex` or a stand-in
    with its API), and for bare tantivy alongside."""
    from cataloop.domain.search.plan import build_search_plan

    documents, vectors = _documents()
    engine = make_index(scratch / "engine")
    engine.ensure_index()
    # Bare tantivy gets the documents the engine would build, analysed up front (outside its timing).
    prebuilt = [engine._tantivy_document(document) for document in documents]
    engine.close()
    shutil.rmtree(scratch / "engine")

    engine = make_index(scratch / "engine")
    engine.ensure_index()
    bare_index, writer = _bare(scratch / "bare")
    engine_seconds = bare_seconds = 0.0
    for start in range(0, SIZE, BULK_SIZE):  # alternating call by call, as the single upserts below
        started = time.perf_counter()
        engine.bulk_upsert(documents[start : start + BULK_SIZE], vectors=vectors[start : start + BULK_SIZE])
        engine_seconds += time.perf_counter() - started
        started = time.perf_counter()
        for document in prebuilt[start : start + BULK_SIZE]:
            writer.add_document(document)
        writer.commit()
        bare_seconds += time.perf_counter() - started
    bare_index.reload()
    engine_bulk, bare_bulk = SIZE / engine_seconds, SIZE / bare_seconds

    engine_ms: list[float] = []
    bare_ms: list[float] = []
    for position in range(SIZE, SIZE + SINGLES):
        document = documents[position]
        started = time.perf_counter()
        engine.bulk_upsert([document], vectors=vectors[position : position + 1])
        engine_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        writer.delete_documents_by_term("id", document.id)
        writer.add_document(prebuilt[position])
        writer.commit()
        bare_ms.append((time.perf_counter() - started) * 1000)
    engine.close()
    writer.wait_merging_threads()
    del writer

    plan = build_search_plan("운동화", mode="keyword", size=20)
    started = time.perf_counter()
    reopened = make_index(scratch / "engine")
    total = reopened.search(plan).total
    engine_open = (time.perf_counter() - started) * 1000
    reopened.close()
    import tantivy

    from cataloop.adapters.embedded_search_storage import product_schema, register_tokenizers

    started = time.perf_counter()
    bare_reopened = tantivy.Index(product_schema(), path=str(scratch / "bare"), reuse=True)
    register_tokenizers(bare_reopened)
    bare_reopened.searcher().search(tantivy.Query.term_query(product_schema(), "name", "운동화"), limit=20)
    bare_open = (time.perf_counter() - started) * 1000
    files = {entry.name: entry.stat().st_size for entry in (scratch / "engine" / "products-v0001").iterdir()}
    return {
        "engine_bulk": engine_bulk,
        "bare_bulk": bare_bulk,
        "engine_single": percentiles(engine_ms),
        "bare_single": percentiles(bare_ms),
        "engine_single_median": statistics.median(engine_ms),
        "engine_open_ms": engine_open,
        "bare_open_ms": bare_open,
        "hits_after_reopen": total,
        "sidecar_files": {
            name: size
            for name, size in files.items()
            if not name.endswith((".idx", ".pos", ".term", ".store", ".fast", ".fieldnorm", ".del"))
        },
    }


def figures(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    def figure(value: float, floor: float, n: int, how: str) -> dict[str, Any]:
        return {
            "value": round(value, 2),
            "floor": round(floor, 2),
            "ratio": round(value / floor, 2),
            "n": n,
            "how": how,
        }

    single, bare = raw["engine_single"], raw["bare_single"]
    return {
        "bulk_docs_per_second": figure(
            raw["engine_bulk"],
            raw["bare_bulk"],
            SIZE,
            f"bulk_upsert of {SIZE} documents in calls of {BULK_SIZE}, vectors given, new on-disk index "
            "(Korean analysis included); floor: bare tantivy add of the prebuilt documents + commit per call",
        ),
        "single_upsert_p50_ms": figure(
            single["p50_ms"],
            bare["p50_ms"],
            SINGLES,
            f"one bulk_upsert([document]) into the {SIZE}-document index (analysis, journal fsync, tantivy "
            "commit); floor: bare tantivy delete + add + commit of the same prebuilt document, alternating",
        ),
        "single_upsert_p95_ms": figure(
            single["p95_ms"], bare["p95_ms"], SINGLES, "as single_upsert_p50_ms, p95"
        ),
        "reopen_ms": figure(
            raw["engine_open_ms"],
            raw["bare_open_ms"],
            1,
            f"open the {SIZE + SINGLES}-document index after the single upserts (snapshot + journal replay) and "
            "run one keyword query; floor: open the bare tantivy index and run one term query",
        ),
    }


def main() -> dict[str, Any]:
    from cataloop.adapters.embedded_search import EmbeddedSearchIndex
    from cataloop.adapters.korean_analyzer import KoreanAnalysisConfig, KoreanAnalyzer

    analyzer = KoreanAnalyzer(KoreanAnalysisConfig.build(decompound_mode="mixed"))
    scratch = Path(tempfile.mkdtemp(prefix="cataloop-indexing-bench-"))
    try:
        raw = measure(lambda directory: EmbeddedSearchIndex(directory, analyzer, None, DIMENSION), scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    result = {"figures": figures(raw), "sidecar_files_bytes": raw["sidecar_files"]}
    write_result("indexing", result)
    print_table(
        "Local indexing at 10k documents (bench/results/indexing.json)",
        [
            (name, f"{f['value']} (bare tantivy {f['floor']}, ratio {f['ratio']})")
            for name, f in result["figures"].items()
        ],
    )
    return result


if __name__ == "__main__":
    main()
