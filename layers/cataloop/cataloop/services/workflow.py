"""EnrichProduct state inputs and outputs, review routing, and the Persist state (not a model call).

Each Lambda state validates its input against one of these models, so a malformed state input fails with
a message naming the field instead of a KeyError deep inside a service.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cataloop.domain.catalog.listing import ProductListing
from cataloop.domain.catalog.stored import ProductStatus, StoredProduct
from cataloop.domain.enrichment.consensus import ConsensusDecision
from cataloop.domain.enrichment.pricing import PriceTable
from cataloop.domain.knowledge.learning import LearningDraft, LearningView
from cataloop.errors import Conflict, InvalidInput
from cataloop.ports import ProductStore
from cataloop.services.enrichment import (
    EvaluatorRun,
    ModelCallRecord,
    SupervisorRun,
    WorkerRun,
    final_attributes,
)


class _State(BaseModel):
    model_config = ConfigDict(extra="ignore")


class WorkflowContext(_State):
    """What PrepareContext hands the rest of the workflow."""

    product_id: str
    version: int = Field(ge=1)
    event_id: str
    created: bool
    listing: ProductListing
    learnings: list[LearningView] = Field(default_factory=list)


class GenerateInput(_State):
    role: Literal["generator", "generator_b"]
    listing: ProductListing
    learnings: list[LearningView] = Field(default_factory=list)


class EvaluateInput(_State):
    listing: ProductListing
    learnings: list[LearningView] = Field(default_factory=list)
    runs: list[WorkerRun] = Field(min_length=1)


class ConsensusInput(_State):
    listing: ProductListing
    runs: list[WorkerRun] = Field(min_length=1)
    evaluation: EvaluatorRun


class SuperviseInput(ConsensusInput):
    learnings: list[LearningView] = Field(default_factory=list)
    consensus: ConsensusDecision


class SupervisionOutcome(SupervisorRun):
    """The supervisor's run plus the routing flag the Choice state reads."""

    needs_review: bool
    review_reason: str = ""
    learning_count: int = 0


class PersistInput(_State):
    context: WorkflowContext
    runs: list[WorkerRun] = Field(min_length=1)
    evaluation: EvaluatorRun
    consensus: ConsensusDecision
    supervision: SupervisionOutcome | None = None
    execution_id: str = ""


def review_routing(run: SupervisorRun, confidence_threshold: float) -> SupervisionOutcome:
    """Human review when the supervisor left attributes unresolved or is not confident enough."""
    resolution = run.resolution
    reasons = []
    if resolution.unresolved:
        reasons.append(f"unresolved attributes: {', '.join(resolution.unresolved)}")
    if resolution.confidence < confidence_threshold:
        reasons.append(f"confidence {resolution.confidence:.2f} below {confidence_threshold:.2f}")
    return SupervisionOutcome(
        **run.model_dump(),
        needs_review=bool(reasons),
        review_reason="; ".join(reasons),
        learning_count=len(resolution.learnings),
    )


class PlaceLearningsInput(_State):
    """The MemoryManager state: the supervisor's drafts and where they came from."""

    product_id: str
    event_id: str
    execution_id: str = ""
    drafts: list[LearningDraft] = Field(min_length=1, max_length=10)


def _calls(payload: PersistInput) -> list[ModelCallRecord]:
    calls = [run.call for run in payload.runs] + [payload.evaluation.call]
    if payload.supervision is not None:
        calls.append(payload.supervision.call)
    return calls


def provenance(payload: PersistInput, prices: PriceTable) -> dict[str, Any]:
    """Everything needed to trace an attribute back to the models, prompts and learnings behind it."""
    calls = _calls(payload)
    injected = {view.id: view.version for view in payload.context.learnings}
    used = sorted(
        {i for run in payload.runs for i in run.extraction.learning_ids_used}
        | set(payload.evaluation.report.learning_ids_used)
        | set(payload.supervision.resolution.learning_ids_used if payload.supervision else [])
    )
    return {
        "source_event_id": payload.context.event_id,
        "execution_id": payload.execution_id,
        "decision": payload.consensus.decision,
        "disagreed_attributes": payload.consensus.disagreed_attributes,
        "consensus_reasons": payload.consensus.reasons[:20],
        "workers": [
            {
                "role": run.call.role,
                "model_id": run.call.model_id,
                "extraction": run.extraction.model_dump(mode="json"),
                "dropped": run.dropped,
            }
            for run in payload.runs
        ],
        "evaluator": {
            "model_id": payload.evaluation.call.model_id,
            "verdicts": [v.model_dump(mode="json") for v in payload.evaluation.report.verdicts],
        },
        "supervisor": None
        if payload.supervision is None
        else {
            "model_id": payload.supervision.call.model_id,
            "reason": payload.supervision.resolution.reason,
            "confidence": payload.supervision.resolution.confidence,
            "unresolved": payload.supervision.resolution.unresolved,
            "needs_review": payload.supervision.needs_review,
            "learnings_proposed": len(payload.supervision.resolution.learnings),
        },
        "learnings_injected": [{"id": i, "version": v} for i, v in injected.items()],
        "learnings_used": used,
        "prompts": sorted({f"{c.template_id}@{c.template_version}" for c in calls}),
        "models": sorted({c.model_id for c in calls}),
        "tokens": {
            "input": sum(c.usage.input_tokens for c in calls),
            "output": sum(c.usage.output_tokens for c in calls),
            "by_role": {c.role: c.usage.input_tokens + c.usage.output_tokens for c in calls},
        },
        "modelled_cost": round(sum(prices.cost(c.role, c.usage) for c in calls), 6),
        "truncated_input": any(c.truncated for c in calls),
    }


PERSIST_ATTEMPTS = 3


def persist_enrichment(payload: PersistInput, store: ProductStore, prices: PriceTable) -> dict[str, Any]:
    """Write the enriched product as the next version of the PENDING version this execution owns (the one
    PrepareContext created: PENDING under `context.event_id`; a feedback correction written on top of it
    keeps it so), with its provenance and the feedback history carried forward.

    When the product is no longer PENDING under this event (enriched already, taken over by a re-send or
    revised by a listing update), nothing is written and the result says `stale`: a late re-run never
    writes over a newer version. A concurrent write in between is re-read and re-checked."""
    context = payload.context
    for _ in range(PERSIST_ATTEMPTS):
        current = store.get(context.product_id)
        if current is None:
            raise InvalidInput(f"product {context.product_id} is not stored; PrepareContext must run first")
        if current.status != ProductStatus.PENDING or current.source_event_id != context.event_id:
            return _stale(payload, current.version, current.status.value, current.source_event_id)
        enriched = _enriched(payload, current, prices)
        try:
            written = store.put_version(enriched)  # Conflict when another writer got there first
        except Conflict:
            continue
        trace = enriched.provenance or {}
        return {
            "product_id": written.product_id,
            "version": written.version,
            "status": written.status.value,
            "stale": False,
            "review_dedup_id": f"{written.product_id}#v{written.version}",
            "attributes": sorted((enriched.enrichment or {}).get("attributes") or {}),
            "tokens": trace["tokens"]["input"] + trace["tokens"]["output"],
            "modelled_cost": trace["modelled_cost"],
            "learnings_injected": [item["id"] for item in trace["learnings_injected"]],
        }
    current = store.get(context.product_id)
    return _stale(
        payload,
        current.version if current else 0,
        current.status.value if current else "MISSING",
        current.source_event_id if current else "",
    )


def _enriched(payload: PersistInput, current: StoredProduct, prices: PriceTable) -> StoredProduct:
    supervision = payload.supervision
    attributes = final_attributes(payload.consensus, supervision)
    worker_titles = [run.extraction.search_title for run in payload.runs if run.extraction.search_title]
    keywords = list(dict.fromkeys(k for run in payload.runs for k in run.extraction.keywords))[:30]
    status = (
        ProductStatus.NEEDS_REVIEW
        if supervision is not None and supervision.needs_review
        else ProductStatus.ENRICHED
    )
    trace = provenance(payload, prices)
    history = (current.provenance or {}).get("feedback")
    if history:
        trace["feedback"] = history  # seller and customer corrections stay traceable across re-enrichments
    return current.model_copy(
        update={
            "status": status,
            "updated_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "enrichment": {
                "attributes": {name: value.model_dump(mode="json") for name, value in attributes.items()},
                "search_title": worker_titles[0] if worker_titles else payload.context.listing.title,
                "keywords": keywords,
                "is_food": _is_food(attributes),
            },
            "provenance": trace,
        }
    )


def _stale(payload: PersistInput, version: int, status: str, owner: str) -> dict[str, Any]:
    return {
        "product_id": payload.context.product_id,
        "version": version,
        "status": status,
        "stale": True,
        "review_dedup_id": "",
        "reason": f"product {payload.context.product_id} is {status} at version {version} under event "
        f"{owner}; this run of event {payload.context.event_id} (version {payload.context.version}) "
        "wrote nothing",
        "attributes": [],
        "tokens": 0,
        "modelled_cost": 0.0,
        "learnings_injected": [],
    }


def _is_food(attributes: dict[str, Any]) -> bool | None:
    value = attributes.get("is_food")
    if value is None:
        return None
    text = (value.normalised or value.value).strip().lower()
    return text in ("true", "yes", "1", "food")
