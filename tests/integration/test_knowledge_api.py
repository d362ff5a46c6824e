"""Knowledge-base administration over the HTTP API and the CLI, on the local cloud."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from typing import Any

import pytest

from cataloop_local.emulator.cloud import LocalCloud

pytestmark = pytest.mark.integration
EXTERNAL_REFERENCE = re.compile(
    r"""(src|href)\s*=\s*["']?(https?:)?//|url\(\s*["']?(https?:)?//|@import|fetch\(\s*["'`]https?:"""
)


def _call(token: str | None, url: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    """A call as an authorised client makes it: JSON, with the server's bearer token (IAM signing in AWS)."""
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _place_one(cloud: LocalCloud) -> str:
    from cataloop import wiring
    from cataloop.domain.knowledge.learning import LearningDraft
    from cataloop.domain.knowledge.tree import DeploymentMode
    from cataloop.services.knowledge_base import place_learning
    from cataloop.settings import settings

    draft = LearningDraft.model_validate(
        {
            "text": "In Coffee, 'Death Wish' is a Brand value.",
            "scope_path": ["Coffee"],
            "attributes": ["Brand"],
            "directive": {"type": "value_lexicon", "attribute": "Brand", "values": ["Death Wish"]},
            "provenance": {"product_id": "oa-coffee-0001"},
        }
    )
    result = place_learning(draft, wiring.knowledge_store(settings()), DeploymentMode.LEARN_THEN_DEPLOY)
    return result.changed[0].id


def test_an_expert_browses_approves_edits_and_retires_through_the_api(cloud: LocalCloud) -> None:
    learning_id = _place_one(cloud)
    server = cloud.http_server()
    server.start()
    try:
        status, tree = _call(server.token, f"{server.url}/kb/tree")
        assert status == 200 and any(node["path"] == ["Coffee"] for node in tree)

        status, shown = _call(server.token, f"{server.url}/kb/learnings/{learning_id}")
        assert status == 200 and shown["learning"]["status"] == "proposed"

        status, approved = _call(
            server.token,
            f"{server.url}/kb/learnings/{learning_id}/approve",
            "POST",
            {"reason": "checked 3 listings"},
        )
        assert status == 200 and approved["status"] == "active"
        assert approved["audit"][-1]["actor"] == "local-developer"
        assert approved["audit"][-1]["reason"] == "checked 3 listings"

        status, edited = _call(
            server.token,
            f"{server.url}/kb/learnings/{learning_id}",
            "PUT",
            {
                "text": "In Coffee, 'Death Wish Coffee' and 'Death Wish' are Brand values.",
                "reason": "full name",
            },
        )
        assert status == 200 and edited["version"] >= 1

        status, redirected = _call(
            server.token,
            f"{server.url}/kb/learnings/{edited['id']}",
            "PUT",
            {
                "directive": {
                    "type": "value_lexicon",
                    "attribute": "Brand",
                    "values": ["Death Wish Coffee Co"],
                },
                "reason": "the seller's full name",
            },
        )
        assert status == 200 and redirected["directive"]["values"] == ["Death Wish Coffee Co"]
        assert "Death Wish Coffee Co" in redirected["text"]
        learning_id = redirected["id"]

        status, error = _call(
            server.token, f"{server.url}/kb/learnings/{learning_id}/retire", "POST", {"reason": "x"}
        )
        assert status == 400 and "reason" in error["message"].lower()

        status, snapshot = _call(server.token, f"{server.url}/kb/export")
        assert status == 200 and snapshot["learnings"]

        status, error = _call(
            server.token,
            f"{server.url}/kb/import",
            "POST",
            b'{"schema_version": 1, "learnings": [{"id": 5}]}',
        )
        assert status == 400
        status, tree_after = _call(server.token, f"{server.url}/kb/tree")
        assert tree_after == _call(server.token, f"{server.url}/kb/tree")[1]

        # Without the token every authorised route is refused before its handler runs.
        for method, path in (("GET", "/kb/tree"), ("GET", "/kb/export"), ("POST", "/kb/import")):
            body = b"{}" if method == "POST" else None
            status, error = _call(None, f"{server.url}{path}", method, body)
            assert status == 401 and error == {"message": "Unauthorized"}
            status, _ = _call("not-the-token", f"{server.url}{path}", method, body)
            assert status == 401
    finally:
        server.stop()


def test_the_console_reads_a_product_report_and_the_north_star_through_the_api(cloud: LocalCloud) -> None:
    from tests.conftest import put_catalog_products

    put_catalog_products(cloud, ["km-0001", "km-0097", "km-0360"])
    server = cloud.http_server()
    server.start()
    try:
        status, report = _call(server.token, f"{server.url}/kb/products/km-0001")
        assert status == 200 and report["product_id"] == "km-0001" and report["decision"] == "AGREE"
        assert report["attributes"]["brand"]["value"] == "야쿠르트" and report["history"] is None
        assert report["modelled_cost"] > 0

        status, error = _call(server.token, f"{server.url}/kb/products/no-such-product")
        assert status == 404 and "no-such-product" in error["message"]

        status, metrics = _call(server.token, f"{server.url}/kb/metrics?size=2&top=2")
        assert status == 200 and metrics["overall"]["products"] == 3
        assert metrics["overall"]["disagreement_rate"] == round(1 / 3, 4)  # km-0097 disagrees
        assert [point["label"] for point in metrics["series"]] == ["1-2", "3"]
        assert len(metrics["by_category"]) == 2

        status, daily = _call(server.token, f"{server.url}/kb/metrics?group=day")
        assert status == 200 and len(daily["series"]) == 1 and daily["group"] == "day"

        for query in ("group=week", "size=0", "top=51"):
            status, error = _call(server.token, f"{server.url}/kb/metrics?{query}")
            assert status == 400 and error["message"].startswith("invalid request"), query

        for path in ("/kb/products/km-0001", "/kb/metrics"):
            status, error = _call(None, f"{server.url}{path}")
            assert status == 401 and error == {"message": "Unauthorized"}
    finally:
        server.stop()


def test_the_console_pages_are_served_and_carry_no_token(cloud: LocalCloud) -> None:
    server = cloud.http_server()
    server.start()
    try:
        for page in (
            "/",
            "/kb.html",
            "/product.html",
            "/metrics.html",
            "/review.html",
            "/common.js",
            "/review.js",
        ):
            with urllib.request.urlopen(f"{server.url}{page}", timeout=30) as response:
                body = response.read().decode("utf-8")
                assert response.status == 200, page
                assert "default-src 'self'" in response.headers["Content-Security-Policy"]
            assert server.token not in body, page  # the token reaches a page only by its URL fragment
            # nothing is loaded from elsewhere (no CDN script, stylesheet, font or fetch)
            assert not EXTERNAL_REFERENCE.search(body), page
    finally:
        server.stop()


def test_a_reviewer_works_the_review_queue_through_the_api(cloud: LocalCloud) -> None:
    from cataloop import wiring
    from cataloop.settings import settings

    # The supervisor cannot settle two item forms it does not know: the product waits for a reviewer.
    listing = {
        "product_id": "p-nebula",
        "title": "Nebula Roasters Espresso Beans, Zorbic Pods, 12 oz",
        "category_path": ["Coffee"],
    }
    cloud.put_events(
        [{"Source": "cataloop.catalog", "DetailType": "ProductCreated", "Detail": {"product": listing}}]
    )
    cloud.pump_streams()
    server = cloud.http_server()
    server.start()
    try:
        status, queue = _call(server.token, f"{server.url}/kb/review")
        assert status == 200 and [item["product_id"] for item in queue] == ["p-nebula"]
        waiting = queue[0]
        assert waiting["title"] == listing["title"] and "confidence" in waiting["reason"]

        status, detail = _call(server.token, f"{server.url}/kb/review/p-nebula")
        assert status == 200 and detail["item"]["version"] == waiting["version"]
        assert detail["supervisor"]["needs_review"] is True and detail["supervisor"]["reason"]
        names = [attribute["name"] for attribute in detail["attributes"]]
        assert names and set(waiting["unresolved"]) <= set(names)
        assert all(attribute["workers"] for attribute in detail["attributes"])  # each worker's reading
        assert any(attribute["candidates"] for attribute in detail["attributes"])
        assert "Item form" in detail["schema_attributes"]

        decide = f"{server.url}/kb/review/p-nebula/decide"
        for body, problem in (
            ({}, "decisions"),
            ({"decisions": {}}, "decisions"),
            ({"decisions": {"Item form": 3}}, "decisions"),
            ({"decisions": {"Item form": "Whole Bean"}, "reviewer": "me"}, "reviewer"),
            ({"decisions": {"Warranty": "2 years"}}, "'Warranty' is not an attribute of product p-nebula"),
            ({"decisions": {"Item form": "x" * 300}}, "Item form"),
            (b"{not json", "invalid request"),
        ):
            status, error = _call(server.token, decide, "POST", body)
            assert status == 400 and problem in error["message"], (body, error)
        status, error = _call(
            server.token,
            f"{server.url}/kb/review/no-such-product/decide",
            "POST",
            {"decisions": {"Brand": "X"}},
        )
        assert status == 404 and "no-such-product" in error["message"]
        status, error = _call(server.token, f"{server.url}/kb/review/no-such-product")
        assert status == 404 and "no-such-product" in error["message"]
        status, error = _call(None, decide, "POST", {"decisions": {"Brand": "X"}})
        assert status == 401

        status, result = _call(
            server.token,
            decide,
            "POST",
            {
                "decisions": {"Item form": "Whole Bean", "Brand": "Nebula Roasters"},
                "reason": "the bag says beans",
            },
        )
        assert status == 200, result
        assert result["status"] == "ENRICHED" and result["version"] == waiting["version"] + 1
        assert result["reviewer"] == "local-developer" and "Item form" in result["changed"]

        stored = wiring.product_store(settings()).get("p-nebula")
        assert stored is not None and stored.version == result["version"] and stored.enrichment is not None
        assert stored.enrichment["attributes"]["Item form"]["value"] == "Whole Bean"
        assert stored.enrichment["attributes"]["Brand"]["value"] == "Nebula Roasters"
        entry = (stored.provenance or {})["feedback"][-1]
        assert entry["reason"] == "the bag says beans" and entry["reviewer"] == "local-developer"

        status, queue = _call(server.token, f"{server.url}/kb/review")
        assert status == 200 and queue == []
        status, error = _call(server.token, f"{server.url}/kb/review/p-nebula")
        assert status == 409 and "no longer waits for review" in error["message"]
        status, error = _call(server.token, decide, "POST", {"decisions": {"Brand": "Nebula"}})
        assert status == 409 and "no longer waits for review" in error["message"]
    finally:
        server.stop()
