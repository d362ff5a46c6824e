"""The stream adapter: Lambda DynamoDB stream events -> `ProductChanged` / `LearningChanged`, on a captured
event (events/indexer.json), on records moto's streams produce for real writes, and on poison records."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from cataloop.adapters.dynamodb_codec import to_item
from cataloop.adapters.dynamodb_products import DynamoProductStore
from cataloop.adapters.dynamodb_streams import StreamChanges, decode_stream_event, source_table
from cataloop.domain.catalog.listing import ProductListing
from cataloop.domain.knowledge.learning import ValueLexicon
from cataloop.domain.knowledge.tree import Learning, LearningStatus, path_key
from cataloop.errors import InvalidInput
from cataloop_local.emulator.streams import to_lambda_record

ROOT = Path(__file__).resolve().parents[2]
PRODUCTS = "cataloop-dev-products"
KNOWLEDGE = "cataloop-dev-knowledge"
AT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _decode(records: list[dict[str, Any]]) -> StreamChanges:
    return decode_stream_event({"Records": records}, products_table=PRODUCTS, knowledge_table=KNOWLEDGE)


def _captured() -> list[dict[str, Any]]:
    return json.loads((ROOT / "events" / "indexer.json").read_text("utf-8"))["Records"]


def _learning(learning_id: str = "l-berry", version: int = 1) -> Learning:
    return Learning(
        id=learning_id, version=version, text="'딸기' in a 발효유 title is the flavor", scope_path=["발효유"],
        attributes=["flavor"], directive=ValueLexicon(attribute="flavor", values=["딸기"]),
        status=LearningStatus.ACTIVE, valid_from=AT, created_at=AT, updated_at=AT,
    )  # fmt: skip


def _learning_item(learning: Learning) -> dict[str, Any]:
    keys = {
        "pk": f"NODE#{path_key(learning.scope_path)}",
        "sk": f"LEARNING#{learning.id}",
        "entity": "learning",
    }
    return to_item({**keys, **learning.model_dump(mode="json")})


# --- a captured event ---------------------------------------------------------------------------------------


def test_a_captured_products_event_becomes_product_changes_in_stream_order() -> None:
    changes = _decode(_captured())
    assert (changes.learnings, changes.ignored) == ([], 0)
    inserted, modified = changes.products
    assert (inserted.product_id, inserted.version, inserted.sequence_number) == (
        "oa-coffee-0001",
        1,
        "1100000000017454423009",
    )
    assert inserted.product is not None and inserted.product.status == "PENDING" and not inserted.deleted
    assert modified.product is not None and modified.version == 2 and modified.problem is None
    assert modified.product.enrichment["attributes"]["Net content"]["confidence"] == 0.7  # Decimal -> float
    assert modified.product.listing.title.startswith("Death Wish Coffee")


def test_a_remove_carries_the_old_version_plus_one_and_no_product() -> None:
    record = copy.deepcopy(_captured()[1])
    record["eventName"] = "REMOVE"
    del record["dynamodb"]["NewImage"]
    (change,) = _decode([record]).products
    assert (change.product_id, change.version, change.deleted, change.product) == (
        "oa-coffee-0001",
        2,
        True,
        None,
    )


def test_a_poison_product_record_becomes_a_change_with_a_problem_in_its_place() -> None:
    good, poison = copy.deepcopy(_captured())
    del poison["dynamodb"]["NewImage"]["listing"]["M"]["title"]
    changes = _decode([poison, good])
    first, second = changes.products
    assert (first.product_id, first.sequence_number, first.product) == (
        "oa-coffee-0001",
        "1100000000017454423010",
        None,
    )
    assert first.problem is not None and "title" in first.problem and "oa-coffee-0001" in first.problem
    assert second.problem is None and second.product is not None


def test_records_are_routed_by_the_table_in_their_arn() -> None:
    arn = _captured()[0]["eventSourceARN"]
    assert source_table(arn) == PRODUCTS
    with pytest.raises(InvalidInput, match="not a DynamoDB stream ARN"):
        source_table("arn:aws:sqs:us-east-1:123456789012:queue")
    elsewhere = copy.deepcopy(_captured()[0])
    elsewhere["eventSourceARN"] = arn.replace(PRODUCTS, "someone-elses-table")
    with pytest.raises(InvalidInput, match="PRODUCTS_TABLE / KNOWLEDGE_TABLE"):
        _decode([elsewhere])


# --- records moto's streams produce -------------------------------------------------------------------------


@pytest.fixture
def tables(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv(
        "AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled"
    )  # streams calls reach moto (ARCHITECTURE §4)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        stream = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
        client.create_table(
            TableName=PRODUCTS,
            AttributeDefinitions=[{"AttributeName": "product_id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "product_id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification=stream,
        )
        client.create_table(
            TableName=KNOWLEDGE,
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification=stream,
        )
        yield client


def _lambda_records(client: Any, table: str) -> list[dict[str, Any]]:
    streams = boto3.client("dynamodbstreams", region_name="us-east-1")
    arn = client.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=100)["Records"]
    return [to_lambda_record(record, arn) for record in records]


def test_product_writes_and_a_delete_arrive_as_changes_with_their_versions(tables: Any) -> None:
    store = DynamoProductStore(tables, PRODUCTS)
    listing = ProductListing(
        product_id="km-1", title="야쿠르트 라이트 65ml", category_path=["발효유"], price=3000
    )
    created, _ = store.create_pending(listing, "e-1", "2026-11-01T12:00:00Z")
    updated = store.put_version(
        created.model_copy(update={"enrichment": {"search_title": "야쿠르트 라이트"}})
    )
    tables.delete_item(TableName=PRODUCTS, Key={"product_id": {"S": "km-1"}})

    changes = _decode(_lambda_records(tables, PRODUCTS))
    assert [(c.version, c.deleted) for c in changes.products] == [(1, False), (2, False), (3, True)]
    assert changes.products[0].product == created and changes.products[1].product == updated
    sequences = [int(change.sequence_number) for change in changes.products]
    assert sequences == sorted(sequences)


def test_knowledge_records_of_learnings_become_changes_and_other_items_are_ignored(tables: Any) -> None:
    learning = _learning()
    for item in (
        to_item({"pk": "NODE#/", "sk": "#NODE", "entity": "node", "path": [], "version": 1}),
        _learning_item(learning),
        to_item({"pk": "LEARNING#l-berry", "sk": "#LOCATOR", "node_pk": "NODE#/발효유", "version": 1}),
        _learning_item(learning.model_copy(update={"version": 2, "votes": 1})),
    ):
        tables.put_item(TableName=KNOWLEDGE, Item=item)
    tables.delete_item(
        TableName=KNOWLEDGE,
        Key={"pk": {"S": f"NODE#{path_key(['발효유'])}"}, "sk": {"S": "LEARNING#l-berry"}},
    )
    poison = _learning_item(_learning("l-bad"))
    poison["text"] = {"S": "vague"}
    tables.put_item(TableName=KNOWLEDGE, Item=poison)

    changes = _decode(_lambda_records(tables, KNOWLEDGE))
    assert (changes.products, changes.ignored) == ([], 2)  # the node and the locator
    first, second, removed, bad = changes.learnings
    assert first.learning == learning and second.learning is not None and second.learning.votes == 1
    assert (removed.learning_id, removed.version, removed.deleted) == ("l-berry", 3, True)
    assert (bad.learning_id, bad.learning) == ("l-bad", None)
    assert bad.problem is not None and bad.problem.startswith("InvalidInput: learning l-bad")
