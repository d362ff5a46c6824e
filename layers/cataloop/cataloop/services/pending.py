"""How long products wait for their enrichment: the age of the oldest PENDING product.

The PendingAge function publishes it every 10 minutes as `OldestPendingSeconds` (and `PendingProducts`);
`PendingProductsAgeAlarm` fires when a product has stayed PENDING for more than an hour, which means its
enrichment neither finished nor failed into the redrive path.

It reads the whole product store (`ProductStore.scan`): read capacity proportional to the catalog per run.
A sparse index on PENDING items would make it proportional to what waits; the performance issue owns that.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel

from cataloop.domain.catalog.stored import ProductStatus
from cataloop.ports import ProductStore


class PendingReport(BaseModel):
    pending: int
    oldest_seconds: float
    oldest_product_id: str | None = None


def _parsed(stamp: str) -> datetime:
    moment = datetime.fromisoformat(stamp)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def pending_report(store: ProductStore, now: datetime) -> PendingReport:
    """Count the PENDING products and find the one waiting longest (since its last write)."""
    pending = 0
    oldest: tuple[float, str] | None = None
    for page in store.scan():
        for product in page:
            if product.status != ProductStatus.PENDING:
                continue
            pending += 1
            age = max(0.0, (now - _parsed(product.updated_at)).total_seconds())
            if oldest is None or age > oldest[0]:
                oldest = (age, product.product_id)
    if oldest is None:
        return PendingReport(pending=0, oldest_seconds=0.0)
    return PendingReport(pending=pending, oldest_seconds=round(oldest[0], 1), oldest_product_id=oldest[1])
