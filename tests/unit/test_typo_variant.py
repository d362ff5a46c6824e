"""Hangul typo correction against the catalog vocabulary (cataloop.domain.search.variants.typo_variant)."""

from __future__ import annotations

from cataloop.domain.search.variants import CatalogVocabulary, chosung_variant, typo_budget, typo_variant

VOCABULARY = CatalogVocabulary(
    {
        "야쿠르트": 40,
        "세제": 12,
        "주방세제": 6,
        "요구르트": 30,
        "요거트": 10,
        "유산균": 50,
        "유산균음료": 8,
        "살": 3,
    }
)


def test_a_wrong_vowel_a_doubled_consonant_and_a_final_consonant_slip_are_corrected() -> None:
    assert typo_variant("야구르트", VOCABULARY).text == "야쿠르트"  # type: ignore[union-attr]  # ㄱ for ㅋ
    assert typo_variant("세재", VOCABULARY).text == "세제"  # type: ignore[union-attr]  # ㅐ for ㅔ
    assert typo_variant("유산균 음로", CatalogVocabulary({"음료": 3})).text == "유산균 음료"  # type: ignore[union-attr]
    assert typo_variant("유산귱", VOCABULARY).text == "유산균"  # type: ignore[union-attr]  # final ㅇ for ㄴ


def test_the_variant_says_what_it_changed_and_lists_the_other_candidates() -> None:
    variant = typo_variant("요구르트 세재", VOCABULARY)
    assert variant is not None and variant.kind == "typo"
    assert variant.reason == "typo variant: '세재' -> '세제' (one jamo off)"
    vocabulary = CatalogVocabulary({"요구르트": 30, "요거르트": 1, "요구르드": 5})
    tie = typo_variant("요구르뜨", vocabulary)
    # Both are one jamo away; the more frequent term wins and the other is offered.
    assert tie is not None and tie.text == "요구르트" and tie.alternatives == ["요구르드"]


def test_known_words_and_short_words_are_left_alone() -> None:
    assert typo_variant("야쿠르트 유산균", VOCABULARY) is None  # vocabulary terms
    assert typo_variant("살", VOCABULARY) is None and typo_budget("살") == 0
    assert typo_variant("유산균이", VOCABULARY, known=lambda word: word == "유산균이") is None
    assert typo_variant("coffee", VOCABULARY) is None


def test_a_correction_keeps_the_syllable_count() -> None:
    # "사료" (feed) is one jamo from "살" with its vowel dropped: not a typo of it.
    assert typo_variant("사료", VOCABULARY) is None


def test_an_approved_correction_wins() -> None:
    variant = typo_variant("쥬방세제", VOCABULARY, corrections={"쥬방세제": "주방세제"})
    assert variant is not None and variant.text == "주방세제"


def test_chosung_of_a_compound_expands_to_the_most_frequent_term() -> None:
    vocabulary = CatalogVocabulary({"유산균음료": 8, "요산균음료": 1, "야쿠르트": 40, "요쿠르트": 2})
    variant = chosung_variant("ㅇㅅㄱㅇㄹ", vocabulary)
    assert variant is not None and variant.text == "유산균음료" and variant.alternatives == ["요산균음료"]
    assert chosung_variant("ㅇㅋㄹㅌ", vocabulary).text == "야쿠르트"  # type: ignore[union-attr]
