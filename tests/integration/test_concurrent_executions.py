"""Concurrent executions on the local cloud: none fails by chance (the fast slice of `make soak`)."""

from __future__ import annotations

import pytest

from cataloop_eval.soak import run_soak

pytestmark = [pytest.mark.integration, pytest.mark.probe("concurrency")]


def test_concurrent_producers_lose_nothing_and_no_execution_fails_by_a_race() -> None:
    report = run_soak(products=16, producers=4)
    runtime_errors = [f for f in report["failures"] if str(f["error"]).startswith("States.")]
    assert runtime_errors == [], runtime_errors
    assert report["failed"] == 0, report["failures"]
    assert report["producer_errors"] == []
    assert (report["sent"], report["succeeded"], report["persisted_once"], report["lost"]) == (16, 16, 16, 0)
