"""Seller and customer feedback as disagreement signals: event details, triage and correction rules.

Workers that disagree show some errors; sellers (disputes, listing updates) and customers (returns, negative
reviews) show the errors every worker agreed on. Each event becomes one `FeedbackSignal`; `triage` decides
whether it points at an extracted attribute (a "size runs small" return against an extracted size, a dispute
on the pack count) or not (late delivery, taste); `judge_claim` decides whether a claimed value corrects the
extraction; `correction_learnings` writes the learning that would have prevented the error; `culprits` names
the learnings that shaped the wrong value; `aggregate_drafts` folds many signals that teach the same thing
into one learning with a support count. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Any, Literal

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from cataloop.domain.catalog.listing import ProductId, ProductListing
from cataloop.domain.enrichment.attributes import AttributeSchema, AttributeSpec
from cataloop.domain.enrichment.extraction import MAX_VALUE_CHARS, AttributeValue, EvidenceSpan
from cataloop.domain.enrichment.normalisation import normalise_text, normalise_value
from cataloop.domain.knowledge.learning import (
    LearningDraft,
    LearningProvenance,
    directive_key,
    directive_terms,
)
from cataloop.domain.knowledge.tree import INITIAL_VOTES, Learning, path_key

SOURCE_SELLER = "cataloop.seller"
SOURCE_CUSTOMER = "cataloop.customer"

FeedbackKind = Literal["SellerDisputeFiled", "ListingUpdated", "ProductReturned", "NegativeReviewPosted"]
FeedbackChannel = Literal["seller_feedback", "customer_feedback"]
SignalId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]

# A learning that produced a value a confirmed correction overturned loses this many votes: a fresh learning
# (INITIAL_VOTES) is retired by one confirmed correction, one with accumulated support survives it.
CULPRIT_PENALTY = INITIAL_VOTES
# A learning that was used on the attribute but did not itself produce the wrong value loses one.
BYSTANDER_PENALTY = 1
SELLER_CLAIM_CONFIDENCE = 0.85
CUSTOMER_CLAIM_CONFIDENCE = 0.7
CONFIDENT_SUPERVISOR = 0.75

# ------------------------------------------------------------------------------------------ event details


class SellerDisputeFiledDetail(BaseModel):
    """A seller says one extracted attribute is wrong and what it should be."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    dispute_id: SignalId
    product_id: ProductId
    seller_id: str = Field(min_length=1, max_length=128)
    attribute: str = Field(min_length=1, max_length=60, description="attribute name as shown to the seller")
    claimed_value: str = Field(min_length=1, max_length=MAX_VALUE_CHARS)
    evidence: str = Field(default="", max_length=2000, description="why the seller says so (free text)")


class FieldChange(BaseModel):
    """One changed listing field: a listing field (title, brand, ...) or an attribute name."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    field: str = Field(min_length=1, max_length=60)
    old: str | None = Field(default=None, max_length=5000)
    new: str | None = Field(default=None, max_length=5000)


class ListingUpdatedDetail(BaseModel):
    """A seller changed fields of a listing (old and new values)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    update_id: SignalId
    product_id: ProductId
    seller_id: str = Field(min_length=1, max_length=128)
    changes: list[FieldChange] = Field(min_length=1, max_length=50)


ReturnReason = Literal[
    "SIZE_TOO_SMALL",
    "SIZE_TOO_LARGE",
    "WRONG_SIZE",
    "WRONG_QUANTITY",
    "WRONG_COLOR",
    "WRONG_FLAVOR",
    "WRONG_MATERIAL",
    "NOT_COMPATIBLE",
    "NOT_AS_DESCRIBED",
    "LATE_DELIVERY",
    "DAMAGED_IN_TRANSIT",
    "DEFECTIVE",
    "CHANGED_MIND",
    "DISLIKED_TASTE",
    "FOUND_BETTER_PRICE",
    "OTHER",
]


class ProductReturnedDetail(BaseModel):
    """A customer returned the product: a reason code and free text."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    return_id: SignalId
    product_id: ProductId
    order_id: str | None = Field(default=None, max_length=128)
    reason_code: ReturnReason
    text: str = Field(default="", max_length=2000)


class NegativeReviewPostedDetail(BaseModel):
    """A customer posted a review of 1-3 stars (4-5 star reviews are not sent as negative)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    review_id: SignalId
    product_id: ProductId
    rating: int = Field(ge=1, le=3)
    text: str = Field(min_length=1, max_length=5000)


class SellerDisputeFiledEvent(EventBridgeModel):
    detail: SellerDisputeFiledDetail


class ListingUpdatedEvent(EventBridgeModel):
    detail: ListingUpdatedDetail


class ProductReturnedEvent(EventBridgeModel):
    detail: ProductReturnedDetail


class NegativeReviewPostedEvent(EventBridgeModel):
    detail: NegativeReviewPostedDetail


FeedbackEvent = (
    SellerDisputeFiledEvent | ListingUpdatedEvent | ProductReturnedEvent | NegativeReviewPostedEvent
)
EVENT_MODELS: dict[str, type[FeedbackEvent]] = {
    "SellerDisputeFiled": SellerDisputeFiledEvent,
    "ListingUpdated": ListingUpdatedEvent,
    "ProductReturned": ProductReturnedEvent,
    "NegativeReviewPosted": NegativeReviewPostedEvent,
}
EVENT_SOURCES: dict[str, str] = {
    "SellerDisputeFiled": SOURCE_SELLER,
    "ListingUpdated": SOURCE_SELLER,
    "ProductReturned": SOURCE_CUSTOMER,
    "NegativeReviewPosted": SOURCE_CUSTOMER,
}

# ------------------------------------------------------------------------------------------------ signals


class AttributeClaim(BaseModel):
    """What a signal says about one attribute: its name as the sender wrote it and, when known, the value."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    attribute: str = Field(min_length=1, max_length=60)
    claimed_value: str | None = Field(default=None, max_length=MAX_VALUE_CHARS)
    previous_value: str | None = Field(default=None, max_length=5000)


class FeedbackSignal(BaseModel):
    """One feedback event in the form the LearnFromFeedback workflow passes between states."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    signal_id: str = Field(min_length=1, max_length=160, description="kind:sender id; the idempotency key")
    kind: FeedbackKind
    channel: FeedbackChannel
    event_id: str = Field(min_length=1, max_length=128)
    product_id: ProductId
    claims: list[AttributeClaim] = Field(default_factory=list, max_length=50)
    other_fields: list[str] = Field(default_factory=list, max_length=50)
    reason_code: str | None = None
    rating: int | None = None
    text: str = Field(default="", max_length=5000)


def signal_of(event: FeedbackEvent) -> FeedbackSignal:
    """The workflow's view of a validated feedback event."""
    detail = event.detail
    common: dict[str, Any] = {"event_id": event.id, "product_id": detail.product_id}
    if isinstance(detail, SellerDisputeFiledDetail):
        return FeedbackSignal(
            signal_id=f"SellerDisputeFiled:{detail.dispute_id}",
            kind="SellerDisputeFiled",
            channel="seller_feedback",
            claims=[AttributeClaim(attribute=detail.attribute, claimed_value=detail.claimed_value)],
            text=detail.evidence,
            **common,
        )
    if isinstance(detail, ListingUpdatedDetail):
        claims = [
            AttributeClaim(
                attribute=change.field,
                claimed_value=(change.new or "")[:MAX_VALUE_CHARS] or None,
                previous_value=change.old,
            )
            for change in detail.changes
        ]
        return FeedbackSignal(
            signal_id=f"ListingUpdated:{detail.update_id}",
            kind="ListingUpdated",
            channel="seller_feedback",
            claims=claims,
            **common,
        )
    if isinstance(detail, ProductReturnedDetail):
        return FeedbackSignal(
            signal_id=f"ProductReturned:{detail.return_id}",
            kind="ProductReturned",
            channel="customer_feedback",
            reason_code=detail.reason_code,
            text=detail.text,
            **common,
        )
    return FeedbackSignal(
        signal_id=f"NegativeReviewPosted:{detail.review_id}",
        kind="NegativeReviewPosted",
        channel="customer_feedback",
        rating=detail.rating,
        text=detail.text,
        **common,
    )


def describe_feedback_error(error: ValidationError) -> str:
    """`field: message` for the first problems of an invalid feedback event."""
    return "; ".join(
        f"{'.'.join(str(p) for p in item['loc']) or '(root)'}: {item['msg']}" for item in error.errors()[:8]
    )


# ------------------------------------------------------------------------------------------------- triage

# Return reasons that name the attribute concepts they are about; the ones absent here are read from the text.
RETURN_REASON_CONCEPTS: dict[str, tuple[str, ...]] = {
    "SIZE_TOO_SMALL": ("size",),
    "SIZE_TOO_LARGE": ("size",),
    "WRONG_SIZE": ("size",),
    "WRONG_QUANTITY": ("pack_count", "net_content"),
    "WRONG_COLOR": ("color",),
    "WRONG_FLAVOR": ("flavor",),
    "WRONG_MATERIAL": ("material",),
    "NOT_COMPATIBLE": ("compatibility",),
}
# Reasons about delivery, condition or taste: nothing an extraction could have got wrong.
NOT_EXTRACTION_REASONS: dict[str, str] = {
    "LATE_DELIVERY": "late delivery is a logistics problem, not an attribute",
    "DAMAGED_IN_TRANSIT": "damage in transit is a logistics problem, not an attribute",
    "DEFECTIVE": "a defective unit is a quality problem, not an attribute",
    "CHANGED_MIND": "the customer changed their mind",
    "DISLIKED_TASTE": "taste is an opinion, not an attribute",
    "FOUND_BETTER_PRICE": "price shopping says nothing about the attributes",
}
# Words in free text that point at an attribute concept (English and Korean).
TEXT_CUES: dict[str, tuple[str, ...]] = {
    "size": ("size", "runs small", "runs large", "too small", "too big", "too tight", "사이즈", "치수"),
    "pack_count": ("pack", "count", "pieces", "pcs", "only got", "only received", "개입", "수량", "개수"),
    "net_content": ("ounce", "oz", "ml", "gram", "volume", "용량", "중량"),
    "color": ("color", "colour", "색상"),
    "flavor": ("flavor", "flavour", "scent"),
    "material": ("material", "fabric", "leather", "소재"),
    "compatibility": ("compatible", "does not fit my", "doesn't fit my", "호환"),
    "brand": ("brand", "counterfeit", "fake", "브랜드"),
}
# Listing fields that are also an attribute concept; other listing fields are text the workers read.
LISTING_FIELD_CONCEPTS = {"brand": "brand"}
_RECEIVED = re.compile(
    r"(?:received|got|only|had|contained|came with|actually|arrived with|box had)\s+(?:a\s+|an\s+)?"
    r"(?P<value>(?:pack\s+of\s+\d+|\d+(?:[.,]\d+)?\s?-?\s?[A-Za-z가-힣]*))",
    re.IGNORECASE,
)


class Suspect(BaseModel):
    """An extracted attribute a signal points at: what was extracted and what the signal claims."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    attribute: str
    extracted: str | None = None
    claimed: str | None = None
    reason: str = Field(min_length=1, max_length=500)


class TriageDecision(BaseModel):
    """Whether a signal points at an extraction error, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    relevant: bool
    reason: str = Field(min_length=1, max_length=1000)
    suspects: list[Suspect] = Field(default_factory=list)


def _folded_name(name: str) -> str:
    return normalise_text(name).replace("_", " ").replace("-", " ")


def resolve_attribute(name: str, schema: AttributeSchema) -> AttributeSpec | None:
    """The schema attribute a sender means by `name`: its name or its concept, ignoring case, '_' and '-'."""
    wanted = _folded_name(name)
    for spec in schema.attributes:
        if _folded_name(spec.name) == wanted:
            return spec
    for spec in schema.attributes:
        if spec.concept and _folded_name(spec.concept) == wanted:
            return spec
    return None


def _same(left: str | None, right: str | None, spec: AttributeSpec) -> bool:
    if left is None or right is None:
        return left is right
    return normalise_value(left, spec.kind) == normalise_value(right, spec.kind)


def claimed_value_in_text(text: str, spec: AttributeSpec) -> str | None:
    """A quantity a customer says they actually received ("box had 6 bars", "only got a pack of 2")."""
    if spec.kind not in ("count", "quantity"):
        return None
    match = _RECEIVED.search(text)
    return match.group("value").strip() if match else None


def _cued_concepts(text: str) -> list[str]:
    folded = normalise_text(text)
    return [
        concept
        for concept, cues in TEXT_CUES.items()
        if any(re.search(rf"(?<![\w]){re.escape(cue)}(?![\w])", folded) for cue in cues)
    ]


def _suspects_for_concepts(
    concepts: Sequence[str], text: str, schema: AttributeSchema, extracted: Mapping[str, str], why: str
) -> list[Suspect]:
    found: list[Suspect] = []
    for concept in concepts:
        spec = schema.by_concept(concept)
        if spec is None or spec.name not in extracted:
            continue  # nothing extracted for it: the signal cannot point at an extraction error there
        claimed = claimed_value_in_text(text, spec)
        if claimed is not None and _same(claimed, extracted[spec.name], spec):
            continue
        found.append(
            Suspect(attribute=spec.name, extracted=extracted[spec.name], claimed=claimed, reason=why)
        )
    return found


def triage(
    signal: FeedbackSignal,
    schema: AttributeSchema,
    extracted: Mapping[str, str] | None,
    applied_signals: Iterable[str] = (),
) -> TriageDecision:
    """Does `signal` point at an error in `extracted` (attribute -> value; None when the product has no
    extraction yet)? `applied_signals` are the signal ids already applied to the product (duplicates)."""
    if signal.signal_id in set(applied_signals):
        return TriageDecision(relevant=False, reason=f"duplicate: {signal.signal_id} was already applied")
    if extracted is None:
        return TriageDecision(
            relevant=False, reason=f"product {signal.product_id} has no extraction yet; nothing to correct"
        )
    if signal.kind in ("SellerDisputeFiled", "ListingUpdated"):
        return _triage_claims(signal, schema, extracted)
    if signal.kind == "ProductReturned":
        code = signal.reason_code or "OTHER"
        if code in NOT_EXTRACTION_REASONS:
            return TriageDecision(
                relevant=False, reason=f"return reason {code}: {NOT_EXTRACTION_REASONS[code]}"
            )
        concepts = RETURN_REASON_CONCEPTS.get(code) or tuple(_cued_concepts(signal.text))
        why = f"return reason {code}" + (f": {signal.text[:200]}" if signal.text else "")
    else:
        concepts = tuple(_cued_concepts(signal.text))
        why = f"{signal.rating}-star review: {signal.text[:200]}"
    suspects = _suspects_for_concepts(concepts, signal.text, schema, extracted, why[:500])
    if not suspects:
        named = ", ".join(concepts) or "no attribute"
        return TriageDecision(
            relevant=False, reason=f"{signal.kind} names {named}, which matches no extracted attribute"
        )
    names = ", ".join(s.attribute for s in suspects)
    return TriageDecision(
        relevant=True, reason=f"{signal.kind} points at extracted {names}", suspects=suspects
    )


def _triage_claims(
    signal: FeedbackSignal, schema: AttributeSchema, extracted: Mapping[str, str]
) -> TriageDecision:
    suspects: list[Suspect] = []
    notes: list[str] = []
    for claim in signal.claims:
        concept = LISTING_FIELD_CONCEPTS.get(_folded_name(claim.attribute))
        spec = schema.by_concept(concept) if concept else resolve_attribute(claim.attribute, schema)
        if spec is None:
            notes.append(f"'{claim.attribute}' is not an attribute of schema {schema.schema_id}")
            continue
        current = extracted.get(spec.name)
        if claim.claimed_value is None:
            notes.append(f"{spec.name} was cleared by the seller")
            continue
        if _same(claim.claimed_value, current, spec):
            notes.append(f"{spec.name} is already extracted as '{current}'")
            continue
        suspects.append(
            Suspect(
                attribute=spec.name,
                extracted=current,
                claimed=claim.claimed_value,
                reason=f"{signal.kind}: seller says {spec.name} is '{claim.claimed_value}', extracted "
                + (f"'{current}'" if current is not None else "nothing"),
            )
        )
    if not suspects:
        known = ", ".join(schema.names)
        return TriageDecision(
            relevant=False,
            reason=("; ".join(notes) or "no attribute claims") + f" (attributes: {known})"[:400],
        )
    names = ", ".join(s.attribute for s in suspects)
    return TriageDecision(
        relevant=True, reason=f"{signal.kind} disputes extracted {names}", suspects=suspects
    )


# ------------------------------------------------------------------------------------------ corrections

ClaimVerdict = Literal["correct", "reject", "unsure"]


class ClaimJudgement(BaseModel):
    """The decision on one suspect: correct it (with the new value), reject the claim, or ask a person."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    attribute: str
    verdict: ClaimVerdict
    reason: str = Field(min_length=1, max_length=1000)
    wrong_value: str | None = None
    value: AttributeValue | None = None
    confidence: float = Field(ge=0.0, le=1.0)


_EVIDENCE_FIELDS: tuple[Literal["title", "description"], ...] = ("title", "description")
_QUANTITY_SPAN = re.compile(
    r"pack\s+of\s+\d+|\d+(?:[.,]\d+)?\s?-?\s?[A-Za-z가-힣]+\.?|[x×]\s?\d+|\d+(?:[.,]\d+)?", re.IGNORECASE
)


def locate_value(listing: ProductListing, value: str, spec: AttributeSpec) -> tuple[str, EvidenceSpan] | None:
    """Where the listing states `value` (or, for counts and quantities, an equivalent such as 'Pack of 2'
    for '2'): the surface and its evidence span, title first."""
    wanted = normalise_value(value, spec.kind)
    for field in _EVIDENCE_FIELDS:
        text = getattr(listing, field)
        # Counts and quantities first as whole phrases: '2' is stated as 'Pack of 2', not as a bare digit.
        if spec.kind in ("count", "quantity"):
            for match in _QUANTITY_SPAN.finditer(text):
                surface = match.group(0).rstrip(".")
                if normalise_value(surface, spec.kind) == wanted:
                    end = match.start() + len(surface)
                    return surface, EvidenceSpan(field=field, start=match.start(), end=end, text=surface)
        exact = re.search(rf"(?<![\w]){re.escape(value.strip())}(?![\w])", text, re.IGNORECASE)
        if exact:
            return exact.group(0), EvidenceSpan(
                field=field, start=exact.start(), end=exact.end(), text=exact.group(0)
            )
    return None


def judge_claim(
    suspect: Suspect,
    spec: AttributeSpec,
    listing: ProductListing,
    channel: FeedbackChannel,
    supervisor_value: str | None,
    supervisor_confidence: float,
) -> ClaimJudgement:
    """Correct when the supervisor agrees with the claim, or when the listing states the claimed value and a
    confident supervisor does not read it otherwise; unsure (human review) when nothing settles it."""
    base = {"attribute": spec.name, "wrong_value": suspect.extracted}
    supervisor_agrees = supervisor_value is not None and _same(supervisor_value, suspect.claimed, spec)
    supervisor_keeps = (
        supervisor_value is not None
        and supervisor_confidence >= CONFIDENT_SUPERVISOR
        and _same(supervisor_value, suspect.extracted, spec)
    )
    if suspect.claimed is None:
        if (
            supervisor_value is not None
            and supervisor_confidence >= CONFIDENT_SUPERVISOR
            and not _same(supervisor_value, suspect.extracted, spec)
        ):
            return _corrected(
                base, supervisor_value, spec, listing, supervisor_confidence, "supervisor re-read"
            )
        return ClaimJudgement(
            **base,
            verdict="unsure",
            confidence=0.3,
            reason=f"the signal implicates {spec.name} ('{suspect.extracted}') but gives no value; "
            "a person must check the listing",
        )
    if supervisor_keeps and not supervisor_agrees:
        return ClaimJudgement(
            **base,
            verdict="unsure",
            confidence=0.4,
            reason=f"the supervisor reads {spec.name} as '{supervisor_value}' "
            f"(confidence {supervisor_confidence:.2f}), against the claim '{suspect.claimed}'",
        )
    located = locate_value(listing, suspect.claimed, spec)
    if supervisor_agrees:
        confidence = max(supervisor_confidence, 0.75)
        return _corrected(
            base, suspect.claimed, spec, listing, confidence, "the supervisor agrees with the claim"
        )
    if located is not None:
        confidence = SELLER_CLAIM_CONFIDENCE if channel == "seller_feedback" else CUSTOMER_CLAIM_CONFIDENCE
        return _corrected(
            base, suspect.claimed, spec, listing, confidence, "the listing states the claimed value"
        )
    return ClaimJudgement(
        **base,
        verdict="unsure",
        confidence=0.4,
        reason=f"the listing does not state '{suspect.claimed}' for {spec.name}; if it is right, the listing "
        "text should say so (ListingUpdated)",
    )


def _corrected(
    base: dict[str, Any],
    value: str,
    spec: AttributeSpec,
    listing: ProductListing,
    confidence: float,
    why: str,
) -> ClaimJudgement:
    located = locate_value(listing, value, spec)
    surface, evidence = located if located is not None else (value.strip(), None)
    attribute_value = AttributeValue(
        value=surface[:MAX_VALUE_CHARS],
        normalised=normalise_value(surface, spec.kind)[:MAX_VALUE_CHARS],
        evidence=evidence,
        confidence=round(confidence, 3),
    )
    where = f" at {evidence.field}[{evidence.start}:{evidence.end}]" if evidence else ""
    return ClaimJudgement(
        **base,
        verdict="correct",
        value=attribute_value,
        confidence=round(confidence, 3),
        reason=f"{spec.name}: '{base['wrong_value']}' -> '{surface}' ({why}{where})",
    )


# --------------------------------------------------------------------------------------------- learnings

_NUMBER_WORD = re.compile(r"^\s*\d+(?:[.,]\d+)?\s?-?\s?(?P<word>[A-Za-z가-힣][\w-]*)\.?\s*$")
_SIBLING_CONCEPT = {"pack_count": "net_content", "net_content": "pack_count"}


def correction_learnings(
    judgement: ClaimJudgement,
    schema: AttributeSchema,
    category_path: Sequence[str],
    channel: FeedbackChannel,
    product_id: str,
    evidence: str,
) -> list[LearningDraft]:
    """The learning that would have prevented the corrected error, scoped to the product's category:
    a unit word that marks the sibling quantity ('100 Softgels' is a Net content, not a Pack size), a value
    lexicon for text attributes, else 'this value is not that attribute'."""
    spec = schema.get(judgement.attribute)
    if judgement.verdict != "correct" or judgement.value is None or spec is None:
        return []
    scope = list(category_path)
    where = scope[-1] if scope else "all categories"
    provenance = LearningProvenance(
        product_id=product_id, model_id=f"feedback:{channel}", evidence=evidence[:500]
    )
    common: dict[str, Any] = {"scope_path": scope, "source_channel": channel, "provenance": provenance}
    wrong, right = judgement.wrong_value, judgement.value.value
    drafts: list[dict[str, Any]] = []
    if spec.kind in ("count", "quantity") and wrong:
        match = _NUMBER_WORD.match(wrong)
        sibling_concept = _SIBLING_CONCEPT.get(spec.concept or "")
        sibling = schema.by_concept(sibling_concept) if sibling_concept else None
        word = match.group("word") if match else None
        if word and sibling is not None and normalise_text(word) not in normalise_text(right):
            drafts.append(
                {
                    "text": f"In {where}, a number followed by '{word}' is the {sibling.name}, "
                    f"not the {spec.name}.",
                    "kind": "rule",
                    "attributes": [sibling.name, spec.name],
                    "directive": {"type": "pattern", "attribute": sibling.name, "unit_terms": [word]},
                }
            )
    if not drafts and spec.kind in ("text", "boolean") and len(right) <= 120:
        drafts.append(
            {
                "text": f"In {where}, '{right}' is a {spec.name} value.",
                "kind": "example",
                "attributes": [spec.name],
                "directive": {"type": "value_lexicon", "attribute": spec.name, "values": [right]},
            }
        )
    if not drafts and wrong and len(wrong) <= 120:
        drafts.append(
            {
                "text": f"In {where}, '{wrong}' is not a {spec.name} value.",
                "kind": "rule",
                "attributes": [spec.name],
                "directive": {"type": "not_value", "attribute": spec.name, "value": wrong},
            }
        )
    built: list[LearningDraft] = []
    for fields in drafts:
        try:
            built.append(LearningDraft.model_validate({**fields, **common}))
        except ValidationError:
            continue  # e.g. a value too long to be a reusable learning; the correction still stands
    return built


class Culprit(BaseModel):
    """A learning implicated in a corrected value, and how many votes it loses."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    learning_id: str
    penalty: int = Field(ge=1)
    reason: str


def culprits(judgement: ClaimJudgement, used: Iterable[Learning]) -> list[Culprit]:
    """The used learnings about the corrected attribute: the ones whose directive terms occur in the wrong
    value produced it (CULPRIT_PENALTY), the others only shaped it (BYSTANDER_PENALTY)."""
    if judgement.verdict != "correct":
        return []
    wrong = normalise_text(judgement.wrong_value or "")
    found: list[Culprit] = []
    for learning in used:
        if not learning.live or judgement.attribute not in learning.attributes:
            continue
        produced = (
            bool(wrong)
            and learning.directive.attribute == judgement.attribute
            and any(
                normalise_text(term) and normalise_text(term) in wrong
                for term in directive_terms(learning.directive)
            )
        )
        found.append(
            Culprit(
                learning_id=learning.id,
                penalty=CULPRIT_PENALTY if produced else BYSTANDER_PENALTY,
                reason=(
                    f"produced {judgement.attribute} '{judgement.wrong_value}', corrected to "
                    f"'{judgement.value.value if judgement.value else ''}'"
                    if produced
                    else f"was used on {judgement.attribute} '{judgement.wrong_value}', which was corrected"
                ),
            )
        )
    return found


class AggregatedDraft(BaseModel):
    """One learning that many signals teach, with how many signals support it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    draft: LearningDraft
    support_count: int = Field(ge=1)
    signal_ids: list[str] = Field(default_factory=list)


def aggregate_drafts(drafts: Iterable[tuple[str, LearningDraft]]) -> list[AggregatedDraft]:
    """Fold (signal id, draft) pairs that assert the same directive in the same category into one draft;
    `support_count` counts distinct signals. First-seen order is kept."""
    groups: dict[tuple[str, str], tuple[LearningDraft, list[str]]] = {}
    for signal_id, draft in drafts:
        key = (path_key(draft.scope_path), directive_key(draft.directive))
        if key not in groups:
            groups[key] = (draft, [])
        if signal_id not in groups[key][1]:
            groups[key][1].append(signal_id)
    return [
        AggregatedDraft(draft=draft, support_count=len(ids), signal_ids=ids) for draft, ids in groups.values()
    ]


def extracted_values(enrichment: Mapping[str, Any] | None) -> dict[str, str] | None:
    """attribute -> extracted surface value of a stored product's enrichment (None before enrichment)."""
    if not enrichment:
        return None
    attributes = enrichment.get("attributes") or {}
    return {
        name: str(value.get("value"))
        for name, value in attributes.items()
        if isinstance(value, Mapping) and value.get("value") is not None
    }
