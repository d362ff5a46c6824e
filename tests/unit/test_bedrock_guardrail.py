"""BedrockGuardrail against botocore's Stubber, and the GuardrailVerdict rules."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from cataloop.adapters.bedrock_guardrail import BedrockGuardrail, verdict_from_response
from cataloop.domain.search.guardrail import GuardrailSource, GuardrailVerdict
from cataloop.errors import ModelError, RetryableModelError

USAGE = {
    "topicPolicyUnits": 1,
    "contentPolicyUnits": 1,
    "wordPolicyUnits": 1,
    "sensitiveInformationPolicyUnits": 1,
    "sensitiveInformationPolicyFreeUnits": 0,
    "contextualGroundingPolicyUnits": 0,
}


@pytest.fixture
def runtime() -> Any:
    return boto3.client(
        "bedrock-runtime",
        region_name="ap-northeast-2",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def answer(
    action: str, assessments: list[dict[str, Any]], outputs: list[str] | None = None
) -> dict[str, Any]:
    return {
        "usage": USAGE,
        "action": action,
        "outputs": [{"text": text} for text in outputs or []],
        "assessments": assessments,
    }


def pii(entity_type: str, match: str, action: str) -> dict[str, Any]:
    return {
        "piiEntities": [{"match": match, "type": entity_type, "action": action, "detected": True}],
        "regexes": [],
    }


def check(
    runtime: Any, response: dict[str, Any], text: str = "유산균 추천", source: GuardrailSource = "INPUT"
) -> GuardrailVerdict:
    guardrail = BedrockGuardrail(runtime, "gr7abc", "2")
    with Stubber(runtime) as stub:
        stub.add_response(
            "apply_guardrail",
            response,
            {
                "guardrailIdentifier": "gr7abc",
                "guardrailVersion": "2",
                "source": source,
                "content": [{"text": {"text": text}}],
                "outputScope": "INTERVENTIONS",
            },
        )
        verdict = guardrail.check(text, source)
        stub.assert_no_pending_responses()
    return verdict


def test_no_intervention_passes(runtime: Any) -> None:
    verdict = check(runtime, answer("NONE", [{}]))
    assert verdict == GuardrailVerdict(allowed=True, action="none")
    assert verdict.text_to_use("유산균 추천") == "유산균 추천"


def test_only_anonymised_pii_is_allowed_with_masked_text(runtime: Any) -> None:
    text = "010-1234-5678 로 연락주세요 유산균"
    masked = "{PHONE} 로 연락주세요 유산균"
    response = answer(
        "GUARDRAIL_INTERVENED",
        [{"sensitiveInformationPolicy": pii("PHONE", "010-1234-5678", "ANONYMIZED")}],
        [masked],
    )
    verdict = check(runtime, response, text=text)
    assert verdict.allowed and verdict.action == "masked"
    assert verdict.masked_text == masked
    assert verdict.reasons == ["personal data: PHONE"]
    assert verdict.text_to_use(text) == masked


def test_blocked_pii_is_not_allowed(runtime: Any) -> None:
    response = answer(
        "GUARDRAIL_INTERVENED",
        [{"sensitiveInformationPolicy": pii("CREDIT_DEBIT_CARD_NUMBER", "4111111111111111", "BLOCKED")}],
        ["Sorry, I can't help with that."],
    )
    verdict = check(runtime, response, source="OUTPUT")
    assert not verdict.allowed
    assert verdict.reasons == ["personal data: CREDIT_DEBIT_CARD_NUMBER"]
    assert verdict.masked_text is None and verdict.text_to_use("x") is None


def test_masking_plus_a_blocking_filter_is_blocked_and_lists_both(runtime: Any) -> None:
    response = answer(
        "GUARDRAIL_INTERVENED",
        [
            {
                "contentPolicy": {
                    "filters": [
                        {"type": "INSULTS", "confidence": "HIGH", "action": "BLOCKED", "detected": True},
                        {"type": "HATE", "confidence": "LOW", "action": "NONE", "detected": False},
                    ]
                },
                "sensitiveInformationPolicy": pii("EMAIL", "a@b.kr", "ANONYMIZED"),
            }
        ],
        ["blocked"],
    )
    verdict = check(runtime, response)
    assert verdict.action == "blocked"
    assert verdict.reasons == ["content filter: INSULTS (HIGH confidence)", "personal data: EMAIL"]


def test_topics_words_regexes_and_prompt_attacks_are_reported(runtime: Any) -> None:
    response = answer(
        "GUARDRAIL_INTERVENED",
        [
            {
                "topicPolicy": {"topics": [{"name": "의료 진단", "type": "DENY", "action": "BLOCKED"}]},
                "wordPolicy": {
                    "customWords": [{"match": "경쟁사몰", "action": "BLOCKED"}],
                    "managedWordLists": [{"match": "xx", "type": "PROFANITY", "action": "BLOCKED"}],
                },
            },
            {
                "contentPolicy": {
                    "filters": [{"type": "PROMPT_ATTACK", "confidence": "MEDIUM", "action": "BLOCKED"}]
                },
                "sensitiveInformationPolicy": {
                    "piiEntities": [],
                    "regexes": [{"name": "주민등록번호", "match": "900101-1234567", "action": "BLOCKED"}],
                },
            },
        ],
    )
    verdict = check(runtime, response)
    assert not verdict.allowed
    assert verdict.reasons == [
        "denied topic: 의료 진단",
        "denied word: 경쟁사몰",
        "managed word list: PROFANITY",
        "content filter: PROMPT_ATTACK (MEDIUM confidence)",
        "sensitive pattern: 주민등록번호",
    ]


def test_intervention_without_known_findings_fails_closed(runtime: Any) -> None:
    response = answer("GUARDRAIL_INTERVENED", [{}])
    response["actionReason"] = "Guardrail blocked."
    verdict = check(runtime, response)
    assert verdict == GuardrailVerdict(allowed=False, action="blocked", reasons=["Guardrail blocked."])


def test_blank_text_passes_without_a_call(runtime: Any) -> None:
    guardrail = BedrockGuardrail(runtime, "gr7abc", "DRAFT")
    with Stubber(runtime) as stub:
        assert guardrail.check("   ", "INPUT").action == "none"
        stub.assert_no_pending_responses()


def test_throttling_is_retryable_and_other_errors_are_not(runtime: Any) -> None:
    guardrail = BedrockGuardrail(runtime, "gr7abc", "2")
    with Stubber(runtime) as stub:
        stub.add_client_error(
            "apply_guardrail", service_error_code="ThrottlingException", http_status_code=429
        )
        stub.add_client_error(
            "apply_guardrail",
            service_error_code="ResourceNotFoundException",
            service_message="The guardrail gr7abc was not found.",
            http_status_code=404,
        )
        with pytest.raises(RetryableModelError):
            guardrail.check("질문", "INPUT")
        with pytest.raises(ModelError, match="was not found") as raised:
            guardrail.check("질문", "INPUT")
    assert not isinstance(raised.value, RetryableModelError)


@pytest.mark.parametrize("version", ["0", "v2", "", "01"])
def test_invalid_guardrail_version_is_rejected(runtime: Any, version: str) -> None:
    with pytest.raises(ValueError, match="version"):
        BedrockGuardrail(runtime, "gr7abc", version)


@pytest.mark.parametrize(
    "fields",
    [
        {"allowed": True, "action": "blocked", "reasons": ["x"]},
        {"allowed": False, "action": "none"},
        {"allowed": True, "action": "masked", "reasons": ["x"]},
        {"allowed": True, "action": "none", "masked_text": "x"},
        {"allowed": False, "action": "blocked"},
    ],
)
def test_inconsistent_verdicts_are_rejected(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        GuardrailVerdict(**fields)


@given(
    pii_actions=st.lists(st.sampled_from(["ANONYMIZED", "BLOCKED", "NONE"]), max_size=5),
    filter_actions=st.lists(st.sampled_from(["BLOCKED", "NONE"]), max_size=3),
)
def test_intervention_is_allowed_exactly_when_nothing_blocked_and_something_was_masked(
    pii_actions: list[str], filter_actions: list[str]
) -> None:
    response = answer(
        "GUARDRAIL_INTERVENED",
        [
            {
                "sensitiveInformationPolicy": {
                    "piiEntities": [
                        {"match": "m", "type": "EMAIL", "action": action} for action in pii_actions
                    ],
                    "regexes": [],
                },
                "contentPolicy": {
                    "filters": [
                        {"type": "HATE", "confidence": "HIGH", "action": action} for action in filter_actions
                    ]
                },
            }
        ],
        ["{EMAIL} 문의"],
    )
    verdict = verdict_from_response(response)
    expected_allowed = "BLOCKED" not in pii_actions + filter_actions and "ANONYMIZED" in pii_actions
    assert verdict.allowed == expected_allowed
    assert (verdict.masked_text == "{EMAIL} 문의") == expected_allowed
    assert len(verdict.reasons) == max(1, sum(action != "NONE" for action in pii_actions + filter_actions))
