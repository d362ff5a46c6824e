"""Full-table reads for rebuilds: a paginated Scan yielding plain items, and bundle-child lookups."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cataloop.adapters.dynamodb_codec import from_item
from cataloop.domain.catalog.listing import ProductListing
from cataloop.errors import CataloopError

BATCH_GET_KEYS = 100
BATCH_GET_ATTEMPTS = 8


class DynamoTableScan:
    """Pages of one table's items, deserialised to plain values, following LastEvaluatedKey."""

    def __init__(self, client: Any, table: str, page_size: int = 500) -> None:
        self._client = client
        self.table = table
        self._page_size = page_size

    def pages(self) -> Iterator[list[dict[str, Any]]]:
        start: dict[str, Any] | None = None
        while True:
            page = self._client.scan(
                TableName=self.table,
                Limit=self._page_size,
                **({"ExclusiveStartKey": start} if start else {}),
            )
            yield [from_item(item) for item in page.get("Items", [])]
            start = page.get("LastEvaluatedKey")
            if not start:
                return

    def approximate_count(self) -> int:
        """DescribeTable's ItemCount: refreshed about every six hours in AWS, so for progress bars only."""
        return int(self._client.describe_table(TableName=self.table)["Table"].get("ItemCount", 0))

    def product_listings(self, product_ids: list[str]) -> list[ProductListing]:
        """The listings of these Products items (absent ids are left out), BatchGetItem with retries of
        unprocessed keys."""
        found: list[ProductListing] = []
        unique = list(dict.fromkeys(product_ids))
        for start in range(0, len(unique), BATCH_GET_KEYS):
            keys = [
                {"product_id": {"S": product_id}} for product_id in unique[start : start + BATCH_GET_KEYS]
            ]
            request: dict[str, Any] = {self.table: {"Keys": keys}}
            for _ in range(BATCH_GET_ATTEMPTS):
                response = self._client.batch_get_item(RequestItems=request)
                found.extend(
                    ProductListing.model_validate(from_item(item)["listing"])
                    for item in response.get("Responses", {}).get(self.table, [])
                )
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
            else:
                raise CataloopError(f"DynamoDB kept keys of {self.table} unprocessed; retry the reindex")
        return found
