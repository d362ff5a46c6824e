"""The offline guardrail: abuse word list and Korean personal-data patterns (adapters.offline_guardrail)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cataloop.adapters.offline_guardrail import (
    AbuseWordList,
    GuardrailPolicy,
    OfflineGuardrail,
    ean13_ok,
    find_personal_data,
    luhn_ok,
    rrn_check_digit_ok,
    shipped_word_list,
)
from cataloop.errors import InvalidInput
from cataloop.ports import Guardrail

WORDS = AbuseWordList.parse(["# test list", "씨발", "시발", "+시발점", "fuck*", "shit", ""])


@pytest.fixture
def guardrail() -> OfflineGuardrail:
    return OfflineGuardrail(words=WORDS)


def _rrn(front: str, back6: str) -> str:
    """Complete a resident registration number with its check digit.
    Hand check for 900101-123456?: digits 9,0,0,1,0,1,1,2,3,4,5,6 weighted 2,3,4,5,6,7,8,9,2,3,4,5 sum to
    18+0+0+5+0+7+8+18+6+12+20+30 = 124; 124 mod 11 = 3; (11 - 3) mod 10 = 8, so 900101-1234568."""
    for digit in "0123456789":
        if rrn_check_digit_ok(front + back6 + digit):
            return f"{front}-{back6}{digit}"
    raise AssertionError("unreachable: one digit always satisfies the check")


def test_implements_the_port() -> None:
    port: Guardrail = OfflineGuardrail(words=WORDS)
    assert port.check("야쿠르트", "INPUT").action == "none"


def test_check_digit_helpers_by_hand() -> None:
    assert _rrn("900101", "123456") == "900101-1234568"
    assert rrn_check_digit_ok("9001011234568") and not rrn_check_digit_ok("9001011234567")
    # 4111 1111 1111 1111: doubling every second digit from the right gives 8 x (2 + 1) - 3 = 30 -> valid.
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    # 880104301483?: odd positions 8+0+0+3+1+8 = 20, even 8+1+4+0+4+3 = 20 x 3 = 60; (10 - 80 % 10) % 10 = 0.
    assert ean13_ok("8801043014830") and not ean13_ok("8801043014831")


@pytest.mark.parametrize(
    ("text", "masked", "kind"),
    [
        ("야쿠르트 010-1234-5678 로 연락", "야쿠르트 {PHONE} 로 연락", "phone number"),
        ("01012345678", "{PHONE}", "phone number"),
        ("+82 10 1234 5678", "{PHONE}", "phone number"),
        ("문의 02-123-4567", "문의 {PHONE}", "phone number"),
        ("031.987.6543", "{PHONE}", "phone number"),
        ("me.kim+shop@example.co.kr 보내줘", "{EMAIL} 보내줘", "e-mail address"),
        ("카드 4111 1111 1111 1111 결제", "카드 {CARD} 결제", "payment card number"),
        ("5555-5555-5555-4444", "{CARD}", "payment card number"),
    ],
)
def test_personal_data_is_masked(guardrail: OfflineGuardrail, text: str, masked: str, kind: str) -> None:
    verdict = guardrail.check(text, "INPUT")
    assert (verdict.allowed, verdict.action, verdict.masked_text) == (True, "masked", masked)
    assert verdict.reasons == [f"personal data: {kind}"]


def test_resident_registration_numbers(guardrail: OfflineGuardrail) -> None:
    valid = _rrn("900101", "123456")
    assert guardrail.check(f"주민번호 {valid}", "INPUT").masked_text == "주민번호 {RRN}"
    assert guardrail.check(valid.replace("-", ""), "INPUT").masked_text == "{RRN}"
    # Hyphenated with a real birth date but no valid check digit: issued after October 2020, still masked.
    good = _rrn("210315", "398765")
    wrong_digit = str((int(good[-1]) + 1) % 10)
    post_2020 = guardrail.check(good[:-1] + wrong_digit, "INPUT")
    assert post_2020.masked_text == "{RRN}"
    assert "no check digit" in post_2020.reasons[0]


@pytest.mark.parametrize(
    "text",
    [
        "9001011234567",  # unhyphenated, wrong check digit: most likely a barcode
        "901301-1234568",  # month 13 is no birth date
        "8801043014830",  # a Korean EAN-13 barcode (GS1 880)
        "4111 1111 1111 1112",  # fails Luhn
        "1234567890123",  # 13 digits: barcode length, never treated as a card
        "비타민C 1000mg 60정",
        "SPF50+ 선크림 2024",
    ],
)
def test_lookalike_numbers_are_left_alone(guardrail: OfflineGuardrail, text: str) -> None:
    assert guardrail.check(text, "INPUT").action == "none"


def test_block_policy_refuses_personal_data() -> None:
    guardrail = OfflineGuardrail(GuardrailPolicy(pii_on_output="block"), words=WORDS)
    assert guardrail.check("010-1234-5678", "INPUT").action == "masked"
    output = guardrail.check("연락처는 010-1234-5678 입니다", "OUTPUT")
    assert (output.allowed, output.action, output.masked_text) == (False, "blocked", None)
    assert output.reasons == ["personal data: phone number"]


@pytest.mark.parametrize("text", ["씨발", "씨 발 야쿠르트", "씨1발", "시.발", "FUCKING yogurt", "sh1t"])
def test_abuse_is_blocked_despite_spacing_digits_and_case(guardrail: OfflineGuardrail, text: str) -> None:
    verdict = guardrail.check(text, "INPUT")
    assert (verdict.allowed, verdict.action) == (False, "blocked")
    assert verdict.reasons[0].startswith("abusive language")
    assert "씨발" not in " ".join(verdict.reasons)  # reasons never repeat the abuse into logs


@pytest.mark.parametrize("text", ["시발점", "ㅅㅂ", "shiitake", "Scunthorpe", "mushroom"])
def test_allowed_words_and_initials_pass(guardrail: OfflineGuardrail, text: str) -> None:
    assert guardrail.check(text, "INPUT").action == "none"


def test_abuse_with_personal_data_is_blocked_with_both_reasons(guardrail: OfflineGuardrail) -> None:
    verdict = guardrail.check("씨발 010-1234-5678", "INPUT")
    assert verdict.action == "blocked"
    assert verdict.reasons[1] == "personal data: phone number"


def test_blank_text_passes_and_bad_source_is_refused(guardrail: OfflineGuardrail) -> None:
    assert guardrail.check("   ", "OUTPUT").action == "none"
    with pytest.raises(InvalidInput, match="INPUT or OUTPUT"):
        guardrail.check("야쿠르트", "BOTH")


def test_word_list_format_errors() -> None:
    with pytest.raises(InvalidInput, match="line 1"):
        AbuseWordList.parse(["two words"])
    with pytest.raises(InvalidInput, match="Latin words only"):
        AbuseWordList.parse(["씨*"])


def test_shipped_list_blocks_common_abuse_but_not_chosung_searches() -> None:
    guardrail = OfflineGuardrail()
    assert shipped_word_list().hangul
    assert guardrail.check("개새끼", "INPUT").action == "blocked"
    assert guardrail.check("fuck", "INPUT").action == "blocked"
    for search in ("ㅅㅂ", "ㅂㅅ", "시발점", "걸레", "미친 가성비 유산균"):
        assert guardrail.check(search, "INPUT").action == "none", search


@given(st.text(alphabet="가나다라마바사아자차카타파하 ", max_size=40))
def test_plain_hangul_without_listed_words_passes(text: str) -> None:
    # None of these syllables forms a listed word, so nothing may be blocked or masked.
    assert OfflineGuardrail(words=WORDS).check(text, "INPUT").action == "none"


@given(st.from_regex(r"01[016789]-\d{4}-\d{4}", fullmatch=True))
def test_every_mobile_number_is_masked(number: str) -> None:
    assert find_personal_data(f"연락 {number} 부탁")[0].label == "{PHONE}"
