"""How long each `cataloop` command takes on the demo's state (issue 16: <= 3 s each), written to
`bench/results/cli.json` as `{"commands": {"kb tree": SECONDS, ...}, "demo_seconds": SECONDS, ...}`.

Each command runs in a fresh process (as a user types it) against a copy of the state directory, so the
commands that write (events put) do not change the state the next one reads; median of `--runs` runs, wall
clock from process start to exit. The demo time is not measured here (it takes minutes): pass
`--demo-seconds` from a `make demo` run, or the previous value in cli.json is kept.

Run after `make demo`: `.venv/bin/python -m bench.cli_bench [--state .cataloop] [--runs 3]`.
"""

from __future__ import annotations

import argparse
import json
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


def time_command(words: list[str], state: Path, runs: int) -> dict[str, Any]:
    samples = []
    status = 0
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="cataloop-cli-bench-") as scratch:
            copy = Path(scratch) / "state"
            shutil.copytree(state, copy, ignore=shutil.ignore_patterns(".lock", "artifacts"))
            started = time.perf_counter()
            completed = subprocess.run(
                [str(CATALOOP), "--state-dir", str(copy), *words], capture_output=True, check=False, cwd=ROOT
            )
            samples.append(time.perf_counter() - started)
            status = completed.returncode
    return {
        "seconds": round(statistics.median(samples), 2),
        "min": round(min(samples), 2),
        "max": round(max(samples), 2),
        "runs": runs,
        "exit": status,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", type=Path, default=ROOT / ".cataloop", help="the demo's state directory")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--demo-seconds", type=float, help="wall seconds of a default `make demo`")
    args = parser.parse_args(argv if argv is not None else [])
    if not (args.state / "tables").is_dir():
        raise SystemExit(f"no local state in {args.state}: run `make demo` first")
    previous = json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.is_file() else {}
    timed = {name: time_command(words, args.state, args.runs) for name, words in commands(args.state).items()}
    for name, row in timed.items():
        print(f"  {name:<14} {row['seconds']:>6.2f} s  (exit {row['exit']})", flush=True)
    payload = {
        "commands": {name: row["seconds"] for name, row in timed.items()},
        "details": timed,
        "demo_seconds": args.demo_seconds if args.demo_seconds is not None else previous.get("demo_seconds"),
        "target_seconds": 3.0,
        "how": (
            f"median wall seconds of {args.runs} fresh `cataloop --state-dir COPY ...` processes per command, "
            "each on its own copy of the demo's state (.cataloop after `make demo`, default sizes)"
        ),
    }
    write_result("cli", payload)
    return payload


if __name__ == "__main__":
    main(sys.argv[1:])
