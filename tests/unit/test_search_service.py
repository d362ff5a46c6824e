"""The search use case over the real embedded engine (in RAM), the offline guardrail and a concept embedder:
exact-name fast path, guardrail, chosung/keyboard variants, classification, hybrid plans, re-ranking,
pagination, the search log and the comment token round trip."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pytest

from cataloop.adapters.embedded_search import EmbeddedSearchIndex
from cataloop.adapters.korean_analyzer import KoreanAnalysisConfig, KoreanAnalyzer
from cataloop.adapters.offline_guardrail import OfflineGuardrail
from cataloop.domain.catalog.listing import ProductListing
from cataloop.domain.model_calls import ModelRequest, ModelResponse
from cataloop.domain.search.classification import FewShotIndex, load_query_vocabulary
from cataloop.domain.search.comment import CommentOutput
from cataloop.domain.search.documents import product_document
from cataloop.domain.search.log import SearchLogRecord
from cataloop.domain.search.ranking import RankingRules
from cataloop.errors import CataloopError, InvalidInput, ModelError
from cataloop.services.search import SearchService, SearchSettings

SECRET = "unit-test-comment-secret-0123456789"
NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)

# Each axis is one shopping concept, so a description can land near products that share no word with it.
CONCEPTS = (
    ("야쿠르트", "유산균", "발효유", "음료", "마시", "drink"),
    ("인형", "키링", "굿즈", "장난감", "doll"),
    ("세제", "세탁", "빨래", "detergent"),
)


class ConceptEmbedder:
    dimension = len(CONCEPTS) + 1

    def embed(self, texts: list[str], kind: Literal["query", "passage"]) -> list[list[float]]:
        return [[float(sum(t.lower().count(w) for w in words)) for words in CONCEPTS] + [0.1] for t in texts]


def _listing(product_id: str, title: str, category: list[str], **fields: Any) -> ProductListing:
    return ProductListing(product_id=product_id, title=title, category_path=category, locale="ko", **fields)


LISTINGS = [
    _listing("km-1", "야쿠르트 오리지널 65ml x 5개", ["발효유", "유산균 음료"], brand="야쿠르트", price=1100,
             rating=4.9, review_count=289, purchase_count=2566, metadata_keywords="야쿠르트|유산균|발효유"),
    _listing("km-2", "야쿠르트 라이트 65ml x 20개", ["발효유", "유산균 음료"], brand="야쿠르트", price=4400,
             rating=4.7, review_count=120, purchase_count=900, metadata_keywords="야쿠르트|유산균"),
    _listing("km-3", "야쿠르트 아줌마 인형 키링", ["캐릭터굿즈", "키링"], brand="야쿠르트", price=9900,
             rating=4.5, review_count=40, purchase_count=100, metadata_keywords="굿즈|키링|인형"),
    _listing("km-4", "바른장 프로바이오틱스 골드 30캡슐", ["건강기능식품", "유산균"], brand="바른장", price=25000,
             rating=4.6, review_count=500, purchase_count=3000, metadata_keywords="유산균|프로바이오틱스"),
    _listing("km-5", "바른장 유산균 스틱 60포", ["건강기능식품", "유산균"], brand="바른장", price=18000,
             rating=4.2, review_count=80, purchase_count=400, metadata_keywords="유산균"),
    _listing("km-6", "맑은빨래 세탁 세제 3L", ["생활용품", "세제"], brand="맑은빨래", price=12000,
             rating=4.4, review_count=70, purchase_count=300, metadata_keywords="세제|빨래"),
]  # fmt: skip


# What enrichment would say; the catalog's own roots (발효유, 건강기능식품) are not in the default food list.
FOOD = {"km-1": True, "km-2": True, "km-3": False, "km-4": True, "km-5": True, "km-6": False}


def _document(listing: ProductListing) -> Any:
    return product_document(listing, {"is_food": FOOD[listing.product_id]}, 1)


class MemoryLog:
    def __init__(self) -> None:
        self.records: list[SearchLogRecord] = []

    def write(self, records: Iterable[SearchLogRecord]) -> None:
        self.records.extend(records)


class BrokenLog:
    def write(self, records: Iterable[SearchLogRecord]) -> None:
        raise CataloopError("bucket is gone")


class ScriptedCommenter:
    """A commenter model double that returns a fixed output (or raises)."""

    def __init__(self, output: CommentOutput | None = None, error: Exception | None = None) -> None:
        self.output, self.error = output, error
        self.requests: list[ModelRequest] = []

    def invoke(self, request: ModelRequest, output_model: type[Any]) -> ModelResponse[Any]:
        self.requests.append(request)
        if self.error is not None:
            raise self.error
        return ModelResponse(model_id="test-commenter", output=self.output)


@pytest.fixture(scope="module")
def engine() -> EmbeddedSearchIndex:
    analyzer = KoreanAnalyzer(KoreanAnalysisConfig(user_dictionary=("야쿠르트", "바른장", "맑은빨래")))
    index = EmbeddedSearchIndex(None, analyzer, ConceptEmbedder(), ConceptEmbedder.dimension)
    index.ensure_index()
    assert index.bulk_upsert([_document(listing) for listing in LISTINGS]).indexed == 6
    return index


@pytest.fixture(scope="module")
def few_shot() -> FewShotIndex:
    return FewShotIndex(load_query_vocabulary().examples)


@pytest.fixture()
def log() -> MemoryLog:
    return MemoryLog()


def _documents(engine: EmbeddedSearchIndex) -> Any:
    by_id = {listing.product_id: _document(listing).source() for listing in LISTINGS}
    return lambda ids: [by_id[i] for i in ids if i in by_id]


def _service(
    engine: EmbeddedSearchIndex, few_shot: FewShotIndex, log: Any = None, **kwargs: Any
) -> SearchService:
    clock = kwargs.pop("clock", lambda: NOW)
    # The ConceptEmbedder's scores are not e5's: a query sharing no concept with a product scores about
    # 0.5 ((1 + cosine) / 2), one sharing a concept above 0.8, so its floor sits between.
    kwargs.setdefault("settings", SearchSettings(min_vector_score=0.75, vector_score_margin=None))
    return SearchService(
        engine,
        OfflineGuardrail(),
        few_shot,
        token_secret=SECRET,
        embedder=ConceptEmbedder(),
        search_log=log,
        documents=_documents(engine),
        clock=clock,
        **kwargs,
    )


def _ids(results: Sequence[Any]) -> list[str]:
    return [result.id for result in results]


def test_exact_product_name_takes_the_fast_path_without_classification(engine, few_shot, log) -> None:
    response = _service(engine, few_shot, log).search({"q": "야쿠르트 라이트 65ml x 20개"})

    assert response.plan.exact_match is True
    assert response.plan.classification is None
    assert response.results[0].id == "km-2"
    assert log.records[0].exact_match is True and log.records[0].kind is None


def test_food_intent_puts_the_drink_above_the_character_goods(engine, few_shot, log) -> None:
    response = _service(engine, few_shot, log).search({"q": "마시는 야쿠르트"})

    classification = response.plan.classification
    assert classification is not None and classification.food_intent is True
    ids = _ids(response.results)
    assert ids.index("km-1") < ids.index("km-3")
    doll = next(result for result in response.results if result.id == "km-3")
    assert any("non-food" in reason for reason in doll.reasons)


def test_initial_consonants_resolve_to_a_catalog_term_and_are_shown_in_the_plan(
    engine, few_shot, log
) -> None:
    response = _service(engine, few_shot, log).search({"q": "ㅇㅋㄹㅌ"})

    assert [variant.kind for variant in response.plan.variants] == ["chosung"]
    assert response.plan.variants[0].text == "야쿠르트"
    assert {"km-1", "km-2"} <= set(_ids(response.results))
    assert {clause.purpose for clause in response.plan.clauses} >= {"text", "chosung"}
    assert log.records[-1].variants == ["야쿠르트"]


def test_english_keyboard_typing_resolves_to_the_korean_word(engine, few_shot, log) -> None:
    response = _service(engine, few_shot, log).search({"q": "dirnfmxm"})  # 야쿠르트 typed on a QWERTY layout

    assert [variant.kind for variant in response.plan.variants] == ["keyboard"]
    assert response.plan.variants[0].text == "야쿠르트"
    assert response.results and response.results[0].id in {"km-1", "km-2", "km-3"}


# Six products score far apart in BM25; a wider sorting band lets these tests see several sorted results.
WIDE_SORT = SearchSettings(
    min_vector_score=0.75, vector_score_margin=None, ranking=RankingRules(sort_relevance_floor=0.2)
)


def test_sort_intent_is_removed_from_the_query_and_orders_by_price(engine, few_shot, log) -> None:
    response = _service(engine, few_shot, log, settings=WIDE_SORT).search({"q": "최저가 유산균"})

    classification = response.plan.classification
    assert classification is not None
    assert classification.sort_intent == "price_asc" and classification.cleaned_query == "유산균"
    assert response.plan.sort == "price_asc"
    sorted_head = [r.price for r in response.results if any("sorted by" in reason for reason in r.reasons)]
    assert len(sorted_head) >= 2 and sorted_head == sorted(sorted_head)


def test_a_value_word_orders_by_unit_price_not_by_sticker_price(engine, few_shot, log) -> None:
    response = _service(engine, few_shot, log, settings=WIDE_SORT).search({"q": "저렴한 유산균"})

    assert response.plan.sort == "value"
    head = [r for r in response.results if any("sorted by unit price" in reason for reason in r.reasons)]
    by_id = {listing.product_id: _document(listing) for listing in LISTINGS}
    # The capsules (833원 each) and sticks (300원 each) are priced per piece, the drinks per ml (3.4원/ml):
    # the unit most results share is sorted first, cheapest per unit first, then the other unit.
    units = [by_id[r.id].unit for r in head]
    prices = [by_id[r.id].unit_price for r in head]
    assert len(head) >= 3 and units == sorted(units, key=units.index)  # each unit in one run
    for unit in set(units):
        run = [price for price, u in zip(prices, units, strict=True) if u == unit]
        assert run == sorted(run)
    assert by_id["km-5"].unit_price < by_id["km-4"].unit_price
    # The response says what the sort read.
    assert [(r.unit, r.unit_price) for r in head] == [
        (by_id[r.id].unit, by_id[r.id].unit_price) for r in head
    ]
    assert [r.id for r in head].index("km-5") < [r.id for r in head].index("km-4")


def test_explicit_sort_parameter_wins_over_relevance(engine, few_shot) -> None:
    response = _service(engine, few_shot).search({"q": "유산균", "sort": "rating"})

    assert response.plan.sort == "rating"
    assert any("sorted by" in reason for reason in response.results[0].reasons)


def test_a_description_runs_a_hybrid_plan(engine, few_shot, log) -> None:
    response = _service(engine, few_shot, log).search({"q": "아침에 마시기 좋은 음료 추천해줘?"})

    assert response.plan.classification is not None
    assert response.plan.classification.kind == "natural_language"
    assert response.plan.mode == "hybrid"
    # No product has most of the description's words, so the vectors decide: the ConceptEmbedder puts every
    # drink and probiotic on one axis (a tie), the goods and the detergent far away.
    ids = _ids(response.results)
    assert {"km-1", "km-2"} <= set(ids[:4]) and "km-3" not in ids[:4] and "km-6" not in ids[:4]
    assert log.records[-1].mode == "hybrid"


def test_pages_continue_positions_without_overlap(engine, few_shot) -> None:
    service = _service(engine, few_shot)
    first = service.search({"q": "유산균", "size": "2", "page": "1"})
    second = service.search({"q": "유산균", "size": "2", "page": "2"})

    assert [r.position for r in first.results] == [1, 2]
    assert [r.position for r in second.results] == [3, 4]
    assert not set(_ids(first.results)) & set(_ids(second.results))
    assert first.total == second.total >= 4


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"q": "   "}, "empty"),
        ({"q": "🍓🍓"}, "no letters or digits"),
        ({"q": "가" * 201}, "at most 200"),
        ({"q": "유산균", "size": "0"}, "size"),
        ({"q": "유산균", "sort": "cheapest"}, "sort"),
        ({}, "q"),
    ],
)
def test_bad_requests_say_what_to_fix(engine, few_shot, params, fragment) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        _service(engine, few_shot).search(params)


@pytest.mark.parametrize("query", ["' OR 1=1; DROP TABLE products; --", "<script>alert(1)</script> 유산균"])
def test_sql_and_html_looking_queries_are_searched_as_text(engine, few_shot, query) -> None:
    response = _service(engine, few_shot).search({"q": query})

    assert response.query == query
    assert all(result.id.startswith("km-") for result in response.results)


def test_abusive_query_is_refused_and_logged_without_its_text(engine, few_shot, log) -> None:
    with pytest.raises(InvalidInput, match="guardrail"):
        _service(engine, few_shot, log).search({"q": "씨발 유산균"})

    assert log.records[-1].guardrail_action == "blocked"
    assert log.records[-1].query is None


def test_personal_data_is_masked_before_search_and_log(engine, few_shot, log) -> None:
    response = _service(engine, few_shot, log).search({"q": "유산균 010-1234-5678"})

    assert "010-1234-5678" not in response.query
    assert response.plan.guardrail.action == "masked"
    record = log.records[-1]
    assert record.query is not None and "1234" not in record.query
    assert "1234" not in record.model_dump_json()


def test_one_log_record_per_search_with_counts_and_no_request_details(engine, few_shot, log) -> None:
    service = _service(engine, few_shot, log)
    service.search({"q": "유산균"}, request_id="req-1")
    service.search({"q": "없는상품이름"})

    assert len(log.records) == 2
    assert log.records[0].result_count >= 4 and log.records[0].request_id == "req-1"
    assert log.records[1].result_count == 0 and log.records[1].is_zero_result
    assert set(SearchLogRecord.model_fields) >= set(log.records[0].model_dump(exclude_defaults=True))


def test_a_failing_search_log_never_fails_the_search(engine, few_shot) -> None:
    response = _service(engine, few_shot, BrokenLog()).search({"q": "유산균"})

    assert response.results


def test_comment_token_round_trip_gives_a_grounded_offline_comment(engine, few_shot) -> None:
    service = _service(engine, few_shot)
    response = service.search({"q": "유산균"})
    assert response.comment_token is not None

    comment = service.comment(response.comment_token)

    assert comment.source == "offline-template" and comment.language == "ko"
    top = set(_ids(response.results[:5]))
    assert comment.grounded_on and set(comment.grounded_on) <= top


def test_no_results_means_no_comment_token(engine, few_shot) -> None:
    assert _service(engine, few_shot).search({"q": "없는상품이름"}).comment_token is None


def test_tampered_or_expired_tokens_are_refused(engine, few_shot) -> None:
    service = _service(engine, few_shot)
    token = service.search({"q": "유산균"}).comment_token
    assert token is not None
    payload, signature = token.split(".")

    with pytest.raises(InvalidInput, match="signature"):
        service.comment(f"{payload}.{signature[::-1]}")
    later = _service(engine, few_shot, clock=lambda: NOW + timedelta(hours=1))
    with pytest.raises(InvalidInput, match="expired"):
        later.comment(token)


def test_model_comment_citing_unknown_products_falls_back_to_the_template(engine, few_shot) -> None:
    model = ScriptedCommenter(CommentOutput(comment="최고의 상품은 km-999입니다", product_ids=["km-999"]))
    service = _service(engine, few_shot, commenter=model)
    token = service.search({"q": "유산균"}).comment_token
    assert token is not None

    comment = service.comment(token)

    assert comment.source == "offline-template"
    assert model.requests and model.requests[0].role == "commenter"


def test_model_comment_passes_the_output_guardrail_masked(engine, few_shot) -> None:
    output = CommentOutput(comment="문의는 010-9876-5432 로 주세요. 바른장이 좋아요.", product_ids=["km-4"])
    service = _service(engine, few_shot, commenter=ScriptedCommenter(output))
    token = service.search({"q": "유산균"}).comment_token
    assert token is not None

    comment = service.comment(token)

    assert comment.source == "model" and comment.model_id == "test-commenter"
    assert "9876" not in comment.text and "바른장" in comment.text


def test_model_failure_degrades_to_the_template(engine, few_shot) -> None:
    service = _service(engine, few_shot, commenter=ScriptedCommenter(error=ModelError("throttled for good")))
    token = service.search({"q": "유산균"}).comment_token
    assert token is not None

    assert service.comment(token).source == "offline-template"


def test_candidate_depth_bounds_the_ranked_window(engine, few_shot) -> None:
    service = _service(engine, few_shot, settings=SearchSettings(candidate_depth=2))

    narrow = service.search({"q": "유산균", "size": "1"})
    wide = service.search({"q": "유산균", "size": "3", "page": "2"})

    assert narrow.plan.candidates == 2 and narrow.total >= 4
    assert wide.plan.candidates >= 4  # a page always fits: the window grows to cover page*size+size
    assert [r.position for r in wide.results][:1] == [4]


# --- exact names, typos, fallback, no-match honesty -----------------------------------------------------


def test_an_exact_name_is_first_however_it_is_spaced(engine, few_shot) -> None:
    response = _service(engine, few_shot).search({"q": "야쿠르트 라이트 65mlx20개", "sort": "price_asc"})
    assert response.plan.exact_match is True
    assert response.results[0].id == "km-2"
    assert response.results[0].reasons[-1] == "the query is this product's name"


def test_a_hangul_typo_is_corrected_and_shown_in_the_plan(engine, few_shot, log) -> None:
    response = _service(engine, few_shot, log).search({"q": "야구르트"})
    assert [variant.kind for variant in response.plan.variants] == ["typo"]
    assert response.plan.variants[0].text == "야쿠르트"
    assert "one jamo off" in response.plan.variants[0].reason
    assert {"km-1", "km-2"} <= set(_ids(response.results))
    assert log.records[-1].variants == ["야쿠르트"]


def test_a_keyword_search_that_finds_too_little_falls_back_to_hybrid(engine, few_shot) -> None:
    # No listing has the English word; the ConceptEmbedder places it with the laundry detergent.
    response = _service(engine, few_shot).search({"q": "detergent"})
    assert response.plan.mode == "hybrid"
    assert response.plan.fallback is not None and "searched by meaning" in response.plan.fallback
    assert _ids(response.results)[0] == "km-6"


def test_a_query_for_something_the_catalog_lacks_returns_nothing(engine, few_shot) -> None:
    response = _service(engine, few_shot).search({"q": "노트북 충전기"})
    assert response.results == [] and response.total == 0
    assert response.plan.fallback is not None
    assert response.plan.vector_floor is not None and response.plan.vector_floor.min_score == 0.75


def test_a_masked_span_is_not_searched_for(engine, few_shot, log) -> None:
    response = _service(engine, few_shot, log).search({"q": "010-1234-5678 유산균"})
    assert response.plan.guardrail.action == "masked"
    assert response.query == "{PHONE} 유산균" and "010" not in log.records[-1].query
    assert response.plan.mode == "keyword" and response.plan.fallback is None
    assert response.plan.clauses[0].text == "유산균"
