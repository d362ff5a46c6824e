"""The `ProductStore` contract (cataloop.ports), asserted the same way on the in-memory fake and on the
DynamoDB adapter (moto, the table as template.yaml defines it). The end of the module tests what only the
DynamoDB adapter does: BatchGetItem retries of `UnprocessedKeys` (with botocore's Stubber), chunking by
100, the stream-image decoder and unreadable items."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from cataloop.adapters import dynamodb_products
from cataloop.adapters.dynamodb_codec import to_item
from cataloop.adapters.dynamodb_products import DynamoProductStore, product_from_image
from cataloop.adapters.memory import InMemoryProductStore
from cataloop.domain.catalog.listing import ProductListing
from cataloop.domain.catalog.stored import ProductStatus, StoredProduct
from cataloop.errors import CataloopError, Conflict, InvalidInput
from tests.contract.conftest import PAGE_SIZE, ProductStoreFactory, create_table_from_template, unique_table

NOW = "2026-11-01T12:00:00.000+00:00"
LATER = "2026-11-01T12:05:00.000+00:00"


def listing(product_id: str, **changes: Any) -> ProductListing:
    data: dict[str, Any] = {
        "product_id": product_id,
        "title": f"Product {product_id}",
        "category_path": ["Food", "Coffee"],
        "price": Decimal("12.50"),
        "currency": "USD",
        **changes,
    }
    return ProductListing.model_validate(data)


def create(store: Any, *product_ids: str) -> list[StoredProduct]:
    return [store.create_pending(listing(pid), f"evt-{pid}", NOW)[0] for pid in product_ids]


def enriched(product: StoredProduct, title: str) -> StoredProduct:
    return product.model_copy(
        update={
            "status": ProductStatus.ENRICHED,
            "updated_at": LATER,
            "enrichment": {"search_title": title, "confidence": 0.75, "whole": 1.0},
        }
    )


# ------------------------------------------------------------------------------ take-over and redrive

OLD = "2026-11-01T11:00:00.000+00:00"


def test_a_stranded_product_is_taken_over_as_the_next_version(product_store: Any) -> None:
    (product,) = create(product_store, "p-stranded")
    taken = product_store.take_over_pending(listing("p-stranded", title="Re-sent"), "evt-2", LATER, NOW + "1")

    assert taken.version == 2 and taken.source_event_id == "evt-2" and taken.status == ProductStatus.PENDING
    assert taken.listing.title == "Re-sent" and taken.updated_at == LATER
    assert product_store.get("p-stranded") == taken
    # The old owner's version write now conflicts: it finds a newer version.
    with pytest.raises(Conflict):
        product_store.put_version(product)


def test_a_product_within_the_grace_period_is_not_taken_over(product_store: Any) -> None:
    create(product_store, "p-busy")
    with pytest.raises(Conflict, match="still being enriched"):
        product_store.take_over_pending(listing("p-busy"), "evt-2", LATER, OLD)
    assert product_store.get("p-busy").version == 1


def test_an_enriched_or_own_or_unknown_product_is_not_taken_over(product_store: Any) -> None:
    (product,) = create(product_store, "p-done")
    product_store.put_version(enriched(product, "done"))
    with pytest.raises(Conflict, match="already exists"):
        product_store.take_over_pending(listing("p-done"), "evt-2", LATER, "9999")
    create(product_store, "p-own")
    with pytest.raises(Conflict):
        product_store.take_over_pending(listing("p-own"), "evt-p-own", LATER, "9999")
    with pytest.raises(Conflict, match="not stored"):
        product_store.take_over_pending(listing("p-none"), "evt-2", LATER, "9999")
    assert product_store.get("p-done").version == 2 and product_store.get("p-own").version == 1


def test_a_released_product_is_taken_over_at_once_and_redrives_are_counted(product_store: Any) -> None:
    create(product_store, "p-failed")
    assert product_store.release_stranded("p-failed", "evt-p-failed", 2) == 1
    taken = product_store.take_over_pending(listing("p-failed"), "evt-r1", LATER, OLD)  # no grace needed
    assert taken.version == 2
    # Released once: a second take-over within the grace period is refused.
    with pytest.raises(Conflict):
        product_store.take_over_pending(listing("p-failed"), "evt-r2", LATER, OLD)
    assert product_store.release_stranded("p-failed", "evt-r1", 2) == 2
    assert product_store.take_over_pending(listing("p-failed"), "evt-r2", LATER, OLD).version == 3
    assert product_store.release_stranded("p-failed", "evt-r2", 2) is None  # limit reached, nothing written
    with pytest.raises(Conflict):
        product_store.take_over_pending(listing("p-failed"), "evt-r3", LATER, OLD)


def test_release_needs_the_pending_owner(product_store: Any) -> None:
    (product,) = create(product_store, "p-owner")
    with pytest.raises(Conflict, match="no longer PENDING under event evt-other"):
        product_store.release_stranded("p-owner", "evt-other", 2)
    product_store.put_version(enriched(product, "done"))
    with pytest.raises(Conflict):
        product_store.release_stranded("p-owner", "evt-p-owner", 2)
    with pytest.raises(Conflict):
        product_store.release_stranded("p-missing", "evt", 2)


def test_a_version_write_clears_the_redrive_state(product_store: Any) -> None:
    create(product_store, "p-clear")
    product_store.release_stranded("p-clear", "evt-p-clear", 1)
    taken = product_store.take_over_pending(listing("p-clear"), "evt-r1", LATER, OLD)
    product_store.put_version(enriched(taken, "done"))
    assert product_store.get("p-clear").status == ProductStatus.ENRICHED
    written = product_store.get("p-clear")
    again = product_store.put_version(written.model_copy(update={"status": ProductStatus.PENDING}))
    assert product_store.release_stranded("p-clear", again.source_event_id, 1) == 1


# ------------------------------------------------------------------------------------------ get / create


def test_get_returns_none_for_an_unknown_id(product_store: Any) -> None:
    assert product_store.get("nope") is None


def test_create_pending_writes_version_one_once_per_event(product_store: Any) -> None:
    product, created = product_store.create_pending(listing("p1"), "evt-1", NOW)
    assert created and product.version == 1 and product.status is ProductStatus.PENDING
    assert product.source_event_id == "evt-1" and product.created_at == product.updated_at == NOW

    again, created_again = product_store.create_pending(listing("p1"), "evt-1", LATER)  # a redelivery
    assert not created_again and again == product
    assert product_store.get("p1") == product

    with pytest.raises(Conflict, match="already exists"):
        product_store.create_pending(listing("p1", title="Another title"), "evt-2", LATER)
    assert product_store.get("p1") == product


def test_the_same_listing_sent_by_many_threads_is_created_once(product_store: Any) -> None:
    barrier = threading.Barrier(6, timeout=30)
    outcomes: list[bool] = []

    def send() -> None:
        barrier.wait()
        outcomes.append(product_store.create_pending(listing("p1"), "evt-1", NOW)[1])

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == [False] * 5 + [True]


def test_stored_values_come_back_as_dynamodb_gives_them(product_store: Any) -> None:
    (product,) = create(product_store, "p1")
    written = product_store.put_version(enriched(product, "Beans"))
    stored = product_store.get("p1")
    assert stored == written
    assert stored.listing.price == Decimal("12.50") and stored.listing.description == ""
    # DynamoDB has numbers, not floats: a whole float comes back as an int.
    assert stored.enrichment == {"search_title": "Beans", "confidence": 0.75, "whole": 1}
    assert stored.provenance is None


# ----------------------------------------------------------------------------------------- put_version


def test_put_version_writes_the_next_version_over_the_one_read(product_store: Any) -> None:
    (product,) = create(product_store, "p1")
    written = product_store.put_version(enriched(product, "First"))
    assert written.version == 2 and written.status is ProductStatus.ENRICHED
    assert product_store.get("p1") == written
    third = product_store.put_version(enriched(written, "Second"))
    assert third.version == 3 and product_store.get("p1").enrichment["search_title"] == "Second"


def test_a_stale_put_version_conflicts_and_writes_nothing(product_store: Any) -> None:
    (product,) = create(product_store, "p1")
    winner = product_store.put_version(enriched(product, "Winner"))
    with pytest.raises(Conflict, match="changed since version 1"):
        product_store.put_version(enriched(product, "Loser"))  # also read version 1
    assert product_store.get("p1") == winner

    ghost = product.model_copy(update={"product_id": "ghost", "listing": listing("ghost")})
    with pytest.raises(Conflict):
        product_store.put_version(ghost)  # nothing stored to replace
    assert product_store.get("ghost") is None


def test_two_writers_of_the_same_version_one_wins(product_store: Any) -> None:
    (product,) = create(product_store, "p1")
    barrier = threading.Barrier(4, timeout=30)
    results: list[str] = []

    def write(title: str) -> None:
        barrier.wait()
        try:
            product_store.put_version(enriched(product, title))
            results.append(title)
        except Conflict:
            results.append("conflict")

    threads = [threading.Thread(target=write, args=(f"T{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    (winner,) = [result for result in results if result != "conflict"]
    assert results.count("conflict") == 3
    stored = product_store.get("p1")
    assert stored.version == 2 and stored.enrichment["search_title"] == winner


def test_returned_products_are_copies(product_store: Any) -> None:
    (product,) = create(product_store, "p1")
    written = product_store.put_version(enriched(product, "Beans"))
    written.enrichment["search_title"] = "mutated"
    written.listing.category_path.append("mutated")
    read = product_store.get("p1")
    read.enrichment["confidence"] = 0
    assert product_store.get("p1").enrichment == {"search_title": "Beans", "confidence": 0.75, "whole": 1}
    assert product_store.get("p1").listing.category_path == ["Food", "Coffee"]


# -------------------------------------------------------------------------------------------- listings


def test_listings_come_in_the_order_asked_each_once_unknown_left_out(product_store: Any) -> None:
    create(product_store, "a", "b", "c")
    found = product_store.listings(["c", "missing", "a", "c", "b", "a"])
    assert [item.product_id for item in found] == ["c", "a", "b"]
    assert found[0] == listing("c")
    assert product_store.listings([]) == []
    assert product_store.listings(["missing"]) == []


def test_listings_of_more_than_a_hundred_ids(product_store: Any) -> None:
    ids = [f"p{n:03d}" for n in range(110)]
    create(product_store, *ids)
    asked = [*reversed(ids), "missing-1", *ids[:20], "missing-2"]
    found = product_store.listings(asked)
    assert [item.product_id for item in found] == list(reversed(ids))


# ------------------------------------------------------------------------------------------------ scan


def test_scan_yields_every_product_a_page_at_a_time(product_store: Any) -> None:
    assert list(product_store.scan()) == []
    ids = [f"p{n}" for n in range(10)]
    create(product_store, *ids)
    product_store.put_version(enriched(product_store.get("p3"), "Beans"))
    pages = list(product_store.scan())
    assert len(pages) >= 3 and all(0 < len(page) <= PAGE_SIZE for page in pages)
    products = [product for page in pages for product in page]
    assert sorted(product.product_id for product in products) == ids
    assert all(isinstance(product, StoredProduct) for product in products)
    assert {product.product_id: product.version for product in products}["p3"] == 2
    assert isinstance(product_store.approximate_count(), int) and product_store.approximate_count() >= 0


def test_separate_stores_share_nothing(new_product_store: ProductStoreFactory) -> None:
    first, second = new_product_store(), new_product_store()
    create(first, "p1")
    assert second.get("p1") is None and list(second.scan()) == []


# ------------------------------------------------------------------------------- in-memory fake only


def test_the_fake_counts_exactly() -> None:
    store = InMemoryProductStore(page_size=2)
    create(store, "a", "b", "c")
    assert store.approximate_count() == 3
    assert [[p.product_id for p in page] for page in store.scan()] == [["a", "b"], ["c"]]


# ---------------------------------------------------------------------------------- DynamoDB adapter only

TABLE = "products"
PROJECTION = {
    "ProjectionExpression": "#id, #listing",
    "ExpressionAttributeNames": {"#id": "product_id", "#listing": "listing"},
}


def _key(product_id: str) -> dict[str, Any]:
    return {"product_id": {"S": product_id}}


def _projected(product_id: str) -> dict[str, Any]:
    return to_item({"product_id": product_id, "listing": listing(product_id).model_dump(mode="json")})


def _request(*product_ids: str) -> dict[str, Any]:
    return {TABLE: {"Keys": [_key(pid) for pid in product_ids], **PROJECTION, "ConsistentRead": True}}


@pytest.fixture
def stubbed() -> Any:
    client = boto3.client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def test_unprocessed_keys_are_retried_with_jittered_backoff(stubbed: Any) -> None:
    client, stubber = stubbed
    first = {
        "Responses": {TABLE: [_projected("a")]},
        "UnprocessedKeys": _request("b", "c"),  # the shape DynamoDB returns: KeysAndAttributes per table
    }
    stubber.add_response("batch_get_item", first, {"RequestItems": _request("b", "a", "c")})
    second = {"Responses": {TABLE: [_projected("c")]}, "UnprocessedKeys": _request("b")}
    stubber.add_response("batch_get_item", second, {"RequestItems": _request("b", "c")})
    third = {"Responses": {TABLE: [_projected("b")]}, "UnprocessedKeys": {}}
    stubber.add_response("batch_get_item", third, {"RequestItems": _request("b")})
    slept: list[float] = []
    store = DynamoProductStore(client, TABLE, sleep=slept.append)

    found = store.listings(["b", "a", "b", "c"])

    assert [item.product_id for item in found] == ["b", "a", "c"]
    assert len(slept) == 2
    assert 0 <= slept[0] <= dynamodb_products.BACKOFF_BASE_SECONDS * 2
    assert 0 <= slept[1] <= dynamodb_products.BACKOFF_BASE_SECONDS * 4


def test_keys_still_unprocessed_after_the_last_attempt_raise_naming_how_many(stubbed: Any) -> None:
    client, stubber = stubbed
    for _ in range(3):
        stubber.add_response(
            "batch_get_item",
            {"Responses": {TABLE: []}, "UnprocessedKeys": _request("a", "b")},
            {"RequestItems": _request("a", "b")},
        )
    slept: list[float] = []
    store = DynamoProductStore(client, TABLE, max_attempts=3, sleep=slept.append)
    with pytest.raises(CataloopError, match="left 2 of 2 keys of products unprocessed after 3"):
        store.listings(["a", "b"])
    assert len(slept) == 2  # no pause after the last attempt


def test_the_backoff_grows_exponentially_up_to_its_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    bounds: list[float] = []

    def highest(low: float, high: float) -> float:
        bounds.append(high)
        return high

    monkeypatch.setattr(dynamodb_products.random, "uniform", highest)
    delays = [dynamodb_products.full_jitter(attempt) for attempt in range(1, 10)]
    assert bounds == delays == [min(2.0, 0.05 * 2**attempt) for attempt in range(1, 10)]


def test_listings_chunk_batch_get_item_by_a_hundred(dynamodb: Any) -> None:
    table = unique_table("products")
    create_table_from_template(dynamodb._client, "ProductsTable", table)
    store = DynamoProductStore(dynamodb, table)
    ids = [f"p{n:03d}" for n in range(130)]
    for start in range(0, len(ids), 25):
        items = [{"PutRequest": {"Item": _projected(pid)}} for pid in ids[start : start + 25]]
        dynamodb.batch_write_item(RequestItems={table: items})
    dynamodb.calls.clear()
    assert [item.product_id for item in store.listings([*ids, *ids, "missing"])] == ids
    sizes = [
        len(kwargs["RequestItems"][table]["Keys"])
        for name, kwargs in dynamodb.calls
        if name == "batch_get_item"
    ]
    assert sizes == [100, 31]


def test_scan_names_the_product_whose_item_does_not_validate(dynamodb: Any) -> None:
    table = unique_table("products")
    create_table_from_template(dynamodb._client, "ProductsTable", table)
    store = DynamoProductStore(dynamodb, table)
    create(store, "good")
    dynamodb.put_item(
        TableName=table, Item=to_item({"product_id": "broken", "version": 0, "status": "PENDING"})
    )
    with pytest.raises(InvalidInput, match="product broken"):
        [product for page in store.scan() for product in page]


def test_product_from_image_decodes_a_stream_image() -> None:
    product = StoredProduct(
        product_id="p1",
        version=3,
        status=ProductStatus.ENRICHED,
        listing=listing("p1"),
        source_event_id="evt-1",
        created_at=NOW,
        updated_at=LATER,
        enrichment={"confidence": 0.5},
    )
    image = product.model_dump(mode="json")
    assert product_from_image(image) == product
    assert product_from_image({**image, "enrichment": {"confidence": Decimal("0.5")}}) == product
    with pytest.raises(InvalidInput, match="product p1"):
        product_from_image({**image, "version": 0})


# ---------------------------------------------------------------------- throttling and 5xx -> retryable


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ProvisionedThroughputExceededException", 400),
        ("ThrottlingException", 400),
        ("RequestLimitExceeded", 400),
        ("InternalServerError", 500),
        ("ServiceUnavailable", 503),
    ],
)
def test_throttling_and_server_errors_are_retryable(stubbed: Any, code: str, status: int) -> None:
    from cataloop.errors import RetryableStoreError

    client, stub = stubbed
    store = DynamoProductStore(client, TABLE)
    stub.add_client_error(
        "get_item", service_error_code=code, service_message="slow down", http_status_code=status
    )
    stub.add_client_error(
        "put_item", service_error_code=code, service_message="slow down", http_status_code=status
    )
    with pytest.raises(RetryableStoreError, match=code):
        store.get("p-1")
    with pytest.raises(RetryableStoreError):
        store.create_pending(listing("p-1"), "evt", NOW)


def test_a_failed_condition_stays_a_conflict_and_a_validation_error_is_not_retried(stubbed: Any) -> None:
    from botocore.exceptions import ClientError

    from cataloop.errors import RetryableStoreError

    client, stub = stubbed
    store = DynamoProductStore(client, TABLE)
    stub.add_client_error(
        "put_item", service_error_code="ConditionalCheckFailedException", http_status_code=400
    )
    stub.add_client_error("get_item", service_error_code="ValidationException", http_status_code=400)
    product = StoredProduct.pending(listing("p-1"), "evt", NOW)
    with pytest.raises(Conflict):
        store.put_version(product)
    with pytest.raises(ClientError) as error:
        store.get("p-1")
    assert not isinstance(error.value, RetryableStoreError)


def test_a_transaction_cancelled_by_throttling_is_retryable() -> None:
    from botocore.exceptions import ClientError

    from cataloop.adapters.dynamodb_errors import retryable_store_error

    throttled = ClientError(
        {
            "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
            "CancellationReasons": [{"Code": "None"}, {"Code": "ThrottlingError"}],
            "ResponseMetadata": {"HTTPStatusCode": 400},
        },
        "TransactWriteItems",
    )
    conflicted = ClientError(
        {
            "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
            "CancellationReasons": [{"Code": "ConditionalCheckFailed"}],
            "ResponseMetadata": {"HTTPStatusCode": 400},
        },
        "TransactWriteItems",
    )
    assert retryable_store_error(throttled) is not None
    assert retryable_store_error(conflicted) is None


def test_the_review_queue_holds_exactly_the_products_awaiting_review(product_store: Any) -> None:
    """Only NEEDS_REVIEW products, by id, a page at a time; a version write that leaves review takes the
    product out of it and one that enters puts it in."""
    assert list(product_store.waiting_for_review()) == []
    ids = [f"r{n}" for n in range(8)]
    create(product_store, *ids)
    for pid in ids[:5]:
        product = product_store.get(pid)
        product_store.put_version(product.model_copy(update={"status": ProductStatus.NEEDS_REVIEW}))
    product_store.put_version(enriched(product_store.get("r6"), "Beans"))
    pages = list(product_store.waiting_for_review())
    assert all(0 < len(page) <= PAGE_SIZE for page in pages)
    assert [product.product_id for page in pages for product in page] == ids[:5]
    assert all(product.status == ProductStatus.NEEDS_REVIEW for page in pages for product in page)
    product_store.put_version(enriched(product_store.get("r2"), "Tea"))
    waiting = [product.product_id for page in product_store.waiting_for_review() for product in page]
    assert waiting == ["r0", "r1", "r3", "r4"]
