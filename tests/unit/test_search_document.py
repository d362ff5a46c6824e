"""The search document built from a listing and its enrichment."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cataloop.domain.catalog.listing import ProductListing
from cataloop.domain.search.documents import (
    attribute_field,
    index_generation,
    index_name,
    prefix_grams,
    product_document,
    split_keywords,
)


def _listing(**fields: Any) -> ProductListing:
    base: dict[str, Any] = {
        "product_id": "p1",
        "title": "한국야쿠르트 야쿠르트 에이스",
        "category_path": ["식품", "음료"],
    }
    return ProductListing(**{**base, **fields})


def test_keywords_split_on_bars_only_and_dedupe_case_insensitively() -> None:
    assert split_keywords(" 유산균 | 장건강||USB-C,  1,000mAh |usb-c| 장   건강 |유산균|USB-C") == [
        "유산균",
        "장건강",
        "USB-C, 1,000mAh",
        "usb-c",
        "장 건강",
    ]


@given(st.lists(st.text(max_size=12), max_size=30))
def test_split_keywords_yields_clean_unique_terms(parts: list[str]) -> None:
    terms = split_keywords("|".join(parts))
    assert all(term and term == term.strip() and "|" not in term for term in terms)
    assert len({term.casefold() for term in terms}) == len(terms)
    assert split_keywords("|".join(terms)) == terms


def test_document_derives_search_fields_from_listing_and_enrichment() -> None:
    document = product_document(
        _listing(metadata_keywords="유산균|장건강", price="3000", rating=4.5, brand=None),
        {
            "attributes": {"Brand": {"value": "한국야쿠르트", "normalised": "한국야쿠르트"}, "Pack size": 10},
            "keywords": ["요구르트", "유산균"],
            "english_name": "Yakult Ace",
            "ignored": "extra keys are ignored",
        },
        version=4,
    )
    assert document.version == 4
    assert document.keywords == ["유산균", "장건강", "요구르트"]
    # Each word, the run-together form from each word on, then the seller keywords' initials.
    assert document.name_chosung == [
        "ㅎㄱㅇㅋㄹㅌ",
        "ㅇㅋㄹㅌ",
        "ㅇㅇㅅ",
        "ㅎㄱㅇㅋㄹㅌㅇㅋㄹㅌㅇㅇㅅ",
        "ㅇㅋㄹㅌㅇㅇㅅ",
        "ㅇㅅㄱ",
        "ㅈㄱㄱ",
        "ㅇㄱㄹㅌ",
    ]
    assert document.name_qwerty[1] == "diznfmxm"
    assert document.category_prefixes == ["식품", "식품>음료"]
    assert document.is_food is True
    assert document.brand == "한국야쿠르트"
    assert document.attributes == {"attr_brand": ["한국야쿠르트"], "attr_pack_size": ["10"]}
    assert document.english == "Yakult Ace"
    assert document.price == 3000.0
    assert document.embedding_text.startswith("한국야쿠르트 야쿠르트 에이스 | 한국야쿠르트 | 식품 > 음료")
    source = document.source()
    assert source["attr_pack_size"] == ["10"] and "attributes" not in source and "version" not in source


def test_parent_carries_child_ids_and_names() -> None:
    child = _listing(product_id="c1", title="야쿠르트 라이트", parent_id="b1")
    parent = product_document(_listing(product_id="b1", title="선물세트", child_ids=["c0"]), None, 1, [child])
    assert parent.child_ids == ["c0", "c1"]
    assert parent.child_names == ["야쿠르트 라이트"]
    assert product_document(child, None, 1).parent_id == "b1"


def test_english_text_keeps_latin_words_of_a_korean_title() -> None:
    document = product_document(_listing(title="나이키 Air Max 90 운동화", category_path=["패션"]), None, 1)
    assert document.english == "Air Max"
    assert document.is_food is False
    assert document.name_chosung == ["ㄴㅇㅋ", "ㅇㄷㅎ", "ㄴㅇㅋㅇㄷㅎ"]


def test_enrichment_is_food_overrides_the_category_guess() -> None:
    assert product_document(_listing(), {"is_food": False}, 1).is_food is False


def test_attribute_field_names_and_index_generations() -> None:
    assert attribute_field("Net content") == "attr_net_content"
    with pytest.raises(ValueError, match="no letters or digits"):
        attribute_field(" -- ")
    assert index_name("products", 12) == "products-v0012"
    assert index_generation("products", "products-v0012") == 12
    assert index_generation("products", "learnings-v0001") is None
    assert prefix_grams("abc") == ["a", "ab", "abc"]
