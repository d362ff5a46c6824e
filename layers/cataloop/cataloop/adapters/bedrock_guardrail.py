"""Guardrail over Bedrock ApplyGuardrail: checks a text without invoking a model.

Korean text needs a guardrail on the Standard tier; the identifier and version come from configuration.
"""

from __future__ import annotations

from typing import Any, Protocol

from cataloop.adapters.bedrock_errors import bedrock_errors
from cataloop.domain.search.guardrail import GuardrailSource, GuardrailVerdict
from cataloop.errors import InvalidInput


class ApplyGuardrailClient(Protocol):
    """The part of a boto3 `bedrock-runtime` client this adapter uses."""

    def apply_guardrail(self, **kwargs: Any) -> dict[str, Any]: ...


class BedrockGuardrail:
    """Guardrail implementation: INTERVENED means blocked unless the only intervention was PII masking."""

    def __init__(self, client: ApplyGuardrailClient, identifier: str, version: str) -> None:
        if not identifier.strip():
            raise ValueError("guardrail identifier is empty; set the Bedrock guardrail id or ARN")
        if not (version == "DRAFT" or (version.isdigit() and not version.startswith("0"))):
            raise ValueError(f"guardrail version '{version}' is invalid; use a version number or DRAFT")
        self._client = client
        self._identifier = identifier
        self._version = version

    def check(self, text: str, source: GuardrailSource) -> GuardrailVerdict:
        """Assess `text` as model INPUT or OUTPUT; blank text passes without a call."""
        if source not in ("INPUT", "OUTPUT"):
            raise InvalidInput(f"guardrail source must be INPUT or OUTPUT, not {source!r}")
        if not text.strip():
            return GuardrailVerdict.passed()
        with bedrock_errors(f"guardrail {self._identifier}:{self._version}"):
            response = self._client.apply_guardrail(
                guardrailIdentifier=self._identifier,
                guardrailVersion=self._version,
                source=source,
                content=[{"text": {"text": text}}],
                outputScope="INTERVENTIONS",
            )
        return verdict_from_response(response)


def verdict_from_response(response: dict[str, Any]) -> GuardrailVerdict:
    """Translate an ApplyGuardrail response into a verdict (pure; the mapping rules live here)."""
    if response.get("action") != "GUARDRAIL_INTERVENED":
        return GuardrailVerdict.passed()
    blocked: list[str] = []
    masked: list[str] = []
    for assessment in response.get("assessments", []):
        _collect(assessment, blocked, masked)
    masked_text = "".join(output.get("text", "") for output in response.get("outputs", [])) or None
    if not blocked and masked and masked_text is not None:
        return GuardrailVerdict(allowed=True, action="masked", reasons=masked, masked_text=masked_text)
    if not blocked:
        # Intervened without a blocking finding we recognise: fail closed, keep the service's reason.
        blocked.append(response.get("actionReason") or "guardrail intervened")
    return GuardrailVerdict(allowed=False, action="blocked", reasons=[*blocked, *masked])


def _collect(assessment: dict[str, Any], blocked: list[str], masked: list[str]) -> None:
    for topic in assessment.get("topicPolicy", {}).get("topics", []):
        if topic.get("action") == "BLOCKED":
            blocked.append(f"denied topic: {topic.get('name')}")
    for content_filter in assessment.get("contentPolicy", {}).get("filters", []):
        if content_filter.get("action") == "BLOCKED":
            blocked.append(
                f"content filter: {content_filter.get('type')} ({content_filter.get('confidence')} confidence)"
            )
    word_policy = assessment.get("wordPolicy", {})
    for word in word_policy.get("customWords", []):
        if word.get("action") == "BLOCKED":
            blocked.append(f"denied word: {word.get('match')}")
    for word in word_policy.get("managedWordLists", []):
        if word.get("action") == "BLOCKED":
            blocked.append(f"managed word list: {word.get('type')}")
    sensitive = assessment.get("sensitiveInformationPolicy", {})
    for entity in sensitive.get("piiEntities", []):
        _sort_sensitive(entity.get("action"), f"personal data: {entity.get('type')}", blocked, masked)
    for regex in sensitive.get("regexes", []):
        label = regex.get("name") or regex.get("regex") or "regex"
        _sort_sensitive(regex.get("action"), f"sensitive pattern: {label}", blocked, masked)
    for grounding in assessment.get("contextualGroundingPolicy", {}).get("filters", []):
        if grounding.get("action") == "BLOCKED":
            blocked.append(
                f"contextual grounding: {grounding.get('type')} score {grounding.get('score')} "
                f"below {grounding.get('threshold')}"
            )


def _sort_sensitive(action: str | None, reason: str, blocked: list[str], masked: list[str]) -> None:
    if action == "BLOCKED":
        blocked.append(reason)
    elif action == "ANONYMIZED":
        masked.append(reason)
