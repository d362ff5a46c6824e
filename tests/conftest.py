"""Shared fixtures: the project root and a local cloud running the real template."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parents[1]

# Speed is measured in bench/, never asserted by a test: Hypothesis' per-example deadline (200 ms) made
# property tests fail at random on a busy 2-core machine.
settings.register_profile("cataloop", deadline=None)
settings.load_profile("cataloop")
TEMPLATE = ROOT / "template.yaml"
FIXTURES = Path(__file__).parent / "fixtures"


KOREAN_CATALOG = ROOT / "data" / "korean-mall" / "products.jsonl"


def put_catalog_products(cloud: LocalCloud, product_ids: Iterable[str]) -> None:  # noqa: F821
    """Submit the Korean catalog products with these ids as ProductCreated events, then deliver the streams."""
    import json

    wanted = set(product_ids)
    for line in KOREAN_CATALOG.read_text(encoding="utf-8").splitlines():
        product = json.loads(line)["product"]
        if product["product_id"] in wanted:
            cloud.put_events(
                [
                    {
                        "Source": "cataloop.catalog",
                        "DetailType": "ProductCreated",
                        "Detail": {"product": product},
                    }
                ]
            )
    cloud.pump_streams()


@contextmanager
def serving_catalog(state_dir: Path, product_ids: Iterable[str]) -> Iterator[str]:
    """A local cloud with these catalog products enriched and indexed, and its HTTP API; yields the URL."""
    from cataloop_local.emulator.cloud import LocalCloud

    local = LocalCloud(TEMPLATE, state_dir=state_dir)
    local.start()
    try:
        put_catalog_products(local, product_ids)
        server = local.http_server()
        server.start()
        try:
            yield server.url
        finally:
            server.stop()
    finally:
        local.stop(save=False)


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[LocalCloud]:  # noqa: F821 - imported lazily below
    """The real template on a fresh local cloud, with its state kept in a temporary directory."""
    from cataloop_local.emulator.cloud import LocalCloud

    local = LocalCloud(TEMPLATE, state_dir=tmp_path / "state")
    local.start()
    try:
        yield local
    finally:
        local.stop(save=False)


# ---------------------------------------------------------------------------- probes
# Adversarial and fault-injection tests carry `@pytest.mark.probe("area")`; the run ends with what each area
# tried and how many held (a probe holds when the system resisted: the test passed). Counted where reports
# arrive (the xdist controller too: the area travels in the report's user_properties).
PROBE_COUNTS: dict[str, list[int]] = {}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "probe(area): an adversarial or fault-injection probe, counted per area"
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    marker = item.get_closest_marker("probe")
    if marker is not None:
        item.user_properties.append(("probe", str(marker.args[0])))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    area = dict(report.user_properties).get("probe")
    if area is None or not (report.when == "call" or (report.when == "setup" and report.outcome != "passed")):
        return
    counts = PROBE_COUNTS.setdefault(str(area), [0, 0])
    counts[0] += 1
    counts[1] += report.outcome == "passed"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not PROBE_COUNTS:
        return
    terminalreporter.section("probes (tried / held)")
    for area, (tried, held) in sorted(PROBE_COUNTS.items()):
        terminalreporter.write_line(f"{area:<28} {tried:>4} / {held}")
    tried = sum(counts[0] for counts in PROBE_COUNTS.values())
    held = sum(counts[1] for counts in PROBE_COUNTS.values())
    terminalreporter.write_line(f"{'all areas':<28} {tried:>4} / {held}")
