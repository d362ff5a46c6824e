"""The response models of the shopper search: `GET /search` returns a `SearchResponse` (one page of
`SearchResultItem`s and the `SearchPlanSummary` of how the query was understood and executed).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cataloop.domain.search.classification import DecidedBy, QueryClassification
from cataloop.domain.search.guardrail import GuardrailAction
from cataloop.domain.search.plan import SearchMode
from cataloop.domain.search.query import QueryKind, SortIntent, SortOrder
from cataloop.domain.search.ranking import RankedResult
from cataloop.domain.search.variants import KeywordVariant


class SearchResultItem(BaseModel):
    """One result as the API returns it: display fields, the score and why the ranking moved it."""

    model_config = ConfigDict(frozen=True)

    id: str
    position: int = Field(ge=1)
    name: str
    brand: str | None = None
    price: float | None = None
    # What the listing holds in all (in `unit`: ml, g or piece) and its price per unit: what "가성비" (value)
    # and "대용량" (bulk) sort by.
    unit: Literal["ml", "g", "piece"] | None = None
    total_content: float | None = None
    unit_price: float | None = None
    rating: float | None = None
    review_count: int = 0
    purchase_count: int = 0
    is_food: bool | None = None
    category_path: list[str] = Field(default_factory=list)
    relevance: float
    engine_score: float
    reasons: list[str] = Field(default_factory=list)

    @classmethod
    def from_ranked(cls, ranked: RankedResult, position: int) -> SearchResultItem:
        doc = ranked.doc
        return cls(
            id=ranked.id,
            position=position,
            name=str(doc.get("name") or ranked.id),
            brand=doc.get("brand"),
            price=doc.get("price"),
            unit=doc.get("unit"),
            total_content=doc.get("total_content"),
            unit_price=doc.get("unit_price"),
            rating=doc.get("rating"),
            review_count=int(doc.get("review_count") or 0),
            purchase_count=int(doc.get("purchase_count") or 0),
            is_food=doc.get("is_food"),
            category_path=[str(part) for part in doc.get("category_path") or []],
            relevance=ranked.relevance,
            engine_score=ranked.engine_score,
            reasons=ranked.reasons,
        )


class GuardrailSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    action: GuardrailAction = "none"
    reasons: list[str] = Field(default_factory=list)


class ClassificationSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: QueryKind
    sort_intent: SortIntent | None = None
    food_intent: bool | None = None
    cleaned_query: str
    reasons: list[str] = Field(default_factory=list)
    classifier: str = Field(
        default="rules",
        description='Who classified the query: "bedrock", "rules", or "rules (fallback: REASON)" when the '
        "classifier model failed, answered invalid output or missed its latency budget.",
    )
    decided_by: DecidedBy = Field(
        default="examples",
        description='"rules": the rules alone decided the kind and the food intent, so the query was not '
        'embedded for the few-shot lookup; "examples": the nearest few-shot examples were looked up (the '
        "query embedded) for what the rules left open, or a model classified the query.",
    )

    @property
    def fell_back(self) -> bool:
        return self.classifier.startswith("rules (fallback")

    @classmethod
    def from_classification(cls, classification: QueryClassification) -> ClassificationSummary:
        return cls(
            kind=classification.kind,
            sort_intent=classification.sort_intent,
            food_intent=classification.food_intent,
            cleaned_query=classification.cleaned_query,
            reasons=classification.reasons,
            classifier=classification.classifier,
            decided_by=classification.decided_by,
        )


class VariantSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: Literal["keyboard", "chosung", "typo"]
    text: str
    reason: str
    alternatives: list[str] = Field(default_factory=list)

    @classmethod
    def from_variant(cls, variant: KeywordVariant) -> VariantSummary:
        return cls(
            kind=variant.kind, text=variant.text, reason=variant.reason, alternatives=variant.alternatives
        )


class ClauseSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    purpose: str
    text: str
    fields: list[str]
    boost: float


class VectorFloorSummary(BaseModel):
    """The similarity floors of the k-NN side: an absolute minimum and a margin below the best match."""

    model_config = ConfigDict(frozen=True)

    min_score: float | None = None
    margin: float | None = None


class SearchPlanSummary(BaseModel):
    """How the query was understood and executed: shown to shoppers and developers for transparency."""

    model_config = ConfigDict(frozen=True)

    exact_match: bool
    guardrail: GuardrailSummary = Field(default_factory=GuardrailSummary)
    classification: ClassificationSummary | None = None
    variants: list[VariantSummary] = Field(default_factory=list)
    mode: SearchMode
    sort: SortOrder
    clauses: list[ClauseSummary]
    ranking: list[str] = Field(default_factory=list)
    candidates: int = Field(ge=0)
    # Set when the keyword search found too little and the query was searched by meaning (hybrid) instead.
    fallback: str | None = None
    # The k-NN similarity floor the hybrid search applied ((1 + cosine) / 2; null without a vector side).
    vector_floor: VectorFloorSummary | None = None
    deferred: str | None = Field(
        default=None,
        description="Set on page 1 of an exact product-name match: the page is the named product alone (one "
        "term lookup); the keyword results for the name were not searched for it and are listed from page 2, "
        "which a client offers as more results.",
    )


class SearchResponse(BaseModel):
    """`GET /search`: one page of ranked results, the plan, and the token for `GET /search/comment`."""

    model_config = ConfigDict(frozen=True)

    query: str
    page: int
    size: int
    total: int
    results: list[SearchResultItem]
    plan: SearchPlanSummary
    comment_token: str | None = None
