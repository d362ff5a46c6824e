"""The first vertical slice on the local cloud: event -> rule -> execution -> handler -> table."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import boto3
import pytest

from cataloop_local.emulator.cloud import LocalCloud
from tests.conftest import ROOT

pytestmark = pytest.mark.integration


def _sample(name: str) -> dict[str, Any]:
    return json.loads((ROOT / "events" / name).read_text(encoding="utf-8"))


def _put_sample(cloud: LocalCloud, name: str) -> None:
    event = _sample(name)
    response = cloud.put_events(
        [{"Source": event["source"], "DetailType": event["detail-type"], "Detail": event["detail"]}]
    )
    assert response["FailedEntryCount"] == 0


def _products() -> list[dict[str, Any]]:
    return boto3.client("dynamodb", region_name="us-east-1").scan(TableName="cataloop-dev-products")["Items"]


def _only_execution(cloud: LocalCloud) -> dict[str, Any]:
    executions = cloud.executions("EnrichProductStateMachine")
    assert len(executions) == 1
    return cloud.describe_execution(executions[0]["executionArn"])


def test_product_created_starts_the_workflow_which_stores_then_enriches_the_product(
    cloud: LocalCloud,
) -> None:
    _put_sample(cloud, "product_created.json")

    execution = _only_execution(cloud)
    assert execution["status"] == "SUCCEEDED"
    items = _products()
    assert len(items) == 1
    # PrepareContext wrote version 1 (PENDING); Persist wrote version 2 on top of it.
    assert items[0]["status"] in ({"S": "ENRICHED"}, {"S": "NEEDS_REVIEW"})
    assert items[0]["version"] == {"N": "2"}
    assert items[0]["listing"]["M"]["title"]["S"].startswith("Death Wish Coffee")
    # The handler ran in-process with a Lambda context and Powertools' correlation id = event id.
    logs = cloud.functions.get("PrepareContextFunction").log.json_lines()
    accepted = [line for line in logs if line.get("message") == "product accepted"]
    assert accepted and accepted[0]["correlation_id"] == json.loads(execution["input"])["id"]
    assert accepted[0]["function_name"] == "cataloop-local-PrepareContextFunction"


@pytest.mark.probe("malformed events")
def test_malformed_event_fails_with_a_readable_cause_and_writes_nothing(cloud: LocalCloud) -> None:
    _put_sample(cloud, "product_created_malformed.json")

    execution = _only_execution(cloud)
    assert execution["status"] == "FAILED"
    assert execution["error"] == "InvalidInput"
    cause = execution["cause"]
    assert cause.startswith("invalid ProductCreated event:")
    assert "detail.product.title: Field required" in cause
    assert "detail.product.price" in cause
    assert _products() == []


@pytest.mark.probe("duplicate and failing deliveries")
def test_the_same_event_delivered_twice_writes_one_product(cloud: LocalCloud) -> None:
    event = _sample("product_created.json")
    entry = {"Source": event["source"], "DetailType": event["detail-type"], "Detail": event["detail"]}
    cloud.put_events([entry])
    # Redelivery: the same EventBridge event (same id) invoked again, as an at-least-once target would.
    first = json.loads(_only_execution(cloud)["input"])
    second = cloud.invoke("PrepareContextFunction", first)

    assert second["created"] is False and second["version"] == 2
    assert len(_products()) == 1


@pytest.mark.probe("duplicate and failing deliveries")
def test_a_different_event_for_an_existing_product_is_rejected(cloud: LocalCloud) -> None:
    _put_sample(cloud, "product_created.json")
    _put_sample(cloud, "product_created.json")  # a new event id for the same product id

    statuses = sorted(
        cloud.describe_execution(e["executionArn"])["status"]
        for e in cloud.executions("EnrichProductStateMachine")
    )
    assert statuses == ["FAILED", "SUCCEEDED"]
    failed = next(
        cloud.describe_execution(e["executionArn"])
        for e in cloud.executions("EnrichProductStateMachine")
        if cloud.describe_execution(e["executionArn"])["status"] == "FAILED"
    )
    assert failed["error"] == "Conflict" and "already exists" in failed["cause"]
    assert len(_products()) == 1


def test_lambda_invoke_through_the_api_reaches_the_handler_and_errors_are_function_errors(
    cloud: LocalCloud,
) -> None:
    client = boto3.client("lambda", region_name="us-east-1")
    response = client.invoke(FunctionName="cataloop-local-PrepareContextFunction", Payload=b'{"detail": {}}')

    assert response["FunctionError"] == "Unhandled"
    payload = json.loads(response["Payload"].read())
    assert payload["errorType"] == "InvalidInput"
    assert "invalid ProductCreated event" in payload["errorMessage"]


def test_http_api_routes_reach_the_handler_over_http(cloud: LocalCloud) -> None:
    server = cloud.http_server()
    server.start()
    try:
        with urllib.request.urlopen(f"{server.url}/health", timeout=10) as response:
            body = json.loads(response.read())
            assert response.status == 200
        assert body["status"] == "ok" and body["stage"] == "dev"
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{server.url}/no-such-route", timeout=10)
        assert missing.value.code == 404
    finally:
        server.stop()


def test_tables_survive_a_restart_without_replaying_streams(tmp_path: Any) -> None:
    from tests.conftest import TEMPLATE

    state = tmp_path / "state"
    first = LocalCloud(TEMPLATE, state_dir=state).start()
    try:
        _put_sample(first, "product_created.json")
    finally:
        first.stop(save=True)

    second = LocalCloud(TEMPLATE, state_dir=state).start()
    try:
        assert len(_products()) == 1
        assert second.pump_streams() == 0  # restored items are not new changes
    finally:
        second.stop(save=False)


def test_the_products_stream_delivers_the_new_product_to_the_indexer(cloud: LocalCloud) -> None:
    from cataloop import wiring
    from cataloop.domain.search.plan import build_search_plan
    from cataloop.settings import Settings

    _put_sample(cloud, "product_created.json")
    cloud.pump_streams()

    products_stream = "arn:aws:dynamodb:us-east-1:123456789012:table/cataloop-dev-products/stream/"
    indexer_runs = [
        i
        for i in cloud.functions.invocations
        if i.function == "IndexerFunction"
        and i.event["Records"][0]["eventSourceARN"].startswith(products_stream)
    ]
    assert [run.ok for run in indexer_runs] == [True]
    # Version 1 (PENDING) and version 2 (enriched) arrive in one batch.
    records = indexer_runs[0].event["Records"]
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY"]
    record = records[0]
    assert record["eventSourceARN"].startswith(products_stream)
    index = wiring.search_index(
        Settings(search_backend="embedded", embedding_provider="e5", data_dir=str(cloud.state_dir))
    )
    hits = index.search(build_search_plan("death wish", mode="keyword")).hits
    assert [hit.id for hit in hits] == ["oa-coffee-0001"]
    assert hits[0].source["attr_brand"]  # the enriched version is the one indexed
