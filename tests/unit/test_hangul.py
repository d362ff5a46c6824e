from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cataloop.domain.search.hangul import (
    compose,
    decompose,
    hangul_to_qwerty,
    is_chosung_query,
    looks_like_mistyped_korean,
    qwerty_to_hangul,
    to_chosung,
)

syllables = st.integers(min_value=0xAC00, max_value=0xD7A3).map(chr)
syllable_words = st.text(syllables, min_size=1, max_size=8)
# Words of syllables separated by characters that are neither jamo nor layout letters.
syllable_text = st.lists(syllable_words, min_size=1, max_size=4).flatmap(
    lambda words: st.lists(
        st.sampled_from([" ", "1", "-", "  "]), min_size=len(words), max_size=len(words)
    ).map(lambda separators: "".join(word + sep for word, sep in zip(words, separators, strict=True)))
)


@pytest.mark.parametrize(
    ("text", "jamo"),
    [
        ("야쿠르트", "ㅇㅑㅋㅜㄹㅡㅌㅡ"),
        ("과", "ㄱㅗㅏ"),  # compound vowel split as typed
        ("닭", "ㄷㅏㄹㄱ"),  # compound final split as typed
        ("값 의", "ㄱㅏㅂㅅ ㅇㅡㅣ"),
        ("빨", "ㅃㅏㄹ"),  # double consonant is one key, kept whole
        ("ㅘ", "ㅗㅏ"),  # a lone compound jamo is split too
        ("C 1000mg", "C 1000mg"),
    ],
)
def test_decompose(text: str, jamo: str) -> None:
    assert decompose(text) == jamo


@pytest.mark.parametrize(
    ("jamo", "text"),
    [
        ("ㅇㅏㄴㄴㅕㅇ", "안녕"),  # final ㄴ stays, second ㄴ starts the next syllable
        ("ㅇㅏㄴㅕㅇ", "아녕"),  # final migrates to the next syllable when a vowel follows
        ("ㄷㅏㄹㄱㅏ", "달가"),  # compound final ㄺ splits: ㄹ stays, ㄱ moves on
        ("ㄷㅏㄹㄱ", "닭"),
        ("ㄱㅗㅏㅇㅣㄹ", "과일"),
        ("ㄱㅏㄸㅏ", "가따"),  # ㄸ cannot be a final
        ("ㅋㅋ", "ㅋㅋ"),  # lone consonants stay jamo
        ("ㅗㅏ", "ㅘ"),  # vowels without an initial combine but stay jamo
        ("ㅇㅏ ㄴㅕ", "아 녀"),  # a space ends the syllable
        ("ㄱㅏ1ㄴㅏ", "가1나"),
    ],
)
def test_compose(jamo: str, text: str) -> None:
    assert compose(jamo) == text


@given(syllable_text)
def test_compose_inverts_decompose(text: str) -> None:
    assert compose(decompose(text)) == text


@given(syllable_text)
def test_qwerty_round_trip(text: str) -> None:
    typed = hangul_to_qwerty(text)
    assert all(not ("가" <= char <= "힣") for char in typed)
    assert qwerty_to_hangul(typed) == text


@given(syllable_words)
def test_typed_syllables_look_like_mistyped_korean(word: str) -> None:
    assert looks_like_mistyped_korean(hangul_to_qwerty(word))


@pytest.mark.parametrize(
    ("typed", "hangul"),
    [
        ("dkssud", "안녕"),
        ("diznfmxm", "야쿠르트"),
        ("dirnfmxm", "야구르트"),  # r is ㄱ; ㅋ is z
        ("Qkffl", "빨리"),  # shift letters: ㅃ
        ("Qkfl", "빠리"),
        ("dOrl", "얘기"),
        ("dPsms", "예는"),
        ("DKSSUD", "안녕"),  # capitals without a shifted jamo type the plain one (caps lock)
        ("dkssud 123!", "안녕 123!"),
        ("rkrh 안녕 ghkd", "가고 안녕 황"),  # existing Hangul is left alone and separates runs
        ("hello", "ㅗ디ㅣㅐ"),  # converts what converts; leftovers stay lone jamo
    ],
)
def test_qwerty_to_hangul(typed: str, hangul: str) -> None:
    assert qwerty_to_hangul(typed) == hangul


@pytest.mark.parametrize(
    ("hangul", "typed"),
    [
        ("안녕", "dkssud"),
        ("야쿠르트", "diznfmxm"),
        ("빨리 쪄", "Qkffl Wu"),
        ("닭 3kg", "ekfr 3kg"),
        ("와", "dhk"),
    ],
)
def test_hangul_to_qwerty(hangul: str, typed: str) -> None:
    assert hangul_to_qwerty(hangul) == typed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("dkssud", True),
        ("diznfmxm 2", True),
        ("diznfmxm 2L", False),  # every letter counts: "L" alone is a lone ㅣ
        ("iphone", False),  # yields lone vowels
        ("hello world", False),
        ("mg", False),  # ㅡㅎ
        ("안녕", False),  # nothing to convert
        ("1234", False),
        ("", False),
    ],
)
def test_looks_like_mistyped_korean(text: str, expected: bool) -> None:
    assert looks_like_mistyped_korean(text) is expected


@pytest.mark.parametrize(
    ("text", "chosung"),
    [
        ("야쿠르트", "ㅇㅋㄹㅌ"),
        ("야쿠르트  에이스\t", "ㅇㅋㄹㅌ ㅇㅇㅅ"),  # whitespace runs collapse, ends are stripped
        ("비타민C 1000mg", "ㅂㅌㅁC 1000mg"),
        ("빨간 ㅋ", "ㅃㄱ ㅋ"),
    ],
)
def test_to_chosung(text: str, chosung: str) -> None:
    assert to_chosung(text) == chosung


@given(syllable_words)
def test_chosung_of_any_word_is_a_chosung_query(word: str) -> None:
    chosung = to_chosung(word)
    assert len(chosung) == len(word)
    assert is_chosung_query(chosung)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ㅇㅋㄹㅌ", True),
        ("ㅇㅋㄹㅌ ㅇㅇㅅ", True),
        ("ㄲㅆ", True),
        ("ㅇㅋ르트", False),
        ("ㅏ", False),  # vowels are not initials
        ("ㄳ", False),  # compound finals are not initials
        ("ㅇㅋ1", False),
        ("  ", False),
        ("", False),
    ],
)
def test_is_chosung_query(text: str, expected: bool) -> None:
    assert is_chosung_query(text) is expected
