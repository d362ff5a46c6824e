"""`cataloop deploy bootstrap` logic (`services/bootstrap.py` over `adapters/opensearch_bootstrap.py`) on
`FakeOpenSearch`: what it creates, that it is idempotent, that a dry run writes nothing and prints exactly
the requests a real run sends, and the request bodies (snapshot).

Set UPDATE_SNAPSHOTS=1 to rewrite the snapshot after an intended change; review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cataloop.adapters.korean_analyzer import nori_index_settings
from cataloop.adapters.opensearch_bootstrap import bootstrap_resources
from cataloop.adapters.opensearch_index import OpenSearchIndex
from cataloop.adapters.opensearch_learnings import OpenSearchLearningIndex
from cataloop.adapters.opensearch_mapping import index_mapping, learnings_index_mapping
from cataloop.adapters.opensearch_queries import pipeline_name
from cataloop.domain.search.plan import build_search_plan
from cataloop.services.bootstrap import bootstrap
from tests.contract.fake_opensearch import FakeOpenSearch
from tests.contract.test_product_index_contract import ConceptEmbedder

SNAPSHOT = Path(__file__).resolve().parents[1] / "unit" / "snapshots" / "opensearch_bootstrap_requests.json"
# A fixed analysis config, so dictionary edits do not move the snapshot; mapping or body changes do.
ANALYSIS = nori_index_settings(["야쿠르트", "그릭요거트"], ["운동화, 스니커즈", "야구르트 => 야쿠르트"])
WRITES = ("PUT", "POST", "DELETE")


def _resources(client: FakeOpenSearch) -> list[Any]:
    products = OpenSearchIndex(
        client, "products", mapping=index_mapping(1024, ANALYSIS), embedder=ConceptEmbedder()
    )
    learnings = OpenSearchLearningIndex(client, "learnings", mapping=learnings_index_mapping(1024, ANALYSIS))
    return bootstrap_resources(products, learnings)


def test_bootstrap_creates_indices_aliases_vocabulary_and_pipeline() -> None:
    client = FakeOpenSearch()
    steps = bootstrap(_resources(client))
    assert [(step.resource, step.status) for step in steps] == [
        ("index alias products", "created"),
        ("index alias learnings", "created"),
        ("vocabulary index products-vocabulary", "created"),
        ("search pipeline cataloop-hybrid-min_max-mean-l50-v50", "created"),
    ]
    assert client.aliases == {"products": {"products-v0001": True}, "learnings": {"learnings-v0001": True}}
    assert set(client.indices_state) == {"products-v0001", "learnings-v0001", "products-vocabulary"}
    processor = client.pipelines["cataloop-hybrid-min_max-mean-l50-v50"]["phase_results_processors"][0]
    assert processor == {
        "normalization-processor": {
            "normalization": {"technique": "min_max"},
            "combination": {"technique": "arithmetic_mean", "parameters": {"weights": [0.5, 0.5]}},
        }
    }
    # What was sent is what a dry run prints.
    sent = [request for request in client.requests if request["method"] in WRITES]
    assert sent == [request for step in steps for request in step.requests]


def test_the_pipeline_is_the_one_search_uses_on_its_first_hybrid_query() -> None:
    assert pipeline_name(build_search_plan("운동화", mode="hybrid")) == "cataloop-hybrid-min_max-mean-l50-v50"


def test_bootstrap_is_idempotent() -> None:
    client = FakeOpenSearch()
    bootstrap(_resources(client))
    before = len(client.requests)
    steps = bootstrap(_resources(client))
    assert {step.status for step in steps} == {"exists"}
    assert all(request["method"] in ("GET", "HEAD") for request in client.requests[before:])


def test_a_changed_pipeline_body_is_replaced() -> None:
    client = FakeOpenSearch()
    bootstrap(_resources(client))
    client.pipelines["cataloop-hybrid-min_max-mean-l50-v50"]["description"] = "edited by hand"
    steps = bootstrap(_resources(client))
    assert [step.status for step in steps] == ["exists", "exists", "exists", "created"]


def test_a_dry_run_only_reads_and_lists_the_requests_a_run_sends() -> None:
    client = FakeOpenSearch()
    planned = bootstrap(_resources(client), dry_run=True)
    assert {step.status for step in planned} == {"would create"}
    assert all(request["method"] in ("GET", "HEAD") for request in client.requests)
    assert client.indices_state == {} and client.pipelines == {}
    done = bootstrap(_resources(client))
    assert [step.requests for step in planned] == [step.requests for step in done]


def test_bootstrap_requests_match_the_snapshot() -> None:
    client = FakeOpenSearch()
    bootstrap(_resources(client))
    bootstrap(_resources(client))  # the second run only reads
    requests = client.requests
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(
            json.dumps(requests, ensure_ascii=False, indent=2, sort_keys=True) + "\n", "utf-8"
        )
    assert requests == json.loads(SNAPSHOT.read_text("utf-8"))
