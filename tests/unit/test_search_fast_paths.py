"""Issue 15's search-path work: the rules classify without the few-shot lookup (no query embedding) when
they decide everything, numpy few-shot similarities equal the pure-Python ones, and the exact-name fast path
answers page 1 from its term lookup alone (the keyword results for the name follow from page 2)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import pytest

from cataloop.adapters.embedded_search import EmbeddedSearchIndex
from cataloop.adapters.korean_analyzer import KoreanAnalysisConfig, KoreanAnalyzer
from cataloop.adapters.offline_guardrail import OfflineGuardrail
from cataloop.domain.catalog.listing import ProductListing
from cataloop.domain.search import classification
from cataloop.domain.search.classification import FewShotIndex, classify, load_query_vocabulary
from cataloop.domain.search.documents import product_document
from cataloop.domain.search.ranking import keyword_matches
from cataloop.services.search import EXACT_MATCH_DEFERRED, SearchService

SECRET = "fast-path-test-secret"


class CountingEmbed:
    """A few-shot embedding function that counts the texts it embeds (a bag of characters: similar texts
    get similar vectors)."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def __call__(self, texts: list[str]) -> list[list[float]]:
        self.texts.extend(texts)
        return [
            [float(text.count(char)) for char in "야쿠르트유산균바른장골드 좋은는에"] + [0.5]
            for text in texts
        ]


class CountingEmbedder:
    """The service's `Embedder` port, counting calls (for the k-NN vector and the keyword fallback)."""

    dimension = 3

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed(self, texts: list[str], kind: Literal["query", "passage"]) -> list[list[float]]:
        self.calls.append(list(texts))
        return [[1.0, float(len(text) % 3), 0.5] for text in texts]


def _listing(product_id: str, title: str, category: list[str], **fields: Any) -> ProductListing:
    return ProductListing(product_id=product_id, title=title, category_path=category, locale="ko", **fields)


LISTINGS = [
    _listing("km-1", "야쿠르트 오리지널 65ml x 5개", ["발효유"], brand="야쿠르트", price=1100, metadata_keywords="유산균"),
    _listing("km-2", "야쿠르트 라이트 65ml x 20개", ["발효유"], brand="야쿠르트", price=4400, metadata_keywords="유산균"),
    _listing("km-4", "바른장 프로바이오틱스 골드 30캡슐", ["유산균"], brand="바른장", price=25000, metadata_keywords="유산균"),
    _listing("km-5", "바른장 유산균 스틱 60포", ["유산균"], brand="바른장", price=18000, metadata_keywords="유산균"),
]  # fmt: skip


@pytest.fixture(scope="module")
def engine() -> EmbeddedSearchIndex:
    analyzer = KoreanAnalyzer(KoreanAnalysisConfig(user_dictionary=("야쿠르트", "바른장")))
    index = EmbeddedSearchIndex(None, analyzer, None, CountingEmbedder.dimension)
    index.ensure_index()
    documents = [product_document(listing, {"is_food": True}, 1) for listing in LISTINGS]
    vectors = [[1.0, float(n), 0.5] for n in range(len(documents))]
    assert index.bulk_upsert(documents, vectors=vectors).indexed == len(LISTINGS)
    return index


def _service(engine: EmbeddedSearchIndex, embed: CountingEmbed, embedder: CountingEmbedder) -> SearchService:
    few_shot = FewShotIndex(load_query_vocabulary().examples, embed)
    embed.texts.clear()  # the examples' own vectors, computed once when the index is built
    return SearchService(engine, OfflineGuardrail(), few_shot, token_secret=SECRET, embedder=embedder)


# --- rules first, embed only when they cannot decide ------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "kind", "food_intent"),
    [
        ("유산균", "keyword", True),  # one word (a keyword search) with a food cue
        ("ㅇㅋㄹㅌ", "keyword", None),  # initial consonants: the resolved variant is classified later
        # A modifier marks a description; "마시는" is a food cue.
        ("마시는 야쿠르트", "natural_language", True),
        ("저렴한 유산균", "keyword", True),  # the sort phrase removed, one word with a food cue is left
    ],
)
def test_a_query_the_rules_decide_is_not_embedded(query: str, kind: str, food_intent: bool | None) -> None:
    embed = CountingEmbed()
    few_shot = FewShotIndex(load_query_vocabulary().examples, embed)
    embed.texts.clear()

    result = classify(query, few_shot)

    assert embed.texts == []
    assert result.decided_by == "rules"
    assert result.nearest_examples == []
    assert (result.kind, result.food_intent) == (kind, food_intent)


@pytest.mark.parametrize(
    "query",
    [
        "바른장 골드",  # two words, no descriptive phrasing: the examples vote on the kind
        "야쿠르트",  # one word without a food cue: the examples vote on the food intent
    ],
)
def test_a_query_the_rules_leave_open_is_embedded_once(query: str) -> None:
    embed = CountingEmbed()
    few_shot = FewShotIndex(load_query_vocabulary().examples, embed)
    embed.texts.clear()

    result = classify(query, few_shot)

    assert embed.texts == [query]
    assert result.decided_by == "examples"
    assert result.nearest_examples


def test_the_search_service_skips_the_classifier_embedding_the_rules_do_not_need(engine) -> None:
    embed, embedder = CountingEmbed(), CountingEmbedder()
    service = _service(engine, embed, embedder)

    decided = service.search({"q": "유산균"})
    assert decided.plan.classification is not None
    assert decided.plan.classification.decided_by == "rules"
    assert decided.plan.mode == "keyword" and decided.total >= 3
    assert embed.texts == [] and embedder.calls == []

    open_query = service.search({"q": "바른장 골드"})
    assert open_query.plan.classification is not None
    assert open_query.plan.classification.decided_by == "examples"
    assert embed.texts == ["바른장 골드"]


def test_numpy_few_shot_similarities_equal_the_pure_python_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    examples = load_query_vocabulary().examples
    queries = ("야쿠르트 라이트", "장에 좋은 유산균", "바른장", "something warm to drink")
    with_numpy = FewShotIndex(examples, CountingEmbed())
    expected = [with_numpy.nearest(query) for query in queries]
    monkeypatch.setattr(classification, "np", None)  # as in the Lambda layer, which has no numpy
    without_numpy = FewShotIndex(examples, CountingEmbed())

    assert isinstance(without_numpy._vectors, list)
    assert [without_numpy.nearest(query) for query in queries] == expected


def test_keyword_matches_fold_case_and_spaces_and_never_span_two_keywords() -> None:
    assert keyword_matches(["유산균", "Gold"], ["유산균 음료", "gold"]) == ["유산균", "gold"]
    assert keyword_matches(["a"], ["ab", "a"]) == ["a"]
    assert keyword_matches(["a"], ["ab"]) == []
    assert keyword_matches(["ba"], ["xb", "ay"]) == []  # "b" ends one keyword, "a" starts the next


# --- the exact-name fast path ------------------------------------------------------------------------------


def _ids(results: Sequence[Any]) -> list[str]:
    return [result.id for result in results]


def test_page_one_of_an_exact_name_is_the_named_product_from_the_term_lookup_alone(engine) -> None:
    embed, embedder = CountingEmbed(), CountingEmbedder()
    service = _service(engine, embed, embedder)

    response = service.search({"q": "야쿠르트 라이트 65mlx20개"})

    assert response.plan.exact_match is True and response.plan.classification is None
    assert _ids(response.results) == ["km-2"] and response.total == 1
    assert response.results[0].position == 1
    assert response.results[0].reasons == ["the query is this product's name"]
    assert response.plan.deferred == EXACT_MATCH_DEFERRED
    assert [clause.purpose for clause in response.plan.clauses] == ["exact"]
    assert response.comment_token is not None
    assert embed.texts == [] and embedder.calls == []


def test_page_two_of_an_exact_name_lists_the_keyword_results_without_the_named_product(engine) -> None:
    service = _service(engine, CountingEmbed(), CountingEmbedder())
    query = "야쿠르트 라이트 65ml x 20개"

    page_two = service.search({"q": query, "page": 2, "size": 2})

    assert page_two.plan.exact_match is True and page_two.plan.deferred is None
    assert "km-2" not in _ids(page_two.results)
    assert _ids(page_two.results)[0] == "km-1"  # the best other keyword match comes first
    assert [result.position for result in page_two.results] == list(range(2, 2 + len(page_two.results)))
    assert page_two.total >= 2


def test_building_an_index_limits_numpy_blas_to_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy  # noqa: F401 - its BLAS is what is limited
    from threadpoolctl import threadpool_info, threadpool_limits

    from cataloop.adapters import embedded_search

    def blas_threads() -> list[int]:
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    threadpool_limits(limits=2, user_api="blas")
    monkeypatch.setattr(embedded_search, "_blas_pinned", False)
    assert blas_threads() and set(blas_threads()) == {2}
    EmbeddedSearchIndex(None, KoreanAnalyzer(KoreanAnalysisConfig()), None, CountingEmbedder.dimension)
    assert set(blas_threads()) == {1}
