"""Relevance metrics over graded judgements (0 = not relevant … 3 = exactly what was asked for).

Conventions (stated because the literature varies):
- nDCG uses the exponential gain 2^grade - 1 with a log2(rank + 1) discount (Burges et al. 2005, the
  variant most search teams report); `gain="linear"` gives Järvelin and Kekäläinen's grade / log2(rank + 1).
  The ideal ranking is built from all judged documents, not only the retrieved ones.
- A document counts as relevant for MRR and recall when its grade is at least `min_grade` (default 1).
- A ranked list is read once per id: a repeated id neither gains nor takes a rank again.
- A query without any relevant judgement has no defined score: the functions raise ValueError, and
  `evaluate` leaves such queries out of the means (it reports how many it left out).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MIN_GRADE = 0
MAX_GRADE = 3
Gain = Literal["exponential", "linear"]


def _check_grades(judgements: Mapping[str, int]) -> None:
    bad = {doc_id: grade for doc_id, grade in judgements.items() if not MIN_GRADE <= grade <= MAX_GRADE}
    if bad:
        raise ValueError(f"grades must be {MIN_GRADE}-{MAX_GRADE}; got {bad}")


def _unique(ranked: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(ranked))


def _gain(grade: int, gain: Gain) -> float:
    return float(2**grade - 1) if gain == "exponential" else float(grade)


def dcg_at_k(
    ranked: Sequence[str], judgements: Mapping[str, int], k: int, gain: Gain = "exponential"
) -> float:
    """Discounted cumulative gain of the first `k` ranked ids (unjudged ids have grade 0)."""
    if k < 1:
        raise ValueError("k must be at least 1")
    _check_grades(judgements)
    return sum(
        _gain(judgements.get(doc_id, 0), gain) / math.log2(rank + 1)
        for rank, doc_id in enumerate(_unique(ranked)[:k], start=1)
    )


def ndcg_at_k(
    ranked: Sequence[str], judgements: Mapping[str, int], k: int = 10, gain: Gain = "exponential"
) -> float:
    """DCG@k divided by the DCG@k of the ideal ordering of all judged documents; in [0, 1]."""
    ideal_order = sorted(judgements, key=lambda doc_id: -judgements[doc_id])
    ideal = dcg_at_k(ideal_order, judgements, k, gain)
    if ideal == 0:
        raise ValueError("nDCG is undefined for a query without any relevant judgement")
    return dcg_at_k(ranked, judgements, k, gain) / ideal


def reciprocal_rank(ranked: Sequence[str], judgements: Mapping[str, int], min_grade: int = 1) -> float:
    """1 / rank of the first relevant id, or 0.0 when none is retrieved."""
    _check_grades(judgements)
    if not any(grade >= min_grade for grade in judgements.values()):
        raise ValueError("reciprocal rank is undefined for a query without any relevant judgement")
    for rank, doc_id in enumerate(_unique(ranked), start=1):
        if judgements.get(doc_id, 0) >= min_grade:
            return 1.0 / rank
    return 0.0


def mrr(runs: Sequence[tuple[Sequence[str], Mapping[str, int]]], min_grade: int = 1) -> float:
    """Mean reciprocal rank over `(ranked ids, judgements)` runs."""
    if not runs:
        raise ValueError("MRR needs at least one query")
    return sum(reciprocal_rank(ranked, judged, min_grade) for ranked, judged in runs) / len(runs)


def recall_at_k(
    ranked: Sequence[str], judgements: Mapping[str, int], k: int = 50, min_grade: int = 1
) -> float:
    """Share of the relevant ids (grade >= min_grade) found in the first `k` ranked ids."""
    if k < 1:
        raise ValueError("k must be at least 1")
    _check_grades(judgements)
    relevant = {doc_id for doc_id, grade in judgements.items() if grade >= min_grade}
    if not relevant:
        raise ValueError("recall is undefined for a query without any relevant judgement")
    return len(relevant.intersection(_unique(ranked)[:k])) / len(relevant)


def zero_result_rate(result_counts: Sequence[int]) -> float:
    """Share of searches that returned no result at all."""
    if not result_counts:
        raise ValueError("the zero-result rate needs at least one search")
    if any(count < 0 for count in result_counts):
        raise ValueError("result counts cannot be negative")
    return sum(1 for count in result_counts if count == 0) / len(result_counts)


class JudgedRun(BaseModel):
    """One evaluated query: what the system ranked and the graded judgements for it."""

    model_config = ConfigDict(frozen=True)

    query_id: str
    ranked: list[str]
    judgements: dict[str, int]
    result_count: int | None = Field(default=None, ge=0)

    @field_validator("judgements")
    @classmethod
    def _grades(cls, value: dict[str, int]) -> dict[str, int]:
        _check_grades(value)
        return value

    @property
    def total_results(self) -> int:
        return self.result_count if self.result_count is not None else len(self.ranked)


class RelevanceSummary(BaseModel):
    """Mean metrics over a query set; `unjudged_queries` were left out of the means (see module doc)."""

    model_config = ConfigDict(frozen=True)

    queries: int
    unjudged_queries: int
    ndcg_at_10: float
    mrr: float
    recall_at_50: float
    zero_result_rate: float


def evaluate(runs: Sequence[JudgedRun], min_grade: int = 1) -> RelevanceSummary:
    """nDCG@10, MRR, recall@50 and the zero-result rate over `runs`."""
    if not runs:
        raise ValueError("evaluation needs at least one query")
    judged = [run for run in runs if any(grade >= min_grade for grade in run.judgements.values())]
    count = len(judged)

    def mean(values: Sequence[float]) -> float:
        return sum(values) / len(values) if values else 0.0

    return RelevanceSummary(
        queries=len(runs),
        unjudged_queries=len(runs) - count,
        ndcg_at_10=mean([ndcg_at_k(run.ranked, run.judgements, 10) for run in judged]),
        mrr=mean([reciprocal_rank(run.ranked, run.judgements, min_grade) for run in judged]),
        recall_at_50=mean([recall_at_k(run.ranked, run.judgements, 50, min_grade) for run in judged]),
        zero_result_rate=zero_result_rate([run.total_results for run in runs]),
    )


def nomatch_empty_rate(result_counts: Sequence[int]) -> float:
    """Share of searches for something the catalog does not sell that returned no result at all (higher is
    better: an honest "nothing found" instead of unrelated products)."""
    return zero_result_rate(result_counts)


def ordered_pair_share(values: Sequence[float], descending: bool = False) -> float | None:
    """Kendall-tau-style share of pairs in `values` (listed in rank order) that are in order: for i < j,
    `values[i] <= values[j]` (or `>=` when `descending`); ties count as in order. 1.0 when the whole list is
    ordered, 0.0 when it is strictly reversed; None when there are fewer than two values (no pair to judge)."""
    pairs = correct = 0
    for i, first in enumerate(values):
        for second in values[i + 1 :]:
            pairs += 1
            correct += (first >= second) if descending else (first <= second)
    return correct / pairs if pairs else None


def grouped_order_share(keyed: Sequence[tuple[str, float]], descending: bool = False) -> float | None:
    """`ordered_pair_share` over `(group, value)` items in rank order, comparing only items of the same
    group (e.g. a price per gram is not compared with a price per ml); None when no pair is comparable."""
    pairs = correct = 0
    for i, (group, first) in enumerate(keyed):
        for other, second in keyed[i + 1 :]:
            if other != group:
                continue
            pairs += 1
            correct += (first >= second) if descending else (first <= second)
    return correct / pairs if pairs else None
