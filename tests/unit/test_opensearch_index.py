"""OpenSearch request bodies (mapping, bulk, aliases, pipeline, queries) and SigV4 signing, without a server.

Set UPDATE_SNAPSHOTS=1 to rewrite the mapping snapshot after an intended change; review the diff.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal
from unittest.mock import MagicMock

import pytest
import requests
from botocore.credentials import Credentials
from opensearchpy import RequestsHttpConnection
from opensearchpy.exceptions import NotFoundError

from cataloop.adapters.korean_analyzer import nori_index_settings
from cataloop.adapters.opensearch_index import (
    OpenSearchIndex,
    bulk_outcome,
    make_opensearch_client,
    sigv4_auth,
)
from cataloop.adapters.opensearch_mapping import index_mapping, learnings_index_mapping
from cataloop.adapters.opensearch_queries import pipeline_name, search_body, search_pipeline_body
from cataloop.domain.catalog.listing import ProductListing
from cataloop.domain.search.documents import product_document
from cataloop.domain.search.plan import SearchFilters, build_search_plan
from cataloop.errors import InvalidInput

SNAPSHOT = Path(__file__).parent / "snapshots" / "opensearch_products_mapping.json"
ANALYSIS = nori_index_settings(["야쿠르트"], ["운동화, 스니커즈", "폰 => 휴대폰"])


def _products_mapping() -> dict[str, Any]:
    return index_mapping(384, ANALYSIS)


def _documents() -> list[Any]:
    listings = [
        ProductListing(product_id="p1", title="나이키 운동화", category_path=["패션", "신발"], brand="Nike"),
        ProductListing(product_id="p2", title="야쿠르트 에이스", category_path=["식품", "음료"]),
    ]
    return [product_document(listing, {"attributes": {"Color": "흰색"}}, 3) for listing in listings]


def _index(client: MagicMock, **kwargs: Any) -> OpenSearchIndex:
    return OpenSearchIndex(client, "products", mapping=_products_mapping(), **kwargs)


# --- mapping ------------------------------------------------------------------------------------------


def test_products_mapping_matches_snapshot() -> None:
    mapping = _products_mapping()
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(json.dumps(mapping, ensure_ascii=False, indent=2, sort_keys=True) + "\n", "utf-8")
    assert mapping == json.loads(SNAPSHOT.read_text("utf-8"))


def test_mapping_has_knn_vector_korean_english_prefix_and_numeric_fields() -> None:
    mapping = _products_mapping()
    properties = mapping["mappings"]["properties"]
    assert mapping["settings"]["index"]["knn"] is True
    assert properties["embedding"] == {
        "type": "knn_vector",
        "dimension": 384,
        "method": {
            "name": "hnsw",
            "engine": "lucene",
            "space_type": "cosinesimil",
            "parameters": {"m": 16, "ef_construction": 128},
        },
    }
    assert properties["name"]["analyzer"] == "korean_index"
    assert properties["name"]["search_analyzer"] == "korean_search"
    assert properties["name"]["fields"]["en"]["analyzer"] == "english"
    assert properties["name_chosung"]["analyzer"] == "prefix_index"
    assert properties["price"]["type"] == "double"
    analyzers = mapping["settings"]["analysis"]["analyzer"]
    referenced = {
        spec[key]
        for spec in [
            *properties.values(),
            *[sub for p in properties.values() for sub in p.get("fields", {}).values()],
        ]
        for key in ("analyzer", "search_analyzer")
        if key in spec and spec[key] not in {"english"}
    }
    assert referenced <= set(analyzers)


def test_mapping_engine_and_dimension_come_from_arguments() -> None:
    mapping = index_mapping(1024, ANALYSIS, engine="faiss", shards=None)
    assert mapping["mappings"]["properties"]["embedding"]["dimension"] == 1024
    assert mapping["mappings"]["properties"]["embedding"]["method"]["engine"] == "faiss"
    assert "number_of_shards" not in mapping["settings"]["index"]


def test_mapping_names_missing_analyzers() -> None:
    with pytest.raises(InvalidInput, match="nori index and search analyzers"):
        index_mapping(384, ANALYSIS, search_analyzer="nope")


def test_learnings_mapping_is_strict_with_scope_and_vector() -> None:
    mapping = learnings_index_mapping(384, ANALYSIS)
    properties = mapping["mappings"]["properties"]
    assert mapping["mappings"]["dynamic"] == "strict"
    assert properties["scope_prefixes"] == {"type": "keyword"}
    assert properties["embedding"]["dimension"] == 384


# --- bulk ---------------------------------------------------------------------------------------------


def test_bulk_upsert_sends_external_versions_and_vectors() -> None:
    client = MagicMock()
    client.bulk.return_value = {
        "items": [{"index": {"_id": "p1", "status": 201}}, {"index": {"_id": "p2", "status": 201}}]
    }
    outcome = _index(client).bulk_upsert(_documents(), vectors=[[0.1, 0.2], [0.3, 0.4]])
    body = client.bulk.call_args.kwargs["body"]
    assert body[0] == {"index": {"_index": "products", "_id": "p1", "version": 3, "version_type": "external"}}
    assert body[1]["name"] == "나이키 운동화"
    assert body[1]["embedding"] == [0.1, 0.2]
    assert body[1]["attr_color"] == ["흰색"]
    assert "version" not in body[1]
    assert outcome.indexed == 2


def test_bulk_upsert_can_target_a_new_generation_and_uses_the_embedder() -> None:
    client = MagicMock()
    client.bulk.return_value = {"items": []}
    embedder = MagicMock()
    embedder.embed.return_value = [[1.0], [2.0]]
    _index(client, embedder=embedder).bulk_upsert(_documents(), index="products-v0002")
    body = client.bulk.call_args.kwargs["body"]
    assert body[0]["index"]["_index"] == "products-v0002"
    assert body[3]["embedding"] == [2.0]
    assert embedder.embed.call_args.args[1] == "passage"


def test_bulk_outcome_counts_version_conflicts_as_stale_not_failed() -> None:
    outcome = bulk_outcome(
        {
            "items": [
                {"index": {"_id": "a", "status": 200}},
                {
                    "index": {
                        "_id": "b",
                        "status": 409,
                        "error": {"type": "version_conflict_engine_exception"},
                    }
                },
                {"index": {"_id": "c", "status": 429, "error": {"reason": "rejected execution"}}},
                {"index": {"_id": "d", "status": 400, "error": {"reason": "mapper_parsing_exception"}}},
                {"delete": {"_id": "e", "status": 404}},
            ]
        }
    )
    assert (outcome.indexed, outcome.deleted, outcome.stale_skipped) == (1, 1, ["b"])
    assert [(f.id, f.retryable) for f in outcome.failed] == [("c", True), ("d", False)]
    assert outcome.failed[1].reason == "mapper_parsing_exception"


def test_delete_sends_an_external_version() -> None:
    client = MagicMock()
    client.bulk.return_value = {"items": [{"delete": {"_id": "p1", "status": 200}}]}
    outcome = _index(client).delete("p1", 8)
    assert client.bulk.call_args.kwargs["body"] == [
        {"delete": {"_index": "products", "_id": "p1", "version": 8, "version_type": "external"}}
    ]
    assert outcome.deleted == 1


def test_missing_vectors_without_embedder_is_an_actionable_error() -> None:
    with pytest.raises(InvalidInput, match="pass vectors= or an embedder"):
        _index(MagicMock()).bulk_upsert(_documents())


# --- generations and alias ----------------------------------------------------------------------------


def test_create_index_takes_the_next_generation_with_the_mapping() -> None:
    client = MagicMock()
    client.indices.get.return_value = {"products-v0001": {}, "products-v0003": {}, "products-old": {}}
    name = _index(client).create_index()
    assert name == "products-v0004"
    assert client.indices.create.call_args.kwargs == {"index": "products-v0004", "body": _products_mapping()}


def test_swap_alias_removes_old_targets_and_adds_new_in_one_call() -> None:
    client = MagicMock()
    client.indices.get_alias.return_value = {"products-v0001": {"aliases": {"products": {}}}}
    body = _index(client).swap_alias("products-v0002")
    assert body == {
        "actions": [
            {"remove": {"index": "products-v0001", "alias": "products"}},
            {"add": {"index": "products-v0002", "alias": "products", "is_write_index": True}},
        ]
    }
    client.indices.update_aliases.assert_called_once_with(body=body)


def test_first_alias_swap_only_adds() -> None:
    client = MagicMock()
    client.indices.get_alias.side_effect = NotFoundError(404, "alias_not_found", {})
    client.indices.get.return_value = {}
    assert _index(client).ensure_index() == "products-v0001"
    actions = client.indices.update_aliases.call_args.kwargs["body"]["actions"]
    assert actions == [{"add": {"index": "products-v0001", "alias": "products", "is_write_index": True}}]


# --- pipeline -----------------------------------------------------------------------------------------


def test_normalization_pipeline_body() -> None:
    assert search_pipeline_body("min_max", "arithmetic_mean", [0.3, 0.7]) == {
        "description": "Cataloop hybrid search score fusion",
        "phase_results_processors": [
            {
                "normalization-processor": {
                    "normalization": {"technique": "min_max"},
                    "combination": {"technique": "arithmetic_mean", "parameters": {"weights": [0.3, 0.7]}},
                }
            }
        ],
    }


def test_rrf_pipeline_body_scales_weights_to_one() -> None:
    body = search_pipeline_body("min_max", "rrf", [1.0, 3.0], rank_constant=60)
    assert body["phase_results_processors"] == [
        {
            "score-ranker-processor": {
                "combination": {
                    "technique": "rrf",
                    "rank_constant": 60,
                    "parameters": {"weights": [0.25, 0.75]},
                }
            }
        }
    ]


# --- queries ------------------------------------------------------------------------------------------


def test_keyword_body_is_a_bool_of_multi_match_clauses_with_filters_and_sort() -> None:
    plan = build_search_plan(
        "ㅇㅋㄹㅌ",
        filters=SearchFilters(category_prefix=("식품",), is_food=True, price_max=5000, top_level_only=True),
        sort="price_asc",
        size=10,
        page=2,
    )
    body = search_body(plan)
    assert (body["size"], body["from"]) == (10, 20)
    query = body["query"]["bool"]
    assert query["should"] == [
        {
            "multi_match": {
                "query": "ㅇㅋㄹㅌ",
                "fields": ["name_chosung"],
                "type": "best_fields",
                "operator": "or",
                "boost": 2.0,
            }
        }
    ]
    assert query["minimum_should_match"] == 1
    assert query["filter"] == [
        {"term": {"category_prefixes": "식품"}},
        {"term": {"is_food": True}},
        {"range": {"price": {"lte": 5000}}},
    ]
    assert query["must_not"] == [{"exists": {"field": "parent_id"}}]
    assert body["sort"][0] == {"price": {"order": "asc", "missing": "_last"}}
    assert body["_source"] == {"excludes": ["embedding", "embedding_text"]}


def test_text_clause_lists_boosted_fields() -> None:
    fields = search_body(build_search_plan("운동화"))["query"]["bool"]["should"][0]["multi_match"]["fields"]
    assert fields[:4] == ["name^3", "name.joined^5", "name.en^2", "brand^2.5"]
    assert "keywords.joined^3" in fields
    assert "category_path.text" in fields


def test_hybrid_body_has_lexical_and_knn_sub_queries_with_the_same_filters() -> None:
    plan = build_search_plan(
        "운동화", mode="hybrid", filters=SearchFilters(brands=("Nike",)), candidate_depth=150
    )
    body = search_body(plan, [0.5, 0.5])
    hybrid = body["query"]["hybrid"]
    assert hybrid["pagination_depth"] == 150
    lexical, knn = hybrid["queries"]
    assert lexical["bool"]["filter"] == [{"terms": {"brand.raw": ["Nike"]}}]
    assert knn == {
        "knn": {
            "embedding": {
                "vector": [0.5, 0.5],
                "k": 150,
                "filter": {"bool": {"filter": [{"terms": {"brand.raw": ["Nike"]}}], "must_not": []}},
            }
        }
    }


def test_hybrid_body_without_vector_is_rejected() -> None:
    with pytest.raises(InvalidInput, match="query vector"):
        search_body(build_search_plan("운동화", mode="hybrid"))


def test_hybrid_search_creates_its_pipeline_once_and_names_it_in_the_request() -> None:
    client = MagicMock()
    client.search.return_value = {
        "hits": {"total": {"value": 1}, "hits": [{"_id": "p1", "_score": 0.8, "_source": {"name": "x"}}]}
    }
    index = _index(client)
    plan = build_search_plan("운동화", mode="hybrid", lexical_weight=0.3, vector_weight=0.7)
    page = index.search(plan, [0.1, 0.2])
    index.search(plan, [0.1, 0.2])
    assert pipeline_name(plan) == "cataloop-hybrid-min_max-mean-l30-v70"
    client.search_pipeline.put.assert_called_once()
    assert client.search_pipeline.put.call_args.kwargs["id"] == pipeline_name(plan)
    assert client.search.call_args.kwargs["params"] == {"search_pipeline": pipeline_name(plan)}
    assert client.search.call_args.kwargs["index"] == "products"
    assert page.total == 1
    assert (page.hits[0].id, page.hits[0].score, page.hits[0].source) == ("p1", 0.8, {"name": "x"})


# --- SigV4 --------------------------------------------------------------------------------------------


def _signed(service: Literal["es", "aoss"], body: bytes | None) -> requests.PreparedRequest:
    request = requests.Request(
        "POST",
        "https://abc123.us-east-1.aoss.amazonaws.com/products/_search",
        data=body,
        headers={"Content-Type": "application/json", "Connection": "keep-alive", "Accept-Encoding": "gzip"},
    ).prepare()
    auth = sigv4_auth(Credentials("AKIDEXAMPLE", "secret", "token"), "us-east-1", service)
    return auth(request)


@pytest.mark.parametrize("service", ["aoss", "es"])
def test_sigv4_signs_host_and_payload_hash_but_not_hop_by_hop_headers(service: Literal["es", "aoss"]) -> None:
    body = b'{"query":{"match_all":{}}}'
    signed = _signed(service, body)
    authorization = str(signed.headers["Authorization"])
    signed_headers = authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
    assert signed_headers == ["host", "x-amz-content-sha256", "x-amz-date", "x-amz-security-token"]
    assert f"/us-east-1/{service}/aws4_request" in authorization
    assert signed.headers["X-Amz-Content-SHA256"] == hashlib.sha256(body).hexdigest()
    assert signed.headers["Connection"] == "keep-alive"


def test_sigv4_hashes_an_empty_body() -> None:
    signed = _signed("aoss", None)
    assert signed.headers["X-Amz-Content-SHA256"] == hashlib.sha256(b"").hexdigest()


def test_client_uses_requests_connection_on_443_with_the_signer() -> None:
    client = make_opensearch_client(
        "https://search-x.us-east-1.es.amazonaws.com/", "us-east-1", "es", credentials=Credentials("a", "b")
    )
    connection = client.transport.connection_pool.connections[0]
    assert isinstance(connection, RequestsHttpConnection)
    assert connection.host == "https://search-x.us-east-1.es.amazonaws.com:443"


def test_client_rejects_an_unknown_service() -> None:
    with pytest.raises(InvalidInput, match="'es'"):
        make_opensearch_client("h", "us-east-1", "opensearch", credentials=Credentials("a", "b"))  # type: ignore[arg-type]


def test_compound_fields_join_the_parts_of_a_mixed_mode_compound_not_the_compound_itself() -> None:
    # The shingle filter is not graph-aware: with decompound "mixed" (what wiring configures) the compound
    # fields get their own nori tokenizer in "discard" mode, the path KoreanAnalyzer.joined joins.
    from cataloop.adapters.korean_analyzer import KoreanAnalysisConfig

    mixed = nori_index_settings(["야쿠르트"], [], config=KoreanAnalysisConfig(decompound_mode="mixed"))
    analysis = index_mapping(384, mixed)["settings"]["analysis"]
    joined = analysis["analyzer"]["korean_joined"]
    assert joined["tokenizer"] == "korean_joined_tokenizer"
    assert analysis["analyzer"]["korean_joined_search"]["tokenizer"] == "korean_joined_tokenizer"
    index_tokenizer = analysis["tokenizer"][analysis["analyzer"]["korean_index"]["tokenizer"]]
    assert index_tokenizer["decompound_mode"] == "mixed"
    assert analysis["tokenizer"]["korean_joined_tokenizer"] == {
        **index_tokenizer,
        "decompound_mode": "discard",
    }
    # The default ("discard") needs no second tokenizer.
    assert index_mapping(384, ANALYSIS)["settings"]["analysis"]["analyzer"]["korean_joined"]["tokenizer"] != (
        "korean_joined_tokenizer"
    )
