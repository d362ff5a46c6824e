"""How long each `cataloop` command takes on the demo's state (issue 16: <= 3 s each), written to
`bench/results/cli.json` as `{"commands": {"kb tree": SECONDS, ...}, "demo_seconds": SECONDS, ...}`.

Each command runs in a fresh process (as a user types it) against a copy of the state directory, so the
commands that write (events put) do not change the state the next one reads; median of `--runs` runs, wall
clock from process start to exit. The demo time is not measured here (it takes minutes): pass
`--demo-seconds` from a `make demo` run, or the previous value in cli.json is kept.

The same commands are also timed while `cataloop serve` holds a copy of the state (they run on the server's
started cloud: `commands_with_serve_running`).

Run after `make demo`: `.venv/bin/python -m bench.cli_bench [--state .cataloop] [--runs 3]`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import write_result

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "cli.json"
CATALOOP = ROOT / ".venv" / "bin" / "cataloop"


def commands(state: Path) -> dict[str, list[str]]:
    """The commands a user runs after the demo, with arguments taken from the demo's own state."""
    product = _first_product(state)
    learning = _first_learning(state)
    chosen: dict[str, list[str]] = {
        "kb tree": ["kb", "tree"],
        "product list": ["product", "list"],
        "search": ["search", "유산균"],
        "review list": ["review", "list"],
        "events put": ["events", "put", str(ROOT / "events" / "product_created.json")],
        "doctor": ["doctor"],
    }
    if product:
        chosen["product show"] = ["product", "show", product]
    if learning:
        chosen["kb show"] = ["kb", "show", learning]
    return chosen


def _table_items(state: Path, logical: str) -> list[dict[str, Any]]:
    path = state / "tables" / f"{logical}.json"
    if not path.is_file():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    items = data.get("items", data) if isinstance(data, dict) else data
    return items if isinstance(items, list) else []


def _first_product(state: Path) -> str | None:
    for item in _table_items(state, "ProductsTable"):
        value = item.get("product_id") or item.get("pk")
        text = value.get("S") if isinstance(value, dict) else value
        if isinstance(text, str) and text:
            return text.removeprefix("PRODUCT#")
    return None


def _first_learning(state: Path) -> str | None:
    for item in _table_items(state, "KnowledgeTable"):
        for key in ("learning_id", "id", "sk"):
            value = item.get(key)
            text = value.get("S") if isinstance(value, dict) else value
            if isinstance(text, str) and text.startswith(("L-", "LEARNING#L-")):
                return text.removeprefix("LEARNING#")
    return None


def user_environment() -> dict[str, str]:
    """The environment the commands run in: this one, except that Python caches bytecode as it does in a
    user's shell (PYTHONDONTWRITEBYTECODE, set in some development shells, would recompile every module
    edited since its cached bytecode was written, in every run)."""
    environment = dict(os.environ)
    environment.pop("PYTHONDONTWRITEBYTECODE", None)
    return environment


def timed_process(words: list[str], state: Path) -> tuple[float, int]:
    """`cataloop --state-dir STATE WORDS` in a fresh process: (wall seconds from start to exit, status)."""
    started = time.perf_counter()
    completed = subprocess.run(
        [str(CATALOOP), "--state-dir", str(state), *words],
        capture_output=True,
        check=False,
        cwd=ROOT,
        env=user_environment(),
    )
    return time.perf_counter() - started, completed.returncode


def run_once(words: list[str], state: Path) -> tuple[float, int]:
    """One fresh process on a fresh copy of `state`: (wall seconds from start to exit, exit status)."""
    with tempfile.TemporaryDirectory(prefix="cataloop-cli-bench-") as scratch:
        copy = Path(scratch) / "state"
        shutil.copytree(state, copy, ignore=shutil.ignore_patterns(".lock", "artifacts"))
        return timed_process(words, copy)


def summary(samples: dict[str, list[float]], status: dict[str, int]) -> dict[str, dict[str, Any]]:
    """Each command's median, min and max seconds over its runs, and the exit status of its last run."""
    return {
        name: {
            "seconds": round(statistics.median(times), 2),
            "min": round(min(times), 2),
            "max": round(max(times), 2),
            "runs": len(times),
            "exit": status[name],
        }
        for name, times in samples.items()
    }


def time_commands(chosen: dict[str, list[str]], state: Path, runs: int) -> dict[str, dict[str, Any]]:
    """Each command `runs` times, taken in turns (round 1 runs every command once, then round 2...), so a
    machine that slows down or speeds up during the benchmark weighs on every command alike. A first round
    is not timed: it writes the bytecode caches a first use after an install or an edit writes."""
    samples: dict[str, list[float]] = {name: [] for name in chosen}
    status: dict[str, int] = {}
    for words in chosen.values():
        run_once(words, state)
    for _ in range(runs):
        for name, words in chosen.items():
            seconds, status[name] = run_once(words, state)
            samples[name].append(seconds)
    return summary(samples, status)


def unique_product_event(template: Path, number: int, directory: Path) -> Path:
    """`template` (a ProductCreated file) as a new product, its id and title numbered: a put on a state
    that already holds the previous run's product starts a new enrichment and embeds a new text, as a put
    on a fresh copy does."""
    event = json.loads(template.read_text(encoding="utf-8"))
    product = event["detail"]["product"]
    product["product_id"] = f"{product['product_id']}-bench-{number}"
    product["title"] = f"{product['title']} #{number}"
    path = directory / f"product_created_{number}.json"
    path.write_text(json.dumps(event, ensure_ascii=False), encoding="utf-8")
    return path


def time_via_serve(chosen: dict[str, list[str]], state: Path, runs: int) -> dict[str, dict[str, Any]]:
    """The same commands, in turns, while `cataloop serve` holds a copy of `state`: each runs on the
    server's started cloud (local/cli/forward.py) from a fresh `cataloop` process. `events put` puts a new
    product each run; every other command reads the served state."""
    from cataloop_local.cli.forward import serving_at

    chosen = {name: words for name, words in chosen.items() if name != "doctor"}  # needs no local cloud
    samples: dict[str, list[float]] = {name: [] for name in chosen}
    status: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="cataloop-cli-bench-serve-") as scratch:
        copy = Path(scratch) / "state"
        shutil.copytree(state, copy, ignore=shutil.ignore_patterns(".lock", "artifacts", "serve-token"))
        server = subprocess.Popen(
            [str(CATALOOP), "--state-dir", str(copy), "serve", "--port", "0"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
            env=user_environment(),
        )
        try:
            deadline = time.monotonic() + 120
            while serving_at(copy) is None:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("cataloop serve did not start on the copy of the state")
                time.sleep(0.2)
            for number in range(runs + 1):  # round 0 warms the server up, untimed
                for name, words in chosen.items():
                    if name == "events put":
                        words = [
                            *words[:-1],
                            str(unique_product_event(Path(words[-1]), number, Path(scratch))),
                        ]
                    seconds, code = timed_process(words, copy)
                    if number:
                        samples[name].append(seconds)
                        status[name] = code
        finally:
            server.terminate()
            server.wait(timeout=60)
    return summary(samples, status)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", type=Path, default=ROOT / ".cataloop", help="the demo's state directory")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--demo-seconds", type=float, help="wall seconds of a default `make demo`")
    args = parser.parse_args(argv if argv is not None else [])
    if not (args.state / "tables").is_dir():
        raise SystemExit(f"no local state in {args.state}: run `make demo` first")
    previous = json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.is_file() else {}
    timed = time_commands(commands(args.state), args.state, args.runs)
    for name, row in timed.items():
        print(f"  {name:<14} {row['seconds']:>6.2f} s  (exit {row['exit']})", flush=True)
    served = time_via_serve(commands(args.state), args.state, args.runs)
    for name, row in served.items():
        print(f"  {name:<14} {row['seconds']:>6.2f} s  with serve running (exit {row['exit']})", flush=True)
    payload = {
        "commands": {name: row["seconds"] for name, row in timed.items()},
        "details": timed,
        "commands_with_serve_running": {name: row["seconds"] for name, row in served.items()},
        "details_with_serve_running": served,
        "demo_seconds": args.demo_seconds if args.demo_seconds is not None else previous.get("demo_seconds"),
        "target_seconds": 3.0,
        "how": (
            f"median wall seconds of {args.runs} fresh `cataloop --state-dir COPY ...` processes per command, "
            "each on its own copy of the demo's state (.cataloop after `make demo`, default sizes); the "
            "commands take turns, one run of each per round. With serve running: the same commands, from fresh "
            "processes, while `cataloop serve` holds one copy of the state (they run on its started cloud; "
            "`events put` puts a new product each run)"
        ),
    }
    write_result("cli", payload)
    return payload


if __name__ == "__main__":
    main(sys.argv[1:])
