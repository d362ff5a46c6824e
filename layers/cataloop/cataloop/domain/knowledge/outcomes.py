"""Outcome scoring of learnings: did a learning a worker relied on help or hurt? (ACE, arXiv 2510.04618:
per-item helpful/harmful counters, small delta updates, and retirement of items that keep misleading.)

- `judge_influence` compares, for every injected learning a worker says it used, the value that worker
  produced for each attribute the learning is about with the confirmed final value, and returns at most one
  `LearningOutcome` per (learning, product): harmful when any judged attribute disagrees, else helpful.
- `apply_outcome` is the delta update: +1 to `helpful` or `harmful`, one audit entry naming the source and
  the product, and the outcome's key remembered so a replay is recognised (`already_scored`). When the
  updated record meets the retirement rule (`harm_dominates`), the same revision retires the learning
  through `lifecycle.retire_learning`, with the rule's reason in the audit trail.

What counts as "confirmed" is the caller's: the audit, the supervisor, a corroborated feedback correction or
an expert review each name themselves as the outcome's `source`. Pure logic only; the service that reads,
applies and commits is `services.learning_outcomes`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cataloop.domain.enrichment.extraction import MAX_VALUE_CHARS, WorkerExtraction
from cataloop.domain.enrichment.normalisation import normalise_text, normalise_value
from cataloop.domain.knowledge.learning import AttributeName, LearningView, NotValue, attribute_kind
from cataloop.domain.knowledge.lifecycle import retire_learning
from cataloop.domain.knowledge.tree import MAX_OUTCOME_KEYS, Learning, union_tail

OutcomeSource = Literal["audit", "supervisor", "feedback", "review"]

# Retirement rule: a learning is retired once it has been harmful at least RETIRE_MIN_HARMFUL times AND its
# harmful count is at least RETIRE_HARM_RATIO times (helpful + 1). The floor keeps one or two unlucky
# products from retiring a new learning; the ratio (with +1 smoothing, so a learning never judged helpful
# needs RETIRE_MIN_HARMFUL harms, 0 helpful -> 3 harmful, 2 helpful -> 6 harmful) retires only learnings that
# mislead clearly more often than they help.
RETIRE_MIN_HARMFUL = 3
RETIRE_HARM_RATIO = 2
# Audit actions of a counted outcome (a harmful outcome that retires the learning is recorded as `retired`).
OUTCOME_HELPFUL = "outcome_helpful"
OUTCOME_HARMFUL = "outcome_harmful"
OUTCOME_ACTIONS: frozenset[str] = frozenset({OUTCOME_HELPFUL, OUTCOME_HARMFUL})


class LearningOutcome(BaseModel):
    """One scored use of a learning on one product: whether it helped, judged on `attribute` (for a harmful
    outcome, the attribute that disagreed), the value the worker produced there (`shaped_value`) and the
    confirmed value (`confirmed_value`); None means "no value"."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    learning_id: str = Field(min_length=1, max_length=128)
    helpful: bool
    attribute: AttributeName
    shaped_value: str | None = Field(default=None, max_length=MAX_VALUE_CHARS)
    confirmed_value: str | None = Field(default=None, max_length=MAX_VALUE_CHARS)
    source: OutcomeSource
    product_id: str = Field(min_length=1, max_length=128)

    @property
    def key(self) -> str:
        """What makes a replay a replay, per learning: the source and the product."""
        return outcome_key(self.source, self.product_id)


def outcome_key(source: str, product_id: str) -> str:
    return f"{source}:{product_id}"


# ----------------------------------------------------------------------------------------------- judging


def _attribute_key(attribute: str) -> str:
    return normalise_text(attribute).replace("_", " ")


def _lookup(values: Mapping[str, str | None], attribute: str) -> str | None:
    """The value of `attribute` in `values`, matching names case- and '_'/' '-insensitively; blank is None."""
    wanted = _attribute_key(attribute)
    for name, value in values.items():
        if _attribute_key(name) == wanted and value is not None and value.strip():
            return value
    return None


def _present(values: Mapping[str, str | None], attribute: str) -> bool:
    return _lookup(values, attribute) is not None


def _same_value(attribute: str, left: str, right: str) -> bool:
    kind, _ = attribute_kind(attribute)
    return normalise_value(left, kind) == normalise_value(right, kind)


def _judge(
    view: LearningView,
    produced: Mapping[str, str | None],
    final: Mapping[str, str],
    source: OutcomeSource,
    product_id: str,
) -> list[LearningOutcome]:
    """The per-attribute verdicts of one learning on one worker's output (attributes neither the worker nor
    the final record has a value for are not judged)."""
    directive = view.directive
    verdicts: list[LearningOutcome] = []

    def verdict(attribute: str, helpful: bool) -> None:
        verdicts.append(
            LearningOutcome(
                learning_id=view.id,
                helpful=helpful,
                attribute=attribute,
                shaped_value=(_lookup(produced, attribute) or "")[:MAX_VALUE_CHARS] or None,
                confirmed_value=(_lookup(final, attribute) or "")[:MAX_VALUE_CHARS] or None,
                source=source,
                product_id=product_id,
            )
        )

    attribute = directive.attribute
    if isinstance(directive, NotValue):
        # A veto is right when the confirmed value of its attribute is not the vetoed value.
        if _present(produced, attribute) or _present(final, attribute):
            confirmed = _lookup(final, attribute)
            verdict(attribute, confirmed is None or not _same_value(attribute, confirmed, directive.value))
        others = [directive.correct_attribute] if directive.correct_attribute else []
    else:
        others = [attribute]
    for name in others:
        shaped, confirmed = _lookup(produced, name), _lookup(final, name)
        if shaped is None and confirmed is None:
            continue
        verdict(name, shaped is not None and confirmed is not None and _same_value(name, shaped, confirmed))
    return verdicts


def judge_influence(
    injected: Sequence[LearningView],
    extractions: Sequence[WorkerExtraction],
    final: Mapping[str, str],
    source: OutcomeSource,
    product_id: str,
) -> list[LearningOutcome]:
    """The outcome of every injected learning a worker listed in `learning_ids_used`, judged against the
    confirmed `final` values (attribute name -> surface value) of product `product_id`.

    Per attribute the learning's directive concerns (`directive.attribute`; for a NotValue also its
    `correct_attribute`), and only where the worker or `final` has a value: the worker's value matching the
    final one (compared with `normalise_value` for the attribute's kind) is helpful; a different value, or a
    value on one side only, is harmful. A NotValue's own attribute is helpful when the final value is not the
    vetoed value, harmful when it is. At most one outcome per learning: harmful wins over helpful across
    attributes and workers. Ids a worker lists that were not injected are ignored. Order: first use.

    `final` is the whole confirmed record: an attribute absent from it (or blank) counts as confirmed to have
    no value, so pass only a source that confirmed every attribute it lists as absent."""
    by_id = {view.id: view for view in injected}
    chosen: dict[str, LearningOutcome] = {}
    for extraction in extractions:
        produced = {name: value.value for name, value in extraction.attributes.items()}
        for learning_id in dict.fromkeys(extraction.learning_ids_used):
            view = by_id.get(learning_id)
            if view is None:
                continue
            for outcome in _judge(view, produced, final, source, product_id):
                previous = chosen.get(learning_id)
                if previous is None or (previous.helpful and not outcome.helpful):
                    chosen[learning_id] = outcome
    return list(chosen.values())


# ---------------------------------------------------------------------------------------------- updating


def harm_dominates(learning: Learning) -> str | None:
    """Why the learning's outcome record retires it (harmful >= RETIRE_MIN_HARMFUL and harmful >=
    RETIRE_HARM_RATIO * (helpful + 1)), or None when it does not."""
    if learning.harmful < RETIRE_MIN_HARMFUL:
        return None
    if learning.harmful < RETIRE_HARM_RATIO * (learning.helpful + 1):
        return None
    return (
        f"harmful in {learning.harmful} scored extractions against {learning.helpful} helpful "
        f"(retired at >= {RETIRE_MIN_HARMFUL} harmful and >= {RETIRE_HARM_RATIO} x (helpful + 1))"
    )


def already_scored(learning: Learning, outcome: LearningOutcome) -> bool:
    """True when this (source, product) outcome is among the learning's last MAX_OUTCOME_KEYS counted."""
    return outcome.key in learning.outcome_keys


def _describe(outcome: LearningOutcome) -> str:
    shaped = repr(outcome.shaped_value) if outcome.shaped_value is not None else "no value"
    confirmed = repr(outcome.confirmed_value) if outcome.confirmed_value is not None else "no value"
    verdict = "helpful" if outcome.helpful else "harmful"
    return (
        f"{verdict} per {outcome.source} on product {outcome.product_id}: {outcome.attribute} "
        f"was {shaped}, confirmed {confirmed}"
    )


def apply_outcome(learning: Learning, outcome: LearningOutcome, now: datetime, actor: str) -> Learning:
    """The next version of `learning` with the outcome counted (+1 helpful or harmful), one audit entry
    (action outcome_helpful / outcome_harmful, naming the source and product) and the outcome's key kept.
    When a harmful outcome brings the record to `harm_dominates`, the same revision (one version step, so
    one conditional write) retires the learning (`retire_learning`, action retired, with the rule and the
    outcome in the reason). ValueError for another learning's outcome,
    a retired learning, or an outcome already counted (check `already_scored` first)."""
    if outcome.learning_id != learning.id:
        raise ValueError(f"outcome of {outcome.learning_id} applied to learning {learning.id}")
    if not learning.live:
        raise ValueError(f"learning {learning.id} is retired; outcomes no longer apply")
    if already_scored(learning, outcome):
        raise ValueError(
            f"learning {learning.id} already counted the {outcome.source} outcome of product {outcome.product_id}"
        )
    changes: dict[str, object] = {
        "helpful": learning.helpful + int(outcome.helpful),
        "harmful": learning.harmful + int(not outcome.helpful),
        "outcome_keys": union_tail(learning.outcome_keys, [outcome.key], MAX_OUTCOME_KEYS),
    }
    reason = _describe(outcome)
    counted = learning.model_copy(update=changes)
    why = harm_dominates(counted) if not outcome.helpful else None
    if why is not None:
        return retire_learning(learning, now, actor, f"{why}; last: {reason}", **changes)
    action = OUTCOME_HELPFUL if outcome.helpful else OUTCOME_HARMFUL
    return learning.revise(now, actor, action, reason, **changes)
