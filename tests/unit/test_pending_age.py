"""The age of the oldest PENDING product, which the PendingAge function publishes for its alarm."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cataloop.adapters.memory import InMemoryProductStore
from cataloop.domain.catalog.listing import ProductListing
from cataloop.services.pending import pending_report

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _listing(product_id: str) -> ProductListing:
    return ProductListing(product_id=product_id, title=f"Product {product_id}", category_path=["Coffee"])


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def test_no_pending_product_reports_zero() -> None:
    assert pending_report(InMemoryProductStore(), NOW).model_dump() == {
        "pending": 0,
        "oldest_seconds": 0.0,
        "oldest_product_id": None,
    }


def test_the_oldest_pending_product_is_reported_and_enriched_ones_are_not_counted() -> None:
    store = InMemoryProductStore()
    store.create_pending(_listing("p-old"), "e1", _stamp(NOW - timedelta(hours=2)))
    store.create_pending(_listing("p-new"), "e2", _stamp(NOW - timedelta(minutes=5)))
    done, _ = store.create_pending(_listing("p-done"), "e3", _stamp(NOW - timedelta(days=3)))
    from cataloop.domain.catalog.stored import ProductStatus

    store.put_version(
        done.model_copy(update={"status": ProductStatus.ENRICHED, "enrichment": {"attributes": {}}})
    )
    report = pending_report(store, NOW)
    assert (report.pending, report.oldest_product_id, report.oldest_seconds) == (2, "p-old", 7200.0)
