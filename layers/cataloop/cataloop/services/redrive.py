"""Redrive: a failed, timed-out or aborted EnrichProduct execution re-sends its product, at most N times.

Triggered by the "Step Functions Execution Status Change" event of an execution that ended FAILED,
TIMED_OUT or ABORTED. The execution's input (DescribeExecution) names the event that owned the product.
When the product is still PENDING under that event, the product is released (one redrive counted on its
item) and a new ProductCreated with the stored listing is put on the bus (a new event id): its
PrepareContext takes the released product over at once. After `MAX_REDRIVES` the product goes to the
redrive dead-letter queue with the execution's error and cause. Anything else (a rejected duplicate, a
malformed event, a product enriched or taken over since) needs no redrive and is only reported.

Idempotent enough for at-least-once delivery: a second delivery of the same status change finds the
product released and owned by the same failed event, so it counts one more redrive and puts one more
event; that event's take-over then fails (the first re-send owns the product) and ends as a rejection.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cataloop.domain.catalog.events import SOURCE_CATALOG
from cataloop.errors import Conflict
from cataloop.ports import CatalogEvents, DeadLetters, ExecutionInputs, ProductStore

MAX_REDRIVES = 2
REDRIVEN_STATUSES = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})


class ExecutionStatusDetail(BaseModel):
    """`detail` of a "Step Functions Execution Status Change" event (the fields the redrive reads)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    execution_arn: str = Field(alias="executionArn", min_length=1)
    state_machine_arn: str = Field(alias="stateMachineArn", min_length=1)
    status: str
    error: str | None = None
    cause: str | None = None


class RedriveOutcome(BaseModel):
    action: Literal["redriven", "dead_lettered", "ignored"]
    reason: str
    product_id: str | None = None
    redrives: int = 0
    event_id: str | None = None


def owner_of(execution_input: dict[str, Any]) -> tuple[str, str] | None:
    """(product id, event id) of a ProductCreated or ListingUpdated execution input, or None."""
    event_id = execution_input.get("id")
    detail = execution_input.get("detail")
    if not isinstance(event_id, str) or not isinstance(detail, dict):
        return None
    product = detail.get("product")
    product_id = product.get("product_id") if isinstance(product, dict) else detail.get("product_id")
    return (product_id, event_id) if isinstance(product_id, str) and product_id else None


def redrive_execution(
    status: ExecutionStatusDetail,
    executions: ExecutionInputs,
    products: ProductStore,
    events: CatalogEvents,
    dead_letters: DeadLetters,
    max_redrives: int = MAX_REDRIVES,
) -> RedriveOutcome:
    """Re-send the product of an execution that ended without enriching it; dead-letter after N redrives."""
    if status.status not in REDRIVEN_STATUSES:
        return RedriveOutcome(action="ignored", reason=f"execution ended {status.status}")
    execution_input = executions.input_of(status.execution_arn)
    owner = owner_of(execution_input or {})
    if owner is None:
        return RedriveOutcome(action="ignored", reason="the execution input names no product and event")
    product_id, event_id = owner
    try:
        count = products.release_stranded(product_id, event_id, max_redrives)
    except Conflict as error:
        return RedriveOutcome(action="ignored", reason=str(error), product_id=product_id)
    cause = f"{status.error or status.status}: {(status.cause or '')[:2000]}"
    if count is None:
        dead_letters.send(
            {
                "product_id": product_id,
                "event_id": event_id,
                "execution_arn": status.execution_arn,
                "state_machine_arn": status.state_machine_arn,
                "status": status.status,
                "error": status.error,
                "cause": status.cause,
                "redrives": max_redrives,
            },
            cause=f"gave up after {max_redrives} redrives; last {cause}",
        )
        return RedriveOutcome(
            action="dead_lettered", reason=cause, product_id=product_id, redrives=max_redrives
        )
    stored = products.get(product_id)
    if stored is None:  # deleted in between: nothing left to enrich
        return RedriveOutcome(action="ignored", reason="product deleted", product_id=product_id)
    new_id = events.put(
        SOURCE_CATALOG,
        "ProductCreated",
        {"product": stored.listing.model_dump(mode="json", exclude_none=True)},
    )
    return RedriveOutcome(
        action="redriven", reason=cause, product_id=product_id, redrives=count, event_id=new_id
    )
