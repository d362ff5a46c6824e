"""Re-ranking rules: keyword boost, food-intent demotion, sort intent (cataloop.domain.search.ranking)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cataloop.domain.search.ranking import RankingRules, keyword_matches, rank_results


def doc(doc_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": doc_id, "keywords": [], "is_food": True, **fields}


YAKULT_DRINK = doc("drink", name="야쿠르트 오리지널 65ml", keywords=["야쿠르트", "유산균음료"], price=1100)
YAKULT_KEYRING = doc(
    "keyring", name="야쿠르트 아줌마 키링", keywords=["야쿠르트", "키링"], is_food=False, price=9000
)


def test_food_intent_puts_the_drink_above_the_character_goods() -> None:
    # The engine likes the keyring better (its name repeats the query); the food intent reverses that.
    hits = [(YAKULT_KEYRING, 12.0), (YAKULT_DRINK, 10.0)]
    outcome = rank_results(hits, query_terms=["야쿠르트"], food_intent=True)
    assert outcome.ids == ["drink", "keyring"]
    keyring = outcome.results[1]
    assert keyring.reasons[-1] == "non-food product for a food query (x0.3)"
    assert outcome.applied[-1] == "non-food results demoted: 1"


def test_non_food_intent_demotes_food() -> None:
    outcome = rank_results([(YAKULT_DRINK, 12.0), (YAKULT_KEYRING, 10.0)], food_intent=False)
    assert outcome.ids == ["keyring", "drink"]


def test_unknown_food_intent_or_unknown_product_type_changes_nothing() -> None:
    unknown = doc("unknown", is_food=None)
    hits = [(YAKULT_KEYRING, 12.0), (unknown, 11.0), (YAKULT_DRINK, 10.0)]
    assert rank_results(hits, food_intent=None).ids == ["keyring", "unknown", "drink"]
    assert rank_results(hits, food_intent=True).ids == ["unknown", "drink", "keyring"]


def test_keyword_field_matches_boost_by_share_of_terms() -> None:
    # relevance = score / best: a 1.0, b 0.9. Boost 0.3 x matched/2 terms: a 0, b 0.3 -> b 1.2 beats a 1.0.
    a = doc("a", keywords=["요구르트"])
    b = doc("b", keywords=["유산균 음료", "딸기맛"])
    outcome = rank_results([(a, 10.0), (b, 9.0)], query_terms=["유산균음료", "딸기"])
    assert outcome.ids == ["b", "a"]
    assert outcome.results[0].relevance == pytest.approx(1.2)
    assert outcome.results[0].reasons == ["seller keywords match 2 of 2 query terms (+0.30)"]
    assert outcome.results[1].relevance == pytest.approx(1.0)


def test_keyword_matching_rules() -> None:
    assert keyword_matches(["유산균", "Yakult"], ["유산균음료", "yakult"]) == ["유산균", "yakult"]
    assert keyword_matches(["균"], ["유산균"]) == []  # one character inside a keyword is too weak
    assert keyword_matches(["균"], ["균"]) == ["균"]


def test_price_sort_is_stable_and_keeps_weak_matches_behind() -> None:
    hits = [
        (doc("best", price=3000), 10.0),
        (doc("tie_a", price=1000), 9.0),
        (doc("tie_b", price=1000), 8.0),
        (doc("no_price"), 7.0),
        (doc("weak_cheap", price=10), 1.0),  # relevance 0.1 < floor 0.25: not promoted by its price
    ]
    outcome = rank_results(hits, sort="price_asc")
    assert outcome.ids == ["tie_a", "tie_b", "best", "no_price", "weak_cheap"]
    assert "below the relevance floor" in outcome.results[-1].reasons[-1]
    assert outcome.applied[-1].startswith("sorted by price, low to high: 4 results")


def test_price_desc() -> None:
    hits = [(doc("a", price=1), 1.0), (doc("b", price=3), 1.0), (doc("c", price=2), 1.0)]
    assert rank_results(hits, sort="price_desc").ids == ["b", "c", "a"]


def test_rating_sort_weights_by_review_count() -> None:
    # mean rating of the candidates = (5.0 + 4.8 + 4.0) / 3 = 4.6; prior = 10 reviews.
    # one_review: (5.0 x 1 + 4.6 x 10) / 11 = 4.636; many: (4.8 x 300 + 46) / 310 = 4.794; low: 4.0 x ... < 4.6
    hits = [
        (doc("one_review", rating=5.0, review_count=1), 1.0),
        (doc("many", rating=4.8, review_count=300), 1.0),
        (doc("low", rating=4.0, review_count=50), 1.0),
        (doc("unrated"), 1.0),
    ]
    assert rank_results(hits, sort="rating").ids == ["many", "one_review", "low", "unrated"]
    raw = rank_results(hits, sort="rating", rules=RankingRules(rating_prior_reviews=0))
    assert raw.ids == ["one_review", "many", "low", "unrated"]


def test_popularity_sort_by_purchases_then_reviews() -> None:
    hits = [
        (doc("a", purchase_count=5, review_count=1), 1.0),
        (doc("b", purchase_count=9), 1.0),
        (doc("c", purchase_count=5, review_count=7), 1.0),
    ]
    assert rank_results(hits, sort="popularity").ids == ["b", "c", "a"]


def test_newest_sort_uses_listing_dates_and_reports_when_missing() -> None:
    hits = [
        (doc("old", listed_at="2025-01-02"), 1.0),
        (doc("new", listed_at="2026-03-01T10:00:00Z"), 0.9),
        (doc("undated"), 0.95),
        (doc("mid", created_at="2025-11-30"), 0.8),
    ]
    assert rank_results(hits, sort="newest").ids == ["new", "mid", "old", "undated"]
    undated = rank_results([(doc("a"), 2.0), (doc("b"), 1.0)], sort="newest")
    assert undated.ids == ["a", "b"]
    assert "no result has a listing date" in undated.applied[-1]


def test_relevance_sort_and_empty_input() -> None:
    assert rank_results([], sort="price_asc").results == []
    hits = [(doc("a", price=9), 1.0), (doc("b", price=1), 2.0)]
    assert rank_results(hits, sort="relevance").ids == ["b", "a"]
    assert [result.position for result in rank_results(hits).results] == [1, 2]


def test_zero_scores_do_not_divide_by_zero() -> None:
    outcome = rank_results([(doc("a"), 0.0), (doc("b"), 0.0)])
    assert outcome.ids == ["a", "b"]
    assert [result.relevance for result in outcome.results] == [0.0, 0.0]


@given(st.lists(st.floats(min_value=0, max_value=1000, allow_nan=False), min_size=1, max_size=20))
def test_without_rules_the_engine_order_is_kept(scores: list[float]) -> None:
    ordered = sorted(scores, reverse=True)
    hits = [(doc(f"d{index}"), score) for index, score in enumerate(ordered)]
    assert rank_results(hits).ids == [f"d{index}" for index in range(len(ordered))]


@given(
    st.lists(
        st.tuples(st.floats(min_value=0, max_value=100), st.one_of(st.none(), st.integers(0, 10_000))),
        min_size=1,
        max_size=20,
    )
)
def test_sorting_is_a_permutation_and_ordered_within_the_head(items: list[tuple[float, int | None]]) -> None:
    hits = [(doc(f"d{i}", price=price), score) for i, (score, price) in enumerate(items)]
    outcome = rank_results(hits, sort="price_asc", rules=RankingRules(sort_relevance_floor=0))
    assert sorted(outcome.ids) == sorted(hit[0]["id"] for hit in hits)
    prices = [result.doc.get("price") for result in outcome.results]
    known = [price for price in prices if price is not None]
    assert known == sorted(known)
    assert prices[len(known) :] == [None] * (len(prices) - len(known))  # unpriced last


# --- value and bulk sorting, intent under a sort, bundles, pinned names -------------------------------


def test_value_sort_orders_by_unit_price_within_the_unit_most_results_share() -> None:
    big = doc("big", unit="ml", total_content=2600.0, unit_price=3.1, price=8100)
    small = doc("small", unit="ml", total_content=325.0, unit_price=3.4, price=1100)
    capsules = doc("capsules", unit="piece", total_content=30.0, unit_price=833.3, price=25000)
    unknown = doc("unknown", price=500)
    hits = [(small, 10.0), (capsules, 9.9), (unknown, 9.8), (big, 9.7)]
    outcome = rank_results(hits, sort="value")
    # Sticker price would open with "unknown" (500) and "small" (1,100); per ml "big" is cheaper.
    assert outcome.ids == ["big", "small", "capsules", "unknown"]
    assert outcome.results[0].reasons == ["sorted by unit price (price per ml, g or piece), low to high"]


def test_bulk_sort_puts_the_largest_total_content_first() -> None:
    one = doc("one", unit="ml", total_content=3000.0)
    two = doc("two", unit="ml", total_content=6000.0)
    refill = doc("refill", unit="ml", total_content=1200.0)
    outcome = rank_results([(refill, 10.0), (one, 9.0), (two, 8.0)], sort="bulk")
    assert outcome.ids == ["two", "one", "refill"]


def test_a_non_food_product_leaves_a_sorted_food_list() -> None:
    # The mask pack is cheap and a strong match, but the query wants food: under any sort it stays behind
    # every on-intent result instead of being sorted into them.
    mask = doc("mask", is_food=False, unit="ml", total_content=25.0, unit_price=60.0, price=1500)
    drink = doc("drink", unit="ml", total_content=325.0, unit_price=3.4, price=1100)
    pack = doc("pack", unit="ml", total_content=2600.0, unit_price=3.1, price=8100)
    for sort in ("price_asc", "value", "rating"):
        outcome = rank_results([(mask, 10.0), (drink, 9.0), (pack, 8.0)], food_intent=True, sort=sort)
        assert outcome.ids[-1] == "mask", sort
        assert "outside the query's food or non-food intent" in outcome.results[-1].reasons[-1]


def test_a_set_ranks_below_the_products_it_contains_unless_the_query_asks_for_a_set() -> None:
    bundle = doc("set", name="야쿠르트 2종 세트", child_ids=["light", "original"])
    light = doc("light", name="야쿠르트 라이트")
    other = doc("other", name="다른 음료")
    hits = [(bundle, 10.0), (light, 9.0), (other, 5.0)]
    outcome = rank_results(hits, query_terms=["야쿠르트", "라이트"])
    assert outcome.ids[:2] == ["light", "set"]
    assert "a set whose products are results too (x0.6)" in outcome.results[1].reasons
    assert rank_results(hits, query_terms=["야쿠르트", "선물세트"]).ids[0] == "set"
    # A set none of whose products is a result keeps its rank.
    assert rank_results([(bundle, 10.0), (other, 9.0)], query_terms=["야쿠르트"]).ids == ["set", "other"]


def test_pinned_products_come_first_whatever_the_sort() -> None:
    named = doc("named", price=9000)
    cheap = doc("cheap", price=100)
    outcome = rank_results([(cheap, 10.0), (named, 5.0)], sort="price_asc", pinned=["named"])
    assert outcome.ids == ["named", "cheap"]
    assert outcome.results[0].reasons[-1] == "the query is this product's name"
