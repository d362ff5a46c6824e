"""The `ProductIndex` contract (cataloop.ports), asserted the same way on both engines:

- `embedded`: `EmbeddedSearchIndex` for real, on disk in a temporary directory, with a deterministic embedder;
- `opensearch`: `OpenSearchIndex` over `FakeOpenSearch`, a client that records requests and answers with
  OpenSearch-shaped responses (per-item bulk statuses with 409 version conflicts, hits with `_source` and
  `_score`, alias APIs). Its request bodies are snapshot-tested at the end of this module.

Set UPDATE_SNAPSHOTS=1 to rewrite the request snapshot after an intended change; review the diff.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest

from cataloop.adapters.embedded_search import EmbeddedSearchIndex
from cataloop.adapters.korean_analyzer import KoreanAnalysisConfig, KoreanAnalyzer, nori_index_settings
from cataloop.adapters.opensearch_index import OpenSearchIndex
from cataloop.adapters.opensearch_mapping import index_mapping
from cataloop.domain.catalog.listing import ProductListing
from cataloop.domain.search.documents import ProductDocument, product_document
from cataloop.domain.search.plan import build_search_plan
from cataloop.ports import ProductIndex
from tests.contract.fake_opensearch import FakeOpenSearch

SNAPSHOT = (
    Path(__file__).resolve().parents[1] / "unit" / "snapshots" / "opensearch_product_index_requests.json"
)
ANALYSIS = nori_index_settings(["야쿠르트"], [])

# Each axis is one shopping concept named in Korean and English, so "footwear" is near "운동화" although no
# document contains the word: what a hybrid plan's vector side must find.
CONCEPTS = (
    ("운동화", "신발", "footwear", "sneaker"),
    ("야쿠르트", "유산균", "음료", "probiotic"),
    ("iphone", "case", "phone"),
)


class ConceptEmbedder:
    dimension = len(CONCEPTS) + 1

    def embed(self, texts: list[str], kind: Literal["query", "passage"]) -> list[list[float]]:
        return [
            [float(sum(text.lower().count(word) for word in words)) for words in CONCEPTS] + [0.05]
            for text in texts
        ]


LISTINGS = [
    ProductListing(product_id="p1", title="나이키 운동화", category_path=["패션", "신발"], brand="Nike"),
    ProductListing(product_id="p2", title="야쿠르트 에이스", category_path=["식품", "음료"]),
    ProductListing(product_id="p3", title="Apple iPhone Case", category_path=["Electronics"], locale="en"),
]


def _documents(version: int = 1) -> list[ProductDocument]:
    return [product_document(listing, None, version) for listing in LISTINGS]


def _document(product_id: str, version: int) -> ProductDocument:
    listing = next(listing for listing in LISTINGS if listing.product_id == product_id)
    return product_document(listing, None, version)


@pytest.fixture(scope="module")
def analyzer() -> KoreanAnalyzer:
    return KoreanAnalyzer(KoreanAnalysisConfig(user_dictionary=("야쿠르트",)))


def _opensearch(client: FakeOpenSearch) -> OpenSearchIndex:
    mapping = index_mapping(ConceptEmbedder.dimension, ANALYSIS)
    return OpenSearchIndex(client, "products", mapping=mapping, embedder=ConceptEmbedder())


@pytest.fixture(params=["embedded", "opensearch"])
def index(request: pytest.FixtureRequest, tmp_path: Path, analyzer: KoreanAnalyzer) -> Iterator[ProductIndex]:
    if request.param == "embedded":
        engine = EmbeddedSearchIndex(
            tmp_path / "search", analyzer, ConceptEmbedder(), ConceptEmbedder.dimension
        )
        yield engine
        engine.close()
    else:
        yield _opensearch(FakeOpenSearch())


def _ids(index: ProductIndex, query: str, **options: Any) -> list[str]:
    return [hit.id for hit in index.search(build_search_plan(query, **options)).hits]


# --- generations and alias ----------------------------------------------------------------------------


def test_ensure_index_creates_the_first_generation_once(index: ProductIndex) -> None:
    assert index.alias_targets() == []
    first = index.ensure_index()
    assert first == "products-v0001"
    assert index.alias_targets() == [first]
    assert index.ensure_index() == first  # idempotent


def test_a_new_generation_serves_only_after_the_alias_swap(index: ProductIndex) -> None:
    old = index.ensure_index()
    index.bulk_upsert([_document("p1", 1)])
    new = index.create_index()
    assert new == "products-v0002"
    assert index.bulk_upsert(_documents(), index=new).indexed == 3
    assert index.alias_targets() == [old]
    assert _ids(index, "야쿠르트") == []  # readers still see the old generation

    index.swap_alias(new)
    assert index.alias_targets() == [new]
    assert _ids(index, "야쿠르트") == ["p2"]
    # The old generation kept its own versions: writing version 1 there again is stale, not an error.
    assert index.bulk_upsert([_document("p1", 1)], index=old).stale_skipped == ["p1"]


# --- external versions ----------------------------------------------------------------------------------


def test_an_older_or_equal_version_is_stale_not_an_error(index: ProductIndex) -> None:
    index.ensure_index()
    assert index.bulk_upsert([_document("p1", 2)]).indexed == 1
    outcome = index.bulk_upsert([_document("p1", 1)])
    assert (outcome.indexed, outcome.stale_skipped, outcome.failed) == (0, ["p1"], [])
    assert index.bulk_upsert([_document("p1", 2)]).stale_skipped == ["p1"]
    assert index.bulk_upsert([_document("p1", 3)]).indexed == 1


def test_the_bulk_outcome_says_per_document_what_happened(index: ProductIndex) -> None:
    index.ensure_index()
    index.bulk_upsert([_document("p2", 5)])
    outcome = index.bulk_upsert([_document("p1", 1), _document("p2", 4), _document("p3", 1)])
    assert (outcome.indexed, outcome.stale_skipped, outcome.failed) == (2, ["p2"], [])
    assert index.bulk_upsert([]).model_dump() == {
        "indexed": 0,
        "deleted": 0,
        "stale_skipped": [],
        "failed": [],
    }


# --- deletes ----------------------------------------------------------------------------------------------


def test_a_delete_applies_only_with_a_newer_version_and_its_tombstone_keeps_older_writes_out(
    index: ProductIndex,
) -> None:
    index.ensure_index()
    index.bulk_upsert(_documents(version=3))
    stale = index.bulk_delete([("p1", 3)])
    assert (stale.deleted, stale.stale_skipped) == (0, ["p1"])
    assert _ids(index, "운동화")[0] == "p1"

    outcome = index.bulk_delete([("p1", 4), ("never-indexed", 1)])
    assert (outcome.deleted, outcome.stale_skipped, outcome.failed) == (2, [], [])
    assert "p1" not in _ids(index, "운동화")
    # A late write of the deleted version, or of one the delete superseded, does not resurrect it.
    assert index.bulk_upsert([_document("p1", 4)]).stale_skipped == ["p1"]
    assert index.bulk_upsert([_document("p1", 5)]).indexed == 1
    assert _ids(index, "운동화")[0] == "p1"


# --- search -----------------------------------------------------------------------------------------------


def test_a_keyword_plan_returns_the_matching_document_first(index: ProductIndex) -> None:
    index.ensure_index()
    index.bulk_upsert(_documents())
    page = index.search(build_search_plan("운동화"))
    assert [hit.id for hit in page.hits][:1] == ["p1"] and page.total >= 1
    assert page.hits[0].score > 0
    source = page.hits[0].source
    assert source["name"] == "나이키 운동화" and source["brand"] == "Nike"
    assert "embedding_text" not in source and "embedding" not in source
    assert _ids(index, "iphone")[:1] == ["p3"]
    assert _ids(index, "존재하지않는말") == []


def test_a_hybrid_plan_finds_by_meaning_what_no_word_matches(index: ProductIndex) -> None:
    index.ensure_index()
    index.bulk_upsert(_documents())
    assert _ids(index, "footwear", mode="hybrid")[:1] == ["p1"]


def test_vocabulary_and_in_catalog_agree(index: ProductIndex) -> None:
    """An engine lists its catalog terms or returns an empty set; with no terms nothing is in the catalog."""
    index.ensure_index()
    index.bulk_upsert(_documents())
    vocabulary = index.vocabulary()
    assert isinstance(vocabulary, set)
    assert index.in_catalog("운동화") is bool(vocabulary)
    assert index.in_catalog("존재하지않는말") is False


# --- OpenSearch request bodies ----------------------------------------------------------------------------


def _scenario() -> list[dict[str, Any]]:
    client = FakeOpenSearch()
    index = _opensearch(client)
    index.ensure_index()
    index.bulk_upsert(_documents(version=2))
    index.bulk_upsert([_document("p1", 1)])  # stale: a 409 item
    index.bulk_delete([("p2", 3)])
    new = index.create_index()
    index.bulk_upsert([_document("p3", 2)], index=new)
    index.swap_alias(new)
    index.search(build_search_plan("운동화"))
    index.search(build_search_plan("footwear", mode="hybrid", size=5, candidate_depth=10))
    index.search(
        build_search_plan("footwear", mode="hybrid", size=5, candidate_depth=10)
    )  # pipeline created once
    mapping = index_mapping(ConceptEmbedder.dimension, ANALYSIS)
    for request in client.requests:
        if request["method"] == "PUT" and request.get("body") == mapping:
            request["body"] = "<index_mapping(4, nori_index_settings(['야쿠르트'], []))>"
    return client.requests


def test_opensearch_requests_match_the_snapshot() -> None:
    requests = _scenario()
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(
            json.dumps(requests, ensure_ascii=False, indent=2, sort_keys=True) + "\n", "utf-8"
        )
    assert requests == json.loads(SNAPSHOT.read_text("utf-8"))


def test_opensearch_responses_carry_the_item_statuses_the_outcome_reads() -> None:
    client = FakeOpenSearch()
    index = _opensearch(client)
    index.ensure_index()
    index.bulk_upsert([_document("p1", 2)])
    client.fail_items["p2"] = (429, "es_rejected_execution_exception", "rejected execution of bulk")
    outcome = index.bulk_upsert([_document("p1", 1), _document("p2", 1)])
    assert outcome.stale_skipped == ["p1"]
    assert [(failure.id, failure.status, failure.retryable) for failure in outcome.failed] == [
        ("p2", 429, True)
    ]
    assert index.vocabulary() == set() and index.in_catalog("운동화") is False
