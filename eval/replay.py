"""Replay catalog products through the local cloud and measure what the workflow recorded.

Used by `cataloop demo` and `cataloop eval learning`. Every number comes from the cloud's own records:
the execution's consensus decision, the stored product's status, enrichment and provenance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cataloop.adapters.dynamodb_codec import from_item
from cataloop.wiring import aws_client
from cataloop_eval.extraction import OaMineRecord
from cataloop_eval.learning import round_robin
from cataloop_eval.scoring import ScoreBoard
from cataloop_local.emulator.cloud import LocalCloud


def interleave_by_category(records: Sequence[OaMineRecord]) -> list[OaMineRecord]:
    """Round-robin over categories, each category in file order. The OA-Mine files are grouped by category;
    a marketplace receives all categories over time, and the learning effect is what should show, not the
    difficulty of whichever category a slice happens to hold."""
    return round_robin(records, lambda record: record.category)


@dataclass
class ProductResult:
    product_id: str
    decision: str | None
    supervised: bool
    human_review: bool
    succeeded: bool
    learnings_injected: int
    predicted: dict[str, str] = field(default_factory=dict)
    modelled_cost: float = 0.0
    execution_arn: str | None = None


@dataclass
class SliceReport:
    products: int
    disagreement_rate: float
    supervisor_rate: float
    human_review_rate: float
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    learnings_injected_per_product: float = 0.0
    agreed_precision: float | None = None
    modelled_cost_per_product: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            key: (round(value, 4) if isinstance(value, float) else value)
            for key, value in self.__dict__.items()
        }


def submit(cloud: LocalCloud, listing: dict[str, Any]) -> str:
    """Put one ProductCreated event; returns the ARN of the execution it started (named after the event)."""
    response = cloud.put_events(
        [{"Source": "cataloop.catalog", "DetailType": "ProductCreated", "Detail": {"product": listing}}]
    )
    event_id = response["Entries"][0]["EventId"]
    machine = cloud.state_machine_arns["EnrichProductStateMachine"]
    return machine.replace(":stateMachine:", ":execution:") + f":{event_id}"


def read_result(cloud: LocalCloud, product_id: str, execution_arn: str | None) -> ProductResult:
    """What the cloud recorded for one product: the execution outcome and the stored item."""
    table = cloud.table_names()["ProductsTable"]
    item = (
        aws_client("dynamodb", "us-east-1")
        .get_item(TableName=table, Key={"product_id": {"S": product_id}})
        .get("Item")
    )
    product = from_item(item) if item else {}
    trace = product.get("provenance") or {}
    succeeded = False
    if execution_arn:
        succeeded = cloud.describe_execution(execution_arn)["status"] == "SUCCEEDED"
    attributes = (product.get("enrichment") or {}).get("attributes") or {}
    return ProductResult(
        product_id=product_id,
        decision=trace.get("decision"),
        supervised=bool(trace.get("supervisor")),
        human_review=product.get("status") == "NEEDS_REVIEW",
        succeeded=succeeded,
        learnings_injected=len(trace.get("learnings_injected") or []),
        predicted={name: value["value"] for name, value in attributes.items()},
        modelled_cost=float(trace.get("modelled_cost") or 0.0),
        execution_arn=execution_arn,
    )


def summarise(
    results: Sequence[ProductResult], gold: dict[str, dict[str, list[str]]] | None = None
) -> SliceReport:
    count = len(results) or 1
    report = SliceReport(
        products=len(results),
        disagreement_rate=sum(r.decision == "DISAGREE" for r in results) / count,
        supervisor_rate=sum(r.supervised for r in results) / count,
        human_review_rate=sum(r.human_review for r in results) / count,
        learnings_injected_per_product=sum(r.learnings_injected for r in results) / count,
        modelled_cost_per_product=sum(r.modelled_cost for r in results) / count,
    )
    if gold is not None:
        board = ScoreBoard()
        agreed = ScoreBoard()
        for result in results:
            if result.product_id in gold:
                board.add(result.predicted, gold[result.product_id])
                if result.decision == "AGREE":
                    agreed.add(result.predicted, gold[result.product_id])
        micro = board.micro()
        report.precision, report.recall, report.f1 = micro.precision, micro.recall, micro.f1
        if any(r.decision == "AGREE" for r in results):
            report.agreed_precision = agreed.micro().precision
    return report


def replay(
    cloud: LocalCloud,
    records: Sequence[OaMineRecord],
    slices: int = 10,
    on_product: Callable[[], None] | None = None,
) -> tuple[list[ProductResult], list[SliceReport]]:
    """Submit `records` one by one as ProductCreated events; report each of `slices` equal parts."""
    gold = {record.listing().product_id: record.gold for record in records}
    results: list[ProductResult] = []
    for record in records:
        listing = record.listing()
        arn = submit(cloud, listing.model_dump(mode="json", exclude_none=True))
        results.append(read_result(cloud, listing.product_id, arn))
        if len(results) % 10 == 0:
            cloud.pump_streams()  # streams deliver continuously, in batches; the index follows the catalog
        if on_product is not None:
            on_product()
    cloud.pump_streams()
    size = len(results)
    reports = [
        summarise(results[size * i // slices : size * (i + 1) // slices], gold)
        for i in range(slices)
        if size * (i + 1) // slices > size * i // slices
    ]
    return results, reports
