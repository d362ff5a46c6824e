"""LearnFromFeedback use cases: read a feedback event, triage it against the product's extraction, resolve it
with the supervisor, then correct the product, downvote the learnings behind the error and place the new
learnings (the memory manager), counting every supporting signal.

One function per workflow state: `triage_feedback` (LearnTriage), `resolve_feedback` (LearnResolve),
`apply_feedback` (LearnApply). Every write in `apply_feedback` checks what it is about to change, so a
retried state changes nothing twice; the handler also makes the whole step idempotent per signal id.

Corroboration (the rule is in `domain.feedback.corrections`): a customer claim the listing neither states nor
contradicts is recorded on the product (`provenance.feedback_claims`: signal, attribute, normalised claim,
reporter) and sent to review; once CORROBORATING_REPORTERS distinct customers made the same claim, the next
one corrects the product. Learnings from seller feedback, and from customer feedback that was not
corroborated, are placed `proposed` whatever the deployment mode (`domain.knowledge.changes`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cataloop.domain.catalog.listing import ProductListing
from cataloop.domain.catalog.stored import StoredProduct
from cataloop.domain.enrichment.attributes import schema_for
from cataloop.domain.enrichment.extraction import MAX_VALUE_CHARS, SupervisorResolution
from cataloop.domain.enrichment.normalisation import normalise_value
from cataloop.domain.enrichment.prompting import data_block, prepare_product_data, render_supervisor
from cataloop.domain.feedback.corrections import (
    ClaimJudgement,
    aggregate_drafts,
    correction_learnings,
    judge_claim,
)
from cataloop.domain.feedback.signals import (
    EVENT_MODELS,
    EVENT_SOURCES,
    FeedbackSignal,
    describe_feedback_error,
    signal_of,
)
from cataloop.domain.feedback.triage import TriageDecision, extracted_values, resolve_attribute, triage
from cataloop.domain.knowledge.learning import LearningDraft
from cataloop.domain.model_calls import ModelRequest, PromptText
from cataloop.errors import InvalidInput, ModelError
from cataloop.ports import ModelClient, ProductStore

logger = logging.getLogger(__name__)

MAX_FEEDBACK_HISTORY = 50
MAX_PENDING_CLAIMS = 100
SUPPORT_ATTEMPTS = 5


class FeedbackProduct(BaseModel):
    """What triage read of the product: its listing, its extraction and the learnings behind it."""

    model_config = ConfigDict(extra="ignore")

    product_id: str
    version: int = Field(ge=1)
    listing: ProductListing
    extracted: dict[str, str] | None = None
    learnings_used: list[str] = Field(default_factory=list)
    applied_signals: list[str] = Field(default_factory=list)
    pending_claims: list[dict[str, str]] = Field(default_factory=list, max_length=MAX_PENDING_CLAIMS)


class TriageOutput(BaseModel):
    """LearnTriage state output (and the shared part of the later states' input)."""

    model_config = ConfigDict(extra="ignore")

    signal: FeedbackSignal
    product: FeedbackProduct
    triage: TriageDecision


class FeedbackResolution(BaseModel):
    """LearnResolve state output: a judgement per suspect, the learnings to place, and the review routing."""

    model_config = ConfigDict(extra="ignore")

    judgements: list[ClaimJudgement]
    drafts: list[LearningDraft] = Field(default_factory=list, max_length=20)
    supervisor_model_id: str = ""
    needs_review: bool
    review_reason: str = ""


class ApplyInput(TriageOutput):
    resolution: FeedbackResolution
    execution_id: str = ""


class PlacedLearning(BaseModel):
    model_config = ConfigDict(frozen=True)

    action: str
    node_path: list[str]
    learning_ids: list[str]
    support_count: int | None = None


class FeedbackOutcome(BaseModel):
    """What one signal changed: the product version written, the votes cast, the learnings placed."""

    model_config = ConfigDict(frozen=True)

    signal_id: str
    channel: str
    kind: str
    product_id: str
    product_version: int | None = None
    corrected: list[str] = Field(default_factory=list)
    rejected: list[str] = Field(
        default_factory=list,
        description="attributes whose claim the listing contradicts (rejected, or for a customer sent to a "
        "person): nothing rewritten, nothing learned",
    )
    downvoted: list[str] = Field(default_factory=list)
    retired: list[str] = Field(default_factory=list)
    placed: list[PlacedLearning] = Field(default_factory=list)
    learnings_created: int = 0
    needs_review: bool = False
    review_reason: str = ""


# ------------------------------------------------------------------------------------------------- triage


def read_feedback_event(raw: Any) -> FeedbackSignal:
    """The signal of a feedback event envelope; InvalidInput naming the detail-type, source or fields to fix."""
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"feedback event must be a JSON object, got {type(raw).__name__}")
    detail_type = raw.get("detail-type")
    model = EVENT_MODELS.get(str(detail_type))
    if model is None:
        raise InvalidInput(
            f"unsupported feedback detail-type {detail_type!r}; expected one of {sorted(EVENT_MODELS)}"
        )
    expected_source = EVENT_SOURCES[str(detail_type)]
    if raw.get("source") != expected_source:
        raise InvalidInput(
            f"{detail_type} events must come from source {expected_source!r}, not {raw.get('source')!r}"
        )
    try:
        event = model.model_validate(raw)
    except ValidationError as error:
        raise InvalidInput(f"invalid {detail_type} event: {describe_feedback_error(error)}") from None
    return signal_of(event)


def feedback_product(stored: StoredProduct) -> FeedbackProduct:
    provenance = stored.provenance or {}
    history = provenance.get("feedback") or []
    return FeedbackProduct(
        product_id=stored.product_id,
        version=stored.version,
        listing=stored.listing,
        extracted=extracted_values(stored.enrichment),
        learnings_used=[str(i) for i in provenance.get("learnings_used") or []],
        applied_signals=[str(entry.get("signal_id")) for entry in history if isinstance(entry, Mapping)],
        pending_claims=[
            {key: str(entry.get(key) or "") for key in ("signal_id", "attribute", "claim", "reporter")}
            for entry in (provenance.get("feedback_claims") or [])[-MAX_PENDING_CLAIMS:]
            if isinstance(entry, Mapping)
        ],
    )


def triage_feedback(signal: FeedbackSignal, products: ProductStore) -> TriageOutput:
    """Load the product and its extraction provenance and decide whether the signal points at an extraction
    error. InvalidInput when the product is unknown (nothing to learn from; the event is wrong)."""
    stored = products.get(signal.product_id)
    if stored is None:
        raise InvalidInput(
            f"{signal.kind} {signal.signal_id} is about product {signal.product_id}, which is not in the catalog"
        )
    product = feedback_product(stored)
    decision = triage(
        signal, schema_for(product.listing.category_path), product.extracted, product.applied_signals
    )
    return TriageOutput(signal=signal, product=product, triage=decision)


# ------------------------------------------------------------------------------------------------ resolve


def _supervisor_request(state: TriageOutput) -> ModelRequest:
    """The supervisor's usual disagreement request, with the feedback as the second candidate and as a
    delimited data block: the model judges the claim the way it judges a worker's reading."""
    listing = state.product.listing
    schema = schema_for(listing.category_path)
    product = prepare_product_data(listing)
    current = {
        name: {"value": value, "confidence": 0.5} for name, value in (state.product.extracted or {}).items()
    }
    claimed = {
        s.attribute: {"value": s.claimed, "confidence": 0.5} for s in state.triage.suspects if s.claimed
    }
    candidates: list[dict[str, Any]] = [
        {"role": "extraction", "extraction": {"attributes": current}},
        {"role": state.signal.channel, "extraction": {"attributes": claimed}},
    ]
    disputed = [s.attribute for s in state.triage.suspects]
    feedback = {
        "kind": state.signal.kind,
        "channel": state.signal.channel,
        "reason_code": state.signal.reason_code,
        "text": state.signal.text,
        "suspects": [s.model_dump(mode="json") for s in state.triage.suspects],
    }
    base = render_supervisor(product, schema, candidates, None, "DISAGREE", disputed)
    prompt = PromptText(
        template_id=base.template_id,
        template_version=base.template_version,
        system=base.system,
        user=base.user + f"\n<feedback_data>\n{data_block(feedback)}\n</feedback_data>",
    )
    payload = {
        "product": product.model_dump(mode="json"),
        "schema": schema.model_dump(mode="json"),
        "learnings": [],
        "candidates": candidates,
        "evaluation": None,
        "decision": "DISAGREE",
        "disagreed_attributes": disputed,
        "agreed_values": {n: v for n, v in current.items() if n not in disputed},
        "source_channel": state.signal.channel,
        "feedback": feedback,
    }
    return ModelRequest(role="supervisor", prompt=prompt, payload=payload)


def _agreeing_reporters(state: TriageOutput, attribute: str, claimed: str | None, kind: str) -> set[str]:
    """The other customers who already made this claim on this product (see the module docstring)."""
    if claimed is None or state.signal.channel != "customer_feedback":
        return set()
    wanted = normalise_value(claimed, kind)[:MAX_VALUE_CHARS]
    return {
        entry["reporter"]
        for entry in state.product.pending_claims
        if entry.get("attribute") == attribute
        and entry.get("claim") == wanted
        and entry.get("reporter")
        and entry.get("signal_id") != state.signal.signal_id
    }


def resolve_feedback(state: TriageOutput, model: ModelClient, review_threshold: float) -> FeedbackResolution:
    """Judge each suspect with the supervisor's reading and the listing; write the learnings for confirmed
    corrections. Human review when a suspect stays unsure or a correction is below `review_threshold`."""
    listing = state.product.listing
    schema = schema_for(listing.category_path)
    response = model.invoke(_supervisor_request(state), SupervisorResolution)
    try:
        resolution = SupervisorResolution.model_validate(response.output.model_dump(mode="json"))
    except ValidationError as error:
        raise ModelError(f"supervisor output does not match SupervisorResolution: {error}") from None
    judgements: list[ClaimJudgement] = []
    drafts: list[LearningDraft] = []
    for suspect in state.triage.suspects:
        spec = resolve_attribute(suspect.attribute, schema)
        if spec is None:
            continue
        read = resolution.attributes.get(spec.name)
        judgement = judge_claim(
            suspect,
            spec,
            listing,
            state.signal.channel,
            None if read is None or spec.name in resolution.unresolved else read.value,
            resolution.confidence,
            reporter=state.signal.reporter,
            agreeing_reporters=_agreeing_reporters(state, spec.name, suspect.claimed, spec.kind),
        )
        judgements.append(judgement)
        drafts.extend(
            correction_learnings(
                judgement,
                schema,
                listing.category_path,
                state.signal.channel,
                listing.product_id,
                f"{state.signal.signal_id}: {state.signal.text}"
                if state.signal.text
                else state.signal.signal_id,
            )
        )
    reasons = [f"{j.attribute}: {j.reason}" for j in judgements if j.verdict == "unsure"]
    reasons += [
        f"{j.attribute}: correction confidence {j.confidence:.2f} below {review_threshold:.2f}"
        for j in judgements
        if j.verdict == "correct" and j.confidence < review_threshold
    ]
    return FeedbackResolution(
        judgements=judgements,
        drafts=[item.draft for item in aggregate_drafts((state.signal.signal_id, d) for d in drafts)],
        supervisor_model_id=response.model_id,
        needs_review=bool(reasons),
        review_reason="; ".join(reasons)[:2000],
    )


# -------------------------------------------------------------------------------------------------- apply
