"""The feedback and listing samples in events/ each change something visible for the sample product of
events/product_created.json, on the local cloud (real rules, ASL, handlers, offline baseline), read through
`events_from_file` exactly as `cataloop events put` reads them."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from cataloop.adapters.dynamodb_codec import from_item
from cataloop.domain.enrichment.normalisation import normalise_value
from cataloop_local.cli.common import events_from_file
from cataloop_local.emulator.cloud import LocalCloud
from tests.conftest import ROOT

pytestmark = pytest.mark.integration

EVENTS = ROOT / "events"
PRODUCT_ID = "oa-coffee-0001"


def _product(cloud: LocalCloud) -> dict[str, Any]:
    item = boto3.client("dynamodb", region_name="us-east-1").get_item(
        TableName=cloud.table_names()["ProductsTable"],
        Key={"product_id": {"S": PRODUCT_ID}},
        ConsistentRead=True,
    )["Item"]
    return from_item(item)


def _values(product: dict[str, Any]) -> dict[str, str]:
    return {name: value["value"] for name, value in product["enrichment"]["attributes"].items()}


def _learning(cloud: LocalCloud, learning_id: str) -> Any:
    from cataloop import wiring

    learning = wiring.knowledge_store(cloud.settings()).get_learning(learning_id)
    assert learning is not None
    return learning


def _put(cloud: LocalCloud, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Put the entries on the bus; the outputs of the LearnFromFeedback executions they started."""
    before = {e["executionArn"] for e in cloud.executions("LearnFromFeedbackStateMachine")}
    response = cloud.put_events(entries)
    assert response["FailedEntryCount"] == 0
    cloud.pump_streams()
    outputs = []
    for execution in cloud.executions("LearnFromFeedbackStateMachine"):
        if execution["executionArn"] in before:
            continue
        detail = cloud.describe_execution(execution["executionArn"])
        assert detail["status"] == "SUCCEEDED", detail.get("cause")
        outputs.append(json.loads(detail["output"]))
    return outputs


def _sample(cloud: LocalCloud, name: str) -> list[dict[str, Any]]:
    entries = events_from_file(EVENTS / name)
    assert len(entries) == 1, f"{name} is one event, usable with `cataloop invoke` and `sam local invoke -e`"
    return _put(cloud, entries)


@pytest.fixture
def sample_product(cloud: LocalCloud) -> dict[str, Any]:
    _put(cloud, events_from_file(EVENTS / "product_created.json"))
    product = _product(cloud)
    assert product["status"] == "ENRICHED"
    return product


def test_each_feedback_and_listing_sample_changes_the_sample_product(
    cloud: LocalCloud, sample_product: dict[str, Any]
) -> None:
    created = sample_product
    assert _values(created)["Brand"] != "Death Wish" and "Caffeine content" not in _values(created)

    # 1. The seller's dispute: the brand is 'Death Wish' (the title states it) -> corrected, a learning proposed.
    (dispute,) = _sample(cloud, "seller_dispute_filed.json")
    assert dispute["relevant"] and dispute["outcome"]["corrected"] == ["Brand"]
    disputed = _product(cloud)
    assert disputed["version"] == created["version"] + 1
    assert _values(disputed)["Brand"] == "Death Wish"
    assert disputed["enrichment"]["attributes"]["Brand"]["evidence"]["text"] == "Death Wish"
    assert disputed["provenance"]["feedback"][-1]["corrected"]["Brand"]["new"] == "Death Wish"
    (taught,) = dispute["outcome"]["placed"]
    learning = _learning(cloud, taught["learning_ids"][0])
    # The seller's own listing is no corroboration of a learning for other sellers: it waits for an expert.
    assert learning.source_channel == "seller_feedback" and learning.status.value == "proposed"

    # 2.-3. Two customers (a review, a return) say the page leaves out the caffeine content. The listing is
    # silent, so each claim is recorded on the product (a new version) and goes to a person: 2 of the 3
    # independent customers the corroboration rule needs.
    (review,) = _sample(cloud, "negative_review_posted.json")
    reviewed = _product(cloud)
    assert review["outcome"]["needs_review"] and "1 of 3" in review["outcome"]["review_reason"]
    assert reviewed["version"] == disputed["version"] + 1 and "Caffeine content" not in _values(reviewed)
    (returned,) = _sample(cloud, "product_returned.json")
    after_pair = _product(cloud)
    assert returned["outcome"]["needs_review"] and "2 of 3" in returned["outcome"]["review_reason"]
    assert after_pair["version"] == reviewed["version"] + 1
    claims = after_pair["provenance"]["feedback_claims"]
    assert {(c["attribute"], c["claim"]) for c in claims} == {("Caffeine content", "2x caffeine")}
    assert {c["reporter"] for c in claims} == {"customer:C-1001", "customer:C-2002"}

    # A third independent customer corroborates: the value is filled in and the learning follows the mode.
    third = events_from_file(EVENTS / "negative_review_posted.json")[0]
    third["Detail"] = {**third["Detail"], "review_id": "V-2026-0003", "customer_id": "C-3003"}
    (corroborated,) = _put(cloud, [third])
    assert corroborated["outcome"]["corrected"] == ["Caffeine content"]
    filled = _product(cloud)
    assert _values(filled)["Caffeine content"] == "2x Caffeine"
    customer_learning = _learning(cloud, corroborated["outcome"]["placed"][0]["learning_ids"][0])
    assert customer_learning.source_channel == "customer_feedback"
    expected = "active" if cloud.settings().deployment_mode == "deploy_and_learn" else "proposed"
    assert customer_learning.status.value == expected

    # 4. The seller's listing update changes the pack: a new version, re-enriched from the new title.
    _sample(cloud, "listing_updated.json")
    updated = _product(cloud)
    assert updated["version"] > filled["version"] and updated["status"] == "ENRICHED"
    assert updated["listing"]["title"].endswith("(Pack of 3)") and updated["listing"]["brand"] == "Death Wish"
    assert normalise_value(_values(updated)["Pack size"], "count") == "3 count"
    # The seller's and the customers' corrections stay traceable across the re-enrichment.
    history = [entry["signal_id"] for entry in updated["provenance"]["feedback"]]
    assert "SellerDisputeFiled:D-2026-0001" in history and "NegativeReviewPosted:V-2026-0003" in history


def test_a_redelivered_sample_has_one_effect(cloud: LocalCloud, sample_product: dict[str, Any]) -> None:
    _sample(cloud, "seller_dispute_filed.json")
    once = _product(cloud)
    (again,) = _sample(cloud, "seller_dispute_filed.json")  # a new event id, the same dispute id
    assert not again["relevant"] and "duplicate" in again["reason"]
    assert _product(cloud) == once
