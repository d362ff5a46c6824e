"""What the model roles return: strict, JSON-schema-friendly pydantic models (used as Bedrock tool schemas)."""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cataloop.domain.knowledge.learning import LearningDraft
from cataloop.validation import describe_validation_error

_log = logging.getLogger(__name__)

MAX_VALUE_CHARS = 200

EvidenceField = Literal["title", "description", "bullet_points", "metadata_keywords", "category_path"]


class EvidenceSpan(BaseModel):
    """Where a value was read: character offsets [start, end) into one field of the product text."""

    model_config = ConfigDict(extra="forbid")

    field: EvidenceField = "title"
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    text: str = Field(max_length=MAX_VALUE_CHARS * 2)

    @model_validator(mode="after")
    def _consistent(self) -> EvidenceSpan:
        if self.end <= self.start:
            raise ValueError(f"evidence span end ({self.end}) must be greater than start ({self.start})")
        if len(self.text) != self.end - self.start:
            raise ValueError("evidence text length must equal end - start (quote the span exactly)")
        return self


class AttributeValue(BaseModel):
    """One extracted value: the surface string, its normalised form and unit, the evidence and a confidence."""

    model_config = ConfigDict(extra="forbid")

    value: str = Field(min_length=1, max_length=MAX_VALUE_CHARS)
    normalised: str | None = Field(default=None, max_length=MAX_VALUE_CHARS)
    unit: str | None = Field(default=None, max_length=20)
    evidence: EvidenceSpan | None = None
    confidence: float = Field(default=0.5, ge=0.0, le=1.0)


class WorkerExtraction(BaseModel):
    """A generator's output. Attribute names must come from the category's schema."""

    model_config = ConfigDict(extra="forbid")

    attributes: dict[str, AttributeValue] = Field(default_factory=dict)
    search_title: str = Field(default="", max_length=300)
    keywords: list[str] = Field(default_factory=list, max_length=30)
    learning_ids_used: list[str] = Field(default_factory=list, max_length=100)


Verdict = Literal["ok", "ambiguous", "missing_context", "misread", "unsupported"]
DISPUTING_VERDICTS: frozenset[str] = frozenset({"ambiguous", "misread"})


class EvaluatorVerdict(BaseModel):
    """The evaluator's judgement of one attribute across the generators' candidates."""

    model_config = ConfigDict(extra="forbid")

    attribute: str = Field(min_length=1, max_length=60)
    verdict: Verdict
    reason: str = Field(min_length=1, max_length=500)
    suggested_value: str | None = Field(default=None, max_length=MAX_VALUE_CHARS)


class EvaluatorReport(BaseModel):
    """All verdicts for one product. A rubber stamp (all ok) and a blanket veto are both alarms upstream."""

    model_config = ConfigDict(extra="forbid")

    verdicts: list[EvaluatorVerdict] = Field(default_factory=list, max_length=100)
    summary: str = Field(default="", max_length=1000)
    learning_ids_used: list[str] = Field(default_factory=list, max_length=100)

    def verdict_for(self, attribute: str) -> EvaluatorVerdict | None:
        return next((v for v in self.verdicts if v.attribute == attribute), None)

    @property
    def approval_rate(self) -> float:
        """Share of verdicts that are 'ok' (1.0 when there are none)."""
        if not self.verdicts:
            return 1.0
        return sum(v.verdict == "ok" for v in self.verdicts) / len(self.verdicts)


class SupervisorResolution(BaseModel):
    """The strong model's final attributes, what it could not resolve (-> human review) and its learnings."""

    model_config = ConfigDict(extra="forbid")

    attributes: dict[str, AttributeValue] = Field(default_factory=dict)
    unresolved: list[str] = Field(default_factory=list, max_length=100)
    confidence: float = Field(ge=0.0, le=1.0)
    reason: str = Field(min_length=1, max_length=2000)
    learnings: list[LearningDraft] = Field(default_factory=list, max_length=10)
    learning_ids_used: list[str] = Field(default_factory=list, max_length=100)

    @field_validator("learnings", mode="before")
    @classmethod
    def _keep_valid_drafts(cls, drafts: Any) -> Any:
        """A draft out of bounds (too long, a sentence where a value belongs, hidden characters) is dropped
        with a warning; it must not void the resolution it came with (a real model writes such drafts)."""
        if not isinstance(drafts, list):
            return drafts
        kept = []
        for draft in drafts:
            try:
                kept.append(LearningDraft.model_validate(draft))
            except ValidationError as error:
                _log.warning(
                    "supervisor learning draft dropped: %s", describe_validation_error(error, limit=3)
                )
        return kept
