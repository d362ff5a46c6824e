"""Shared fixtures: the project root and a local cloud running the real template."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

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
