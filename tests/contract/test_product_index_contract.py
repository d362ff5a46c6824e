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
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import pytest

from cataloop.adapters.embedded_search import EmbeddedSearchIndex
from cataloop.adapters.korean_analyzer import KoreanAnalysisConfig, KoreanAnalyzer, nori_index_settings
from cataloop.adapters.opensearch_index import OpenSearchIndex
from cataloop.adapters.opensearch_mapping import index_mapping
from cataloop.domain.catalog.listing import ProductListing
from cataloop.domain.search.documents import ProductDocument, product_document
from cataloop.domain.search.plan import FieldBoost, LexicalClause, build_search_plan, exact_name_plan
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
    """An engine lists its catalog terms with their document frequencies, or returns an empty mapping; with
    no terms nothing is in the catalog."""
    index.ensure_index()
    index.bulk_upsert(_documents())
    vocabulary = index.vocabulary()
    assert isinstance(vocabulary, Mapping)
    assert all(isinstance(count, int) and count >= 1 for count in vocabulary.values())
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
    assert not index.vocabulary() and index.in_catalog("운동화") is False


# --- exact name, unit pricing, k-NN floors, compounds (both engines) ---------------------------------------

PRICED = [
    ProductListing(product_id="u1", title="야쿠르트 라이트 65ml x 20개", category_path=["식품", "음료"],
                   price=Decimal("5200")),  # 1300 ml: 4 won/ml
    ProductListing(product_id="u2", title="야쿠르트 오리지널 1L", category_path=["식품", "음료"],
                   price=Decimal("3000")),  # 1000 ml: 3 won/ml
    ProductListing(product_id="u3", title="야쿠르트 에이스 150ml x 4개", category_path=["식품", "음료"],
                   price=Decimal("3000")),  # 600 ml: 5 won/ml
    ProductListing(product_id="u4", title="야쿠르트 기프트 세트", category_path=["식품", "음료"],
                   price=Decimal("9000")),  # no size: no unit price
]  # fmt: skip
COMPOUNDS = [
    ProductListing(product_id="c1", title="울트라 주방세제 리필", category_path=["생활", "세제"]),
    ProductListing(product_id="c2", title="순한 주방 세제", category_path=["생활", "세제"]),
    ProductListing(product_id="c3", title="나이키 운동화", category_path=["패션", "신발"]),
]


def _index_listings(index: ProductIndex, listings: list[ProductListing]) -> None:
    index.ensure_index()
    index.bulk_upsert([product_document(listing, None, 1) for listing in listings])


def test_an_exact_name_plan_returns_only_the_product_of_that_name(index: ProductIndex) -> None:
    _index_listings(index, PRICED)
    assert [hit.id for hit in index.search(exact_name_plan("야쿠르트 라이트 65mlx20개")).hits] == ["u1"]
    assert [hit.id for hit in index.search(exact_name_plan("야쿠르트오리지널1l")).hits] == ["u2"]
    assert index.search(exact_name_plan("야쿠르트 라이트")).hits == []  # a prefix of a name is not the name


def test_unit_price_sort_puts_the_cheapest_per_unit_first_and_unpriced_last(index: ProductIndex) -> None:
    _index_listings(index, PRICED)
    assert _ids(index, "야쿠르트", sort="unit_price_asc") == ["u2", "u1", "u3", "u4"]
    assert _ids(index, "야쿠르트", sort="total_content_desc") == ["u1", "u2", "u3", "u4"]


def test_a_vector_floor_above_every_knn_score_leaves_only_lexical_matches(index: ProductIndex) -> None:
    index.ensure_index()
    index.bulk_upsert(_documents())
    assert _ids(index, "footwear", mode="hybrid")[:1] == ["p1"]  # without a floor: found by meaning
    assert _ids(index, "footwear", mode="hybrid", min_vector_score=1.0) == []
    assert _ids(index, "운동화", mode="hybrid", min_vector_score=1.0) == ["p1"]  # the lexical match stays


# Two lexical matches of "야쿠르트" with tied lexical scores (same name length) but different similarities
# (f1's category adds the footwear concept, so f2 is nearer the query: the order is not the id tie-break),
# and a product only the vectors find (f3: 유산균 음료).
FLOORED = [
    ProductListing(product_id="f1", title="야쿠르트 골드", category_path=["패션", "신발"]),
    ProductListing(product_id="f2", title="야쿠르트 라이트", category_path=["식품", "음료"]),
]
SEMANTIC_ONLY = ProductListing(product_id="f3", title="유산균 음료", category_path=["식품", "음료"])


def _scored(index: ProductIndex, query: str, **options: Any) -> list[tuple[str, float]]:
    return [(hit.id, hit.score) for hit in index.search(build_search_plan(query, **options)).hits]


def test_under_a_floor_a_lexical_match_keeps_its_similarity_in_the_fusion(index: ProductIndex) -> None:
    """A floor above every k-NN score drops the products only the vectors find, but the lexical matches keep
    their k-NN score: the tie of their lexical scores is broken by similarity, and each fused score is what
    it is with no floor when the k-NN side holds exactly the lexical matches."""
    _index_listings(index, FLOORED)
    plain = _scored(index, "야쿠르트", mode="hybrid")
    floored = _scored(index, "야쿠르트", mode="hybrid", min_vector_score=1.0)
    assert [doc_id for doc_id, _ in floored] == ["f2", "f1"]  # f2 is nearer the query
    assert floored == [(doc_id, pytest.approx(score)) for doc_id, score in plain]
    assert floored[0][1] > floored[1][1]

    index.bulk_upsert([product_document(SEMANTIC_ONLY, None, 1)])
    assert "f3" in _ids(index, "야쿠르트", mode="hybrid")  # without a floor: found by meaning
    # With it, only the lexical matches, scored as before (the k-NN side is the same two similarities).
    again = _scored(index, "야쿠르트", mode="hybrid", min_vector_score=1.0)
    assert again == [(doc_id, pytest.approx(score)) for doc_id, score in floored]


def test_a_margin_keeps_the_lexical_matches_with_their_similarity(index: ProductIndex) -> None:
    _index_listings(index, [*FLOORED, SEMANTIC_ONLY])
    # A zero margin: only the best k-NN hit (f2) passes, plus every lexical match (f1, with its similarity);
    # f3, nearly as near as f2 but found by meaning only, does not.
    assert _ids(index, "야쿠르트", mode="hybrid", vector_score_margin=0.0) == ["f2", "f1"]


def test_a_zero_margin_keeps_only_the_best_knn_hit(index: ProductIndex) -> None:
    index.ensure_index()
    index.bulk_upsert(_documents())
    assert _ids(index, "footwear", mode="hybrid", vector_score_margin=0.0) == ["p1"]


def test_a_spaced_compound_ranks_the_compound_above_another_compound_of_its_last_word(
    index: ProductIndex,
) -> None:
    """The query "주방 세제" is the compound 주방세제 on the `.joined` fields, which "액체세제" is not."""
    _index_listings(index, [*COMPOUNDS, ProductListing(product_id="c4", title="순한 액체세제 리필",
                                                        category_path=["생활", "세제"])])  # fmt: skip
    found = _ids(index, "주방 세제")
    assert found[:2] in (["c1", "c2"], ["c2", "c1"])
    assert "c4" not in found or found.index("c4") > 1
    assert set(_ids(index, "주방세제")) >= {"c1", "c2"}  # the unspaced query finds the spaced name


@pytest.mark.parametrize(("query", "fields"), [("주방 세제", None), ("주방세제", None),
                                              ("주방 세제", "name.joined"), ("주방세제", "name.joined")])  # fmt: skip
def test_a_compound_matches_however_it_is_spaced(index: ProductIndex, query: str, fields: str | None) -> None:
    _index_listings(index, COMPOUNDS)
    plan = build_search_plan(query)
    if fields is not None:  # only the compound sub-field
        clause = LexicalClause(purpose="text", text=query, fields=(FieldBoost(field=fields),))
        plan = plan.model_copy(update={"clauses": (clause,)})
    assert {hit.id for hit in index.search(plan).hits} == {"c1", "c2"}
