"""`python -m bench [NAME ...]`: run the named benchmarks (all when none is named), then gather
`bench/results/performance.json` from their result files. `bench.cli_bench` is not among them: it times the
CLI on the state `make demo` leaves (`python -m bench cli_bench` after a demo)."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = [
    "platform_bench",
    "search_bench",
    "search_api_bench",
    "indexing_bench",
    "cold_start",
    "knowledge_reads",
    "serve_memory",
    "performance",
]


def main(names: list[str]) -> int:
    # Each benchmark's own options keep their defaults here: it must not read this command's words.
    sys.argv = sys.argv[:1]
    for name in names or BENCHMARKS:
        importlib.import_module(f"bench.{name}").main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
