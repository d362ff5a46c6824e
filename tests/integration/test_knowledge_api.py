"""Knowledge-base administration over the HTTP API and the CLI, on the local cloud."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from cataloop_local.emulator.cloud import LocalCloud

pytestmark = pytest.mark.integration


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
