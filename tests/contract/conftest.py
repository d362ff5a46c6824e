"""Fixtures of the contract suites: every store port as its in-memory fake and as its DynamoDB adapter on
moto, the tables created from template.yaml's own definitions."""

from __future__ import annotations

import copy
import functools
import itertools
import threading
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from cataloop.adapters.dynamodb_knowledge import DynamoKnowledgeStore
from cataloop.adapters.dynamodb_products import DynamoProductStore
from cataloop.adapters.memory import InMemoryKnowledgeStore, InMemoryProductStore
from cataloop_local.emulator import moto_patches
from cataloop_local.emulator.cfn import load_template
from tests.conftest import TEMPLATE

PAGE_SIZE = 4  # small, so a handful of items already spans several scan pages
KINDS = ["memory", "dynamodb"]


class SerialisedClient:
    """DynamoDB evaluates a conditional write atomically on the server; moto checks and writes in two Python
    steps, so two threads could both pass a condition. Serialising each API call restores the server's
    per-request atomicity while the read-decide-write races between calls stay real."""

    def __init__(self, client: Any):
        self._client = client
        self._lock = threading.Lock()
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.calls.append((name, kwargs))
                return method(*args, **kwargs)

        return call


@functools.cache
def _table_properties(logical_id: str) -> dict[str, Any]:
    return dict(load_template(TEMPLATE)["Resources"][logical_id]["Properties"])


_table_numbers = itertools.count()


def unique_table(prefix: str) -> str:
    """A table name no other test of the session uses (the moto backend lives for a whole module)."""
    return f"{prefix}-{next(_table_numbers)}"


def create_table_from_template(client: Any, logical_id: str, name: str) -> None:
    """Create table `name` with the key schema, billing mode, secondary indexes and stream of `logical_id`
    in template.yaml."""
    properties = copy.deepcopy(_table_properties(logical_id))
    stream = properties.get("StreamSpecification")
    indexes = properties.get("GlobalSecondaryIndexes")
    client.create_table(
        TableName=name,
        BillingMode=properties["BillingMode"],
        AttributeDefinitions=properties["AttributeDefinitions"],
        KeySchema=properties["KeySchema"],
        **({"GlobalSecondaryIndexes": indexes} if indexes else {}),
        **(
            {"StreamSpecification": {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}}
            if stream
            else {}
        ),
    )


@pytest.fixture(scope="module")
def dynamodb() -> Iterator[SerialisedClient]:
    """A moto DynamoDB client (serialised per call), one per test module: starting moto and a client costs
    more than most tests, so every test gets fresh tables (`unique_table`) on a shared backend instead."""
    # Transactions back up only the items they touch (as the local cloud runs them; checked against
    # moto's own rollback in tests/unit/test_moto_quirks.py), not every table with its stream records.
    moto_patches.light_transaction_backups()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        with mock_aws():
            yield SerialisedClient(boto3.client("dynamodb", region_name="us-east-1"))


ProductStoreFactory = Callable[[], Any]
KnowledgeStoreFactory = Callable[[], Any]


def _dropping_tables(client: SerialisedClient, names: list[str]) -> None:
    """Delete a test's tables: moto backs up every table of the backend for each transaction, so tables
    left behind would make later tests slower and slower."""
    for name in names:
        client._client.delete_table(TableName=name)


@pytest.fixture(params=KINDS)
def new_product_store(request: pytest.FixtureRequest) -> Iterator[ProductStoreFactory]:
    """Makes empty product stores of one kind (each DynamoDB store on its own table)."""
    if request.param == "memory":
        yield lambda: InMemoryProductStore(page_size=PAGE_SIZE)
        return
    client = request.getfixturevalue("dynamodb")
    names: list[str] = []

    def make() -> DynamoProductStore:
        names.append(unique_table("cataloop-test-products"))
        create_table_from_template(client._client, "ProductsTable", names[-1])
        return DynamoProductStore(client, names[-1], scan_page_size=PAGE_SIZE, sleep=lambda seconds: None)

    yield make
    _dropping_tables(client, names)


@pytest.fixture
def product_store(new_product_store: ProductStoreFactory) -> Any:
    return new_product_store()


@pytest.fixture(params=KINDS)
def new_knowledge_store(request: pytest.FixtureRequest) -> Iterator[KnowledgeStoreFactory]:
    """Makes empty knowledge stores of one kind (each DynamoDB store on its own table)."""
    if request.param == "memory":
        yield lambda: InMemoryKnowledgeStore(page_size=PAGE_SIZE)
        return
    client = request.getfixturevalue("dynamodb")
    names: list[str] = []

    def make() -> DynamoKnowledgeStore:
        names.append(unique_table("cataloop-test-knowledge"))
        create_table_from_template(client._client, "KnowledgeTable", names[-1])
        return DynamoKnowledgeStore(client, names[-1], scan_page_size=PAGE_SIZE)

    yield make
    _dropping_tables(client, names)


@pytest.fixture
def knowledge_store(new_knowledge_store: KnowledgeStoreFactory) -> Any:
    return new_knowledge_store()
