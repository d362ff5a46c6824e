"""Re-ranking of engine hits by shopping rules, with the reason for every move (shown in the search plan).

Rules, in order:
1. relevance = engine score / best engine score, so the rules below do not depend on the engine's scale
   (BM25 or fused hybrid scores);
2. keyword-field boost: + `keyword_weight` × (query terms found in the product's seller keywords / terms);
3. intent demotion: a query with food intent multiplies non-food products by `demotion_factor` (the
   야쿠르트 drink above the 야쿠르트 character goods), and a non-food intent does the same to food;
4. bundles after their components: a bundle whose component is also a candidate is multiplied by
   `bundle_factor`, unless the query asks for a set ("세트", "선물", "set", "gift": `asks_for_set`);
5. sort intent: the candidates within `sort_relevance_floor` of the best are re-sorted by price, unit price
   (value), total content (bulk), rating, popularity or date (stable; ties keep relevance order); weaker
   candidates and the ones demoted by intent follow in relevance order, so "저렴한 유산균" does not open with
   a cheap product that barely matched, nor with a cheap mask pack;
6. pinned products (the exact-name fast path) come first, whatever the sort.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SkipValidation

from cataloop.domain.search.query import SortOrder

# Fields a listing date may be stored under; the first present one is used for "newest".
LISTING_DATE_FIELDS = ("listed_at", "created_at", "first_listed_at")

# Words that ask for a set or a gift: bundles then keep their rank above their components.
SET_WORDS = ("세트", "선물", "기획", "묶음", "모음", "set", "sets", "gift", "gifts", "bundle", "bundles")

_SORT_LABELS: dict[str, str] = {
    "value": "unit price (price per ml, g or piece), low to high",
    "bulk": "total content, largest first",
    "price_asc": "price, low to high",
    "price_desc": "price, high to low",
    "rating": "review-weighted rating",
    "popularity": "purchases, then reviews",
    "newest": "listing date, newest first",
}


class RankingRules(BaseModel):
    """Tunable weights of the re-ranking rules."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    keyword_weight: float = Field(default=0.3, ge=0, le=10)
    demotion_factor: float = Field(default=0.3, ge=0, le=1)
    sort_relevance_floor: float = Field(default=0.5, ge=0, le=1)
    bundle_factor: float = Field(default=0.6, ge=0, le=1)
    # A rating is pulled toward the candidates' mean as if it had this many extra average reviews, so a
    # single 5-star review does not outrank 4.9 stars from 300 reviews. 0 sorts by the raw rating.
    rating_prior_reviews: float = Field(default=10.0, ge=0)


class RankedResult(BaseModel):
    """One hit after re-ranking: the engine's score, the rule-adjusted relevance and why it moved."""

    model_config = ConfigDict(frozen=True)

    id: str
    position: int = Field(ge=1)
    engine_score: float
    relevance: float
    # Not re-validated (no copy): `rank_results` hands each result its own copy of the document, and a
    # hundred document copies per search cost more than the ranking rules.
    doc: SkipValidation[dict[str, Any]]
    reasons: list[str] = Field(default_factory=list)


class RankingOutcome(BaseModel):
    """The re-ranked results and the rules that applied (for the response's plan)."""

    model_config = ConfigDict(frozen=True)

    results: list[RankedResult]
    applied: list[str] = Field(default_factory=list)

    @property
    def ids(self) -> list[str]:
        return [result.id for result in self.results]


def keyword_matches(query_terms: Sequence[str], keywords: Sequence[str]) -> list[str]:
    """Query terms found in the product's keywords: equal to one, or (two or more characters) inside one,
    ignoring case and spaces ("유산균" is in "유산균음료")."""
    return _matches(_folded_terms(query_terms), keywords)


def _folded_terms(query_terms: Sequence[str]) -> list[str]:
    return [term for term in dict.fromkeys("".join(term.split()).casefold() for term in query_terms) if term]


def _matches(folded_terms: Sequence[str], keywords: Sequence[str]) -> list[str]:
    if not keywords or not folded_terms:
        return []
    # All keywords folded in one string, "\0" between them (a separator no term holds, so a term never
    # matches across two keywords): one pass over the text instead of one per keyword.
    joined = "\0" + "".join("\0".join(map(str, keywords)).split()).casefold() + "\0"
    return [term for term in folded_terms if (term in joined if len(term) >= 2 else f"\0{term}\0" in joined)]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _listing_date(doc: Mapping[str, Any]) -> str | None:
    for field in LISTING_DATE_FIELDS:
        value = doc.get(field)
        if value not in (None, ""):
            return str(value)
    return None


def asks_for_set(query_terms: Sequence[str]) -> bool:
    """True when a query term is or contains a set word ("선물세트", "gift set")."""
    folded = [term.casefold() for term in query_terms]
    return any(word in term for term in folded for word in SET_WORDS)


class _Candidate:
    __slots__ = ("doc", "engine_score", "id", "off_intent", "reasons", "relevance")

    def __init__(self, doc: Mapping[str, Any], engine_score: float, relevance: float) -> None:
        self.doc = dict(doc)
        self.id = str(self.doc.get("id", ""))
        self.engine_score = engine_score
        self.relevance = relevance
        self.off_intent = False
        self.reasons: list[str] = []


def rank_results(
    hits: Sequence[tuple[Mapping[str, Any], float]],
    *,
    query_terms: Sequence[str] = (),
    food_intent: bool | None = None,
    sort: SortOrder | None = None,
    rules: RankingRules | None = None,
    pinned: Sequence[str] = (),
) -> RankingOutcome:
    """Re-rank `(document, engine score)` hits (documents as the index stores them, with `id`). Pure and
    deterministic: equal inputs give equal outputs, and hits the rules do not touch keep the engine order."""
    rules = rules or RankingRules()
    applied: list[str] = []
    if not hits:
        return RankingOutcome(results=[], applied=applied)
    best = max(max(float(score), 0.0) for _, score in hits)
    candidates = [
        _Candidate(doc, float(score), max(float(score), 0.0) / best if best > 0 else 0.0)
        for doc, score in hits
    ]
    terms = [term for term in query_terms if term.strip()]

    if terms and rules.keyword_weight > 0:
        boosted = 0
        folded_terms = _folded_terms(terms)  # once per search, not per candidate
        distinct = len(dict.fromkeys(terms))
        for candidate in candidates:
            matched = _matches(folded_terms, candidate.doc.get("keywords") or [])
            if matched:
                bonus = rules.keyword_weight * len(matched) / distinct
                candidate.relevance += bonus
                candidate.reasons.append(
                    f"seller keywords match {len(matched)} of {len(terms)} query terms (+{bonus:.2f})"
                )
                boosted += 1
        if boosted:
            applied.append(f"keyword-field boost on {boosted} results (weight {rules.keyword_weight})")

    if food_intent is not None and rules.demotion_factor < 1:
        demoted = 0
        kind = "non-food product for a food query" if food_intent else "food product for a non-food query"
        demotion = f"{kind} (x{rules.demotion_factor})"
        for candidate in candidates:
            is_food = candidate.doc.get("is_food")
            if isinstance(is_food, bool) and is_food != food_intent:
                candidate.relevance *= rules.demotion_factor
                candidate.reasons.append(demotion)
                candidate.off_intent = True
                demoted += 1
        if demoted:
            applied.append(f"{'non-food' if food_intent else 'food'} results demoted: {demoted}")

    if rules.bundle_factor < 1 and not asks_for_set(terms):
        _demote_bundles(candidates, rules, applied)

    # Stable: equal relevance keeps the engine's order (which breaks its own ties by id).
    candidates.sort(key=lambda candidate: -candidate.relevance)

    if sort is not None and sort != "relevance":
        candidates = _apply_sort(candidates, sort, rules, applied)

    if pinned:
        first = [candidate for wanted in pinned for candidate in candidates if candidate.id == wanted]
        if first:
            for candidate in first:
                candidate.reasons.append("the query is this product's name")
            rest = [candidate for candidate in candidates if candidate not in first]
            candidates = first + rest
            applied.append(f"exact product name first: {len(first)} result(s)")

    results = [
        RankedResult(
            id=candidate.id,
            position=position,
            engine_score=candidate.engine_score,
            relevance=round(candidate.relevance, 6),
            doc=candidate.doc,
            reasons=candidate.reasons,
        )
        for position, candidate in enumerate(candidates, 1)
    ]
    return RankingOutcome(results=results, applied=applied)


def _demote_bundles(candidates: Sequence[_Candidate], rules: RankingRules, applied: list[str]) -> None:
    present = {candidate.id for candidate in candidates}
    demoted = 0
    for candidate in candidates:
        children = [str(child) for child in candidate.doc.get("child_ids") or []]
        if any(child in present for child in children):
            candidate.relevance *= rules.bundle_factor
            candidate.reasons.append(f"a set whose products are results too (x{rules.bundle_factor})")
            demoted += 1
    if demoted:
        applied.append(f"sets after the products they contain: {demoted}")


def _apply_sort(
    candidates: list[_Candidate], sort: SortOrder, rules: RankingRules, applied: list[str]
) -> list[_Candidate]:
    # Products of the other food intent are never sorted into the head (unless no result has the intent).
    sortable = [candidate for candidate in candidates if not candidate.off_intent] or candidates
    cut = sortable[0].relevance * rules.sort_relevance_floor
    head = [candidate for candidate in sortable if candidate.relevance >= cut]
    in_head = {id(candidate) for candidate in head}
    tail = [candidate for candidate in candidates if id(candidate) not in in_head]
    label = _SORT_LABELS[sort]

    if sort == "newest" and not any(_listing_date(candidate.doc) for candidate in head):
        applied.append("newest requested, but no result has a listing date: kept relevance order")
        return candidates

    key = _sort_key(sort, head, rules)
    head.sort(key=key)  # stable: ties keep the relevance order established above
    for candidate in head:
        candidate.reasons.append(f"sorted by {label}")
    for candidate in tail:
        if candidate.off_intent:
            candidate.reasons.append("not sorted: outside the query's food or non-food intent")
        else:
            candidate.reasons.append(
                f"below the relevance floor for sorting ({rules.sort_relevance_floor:.0%})"
            )
    applied.append(
        f"sorted by {label}: {len(head)} results within {rules.sort_relevance_floor:.0%} of the best "
        f"relevance; {len(tail)} weaker results follow"
    )
    return head + tail


def _sort_key(sort: SortOrder, head: Sequence[_Candidate], rules: RankingRules) -> Any:
    """A key function putting products that lack the sort value last."""
    if sort in ("value", "bulk"):
        units = [
            str(c.doc["unit"]) for c in head if c.doc.get("unit") and _number(c.doc.get("total_content"))
        ]
        # Prices per ml, g and piece do not compare: the unit of the best match sorts first ("가성비 유산균":
        # capsules per piece when a capsule box matches best, then the drinks per ml).
        dominant = units[0] if units else None
        field, sign = ("unit_price", 1.0) if sort == "value" else ("total_content", -1.0)

        def content_key(candidate: _Candidate) -> tuple[bool, bool, float]:
            number = _number(candidate.doc.get(field))
            if number is None:
                return (True, True, 0.0)
            return (False, candidate.doc.get("unit") != dominant, sign * number)

        return content_key
    if sort in ("price_asc", "price_desc"):
        sign = 1.0 if sort == "price_asc" else -1.0

        def price_key(candidate: _Candidate) -> tuple[bool, float]:
            price = _number(candidate.doc.get("price"))
            return (price is None, sign * price if price is not None else 0.0)

        return price_key
    if sort == "rating":
        rated = [r for c in head if (r := _number(c.doc.get("rating"))) is not None]
        mean = sum(rated) / len(rated) if rated else 0.0
        prior = rules.rating_prior_reviews

        def rating_key(candidate: _Candidate) -> tuple[bool, float]:
            rating = _number(candidate.doc.get("rating"))
            if rating is None:
                return (True, 0.0)
            reviews = max(_number(candidate.doc.get("review_count")) or 0.0, 0.0)
            weighted = (
                (rating * reviews + mean * prior) / (reviews + prior) if reviews + prior > 0 else rating
            )
            return (False, -weighted)

        return rating_key
    if sort == "popularity":

        def popularity_key(candidate: _Candidate) -> tuple[float, float]:
            purchases = _number(candidate.doc.get("purchase_count")) or 0.0
            reviews = _number(candidate.doc.get("review_count")) or 0.0
            return (-purchases, -reviews)

        return popularity_key

    def date_key(candidate: _Candidate) -> tuple[bool, float, str]:
        listed = _listing_date(candidate.doc)
        if listed is None:
            return (True, 0.0, "")
        number = _number(listed)
        # ISO-8601 strings order as text; epoch numbers as numbers. Inverting each character lets a plain
        # ascending (stable) sort put the newest string first.
        inverted = "".join(chr(0x10FFFF - ord(char)) for char in listed) + "\U0010ffff"
        return (False, -number, "") if number is not None else (False, 0.0, inverted)

    return date_key
