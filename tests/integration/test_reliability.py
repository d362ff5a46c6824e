"""Stranded products, retries, redrives, ordering and idempotency on the local cloud (real template, ASL,
handlers; fixed product ids; no sleeps)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from cataloop.adapters.dynamodb_codec import from_item
from cataloop_local.emulator.cloud import LocalCloud

pytestmark = [pytest.mark.integration, pytest.mark.probe("duplicate and failing deliveries")]

COFFEE = {"title": "Stumptown Coffee - House Blend", "category_path": ["Coffee"]}


def _put(
    cloud: LocalCloud, detail_type: str, detail: dict[str, Any], source: str = "cataloop.catalog"
) -> None:
    response = cloud.put_events([{"Source": source, "DetailType": detail_type, "Detail": detail}])
    assert response["FailedEntryCount"] == 0


def _create(cloud: LocalCloud, product_id: str, **listing: Any) -> None:
    _put(cloud, "ProductCreated", {"product": {"product_id": product_id, **COFFEE, **listing}})


def _product(product_id: str) -> dict[str, Any]:
    item = boto3.client("dynamodb", region_name="us-east-1").get_item(
        TableName="cataloop-dev-products", Key={"product_id": {"S": product_id}}
    )["Item"]
    return from_item(item)


def _executions(cloud: LocalCloud, product_id: str) -> list[dict[str, Any]]:
    found = []
    for execution in cloud.executions("EnrichProductStateMachine"):
        detail = cloud.describe_execution(execution["executionArn"])
        event = json.loads(detail["input"])["detail"]
        if (event.get("product") or {}).get("product_id", event.get("product_id")) == product_id:
            found.append(detail)
    return sorted(found, key=lambda d: d["startDate"])


def _messages(cloud: LocalCloud, logical_id: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    messages = sqs.receive_message(QueueUrl=cloud.queue_url(logical_id), MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


def _failing_role(monkeypatch: pytest.MonkeyPatch, role: str, times: int) -> dict[str, int]:
    from cataloop.adapters.offline.client import OfflineModelClient
    from cataloop.errors import ModelError

    calls = {role: 0}
    original = OfflineModelClient.invoke

    def broken(self: Any, request: Any, output_model: Any) -> Any:
        if request.role == role:
            calls[role] += 1
            if calls[role] <= times:
                raise ModelError(f"{role} returned no tool call twice")
        return original(self, request, output_model)

    monkeypatch.setattr(OfflineModelClient, "invoke", broken)
    return calls


def test_a_failed_execution_is_redriven_once_and_the_product_enriched(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    _failing_role(monkeypatch, "evaluator", times=1)
    _create(cloud, "p-redrive")

    runs = _executions(cloud, "p-redrive")
    assert [run["status"] for run in runs] == ["FAILED", "SUCCEEDED"]
    product = _product("p-redrive")
    assert product["status"] == "ENRICHED"
    # v1 PENDING, v2 taken over by the re-sent event, v3 enriched by it.
    assert product["version"] == 3
    assert product["source_event_id"] == json.loads(runs[1]["input"])["id"]
    assert "redrives" not in product and "released" not in product
    assert _messages(cloud, "RedriveDeadLetterQueue") == []


def test_a_product_that_keeps_failing_is_dead_lettered_after_two_redrives(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    _failing_role(monkeypatch, "evaluator", times=99)
    _create(cloud, "p-hopeless")

    assert [run["status"] for run in _executions(cloud, "p-hopeless")] == ["FAILED"] * 3
    product = _product("p-hopeless")
    assert product["status"] == "PENDING" and product["redrives"] == 2
    (dead,) = _messages(cloud, "RedriveDeadLetterQueue")
    assert dead["product_id"] == "p-hopeless" and dead["error"] == "EnrichmentFailed"
    assert dead["cause"].startswith("ModelError: ")
    assert "gave up after 2 redrives" in dead["dead_letter_cause"]


def test_a_stranded_product_is_taken_over_by_a_re_send(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _failing_role(monkeypatch, "evaluator", times=3)  # the first run and both redrives fail
    _create(cloud, "p-stranded")
    assert _product("p-stranded")["status"] == "PENDING" and calls["evaluator"] == 3
    # Within the grace period a re-send is refused: the owner may still be running.
    _create(cloud, "p-stranded")
    assert _executions(cloud, "p-stranded")[-1]["error"] == "Conflict"
    # Later than the grace period (the item is backdated instead of waiting), the re-send takes it over.
    boto3.client("dynamodb", region_name="us-east-1").update_item(
        TableName="cataloop-dev-products",
        Key={"product_id": {"S": "p-stranded"}},
        UpdateExpression="SET updated_at = :old",
        ExpressionAttributeValues={":old": {"S": "2020-01-01T00:00:00.000+00:00"}},
    )
    _create(cloud, "p-stranded", description="re-sent by the seller")

    assert _executions(cloud, "p-stranded")[-1]["status"] == "SUCCEEDED"
    product = _product("p-stranded")
    assert product["status"] == "ENRICHED"
    assert product["listing"]["description"] == "re-sent by the seller"


def test_a_throttled_write_is_retried_to_success(cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.client import BaseClient

    original = BaseClient._make_api_call
    throttled = {"count": 0}

    def throttle_first_version_write(self: Any, operation: str, params: dict[str, Any]) -> Any:
        if operation == "PutItem" and params.get("ConditionExpression") == "#v = :expected":
            throttled["count"] += 1
            if throttled["count"] == 1:
                raise ClientError(
                    {
                        "Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"},
                        "ResponseMetadata": {"HTTPStatusCode": 400},
                    },
                    operation,
                )
        return original(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", throttle_first_version_write)
    _create(cloud, "p-throttled-write")

    (run,) = _executions(cloud, "p-throttled-write")
    assert run["status"] == "SUCCEEDED"
    assert throttled["count"] == 2
    assert _product("p-throttled-write")["status"] == "ENRICHED"


def test_a_duplicate_product_created_sends_one_review_message(cloud: LocalCloud) -> None:
    # Workers read two item forms the supervisor does not know: a low-confidence resolution, human review.
    nebula = {"title": "Nebula Roasters Espresso Beans, Zorbic Pods, 12 oz", "category_path": ["Coffee"]}
    _put(cloud, "ProductCreated", {"product": {"product_id": "p-nebula-dup", **nebula}})
    _put(cloud, "ProductCreated", {"product": {"product_id": "p-nebula-dup", **nebula}})  # new event id

    assert [run["status"] for run in _executions(cloud, "p-nebula-dup")] == ["SUCCEEDED", "FAILED"]
    messages = _messages(cloud, "HumanReviewQueue")
    assert len(messages) == 1
    assert messages[0]["dedup_id"] == "p-nebula-dup#v2" and messages[0]["version"] == 2


def test_a_late_re_run_does_not_overwrite_a_newer_version(cloud: LocalCloud) -> None:
    _create(cloud, "p-late")
    (first,) = _executions(cloud, "p-late")
    client = boto3.client("dynamodb", region_name="us-east-1")
    # A seller correction on top of the enriched version, with its feedback history.
    client.update_item(
        TableName="cataloop-dev-products",
        Key={"product_id": {"S": "p-late"}},
        UpdateExpression="SET version = :v, provenance.feedback = :f",
        ExpressionAttributeValues={
            ":v": {"N": "3"},
            ":f": {"L": [{"M": {"signal_id": {"S": "SellerDisputeFiled:D-1"}}}]},
        },
    )
    state = json.loads(first["input"])
    context = cloud.invoke("PrepareContextFunction", state)
    assert context["enrich"] is False  # the redelivered event ends at once
    # A late Persist of the original run (a stuck execution finishing) writes nothing either.
    result = boto3.client("stepfunctions", region_name="us-east-1")
    rerun = result.start_execution(
        stateMachineArn=first["stateMachineArn"], name="late-rerun", input=first["input"]
    )
    assert cloud.describe_execution(rerun["executionArn"])["status"] == "SUCCEEDED"
    product = _product("p-late")
    assert product["version"] == 3
    assert product["provenance"]["feedback"] == [{"signal_id": "SellerDisputeFiled:D-1"}]


def test_a_listing_update_makes_a_new_version_and_re_enriches_it(cloud: LocalCloud) -> None:
    _create(cloud, "p-listing")
    assert _product("p-listing")["version"] == 2
    _put(
        cloud,
        "ListingUpdated",
        {
            "update_id": "U-1",
            "product_id": "p-listing",
            "seller_id": "seller-42",
            "changes": [
                {"field": "title", "old": COFFEE["title"], "new": "Death Wish Coffee - Dark Roast"},
                {"field": "price", "old": None, "new": "17.99"},
            ],
        },
        source="cataloop.seller",
    )

    runs = _executions(cloud, "p-listing")
    assert [run["status"] for run in runs] == ["SUCCEEDED", "SUCCEEDED"]
    product = _product("p-listing")
    # v3: the updated listing, PENDING; v4: its enrichment.
    assert product["version"] == 4 and product["status"] in ("ENRICHED", "NEEDS_REVIEW")
    assert product["listing"]["title"] == "Death Wish Coffee - Dark Roast"
    assert float(product["listing"]["price"]) == 17.99
    assert product["enrichment"]["search_title"] != COFFEE["title"]
    assert product["provenance"]["source_event_id"] == json.loads(runs[1]["input"])["id"]
