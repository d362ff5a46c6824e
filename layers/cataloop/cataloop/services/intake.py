"""PrepareContext: accept a product into the enrichment workflow."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from ..domain.catalog import StoredProduct
from ..domain.events import ProductCreatedEvent
from ..domain.products import ProductListing


class PendingProductStore(Protocol):
    def create_pending(
        self, listing: ProductListing, event_id: str, now: str
    ) -> tuple[StoredProduct, bool]: ...


def prepare_context(event: ProductCreatedEvent, store: PendingProductStore) -> dict[str, Any]:
    """Store the raw product PENDING (version 1, once per event) and return the workflow context."""
    listing = event.detail.product
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    stored, created = store.create_pending(listing, event.id, now)
    return {
        "product_id": stored.product_id,
        "version": stored.version,
        "event_id": event.id,
        "created": created,
        "category_path": listing.category_path,
        "locale": listing.locale,
    }
