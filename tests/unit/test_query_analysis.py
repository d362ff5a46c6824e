"""Query validation, normalisation, classification and keyword variants (cataloop.domain.search.query, classification, variants)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cataloop.domain.search.classification import (
    FewShotIndex,
    QueryExample,
    classify,
    load_query_vocabulary,
    parse_query_vocabulary,
    sort_order_for,
)
from cataloop.domain.search.query import MAX_QUERY_CHARS, SearchRequest, normalise_query, query_key
from cataloop.domain.search.variants import (
    CatalogVocabulary,
    chosung_variant,
    jamo_edit_distance,
    keyboard_variant,
)
from cataloop.errors import InvalidInput

VOCABULARY = parse_query_vocabulary(
    {
        "sort_phrases": {
            "price_asc": ["저렴한", "싼", "가성비 좋은", "가성비", "cheap"],
            "rating": ["별점 높은", "평점 좋은", "best rated"],
            "popularity": ["많이 팔린", "인기", "베스트", "popular"],
            "newest": ["신상", "최신", "newest"],
        },
        "sort_modifiers": ["가장", "most"],
        "word_suffixes": ["순", "거", "으로"],
        "food_cues": ["음료", "마시는", "간식", "drink"],
        "non_food_cues": ["키링", "인형", "세제", "keyring"],
        "examples": [
            {"text": "유산균 음료", "kind": "keyword", "food_intent": True},
            {"text": "딸기 요구르트", "kind": "keyword", "food_intent": True},
            {"text": "요구르트 세트", "kind": "keyword", "food_intent": True},
            {"text": "캐릭터 키링", "kind": "keyword", "food_intent": False},
            {"text": "장 건강에 좋은 음료", "kind": "natural_language", "food_intent": True},
            {"text": "아이가 좋아할 만한 인형", "kind": "natural_language", "food_intent": False},
            {"text": "gift for a friend who likes tea", "kind": "natural_language", "food_intent": None},
        ],
    }
)
CATALOG_WORDS = ["야쿠르트", "유산균", "음료", "데일리락", "마스크팩", "도시락", "대시락", "닭가슴살", "Nike"]


def _classify(query: str):
    return classify(query, vocabulary=VOCABULARY)


# --- request validation -------------------------------------------------------------------------------


def test_request_defaults_and_normalised_query() -> None:
    request = SearchRequest.parse({"q": "  야쿠르트\u200b   라이트\t", "size": "10", "page": "2"})
    assert request.q == "야쿠르트 라이트"
    assert (request.size, request.page, request.plan_page, request.sort) == (10, 2, 1, None)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"q": ""}, "the query is empty"),
        ({"q": "   \t "}, "the query is empty"),
        ({"q": "가" * (MAX_QUERY_CHARS + 1)}, "shorten it to at most 200"),
        ({"q": "🍓🍓 🥛"}, "no letters or digits"),
        ({"q": "?!... ---"}, "no letters or digits"),
        ({"q": "야쿠르트\x00"}, "remove the control characters U+0000"),
        ({"q": "야쿠르트\x1b[31m"}, "U+001B"),
        ({"q": "야쿠르트", "size": 0}, "size"),
        ({"q": "야쿠르트", "size": 51}, "size"),
        ({"q": "야쿠르트", "page": 101}, "page"),
        ({"q": "야쿠르트", "sort": "cheapest"}, "sort"),
        ({"q": "야쿠르트", "user": "kim"}, "user"),
    ],
)
def test_bad_requests_say_what_to_fix(params: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match="search request") as raised:
        SearchRequest.parse(params)
    assert message in str(raised.value)


def test_long_query_counts_characters_after_normalisation() -> None:
    # 200 letters padded by spaces is accepted: the spaces collapse away before the length check.
    assert SearchRequest.parse({"q": "  " + "가" * MAX_QUERY_CHARS + "   "}).q == "가" * MAX_QUERY_CHARS


@pytest.mark.parametrize("query", ["' OR 1=1 --", "<script>alert(1)</script>", "; DROP TABLE products;"])
def test_sql_and_html_looking_queries_are_plain_text(query: str) -> None:
    request = SearchRequest.parse({"q": query})
    assert request.q == query  # kept verbatim: engines receive it as text, never as code
    assert _classify(request.q).cleaned_query == query


def test_emoji_with_letters_is_accepted() -> None:
    assert SearchRequest.parse({"q": "딸기 🍓 요구르트"}).q == "딸기 🍓 요구르트"


def test_normalise_keeps_compatibility_jamo_and_folds_width() -> None:
    # NFKC would turn "ㅇ" (U+3147) into a conjoining jamo that no chosung field matches.
    assert normalise_query("ㅇㅋㄹㅌ") == "ㅇㅋㄹㅌ"
    assert normalise_query("ＳＰＦ５０＋ 선크림") == "SPF50+ 선크림"
    assert query_key(" Greek  YOGURT ") == "greek yogurt"


@given(st.text(max_size=60))
def test_normalise_is_idempotent_and_trimmed(text: str) -> None:
    once = normalise_query(text)
    assert normalise_query(once) == once
    assert once == once.strip()
    assert "  " not in once


def _no_letter_after_nfkc(char: str) -> bool:
    return not any(unicodedata.category(c)[0] in "LN" for c in unicodedata.normalize("NFKC", char))


@given(
    st.text(
        alphabet=st.characters(categories=["So", "Po", "Zs", "Sm"]).filter(_no_letter_after_nfkc),
        min_size=1,
        max_size=30,
    )
)
def test_symbol_only_queries_are_always_refused(text: str) -> None:
    # ("⒜" is a symbol, but NFKC reads it as "(a)": a letter, so it is excluded from this property.)
    with pytest.raises(InvalidInput):
        SearchRequest.parse({"q": text})


# --- classification -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "intent", "cleaned"),
    [
        ("저렴한 유산균", "price_asc", "유산균"),
        ("싼 닭가슴살", "price_asc", "닭가슴살"),
        ("가성비 좋은 주방세제", "price_asc", "주방세제"),
        ("별점 높은 마스크팩", "rating", "마스크팩"),
        ("가장 많이 팔린 그릭요거트", "popularity", "그릭요거트"),
        ("인기 도시락", "popularity", "도시락"),
        ("베스트 선크림", "popularity", "선크림"),
        ("신상 키링", "newest", "키링"),
        ("cheap Greek yogurt", "price_asc", "Greek yogurt"),
        ("best rated sunscreen", "rating", "sunscreen"),
        ("most popular keyring", "popularity", "keyring"),
        ("저렴한순 유산균", "price_asc", "유산균"),
    ],
)
def test_sort_intent_is_detected_and_removed(query: str, intent: str, cleaned: str) -> None:
    result = _classify(query)
    assert result.sort_intent == intent
    assert result.cleaned_query == cleaned


@pytest.mark.parametrize("query", ["비싼 유산균", "싼타페 키링", "인기척 인형"])
def test_intent_words_inside_other_words_do_not_count(query: str) -> None:
    # "비싼" (expensive) contains "싼" (cheap); whole-word matching keeps them apart.
    assert _classify(query).sort_intent is None


def test_a_query_that_is_only_a_sort_phrase_is_searched_as_written() -> None:
    result = _classify("저렴한")
    assert (result.sort_intent, result.cleaned_query) == ("price_asc", "저렴한")


@pytest.mark.parametrize(
    ("query", "food"),
    [
        ("마시는 야쿠르트", True),
        ("야쿠르트 키링", False),
        ("야쿠르트 아줌마 인형", False),
        ("주방세제", False),  # a cue at the head of a compound word
        ("아이 간식으로", True),  # a cue with a particle
        ("yakult drink", True),
        ("yakult keyring", False),
    ],
)
def test_food_intent_from_the_last_cue(query: str, food: bool) -> None:
    assert _classify(query).food_intent is food


def test_food_intent_unknown_without_cue_or_similar_example() -> None:
    assert _classify("솔잎제약").food_intent is None


@pytest.mark.parametrize(
    "query",
    [
        "장 건강에 좋은 음료",
        "피곤할 때 먹는 영양제",
        "혼자 사는 직장인 점심",
        "what to drink for gut health",
        "무슨 선물?",
    ],
)
def test_descriptions_are_natural_language(query: str) -> None:
    assert _classify(query).kind == "natural_language"


@pytest.mark.parametrize("query", ["야쿠르트 라이트", "유산균", "ㅇㅋㄹㅌ", "dkssud", "Nike Air Max 90"])
def test_names_initials_and_layout_text_are_keyword_queries(query: str) -> None:
    assert _classify(query).kind == "keyword"


def test_examples_vote_when_rules_are_silent() -> None:
    # No cue word in "요구르트 세트"; its nearest example is labelled food.
    result = _classify("딸기 요구르트 세트")
    assert result.food_intent is True
    assert any("similar examples" in reason for reason in result.reasons)
    assert result.nearest_examples[0].text in {"딸기 요구르트", "요구르트 세트"}


def test_embedding_function_decides_nearest_examples() -> None:
    # A toy embedding that only knows two axes: "tea" versus everything else.
    calls: list[list[str]] = []

    def embed(texts: list[str]) -> list[list[float]]:
        calls.append(texts)
        return [[1.0, 0.0] if "tea" in text or "차" in text else [0.0, 1.0] for text in texts]

    index = FewShotIndex(VOCABULARY.examples, embed=embed, min_similarity=0.5)
    assert index.method == "embedding cosine"
    nearest = index.nearest("녹차 선물")
    assert nearest[0].text == "gift for a friend who likes tea"
    assert nearest[0].similarity == pytest.approx(1.0)
    assert len(calls) == 2  # the examples once at build time, then the query


def test_embedding_count_mismatch_is_refused() -> None:
    with pytest.raises(ValueError, match="different number of vectors"):
        FewShotIndex(VOCABULARY.examples, embed=lambda texts: [[1.0]])


def test_sort_parameter_wins_over_intent() -> None:
    result = _classify("저렴한 유산균")
    assert sort_order_for(None, result) == "price_asc"
    assert sort_order_for("rating", result) == "rating"
    assert sort_order_for(None, _classify("유산균")) == "relevance"


def test_shipped_vocabulary_has_enough_labelled_examples() -> None:
    shipped = load_query_vocabulary()
    assert len(shipped.examples) >= 40
    assert {example.kind for example in shipped.examples} == {"keyword", "natural_language"}
    assert any(example.text.isascii() for example in shipped.examples)
    assert set(shipped.sort_phrases) >= {"price_asc", "rating", "popularity", "newest"}


def test_bad_vocabulary_is_reported() -> None:
    with pytest.raises(InvalidInput, match="examples"):
        parse_query_vocabulary({"examples": [{"text": "x", "kind": "question"}]})


def test_example_model_rejects_empty_text() -> None:
    with pytest.raises(ValueError):
        QueryExample(text="", kind="keyword")


# --- keyword variants ---------------------------------------------------------------------------------


def test_jamo_edit_distance() -> None:
    assert jamo_edit_distance("야구르트", "야쿠르트") == 1  # ㄱ / ㅋ
    assert jamo_edit_distance("닭가승살", "닭가슴살") == 1  # final ㅇ / ㅁ
    assert jamo_edit_distance("요구르트", "야쿠르트") == 2
    assert jamo_edit_distance("요구르트", "마스크팩", limit=1) == 2


def test_keyboard_variant_exact_term() -> None:
    variant = keyboard_variant("ehtlfkr", CATALOG_WORDS)
    assert variant is not None
    assert (variant.kind, variant.text) == ("keyboard", "도시락")
    assert variant.replacements[0].near_miss is False


def test_keyboard_variant_near_miss_one_jamo_off() -> None:
    # "dirnfmxm" types 야구르트; the catalog only has 야쿠르트, one jamo away.
    variant = keyboard_variant("dirnfmxm", CATALOG_WORDS)
    assert variant is not None
    assert variant.text == "야쿠르트"
    assert variant.replacements[0].converted == "야구르트"
    assert variant.replacements[0].near_miss is True
    assert "one jamo off" in variant.reason


def test_keyboard_variant_refuses_an_ambiguous_near_miss() -> None:
    # With 요구르트 also in the catalog, 야구르트 is one jamo from two terms: no silent guess.
    assert keyboard_variant("dirnfmxm", [*CATALOG_WORDS, "요구르트"]) is None


def test_keyboard_variant_keeps_real_words_and_other_words() -> None:
    assert keyboard_variant("Nike", CATALOG_WORDS) is None  # a catalog word stays English
    assert keyboard_variant("hello", CATALOG_WORDS) is None  # converts to no catalog term
    variant = keyboard_variant("dbtksrbs 30캡슐", CATALOG_WORDS)
    assert variant is not None and variant.text == "유산균 30캡슐"


def test_chosung_variant_picks_the_most_frequent_term() -> None:
    vocabulary = CatalogVocabulary({"도시락": 12, "대시락": 1, "야쿠르트": 5})
    variant = chosung_variant("ㄷㅅㄹ 세트", vocabulary)
    assert variant is not None
    assert variant.text == "도시락 세트"
    assert variant.alternatives == ["대시락"]
    assert chosung_variant("ㅋㅋㅋ", vocabulary) is None
    assert chosung_variant("도시락", vocabulary) is None


@given(st.sampled_from(["야쿠르트", "유산균", "데일리락", "마스크팩", "닭가슴살"]))
def test_keyboard_round_trip_finds_the_term(term: str) -> None:
    from cataloop.domain.search.hangul import hangul_to_qwerty

    variant = keyboard_variant(hangul_to_qwerty(term), CATALOG_WORDS)
    assert variant is not None and variant.text == term


def test_a_keyboard_typo_is_resolved_through_the_approved_typo_dictionary() -> None:
    from cataloop.domain.search.variants import keyboard_variant

    vocabulary = {"야쿠르트": 10, "요구르트": 8}
    # "dirnfmxm" types 야구르트, one jamo from both catalog terms: ambiguous on its own.
    assert keyboard_variant("dirnfmxm", vocabulary) is None
    variant = keyboard_variant("dirnfmxm", vocabulary, {"야구르트": "야쿠르트"})
    assert variant is not None and variant.text == "야쿠르트"
    # A correction to a word the catalog does not have is not used.
    assert keyboard_variant("dirnfmxm", vocabulary, {"야구르트": "없는말"}) is None
