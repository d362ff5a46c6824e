"""Each moto quirk the local cloud corrects, handled once and checked here."""

from __future__ import annotations

from datetime import UTC, datetime

from cataloop_local.eventbus import as_delivered
from cataloop_local.http_api import Route, build_http_event, http_response
from cataloop_local.streams import to_lambda_record


def test_stream_records_get_an_event_source_arn_and_epoch_creation_time() -> None:
    raw = {
        "eventID": "e1",
        "eventName": "MODIFY",
        "dynamodb": {
            "ApproximateCreationDateTime": datetime(2026, 11, 22, 9, 0, tzinfo=UTC),
            "SequenceNumber": "11",
            "Keys": {"id": {"S": "a"}},
            "NewImage": {"id": {"S": "a"}, "blob": {"B": b"\x00\x01"}},
        },
    }
    record = to_lambda_record(raw, "arn:aws:dynamodb:us-east-1:1:table/t/stream/x")
    assert record["eventSourceARN"] == "arn:aws:dynamodb:us-east-1:1:table/t/stream/x"
    assert record["dynamodb"]["ApproximateCreationDateTime"] == 1795338000
    assert record["dynamodb"]["NewImage"]["blob"] == {"B": "AAE="}
    assert record["eventVersion"] == "1.1" and record["eventSource"] == "aws:dynamodb"


def test_eventbridge_envelope_time_is_iso_and_moto_fields_are_dropped() -> None:
    delivered = as_delivered({"id": "1", "time": 1795338000.25, "ingestion-time": 1795338000.3, "detail": {}})
    assert delivered == {"id": "1", "time": "2026-11-22T09:00:00Z", "detail": {}}


def test_http_api_event_has_the_payload_2_shape() -> None:
    route = Route("GET", "/items/{item_id}", "Fn")
    params = route.match("GET", "/items/42")
    assert params == {"item_id": "42"}
    event = build_http_event(route, "GET", "/items/42", "q=a&q=b&size=3", {"Host": "x", "User-Agent": "t"}, b"", params)
    assert event["version"] == "2.0" and event["routeKey"] == "GET /items/{item_id}"
    assert event["queryStringParameters"] == {"q": "a,b", "size": "3"}
    assert event["pathParameters"] == {"item_id": "42"}
    assert event["requestContext"]["http"]["method"] == "GET"
    assert "body" not in event
    assert route.match("POST", "/items/42") is None


def test_http_results_follow_api_gateway_rules() -> None:
    assert http_response({"statusCode": 201, "headers": {"a": "b"}, "body": "x"}) == (201, {"a": "b"}, b"x")
    status, headers, body = http_response({"hello": "world"})
    assert status == 200 and headers["content-type"] == "application/json" and body == b'{"hello": "world"}'
