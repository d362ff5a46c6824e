"""Reindex on the local cloud: Korean catalog products enter through ProductCreated, are enriched and
indexed by the stream; `reindex` rebuilds them into a new generation while the old one keeps serving,
catches up a change made during the build, and swaps the alias. Learnings reach their own index through
the Knowledge stream and are found by meaning."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from cataloop import wiring
from cataloop.adapters.dynamodb_codec import to_item
from cataloop.adapters.dynamodb_knowledge import DynamoKnowledgeStore
from cataloop.adapters.dynamodb_products import DynamoProductStore
from cataloop.domain.knowledge.learning import ValueLexicon
from cataloop.domain.knowledge.tree import Learning, LearningStatus, path_key
from cataloop.domain.search.plan import build_search_plan
from cataloop.services.reindex import reindex_learnings, reindex_products
from cataloop.settings import Settings, settings
from cataloop_eval.korean_catalog import korean_listings
from cataloop_local.emulator.cloud import LocalCloud

pytestmark = pytest.mark.integration

AT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _config(cloud: LocalCloud) -> Settings:
    tables = cloud.table_names()
    return settings().model_copy(
        update={"products_table": tables["ProductsTable"], "knowledge_table": tables["KnowledgeTable"]}
    )


def _put_products(cloud: LocalCloud, listings: list[dict[str, Any]]) -> None:
    entries = [
        {
            "Source": "cataloop.catalog",
            "DetailType": "ProductCreated",
            "Detail": json.dumps({"product": listing}),
        }
        for listing in listings
    ]
    for start in range(0, len(entries), 10):
        assert cloud.put_events(entries[start : start + 10])["FailedEntryCount"] == 0
    cloud.pump_streams()


def _ids(config: Settings, query: str) -> list[str]:
    return [hit.id for hit in wiring.search_index(config).search(build_search_plan(query, size=50)).hits]


def test_reindex_builds_a_new_generation_while_the_old_one_serves_then_swaps(cloud: LocalCloud) -> None:
    listings = korean_listings(limit=8)  # two bundles with their components, then singles
    _put_products(cloud, listings)
    config = _config(cloud)
    index = wiring.search_index(config)
    before = _ids(config, "야쿠르트")
    assert "km-0395" in before  # the bundle, enriched and indexed through the stream
    client = boto3.client("dynamodb", region_name=config.region)
    store = DynamoProductStore(client, config.products_table, scan_page_size=3)  # several pages
    seen_during_build: list[list[str]] = []

    def during_build(pages: int) -> None:
        # Readers still get the old generation; a seller edit lands mid-build (the stream is not pumped).
        seen_during_build.append(_ids(config, "야쿠르트"))
        if len(seen_during_build) == 1:
            item = client.get_item(TableName=config.products_table, Key={"product_id": {"S": "km-0002"}})[
                "Item"
            ]
            item["listing"]["M"]["title"]["S"] = "야쿠르트 오리지널 대용량 스페셜 에디션"
            item["version"] = {"N": str(int(item["version"]["N"]) + 1)}
            client.put_item(TableName=config.products_table, Item=item)

    report = reindex_products(index, store, on_progress=during_build)

    assert report.previous_indices == ["products-v0001"] and report.new_index == "products-v0002"
    assert (report.scanned, report.indexed) == (len(listings), len(listings))
    assert len(seen_during_build) == 3  # pages of 3 items
    assert all(ids == before for ids in seen_during_build)
    assert index.alias_targets() == ["products-v0002"]
    assert index.existing_indices() == ["products-v0001", "products-v0002"]  # kept for a rollback
    assert report.caught_up == 1  # the mid-build edit, re-applied after the swap
    # The edited product leads (a bundle naming it may follow, via its child names).
    assert _ids(config, "스페셜 에디션")[0] == "km-0002"
    bundle = wiring.search_index(config).search(build_search_plan("야쿠르트 오리지널 라이트 세트")).hits
    source = next(hit.source for hit in bundle if hit.id == "km-0395")
    assert len(source["child_names"]) == 2  # bundle children resolved during the rebuild

    # The stream still delivers the edit afterwards: same version, now stale in the new generation.
    cloud.pump_streams()
    runs = [run for run in cloud.functions.invocations if run.function == "IndexerFunction"]
    assert runs[-1].ok and _ids(config, "스페셜 에디션")[0] == "km-0002"


def _learning_item(learning: Learning) -> dict[str, Any]:
    data = learning.model_dump(mode="json")
    key = {
        "pk": f"NODE#{path_key(learning.scope_path)}",
        "sk": f"LEARNING#{learning.id}",
        "entity": "learning",
    }
    return to_item({**key, **data})


def test_learnings_reach_their_index_through_the_knowledge_stream_and_are_found_by_meaning(
    cloud: LocalCloud,
) -> None:
    config = _config(cloud)
    client = boto3.client("dynamodb", region_name=config.region)

    def learning(learning_id: str, text: str, values: list[str], scope: list[str]) -> Learning:
        return Learning(
            id=learning_id, version=1, text=text, scope_path=scope, attributes=["flavor"],
            directive=ValueLexicon(attribute="flavor", values=values), status=LearningStatus.ACTIVE,
            valid_from=AT, created_at=AT, updated_at=AT,
        )  # fmt: skip

    strawberry = learning(
        "l-berry", "'딸기' in a 발효유 title is the flavor, not an ingredient list", ["딸기"], ["발효유"]
    )
    charger = learning(
        "l-usb",
        "'USB-C' in a cable title is the connector, recorded as flavor by mistake",
        ["USB-C"],
        ["전자"],
    )
    node = to_item({"pk": "NODE#/", "sk": "#NODE", "entity": "node", "path": []})
    for item in (node, _learning_item(strawberry), _learning_item(charger)):
        client.put_item(TableName=config.knowledge_table, Item=item)
    cloud.pump_streams()

    search = wiring.knowledge_search(config)
    found = search.similar_learnings("딸기맛 요구르트의 맛 속성", ["발효유", "요구르트"], reach="applies")
    assert [item.id for item in found] == ["l-berry"]  # the USB-C learning lies in another scope
    anywhere = search.similar_learnings("딸기맛 요구르트의 맛 속성", None, limit=2)
    assert [item.id for item in anywhere] == ["l-berry", "l-usb"]  # by meaning, with real e5 vectors

    store = DynamoKnowledgeStore(client, config.knowledge_table)
    report = reindex_learnings(wiring.learning_index(config), store)
    assert (report.new_index, report.indexed) == ("learnings-v0002", 2)  # the node item is not a learning
    assert [item.id for item in search.similar_learnings("딸기 맛", ["발효유"])] == ["l-berry"]
