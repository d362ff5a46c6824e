"""PutEvents on the local bus keeps AWS's limits (moto checks the entry count only): entry size counted as
EventBridge counts it, in UTF-8 bytes; an entry over 256 KB comes back failed and is not delivered."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from cataloop_local.emulator import eventbus
from cataloop_local.emulator.eventbus import MAX_ENTRY_BYTES, entry_size

pytestmark = pytest.mark.probe("size limits")

KOREAN = {"title": "야쿠르트 라이트 65ml x 5개", "brand": "한국야쿠르트"}


def _entry(detail: Any, **extra: Any) -> dict[str, Any]:
    return {
        "EventBusName": "bus",
        "Source": "cataloop.catalog",
        "DetailType": "ProductCreated",
        "Detail": detail if isinstance(detail, str) else json.dumps(detail, ensure_ascii=False),
        **extra,
    }


@pytest.fixture
def bus() -> Iterator[tuple[Any, Any, str]]:
    eventbus.route_rule_targets(None)  # installs the PutEvents limits (once per process)
    with mock_aws():
        events = boto3.client("events", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        events.create_event_bus(Name="bus")
        url = sqs.create_queue(QueueName="seen")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(
            Name="all", EventBusName="bus", EventPattern=json.dumps({"source": ["cataloop.catalog"]})
        )
        events.put_targets(Rule="all", EventBusName="bus", Targets=[{"Id": "q", "Arn": arn}])
        yield events, sqs, url


def _delivered(sqs: Any, url: str) -> list[dict[str, Any]]:
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"]) for message in messages]


def test_entry_size_is_counted_like_eventbridge_in_utf8_bytes() -> None:
    detail = json.dumps(KOREAN, ensure_ascii=False)
    expected = len(b"cataloop.catalog") + len(b"ProductCreated") + len(detail.encode("utf-8"))
    assert entry_size(_entry(detail)) == expected
    assert entry_size(_entry(detail, Resources=["arn:aws:x:1", "한"])) == expected + 11 + 3
    assert entry_size(_entry(detail, Time="2026-11-22T09:00:00Z")) == expected + 14
    # ASCII escapes (json.dumps' default) would make the same Korean detail about twice as large.
    escaped = json.dumps(KOREAN)
    assert len(escaped.encode()) > 1.5 * len(detail.encode())


def test_an_oversize_entry_is_reported_failed_and_not_delivered(bus: tuple[Any, Any, str]) -> None:
    events, sqs, url = bus
    # A Korean detail of 100k characters: 300k UTF-8 bytes, over 256 KB (and 600k as ASCII escapes).
    large = _entry({"title": "가" * 100_000})
    response = events.put_events(Entries=[_entry(KOREAN), large, _entry({"n": 2})])

    assert response["FailedEntryCount"] == 1
    first, failed, third = response["Entries"]
    assert "EventId" in first and "EventId" in third and "EventId" not in failed
    assert failed["ErrorCode"] == "ValidationException"
    assert "exceeds" in failed["ErrorMessage"] and "256KB" in failed["ErrorMessage"]
    assert str(entry_size(large)) in failed["ErrorMessage"]
    delivered = _delivered(sqs, url)
    assert sorted(json.dumps(m["detail"], ensure_ascii=False) for m in delivered) == sorted(
        [json.dumps(KOREAN, ensure_ascii=False), '{"n": 2}']
    )


def test_an_entry_at_the_limit_is_accepted(bus: tuple[Any, Any, str]) -> None:
    events, _, _ = bus
    overhead = entry_size(_entry('{"p": ""}'))
    exact = _entry('{"p": "' + "x" * (MAX_ENTRY_BYTES - overhead) + '"}')
    assert entry_size(exact) == MAX_ENTRY_BYTES
    assert events.put_events(Entries=[exact])["FailedEntryCount"] == 0
    one_more = _entry('{"p": "' + "x" * (MAX_ENTRY_BYTES - overhead + 1) + '"}')
    assert events.put_events(Entries=[one_more])["FailedEntryCount"] == 1


def test_a_request_is_limited_to_ten_entries_and_256kb_in_all(bus: tuple[Any, Any, str]) -> None:
    events, _, _ = bus
    with pytest.raises(ClientError) as too_many:
        events.put_events(Entries=[_entry({"n": n}) for n in range(11)])
    assert too_many.value.response["Error"]["Code"] == "ValidationException"

    half = _entry({"p": "x" * (MAX_ENTRY_BYTES // 2)})
    with pytest.raises(ClientError) as too_large:
        events.put_events(Entries=[half, half])
    assert "Total size of the entries in the request is over the limit" in str(too_large.value)


def test_the_execution_input_is_utf8_json(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: dict[str, Any] = {}

    class Client:
        def start_execution(self, **arguments: Any) -> dict[str, Any]:
            sent.update(arguments)
            return {"executionArn": "arn:aws:states:us-east-1:1:execution:m:e1", "startDate": 0}

    router = eventbus.EventRouter("us-east-1", lambda *_: None)
    monkeypatch.setattr(eventbus, "aws_client", lambda *_: Client())
    started = router._start_execution("arn:aws:states:x", {"id": "e1"}, {"detail": KOREAN})
    assert "야쿠르트" in sent["input"] and "\\u" not in sent["input"]
    assert started == "arn:aws:states:us-east-1:1:execution:m:e1"


def test_deliveries_since_a_marker_are_what_was_delivered_after_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """`events put` reports the executions its own PutEvents started: the deliveries after its marker, also
    once the record of deliveries has dropped its oldest ones."""
    monkeypatch.setattr(eventbus, "KEEP_DELIVERIES", 3)
    router = eventbus.EventRouter("us-east-1", lambda *_: None)
    assert router.deliveries.maxlen == 3
    for number in range(5):
        router._record(eventbus.Delivery("rule", "arn", f"e{number}", True))
    marker = router.delivered
    assert router.deliveries_since(marker) == []
    router._record(eventbus.Delivery("rule", "arn", "e5", True, execution_arn="x5"))
    router._record(eventbus.Delivery("rule", "arn", "e6", False, "boom"))
    assert [d.event_id for d in router.deliveries_since(marker)] == ["e5", "e6"]
    assert [d.event_id for d in router.deliveries_since(marker - 2)] == ["e4", "e5", "e6"]
    assert [d.event_id for d in router.deliveries_since(0)] == ["e4", "e5", "e6"]  # the kept ones


def test_local_cloud_put_events_batches_like_an_sdk_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    from cataloop_local.emulator import cloud as cloud_module
    from cataloop_local.emulator.cloud import LocalCloud

    requests: list[list[dict[str, Any]]] = []

    class Client:
        def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
            assert len(Entries) <= 10
            sizes = [entry_size(entry) for entry in Entries]
            assert sum(size for size in sizes if size <= MAX_ENTRY_BYTES) <= MAX_ENTRY_BYTES
            requests.append(Entries)
            results = [eventbus.oversize_entry(s) if s > MAX_ENTRY_BYTES else {"EventId": "e"} for s in sizes]
            return {"Entries": results, "FailedEntryCount": sum("ErrorCode" in r for r in results)}

    class Cloud:
        def _only_resource(self, kind: str) -> str:
            return "Bus"

        def physical_name(self, logical: str) -> str:
            return "bus"

    monkeypatch.setattr(cloud_module, "aws_client", lambda *_: Client())
    entries = [{"Source": "s", "DetailType": "d", "Detail": {"n": n, "t": "한" * 20_000}} for n in range(12)]
    entries.insert(5, {"Source": "s", "DetailType": "d", "Detail": {"t": "가" * 100_000}})
    response = LocalCloud.put_events(Cloud(), entries)  # type: ignore[arg-type]

    assert response["FailedEntryCount"] == 1 and len(response["Entries"]) == 13
    assert response["Entries"][5]["ErrorCode"] == "ValidationException"  # in the caller's order
    assert len(requests) > 2  # 60 KB entries: four to a request, not ten
    assert requests[0][0]["Detail"] == json.dumps({"n": 0, "t": "한" * 20_000}, ensure_ascii=False)
