"""bench/performance.py composes the figures of the other benchmarks without erasing unmeasured ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import performance


def test_figures_come_from_each_source_and_a_missing_source_keeps_its_old_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(performance, "RESULTS", tmp_path)
    written: dict[str, object] = {}
    monkeypatch.setattr(performance, "write_result", lambda name, payload: written.update({name: payload}))
    (tmp_path / "performance.json").write_text(
        json.dumps({"figures": {"cold_start.api": {"value": 2.0}, "search.keyword.p50": {"value": 99}}}),
        encoding="utf-8",
    )
    row = {"p50_ms": 6.0, "p95_ms": 12.0, "n": 10}
    search = {
        "rounds": 5,
        "paths": {
            "keyword": {"queries": 2, "floor": {"p50_ms": 2.0, "p95_ms": 4.0}, "engine_only": row},
            "hybrid": {
                "queries": 2,
                "floor": {"p50_ms": 20.0, "p95_ms": 24.0},
                "engine_only": row,
                "with_offline_models": {"search": {"p50_ms": 22.0, "p95_ms": 30.0, "n": 10}},
            },
        },
    }
    (tmp_path / "search_api.json").write_text(json.dumps(search), encoding="utf-8")

    figures = performance.main()["figures"]

    assert figures["search.keyword.p50"]["ratio"] == 3.0  # replaced by the new measurement
    assert figures["search.hybrid.p95"]["ratio"] == 1.25  # with the embedding, as its floor is
    assert figures["search.hybrid.p95_with_embedding"] == {
        "value": 30.0,
        "floor": 25.0,
        "ratio": 1.2,
        "n": 10,
        "how": figures["search.hybrid.p95_with_embedding"]["how"],
    }
    assert figures["cold_start.api"] == {"value": 2.0}  # no cold_start.json this run: kept as it was
    assert written["performance"]["figures"] == figures  # type: ignore[index]


def test_the_cli_bench_takes_its_ids_from_the_demo_state(tmp_path: Path) -> None:
    from bench import cli_bench

    tables = tmp_path / "tables"
    tables.mkdir()
    (tables / "ProductsTable.json").write_text(json.dumps([{"product_id": "km-0001"}]), encoding="utf-8")
    knowledge = [{"pk": {"S": "NODE#발효유"}}, {"learning_id": {"S": "L-abc"}}]
    (tables / "KnowledgeTable.json").write_text(json.dumps(knowledge), encoding="utf-8")
    chosen = cli_bench.commands(tmp_path)
    assert chosen["product show"] == ["product", "show", "km-0001"]
    assert chosen["kb show"] == ["kb", "show", "L-abc"]
    assert {"kb tree", "search", "events put", "review list"} <= set(chosen)
    (tables / "ProductsTable.json").write_text("[]", encoding="utf-8")
    assert "product show" not in cli_bench.commands(tmp_path)


def test_the_cli_bench_runs_the_commands_in_turns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Round 1 runs every command once, then round 2: a machine that slows down during the benchmark
    weighs on every command alike; each command reports the median, min and max of its timed runs (a first
    round warms the bytecode caches)."""
    from bench import cli_bench

    order: list[str] = []
    seconds = iter([9.0, 9.0, 1.0, 5.0, 3.0, 6.0, 2.0, 4.0])  # the first round warms up, untimed

    def run_once(words: list[str], state: Path) -> tuple[float, int]:
        order.append(words[0])
        return next(seconds), 0

    monkeypatch.setattr(cli_bench, "run_once", run_once)
    timed = cli_bench.time_commands({"a": ["a"], "b": ["b"]}, tmp_path, runs=3)
    assert order == ["a", "b"] * 4
    assert timed["a"] == {"seconds": 2.0, "min": 1.0, "max": 3.0, "runs": 3, "exit": 0}
    assert timed["b"] == {"seconds": 5.0, "min": 4.0, "max": 6.0, "runs": 3, "exit": 0}


def test_each_served_events_put_is_a_new_product(tmp_path: Path) -> None:
    from bench import cli_bench
    from tests.conftest import ROOT

    template = ROOT / "events" / "product_created.json"
    first = json.loads(cli_bench.unique_product_event(template, 1, tmp_path).read_text(encoding="utf-8"))
    second = json.loads(cli_bench.unique_product_event(template, 2, tmp_path).read_text(encoding="utf-8"))
    original = json.loads(template.read_text(encoding="utf-8"))["detail"]["product"]
    ids = {first["detail"]["product"]["product_id"], second["detail"]["product"]["product_id"]}
    assert len(ids) == 2 and original["product_id"] not in ids
    assert first["detail"]["product"]["title"] != second["detail"]["product"]["title"]
    assert first["detail-type"] == "ProductCreated"
