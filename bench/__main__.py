"""`python -m bench [NAME ...]`: run the named benchmarks (all when none is named)."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = ["platform_bench", "search_bench", "search_api_bench", "performance"]


def main(names: list[str]) -> int:
    for name in names or BENCHMARKS:
        importlib.import_module(f"bench.{name}").main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
