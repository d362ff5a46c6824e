"""Score normalisation and combination shared by both engines, and the search plan itself."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from cataloop.domain.search.plan import (
    MIN_MAX_FLOOR,
    FieldBoost,
    LexicalClause,
    SearchFilters,
    SearchPlan,
    arithmetic_mean,
    build_search_plan,
    combine_sub_queries,
    l2,
    min_max,
    rank_by_score,
    reciprocal_rank_fusion,
)

scores_strategy = st.dictionaries(
    st.text(alphabet="abcdefghij", min_size=1, max_size=4),
    st.floats(min_value=0, max_value=1e4, allow_nan=False, allow_infinity=False),
    min_size=1,
    max_size=30,
)


def _clause(text: str = "운동화") -> LexicalClause:
    return LexicalClause(purpose="text", text=text, fields=(FieldBoost(field="name", boost=3),))


# --- min_max ------------------------------------------------------------------------------------------


def test_min_max_rescales_between_own_min_and_max() -> None:
    assert min_max({"a": 2.0, "b": 4.0, "c": 6.0}) == {"a": MIN_MAX_FLOOR, "b": 0.5, "c": 1.0}


def test_min_max_gives_a_lone_or_tied_clause_full_score() -> None:
    assert min_max({"a": 3.2}) == {"a": 1.0}
    assert min_max({"a": 0.7, "b": 0.7}) == {"a": 1.0, "b": 1.0}
    assert min_max({}) == {}


@given(scores_strategy)
def test_min_max_keeps_order_and_stays_in_unit_interval(scores: dict[str, float]) -> None:
    normalised = min_max(scores)
    assert all(0 < value <= 1 for value in normalised.values())
    for left in scores:
        for right in scores:
            if scores[left] < scores[right]:
                assert normalised[left] <= normalised[right]


# --- l2 -----------------------------------------------------------------------------------------------


def test_l2_divides_by_euclidean_norm() -> None:
    assert l2({"a": 3.0, "b": 4.0}) == {"a": 0.6, "b": 0.8}
    assert l2({"a": 0.0}) == {"a": 0.0}


@given(scores_strategy)
def test_l2_output_has_unit_norm_unless_all_zero(scores: dict[str, float]) -> None:
    normalised = l2(scores)
    norm = math.sqrt(sum(value * value for value in normalised.values()))
    if any(scores.values()):
        assert norm == pytest.approx(1.0)
    else:
        assert norm == 0


# --- arithmetic mean ----------------------------------------------------------------------------------


def test_arithmetic_mean_weights_clauses_and_counts_a_missing_clause_as_zero() -> None:
    combined = arithmetic_mean([{"a": 1.0, "b": 0.5}, {"b": 1.0, "c": 0.4}], [0.3, 0.7])
    assert combined["a"] == pytest.approx(0.3)
    assert combined["b"] == pytest.approx(0.15 + 0.7)
    assert combined["c"] == pytest.approx(0.28)


def test_arithmetic_mean_divides_by_the_weight_sum() -> None:
    assert arithmetic_mean([{"a": 1.0}, {"a": 0.5}], [2.0, 2.0]) == {"a": 0.75}


def test_arithmetic_mean_rejects_a_weight_count_mismatch() -> None:
    with pytest.raises(ValueError, match="one weight each"):
        arithmetic_mean([{"a": 1.0}, {"a": 1.0}], [1.0])


# --- RRF ----------------------------------------------------------------------------------------------


def test_rrf_adds_reciprocal_ranks_with_k_60() -> None:
    fused = reciprocal_rank_fusion([["a", "b"], ["b", "c"]])
    assert fused["a"] == pytest.approx(1 / 61)
    assert fused["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert fused["c"] == pytest.approx(1 / 62)
    assert rank_by_score(fused) == ["b", "a", "c"]


def test_rrf_weights_scale_each_list() -> None:
    fused = reciprocal_rank_fusion([["a"], ["b"]], weights=[0.2, 0.8], k=1)
    assert fused == {"a": pytest.approx(0.1), "b": pytest.approx(0.4)}


def test_rrf_rejects_a_rank_constant_below_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        reciprocal_rank_fusion([["a"]], k=0)


@given(st.lists(st.text(alphabet="abcdefgh", min_size=1, max_size=3), min_size=1, max_size=20, unique=True))
def test_rrf_of_one_list_preserves_its_order(ranking: list[str]) -> None:
    assert rank_by_score(reciprocal_rank_fusion([ranking])) == ranking


# --- combine_sub_queries ------------------------------------------------------------------------------


def test_combine_min_max_mean_matches_hand_computation() -> None:
    lexical = {"a": 10.0, "b": 5.0, "c": 0.0}
    vector = {"b": 0.9, "c": 0.8}
    combined = combine_sub_queries(
        [lexical, vector], normalization="min_max", combination="arithmetic_mean", weights=[0.4, 0.6]
    )
    assert combined["a"] == pytest.approx(0.4 * 1.0)
    assert combined["b"] == pytest.approx(0.4 * 0.5 + 0.6 * 1.0)
    assert combined["c"] == pytest.approx(0.4 * MIN_MAX_FLOOR + 0.6 * MIN_MAX_FLOOR)
    assert rank_by_score(combined) == ["b", "a", "c"]


def test_combine_rrf_ignores_raw_score_scale() -> None:
    lexical = {"a": 1000.0, "b": 999.0}
    vector = {"b": 0.51, "a": 0.5}
    combined = combine_sub_queries(
        [lexical, vector], normalization="min_max", combination="rrf", weights=[0.5, 0.5]
    )
    assert combined["a"] == pytest.approx(combined["b"])


def test_combine_l2_uses_l2_normalisation() -> None:
    combined = combine_sub_queries(
        [{"a": 3.0, "b": 4.0}, {}], normalization="l2", combination="arithmetic_mean", weights=[1.0, 1.0]
    )
    assert combined == {"a": pytest.approx(0.3), "b": pytest.approx(0.4)}


# --- plan validation ----------------------------------------------------------------------------------


def test_plan_scales_weights_to_sum_to_one() -> None:
    plan = SearchPlan(query="q", mode="hybrid", clauses=(_clause(),), lexical_weight=0.2, vector_weight=0.6)
    assert plan.sub_query_weights() == (pytest.approx(0.25), pytest.approx(0.75))


def test_plan_rejects_zero_hybrid_weights_and_too_deep_pages() -> None:
    with pytest.raises(ValidationError, match="lexical_weight"):
        SearchPlan(query="q", mode="hybrid", clauses=(_clause(),), lexical_weight=0, vector_weight=0)
    with pytest.raises(ValidationError, match="earlier page"):
        SearchPlan(query="q", clauses=(_clause(),), size=100, page=10)
    with pytest.raises(ValidationError, match="candidate_depth"):
        SearchPlan(query="q", mode="hybrid", clauses=(_clause(),), size=50, page=2, candidate_depth=100)


def test_filters_reject_an_inverted_price_range() -> None:
    with pytest.raises(ValidationError, match="price_min must not exceed price_max"):
        SearchFilters(price_min=10, price_max=5)


# --- planning -----------------------------------------------------------------------------------------


def test_plain_query_plans_one_text_clause() -> None:
    plan = build_search_plan("  유산균   요구르트 ", in_catalog={"유산균", "요구르트", "nike"}.__contains__)
    assert plan.query == "유산균 요구르트"
    assert [clause.purpose for clause in plan.clauses] == ["text"]
    assert plan.clauses[0].fields[0] == FieldBoost(field="name", boost=3.0)


def test_chosung_query_plans_a_chosung_clause() -> None:
    plan = build_search_plan("ㅇㅋㄹㅌ")
    assert [(clause.purpose, clause.text) for clause in plan.clauses] == [("chosung", "ㅇㅋㄹㅌ")]
    assert plan.clauses[0].fields[0].field == "name_chosung"


def test_keyboard_conversion_is_used_only_when_the_catalog_knows_the_word() -> None:
    known = build_search_plan("diznfmxm", in_catalog=lambda text: text == "야쿠르트")
    assert ("keyboard", "야쿠르트") in [(clause.purpose, clause.text) for clause in known.clauses]
    assert ("keyboard", "diznfmxm") in [(clause.purpose, clause.text) for clause in known.clauses]
    unknown = build_search_plan("diznfmxm", in_catalog=lambda text: False)
    assert "야쿠르트" not in [clause.text for clause in unknown.clauses]


def test_hangul_typed_for_an_english_word_adds_the_latin_word_when_known() -> None:
    plan = build_search_plan("ㅜㅑㅏㄷ", in_catalog=lambda text: text == "nike")
    assert ("keyboard", "nike") in [(clause.purpose, clause.text) for clause in plan.clauses]


def test_blank_query_is_rejected_with_a_fix() -> None:
    with pytest.raises(ValueError, match="non-space character"):
        build_search_plan("   ")
