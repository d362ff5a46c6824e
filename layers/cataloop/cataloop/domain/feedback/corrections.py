"""What a triaged feedback signal corrects and teaches.

`judge_claim` decides whether a claimed value corrects the extraction (or a person must check);
`correction_learnings` writes the learning that would have prevented the error; `culprits` names the learnings
that shaped the wrong value and how many votes each loses; `aggregate_drafts` folds many signals that teach
the same thing into one learning with a support count. Pure: no I/O.

Who may correct what (the corroboration rule):
- A seller's claim (dispute, listing update) is about the seller's own product. It corrects that product when
  the listing states the claimed value (evidence span) or a confident supervisor (>= CONFIDENT_SUPERVISOR)
  reads it; the claimed value must also be shaped like a value of its attribute
  (`knowledge.learning.value_problem`), otherwise a person checks it. A seller's claim on a count or quantity
  that the listing contradicts (the listing states the extracted value as a value of this kind and not the
  claimed one: title 'Pack of 2', dispute '3') is rejected: the seller's own text overrules the seller's
  dispute, nothing is rewritten or learned and no person is asked; a seller who means it changes the listing
  (ListingUpdated), which re-enriches the product. For a text attribute the extracted words being in the
  listing says nothing about which attribute they are ('오리지널' in a title is no product type), so such a
  claim is judged as before (a person checks it when nothing confirms it). The listing is the seller's own text,
  so finding the claim there is *not* corroboration of a learning for other sellers: the correction stays
  scoped to the product, and its learning is placed `proposed` (an expert approves it) in every mode.
- A customer's claim (return, negative review) corrects a product only when the listing states the claimed
  value (the seller's text, independent of the customer) or at least CORROBORATING_REPORTERS (3) independent
  customers (distinct `reporter`: customer id, else order id) made the same claim. The supervisor agreeing
  is not enough on its own, and there is no confidence floor. A claim the listing contradicts (the listing
  states the extracted value and not the claimed one: title 'Pack of 2', review 'got a pack of 1') goes to
  human review: never a rewrite, never a learning. A corroborated customer correction's learning follows
  the deployment mode (`corroborated`); a `not_value` learning is only written when the listing itself
  shows the corrected value (evidence span).
- A human reviewer's decision (`reviewed_judgement`, `services.review_decisions`) is corroboration in itself:
  it corrects the product and its learning (source channel `human_review`) follows the deployment mode.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cataloop.domain.catalog.listing import ProductListing
from cataloop.domain.enrichment.attributes import AttributeSchema, AttributeSpec
from cataloop.domain.enrichment.extraction import MAX_VALUE_CHARS, AttributeValue, EvidenceSpan
from cataloop.domain.enrichment.normalisation import normalise_text, normalise_value
from cataloop.domain.feedback.signals import FeedbackChannel
from cataloop.domain.feedback.triage import Suspect, same_value
from cataloop.domain.knowledge.learning import (
    LearningDraft,
    LearningProvenance,
    directive_key,
    directive_terms,
    value_problem,
)
from cataloop.domain.knowledge.tree import INITIAL_VOTES, Learning, path_key

# A learning that produced a value a confirmed correction overturned loses this many votes: a fresh learning
# (INITIAL_VOTES) is retired by one confirmed correction, one with accumulated support survives it.
CULPRIT_PENALTY = INITIAL_VOTES
# A learning that was used on the attribute but did not itself produce the wrong value loses one.
BYSTANDER_PENALTY = 1
SELLER_CLAIM_CONFIDENCE = 0.85
CUSTOMER_CLAIM_CONFIDENCE = 0.7
CONFIDENT_SUPERVISOR = 0.75
# Independent customers (distinct reporters) that must make the same claim when the listing does not state it.
CORROBORATING_REPORTERS = 3
UNSURE_CONFIDENCE = 0.4
REJECTED_CONFIDENCE = 0.1
REVIEWER_CONFIDENCE = 1.0

# ------------------------------------------------------------------------------------------ judging a claim

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
    corroborated: bool = Field(
        default=False, description="the claim was confirmed independently of the claimant (see the module)"
    )
    contradicted: bool = Field(default=False, description="the listing states a different value")
    pending_claim: str | None = Field(
        default=None,
        description="customer claims only: the normalised claimed value, recorded to count independent "
        "customers when the listing neither states nor contradicts it",
    )


_EVIDENCE_FIELDS: tuple[Literal["title", "description"], ...] = ("title", "description")
# A quantity phrase starts at a word boundary: the '3' of 'D3' or the '2' of 'B12' is not a count.
_QUANTITY_SPAN = re.compile(
    r"(?<![\w.,])(?:pack\s+of\s+\d+|\d+(?:[.,]\d+)?\s?-?\s?[A-Za-z가-힣]+\.?|[x×]\s?\d+|\d+(?:[.,]\d+)?)",
    re.IGNORECASE,
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


def listing_contradicts(
    listing: ProductListing, suspect: Suspect, spec: AttributeSpec
) -> EvidenceSpan | None:
    """Where the listing states the extracted value *as a value of this kind* ('Pack of 2' for a count,
    '16 Ounce' for a quantity) while it does not state the claimed one (the claim contradicts the listing),
    or None. '100 Softgels' in a title does not state a pack count, so it contradicts no pack-count claim."""
    if (
        suspect.claimed is None
        or suspect.extracted is None
        or same_value(suspect.claimed, suspect.extracted, spec)
    ):
        return None
    canonical = normalise_value(suspect.extracted, spec.kind)
    if spec.kind in ("count", "quantity") and canonical == normalise_text(suspect.extracted):
        return None  # not read as a count or quantity at all: the listing states nothing of this kind
    if locate_value(listing, suspect.claimed, spec) is not None:
        return None
    stated = locate_value(listing, suspect.extracted, spec)
    return stated[1] if stated is not None else None


def judge_claim(
    suspect: Suspect,
    spec: AttributeSpec,
    listing: ProductListing,
    channel: FeedbackChannel,
    supervisor_value: str | None,
    supervisor_confidence: float,
    *,
    reporter: str | None = None,
    agreeing_reporters: Collection[str] = (),
) -> ClaimJudgement:
    """Correct, reject or ask a person, by the corroboration rule of the module docstring.
    `agreeing_reporters` are the other customers who made the same claim on this product before."""
    base: dict[str, Any] = {"attribute": spec.name, "wrong_value": suspect.extracted}
    customer = channel == "customer_feedback"
    supervisor_agrees = supervisor_value is not None and same_value(supervisor_value, suspect.claimed, spec)
    confident = supervisor_value is not None and supervisor_confidence >= CONFIDENT_SUPERVISOR
    supervisor_keeps = confident and same_value(supervisor_value, suspect.extracted, spec)
    if suspect.claimed is None:
        located = locate_value(listing, supervisor_value, spec) if supervisor_value else None
        if (
            supervisor_value is not None
            and confident
            and not same_value(supervisor_value, suspect.extracted, spec)
            and (located is not None or not customer)
        ):
            return _corrected(
                base,
                supervisor_value,
                spec,
                listing,
                supervisor_confidence,
                "supervisor re-read",
                corroborated=customer and located is not None,
            )
        return ClaimJudgement(
            **base,
            verdict="unsure",
            confidence=0.3,
            reason=f"the signal implicates {spec.name} ('{suspect.extracted}') but gives no value; "
            "a person must check the listing",
        )
    problem = value_problem(spec.name, suspect.claimed)
    contradiction = listing_contradicts(listing, suspect, spec) if problem is None else None
    if contradiction is not None and customer:
        return ClaimJudgement(
            **base,
            verdict="unsure",
            confidence=0.2,
            contradicted=True,
            reason=f"the listing states {spec.name} '{contradiction.text}' at {contradiction.field}"
            f"[{contradiction.start}:{contradiction.end}], which the claim '{suspect.claimed}' contradicts; "
            "a person must check it (no rewrite, no learning)",
        )
    if contradiction is not None and spec.kind in ("count", "quantity"):
        return ClaimJudgement(
            **base,
            verdict="reject",
            confidence=REJECTED_CONFIDENCE,
            contradicted=True,
            reason=f"the seller's own listing states {spec.name} '{contradiction.text}' at "
            f"{contradiction.field}[{contradiction.start}:{contradiction.end}], which the claim "
            f"'{suspect.claimed}' contradicts; rejected (no rewrite, no learning): if the listing is wrong, "
            "the seller updates it (ListingUpdated)",
        )
    if supervisor_keeps and not supervisor_agrees:
        return ClaimJudgement(
            **base,
            verdict="unsure",
            confidence=UNSURE_CONFIDENCE,
            reason=f"the supervisor reads {spec.name} as '{supervisor_value}' "
            f"(confidence {supervisor_confidence:.2f}), against the claim '{suspect.claimed}'",
        )
    if problem is not None:
        return ClaimJudgement(
            **base,
            verdict="unsure",
            confidence=0.2,
            reason=f"the claimed value is not a plausible {spec.name} value ({problem}); a person must check it",
        )
    located = locate_value(listing, suspect.claimed, spec)
    if customer:
        reporters = {*agreeing_reporters, *([reporter] if reporter else [])}
        corroboration = (
            "the listing states the claimed value"
            if located is not None
            else f"{len(reporters)} independent customers made the same claim"
            if len(reporters) >= CORROBORATING_REPORTERS
            else None
        )
        if corroboration is not None:
            return _corrected(
                base,
                suspect.claimed,
                spec,
                listing,
                CUSTOMER_CLAIM_CONFIDENCE,
                corroboration,
                corroborated=True,
            )
        return ClaimJudgement(
            **base,
            verdict="unsure",
            confidence=UNSURE_CONFIDENCE,
            pending_claim=normalise_value(suspect.claimed, spec.kind)[:MAX_VALUE_CHARS] if reporter else None,
            reason=f"the listing does not state '{suspect.claimed}' for {spec.name}, and {len(reporters)} of "
            f"{CORROBORATING_REPORTERS} independent customers made this claim"
            + ("" if reporter else " (this one names no customer or order, so it cannot count)"),
        )
    if located is not None:
        confidence = max(SELLER_CLAIM_CONFIDENCE, supervisor_confidence if supervisor_agrees else 0.0)
        return _corrected(
            base, suspect.claimed, spec, listing, confidence, "the listing states the claimed value"
        )
    if supervisor_agrees and confident:
        return _corrected(
            base,
            suspect.claimed,
            spec,
            listing,
            supervisor_confidence,
            "the supervisor agrees with the claim",
        )
    return ClaimJudgement(
        **base,
        verdict="unsure",
        confidence=UNSURE_CONFIDENCE,
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
    *,
    corroborated: bool = False,
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
        corroborated=corroborated,
        reason=f"{spec.name}: '{base['wrong_value']}' -> '{surface}' ({why}{where})",
    )


# --------------------------------------------------------------------------------------------- learnings

_NUMBER_WORD = re.compile(r"^\s*\d+(?:[.,]\d+)?\s?-?\s?(?P<word>[A-Za-z가-힣][\w-]*)\.?\s*$")
_SIBLING_CONCEPT = {"pack_count": "net_content", "net_content": "pack_count"}


def reviewed_judgement(
    spec: AttributeSpec, listing: ProductListing, previous: str | None, value: str | None, reviewer: str
) -> ClaimJudgement:
    """A human reviewer's decision on one attribute as a confirmed correction (`value` None: the attribute
    has no value). The value is quoted from the listing (evidence span) when the listing states it."""
    base: dict[str, Any] = {"attribute": spec.name, "wrong_value": previous}
    if value is None:
        return ClaimJudgement(
            **base,
            verdict="correct",
            confidence=REVIEWER_CONFIDENCE,
            corroborated=True,
            reason=f"{spec.name}: '{previous}' -> no value (human review by {reviewer})"[:1000],
        )
    return _corrected(
        base, value, spec, listing, REVIEWER_CONFIDENCE, f"human review by {reviewer}", corroborated=True
    )


TeachingChannel = FeedbackChannel | Literal["human_review"]


def correction_learnings(
    judgement: ClaimJudgement,
    schema: AttributeSchema,
    category_path: Sequence[str],
    channel: TeachingChannel,
    product_id: str,
    evidence: str,
) -> list[LearningDraft]:
    """The learning that would have prevented the corrected error, scoped to the product's category:
    a unit word that marks the sibling quantity ('100 Softgels' is a Net content, not a Pack size), a value
    lexicon for text attributes, else 'this value is not that attribute'. The category is the draft's
    `scope_path`, never part of its prose; `corroborated` is carried from the judgement for customer claims
    and human review only (a seller's own listing never corroborates a learning for others). A draft whose
    value breaks its attribute's bounds is dropped: the product correction still stands."""
    spec = schema.get(judgement.attribute)
    if judgement.verdict != "correct" or judgement.value is None or spec is None:
        return []
    if spec.kind == "boolean":
        # 'true' is not a word of any listing: a yes/no correction teaches no reusable rule.
        return []
    scope = list(category_path)
    provenance = LearningProvenance(
        product_id=product_id,
        model_id=channel if channel == "human_review" else f"feedback:{channel}",
        evidence=evidence[:500],
    )
    common: dict[str, Any] = {
        "scope_path": scope,
        "source_channel": channel,
        "provenance": provenance,
        "corroborated": channel in ("customer_feedback", "human_review") and judgement.corroborated,
    }
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
                    "text": f"A number followed by '{word}' is the {sibling.name}, not the {spec.name}.",
                    "kind": "rule",
                    "attributes": [sibling.name, spec.name],
                    "directive": {"type": "pattern", "attribute": sibling.name, "unit_terms": [word]},
                }
            )
    if not drafts and spec.kind == "text" and len(right) <= 120:
        drafts.append(
            {
                "text": f"'{right}' is a {spec.name} value.",
                "kind": "example",
                "attributes": [spec.name],
                "directive": {"type": "value_lexicon", "attribute": spec.name, "values": [right]},
            }
        )
    # From a customer, "this value is not that attribute" needs the listing itself to show the right value.
    shown = channel != "customer_feedback" or judgement.value.evidence is not None
    if not drafts and wrong and len(wrong) <= 120 and shown and not judgement.contradicted:
        drafts.append(
            {
                "text": f"'{wrong}' is not a {spec.name} value.",
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
