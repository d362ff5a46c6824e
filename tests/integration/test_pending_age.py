"""PendingAge on the local cloud: the template's scheduled function measures the oldest PENDING product and
publishes it as the metric its alarm watches."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cataloop.domain.catalog.listing import ProductListing
from cataloop_local.emulator.cloud import LocalCloud
from tests.conftest import ROOT

pytestmark = pytest.mark.integration


def test_the_scheduled_function_publishes_the_age_of_the_oldest_pending_product(cloud: LocalCloud) -> None:
    from cataloop import wiring

    store = wiring.product_store(cloud.settings())
    listing = ProductListing(
        product_id="p-waiting", title="Stumptown Coffee - House Blend", category_path=["Coffee"]
    )
    store.create_pending(listing, "e-waiting", "2026-01-01T00:00:00.000+00:00")

    event = json.loads(Path(ROOT / "events" / "pending_age.json").read_text(encoding="utf-8"))
    result = cloud.invoke("PendingAgeFunction", event)

    assert result["pending"] == 1 and result["oldest_product_id"] == "p-waiting"
    assert result["oldest_seconds"] > 3600
    blobs = [line for line in cloud.functions.get("PendingAgeFunction").log.json_lines() if "_aws" in line]
    published = {
        metric["Name"]
        for blob in blobs
        for directive in blob["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]
    }
    assert {"OldestPendingSeconds", "PendingProducts"} <= published
    latest = blobs[-1]
    age = latest["OldestPendingSeconds"]
    assert (age[0] if isinstance(age, list) else age) > 3600 and latest["service"] == "cataloop"
