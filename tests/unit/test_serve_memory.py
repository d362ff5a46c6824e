"""bench/serve_memory.py's arithmetic and readings (the benchmark itself runs serve for minutes)."""

from __future__ import annotations

import os

from bench.serve_memory import figures, memory_mib


def test_memory_is_read_from_proc_status_in_mib() -> None:
    memory = memory_mib(os.getpid())
    assert {"VmRSS", "VmHWM", "RssAnon", "RssFile"} <= set(memory)
    assert 0 < memory["VmRSS"] <= memory["VmHWM"]
    assert abs(memory["RssAnon"] + memory["RssFile"] + memory.get("RssShmem", 0) - memory["VmRSS"]) < 1


def test_figures_are_medians_of_each_kind_and_their_ratio() -> None:
    def run(kind: str, rss: float, peak: float) -> dict[str, object]:
        return {"kind": kind, "VmRSS": rss, "VmHWM": peak, "RssAnon": rss / 2}

    runs = [
        run("bare", 100, 120),
        run("serve", 300, 400),
        run("bare", 110, 125),
        run("serve", 190, 260),
        run("bare", 90, 500),
        run("serve", 200, 250),
    ]
    result = figures(runs, n=3, query_count=50)
    assert result["rss_mib"] | {"how": ""} == {"value": 200, "floor": 100, "ratio": 2.0, "n": 3, "how": ""}
    assert (result["peak_mib"]["value"], result["peak_mib"]["floor"]) == (260, 125)
    assert "VmHWM" in result["peak_mib"]["how"] and "VmRSS" in result["rss_mib"]["how"]
