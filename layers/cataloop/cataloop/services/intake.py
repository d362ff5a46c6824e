"""PrepareContext: accept a product into the enrichment workflow."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from cataloop.domain.catalog.events import ProductCreatedEvent
from cataloop.domain.knowledge.learning import LearningView
from cataloop.ports import ProductStore

# (category path, product text) -> the learnings to inject into the workers' prompts.
LearningRetriever = Callable[[list[str], str], list[LearningView]]


def prepare_context(
    event: ProductCreatedEvent, store: ProductStore, retrieve: LearningRetriever | None = None
) -> dict[str, Any]:
    """Store the raw product PENDING (version 1, once per event) and return the workflow context with
    the learnings for its category path (ids and versions, so Persist records what influenced it)."""
    listing = event.detail.product
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    stored, created = store.create_pending(listing, event.id, now)
    text = " ".join([listing.title, listing.description[:500]])
    learnings = retrieve(listing.category_path, text) if retrieve is not None else []
    return {
        "product_id": stored.product_id,
        "version": stored.version,
        "event_id": event.id,
        "created": created,
        "listing": listing.model_dump(mode="json", exclude_none=True),
        "learnings": [view.model_dump(mode="json") for view in learnings],
    }
