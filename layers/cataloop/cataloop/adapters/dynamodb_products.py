"""Products table: conditional writes so no update is lost and no event writes twice."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from cataloop.adapters.dynamodb_codec import from_item, to_item
from cataloop.domain.catalog.listing import ProductListing
from cataloop.domain.catalog.stored import ProductStatus, StoredProduct
from cataloop.errors import Conflict


class DynamoProductStore:
    def __init__(self, client: Any, table_name: str):
        self._client = client
        self._table = table_name

    def get(self, product_id: str) -> StoredProduct | None:
        item = self._client.get_item(
            TableName=self._table, Key={"product_id": {"S": product_id}}, ConsistentRead=True
        ).get("Item")
        return None if item is None else StoredProduct.model_validate(from_item(item))

    def create_pending(self, listing: ProductListing, event_id: str, now: str) -> tuple[StoredProduct, bool]:
        """Store a new product as PENDING, version 1. Returns (product, created). A redelivery of the same
        event finds its own item and is not an error; another event for an existing product is a Conflict."""
        product = StoredProduct(
            product_id=listing.product_id,
            version=1,
            status=ProductStatus.PENDING,
            listing=listing,
            source_event_id=event_id,
            created_at=now,
            updated_at=now,
        )
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
        version = existing.version if existing else "?"
        raise Conflict(
            f"product {listing.product_id} already exists (version {version}) from another event; "
            "send a ListingUpdated event to change an existing product"
        )

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
                raise Conflict(
                    f"product {product.product_id} changed since version {product.version} was read"
                ) from error
            raise
        return new
