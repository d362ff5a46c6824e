"""Consensus between generator extractions: AGREE, DISAGREE (naming attributes) or AUDIT (sampled agreement)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cataloop.domain.enrichment.attributes import AttributeSchema, AttributeSpec
from cataloop.domain.enrichment.extraction import (
    DISPUTING_VERDICTS,
    AttributeValue,
    EvaluatorReport,
    WorkerExtraction,
)
from cataloop.domain.enrichment.normalisation import normalise_value, token_overlap

Decision = Literal["AGREE", "DISAGREE", "AUDIT"]
MissingPolicy = Literal["required", "always", "never"]


class ConsensusSettings(BaseModel):
    """Tunable knobs. `thresholds` overrides the schema's token-overlap threshold per attribute name.
    `missing_policy` says when "one worker found a value, the other did not" is a disagreement:
    only for required attributes (default), always, or never (then the single value is kept only if the
    evaluator judged it ok)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    audit_fraction: float = Field(default=0.1, ge=0.0, le=1.0)
    audit_seed: str = "cataloop-audit-v1"
    thresholds: dict[str, float] = Field(default_factory=dict)
    missing_policy: MissingPolicy = "required"


class AttributeComparison(BaseModel):
    model_config = ConfigDict(frozen=True)

    attribute: str
    agreed: bool
    values: list[str | None]
    reason: str


class ConsensusDecision(BaseModel):
    """The outcome: `agreed_values` are safe to persist; `disagreed_attributes` go to the supervisor."""

    model_config = ConfigDict(frozen=True)

    decision: Decision
    disagreed_attributes: list[str] = Field(default_factory=list)
    agreed_values: dict[str, AttributeValue] = Field(default_factory=dict)
    reasons: list[str] = Field(default_factory=list)
    comparisons: list[AttributeComparison] = Field(default_factory=list)


def audit_draw(product_id: str, seed: str) -> float:
    """A deterministic number in [0, 1) from (product id, seed): the same product is always (not) audited."""
    digest = hashlib.sha256(f"{seed}\x00{product_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def values_agree(spec: AttributeSpec, left: str, right: str, threshold: float | None = None) -> bool:
    """Whether two surface values agree under the spec's agreement rule (threshold overrides the schema's)."""
    rule = spec.agreement
    if rule.mode == "exact":
        return left == right
    left_norm, right_norm = normalise_value(left, spec.kind), normalise_value(right, spec.kind)
    if left_norm == right_norm:
        return True
    if rule.mode == "token_overlap":
        return token_overlap(left_norm, right_norm) >= (
            threshold if threshold is not None else rule.threshold
        )
    return False


def _pick(values: list[AttributeValue]) -> AttributeValue:
    # Among agreeing values keep the most confident one; ties keep the first worker's (stable).
    return max(values, key=lambda value: value.confidence)


def decide_consensus(
    product_id: str,
    schema: AttributeSchema,
    extractions: Sequence[WorkerExtraction],
    evaluation: EvaluatorReport | None = None,
    settings: ConsensusSettings | None = None,
) -> ConsensusDecision:
    """Compare the extractions attribute by attribute after normalisation and fold in the evaluator's verdicts.

    An evaluator 'misread' or 'ambiguous' on an attribute the workers agree on turns it into a disagreement.
    Agreed products are sampled into AUDIT by a deterministic hash of (product id, seed).
    """
    settings = settings or ConsensusSettings()
    if len(extractions) < 2:
        raise ValueError(f"consensus needs at least two extractions, got {len(extractions)}")
    comparisons: list[AttributeComparison] = []
    agreed: dict[str, AttributeValue] = {}
    disagreed: list[str] = []
    reasons: list[str] = []
    for spec in schema.attributes:
        found = [extraction.attributes.get(spec.name) for extraction in extractions]
        surfaces = [value.value if value else None for value in found]
        present = [value for value in found if value is not None]
        verdict = evaluation.verdict_for(spec.name) if evaluation else None
        if not present:
            continue
        if len(present) < len(found):
            missing_is_dispute = settings.missing_policy == "always" or (
                settings.missing_policy == "required" and spec.required
            )
            if missing_is_dispute:
                reason = f"{spec.name}: only {len(present)} of {len(found)} workers found a value"
                comparisons.append(
                    AttributeComparison(attribute=spec.name, agreed=False, values=surfaces, reason=reason)
                )
                disagreed.append(spec.name)
                reasons.append(reason)
            elif verdict is not None and verdict.verdict == "ok" and len(present) == 1:
                agreed[spec.name] = present[0]
                reason = f"{spec.name}: single worker value kept, evaluator ok"
                comparisons.append(
                    AttributeComparison(attribute=spec.name, agreed=True, values=surfaces, reason=reason)
                )
            else:
                reason = f"{spec.name}: single worker value dropped (optional attribute, evaluator did not confirm)"
                comparisons.append(
                    AttributeComparison(attribute=spec.name, agreed=False, values=surfaces, reason=reason)
                )
                reasons.append(reason)
            continue
        threshold = settings.thresholds.get(spec.name)
        first = present[0]
        if all(values_agree(spec, first.value, other.value, threshold) for other in present[1:]):
            if verdict is not None and verdict.verdict in DISPUTING_VERDICTS:
                reason = f"{spec.name}: workers agree but evaluator says {verdict.verdict}: {verdict.reason}"
                comparisons.append(
                    AttributeComparison(attribute=spec.name, agreed=False, values=surfaces, reason=reason)
                )
                disagreed.append(spec.name)
                reasons.append(reason)
            else:
                agreed[spec.name] = _pick(present)
                comparisons.append(
                    AttributeComparison(
                        attribute=spec.name, agreed=True, values=surfaces, reason=f"{spec.name}: agree"
                    )
                )
        else:
            reason = f"{spec.name}: values differ after normalisation: {surfaces}"
            comparisons.append(
                AttributeComparison(attribute=spec.name, agreed=False, values=surfaces, reason=reason)
            )
            disagreed.append(spec.name)
            reasons.append(reason)
    if disagreed:
        decision: Decision = "DISAGREE"
    elif audit_draw(product_id, settings.audit_seed) < settings.audit_fraction:
        decision = "AUDIT"
        reasons.append(f"agreed product sampled for audit (fraction {settings.audit_fraction})")
    else:
        decision = "AGREE"
    return ConsensusDecision(
        decision=decision,
        disagreed_attributes=disagreed,
        agreed_values=agreed,
        reasons=reasons,
        comparisons=comparisons,
    )
