"""OpenSearch request bodies of the newer plan features, snapshot-tested: the exact-name lookup (`name_key`),
unit-price and total-content sorts, the compound `.joined` fields (a shingle analyzer to index, another to
search), and k-NN similarity floors (a `dis_max` of a radial `min_score` k-NN query and a `script_score`
giving each lexical match its k-NN score, after a k-NN-only request for the best score when the floor is
relative).

Set UPDATE_SNAPSHOTS=1 to rewrite the snapshot after an intended change; review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import pytest

from cataloop.adapters.korean_analyzer import nori_index_settings
from cataloop.adapters.opensearch_index import OpenSearchIndex
from cataloop.adapters.opensearch_mapping import index_mapping
from cataloop.adapters.opensearch_queries import (
    FIELD_PATHS,
    SORT_CLAUSES,
    best_vector_score_body,
    engine_vector_score,
    lexical_query,
    plan_vector_score,
    search_body,
)
from cataloop.domain.search.plan import (
    FieldBoost,
    LexicalClause,
    SearchFilters,
    SearchPlan,
    build_search_plan,
    exact_name_plan,
)
from cataloop.errors import InvalidInput

SNAPSHOT = Path(__file__).parent / "snapshots" / "opensearch_search_requests.json"
ANALYSIS = nori_index_settings(["야쿠르트"], [])
VECTOR = [0.6, 0.8]
NO_HITS: dict[str, Any] = {"hits": {"total": {"value": 0}, "hits": []}}


def _index(client: MagicMock, engine: Any = "lucene") -> OpenSearchIndex:
    return OpenSearchIndex(client, "products", mapping=index_mapping(2, ANALYSIS, engine=engine))


def _client(*responses: dict[str, Any]) -> MagicMock:
    client = MagicMock()
    client.search.side_effect = list(responses)
    return client


def _best(score: float) -> dict[str, Any]:
    return {"hits": {"total": {"value": 1}, "hits": [{"_id": "p1", "_score": score}]}}


def _sent(client: MagicMock) -> list[dict[str, Any]]:
    """The `_search` requests sent, as method-less records (index, params, body)."""
    return [
        {"index": call.kwargs["index"], "params": call.kwargs.get("params"), "body": call.kwargs["body"]}
        for call in client.search.call_args_list
    ]


def _floored_hybrid_requests() -> list[dict[str, Any]]:
    plan = build_search_plan(
        "유산균 음료",
        mode="hybrid",
        filters=SearchFilters(is_food=True),
        size=5,
        candidate_depth=50,
        min_vector_score=0.6,
        vector_score_margin=0.15,
    )
    client = _client(_best(0.9), NO_HITS)
    _index(client).search(plan, VECTOR)
    return _sent(client)


def _requests() -> dict[str, Any]:
    joined_only = SearchPlan(
        query="주방 세제",
        clauses=(
            LexicalClause(
                purpose="text",
                text="주방 세제",
                fields=(FieldBoost(field="name.joined", boost=3.0), FieldBoost(field="keywords.joined")),
            ),
        ),
    )
    return {
        "exact_name": search_body(exact_name_plan("야쿠르트 라이트 65ml x 20개")),
        "hybrid_with_both_floors": _floored_hybrid_requests(),
        "sort_unit_price_asc": search_body(build_search_plan("유산균", sort="unit_price_asc")),
        "sort_total_content_desc": search_body(build_search_plan("세제", sort="total_content_desc")),
        "joined_fields_only": search_body(joined_only),
        "text_clause_with_joined_fields": search_body(build_search_plan("주방 세제")),
    }


def test_search_requests_match_the_snapshot() -> None:
    requests = _requests()
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(
            json.dumps(requests, ensure_ascii=False, indent=2, sort_keys=True) + "\n", "utf-8"
        )
    assert requests == json.loads(SNAPSHOT.read_text("utf-8"))


# --- exact name, sorts, joined fields ------------------------------------------------------------------


def test_an_exact_name_plan_is_one_term_lookup_on_the_name_key_keyword() -> None:
    body = search_body(exact_name_plan("야쿠르트 라이트 65ml x 20개"))
    assert body["query"]["bool"]["should"] == [
        {
            "multi_match": {
                "query": "야쿠르트라이트65mlx20개",
                "fields": ["name_key"],
                "type": "best_fields",
                "operator": "or",
            }
        }
    ]
    assert "sort" not in body and "filter" not in body["query"]["bool"]


def test_value_and_bulk_sorts_put_products_without_unit_pricing_last() -> None:
    assert search_body(build_search_plan("유산균", sort="unit_price_asc"))["sort"] == [
        {"unit_price": {"order": "asc", "missing": "_last", "unmapped_type": "double"}},
        {"_score": {"order": "desc"}},
    ]
    assert search_body(build_search_plan("세제", sort="total_content_desc"))["sort"] == [
        {"total_content": {"order": "desc", "missing": "_last", "unmapped_type": "double"}},
        {"_score": {"order": "desc"}},
    ]
    assert set(SORT_CLAUSES) == set(SearchPlan.model_fields["sort"].annotation.__args__)  # type: ignore[union-attr]


def test_every_logical_field_has_an_opensearch_path() -> None:
    assert set(FIELD_PATHS) == set(FieldBoost.model_fields["field"].annotation.__args__)  # type: ignore[union-attr]
    assert (FIELD_PATHS["name.joined"], FIELD_PATHS["keywords.joined"]) == ("name.joined", "keywords.joined")


def test_joined_sub_fields_use_the_shingle_analyzers_without_synonyms() -> None:
    mapping = index_mapping(2, nori_index_settings([], ["운동화, 스니커즈"]))
    properties = mapping["mappings"]["properties"]
    analysis = mapping["settings"]["analysis"]
    joined_field = {"type": "text", "analyzer": "korean_joined", "search_analyzer": "korean_joined_search"}
    assert properties["name"]["fields"]["joined"] == joined_field
    assert properties["keywords"]["fields"]["joined"] == joined_field
    assert properties["name_key"] == {"type": "keyword"}
    assert properties["unit"] == {"type": "keyword"}
    assert properties["unit_price"] == properties["total_content"] == {"type": "double"}
    index = analysis["analyzer"]["korean_index"]
    for analyzer, shingle in (
        ("korean_joined", "korean_joined_shingle"),
        ("korean_joined_search", "korean_joined_search_shingle"),
    ):
        assert analysis["analyzer"][analyzer] == {
            "type": "custom",
            "tokenizer": index["tokenizer"],
            "filter": [*index["filter"], shingle],
        }
    pairs = {"type": "shingle", "min_shingle_size": 2, "max_shingle_size": 2, "token_separator": ""}
    # Index: unigrams and pairs, the default filler "_" where a stopped word left a gap (no filler_token).
    assert analysis["filter"]["korean_joined_shingle"] == {**pairs, "output_unigrams": True}
    # Search: the pairs only, or the one word of a one-word query.
    assert analysis["filter"]["korean_joined_search_shingle"] == {
        **pairs,
        "output_unigrams": False,
        "output_unigrams_if_no_shingles": True,
    }


# --- k-NN floors -----------------------------------------------------------------------------------------


def test_a_plan_without_floors_sends_one_top_k_request() -> None:
    client = _client(NO_HITS)
    plan = build_search_plan("운동화", mode="hybrid", candidate_depth=30)
    _index(client).search(plan, VECTOR)
    (request,) = _sent(client)
    knn = request["body"]["query"]["hybrid"]["queries"][1]["knn"]["embedding"]
    assert knn == {"vector": VECTOR, "k": 30}
    assert request["body"] == search_body(plan, VECTOR)


def _knn_side(request: dict[str, Any]) -> dict[str, Any]:
    return request["body"]["query"]["hybrid"]["queries"][1]


def _floored_knn(request: dict[str, Any]) -> dict[str, Any]:
    """The k-NN query inside the floored k-NN side (`dis_max` of it and the lexical similarities)."""
    knn, _ = _knn_side(request)["dis_max"]["queries"]
    return knn["knn"]["embedding"]


def test_an_absolute_floor_is_a_radial_search_plus_the_lexical_matches_similarity() -> None:
    client = _client(NO_HITS)
    plan = build_search_plan("운동화", mode="hybrid", min_vector_score=0.7)
    _index(client).search(plan, VECTOR)
    (request,) = _sent(client)
    hybrid = request["body"]["query"]["hybrid"]
    assert hybrid["pagination_depth"] == 100
    assert hybrid["queries"][0] == lexical_query(plan)
    assert hybrid["queries"][1] == {
        "dis_max": {
            "queries": [
                {"knn": {"embedding": {"vector": VECTOR, "min_score": 0.7}}},
                {
                    "script_score": {
                        "query": {"bool": {"filter": [lexical_query(plan)]}},
                        "script": {
                            "source": "(1.0 + cosineSimilarity(params.query_value, doc[params.field])) / 2.0",
                            "params": {"field": "embedding", "query_value": VECTOR},
                        },
                    }
                },
            ]
        }
    }


def test_a_relative_floor_asks_for_the_best_score_first() -> None:
    probe, search = _floored_hybrid_requests()
    assert probe["body"] == {
        "size": 1,
        "track_total_hits": False,
        "_source": False,
        "query": {
            "knn": {
                "embedding": {
                    "vector": VECTOR,
                    "k": 50,
                    "filter": {"bool": {"filter": [{"term": {"is_food": True}}], "must_not": []}},
                }
            }
        },
    }
    assert probe["params"] is None  # no pipeline: a plain k-NN query
    knn = _floored_knn(search)
    assert knn["min_score"] == pytest.approx(0.75)  # max(0.6, 0.9 - 0.15)
    assert "k" not in knn and knn["filter"] == probe["body"]["query"]["knn"]["embedding"]["filter"]
    # The lexical matches are those of the lexical sub-query, under the same hard filters.
    _, similarity = _knn_side(search)["dis_max"]["queries"]
    assert similarity["script_score"]["query"] == {
        "bool": {"filter": [search["body"]["query"]["hybrid"]["queries"][0]]}
    }


def test_the_absolute_floor_wins_when_higher_and_no_knn_hit_leaves_only_it() -> None:
    client = _client(_best(0.7), NO_HITS)
    plan = build_search_plan("운동화", mode="hybrid", min_vector_score=0.65, vector_score_margin=0.2)
    _index(client).search(plan, VECTOR)
    assert _floored_knn(_sent(client)[1])["min_score"] == 0.65

    client = _client(NO_HITS, NO_HITS)
    _index(client).search(plan, VECTOR)
    assert _floored_knn(_sent(client)[1])["min_score"] == 0.65


def test_a_relative_floor_without_any_knn_hit_is_the_plain_top_k_query() -> None:
    # No product has a vector under the filters, so none matches lexically either: nothing to score.
    client = _client(NO_HITS, NO_HITS)
    plan = build_search_plan("운동화", mode="hybrid", vector_score_margin=0.2)
    _index(client).search(plan, VECTOR)
    assert _sent(client)[1]["body"] == search_body(plan, VECTOR)


def test_a_floor_at_or_below_zero_keeps_the_top_k_and_adds_the_lexical_matches() -> None:
    # Every k-NN score passes the floor: the top `candidate_depth` as without one, and, as under any floor,
    # every lexical match with its similarity (the embedded engine adds them whenever a floor applies).
    client = _client(_best(0.1), NO_HITS)
    plan = build_search_plan("운동화", mode="hybrid", vector_score_margin=0.5)
    _index(client).search(plan, VECTOR)
    request = _sent(client)[1]
    assert _floored_knn(request) == {"vector": VECTOR, "k": 100}
    assert request["body"] == search_body(plan, VECTOR, vector_floor=-0.4)


def test_keyword_plans_ignore_floors_and_probe_nothing() -> None:
    client = _client(NO_HITS)
    plan = SearchPlan(query="운동화", clauses=build_search_plan("운동화").clauses, vector_score_margin=0.1)
    _index(client).search(plan)
    (request,) = _sent(client)
    assert "hybrid" not in request["body"]["query"]


def test_the_probe_needs_the_query_vector() -> None:
    with pytest.raises(InvalidInput, match="query vector"):
        best_vector_score_body(build_search_plan("운동화", mode="hybrid", vector_score_margin=0.1), None)


def test_faiss_scores_are_converted_to_and_from_the_plan_scale() -> None:
    # Faiss scores cosinesimil 1 / (2 - cos); the plan's scale is (1 + cos) / 2.
    for cosine in (-0.5, 0.0, 0.4, 0.9, 1.0):
        plan_score, faiss_score = (1 + cosine) / 2, 1 / (2 - cosine)
        assert engine_vector_score(plan_score, "faiss") == pytest.approx(faiss_score)
        assert plan_vector_score(faiss_score, "faiss") == pytest.approx(plan_score)
        assert engine_vector_score(plan_score) == plan_vector_score(plan_score) == plan_score
    client = _client(_best(1 / (2 - 0.8)), NO_HITS)  # best cosine 0.8: plan score 0.9
    plan = build_search_plan("운동화", mode="hybrid", vector_score_margin=0.1)
    _index(client, engine="faiss").search(plan, VECTOR)
    request = _sent(client)[1]
    assert _floored_knn(request)["min_score"] == pytest.approx(1 / (2 - 0.6))  # plan floor 0.8: cosine 0.6
    _, similarity = _knn_side(request)["dis_max"]["queries"]
    assert similarity["script_score"]["script"]["source"] == (
        "1.0 / (2.0 - cosineSimilarity(params.query_value, doc[params.field]))"
    )
