"""Human-review decisions as teachers.

A reviewer decides the value of some attributes of a product: one the supervisor left NEEDS_REVIEW, or one a
feedback claim sent to review. `apply_review_decision` writes the decided values as the product's next
version, status ENRICHED, with the decision in `provenance.feedback` (reviewer, previous and new values):
the same conditional write, re-read on Conflict, as a feedback correction (`feedback_apply.write_corrections`).
Each changed attribute then teaches what a confirmed feedback correction teaches: the learnings that shaped
the overturned value are downvoted (`feedback_apply.downvote_culprits`) and the correction learning
(`corrections.correction_learnings`, source channel `human_review`) is placed by the memory manager
(`feedback_apply.place_drafts` -> `knowledge_base.place_learning`), a learning already known counting one
more supporting decision. A person is corroboration: the learning follows the deployment mode (active in
deploy_and_learn, proposed in learn_then_deploy), like an expert's.

The decision is validated (`ReviewDecision`): attribute names and values are cleaned single lines, a value is
at most MAX_VALUE_CHARS characters, an empty value clears the attribute; an attribute the product's schema
does not know, an unknown product or one still being enriched is `InvalidInput` naming what exists. A value
that cannot be a learned value (`knowledge.learning.value_problem`) still corrects the product but teaches
nothing. `waiting_for_review` lists the NEEDS_REVIEW products with their unresolved attributes.

`review_detail` is one waiting product as a reviewer works it: per attribute under review, the value the
product holds now (the supervisor's resolution, its proposal), each worker's value, the evaluator's verdict
and the distinct candidate values with who proposed them, and the supervisor's reason; it reads the stored
provenance through `product_view.product_report` (the report behind `cataloop product show`). The review
queue's API decides with `waiting_only`: a product that no longer waits for review (decided meanwhile) is a
`Conflict`, an unknown one `NotFound`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from cataloop.domain.catalog.listing import ProductId
from cataloop.domain.catalog.stored import ProductStatus, StoredProduct
from cataloop.domain.enrichment.attributes import AttributeSpec, schema_for
from cataloop.domain.enrichment.extraction import MAX_VALUE_CHARS
from cataloop.domain.feedback.corrections import (
    aggregate_drafts,
    correction_learnings,
    reviewed_judgement,
)
from cataloop.domain.feedback.triage import resolve_attribute
from cataloop.domain.knowledge.tree import DeploymentMode, utc_now
from cataloop.domain.text import clean_name
from cataloop.errors import Conflict, InvalidInput, NotFound
from cataloop.ports import KnowledgeStore, ModelClient, ProductStore
from cataloop.services.feedback import PlacedLearning
from cataloop.services.feedback_apply import downvote_culprits, place_drafts, write_corrections
from cataloop.services.product_view import product_report
from cataloop.validation import parse_as

REVIEW_CHANNEL: Final[Literal["human_review"]] = "human_review"
REVIEW_KIND = "HumanReviewDecision"

MAX_REASON_CHARS = 500

DecidedValue = Annotated[str, StringConstraints(min_length=1, max_length=MAX_VALUE_CHARS)]


class ReviewDecision(BaseModel):
    """What a reviewer decided: attribute (name or concept) -> value, None (or '') to clear it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    product_id: ProductId
    decisions: dict[Annotated[str, StringConstraints(min_length=1, max_length=60)], DecidedValue | None] = (
        Field(min_length=1, max_length=50)
    )
    reviewer: str = Field(min_length=1, max_length=128)
    reason: str = Field(default="", max_length=MAX_REASON_CHARS)

    @field_validator("decisions", mode="before")
    @classmethod
    def _clean_decisions(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        cleaned: dict[Any, Any] = {}
        for name, decided in value.items():
            key = clean_name(name).strip() if isinstance(name, str) else name
            if isinstance(decided, str):
                decided = clean_name(decided).strip() or None
            cleaned[key] = decided
        return cleaned

    @field_validator("reviewer", "reason", mode="before")
    @classmethod
    def _clean_reviewer(cls, value: Any) -> Any:
        return clean_name(value) if isinstance(value, str) else value


class ReviewDecisionResult(BaseModel):
    """What a decision changed and taught."""

    model_config = ConfigDict(frozen=True)

    product_id: str
    version: int
    status: str
    reviewer: str
    decision_id: str
    changed: dict[str, dict[str, str | None]] = Field(default_factory=dict)
    unchanged: list[str] = Field(default_factory=list)
    downvoted: list[str] = Field(default_factory=list)
    retired: list[str] = Field(default_factory=list)
    placed: list[PlacedLearning] = Field(default_factory=list)
    learnings_created: int = 0
    untaught: list[str] = Field(
        default_factory=list, description="changed attributes that teach nothing (cleared, or not a value)"
    )


def _decision_id(product: StoredProduct, decisions: Mapping[str, str | None], reviewer: str) -> str:
    """`HumanReview:<digest>` of the product version decided on, the decisions and the reviewer: the same
    decision sent twice is one decision."""
    digest = hashlib.sha256(
        json.dumps([product.product_id, product.version, sorted(decisions.items()), reviewer]).encode()
    ).hexdigest()[:16]
    return f"HumanReview:{digest}"


def _not_pending(product: StoredProduct) -> None:
    if product.status == ProductStatus.PENDING:
        raise InvalidInput(
            f"product {product.product_id} is PENDING (its enrichment is running or waiting); decide once it "
            "is enriched"
        )


def _waiting(product: StoredProduct) -> None:
    if product.status != ProductStatus.NEEDS_REVIEW:
        raise Conflict(
            f"product {product.product_id} no longer waits for review: it is {product.status.value} at "
            f"version {product.version} (decided meanwhile, or re-enriched)"
        )


def _resolve(decisions: Mapping[str, str | None], product: StoredProduct) -> dict[AttributeSpec, str | None]:
    schema = schema_for(product.listing.category_path)
    resolved: dict[AttributeSpec, str | None] = {}
    for name, value in decisions.items():
        spec = resolve_attribute(name, schema)
        if spec is None:
            raise InvalidInput(
                f"'{name}' is not an attribute of product {product.product_id} (schema {schema.schema_id}); "
                f"its attributes: {', '.join(schema.names)}"
            )
        if spec in resolved:
            raise InvalidInput(f"attribute {spec.name} is decided twice ('{name}')")
        resolved[spec] = value
    return resolved


def apply_review_decision(
    product_id: str,
    decisions: Mapping[str, str | None],
    reviewer: str,
    products: ProductStore,
    knowledge: KnowledgeStore,
    mode: DeploymentMode,
    now: Callable[[], datetime] = utc_now,
    memory_model: ModelClient | None = None,
    *,
    reason: str = "",
    waiting_only: bool = False,
) -> ReviewDecisionResult:
    """Write the reviewer's values as the product's next version (ENRICHED) and teach each changed attribute
    (see the module docstring). InvalidInput for a bad decision, an unknown attribute or a product still
    being enriched; NotFound (an InvalidInput) for an unknown product. `reason` is kept with the decision in
    the product's feedback history. `waiting_only`: only a product in NEEDS_REVIEW may be decided (the
    review queue), anything else is a Conflict. Safe to repeat: the same decision changes nothing the
    second time (with `waiting_only`, the second time is a Conflict: the product no longer waits)."""
    decision = parse_as(
        ReviewDecision,
        {"product_id": product_id, "decisions": dict(decisions), "reviewer": reviewer, "reason": reason},
        "review decision",
    )
    current = products.get(decision.product_id)
    if current is None:
        raise NotFound(
            f"product {decision.product_id} is not in the catalog (`cataloop review list` shows the products "
            "waiting for review)"
        )
    check = _waiting if waiting_only else _not_pending
    check(current)
    resolved = _resolve(decision.decisions, current)
    listing = current.listing
    attributes = (current.enrichment or {}).get("attributes") or {}
    judgements = [
        reviewed_judgement(
            spec, listing, (attributes.get(spec.name) or {}).get("value"), value, decision.reviewer
        )
        for spec, value in resolved.items()
    ]
    decision_id = _decision_id(current, {s.name: v for s, v in resolved.items()}, decision.reviewer)
    entry = {
        "signal_id": decision_id,
        "kind": REVIEW_KIND,
        "channel": REVIEW_CHANNEL,
        "reviewer": decision.reviewer,
        "previous_status": current.status.value,
        "previous_version": current.version,
    }
    if decision.reason:
        entry["reason"] = decision.reason
    written, changed = write_corrections(
        products,
        current.product_id,
        judgements,
        entry,
        now(),
        keep_changed=False,
        status=ProductStatus.ENRICHED,
        check=check,
    )
    schema = schema_for(listing.category_path)
    taught = [
        judgement.model_copy(update={"wrong_value": changed[judgement.attribute]["old"]})
        for judgement in judgements
        if judgement.attribute in changed
    ]
    evidence = f"{decision_id}: reviewed by {decision.reviewer}"
    drafts: list[tuple[str, Any]] = []
    untaught: list[str] = []
    for judgement in taught:
        found = correction_learnings(
            judgement, schema, listing.category_path, REVIEW_CHANNEL, listing.product_id, evidence
        )
        if not found:
            untaught.append(judgement.attribute)
        drafts.extend((decision_id, draft) for draft in found)
    actor = f"{REVIEW_CHANNEL}:{decision.reviewer}"[:128]
    downvoted, retired = downvote_culprits(
        taught,
        [str(i) for i in (written.provenance or {}).get("learnings_used") or []],
        knowledge,
        signal_id=decision_id,
        actor=actor,
        now=now,
    )
    placed, created = place_drafts(
        [item.draft for item in aggregate_drafts(drafts)],
        knowledge,
        mode,
        memory_model,
        now,
        signal_id=decision_id,
        actor=actor,
    )
    return ReviewDecisionResult(
        product_id=written.product_id,
        version=written.version,
        status=written.status.value,
        reviewer=decision.reviewer,
        decision_id=decision_id,
        changed=changed,
        unchanged=[spec.name for spec in resolved if spec.name not in changed],
        downvoted=downvoted,
        retired=retired,
        placed=placed,
        learnings_created=created,
        untaught=untaught,
    )


class ReviewItem(BaseModel):
    """A product waiting for a reviewer: what the supervisor could not settle, and the current values."""

    model_config = ConfigDict(frozen=True)

    product_id: str
    version: int
    title: str
    category_path: list[str]
    unresolved: list[str]
    disputed: list[str]
    reason: str = ""
    values: dict[str, str | None] = Field(default_factory=dict)


def waiting_for_review(products: ProductStore) -> list[ReviewItem]:
    """Every NEEDS_REVIEW product (the store reads only those), with its unresolved attributes first. The
    store's review index may lag a write by a moment, so the status is checked again here."""
    items = [
        _review_item(product)
        for page in products.waiting_for_review()
        for product in page
        if product.status == ProductStatus.NEEDS_REVIEW
    ]
    return sorted(items, key=lambda item: item.product_id)


class WorkerValue(BaseModel):
    """What one worker (generator) extracted for an attribute."""

    model_config = ConfigDict(frozen=True)

    role: str
    model_id: str | None = None
    value: str | None = None
    confidence: float | None = None
    evidence: str | None = None


class CandidateValue(BaseModel):
    """One distinct value a reviewer may pick, with who proposed it (worker roles, 'evaluator' for its
    suggestion, 'supervisor' for the value the product holds now)."""

    model_config = ConfigDict(frozen=True)

    value: str
    sources: list[str]


class AttributeUnderReview(BaseModel):
    """One attribute of a waiting product, with everything the pipeline said about it."""

    model_config = ConfigDict(frozen=True)

    name: str
    unresolved: bool = False
    disputed: bool = False
    proposal: str | None = Field(
        default=None, description="the value the product holds now (the supervisor's resolution)"
    )
    proposal_confidence: float | None = None
    workers: list[WorkerValue] = Field(default_factory=list)
    verdict: str | None = Field(default=None, description="the evaluator's verdict (ok, ambiguous, ...)")
    verdict_reason: str | None = None
    suggested_value: str | None = None
    candidates: list[CandidateValue] = Field(default_factory=list)


class ReviewDetail(BaseModel):
    """One product waiting for review, as a reviewer works it."""

    model_config = ConfigDict(frozen=True)

    item: ReviewItem
    decision: str | None = None
    consensus_reasons: list[str] = Field(default_factory=list)
    supervisor: dict[str, Any] | None = None
    attributes: list[AttributeUnderReview]
    schema_attributes: list[str] = Field(
        default_factory=list, description="every attribute of the product's schema (any may be decided)"
    )


def _review_item(product: StoredProduct) -> ReviewItem:
    provenance = product.provenance or {}
    supervisor = provenance.get("supervisor") or {}
    unresolved = [str(name) for name in supervisor.get("unresolved") or []]
    disputed = [str(name) for name in provenance.get("disagreed_attributes") or []]
    attributes = (product.enrichment or {}).get("attributes") or {}
    shown = list(dict.fromkeys([*unresolved, *disputed]))
    confidence = supervisor.get("confidence")
    reason = str(supervisor.get("reason") or "")
    if confidence is not None:
        reason = f"{reason} (confidence {confidence})".strip()
    return ReviewItem(
        product_id=product.product_id,
        version=product.version,
        title=product.listing.title,
        category_path=list(product.listing.category_path),
        unresolved=unresolved,
        disputed=disputed,
        reason=reason,
        values={name: (attributes.get(name) or {}).get("value") for name in shown},
    )


def _value(entry: Any) -> str | None:
    value = entry.get("value") if isinstance(entry, Mapping) else entry
    return None if value is None or value == "" else str(value)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _evidence_text(entry: Any) -> str | None:
    span = entry.get("evidence") if isinstance(entry, Mapping) else None
    if not isinstance(span, Mapping) or not span.get("text"):
        return None
    return f"{span.get('field', '?')}[{span.get('start')}:{span.get('end')}] {span['text']}"


def _under_review(name: str, item: ReviewItem, report: Mapping[str, Any]) -> AttributeUnderReview:
    current = (report.get("attributes") or {}).get(name)
    workers = []
    for worker in report.get("workers") or []:
        if not isinstance(worker, Mapping):
            continue
        extracted = ((worker.get("extraction") or {}).get("attributes") or {}).get(name)
        workers.append(
            WorkerValue(
                role=str(worker.get("role") or "worker"),
                model_id=worker.get("model_id"),
                value=_value(extracted),
                confidence=_number(extracted.get("confidence")) if isinstance(extracted, Mapping) else None,
                evidence=_evidence_text(extracted),
            )
        )
    evaluator = report.get("evaluator") or {}
    verdict = next(
        (
            v
            for v in (evaluator.get("verdicts") or [] if isinstance(evaluator, Mapping) else [])
            if isinstance(v, Mapping) and v.get("attribute") == name
        ),
        None,
    )
    proposal = _value(current)
    suggested = _value(verdict.get("suggested_value")) if verdict else None
    sources: dict[str, list[str]] = {}
    for worker_value in workers:
        if worker_value.value is not None:
            sources.setdefault(worker_value.value, []).append(worker_value.role)
    if suggested is not None:
        sources.setdefault(suggested, []).append("evaluator")
    if proposal is not None:
        sources.setdefault(proposal, []).append("supervisor")
    return AttributeUnderReview(
        name=name,
        unresolved=name in item.unresolved,
        disputed=name in item.disputed,
        proposal=proposal,
        proposal_confidence=_number(current.get("confidence")) if isinstance(current, Mapping) else None,
        workers=workers,
        verdict=str(verdict["verdict"]) if verdict and verdict.get("verdict") else None,
        verdict_reason=str(verdict["reason"]) if verdict and verdict.get("reason") else None,
        suggested_value=suggested,
        candidates=[CandidateValue(value=value, sources=who) for value, who in sources.items()],
    )


def review_detail(products: ProductStore, knowledge: KnowledgeStore | None, product_id: str) -> ReviewDetail:
    """One product waiting for review with its attributes under review: the unresolved and disputed ones,
    or, when the supervisor named none, every attribute a worker or the product holds. NotFound for an
    unknown product, Conflict for one that does not wait for review (any more)."""
    stored = products.get(product_id)
    if stored is None:
        raise NotFound(f"product {product_id} is not in the catalog")
    _waiting(stored)
    item = _review_item(stored)
    report = product_report(stored, knowledge)
    names = list(dict.fromkeys([*item.unresolved, *item.disputed]))
    if not names:
        extracted = [
            name
            for worker in report.get("workers") or []
            if isinstance(worker, Mapping)
            for name in ((worker.get("extraction") or {}).get("attributes") or {})
        ]
        names = sorted({*report.get("attributes", {}), *extracted})
    supervisor = report.get("supervisor")
    return ReviewDetail(
        item=item,
        decision=report.get("decision"),
        consensus_reasons=[str(reason) for reason in report.get("consensus_reasons") or []],
        supervisor=dict(supervisor) if isinstance(supervisor, Mapping) else None,
        attributes=[_under_review(name, item, report) for name in names],
        schema_attributes=list(schema_for(stored.listing.category_path).names),
    )
