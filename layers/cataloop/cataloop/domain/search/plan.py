"""The search plan both engines execute, and the score normalisation and combination they share.

A `SearchPlan` is engine-neutral: the OpenSearch adapter turns it into a `bool`/`multi_match` or `hybrid`
query plus a search pipeline, the embedded engine runs it on tantivy and numpy. Hybrid scores are combined by
the functions in this module, which follow the OpenSearch `normalization-processor` (min_max, l2,
arithmetic_mean) and `score-ranker-processor` (rrf) so that both engines rank alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SkipValidation, field_validator, model_validator

from cataloop.domain.search.hangul import (
    hangul_to_qwerty,
    is_chosung_query,
    looks_like_mistyped_korean,
    qwerty_to_hangul,
    to_chosung,
)
from cataloop.domain.search.query import name_key

SearchMode = Literal["keyword", "hybrid"]
Normalization = Literal["min_max", "l2"]
Combination = Literal["arithmetic_mean", "rrf"]
SortKey = Literal[
    "relevance",
    "price_asc",
    "price_desc",
    "rating",
    "review_count",
    "purchase_count",
    "unit_price_asc",
    "total_content_desc",
]
ClausePurpose = Literal["text", "chosung", "keyboard", "typo", "exact"]

# Logical field names. Both engines map them to their own storage: a `.en` suffix is the English
# sub-field (OpenSearch multi-field, a stemmed tantivy field locally); a `.joined` suffix is the compound
# sub-field: it indexes the words and each pair of neighbours written together ("주방 세제" -> 주방, 세제,
# 주방세제) and is searched with the query's pairs only (its one word for a one-word query), so a compound
# matches however the shopper or the seller spaced it. It is boosted above `name` because one compound
# term stands for two query words.
SearchField = Literal[
    "name",
    "name.en",
    "name.joined",
    "keywords.joined",
    "description",
    "description.en",
    "english",
    "keywords",
    "brand",
    "category",
    "child_names",
    "attributes",
    "name_chosung",
    "name_qwerty",
    "name_key",
]

RRF_RANK_CONSTANT = 60
# OpenSearch's min_max gives a clause's lowest score this value instead of 0, so that a document every
# clause returned still outranks one no clause scored. Mirrored here so local ranks match.
MIN_MAX_FLOOR = 0.001
# A lone score (max == min) normalises to 1.0 in OpenSearch's min_max.
MIN_MAX_SINGLE_RESULT = 1.0

MAX_QUERY_CHARS = 200
MAX_PAGE_SIZE = 100
MAX_RESULT_WINDOW = 1000


class FieldBoost(BaseModel):
    """One field of a lexical clause with its boost (`name^3`)."""

    model_config = ConfigDict(frozen=True)

    field: SearchField
    boost: float = Field(default=1.0, gt=0, le=100)


class LexicalClause(BaseModel):
    """A best-field match of `text` over `fields`: a document's clause score is its best boosted field
    score (OpenSearch `multi_match` type `best_fields`), times `boost`."""

    model_config = ConfigDict(frozen=True)

    purpose: ClausePurpose
    text: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    fields: tuple[FieldBoost, ...] = Field(min_length=1)
    boost: float = Field(default=1.0, gt=0, le=100)
    operator: Literal["or", "and"] = "or"
    # With "or": a field matches only when enough of the query's analysed terms do (OpenSearch
    # `minimum_should_match: "P%"`): P > 0 is the share that must match (rounded down), P < 0 the share
    # that may be missing (rounded down); at least one term. So "3인용 소파" is not answered by every
    # product with a "3" in its name. None: any one term.
    min_match_percent: int | None = Field(default=None, ge=-99, le=100)


class SearchFilters(BaseModel):
    """Hard filters: they restrict the candidates and never change a score."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    category_prefix: tuple[str, ...] | None = Field(default=None, min_length=1, max_length=8)
    brands: tuple[str, ...] = ()
    is_food: bool | None = None
    price_min: float | None = Field(default=None, ge=0)
    price_max: float | None = Field(default=None, ge=0)
    min_rating: float | None = Field(default=None, ge=0, le=5)
    attributes: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    exclude_ids: tuple[str, ...] = ()
    top_level_only: bool = False

    @model_validator(mode="after")
    def _price_range(self) -> SearchFilters:
        if self.price_min is not None and self.price_max is not None and self.price_min > self.price_max:
            raise ValueError("price_min must not exceed price_max; swap or drop one bound")
        return self

    @property
    def is_empty(self) -> bool:
        return self == SearchFilters()


class SearchPlan(BaseModel):
    """What to search and how to rank it; engines execute it without adding their own logic."""

    model_config = ConfigDict(frozen=True)

    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    mode: SearchMode = "keyword"
    clauses: tuple[LexicalClause, ...] = Field(min_length=1, max_length=8)
    filters: SearchFilters = Field(default_factory=SearchFilters)
    size: int = Field(default=20, ge=1, le=MAX_PAGE_SIZE)
    page: int = Field(default=0, ge=0)
    sort: SortKey = "relevance"
    lexical_weight: float = Field(default=0.5, ge=0, le=1)
    vector_weight: float = Field(default=0.5, ge=0, le=1)
    normalization: Normalization = "min_max"
    combination: Combination = "arithmetic_mean"
    rank_constant: int = Field(default=RRF_RANK_CONSTANT, ge=1, le=10_000)
    # How many hits each hybrid sub-query contributes before combination (k-NN `k`, hybrid
    # `pagination_depth`). OpenSearch's guidance is 100-200 for good fused relevance.
    candidate_depth: int = Field(default=100, ge=1, le=MAX_RESULT_WINDOW)
    # Similarity floors for products only the vectors find, on the k-NN score scale (1 + cosine) / 2. With a
    # floor, the k-NN side returns the (at most `candidate_depth`) products scoring at least
    # `min_vector_score` and at least (best k-NN score - `vector_score_margin`), plus every product the
    # lexical side found, with its similarity; so a lexical match keeps its semantic score, and a query with
    # no lexical evidence and weak semantic evidence returns nothing instead of the nearest 100 products.
    # See `vector_floor`.
    min_vector_score: float | None = Field(default=None, ge=0, le=1)
    vector_score_margin: float | None = Field(default=None, ge=0, le=1)

    @field_validator("query")
    @classmethod
    def _query_has_text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("query must contain at least one non-space character")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SearchPlan:
        if self.offset + self.size > MAX_RESULT_WINDOW:
            raise ValueError(f"page*size+size must be at most {MAX_RESULT_WINDOW}; ask for an earlier page")
        if self.mode == "hybrid":
            if self.lexical_weight + self.vector_weight <= 0:
                raise ValueError("a hybrid plan needs lexical_weight + vector_weight > 0")
            if self.candidate_depth < self.offset + self.size:
                raise ValueError("candidate_depth must cover the requested page (page*size+size)")
        return self

    @property
    def offset(self) -> int:
        return self.page * self.size

    def sub_query_weights(self) -> tuple[float, float]:
        """(lexical, vector) weights scaled to sum to 1, as the OpenSearch pipeline requires."""
        total = self.lexical_weight + self.vector_weight
        if total <= 0:
            return (1.0, 0.0)
        return (self.lexical_weight / total, self.vector_weight / total)


class SearchHit(BaseModel):
    """One result: the document id, its final score (fused for hybrid plans) and the stored fields."""

    model_config = ConfigDict(frozen=True)

    id: str
    score: float
    # Not re-validated (no copy): every index adapter passes a dict of its own (a copy of the stored source
    # or the parsed response), and the search reads a hundred of them per query.
    source: SkipValidation[dict[str, Any]] = Field(default_factory=dict)


class SearchPage(BaseModel):
    """One page of results; `total` counts every match of the plan (for hybrid: the fused candidates)."""

    model_config = ConfigDict(frozen=True)

    hits: list[SearchHit]
    total: int


# --- normalisation ------------------------------------------------------------------------------------


def min_max(scores: Mapping[str, float]) -> dict[str, float]:
    """Rescale one clause's scores to (0, 1] from that clause's own min and max (OpenSearch semantics:
    the minimum maps to 0.001, and a clause whose scores are all equal maps them to 1.0)."""
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    if high == low:
        return dict.fromkeys(scores, MIN_MAX_SINGLE_RESULT)
    span = high - low
    # OpenSearch floors only an exact 0; flooring everything below keeps the mapping order-preserving and
    # changes nothing a ranking can notice.
    return {doc_id: max((score - low) / span, MIN_MAX_FLOOR) for doc_id, score in scores.items()}


def l2(scores: Mapping[str, float]) -> dict[str, float]:
    """Divide one clause's scores by their Euclidean norm; an all-zero clause stays at zero."""
    norm = math.hypot(*scores.values())  # hypot scales internally: tiny scores do not underflow to 0
    if norm == 0:
        return dict.fromkeys(scores, 0.0)
    return {doc_id: score / norm for doc_id, score in scores.items()}


NORMALIZERS: dict[Normalization, Callable[[Mapping[str, float]], dict[str, float]]] = {
    "min_max": min_max,
    "l2": l2,
}


# --- combination --------------------------------------------------------------------------------------


def arithmetic_mean(normalized: Sequence[Mapping[str, float]], weights: Sequence[float]) -> dict[str, float]:
    """Weighted mean over clauses, a clause that did not return a document counting as 0 for it."""
    _check_weights(len(normalized), weights)
    total_weight = sum(weights)
    combined: dict[str, float] = {}
    for clause_scores, weight in zip(normalized, weights, strict=True):
        for doc_id, score in clause_scores.items():
            combined[doc_id] = combined.get(doc_id, 0.0) + weight * score
    if total_weight == 0:
        return dict.fromkeys(combined, 0.0)
    return {doc_id: score / total_weight for doc_id, score in combined.items()}


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[str]], weights: Sequence[float] | None = None, k: int = RRF_RANK_CONSTANT
) -> dict[str, float]:
    """RRF: each ranked list adds weight / (k + rank) to its documents, rank starting at 1."""
    if k < 1:
        raise ValueError("the RRF rank constant k must be at least 1")
    effective = list(weights) if weights is not None else [1.0] * len(rankings)
    _check_weights(len(rankings), effective)
    fused: dict[str, float] = {}
    for ranking, weight in zip(rankings, effective, strict=True):
        for rank, doc_id in enumerate(ranking, start=1):
            fused[doc_id] = fused.get(doc_id, 0.0) + weight / (k + rank)
    return fused


def required_matches(terms: int, percent: int | None) -> int:
    """How many of a field's `terms` optional query terms must match under `min_match_percent` (Lucene's
    rule for "P%" and "-P%": the share rounded down, and at least one)."""
    if percent is None or terms <= 1:
        return 1
    if percent < 0:
        return max(1, terms - terms * -percent // 100)
    return max(1, terms * percent // 100)


def vector_floor(best: float | None, min_score: float | None, margin: float | None) -> float | None:
    """The k-NN score a hit needs under a plan's floors, given the best k-NN score of the query (None when
    no floor applies). Both engines compute it with this function."""
    relative = best - margin if best is not None and margin is not None else None
    floors = [floor for floor in (min_score, relative) if floor is not None]
    return max(floors) if floors else None


def rank_by_score(scores: Mapping[str, float]) -> list[str]:
    """Ids by descending score; ties broken by id so results are reproducible."""
    return sorted(scores, key=lambda doc_id: (-scores[doc_id], doc_id))


def combine_sub_queries(
    sub_query_scores: Sequence[Mapping[str, float]],
    *,
    normalization: Normalization,
    combination: Combination,
    weights: Sequence[float],
    rank_constant: int = RRF_RANK_CONSTANT,
) -> dict[str, float]:
    """Fuse raw per-sub-query scores into one score per document, as the OpenSearch pipeline would."""
    if combination == "rrf":
        return reciprocal_rank_fusion(
            [rank_by_score(scores) for scores in sub_query_scores], weights, rank_constant
        )
    normalize = NORMALIZERS[normalization]
    return arithmetic_mean([normalize(scores) for scores in sub_query_scores], weights)


def _check_weights(clauses: int, weights: Sequence[float]) -> None:
    if len(weights) != clauses:
        raise ValueError(f"got {len(weights)} weights for {clauses} sub-queries; give one weight each")
    if any(weight < 0 for weight in weights):
        raise ValueError("weights must be non-negative")


# --- planning -----------------------------------------------------------------------------------------

TEXT_FIELDS: tuple[FieldBoost, ...] = (
    FieldBoost(field="name", boost=3.0),
    FieldBoost(field="name.joined", boost=5.0),
    FieldBoost(field="name.en", boost=2.0),
    FieldBoost(field="brand", boost=2.5),
    FieldBoost(field="keywords", boost=2.0),
    FieldBoost(field="keywords.joined", boost=3.0),
    FieldBoost(field="english", boost=1.5),
    FieldBoost(field="child_names", boost=1.0),
    FieldBoost(field="category", boost=1.0),
    FieldBoost(field="attributes", boost=1.0),
    FieldBoost(field="description", boost=0.5),
    FieldBoost(field="description.en", boost=0.3),
)
CHOSUNG_FIELDS: tuple[FieldBoost, ...] = (FieldBoost(field="name_chosung", boost=1.0),)
KEYBOARD_FIELDS: tuple[FieldBoost, ...] = (FieldBoost(field="name_qwerty", boost=1.0),)
NAME_KEY_FIELDS: tuple[FieldBoost, ...] = (FieldBoost(field="name_key", boost=1.0),)


def exact_name_plan(query: str, size: int = 10) -> SearchPlan:
    """The exact-name fast path: one term lookup of `name_key(query)` in the `name_key` field (a keyword
    field on OpenSearch, a raw term locally), so a product whose name the query is comes back however the
    shopper spaced "65ml x 20개"."""
    key = name_key(query)
    if not key:
        raise ValueError("query must contain at least one non-space character")
    clause = LexicalClause(purpose="exact", text=key[:MAX_QUERY_CHARS], fields=NAME_KEY_FIELDS)
    return SearchPlan(query=query, clauses=(clause,), size=size)


def build_search_plan(
    query: str,
    *,
    mode: SearchMode = "keyword",
    filters: SearchFilters | None = None,
    sort: SortKey = "relevance",
    size: int = 20,
    page: int = 0,
    in_catalog: Callable[[str], bool] | None = None,
    lexical_weight: float = 0.5,
    vector_weight: float = 0.5,
    normalization: Normalization = "min_max",
    combination: Combination = "arithmetic_mean",
    candidate_depth: int = 100,
    min_vector_score: float | None = None,
    vector_score_margin: float | None = None,
    min_match_percent: int | None = None,
) -> SearchPlan:
    """Plan a shopper query: the text clause, plus a chosung clause for initial-consonant queries and
    keyboard-layout clauses for text typed in the wrong layout. A layout-converted text is added only
    when `in_catalog` accepts it, so real English words are not turned into Hangul noise."""
    text = " ".join(query.split())
    if not text:
        raise ValueError("query must contain at least one non-space character")
    clauses: list[LexicalClause] = []
    if is_chosung_query(text):
        clauses.append(
            LexicalClause(purpose="chosung", text=to_chosung(text), fields=CHOSUNG_FIELDS, boost=2.0)
        )
    else:
        clauses.append(
            LexicalClause(purpose="text", text=text, fields=TEXT_FIELDS, min_match_percent=min_match_percent)
        )
    if looks_like_mistyped_korean(text):
        clauses.append(LexicalClause(purpose="keyboard", text=text.lower(), fields=KEYBOARD_FIELDS))
        hangul = qwerty_to_hangul(text)
        if hangul != text and in_catalog is not None and in_catalog(hangul):
            clauses.append(LexicalClause(purpose="keyboard", text=hangul, fields=TEXT_FIELDS))
    elif in_catalog is not None and _is_all_hangul(text):
        latin = hangul_to_qwerty(text)
        if latin != text and in_catalog(latin):
            clauses.append(LexicalClause(purpose="keyboard", text=latin, fields=TEXT_FIELDS, boost=0.8))
    return SearchPlan(
        query=text,
        mode=mode,
        clauses=tuple(clauses),
        filters=filters or SearchFilters(),
        sort=sort,
        size=size,
        page=page,
        lexical_weight=lexical_weight,
        vector_weight=vector_weight,
        normalization=normalization,
        combination=combination,
        candidate_depth=candidate_depth,
        min_vector_score=min_vector_score if mode == "hybrid" else None,
        vector_score_margin=vector_score_margin if mode == "hybrid" else None,
    )


def _is_all_hangul(text: str) -> bool:
    letters = [char for char in text if not char.isspace()]
    return bool(letters) and all(
        "\u1100" <= char <= "\u11ff" or "\u3130" <= char <= "\u318f" or "\uac00" <= char <= "\ud7a3"
        for char in letters
    )
