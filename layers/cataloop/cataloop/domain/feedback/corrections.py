"""What a triaged feedback signal corrects and teaches.

`judge_claim` decides whether a claimed value corrects the extraction (or a person must check);
`correction_learnings` writes the learning that would have prevented the error; `culprits` names the learnings
that shaped the wrong value and how many votes each loses; `aggregate_drafts` folds many signals that teach
the same thing into one learning with a support count. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
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
    supervisor_agrees = supervisor_value is not None and same_value(supervisor_value, suspect.claimed, spec)
    supervisor_keeps = (
        supervisor_value is not None
        and supervisor_confidence >= CONFIDENT_SUPERVISOR
        and same_value(supervisor_value, suspect.extracted, spec)
    )
    if suspect.claimed is None:
        if (
            supervisor_value is not None
            and supervisor_confidence >= CONFIDENT_SUPERVISOR
            and not same_value(supervisor_value, suspect.extracted, spec)
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
