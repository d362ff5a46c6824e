"""Extraction quality against OA-Mine gold, following the ExtractGPT convention (Brinkmann et al., 2023).

Per (product, attribute): a prediction equal to a gold value after case/space normalisation is correct (TP);
a different prediction is wrong (counts against precision and recall); a prediction where gold has none is
spurious (FP); no prediction where gold has one is missing (FN).
precision = correct / (correct + wrong + spurious); recall = correct / (correct + wrong + missing).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Literal

from pydantic import BaseModel, Field

from cataloop.domain.enrichment.normalisation import normalise_text

Outcome = Literal["correct", "wrong", "spurious", "missing", "absent"]


class Counts(BaseModel):
    correct: int = 0
    wrong: int = 0
    spurious: int = 0
    missing: int = 0

    def add(self, outcome: Outcome) -> None:
        if outcome != "absent":
            setattr(self, outcome, getattr(self, outcome) + 1)


class Scores(BaseModel):
    precision: float
    recall: float
    f1: float
    counts: Counts = Field(default_factory=Counts)


def score_of(counts: Counts) -> Scores:
    """Precision, recall and F1 (0..1) from counts; 0.0 where a denominator is empty."""
    predicted = counts.correct + counts.wrong + counts.spurious
    expected = counts.correct + counts.wrong + counts.missing
    precision = counts.correct / predicted if predicted else 0.0
    recall = counts.correct / expected if expected else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(precision=precision, recall=recall, f1=f1, counts=counts.model_copy())


def judge(predicted: str | None, gold: Collection[str]) -> Outcome:
    """The outcome of one attribute: predicted value (or None) against the set of gold values."""
    has_prediction = predicted is not None and predicted.strip() != ""
    gold_norm = {normalise_text(value) for value in gold if value.strip()}
    if not gold_norm:
        return "spurious" if has_prediction else "absent"
    if not has_prediction:
        return "missing"
    assert predicted is not None
    return "correct" if normalise_text(predicted) in gold_norm else "wrong"


class ScoreBoard:
    """Accumulates outcomes over products; micro and per-attribute scores on demand."""

    def __init__(self) -> None:
        self.total = Counts()
        self.by_attribute: dict[str, Counts] = {}

    def add(
        self,
        predicted: Mapping[str, str | None],
        gold: Mapping[str, Collection[str]],
        attributes: Iterable[str] | None = None,
    ) -> dict[str, Outcome]:
        """Score one product over `attributes` (default: every attribute predicted or in gold)."""
        names = list(attributes) if attributes is not None else sorted(set(predicted) | set(gold))
        outcomes: dict[str, Outcome] = {}
        for name in names:
            outcome = judge(predicted.get(name), gold.get(name, ()))
            outcomes[name] = outcome
            self.total.add(outcome)
            self.by_attribute.setdefault(name, Counts()).add(outcome)
        return outcomes

    def micro(self) -> Scores:
        return score_of(self.total)

    def per_attribute(self) -> dict[str, Scores]:
        return {name: score_of(counts) for name, counts in sorted(self.by_attribute.items())}
