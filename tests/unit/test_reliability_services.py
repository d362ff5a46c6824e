"""Intake take-over, listing revisions, stale Persist and the redrive service, on the in-memory store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cataloop.adapters.memory import InMemoryProductStore
from cataloop.domain.catalog.events import ProductCreatedEvent
from cataloop.domain.catalog.stored import ProductStatus
from cataloop.domain.feedback.signals import ListingUpdatedEvent
from cataloop.errors import Conflict, InvalidInput
from cataloop.services.intake import TAKE_OVER_GRACE, prepare_context, revise_listing
from cataloop.services.redrive import ExecutionStatusDetail, owner_of, redrive_execution

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
ENVELOPE = {"version": "0", "account": "1", "region": "us-east-1", "resources": [], "time": T0.isoformat()}


def created(event_id: str, product_id: str = "p-1", **listing: Any) -> ProductCreatedEvent:
    product = {"product_id": product_id, "title": "Stumptown Coffee", "category_path": ["Coffee"], **listing}
    return ProductCreatedEvent.model_validate(
        {
            **ENVELOPE,
            "id": event_id,
            "source": "cataloop.catalog",
            "detail-type": "ProductCreated",
            "detail": {"product": product},
        }
    )


def updated(event_id: str, changes: list[dict[str, Any]], product_id: str = "p-1") -> ListingUpdatedEvent:
    return ListingUpdatedEvent.model_validate(
        {
            **ENVELOPE,
            "id": event_id,
            "source": "cataloop.seller",
            "detail-type": "ListingUpdated",
            "detail": {
                "update_id": f"U-{event_id}",
                "product_id": product_id,
                "seller_id": "s",
                "changes": changes,
            },
        }
    )


def enrich(store: InMemoryProductStore, product_id: str = "p-1") -> None:
    current = store.get(product_id)
    assert current is not None
    store.put_version(
        current.model_copy(update={"status": ProductStatus.ENRICHED, "enrichment": {"attributes": {}}})
    )


def test_a_new_product_is_created_and_enriched_by_its_event() -> None:
    store = InMemoryProductStore()
    context = prepare_context(created("e1"), store, now=T0)
    assert context["created"] and context["enrich"] and not context["taken_over"] and context["version"] == 1


def test_a_re_send_within_the_grace_period_is_a_conflict_after_it_a_take_over() -> None:
    store = InMemoryProductStore()
    prepare_context(created("e1"), store, now=T0)
    with pytest.raises(Conflict, match="still being enriched"):
        prepare_context(created("e2"), store, now=T0 + TAKE_OVER_GRACE - timedelta(seconds=1))
    context = prepare_context(
        created("e3", title="Fixed title"), store, now=T0 + TAKE_OVER_GRACE + timedelta(seconds=1)
    )
    assert context["taken_over"] and context["enrich"] and context["version"] == 2
    assert context["listing"]["title"] == "Fixed title"


def test_a_duplicate_for_an_enriched_product_is_a_conflict_and_a_redelivery_ends_cleanly() -> None:
    store = InMemoryProductStore()
    prepare_context(created("e1"), store, now=T0)
    enrich(store)
    with pytest.raises(Conflict, match="already exists"):
        prepare_context(created("e2"), store, now=T0 + timedelta(days=1))
    again = prepare_context(created("e1"), store, now=T0 + timedelta(days=1))
    assert again["enrich"] is False and again["version"] == 2 and again["learnings"] == []


def test_a_listing_update_writes_a_pending_version_owned_by_the_update() -> None:
    store = InMemoryProductStore()
    prepare_context(created("e1"), store, now=T0)
    enrich(store)
    changes = [
        {"field": "Title", "new": "Stumptown Hair Bender"},
        {"field": "price", "new": "1,299.5"},
        {"field": "Pack Count", "new": "2"},
    ]
    context = revise_listing(updated("u1", changes), store, now=T0)
    assert context["enrich"] and context["version"] == 3
    stored = store.get("p-1")
    assert stored is not None and stored.status == ProductStatus.PENDING and stored.source_event_id == "u1"
    assert stored.listing.title == "Stumptown Hair Bender" and str(stored.listing.price) == "1299.5"
    assert stored.enrichment == {"attributes": {}}  # kept until the re-enrichment replaces it
    assert revise_listing(updated("u1", changes), store)["enrich"] is True  # redelivery: same version
    assert store.get("p-1").version == 3  # type: ignore[union-attr]


def test_listing_updates_that_change_no_listing_field_or_no_product_are_skipped() -> None:
    store = InMemoryProductStore()
    prepare_context(created("e1"), store, now=T0)
    assert revise_listing(updated("u1", [{"field": "Pack Count", "new": "2"}]), store)["enrich"] is False
    assert (
        revise_listing(updated("u2", [{"field": "title", "new": "Stumptown Coffee"}]), store)["enrich"]
        is False
    )
    assert revise_listing(updated("u3", [{"field": "title", "new": "x"}], "p-9"), store)["enrich"] is False
    with pytest.raises(InvalidInput, match="price"):
        revise_listing(updated("u4", [{"field": "price", "new": "cheap"}]), store)
    assert store.get("p-1").version == 1  # type: ignore[union-attr]


# -------------------------------------------------------------------------------------------- redrive


class Executions:
    def __init__(self, inputs: dict[str, dict[str, Any]]):
        self.inputs = inputs

    def input_of(self, arn: str) -> dict[str, Any] | None:
        return self.inputs.get(arn)


class Events:
    def __init__(self) -> None:
        self.put_events: list[tuple[str, str, dict[str, Any]]] = []

    def put(self, source: str, detail_type: str, detail: dict[str, Any]) -> str:
        self.put_events.append((source, detail_type, detail))
        return f"r{len(self.put_events)}"


class DeadLetters:
    def __init__(self) -> None:
        self.sent: list[tuple[dict[str, Any], str]] = []

    def send(self, body: dict[str, Any], cause: str) -> None:
        self.sent.append((body, cause))


def _status(arn: str, status: str = "FAILED") -> ExecutionStatusDetail:
    return ExecutionStatusDetail.model_validate(
        {
            "executionArn": arn,
            "stateMachineArn": "sm",
            "status": status,
            "error": "ModelError",
            "cause": "boom",
        }
    )


def test_a_failed_execution_is_redriven_then_dead_lettered_after_the_limit() -> None:
    store = InMemoryProductStore()
    event = created("e1")
    prepare_context(event, store, now=T0)
    executions = Executions({"x1": event.model_dump(mode="json", by_alias=True)})
    events, dead = Events(), DeadLetters()

    first = redrive_execution(_status("x1"), executions, store, events, dead, max_redrives=1)
    assert first.action == "redriven" and first.redrives == 1 and first.event_id == "r1"
    assert events.put_events[0][:2] == ("cataloop.catalog", "ProductCreated")
    assert events.put_events[0][2]["product"]["product_id"] == "p-1"
    # The re-sent event takes the released product over at once (no grace period).
    resent = created("r1")
    context = prepare_context(resent, store, now=T0)
    assert context["taken_over"] and context["version"] == 2
    executions.inputs["x2"] = resent.model_dump(mode="json", by_alias=True)
    second = redrive_execution(_status("x2", "TIMED_OUT"), executions, store, events, dead, max_redrives=1)
    assert second.action == "dead_lettered" and len(events.put_events) == 1
    assert dead.sent[0][0]["product_id"] == "p-1" and "gave up after 1 redrives" in dead.sent[0][1]


def test_nothing_is_redriven_for_a_rejected_duplicate_a_success_or_a_malformed_input() -> None:
    store = InMemoryProductStore()
    prepare_context(created("e1"), store, now=T0)
    duplicate = created("e2").model_dump(mode="json", by_alias=True)
    executions = Executions({"dup": duplicate, "bad": {"id": "e3", "detail": {"product": {}}}})
    events, dead = Events(), DeadLetters()
    assert redrive_execution(_status("dup"), executions, store, events, dead).action == "ignored"
    assert redrive_execution(_status("bad"), executions, store, events, dead).action == "ignored"
    assert redrive_execution(_status("gone"), executions, store, events, dead).action == "ignored"
    assert redrive_execution(_status("dup", "SUCCEEDED"), executions, store, events, dead).action == "ignored"
    assert events.put_events == [] and dead.sent == []


def test_the_owner_of_a_listing_update_execution_is_its_product_and_event() -> None:
    update = updated("u1", [{"field": "title", "new": "x"}]).model_dump(mode="json", by_alias=True)
    assert owner_of(update) == ("p-1", "u1")
    assert owner_of({"id": 3}) is None
