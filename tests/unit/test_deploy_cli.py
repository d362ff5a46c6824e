"""`cataloop deploy bootstrap` and `cataloop reindex --stack` wiring (local/cli/deploy.py): stack outputs
read with DescribeStacks (botocore Stubber), the domain replaced by `FakeOpenSearch`, the tables by the
in-memory stores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from cataloop import wiring
from cataloop.adapters.korean_analyzer import nori_index_settings
from cataloop.adapters.memory import InMemoryKnowledgeStore, InMemoryProductStore
from cataloop.adapters.opensearch_index import OpenSearchIndex
from cataloop.adapters.opensearch_learnings import OpenSearchLearningIndex
from cataloop.adapters.opensearch_mapping import index_mapping, learnings_index_mapping
from cataloop.domain.catalog.listing import ProductListing
from cataloop_local.cli import deploy
from cataloop_local.cli.main import main
from tests.contract.fake_opensearch import FakeOpenSearch
from tests.contract.test_product_index_contract import ConceptEmbedder

STACK = {
    "StackName": "cataloop-dev",
    "CreationTime": "2026-01-01T00:00:00Z",
    "StackStatus": "CREATE_COMPLETE",
    "Outputs": [
        {
            "OutputKey": "OpenSearchEndpoint",
            "OutputValue": "search-cataloop-dev-abc.eu-west-1.es.amazonaws.com",
        },
        {"OutputKey": "ProductsTableName", "OutputValue": "cataloop-dev-products"},
        {"OutputKey": "KnowledgeTableName", "OutputValue": "cataloop-dev-knowledge"},
        {"OutputKey": "SearchLogBucketName", "OutputValue": "cataloop-dev-search-log-123"},
    ],
    "Parameters": [
        {"ParameterKey": "EmbeddingDimension", "ParameterValue": "256"},
        {"ParameterKey": "EmbeddingProvider", "ParameterValue": "bedrock"},
    ],
}
ANALYSIS = nori_index_settings(["야쿠르트"], [])


def _description() -> dict[str, Any]:
    client = boto3.client("cloudformation", region_name="eu-west-1", aws_access_key_id="x",
                          aws_secret_access_key="x")  # fmt: skip
    with Stubber(client) as stub:
        stub.add_response("describe_stacks", {"Stacks": [STACK]}, {"StackName": "cataloop-dev"})
        return deploy.describe_stack("cataloop-dev", None, client=client)


def test_stack_outputs_and_parameters_become_the_functions_settings() -> None:
    description = _description()
    config = deploy.stack_settings("cataloop-dev", description)
    assert config.search_backend == "opensearch"
    assert config.opensearch_host == "search-cataloop-dev-abc.eu-west-1.es.amazonaws.com"
    assert (config.products_table, config.knowledge_table) == (
        "cataloop-dev-products",
        "cataloop-dev-knowledge",
    )
    assert (config.region, config.embedding_dimension) == ("eu-west-1", 256)
    # Approved dictionary versions are read from the stack's bucket, so a reindex uses the one in force.
    assert config.dictionary_bucket == "cataloop-dev-search-log-123"


def test_a_stack_without_an_endpoint_is_refused() -> None:
    description = {"region": "eu-west-1", "outputs": {}, "parameters": {}}
    with pytest.raises(deploy.StackError, match="OpenSearchEndpoint"):
        deploy.stack_settings("cataloop-dev", description)


@pytest.fixture
def domain(monkeypatch: pytest.MonkeyPatch) -> FakeOpenSearch:
    client = FakeOpenSearch()
    products = OpenSearchIndex(
        client, "products", mapping=index_mapping(4, ANALYSIS), embedder=ConceptEmbedder()
    )
    learnings = OpenSearchLearningIndex(
        client, "learnings", mapping=learnings_index_mapping(4, ANALYSIS), embedder=ConceptEmbedder()
    )
    description = _description()
    monkeypatch.setattr(deploy, "describe_stack", lambda stack, region: description)
    monkeypatch.setattr(wiring, "opensearch_indexes", lambda config: (products, learnings))
    store = InMemoryProductStore()
    for number in range(3):
        listing = ProductListing(product_id=f"p{number}", title=f"야쿠르트 {number}", category_path=["음료"])
        store.create_pending(listing, f"e{number}", "2026-01-01T00:00:00Z")
    monkeypatch.setattr(wiring, "product_store", lambda config: store)
    monkeypatch.setattr(wiring, "knowledge_store", lambda config: InMemoryKnowledgeStore())
    return client


def test_bootstrap_dry_run_prints_the_requests_and_writes_nothing(
    domain: FakeOpenSearch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["deploy", "bootstrap", "--stack", "cataloop-dev", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert (
        "PUT /products-v0001" in out and "PUT /_search/pipeline/cataloop-hybrid-min_max-mean-l50-v50" in out
    )
    assert "normalization-processor" in out
    assert domain.indices_state == {} and domain.pipelines == {}


def test_bootstrap_then_reindex_against_the_stack(
    domain: FakeOpenSearch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["deploy", "bootstrap", "--stack", "cataloop-dev", "--json", str(tmp_path / "b.json")]) == 0
    steps = json.loads((tmp_path / "b.json").read_text("utf-8"))["bootstrap"]
    assert [step["status"] for step in steps] == ["created"] * 4
    assert main(["deploy", "bootstrap", "--stack", "cataloop-dev"]) == 0
    assert capsys.readouterr().out.count("exists") == 4

    assert main(["reindex", "--stack", "cataloop-dev", "--dry-run"]) == 0
    assert "about 3 items" in capsys.readouterr().out
    assert "products-v0002" not in domain.indices_state

    assert main(["reindex", "--stack", "cataloop-dev", "--json", str(tmp_path / "r.json")]) == 0
    reports = json.loads((tmp_path / "r.json").read_text("utf-8"))["reindex"]
    assert [(r["alias"], r["new_index"], r["indexed"]) for r in reports] == [
        ("products", "products-v0002", 3),
        ("learnings", "learnings-v0002", 0),
    ]
    assert reports[0]["vocabulary_terms"] > 0
    assert domain.aliases["products"] == {"products-v0002": True}


def test_local_reindex_options_need_a_stack(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reindex", "--dry-run"]) == 2
    assert "need --stack" in capsys.readouterr().err
