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
from cataloop.adapters.dynamodb_errors import RetryableErrors
from cataloop.domain.catalog.listing import ProductListing
from cataloop.domain.catalog.stored import ProductStatus, StoredProduct
from cataloop.errors import CataloopError, Conflict, InvalidInput

BATCH_GET_KEYS = 100  # DynamoDB's BatchGetItem limit
BATCH_GET_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 0.05
BACKOFF_CAP_SECONDS = 2.0
SCAN_PAGE_SIZE = 500
# Sparse GSI of the products awaiting review: only a NEEDS_REVIEW item carries REVIEW_QUEUE (every version
# write sets or drops it with the status), so listing the queue reads the queue, not the catalog.
REVIEW_INDEX = "NeedsReview"
REVIEW_QUEUE = "review_queue"


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
        self._client = RetryableErrors(client)  # throttling and 5xx -> RetryableStoreError
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
                Item=_item(product),
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
                Item=_item(new),
                ConditionExpression="#v = :expected",
                ExpressionAttributeNames={"#v": "version"},
                ExpressionAttributeValues={":expected": {"N": str(product.version)}},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise changed_since(product) from error
            raise
        return new

    def take_over_pending(
        self, listing: ProductListing, event_id: str, now: str, stale_before: str
    ) -> StoredProduct:
        """Make `event_id` the owner of a stranded product: PENDING, and either released by the redrive
        (its owner's execution ended) or without an enrichment and last written before `stale_before`.
        Writes the new listing as version N+1 (so the old owner's Persist finds it stale); Conflict
        otherwise, with nothing written."""
        try:
            item = self._client.update_item(
                TableName=self._table,
                Key={"product_id": {"S": listing.product_id}},
                UpdateExpression=(
                    "SET #listing = :listing, #owner = :event, #v = #v + :one, #updated = :now REMOVE #released"
                ),
                ConditionExpression=(
                    "attribute_exists(product_id) AND #status = :pending AND #owner <> :event AND "
                    "(#released = :true OR (attribute_not_exists(#enrichment) AND #updated < :stale))"
                ),
                ExpressionAttributeNames={
                    "#listing": "listing",
                    "#owner": "source_event_id",
                    "#v": "version",
                    "#updated": "updated_at",
                    "#released": RELEASED,
                    "#status": "status",
                    "#enrichment": "enrichment",
                },
                ExpressionAttributeValues={
                    ":listing": to_item({"l": listing.model_dump(mode="json")})["l"],
                    ":event": {"S": event_id},
                    ":one": {"N": "1"},
                    ":now": {"S": now},
                    ":pending": {"S": "PENDING"},
                    ":true": {"BOOL": True},
                    ":stale": {"S": stale_before},
                },
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            raise not_stranded(listing.product_id, self.get(listing.product_id), stale_before) from error
        return product_from_image(from_item(item))

    def release_stranded(self, product_id: str, event_id: str, max_redrives: int) -> int | None:
        """The execution of `event_id` ended without enriching its PENDING product: count one redrive and
        release the product for an immediate take-over. Returns the redrive count, or None when
        `max_redrives` were already used (nothing written); Conflict when the product is not PENDING
        under `event_id` (enriched, or taken over since)."""
        try:
            item = self._client.update_item(
                TableName=self._table,
                Key={"product_id": {"S": product_id}},
                UpdateExpression="SET #released = :true ADD #redrives :one",
                ConditionExpression=(
                    "#status = :pending AND #owner = :event AND "
                    "(attribute_not_exists(#redrives) OR #redrives < :max)"
                ),
                ExpressionAttributeNames={
                    "#released": RELEASED,
                    "#redrives": REDRIVES,
                    "#status": "status",
                    "#owner": "source_event_id",
                },
                ExpressionAttributeValues={
                    ":true": {"BOOL": True},
                    ":one": {"N": "1"},
                    ":pending": {"S": "PENDING"},
                    ":event": {"S": event_id},
                    ":max": {"N": str(max_redrives)},
                },
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            current = self.get(product_id)
            if current is not None and owned_pending(current, event_id):
                return None
            raise not_owned(product_id, event_id, current) from error
        return int(item[REDRIVES]["N"])

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
        yield from self._pages(self._client.scan, ConsistentRead=True)

    def waiting_for_review(self) -> Iterator[list[StoredProduct]]:
        """The NEEDS_REVIEW products by product id, one page per yield: a Query of the sparse NeedsReview
        index (eventually consistent, as every GSI read)."""
        yield from self._pages(
            self._client.query,
            IndexName=REVIEW_INDEX,
            KeyConditionExpression="#queue = :queue",
            ExpressionAttributeNames={"#queue": REVIEW_QUEUE},
            ExpressionAttributeValues={":queue": {"S": ProductStatus.NEEDS_REVIEW.value}},
        )

    def _pages(self, read: Callable[..., Any], **request: Any) -> Iterator[list[StoredProduct]]:
        """The products of each page of a Scan or Query (`read`, through the retrying client), following
        LastEvaluatedKey; pages that hold none are skipped. (Not boto3's paginator: its calls would bypass
        the client's error translation.)"""
        start: dict[str, Any] | None = None
        while True:
            page = read(
                TableName=self._table,
                Limit=self._page_size,
                **request,
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


# Attributes of a Products item outside `StoredProduct`, kept by the redrive path (a full version write
# drops them: an enriched product needs no redrive).
RELEASED = "released"
REDRIVES = "redrives"


def _item(product: StoredProduct) -> dict[str, Any]:
    """The Products item of `product`: its fields, and REVIEW_QUEUE when it awaits review."""
    item = to_item(product.model_dump(mode="json"))
    if product.status == ProductStatus.NEEDS_REVIEW:
        item[REVIEW_QUEUE] = {"S": ProductStatus.NEEDS_REVIEW.value}
    return item


def owned_pending(product: StoredProduct, event_id: str) -> bool:
    return product.status.value == "PENDING" and product.source_event_id == event_id


# Messages shared with the in-memory fake, so both adapters say the same thing.


def already_exists(product_id: str, existing: StoredProduct | None) -> Conflict:
    version = existing.version if existing else "?"
    return Conflict(
        f"product {product_id} already exists (version {version}) from another event; "
        "send a ListingUpdated event to change an existing product"
    )


def not_stranded(product_id: str, existing: StoredProduct | None, stale_before: str) -> Conflict:
    if existing is None:
        return Conflict(f"product {product_id} is not stored; nothing to take over")
    if existing.status.value != "PENDING" or existing.enrichment is not None:
        return already_exists(product_id, existing)
    return Conflict(
        f"product {product_id} is still being enriched (version {existing.version}, pending since "
        f"{existing.updated_at}); a re-send takes it over once it was last written before {stale_before}"
    )


def not_owned(product_id: str, event_id: str, existing: StoredProduct | None) -> Conflict:
    state = "not stored" if existing is None else f"{existing.status.value} under {existing.source_event_id}"
    return Conflict(f"product {product_id} is no longer PENDING under event {event_id} ({state})")


def changed_since(product: StoredProduct) -> Conflict:
    return Conflict(f"product {product.product_id} changed since version {product.version} was read")
