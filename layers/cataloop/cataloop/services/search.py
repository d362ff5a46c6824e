"""The shopper search use case: `GET /search`, over ports only.

One search, in order: validate -> exact product-name fast path (one term lookup answers page 1 with the
named product; the keyword results for the name follow from page 2) -> guardrail on the query -> chosung,
keyboard or typo variant resolved against the catalog vocabulary -> classification (keyword or natural
language, sort intent, food intent; the few-shot examples, an embedding of the query, only for what the
rules leave open) -> plan (keyword, or hybrid lexical + k-NN with a similarity floor) -> a keyword search
that finds too little falls back to hybrid -> re-ranking of ~100 candidates -> the requested page, the plan
that produced it and a token for the AI comment -> one search-log record.

The response models are in `search_models`; the AI comment (`GET /search/comment`, answered by
`SearchService.comment`) is in `search_comment`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cataloop.domain.search.classification import FewShotIndex, RulesQueryClassifier, sort_order_for
from cataloop.domain.search.comment import COMMENT_TOP_N, DEFAULT_TOKEN_TTL_SECONDS, SearchComment
from cataloop.domain.search.guardrail import without_masks
from cataloop.domain.search.log import SearchLogRecord
from cataloop.domain.search.plan import (
    MAX_PAGE_SIZE,
    MAX_RESULT_WINDOW,
    LexicalClause,
    SearchHit,
    SearchMode,
    SearchPlan,
    build_search_plan,
    exact_name_plan,
)
from cataloop.domain.search.query import SearchRequest, SortOrder
from cataloop.domain.search.ranking import RankingRules, rank_results
from cataloop.domain.search.variants import (
    CatalogVocabulary,
    KeywordVariant,
    chosung_variant,
    keyboard_variant,
    typo_variant,
)
from cataloop.errors import CataloopError, InvalidInput
from cataloop.ports import Embedder, Guardrail, ModelClient, ProductIndex, QueryClassifier, SearchLog
from cataloop.services.search_comment import ProductDocumentLookup, SearchComments
from cataloop.services.search_models import (
    ClassificationSummary,
    ClauseSummary,
    GuardrailSummary,
    SearchPlanSummary,
    SearchResponse,
    SearchResultItem,
    VariantSummary,
    VectorFloorSummary,
)

logger = logging.getLogger(__name__)

DEFAULT_CANDIDATE_DEPTH = 100
MAX_PLAN_CLAUSES = 8
# `plan.deferred` on page 1 of an exact product-name match (see `SearchService._exact_match`).
EXACT_MATCH_DEFERRED = (
    "the query is a product's name: this page is that product alone; the keyword results for the name were "
    "not searched for it and are listed from page 2"
)
# How long a built catalog vocabulary is reused while the index keeps the same number of terms.
VOCABULARY_MAX_AGE_SECONDS = 60.0


class GuardrailRefused(InvalidInput):
    """The content guardrail blocked the query (answered 400 like any InvalidInput)."""


# --- the service --------------------------------------------------------------------------------------


class SearchSettings(BaseModel):
    """Tunables of the search use case."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    candidate_depth: int = Field(default=DEFAULT_CANDIDATE_DEPTH, ge=1, le=MAX_RESULT_WINDOW)
    comment_top_n: int = Field(default=COMMENT_TOP_N, ge=1, le=10)
    token_ttl_seconds: int = Field(default=DEFAULT_TOKEN_TTL_SECONDS, ge=1)
    ranking: RankingRules = Field(default_factory=RankingRules)
    # A keyword search with fewer results than this is searched again by meaning (hybrid), when an
    # embedder is configured; 0 turns the fallback off.
    fallback_below: int = Field(default=3, ge=0, le=MAX_RESULT_WINDOW)
    # k-NN similarity floors on the (1 + cosine) / 2 scale (see `SearchPlan.min_vector_score`); None
    # turns one off. Calibrated for multilingual-e5-small in docs/search.md.
    min_vector_score: float | None = Field(default=0.925, ge=0, le=1)
    vector_score_margin: float | None = Field(default=0.02, ge=0, le=1)
    # How many of the query's terms a product's field must match (`LexicalClause.min_match_percent`): in a
    # keyword search all but a quarter (rounded down: all of up to three words), in a hybrid search 75%
    # (a description's filler words are often in no product; the vector side carries its meaning).
    min_match_percent: int | None = Field(default=-25, ge=-99, le=100)
    hybrid_min_match_percent: int | None = Field(default=75, ge=-99, le=100)


class SearchService:
    """Runs searches and comments over the given ports; build one per process (it caches the catalog
    vocabulary and holds the few-shot index). `classifier` defaults to the rules over `few_shot`."""

    def __init__(
        self,
        index: ProductIndex,
        guardrail: Guardrail,
        few_shot: FewShotIndex,
        *,
        token_secret: bytes | str,
        embedder: Embedder | None = None,
        search_log: SearchLog | None = None,
        documents: ProductDocumentLookup | None = None,
        commenter: ModelClient | None = None,
        catalog_terms: Callable[[], Iterable[str]] | None = None,
        in_catalog: Callable[[str], bool] | None = None,
        settings: SearchSettings | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        typo_corrections: Mapping[str, str] | None = None,
        classifier: QueryClassifier | None = None,
    ) -> None:
        self.typo_corrections = dict(typo_corrections or {})
        self.index = index
        self.guardrail = guardrail
        self.few_shot = few_shot
        self.classifier: QueryClassifier = classifier or RulesQueryClassifier(few_shot)
        self.embedder = embedder
        self.search_log = search_log
        self.settings = settings or SearchSettings()
        self.comments = SearchComments(
            guardrail,
            token_secret,
            documents=documents,
            commenter=commenter,
            top_n=self.settings.comment_top_n,
            token_ttl_seconds=self.settings.token_ttl_seconds,
            clock=clock,
        )
        # The port's vocabulary (empty on an engine that cannot list its terms: variants are then skipped);
        # tests may inject their own.
        self._catalog_terms: Callable[[], Iterable[str]] = catalog_terms or index.vocabulary
        self._in_catalog: Callable[[str], bool] = in_catalog or index.in_catalog
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
        """When the query is a product's name (`name_key`: case, spaces and "×" aside), that product; no
        guardrail, classification or variants (a catalog name is neither abuse nor personal data, and needs
        no interpretation).

        Decision (issue 15): page 1 is the named product(s) alone, answered from the one term lookup. The
        keyword results for the name are not searched for it: a shopper who typed or pasted a full product
        name wants that product, and searching and ranking the rest cost about a hundred term lookups
        (a keyword query with its Korean analysis, a hundred candidates re-ranked) for a list most such
        shoppers never read. They are not dropped, only deferred: `plan.deferred` says so, and page 2 onward
        lists the keyword results for the name, ranked as before (page 2 opens with the best of them, the
        named product left out). A client offers that page as "more results" when `deferred` is set."""
        lookup = exact_name_plan(request.q)
        exact = self.index.search(lookup)
        if not exact.hits:
            return None
        pinned = [hit.id for hit in exact.hits]
        sort = request.sort or "relevance"
        if request.page == 1:
            named = _Candidates([(_with_id(hit), hit.score) for hit in exact.hits], len(pinned))
            return self._respond(
                request,
                request.q,
                lookup,
                named,
                total=len(pinned),
                query_terms=(),
                food_intent=None,
                sort=sort,
                rank_sort="relevance",  # one product (or a few namesakes): nothing to sort
                summary={"exact_match": True, "deferred": EXACT_MATCH_DEFERRED},
                pinned=pinned,
            )
        # Page n >= 2: the list as it always was (the named products first, then the keyword results for
        # the name), shifted by the named products, which were page 1: page 2 opens with the best of the rest.
        depth = self._depth(request)
        plan = build_search_plan(request.q, size=min(depth, MAX_PAGE_SIZE), candidate_depth=depth)
        candidates = self._candidates(plan, None, request)
        found = {str(doc["id"]) for doc, _ in candidates.hits}
        best = max((score for _, score in candidates.hits), default=1.0)
        # A named product the keyword ranking did not reach still comes first (with the best score).
        missing = [(_with_id(hit), best) for hit in exact.hits if hit.id not in found]
        candidates = _Candidates(missing + candidates.hits, candidates.total + len(missing))
        offset = len(pinned) + (request.plan_page - 1) * request.size
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
            pinned=pinned,
            offset=offset,
        )

    def _full_search(self, request: SearchRequest, record: dict[str, Any]) -> SearchResponse:
        verdict = self.guardrail.check(request.q, "INPUT")
        text = verdict.text_to_use(request.q)
        if text is None:
            record["guardrail_action"] = "blocked"
            raise GuardrailRefused(
                "the query was refused by the content guardrail ("
                + "; ".join(verdict.reasons)
                + "); rephrase it without abusive words or personal data"
            )
        record.update(query=text, guardrail_action=verdict.action)
        shown = text
        text = without_masks(
            text
        )  # the log and the response keep the masked query; the search looks for the rest
        variant = self._variant(text)
        classification = self.classifier.classify(variant.text if variant else text)
        cleaned = classification.cleaned_query
        if variant is None and classification.kind == "keyword":
            # Typos are corrected in keyword queries only: a description's words are the shopper's own
            # (often not catalog words at all), and the vector side reads a misspelt description anyway.
            variant = self._typo_variant(cleaned)
            cleaned = variant.text if variant else cleaned
        sort = sort_order_for(request.sort, classification)
        mode: SearchMode = (
            "hybrid" if classification.kind == "natural_language" and self.embedder is not None else "keyword"
        )
        plan = self._plan(cleaned, text, variant, mode, request)
        vector = None
        if mode == "hybrid" and self.embedder is not None:
            vector = self.embedder.embed([cleaned], "query")[0]
        candidates = self._candidates(plan, vector, request)
        fallback = None
        if (
            mode == "keyword"
            and self.embedder is not None
            and candidates.total < self.settings.fallback_below
        ):
            fallback = (
                f"the keyword search found {candidates.total} result(s) (fewer than "
                f"{self.settings.fallback_below}): searched by meaning too (hybrid)"
            )
            plan = self._plan(cleaned, text, variant, "hybrid", request)
            vector = self.embedder.embed([cleaned], "query")[0]
            candidates = self._candidates(plan, vector, request)
        return self._respond(
            request,
            shown,
            plan,
            candidates,
            total=candidates.total,
            query_terms=cleaned.split(),
            food_intent=classification.food_intent,
            sort=sort,
            summary={
                "exact_match": False,
                "guardrail": GuardrailSummary(action=verdict.action, reasons=verdict.reasons),
                "classification": ClassificationSummary.from_classification(classification),
                "variants": [VariantSummary.from_variant(variant)] if variant else [],
                "fallback": fallback,
                "vector_floor": _floor_summary(plan),
            },
        )

    def _variant(self, text: str) -> KeywordVariant | None:
        vocabulary = self._catalog_vocabulary()
        if vocabulary is None or not len(vocabulary):
            return None
        return chosung_variant(text, vocabulary) or keyboard_variant(text, vocabulary, self.typo_corrections)

    def _typo_variant(self, text: str) -> KeywordVariant | None:
        vocabulary = self._catalog_vocabulary()
        if vocabulary is None or not len(vocabulary):
            return None
        return typo_variant(text, vocabulary, self._in_catalog, self.typo_corrections)

    def _catalog_vocabulary(self) -> CatalogVocabulary | None:
        found = self._catalog_terms()
        terms: Mapping[str, int] = found if isinstance(found, Mapping) else dict.fromkeys(found, 1)
        # A built vocabulary is reused while the index holds as many terms and for at most a minute.
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
            min_vector_score=self.settings.min_vector_score,
            vector_score_margin=self.settings.vector_score_margin,
            min_match_percent=(
                self.settings.hybrid_min_match_percent
                if mode == "hybrid"
                else self.settings.min_match_percent
            ),
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
            hits.extend((_with_id(hit), hit.score) for hit in page.hits)
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
        pinned: Sequence[str] = (),
        rank_sort: SortOrder | None = None,
        offset: int | None = None,
    ) -> SearchResponse:
        """Rank the candidates (by `rank_sort`, else `sort`) and answer the page of results at `offset`
        (by default the request's page)."""
        outcome = rank_results(
            candidates.hits,
            query_terms=query_terms,
            food_intent=food_intent,
            sort=rank_sort or sort,
            rules=self.settings.ranking,
            pinned=pinned,
        )
        if offset is None:
            offset = request.plan_page * request.size
        window = outcome.results[offset : offset + request.size]
        results = [SearchResultItem.from_ranked(item, offset + n) for n, item in enumerate(window, 1)]
        token = None
        if outcome.results:
            token = self.comments.token(query, [item.id for item in outcome.results])
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
        return self.comments.comment(token)


def _with_id(hit: SearchHit) -> dict[str, Any]:
    """The hit's document with its id (the engine's own document when it already holds it: the ranking
    copies what it keeps)."""
    source = hit.source
    return source if source.get("id") == hit.id else {**source, "id": hit.id}


def _floor_summary(plan: SearchPlan) -> VectorFloorSummary | None:
    if plan.mode != "hybrid" or (plan.min_vector_score is None and plan.vector_score_margin is None):
        return None
    return VectorFloorSummary(min_score=plan.min_vector_score, margin=plan.vector_score_margin)


class _Candidates:
    __slots__ = ("hits", "total")

    def __init__(self, hits: list[tuple[dict[str, Any], float]], total: int) -> None:
        self.hits = hits
        self.total = total
