"""The shopper search use case: `GET /search` and `GET /search/comment`, over ports only.

One search, in order: validate -> exact product-name fast path -> guardrail on the query -> chosung or
keyboard variant resolved against the catalog vocabulary -> classification (keyword or natural language,
sort intent, food intent) -> plan (keyword, or hybrid lexical + k-NN) -> re-ranking of ~100 candidates ->
the requested page, the plan that produced it and a token for the AI comment -> one search-log record.

The comment is a separate call so that results are never delayed by a model: the token carries the
(guardrail-checked) query and the result ids, the comment is grounded on those products' metadata only,
and the guardrail checks it again on the way out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from cataloop.domain.model_calls import ModelRequest
from cataloop.domain.search.comment import (
    COMMENT_TOP_N,
    DEFAULT_TOKEN_TTL_SECONDS,
    CommentOutput,
    CommentRequest,
    SearchComment,
    comment_from_model,
    make_comment_token,
    offline_comment,
    read_comment_token,
    render_commenter_prompt,
)
from cataloop.domain.search.guardrail import GuardrailAction
from cataloop.domain.search.log import SearchLogRecord
from cataloop.domain.search.plan import (
    MAX_PAGE_SIZE,
    MAX_RESULT_WINDOW,
    LexicalClause,
    SearchMode,
    SearchPage,
    SearchPlan,
    build_search_plan,
)
from cataloop.domain.search.query_analysis import (
    CatalogVocabulary,
    FewShotIndex,
    KeywordVariant,
    QueryClassification,
    QueryKind,
    SearchRequest,
    SortIntent,
    SortOrder,
    chosung_variant,
    classify,
    keyboard_variant,
    query_key,
    sort_order_for,
)
from cataloop.domain.search.ranking import RankedResult, RankingRules, rank_results
from cataloop.errors import CataloopError, InvalidInput, ModelError, RetryableModelError
from cataloop.ports import Embedder, Guardrail, ModelClient

logger = logging.getLogger(__name__)

DEFAULT_CANDIDATE_DEPTH = 100
MAX_PLAN_CLAUSES = 8
# How long a built catalog vocabulary is reused while the index keeps the same number of terms.
VOCABULARY_MAX_AGE_SECONDS = 60.0


# --- ports --------------------------------------------------------------------------------------------


class ProductSearchIndex(Protocol):
    """The read side of a product index (`LocalSearchIndex`, `OpenSearchIndex`)."""

    def search(self, plan: SearchPlan, query_vector: Sequence[float] | None = None) -> SearchPage: ...


class SearchLogWriter(Protocol):
    """Where search-log records go (`SearchLogFiles` locally, `SearchLogS3` in AWS)."""

    def write(self, records: Iterable[SearchLogRecord]) -> Any: ...


ProductDocumentLookup = Callable[[Sequence[str]], list[dict[str, Any]]]
"""Product ids -> their indexed documents (with `id`), in the order asked; unknown ids are left out."""


class StoredProductReader(Protocol):
    def get(self, product_id: str) -> Any: ...


def documents_from_product_store(store: StoredProductReader) -> ProductDocumentLookup:
    """A lookup that rebuilds each product's search document from the Products table (the source of truth
    the index is built from), so a comment never depends on a second index read path."""
    from cataloop.domain.search.documents import product_document

    def lookup(product_ids: Sequence[str]) -> list[dict[str, Any]]:
        documents = []
        for product_id in product_ids:
            stored = store.get(product_id)
            if stored is not None:
                document = product_document(stored.listing, stored.enrichment or None, stored.version)
                documents.append(document.source())
        return documents

    return lookup


# --- response models ----------------------------------------------------------------------------------


class SearchResultItem(BaseModel):
    """One result as the API returns it: display fields, the score and why the ranking moved it."""

    model_config = ConfigDict(frozen=True)

    id: str
    position: int = Field(ge=1)
    name: str
    brand: str | None = None
    price: float | None = None
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


class VariantSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: Literal["keyboard", "chosung"]
    text: str
    reason: str
    alternatives: list[str] = Field(default_factory=list)


class ClauseSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    purpose: str
    text: str
    fields: list[str]
    boost: float


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


# --- the service --------------------------------------------------------------------------------------


class SearchSettings(BaseModel):
    """Tunables of the search use case."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    candidate_depth: int = Field(default=DEFAULT_CANDIDATE_DEPTH, ge=1, le=MAX_RESULT_WINDOW)
    comment_top_n: int = Field(default=COMMENT_TOP_N, ge=1, le=10)
    token_ttl_seconds: int = Field(default=DEFAULT_TOKEN_TTL_SECONDS, ge=1)
    ranking: RankingRules = Field(default_factory=RankingRules)


class SearchService:
    """Runs searches and comments over the given ports; build one per process (it caches the catalog
    vocabulary and holds the few-shot index)."""

    def __init__(
        self,
        index: ProductSearchIndex,
        guardrail: Guardrail,
        few_shot: FewShotIndex,
        *,
        token_secret: bytes | str,
        embedder: Embedder | None = None,
        search_log: SearchLogWriter | None = None,
        documents: ProductDocumentLookup | None = None,
        commenter: ModelClient | None = None,
        catalog_terms: Callable[[], Iterable[str]] | None = None,
        in_catalog: Callable[[str], bool] | None = None,
        settings: SearchSettings | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        typo_corrections: Mapping[str, str] | None = None,
    ) -> None:
        self.typo_corrections = dict(typo_corrections or {})
        self.index = index
        self.guardrail = guardrail
        self.few_shot = few_shot
        self.embedder = embedder
        self.search_log = search_log
        self.documents = documents
        self.commenter = commenter
        self.settings = settings or SearchSettings()
        self._token_secret = token_secret
        self._catalog_terms = catalog_terms or getattr(index, "vocabulary", None)
        self._in_catalog = in_catalog or getattr(index, "in_catalog", None)
        self._clock = clock
        self._vocabulary: CatalogVocabulary | None = None
        self._vocabulary_key: tuple[int, float] = (-1, 0.0)

    # --- GET /search -------------------------------------------------------------------------------

    def search(self, params: Mapping[str, Any], request_id: str | None = None) -> SearchResponse:
        """Validate raw query parameters and answer one page; InvalidInput says what to change."""
        started = time.perf_counter()
        request = SearchRequest.parse(params)
        record: dict[str, Any] = {"page": request.page, "request_id": request_id}
        try:
            response = self._exact_match(request) or self._full_search(request, record)
        except InvalidInput:
            self._log(record, started)
            raise
        plan = response.plan
        record.update(
            query=response.query,
            exact_match=plan.exact_match,
            sort=plan.sort,
            mode=plan.mode,
            result_count=response.total,
            guardrail_action=plan.guardrail.action,
        )
        if plan.classification is not None:
            record.update(
                kind=plan.classification.kind,
                sort_intent=plan.classification.sort_intent,
                food_intent=plan.classification.food_intent,
                cleaned_query=plan.classification.cleaned_query,
            )
        record["variants"] = [variant.text for variant in plan.variants]
        self._log(record, started)
        return response

    def _exact_match(self, request: SearchRequest) -> SearchResponse | None:
        """Keyword results when a product's name is exactly the query: no guardrail, classification or
        variants (a catalog name is neither abuse nor personal data, and needs no interpretation)."""
        depth = self._depth(request)
        plan = build_search_plan(request.q, size=min(depth, MAX_PAGE_SIZE), candidate_depth=depth)
        candidates = self._candidates(plan, None, request)
        wanted = query_key(request.q)
        if not any(query_key(str(doc.get("name", ""))) == wanted for doc, _ in candidates.hits):
            return None
        sort = request.sort or "relevance"
        return self._respond(
            request,
            request.q,
            plan,
            candidates,
            total=candidates.total,
            query_terms=request.q.split(),
            food_intent=None,
            sort=sort,
            summary={"exact_match": True},
        )

    def _full_search(self, request: SearchRequest, record: dict[str, Any]) -> SearchResponse:
        verdict = self.guardrail.check(request.q, "INPUT")
        text = verdict.text_to_use(request.q)
        if text is None:
            record["guardrail_action"] = "blocked"
            raise InvalidInput(
                "the query was refused by the content guardrail ("
                + "; ".join(verdict.reasons)
                + "); rephrase it without abusive words or personal data"
            )
        record.update(query=text, guardrail_action=verdict.action)
        variant = self._variant(text)
        classification = classify(variant.text if variant else text, self.few_shot)
        sort = sort_order_for(request.sort, classification)
        mode: SearchMode = (
            "hybrid" if classification.kind == "natural_language" and self.embedder is not None else "keyword"
        )
        plan = self._plan(classification.cleaned_query, text, variant, mode, request)
        vector = None
        if mode == "hybrid" and self.embedder is not None:
            vector = self.embedder.embed([classification.cleaned_query], "query")[0]
        candidates = self._candidates(plan, vector, request)
        return self._respond(
            request,
            text,
            plan,
            candidates,
            total=candidates.total,
            query_terms=classification.cleaned_query.split(),
            food_intent=classification.food_intent,
            sort=sort,
            summary={
                "exact_match": False,
                "guardrail": GuardrailSummary(action=verdict.action, reasons=verdict.reasons),
                "classification": _classification_summary(classification),
                "variants": [_variant_summary(variant)] if variant else [],
            },
        )

    def _variant(self, text: str) -> KeywordVariant | None:
        vocabulary = self._catalog_vocabulary()
        if vocabulary is None or not len(vocabulary):
            return None
        return chosung_variant(text, vocabulary) or keyboard_variant(text, vocabulary, self.typo_corrections)

    def _catalog_vocabulary(self) -> CatalogVocabulary | None:
        if self._catalog_terms is None:
            return None
        terms = list(self._catalog_terms())
        now = time.monotonic()
        count, built_at = self._vocabulary_key
        if self._vocabulary is None or count != len(terms) or now - built_at > VOCABULARY_MAX_AGE_SECONDS:
            self._vocabulary = CatalogVocabulary(terms)
            self._vocabulary_key = (len(terms), now)
        return self._vocabulary

    def _plan(
        self,
        cleaned: str,
        typed: str,
        variant: KeywordVariant | None,
        mode: SearchMode,
        request: SearchRequest,
    ) -> SearchPlan:
        depth = self._depth(request)
        plan = build_search_plan(
            cleaned,
            mode=mode,
            size=min(depth, MAX_PAGE_SIZE),
            in_catalog=self._in_catalog,
            candidate_depth=depth,
        )
        if variant is None:
            return plan
        # The variant's Hangul is the main clause; the typed text still matches the chosung and keyboard
        # fields, so a product whose name the vocabulary does not hold is not lost.
        typed_clauses = build_search_plan(typed, in_catalog=self._in_catalog).clauses
        clauses: list[LexicalClause] = list(plan.clauses)
        seen = {(clause.purpose, clause.text) for clause in clauses}
        for clause in typed_clauses:
            if clause.purpose != "text" and (clause.purpose, clause.text) not in seen:
                clauses.append(clause)
                seen.add((clause.purpose, clause.text))
        return plan.model_copy(update={"clauses": tuple(clauses[:MAX_PLAN_CLAUSES])})

    def _depth(self, request: SearchRequest) -> int:
        needed = request.plan_page * request.size + request.size
        return min(max(self.settings.candidate_depth, needed), MAX_RESULT_WINDOW)

    def _candidates(
        self, plan: SearchPlan, vector: Sequence[float] | None, request: SearchRequest
    ) -> _Candidates:
        """Up to `_depth` hits in engine order, fetched a plan page (at most 100) at a time."""
        depth = self._depth(request)
        size = min(depth, MAX_PAGE_SIZE)
        hits: list[tuple[dict[str, Any], float]] = []
        total = 0
        for page_number in range((depth + size - 1) // size):
            page_plan = plan.model_copy(update={"size": size, "page": page_number, "sort": "relevance"})
            page = self.index.search(page_plan, vector)
            total = page.total
            hits.extend(({**hit.source, "id": hit.id}, hit.score) for hit in page.hits)
            if len(page.hits) < size:
                break
        return _Candidates(hits[:depth], total)

    def _respond(
        self,
        request: SearchRequest,
        query: str,
        plan: SearchPlan,
        candidates: _Candidates,
        *,
        total: int,
        query_terms: Sequence[str],
        food_intent: bool | None,
        sort: SortOrder,
        summary: dict[str, Any],
    ) -> SearchResponse:
        outcome = rank_results(
            candidates.hits,
            query_terms=query_terms,
            food_intent=food_intent,
            sort=sort,
            rules=self.settings.ranking,
        )
        offset = request.plan_page * request.size
        window = outcome.results[offset : offset + request.size]
        results = [SearchResultItem.from_ranked(item, offset + n) for n, item in enumerate(window, 1)]
        token = None
        if outcome.results:
            top_ids = [item.id for item in outcome.results[: self.settings.comment_top_n]]
            token = make_comment_token(
                query, top_ids, self._token_secret, self._clock(), self.settings.token_ttl_seconds
            )
        plan_summary = SearchPlanSummary(
            mode=plan.mode,
            sort=sort,
            clauses=[
                ClauseSummary(
                    purpose=clause.purpose,
                    text=clause.text,
                    fields=[field.field for field in clause.fields],
                    boost=clause.boost,
                )
                for clause in plan.clauses
            ],
            ranking=outcome.applied,
            candidates=len(candidates.hits),
            **summary,
        )
        return SearchResponse(
            query=query,
            page=request.page,
            size=request.size,
            total=max(total, len(outcome.results)),
            results=results,
            plan=plan_summary,
            comment_token=token,
        )

    def _log(self, fields: dict[str, Any], started: float) -> None:
        if self.search_log is None:
            return
        try:
            record = SearchLogRecord(
                logged_at=self._clock(),
                latency_ms=round((time.perf_counter() - started) * 1000, 3),
                **{key: value for key, value in fields.items() if value is not None},
            )
            self.search_log.write([record])
        except (CataloopError, OSError, ValueError) as error:
            # The log feeds dictionary upkeep; losing a record must never fail the shopper's search.
            logger.warning("search log record not written: %s", error)

    # --- GET /search/comment -----------------------------------------------------------------------

    def comment(self, token: str) -> SearchComment:
        """The AI comment for a token from `search`, grounded on those results' metadata only; InvalidInput
        when the token is bad or expired or its products are gone."""
        if self.documents is None:
            raise CataloopError("comments need a product document lookup; wire `documents=`")
        claims = read_comment_token(token, self._token_secret, self._clock())
        documents = self.documents(claims.result_ids)
        request = CommentRequest.from_documents(claims.query, documents, self.settings.comment_top_n)
        comment = self._model_comment(request) or offline_comment(request)
        checked = self._checked(comment)
        if checked is None and comment.source == "model":
            checked = self._checked(offline_comment(request))
        if checked is None:
            return SearchComment(
                text="이 결과에 대한 코멘트를 표시할 수 없습니다."
                if request.language == "ko"
                else "No comment can be shown for these results.",
                language=request.language,
                grounded_on=[],
                source="offline-template",
            )
        return checked

    def _model_comment(self, request: CommentRequest) -> SearchComment | None:
        if self.commenter is None:
            return None
        try:
            response = self.commenter.invoke(
                ModelRequest(
                    role="commenter",
                    prompt=render_commenter_prompt(request),
                    payload=request.model_dump(mode="json"),
                    max_output_tokens=512,
                ),
                CommentOutput,
            )
            return comment_from_model(request, response.output, response.model_id)
        except (ModelError, RetryableModelError) as error:
            # The offline template is always correct, if plain: a failing model degrades, never breaks.
            logger.warning("commenter model failed, using the offline template: %s", error)
            return None

    def _checked(self, comment: SearchComment) -> SearchComment | None:
        verdict = self.guardrail.check(comment.text, "OUTPUT")
        text = verdict.text_to_use(comment.text)
        if text is None:
            return None
        return comment if text == comment.text else comment.model_copy(update={"text": text})


class _Candidates:
    __slots__ = ("hits", "total")

    def __init__(self, hits: list[tuple[dict[str, Any], float]], total: int) -> None:
        self.hits = hits
        self.total = total


def _classification_summary(classification: QueryClassification) -> ClassificationSummary:
    return ClassificationSummary(
        kind=classification.kind,
        sort_intent=classification.sort_intent,
        food_intent=classification.food_intent,
        cleaned_query=classification.cleaned_query,
        reasons=classification.reasons,
    )


def _variant_summary(variant: KeywordVariant) -> VariantSummary:
    return VariantSummary(
        kind=variant.kind, text=variant.text, reason=variant.reason, alternatives=variant.alternatives
    )
