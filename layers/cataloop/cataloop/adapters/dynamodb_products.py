"""Products table: conditional writes so no update is lost and no event writes twice.

One item per product, keyed by `product_id`, holding the current `StoredProduct` (see the `ProductStore` port
in `cataloop.ports`). Stream images of this table decode with `product_from_image`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError
from pydantic import ValidationError

from cataloop.adapters.dynamodb_codec import from_item, plain, to_item
from cataloop.domain.catalog.listing import ProductListing
from cataloop.domain.catalog.stored import StoredProduct
from cataloop.errors import CataloopError, Conflict, InvalidInput

BATCH_GET_KEYS = 100  # DynamoDB's BatchGetItem limit
BATCH_GET_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 0.05
BACKOFF_CAP_SECONDS = 2.0
SCAN_PAGE_SIZE = 500


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"]) or "item"
    return f"{location}: {first['msg']}"


def product_from_image(image: Mapping[str, Any]) -> StoredProduct:
    """A Products item as plain Python values (a stream image after deserialisation, or a scanned item) ->
    the `StoredProduct` it holds. Raises `InvalidInput` naming the product id when it does not validate."""
    try:
        return StoredProduct.model_validate(plain(dict(image)))
    except ValidationError as error:
        raise InvalidInput(
            f"product {image.get('product_id', '?')}: stored item is not a valid product ({_first_error(error)})"
        ) from None


def listing_from_image(image: Mapping[str, Any]) -> ProductListing:
    """The listing of a Products item (plain values); `InvalidInput` naming the product id when invalid."""
    try:
        return ProductListing.model_validate(plain(image["listing"]))
    except (ValidationError, KeyError) as error:
        reason = _first_error(error) if isinstance(error, ValidationError) else "no listing"
        raise InvalidInput(
            f"product {image.get('product_id', '?')}: stored listing is not valid ({reason})"
        ) from None


def full_jitter(attempt: int, base: float = BACKOFF_BASE_SECONDS, cap: float = BACKOFF_CAP_SECONDS) -> float:
    """Seconds to wait before retry `attempt` (1, 2, ...): exponential backoff with full jitter."""
    return random.uniform(0, min(cap, base * 2**attempt))


class DynamoProductStore:
    """The `ProductStore` port on the Products table (low-level client).

    `sleep` and `backoff` are injectable so tests can prove the retries without waiting; `scan_page_size`
    is the Scan `Limit` (items per page yielded by `scan`)."""

    def __init__(
        self,
        client: Any,
        table_name: str,
        *,
        scan_page_size: int = SCAN_PAGE_SIZE,
        max_attempts: int = BATCH_GET_ATTEMPTS,
        backoff: Callable[[int], float] = full_jitter,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._client = client
        self._table = table_name
        self._page_size = scan_page_size
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._sleep = sleep

    @property
    def table(self) -> str:
        return self._table

    def get(self, product_id: str) -> StoredProduct | None:
        item = self._client.get_item(
            TableName=self._table, Key={"product_id": {"S": product_id}}, ConsistentRead=True
        ).get("Item")
        return None if item is None else StoredProduct.model_validate(from_item(item))

    def create_pending(self, listing: ProductListing, event_id: str, now: str) -> tuple[StoredProduct, bool]:
        """Store a new product as PENDING, version 1. Returns (product, created). A redelivery of the same
        event finds its own item and is not an error; another event for an existing product is a Conflict."""
        product = StoredProduct.pending(listing, event_id, now)
        try:
            self._client.put_item(
                TableName=self._table,
                Item=to_item(product.model_dump(mode="json")),
                ConditionExpression="attribute_not_exists(product_id)",
            )
            return product, True
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
        existing = self.get(listing.product_id)
        if existing is not None and existing.source_event_id == event_id:
            return existing, False
        raise already_exists(listing.product_id, existing)

    def put_version(self, product: StoredProduct) -> StoredProduct:
        """Write `product` as version N+1 of the stored version N; Conflict if someone wrote in between."""
        new = product.model_copy(update={"version": product.version + 1})
        try:
            self._client.put_item(
                TableName=self._table,
                Item=to_item(new.model_dump(mode="json")),
                ConditionExpression="#v = :expected",
                ExpressionAttributeNames={"#v": "version"},
                ExpressionAttributeValues={":expected": {"N": str(product.version)}},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise changed_since(product) from error
            raise
        return new

    # ------------------------------------------------------------------------------------- batch reads

    def listings(self, product_ids: Sequence[str]) -> list[ProductListing]:
        """The listings of these products, in the order asked, each id once; unknown ids are left out.
        BatchGetItem in chunks of 100; unprocessed keys are retried with exponential backoff and jitter,
        and after `max_attempts` calls for one chunk a `CataloopError` says how many keys were left."""
        unique = [product_id for product_id in dict.fromkeys(product_ids) if product_id]
        found: dict[str, ProductListing] = {}
        for start in range(0, len(unique), BATCH_GET_KEYS):
            chunk = unique[start : start + BATCH_GET_KEYS]
            for item in self._batch_get(chunk):
                data = from_item(item)
                found[str(data.get("product_id"))] = listing_from_image(data)
        return [found[product_id] for product_id in unique if product_id in found]

    def _batch_get(self, product_ids: list[str]) -> Iterator[dict[str, Any]]:
        request: dict[str, Any] = {
            self._table: {
                "Keys": [{"product_id": {"S": product_id}} for product_id in product_ids],
                "ProjectionExpression": "#id, #listing",
                "ExpressionAttributeNames": {"#id": "product_id", "#listing": "listing"},
                "ConsistentRead": True,
            }
        }
        for attempt in range(1, self._max_attempts + 1):
            response = self._client.batch_get_item(RequestItems=request)
            yield from response.get("Responses", {}).get(self._table, [])
            unprocessed = response.get("UnprocessedKeys") or {}
            if not unprocessed.get(self._table, {}).get("Keys"):
                return
            request = unprocessed
            if attempt < self._max_attempts:
                self._sleep(self._backoff(attempt))
        left = len(request[self._table]["Keys"])
        raise CataloopError(
            f"DynamoDB left {left} of {len(product_ids)} keys of {self._table} unprocessed after "
            f"{self._max_attempts} BatchGetItem attempts (throttled?); retry later"
        )

    # ------------------------------------------------------------------------------------------- scans

    def scan(self) -> Iterator[list[StoredProduct]]:
        """Every stored product, one page (up to `scan_page_size` items) per yield, following
        LastEvaluatedKey with consistent reads. An item that does not validate raises `InvalidInput`
        naming its product id."""
        start: dict[str, Any] | None = None
        while True:
            page = self._client.scan(
                TableName=self._table,
                Limit=self._page_size,
                ConsistentRead=True,
                **({"ExclusiveStartKey": start} if start else {}),
            )
            products = [product_from_image(from_item(item)) for item in page.get("Items", [])]
            if products:
                yield products
            start = page.get("LastEvaluatedKey")
            if not start:
                return

    def approximate_count(self) -> int:
        """DescribeTable's ItemCount: refreshed about every six hours in AWS, so for progress bars only."""
        return int(self._client.describe_table(TableName=self._table)["Table"].get("ItemCount", 0))


# Messages shared with the in-memory fake, so both adapters say the same thing.


def already_exists(product_id: str, existing: StoredProduct | None) -> Conflict:
    version = existing.version if existing else "?"
    return Conflict(
        f"product {product_id} already exists (version {version}) from another event; "
        "send a ListingUpdated event to change an existing product"
    )


def changed_since(product: StoredProduct) -> Conflict:
    return Conflict(f"product {product.product_id} changed since version {product.version} was read")
