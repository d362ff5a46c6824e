"""Stream delivery semantics of the local cloud, on a fixture template with a function that can fail."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from cataloop_local.emulator.cloud import LocalCloud
from tests.conftest import FIXTURES

pytestmark = [pytest.mark.integration, pytest.mark.probe("stream deliveries")]


@pytest.fixture
def stream_cloud() -> Iterator[LocalCloud]:
    cloud = LocalCloud(FIXTURES / "stream_template.yaml")
    cloud.start()
    try:
        yield cloud
    finally:
        cloud.stop(save=False)


def _put(items: list[dict[str, Any]]) -> None:
    client = boto3.client("dynamodb", region_name="us-east-1")
    for item in items:
        client.put_item(TableName="stream-test-items", Item=item)


def _seen(cloud: LocalCloud) -> list[str]:
    module = cloud.functions.get("Recorder")._module
    assert module is not None
    return [record["dynamodb"]["Keys"]["id"]["S"] for record in module.SEEN]


def _failure_messages() -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.get_queue_url(QueueName="stream-test-failures")["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"]) for message in messages]


def test_records_arrive_in_lambda_format_in_batches_of_batch_size(stream_cloud: LocalCloud) -> None:
    stream_cloud.functions.get("Recorder").load()  # import once so SEEN is the module's list
    _put([{"id": {"S": f"item-{n}"}} for n in range(10)])

    delivered = stream_cloud.pump_streams()

    assert delivered == 10
    assert _seen(stream_cloud) == [f"item-{n}" for n in range(10)]
    sizes = [outcome.records for outcome in stream_cloud.streams.outcomes]
    assert sizes == [4, 4, 2]
    record = stream_cloud.functions.get("Recorder")._module.SEEN[0]  # type: ignore[union-attr]
    assert record["eventSourceARN"].startswith(
        "arn:aws:dynamodb:us-east-1:123456789012:table/stream-test-items/stream/"
    )
    assert isinstance(record["dynamodb"]["ApproximateCreationDateTime"], int)
    assert record["eventName"] == "INSERT" and record["eventSource"] == "aws:dynamodb"


def test_poison_record_is_retried_then_sent_to_the_failure_destination_and_good_records_run_once(
    stream_cloud: LocalCloud,
) -> None:
    stream_cloud.functions.get("Recorder").load()
    items = [{"id": {"S": f"item-{n}"}} for n in range(4)]
    items[1]["poison"] = {"BOOL": True}
    _put(items)

    stream_cloud.pump_streams()

    assert sorted(_seen(stream_cloud)) == ["item-0", "item-2", "item-3"]  # each good record exactly once
    failures = _failure_messages()
    assert len(failures) == 1
    info = failures[0]["DDBStreamBatchInfo"]
    assert info["batchSize"] == 1
    assert failures[0]["requestContext"]["condition"] == "RetryAttemptsExhausted"
    # MaxRetries=2: the poison record alone was invoked once plus two retries.
    assert failures[0]["requestContext"]["approximateInvokeCount"] == 3
    # Nothing is left in the stream: the next pump delivers nothing.
    assert stream_cloud.pump_streams() == 0


def test_function_error_bisects_the_batch(stream_cloud: LocalCloud) -> None:
    stream_cloud.functions.get("Recorder").load()
    items = [{"id": {"S": f"item-{n}"}} for n in range(4)]
    items[2]["crash"] = {"BOOL": True}
    _put(items)

    stream_cloud.pump_streams()

    failures = _failure_messages()
    assert [f["DDBStreamBatchInfo"]["batchSize"] for f in failures] == [1]
    assert sorted(_seen(stream_cloud)) == ["item-0", "item-1", "item-3"]
    invocations = [i for i in stream_cloud.functions.invocations if i.function == "Recorder"]
    assert any(not i.ok and i.error_type == "RuntimeError" for i in invocations)


def test_no_retries_without_failures(stream_cloud: LocalCloud, tmp_path: Path) -> None:
    stream_cloud.functions.get("Recorder").load()
    _put([{"id": {"S": "only"}}])
    stream_cloud.pump_streams()
    assert [o.invocations for o in stream_cloud.streams.outcomes] == [1]
    assert _failure_messages() == []


# --- the real indexer on the real template -------------------------------------------------------------------


def _product_item(product_id: str, title: str | None, version: int = 1) -> dict[str, Any]:
    from cataloop.adapters.dynamodb_codec import to_item

    listing: dict[str, Any] = {"product_id": product_id, "category_path": ["발효유"]}
    if title is not None:
        listing["title"] = title
    return to_item(
        {
            "product_id": product_id,
            "version": version,
            "status": "PENDING",
            "source_event_id": f"e-{product_id}",
            "created_at": "2026-11-01T12:00:00Z",
            "updated_at": "2026-11-01T12:00:00Z",
            "listing": listing,
        }
    )


def test_the_indexer_reports_a_poison_product_and_every_later_record_then_it_is_dead_lettered(
    cloud: LocalCloud,
) -> None:
    from cataloop import wiring
    from cataloop.domain.search.plan import build_search_plan

    client = boto3.client("dynamodb", region_name="us-east-1")
    table = cloud.table_names()["ProductsTable"]
    for item in (
        _product_item("km-a", "야쿠르트 라이트"),
        _product_item("km-poison", None),  # no title: not a valid product
        _product_item("km-c", "야쿠르트 에이스"),
    ):
        client.put_item(TableName=table, Item=item)
    client.put_item(TableName=table, Item=_product_item("km-a", "야쿠르트 라이트 리뉴얼", version=2))
    client.delete_item(TableName=table, Key={"product_id": {"S": "km-c"}})

    cloud.pump_streams()

    index = wiring.search_index(cloud.settings())
    hits = index.search(build_search_plan("야쿠르트", size=10)).hits
    assert [hit.id for hit in hits] == ["km-a"]  # km-c indexed on a retry, then deleted; km-poison never
    assert hits[0].source["name"] == "야쿠르트 라이트 리뉴얼"
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = cloud.queue_url("StreamFailureQueue")
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    info = [json.loads(message["Body"])["DDBStreamBatchInfo"] for message in messages]
    assert [batch["batchSize"] for batch in info] == [1]  # only the poison record, after its retries
    runs = [run for run in cloud.functions.invocations if run.function == "IndexerFunction"]
    assert all(run.ok for run in runs) and len(runs) > 1  # partial failures, never a function error
    assert cloud.pump_streams() == 0
