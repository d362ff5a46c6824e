"""Memory of `cataloop serve` holding a 10k-product search index, against a bare process serving the same
index (issue 15: serve's RSS <= 2x the bare process's).

    python -m bench.serve_memory [-n 3] [--state /tmp/serve-mem-state] [--analyse]

State: a state directory whose embedded search index (`search/`, the ApiFunction's alias) holds 10,000
documents, the search bench's corpus (`bench.search_bench`'s generator: Korean demo catalog + OA-Mine train,
varied copies; base vectors real e5-small from the e5 cache, variants' vectors perturbed). Built once through
the local cloud itself (`wiring.search_index` under the ApiFunction's environment) and reused while its
marker file says 10,000 documents; the e5 vector cache is copied from `.cataloop/embeddings` (never moved).
The Products table is left empty: the figure is the index's, the searches read nothing else.

One run: the state directory is copied afresh (the searches' log objects and query vectors never reach the
next run), the process starts, the bench polls GET /health until it answers 200, sends the same fixed
queries (GET /search?q=...&size=20: product names, Korean and English keyword and descriptive queries, so
both the keyword and the hybrid path with a live e5 query embedding), then reads VmRSS (resident now) and
VmHWM (peak resident) from /proc/PID/status, and stops the process.
- value: `cataloop --state-dir COPY serve --port PORT` (the local cloud: moto, every resource of the
  template, the API function's handler through the HTTP API emulator);
- floor: `python -m bench.serve_memory --bare-server COPY PORT`: the same `EmbeddedSearchIndex` class on
  the same directory and alias, the same analyzer and synonyms, the same e5 query embedder (disk cache in
  the copy), the same `SearchService` assembly (`wiring.build_search_service`, offline guardrail), answering
  the same requests over a minimal `http.server`.
Runs alternate (floor, value, floor, value, ...), n of each; medians.

`--analyse` also runs serve's start-up and the same searches step by step in one fresh process (and the
floor's steps in another), recording RSS (total, anonymous and file-backed deltas) after each step and, for
serve, how many of each heavy object the process holds (e5 models, embedders, indexes, handler modules: a
model or index loaded twice shows there); `--trace` adds tracemalloc's top allocators by package (and so
inflates that run's RSS).

Writes bench/results/serve_memory.json: {"figures": {"rss_mib" (VmRSS), "peak_mib" (VmHWM), "rss_anon_mib":
{"value", "floor", "ratio", "n", "how"}}, "runs": [...], "analysis": {"serve": {"steps", ...}, "bare":
{"steps", ...}}} (figures or analysis kept from the previous file when not rerun).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import RESULTS, print_table, write_result

ROOT = Path(__file__).resolve().parents[1]
RESULT = RESULTS / "serve_memory.json"
CATALOOP = ROOT / ".venv" / "bin" / "cataloop"
DEFAULT_STATE = Path("/tmp/serve-mem-state")
REUSABLE_STATE = Path("/tmp/bench-state")
E5_CACHE = ROOT / ".cataloop" / "embeddings"
MARKER = "serve-memory-index.json"
CORPUS_SIZE = 10_000
BULK_SIZE = 1_000
QUERY_COUNT = 50
PAGE_SIZE = 20
READY_TIMEOUT_SECONDS = 300.0
TARGET_RATIO = 2.0


# --- the state directory ---------------------------------------------------------------------------------


def _marker(state: Path) -> dict[str, Any] | None:
    try:
        marker = json.loads((state / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return marker if marker.get("documents") == CORPUS_SIZE else None


def ensure_state(preferred: Path) -> tuple[Path, dict[str, Any]]:
    """A state directory with the 10k index: /tmp/bench-state when it holds one, else `preferred` (built
    there when its marker is missing)."""
    for candidate in (preferred, REUSABLE_STATE):
        marker = _marker(candidate)
        if marker is not None:
            return candidate, marker
    return preferred, build_state(preferred)


def build_state(state: Path) -> dict[str, Any]:
    """Index the 10k corpus into `state` through the local cloud (the ApiFunction's settings)."""
    import numpy as np

    from bench.search_bench import _base_listings, _corpus

    if state.exists():
        shutil.rmtree(state)
    (state / "embeddings").mkdir(parents=True)
    for source in (E5_CACHE, REUSABLE_STATE / "embeddings"):
        cache = source / "e5-vectors.sqlite3"
        if cache.is_file():
            shutil.copy2(cache, state / "embeddings" / cache.name)
            break
    from cataloop import wiring
    from cataloop.adapters.e5_embeddings import E5Embedder
    from cataloop.domain.search.documents import product_document
    from cataloop.settings import settings
    from cataloop_local.cli.common import local_cloud

    bases = _base_listings()
    with E5Embedder(cache_dir=state / "embeddings") as passages:
        texts = [product_document(base, None, 1).embedding_text for base in bases]
        base_vectors = np.asarray(passages.embed(texts, "passage"), np.float32)
    documents, vectors = _corpus(CORPUS_SIZE, bases, base_vectors)
    with local_cloud(state) as cloud, cloud.as_function("ApiFunction"):
        config = settings()
        index = wiring.search_index(config)
        for start in range(0, CORPUS_SIZE, BULK_SIZE):
            index.bulk_upsert(
                documents[start : start + BULK_SIZE], vectors=vectors[start : start + BULK_SIZE]
            )
        alias = config.products_alias
    marker = {"documents": CORPUS_SIZE, "alias": alias, "bases": len(bases)}
    (state / MARKER).write_text(json.dumps(marker) + "\n", encoding="utf-8")
    return marker


def queries() -> list[str]:
    """QUERY_COUNT fixed queries: product names (exact/keyword), the graded Korean set and English keyword
    and descriptive queries (keyword and hybrid)."""
    from bench.search_api_bench import ENGLISH_DESCRIPTIONS, ENGLISH_KEYWORDS

    graded = [
        json.loads(line)["query"]
        for line in (ROOT / "data" / "korean-mall" / "queries.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    names = [
        json.loads(line)["product"]["title"]
        for line in (ROOT / "data" / "korean-mall" / "products.jsonl")
        .read_text(encoding="utf-8")
        .splitlines()
        if line.strip()
    ]
    chosen = [*names[:8], *ENGLISH_KEYWORDS, *ENGLISH_DESCRIPTIONS, *graded]
    return list(dict.fromkeys(chosen))[:QUERY_COUNT]


# --- the floor: a bare process serving the index -----------------------------------------------------------


def bare_search_service(state: Path, step: Callable[[str], None] = lambda _: None) -> tuple[Any, Any]:
    """The floor's search: the same embedded index class on the state's index, the same analyzer, synonyms,
    e5 query embedder and `wiring.build_search_service` assembly as serve's ApiFunction, offline guardrail.
    `step(name)` is called after the imports and after the index is opened (for --analyse)."""
    from cataloop import wiring
    from cataloop.adapters.e5_embeddings import E5Embedder
    from cataloop.adapters.embedded_search import EmbeddedSearchIndex
    from cataloop.adapters.offline_guardrail import OfflineGuardrail
    from cataloop.settings import Settings

    step("imports (cataloop.wiring: boto3, pydantic; the adapters)")
    marker = _marker(state) or {}
    config = Settings(search_backend="embedded", data_dir=str(state), embedding_provider="e5")
    embedder = E5Embedder(cache_dir=state / "embeddings")
    index = EmbeddedSearchIndex(
        state / "search",
        wiring.korean_analyzer(config),
        embedder,
        embedder.dimension,
        alias=marker.get("alias", "products"),
        synonyms=wiring.dictionaries(config).search_time_rules(),
    )
    index.ensure_index()
    step("index opened (analyzer, alias)")
    service = wiring.build_search_service(
        index=index,
        embedder=embedder,
        guardrail=OfflineGuardrail(),
        token_secret=b"serve-memory-bench",
        typo_corrections=wiring.dictionaries(config).typo_corrections(),
        settings=wiring.search_settings(config),
    )
    return index, service


def bare_server(state: Path, port: int) -> None:
    """Serve GET /health and GET /search over the index in `state` with nothing but the search use case."""
    from http.server import BaseHTTPRequestHandler, HTTPServer

    index, service = bare_search_service(state)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            split = urllib.parse.urlsplit(self.path)
            if split.path == "/health":
                status, body = 200, b'{"status": "ok"}'
            elif split.path == "/search":
                params: dict[str, Any] = dict(urllib.parse.parse_qsl(split.query))
                params["size"] = int(params.get("size", PAGE_SIZE))
                status, body = 200, service.search(params).model_dump_json().encode("utf-8")
            else:
                status, body = 404, b'{"message": "Not Found"}'
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = HTTPServer(("127.0.0.1", port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.serve_forever()
    finally:
        server.server_close()
        index.close()


# --- measuring one process ----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def memory_mib(pid: int) -> dict[str, float]:
    """VmRSS, VmHWM, RssAnon and RssFile of a process, in MiB."""
    found: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"):
            found[name] = round(int(value.split()[0]) / 1024, 1)
    return found


def _get(url: str, timeout: float = 120.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read()


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> float:
    """Poll GET /health until it answers 200; seconds from now. Fails when the process exits."""
    started = time.perf_counter()
    while time.perf_counter() - started < READY_TIMEOUT_SECONDS:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode} before answering")
        try:
            if _get(f"{url}/health", timeout=5.0)[0] == 200:
                return time.perf_counter() - started
        except OSError:
            pass
        time.sleep(0.05)  # polling interval, not synchronisation: the loop ends on the answer
    raise RuntimeError(f"{url} did not answer within {READY_TIMEOUT_SECONDS:.0f} s")


def _search_all(url: str, texts: list[str]) -> dict[str, int]:
    modes: dict[str, int] = {}
    for text in texts:
        status, body = _get(f"{url}/search?" + urllib.parse.urlencode({"q": text, "size": PAGE_SIZE}))
        if status != 200:
            raise RuntimeError(f"GET /search?q={text!r} answered {status}: {body[:300]!r}")
        plan = json.loads(body)["plan"]
        mode = "exact" if plan.get("exact_match") else str(plan.get("mode"))
        modes[mode] = modes.get(mode, 0) + 1
    return modes


def measure_once(kind: str, state: Path, texts: list[str]) -> dict[str, Any]:
    """Start the `kind` ("serve" or "bare") process on a fresh copy of `state`, search, read its memory."""
    scratch = Path(tempfile.mkdtemp(prefix=f"serve-mem-{kind}-"))
    copy = scratch / "state"
    shutil.copytree(state, copy)
    port = _free_port()
    if kind == "serve":
        command = [str(CATALOOP), "--state-dir", str(copy), "serve", "--port", str(port)]
    else:
        command = [sys.executable, "-m", "bench.serve_memory", "--bare-server", str(copy), str(port)]
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "CATALOOP_"))
    }
    process = subprocess.Popen(
        command, cwd=ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        url = f"http://127.0.0.1:{port}"
        ready = _wait_ready(url, process)
        started_memory = memory_mib(process.pid)
        started = time.perf_counter()
        modes = _search_all(url, texts)
        searched = time.perf_counter() - started
        memory = memory_mib(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            _, stderr = process.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
        shutil.rmtree(scratch, ignore_errors=True)
    if process.returncode not in (0, -signal.SIGTERM):
        print(f"  {kind} exited {process.returncode}: {stderr.decode(errors='replace')[-1000:]}", flush=True)
    return {
        "kind": kind,
        "ready_seconds": round(ready, 2),
        "search_seconds": round(searched, 2),
        "modes": modes,
        "after_start": started_memory,
        **memory,
    }


def figures(runs: list[dict[str, Any]], n: int, query_count: int) -> dict[str, dict[str, Any]]:
    def median(kind: str, key: str) -> float:
        return float(statistics.median(run[key] for run in runs if run["kind"] == kind))

    how = (
        f"median over {n} runs, alternating with the floor, of /proc/PID/status {{}} of `cataloop serve` on a copy "
        f"of a state with a {CORPUS_SIZE}-document embedded index, read after GET /health answered and "
        f"{query_count} GET /search (keyword and hybrid, live e5 query embedding); floor: a bare process "
        "(EmbeddedSearchIndex on the same directory + e5 embedder + wiring.build_search_service behind "
        "http.server) answering the same requests, measured the same way"
    )
    result = {}
    for name, key in (("rss_mib", "VmRSS"), ("peak_mib", "VmHWM"), ("rss_anon_mib", "RssAnon")):
        value, floor = median("serve", key), median("bare", key)
        result[name] = {
            "value": round(value, 1),
            "floor": round(floor, 1),
            "ratio": round(value / floor, 2),
            "n": n,
            "how": how.format(key),
        }
    return result


# --- the analysis: serve's start-up, step by step, in one process ---------------------------------------------


def analyse(state: Path, texts: list[str], trace: bool) -> dict[str, Any]:
    """Run `--analyse-here` (serve's steps) and `--analyse-bare-here` (the floor's), each in a fresh process
    on a copy of `state`."""
    found: dict[str, Any] = {}
    for kind in ("serve", "bare"):
        scratch = Path(tempfile.mkdtemp(prefix="serve-mem-analyse-"))
        copy = scratch / "state"
        shutil.copytree(state, copy)
        (scratch / "queries.json").write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
        flag = "--analyse-here" if kind == "serve" else "--analyse-bare-here"
        command = [sys.executable, "-m", "bench.serve_memory", flag, str(copy), str(scratch / "queries.json")]
        if trace and kind == "serve":
            command.append("--trace")
        environment = {
            key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "CATALOOP_"))
        }
        try:
            completed = subprocess.run(
                command, cwd=ROOT, env=environment, capture_output=True, text=True, check=False
            )
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        if completed.returncode != 0:
            raise RuntimeError(f"analysis of {kind} failed:\n{completed.stderr[-3000:]}")
        lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
        found[kind] = json.loads(lines[-1])
    return found


def analyse_here(state: Path, texts: list[str], trace: bool) -> dict[str, Any]:
    """Serve's start-up as `cmd_serve` runs it, with RSS read after each step (this process)."""
    if trace:
        import tracemalloc

        tracemalloc.start(1)
    steps: list[dict[str, Any]] = []
    step = _stepper(steps)

    step("interpreter")
    import boto3  # noqa: F401

    step("import boto3")
    import moto  # noqa: F401
    from moto import mock_aws  # noqa: F401

    step("import moto")
    from cataloop_local.cli.common import local_cloud
    from cataloop_local.emulator import resources
    from cataloop_local.emulator import state as state_module

    step("import the emulator and the CLI")
    timed = _wrap_steps(resources, state_module, step)
    with local_cloud(state) as cloud:
        server = cloud.http_server(port=0)
        server.start()
        step("HTTP server started")
        url = server.url
        _get(f"{url}/health")
        step("first GET /health (ApiFunction handler module imported)")
        _get(f"{url}/search?" + urllib.parse.urlencode({"q": texts[0], "size": PAGE_SIZE}))
        step("first GET /search (search service: index open, few-shot index)")
        hybrid = next(text for text in texts if " " in text and text.isascii() and len(text) > 25)
        _get(f"{url}/search?" + urllib.parse.urlencode({"q": hybrid, "size": PAGE_SIZE}))
        step("first hybrid GET /search (e5 model)")
        modes = _search_all(url, texts)
        step(f"{len(texts)} GET /search")
        for page in ("/", "/app.js", "/kb.html", "/style.css"):
            _get(f"{url}{page}")
        step("console assets")
        duplicates = _loaded_objects()
        top = _tracemalloc_top() if trace else []
        server.stop()
    for restore in timed:
        restore()
    return {
        "steps": steps,
        "modes": modes,
        "loaded": duplicates,
        "peak_mib": memory_mib(os.getpid())["VmHWM"],
        "tracemalloc_top_mib": top,
    }


def analyse_bare_here(state: Path, texts: list[str]) -> dict[str, Any]:
    """The floor's steps (as `bare_server`, without the socket), RSS after each, in this process."""
    steps: list[dict[str, Any]] = []
    step = _stepper(steps)
    step("interpreter")
    index, service = bare_search_service(state, step)
    step("search service built")
    service.search({"q": texts[0], "size": PAGE_SIZE})
    step("first search")
    hybrid = next(text for text in texts if " " in text and text.isascii() and len(text) > 25)
    service.search({"q": hybrid, "size": PAGE_SIZE})
    step("first hybrid search (e5 model)")
    for text in texts:
        service.search({"q": text, "size": PAGE_SIZE})
    step(f"{len(texts)} searches")
    index.close()
    return {"steps": steps, "peak_mib": memory_mib(os.getpid())["VmHWM"]}


def _stepper(steps: list[dict[str, Any]]) -> Callable[[str], None]:
    previous = memory_mib(os.getpid())

    def step(name: str) -> None:
        nonlocal previous
        gc.collect()
        now = memory_mib(os.getpid())
        steps.append(
            {
                "step": name,
                "rss_mib": now["VmRSS"],
                "delta_mib": round(now["VmRSS"] - previous["VmRSS"], 1),
                "anon_delta_mib": round(now["RssAnon"] - previous["RssAnon"], 1),
                "file_delta_mib": round(now["RssFile"] - previous["RssFile"], 1),
            }
        )
        previous = now

    return step


def _wrap_steps(resources: Any, state_module: Any, step: Callable[[str], None]) -> list[Callable[[], None]]:
    """Record RSS after the phases of `LocalCloud.start` (in this process only): moto's start, the
    resources, the table and bucket restores."""
    from moto.core.models import MockAWS

    undo: list[Callable[[], None]] = []

    def around(owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            result = original(*args, **kwargs)
            step(label)
            return result

        setattr(owner, name, wrapped)
        undo.append(lambda: setattr(owner, name, original))

    around(MockAWS, "start", "moto started (mock_aws)")
    around(
        resources.ResourceCreator, "create_all", "resources created (tables, queues, buckets, functions...)"
    )
    around(state_module.LocalState, "restore", "tables restored")
    around(state_module.LocalState, "restore_buckets", "buckets restored")
    return undo


def _loaded_objects() -> dict[str, Any]:
    """How many of each heavy object this process holds (a model or index loaded twice shows here)."""
    import types

    counts: dict[str, int] = {}
    interesting = (
        "E5",
        "E5Embedder",
        "EmbeddedSearchIndex",
        "EmbeddedLearningIndex",
        "SearchService",
        "Generation",
    )
    for obj in gc.get_objects():
        name = type(obj).__name__
        if name in interesting and not isinstance(obj, type):
            counts[name] = counts.get(name, 0) + 1
    handler_modules = sorted(
        name
        for name, module in sys.modules.items()
        if name.startswith("cataloop_function_") and isinstance(module, types.ModuleType)
    )
    memory_caches = {}
    for obj in gc.get_objects():
        if type(obj).__name__ == "E5Embedder":
            memory_caches[hex(id(obj))] = len(getattr(obj, "_memory", {}))
    return {"objects": counts, "handler_modules": handler_modules, "e5_memory_cache_entries": memory_caches}


def _tracemalloc_top(limit: int = 15) -> list[tuple[str, float]]:
    import tracemalloc

    snapshot = tracemalloc.take_snapshot()
    by_package: dict[str, int] = {}
    for statistic in snapshot.statistics("filename"):
        filename = statistic.traceback[0].filename
        parts = Path(filename).parts
        if "site-packages" in parts:
            package = parts[parts.index("site-packages") + 1]
        elif "layers" in parts:
            package = "/".join(parts[parts.index("layers") + 1 : parts.index("layers") + 4])
        elif "local" in parts:
            package = "/".join(parts[parts.index("local") : parts.index("local") + 3])
        else:
            package = filename.rsplit("/", 2)[-2] if "/" in filename else filename
        by_package[package] = by_package.get(package, 0) + statistic.size
    ordered = sorted(by_package.items(), key=lambda item: -item[1])[:limit]
    return [(name, round(size / 2**20, 1)) for name, size in ordered]


# --- main --------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=3, help="runs of serve and of the floor each (median)")
    parser.add_argument("--state", type=Path, default=DEFAULT_STATE, help="state directory (built if needed)")
    parser.add_argument("--analyse", action="store_true", help="also run the step-by-step analysis")
    parser.add_argument(
        "--trace",
        action="store_true",
        help="tracemalloc top allocators in the serve analysis (inflates its RSS)",
    )
    parser.add_argument("--no-measure", action="store_true", help="only the analysis")
    parser.add_argument("--bare-server", nargs=2, metavar=("STATE", "PORT"), help=argparse.SUPPRESS)
    parser.add_argument("--analyse-bare-here", nargs=2, metavar=("STATE", "QUERIES"), help=argparse.SUPPRESS)
    parser.add_argument("--analyse-here", nargs=2, metavar=("STATE", "QUERIES"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bare_server:
        bare_server(Path(args.bare_server[0]), int(args.bare_server[1]))
        return 0
    if args.analyse_here:
        state, texts = (
            Path(args.analyse_here[0]),
            json.loads(Path(args.analyse_here[1]).read_text(encoding="utf-8")),
        )
        print(json.dumps(analyse_here(state, texts, args.trace), ensure_ascii=False))
        return 0
    if args.analyse_bare_here:
        state = Path(args.analyse_bare_here[0])
        texts = json.loads(Path(args.analyse_bare_here[1]).read_text(encoding="utf-8"))
        print(json.dumps(analyse_bare_here(state, texts), ensure_ascii=False))
        return 0

    state, marker = ensure_state(args.state)
    texts = queries()
    previous = json.loads(RESULT.read_text(encoding="utf-8")) if RESULT.is_file() else {}
    result: dict[str, Any] = {
        "state": {"directory": str(state), **marker},
        "queries": len(texts),
        "load_average_at_start": [round(value, 2) for value in os.getloadavg()],
    }
    if not args.no_measure:
        runs = []
        for number in range(args.n):
            for kind in ("bare", "serve"):
                run = measure_once(kind, state, texts)
                runs.append(run)
                print(f"  run {number + 1} {kind}: {run}", flush=True)
        result["figures"] = figures(runs, args.n, len(texts))
        result["target_ratio"] = TARGET_RATIO
        result["runs"] = runs
    else:
        result["figures"] = previous.get("figures", {})
        result["runs"] = previous.get("runs", [])
    result["analysis"] = analyse(state, texts, args.trace) if args.analyse else previous.get("analysis", {})
    result["load_average_at_end"] = [round(value, 2) for value in os.getloadavg()]
    write_result("serve_memory", result)
    print_table(
        "cataloop serve memory with a 10k index (bench/results/serve_memory.json)",
        [
            (name, f"{f['value']} MiB (bare {f['floor']} MiB, ratio {f['ratio']}, target <= {TARGET_RATIO})")
            for name, f in result["figures"].items()
        ]
        + [
            (f"{kind}: {s['step']}", f"{s['rss_mib']} MiB ({s['delta_mib']:+} MiB)")
            for kind, analysis in result["analysis"].items()
            for s in analysis.get("steps", [])
        ],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
