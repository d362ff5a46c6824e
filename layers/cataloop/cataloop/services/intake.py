"""PrepareContext: accept a product (or a listing update) into the enrichment workflow.

Who enriches a product is decided by its owner, the `source_event_id` of its PENDING version:

- ProductCreated for a new product stores version 1 PENDING under the event (once per event).
- ProductCreated for a product that is still PENDING under another event *takes it over* (a new version
  with the re-sent listing, owned by the new event) when the product is stranded: released by the redrive
  (the owner's execution ended in FAILED/TIMED_OUT/ABORTED) or without an enrichment and last written more
  than `TAKE_OVER_GRACE` ago. The grace period is the state machine's timeout (TimeoutSeconds 900): an
  owner that is still running keeps the product, so a seller's re-send during an enrichment is a Conflict
  rather than a second paid run. Should two executions still both run (a take-over racing the old owner),
  the version bump makes the old owner's Persist find a newer version and end as stale: one write.
- ListingUpdated with listing-field changes writes a new PENDING version with the updated listing, owned by
  the update event, and the workflow re-enriches it (`revise_listing`).
- A redelivered event whose product is no longer PENDING under it ends the execution cleanly (`enrich`
  false): it neither re-runs the models nor sends a second review message.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from cataloop.domain.catalog.events import ProductCreatedEvent
from cataloop.domain.catalog.listing import ProductListing
from cataloop.domain.catalog.stored import ProductStatus, StoredProduct
from cataloop.domain.feedback.signals import FieldChange, ListingUpdatedEvent
from cataloop.domain.knowledge.learning import LearningView
from cataloop.errors import Conflict, InvalidInput
from cataloop.ports import ProductStore

# (category path, product text) -> the learnings to inject into the workers' prompts.
LearningRetriever = Callable[[list[str], str], list[LearningView]]

# Equal to EnrichProduct's TimeoutSeconds: after it, the owner's execution has ended one way or another.
TAKE_OVER_GRACE = timedelta(seconds=900)
REVISE_ATTEMPTS = 3

# ListingUpdated field names (case-folded, spaces and dashes as underscores) that change the listing itself.
LISTING_FIELDS = frozenset(
    {
        "title",
        "description",
        "brand",
        "price",
        "currency",
        "metadata_keywords",
        "bullet_points",
        "category_path",
    }
)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def prepare_context(
    event: ProductCreatedEvent,
    store: ProductStore,
    retrieve: LearningRetriever | None = None,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Store the raw product PENDING (version 1, once per event), or take over a stranded one, and return
    the workflow context with the learnings for its category path (ids and versions, so Persist records
    what influenced it). A product that exists and is not stranded is a `Conflict`."""
    listing = event.detail.product
    moment = now or datetime.now(UTC)
    taken_over = False
    try:
        stored, created = store.create_pending(listing, event.id, _stamp(moment))
    except Conflict:
        stored = store.take_over_pending(listing, event.id, _stamp(moment), _stamp(moment - TAKE_OVER_GRACE))
        created, taken_over = False, True
    return _context(stored, event.id, retrieve, created=created, taken_over=taken_over)


def revise_listing(
    event: ListingUpdatedEvent,
    store: ProductStore,
    retrieve: LearningRetriever | None = None,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Apply a ListingUpdated event's listing-field changes as a new PENDING version owned by the event (the
    enrichment and its provenance, feedback history included, are kept until the re-enrichment replaces
    them). Changes to attribute names only (handled by LearnFromFeedback), an unknown product or a listing
    that already has these values give `enrich` false. Re-reads and retries when another writer wins."""
    detail = event.detail
    moment = now or datetime.now(UTC)
    for _ in range(REVISE_ATTEMPTS):
        current = store.get(detail.product_id)
        if current is None:
            return _skipped(detail.product_id, event.id, f"product {detail.product_id} is not stored")
        if current.source_event_id == event.id:  # a redelivery of an update already applied
            return _context(current, event.id, retrieve, created=False, taken_over=False)
        changes = [change for change in detail.changes if _field_name(change.field) in LISTING_FIELDS]
        if not changes:
            return _skipped(detail.product_id, event.id, "no listing field changed", current.version)
        listing = updated_listing(current.listing, changes, detail.update_id)
        if listing == current.listing:
            return _skipped(
                detail.product_id, event.id, "the listing already has these values", current.version
            )
        revised = current.model_copy(
            update={
                "listing": listing,
                "status": ProductStatus.PENDING,
                "source_event_id": event.id,
                "updated_at": _stamp(moment),
            }
        )
        try:
            written = store.put_version(revised)
        except Conflict:
            continue
        return _context(written, event.id, retrieve, created=False, taken_over=False)
    raise Conflict(
        f"product {detail.product_id} kept changing while listing update {detail.update_id} applied"
    )


def updated_listing(listing: ProductListing, changes: list[FieldChange], update_id: str) -> ProductListing:
    """`listing` with the changed fields' new values; `InvalidInput` naming the field when one is invalid."""
    data = listing.model_dump(mode="json")
    for change in changes:
        name = _field_name(change.field)
        new = change.new
        if name == "price":
            try:
                data[name] = None if new in (None, "") else str(Decimal(str(new).replace(",", "")))
            except InvalidOperation:
                raise InvalidInput(f"listing update {update_id}: price '{new}' is not a number") from None
        elif name == "bullet_points":
            data[name] = [line.strip() for line in (new or "").splitlines() if line.strip()]
        elif name == "category_path":
            data[name] = [part.strip() for part in (new or "").split(">") if part.strip()]
        elif name in ("brand", "currency"):
            data[name] = new or None
        else:
            data[name] = new or ""
    try:
        return ProductListing.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InvalidInput(f"listing update {update_id}: {where}: {first['msg']}") from None


def _field_name(name: str) -> str:
    return name.strip().casefold().replace(" ", "_").replace("-", "_")


def _context(
    stored: StoredProduct,
    event_id: str,
    retrieve: LearningRetriever | None,
    *,
    created: bool,
    taken_over: bool,
) -> dict[str, Any]:
    listing = stored.listing
    # Only the PENDING version this event owns is enriched; a late redelivery ends cleanly.
    enrich = stored.status == ProductStatus.PENDING and stored.source_event_id == event_id
    text = " ".join([listing.title, listing.description[:500]])
    learnings = retrieve(listing.category_path, text) if retrieve is not None and enrich else []
    return {
        "product_id": stored.product_id,
        "version": stored.version,
        "event_id": event_id,
        "created": created,
        "taken_over": taken_over,
        "enrich": enrich,
        "reason": ""
        if enrich
        else f"product {stored.product_id} is {stored.status.value} at version "
        f"{stored.version}; nothing to enrich for event {event_id}",
        "listing": listing.model_dump(mode="json", exclude_none=True),
        "learnings": [view.model_dump(mode="json") for view in learnings],
    }


def _skipped(product_id: str, event_id: str, reason: str, version: int = 0) -> dict[str, Any]:
    return {
        "product_id": product_id,
        "version": version,
        "event_id": event_id,
        "created": False,
        "taken_over": False,
        "enrich": False,
        "reason": reason,
        "learnings": [],
    }
