"""GET /search and GET /search/comment on the local cloud: Korean catalog products enter as ProductCreated
events, are enriched by the real workflow, indexed from the Products stream, and searched over HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cataloop_local.emulator.cloud import LocalCloud
from cataloop_local.emulator.http_api import HttpApiServer
from tests.conftest import ROOT, TEMPLATE

pytestmark = pytest.mark.integration

CATALOG = ROOT / "data" / "korean-mall" / "products.jsonl"
# Drinks, the same brand's character goods, another brand's probiotics and a beauty product.
PRODUCT_IDS = ("km-0001", "km-0007", "km-0010", "km-0097", "km-0255", "km-0360", "km-0363", "km-0365")


def _listings() -> list[dict[str, Any]]:
    wanted = set(PRODUCT_IDS)
    rows = [json.loads(line)["product"] for line in CATALOG.read_text(encoding="utf-8").splitlines()]
    return [row for row in rows if row["product_id"] in wanted]


@pytest.fixture(scope="module")
def search_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    state = tmp_path_factory.mktemp("search-api") / "state"
    cloud = LocalCloud(TEMPLATE, state_dir=state)
    cloud.start()
    try:
        for listing in _listings():
            response = cloud.put_events(
                [
                    {
                        "Source": "cataloop.catalog",
                        "DetailType": "ProductCreated",
                        "Detail": {"product": listing},
                    }
                ]
            )
            assert response["FailedEntryCount"] == 0
        assert cloud.pump_streams() >= len(PRODUCT_IDS)
        yield cloud
    finally:
        cloud.stop(save=False)


@pytest.fixture(scope="module")
def api(search_cloud: LocalCloud) -> Iterator[tuple[HttpApiServer, Path]]:
    server = search_cloud.http_server()
    server.start()
    try:
        yield server, Path(search_cloud.state_dir or "")
    finally:
        server.stop()


def _get(server: HttpApiServer, path: str, **params: str) -> tuple[int, dict[str, Any]]:
    url = f"{server.url}{path}?{urllib.parse.urlencode(params)}" if params else f"{server.url}{path}"
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_search_returns_ranked_catalog_products_with_plan_and_comment(api) -> None:
    server, _ = api
    status, body = _get(server, "/search", q="마시는 야쿠르트")

    assert status == 200, body
    ids = [result["id"] for result in body["results"]]
    assert ids and set(ids) <= set(PRODUCT_IDS)
    assert ids[0] in {"km-0001", "km-0007", "km-0010"}  # a drink first: food intent demotes the goods
    assert body["plan"]["classification"]["food_intent"] is True
    assert body["comment_token"]

    status, comment = _get(server, "/search/comment", token=body["comment_token"])
    assert status == 200, comment
    assert comment["source"] == "offline-template" and comment["language"] == "ko"
    assert set(comment["grounded_on"]) <= set(ids[:5])


def test_initial_consonants_find_the_product_and_the_plan_says_how(api) -> None:
    server, _ = api
    status, body = _get(server, "/search", q="ㅇㅋㄹㅌ")

    assert status == 200, body
    assert body["plan"]["variants"][0]["kind"] == "chosung"
    assert {result["id"] for result in body["results"]} & {"km-0001", "km-0007"}


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({}, "q"),
        ({"q": ""}, "q"),
        ({"q": "🥛🥛🥛"}, "no letters or digits"),
        ({"q": "가" * 201}, "200"),
        ({"q": "야쿠르트", "size": "0"}, "size"),
        ({"q": "야쿠르트", "page": "x"}, "page"),
        ({"token": "not-a-token"}, "token"),
    ],
)
def test_bad_requests_answer_400_with_a_message_that_says_what_to_fix(api, params, fragment) -> None:
    server, _ = api
    path = "/search/comment" if "token" in params else "/search"
    status, body = _get(server, path, **params)

    assert status == 400, body
    assert fragment in body["message"]


def test_every_search_is_logged_in_the_stacks_bucket_without_personal_data(api, search_cloud) -> None:
    """Locally as in AWS: the search function writes the log through SearchLogS3 to the stack's bucket (on
    moto), and nothing of it is left as files beside the state."""
    import boto3

    server, state = api
    status, _ = _get(server, "/search", q="야쿠르트 010-1234-5678")
    assert status == 200

    bucket = search_cloud.functions.get("ApiFunction").environment["SEARCH_LOG_BUCKET"]
    assert bucket and bucket == search_cloud.output("SearchLogBucketName")
    s3 = boto3.client("s3", region_name="us-east-1")
    keys = [
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="search-log/")
        for item in page.get("Contents", [])
    ]
    assert keys and all(key.startswith("search-log/dt=") and key.endswith(".jsonl") for key in keys)
    lines = [
        json.loads(line)
        for key in keys
        for line in s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8").splitlines()
    ]
    assert lines and all("1234-5678" not in json.dumps(line, ensure_ascii=False) for line in lines)
    assert any(line.get("guardrail_action") == "masked" for line in lines)
    assert all("latency_ms" in line for line in lines)
    assert not (state / "search-log").exists()

    # What `cataloop dictionary suggest` reads by default: the same objects, through the same adapter.
    from cataloop_local.cli.dictionary import _local_records

    records, source = _local_records(search_cloud)
    assert len(records) == len(lines) and source == f"s3://{bucket} (local cloud)"
    assert all("1234-5678" not in (record.query or "") for record in records)


def test_health_is_still_served(api) -> None:
    server, _ = api
    assert _get(server, "/health")[0] == 200


def test_search_is_open_but_a_rebound_host_is_refused_and_headers_are_hardened(api) -> None:
    import http.client

    server, _ = api
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        connection.request("GET", "/search?q=%EC%9C%A0%EC%82%B0%EA%B7%A0")  # no token: /search is public
        response = connection.getresponse()
        response.read()
        assert response.status == 200
        assert response.getheader("X-Content-Type-Options") == "nosniff"
        assert "default-src 'self'" in response.getheader("Content-Security-Policy", "")
        assert response.getheader("Referrer-Policy") == "no-referrer"
    finally:
        connection.close()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        connection.request("GET", "/search?q=x", headers={"Host": f"rebind.example:{server.port}"})
        assert connection.getresponse().status == 421
    finally:
        connection.close()
