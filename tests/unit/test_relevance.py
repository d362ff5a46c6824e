"""Relevance metrics, checked against examples worked by hand (cataloop_eval.relevance)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cataloop_eval.relevance import (
    JudgedRun,
    dcg_at_k,
    evaluate,
    grouped_order_share,
    mrr,
    ndcg_at_k,
    nomatch_empty_rate,
    ordered_pair_share,
    recall_at_k,
    reciprocal_rank,
    zero_result_rate,
)

JUDGED = {"a": 3, "b": 2, "c": 0, "d": 1}
RANKED = ["c", "a", "d", "x", "b"]  # x is unjudged (grade 0)


def test_ndcg_exponential_gain_by_hand() -> None:
    # gains 2^g - 1: a 7, b 3, d 1, c 0.   log2(rank + 1): 1, 1.58496, 2, 2.32193, 2.58496
    # DCG@5  = 0/1 + 7/1.58496 + 1/2 + 0/2.32193 + 3/2.58496 = 0 + 4.41651 + 0.5 + 0 + 1.16056 = 6.07707
    # IDCG@5 (a, b, d, c) = 7/1 + 3/1.58496 + 1/2 + 0 = 7 + 1.89279 + 0.5 = 9.39279
    # nDCG@5 = 6.07707 / 9.39279 = 0.64699
    assert dcg_at_k(RANKED, JUDGED, 5) == pytest.approx(6.07707, abs=1e-5)
    assert ndcg_at_k(RANKED, JUDGED, 5) == pytest.approx(0.64699, abs=1e-5)
    # k = 10 adds nothing: nothing past rank 5 and the ideal has only four documents.
    assert ndcg_at_k(RANKED, JUDGED) == pytest.approx(0.64699, abs=1e-5)


def test_ndcg_cut_at_k_by_hand() -> None:
    # nDCG@2 = (0 + 4.41651) / (7 + 1.89279) = 4.41651 / 8.89279 = 0.49664
    assert ndcg_at_k(RANKED, JUDGED, 2) == pytest.approx(0.49664, abs=1e-5)


def test_ndcg_linear_gain_by_hand() -> None:
    # gains = grades. DCG@5 = 3/1.58496 + 1/2 + 2/2.58496 = 1.89279 + 0.5 + 0.77371 = 3.16650
    # IDCG@5 = 3 + 2/1.58496 + 1/2 = 3 + 1.26186 + 0.5 = 4.76186;  nDCG = 0.66497
    assert ndcg_at_k(RANKED, JUDGED, 5, gain="linear") == pytest.approx(0.66497, abs=1e-5)


def test_ndcg_edge_cases() -> None:
    assert ndcg_at_k(["a", "b", "d"], JUDGED) == pytest.approx(1.0)
    assert ndcg_at_k([], JUDGED) == 0.0
    # A repeated id counts once: [a, a, b] is read as [a, b].
    assert ndcg_at_k(["a", "a", "b"], JUDGED) == ndcg_at_k(["a", "b"], JUDGED)
    with pytest.raises(ValueError, match="undefined"):
        ndcg_at_k(["a"], {"a": 0})
    with pytest.raises(ValueError, match="grades must be 0-3"):
        ndcg_at_k(["a"], {"a": 4})
    with pytest.raises(ValueError, match="k must be"):
        ndcg_at_k(["a"], JUDGED, 0)


def test_mrr_by_hand() -> None:
    # query 1: first relevant (grade >= 1) is a at rank 2 -> 1/2
    # query 2: z at rank 3 -> 1/3;   query 3: nothing relevant retrieved -> 0
    # MRR = (0.5 + 0.33333 + 0) / 3 = 0.27778
    runs = [(RANKED, JUDGED), (["x", "y", "z"], {"z": 1}), (["x"], {"q": 2})]
    assert mrr(runs) == pytest.approx(0.27778, abs=1e-5)
    # min_grade 3: only a counts, still at rank 2.
    assert reciprocal_rank(RANKED, JUDGED, min_grade=3) == 0.5
    with pytest.raises(ValueError, match="at least one query"):
        mrr([])


def test_recall_by_hand() -> None:
    # relevant (grade >= 1) = {a, b, d}; the top 3 [c, a, d] hold a and d -> 2/3; the top 5 hold all.
    assert recall_at_k(RANKED, JUDGED, 3) == pytest.approx(2 / 3)
    assert recall_at_k(RANKED, JUDGED, 5) == 1.0
    assert recall_at_k(RANKED, JUDGED) == 1.0  # k = 50
    # grade >= 2: {a, b}; the top 3 hold a -> 1/2
    assert recall_at_k(RANKED, JUDGED, 3, min_grade=2) == 0.5
    with pytest.raises(ValueError, match="undefined"):
        recall_at_k(RANKED, {"c": 0})


def test_zero_result_rate() -> None:
    assert zero_result_rate([0, 5, 0, 1]) == 0.5
    with pytest.raises(ValueError):
        zero_result_rate([])
    with pytest.raises(ValueError):
        zero_result_rate([-1])


def test_evaluate_leaves_unjudged_queries_out_of_the_means() -> None:
    runs = [
        JudgedRun(query_id="q1", ranked=RANKED, judgements=JUDGED),
        JudgedRun(query_id="q2", ranked=[], judgements={"a": 2}, result_count=0),
        JudgedRun(query_id="q3", ranked=["a"], judgements={}),  # no judgement: not in the means
    ]
    summary = evaluate(runs)
    assert (summary.queries, summary.unjudged_queries) == (3, 1)
    assert summary.ndcg_at_10 == pytest.approx((0.64699 + 0.0) / 2, abs=1e-5)
    assert summary.mrr == pytest.approx((0.5 + 0.0) / 2)
    assert summary.recall_at_50 == pytest.approx((1.0 + 0.0) / 2)
    assert summary.zero_result_rate == pytest.approx(1 / 3)  # every query counts here
    with pytest.raises(ValueError, match="grades"):
        JudgedRun(query_id="bad", ranked=[], judgements={"a": -1})


judgements = st.dictionaries(st.sampled_from("abcdefgh"), st.integers(0, 3), min_size=1).filter(
    lambda judged: any(judged.values())
)


@given(judgements, st.permutations(list("abcdefghij")), st.integers(1, 12))
def test_metrics_stay_in_range_and_the_ideal_ranking_scores_one(
    judged: dict[str, int], ranked: list[str], k: int
) -> None:
    assert 0.0 <= ndcg_at_k(ranked, judged, k) <= 1.0 + 1e-12
    assert 0.0 <= recall_at_k(ranked, judged, k) <= 1.0
    assert 0.0 <= reciprocal_rank(ranked, judged) <= 1.0
    ideal = sorted(judged, key=lambda doc_id: -judged[doc_id])
    assert ndcg_at_k(ideal, judged, k) == pytest.approx(1.0)


def test_ordered_pair_share_by_hand() -> None:
    assert ordered_pair_share([1.0, 2.0, 2.0, 5.0]) == 1.0  # ties count as in order
    assert ordered_pair_share([5.0, 3.0, 1.0]) == 0.0
    # [2, 1, 3]: pairs (2,1) wrong, (2,3) right, (1,3) right -> 2/3
    assert ordered_pair_share([2.0, 1.0, 3.0]) == pytest.approx(2 / 3)
    assert ordered_pair_share([5.0, 3.0, 1.0], descending=True) == 1.0
    assert ordered_pair_share([1.0]) is None and ordered_pair_share([]) is None


def test_grouped_order_share_compares_only_the_same_group() -> None:
    # g: 1 then 3 (right); ml: 9 then 2 (wrong); cross-group pairs are not compared
    assert grouped_order_share([("g", 1.0), ("ml", 9.0), ("g", 3.0), ("ml", 2.0)]) == 0.5
    assert grouped_order_share([("g", 1.0), ("ml", 0.5)]) is None


def test_nomatch_empty_rate_is_the_share_of_empty_answers() -> None:
    assert nomatch_empty_rate([0, 0, 3, 0]) == 0.75
    with pytest.raises(ValueError):
        nomatch_empty_rate([])
