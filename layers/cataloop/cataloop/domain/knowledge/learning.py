"""Learnings: concrete, machine-actionable knowledge the supervisor writes and later workers are shown.

A learning has prose (`text`, what an LLM reads) and a `directive` (what deterministic code and the offline
baseline act on). Both must say the same concrete thing; abstract advice ("be careful with brands") is refused.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cataloop.domain.enrichment.normalisation import normalise_text

MIN_TEXT_CHARS = 12
MAX_TEXT_CHARS = 400
MAX_LEXICON_VALUES = 20

LearningKind = Literal["rule", "example", "definition"]
SourceChannel = Literal["worker_disagreement", "audit", "seller_feedback", "customer_feedback", "expert"]

AttributeName = Annotated[str, Field(min_length=1, max_length=60)]
SurfaceValue = Annotated[str, Field(min_length=1, max_length=120)]


class ValueLexicon(BaseModel):
    """In the learning's scope, these surface strings are values of `attribute`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["value_lexicon"] = "value_lexicon"
    attribute: AttributeName
    values: list[SurfaceValue] = Field(min_length=1, max_length=MAX_LEXICON_VALUES)


class NotValue(BaseModel):
    """`value` is not a value of `attribute` (it belongs to `correct_attribute` when that is given)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["not_value"] = "not_value"
    attribute: AttributeName
    value: SurfaceValue
    correct_attribute: AttributeName | None = None


class UnitPattern(BaseModel):
    """A number followed by one of `unit_terms` is a value of `attribute`; keep_unit says whether the value
    includes the unit word ('100 Count') or is the bare number ('150' from '150 Gummies')."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["pattern"] = "pattern"
    attribute: AttributeName
    unit_terms: list[SurfaceValue] = Field(min_length=1, max_length=MAX_LEXICON_VALUES)
    keep_unit: bool = True


class AttributeFact(BaseModel):
    """Every product in scope has `attribute` = `value` (e.g. is_food = true under 발효유)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["attribute_fact"] = "attribute_fact"
    attribute: AttributeName
    value: SurfaceValue


LearningDirective = Annotated[
    ValueLexicon | NotValue | UnitPattern | AttributeFact, Field(discriminator="type")
]


def directive_terms(directive: ValueLexicon | NotValue | UnitPattern | AttributeFact) -> list[str]:
    """The concrete strings a directive is about; the prose must mention at least one of them."""
    if isinstance(directive, ValueLexicon):
        return list(directive.values)
    if isinstance(directive, NotValue):
        return [directive.value]
    if isinstance(directive, UnitPattern):
        return list(directive.unit_terms)
    return [directive.value, directive.attribute]


def directive_key(directive: ValueLexicon | NotValue | UnitPattern | AttributeFact) -> str:
    """Identity of what a directive asserts, for de-duplication ('same learning written twice')."""
    terms = "|".join(sorted(normalise_text(term) for term in directive_terms(directive)))
    extra = directive.correct_attribute if isinstance(directive, NotValue) else ""
    return f"{directive.type}:{directive.attribute}:{terms}:{extra or ''}"


_VAGUE = re.compile(
    r"\b(be careful|pay attention|double[- ]check|make sure|be aware|consider|be precise|be accurate|"
    r"try to|always check|think about)\b",
    re.IGNORECASE,
)


class LearningProvenance(BaseModel):
    """Where a learning came from: the product and model that produced it, and what showed it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    product_id: str | None = Field(default=None, max_length=128)
    model_id: str | None = Field(default=None, max_length=200)
    evidence: str = Field(default="", max_length=500)


def _check_scope(scope_path: list[str]) -> list[str]:
    cleaned = [part.strip() for part in scope_path]
    if any(not part or len(part) > 100 for part in cleaned):
        raise ValueError("scope_path entries must be 1-100 characters (use [] for the whole catalog)")
    return cleaned


class LearningDraft(BaseModel):
    """A learning as the supervisor writes it, before the knowledge base places it and gives it an id."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str = Field(max_length=MAX_TEXT_CHARS)
    kind: LearningKind = "rule"
    scope_path: list[str] = Field(default_factory=list, max_length=8)
    attributes: list[AttributeName] = Field(min_length=1, max_length=10)
    directive: LearningDirective
    source_channel: SourceChannel = "worker_disagreement"
    provenance: LearningProvenance = Field(default_factory=LearningProvenance)

    @field_validator("text")
    @classmethod
    def _text_size(cls, value: str) -> str:
        text = " ".join(value.split())
        if len(text) < MIN_TEXT_CHARS:
            raise ValueError(
                f"learning text is empty or too short ({len(text)} chars); state the concrete fact, e.g. "
                "\"In Coffee, 'Death Wish' is a Brand value.\""
            )
        return text

    @field_validator("scope_path")
    @classmethod
    def _scope(cls, value: list[str]) -> list[str]:
        return _check_scope(value)

    @model_validator(mode="after")
    def _concrete(self) -> LearningDraft:
        if self.directive.attribute not in self.attributes:
            raise ValueError(
                f"directive attribute {self.directive.attribute!r} must be listed in attributes {self.attributes}"
            )
        folded = normalise_text(self.text)
        terms = directive_terms(self.directive)
        if not any(normalise_text(term) in folded for term in terms):
            raise ValueError(
                "learning text is abstract: it must quote at least one concrete term of its directive "
                f"({terms[:3]}); rewrite it as a fact such as \"In Coffee, 'Death Wish' is a Brand value.\""
            )
        if _VAGUE.search(self.text) and len(self.text) < 60:
            raise ValueError(
                "learning text reads as advice ('be careful', 'make sure', ...); state what is true instead"
            )
        return self


class LearningView(BaseModel):
    """A stored learning as injected into a prompt; workers report the ids they relied on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=128)
    version: int = Field(default=1, ge=1)
    text: str = Field(min_length=MIN_TEXT_CHARS, max_length=MAX_TEXT_CHARS)
    kind: LearningKind = "rule"
    scope_path: list[str] = Field(default_factory=list, max_length=8)
    attributes: list[AttributeName] = Field(min_length=1, max_length=10)
    directive: LearningDirective

    @field_validator("scope_path")
    @classmethod
    def _scope(cls, value: list[str]) -> list[str]:
        return _check_scope(value)

    @classmethod
    def from_draft(cls, draft: LearningDraft, learning_id: str, version: int = 1) -> LearningView:
        """The view of an accepted draft under the id the knowledge base gave it."""
        return cls(
            id=learning_id,
            version=version,
            text=draft.text,
            kind=draft.kind,
            scope_path=draft.scope_path,
            attributes=draft.attributes,
            directive=draft.directive,
        )

    def applies_to(self, category_path: list[str]) -> bool:
        """True when the learning's scope is a prefix of `category_path` (case-insensitive)."""
        scope = [normalise_text(part) for part in self.scope_path]
        path = [normalise_text(part) for part in category_path]
        return path[: len(scope)] == scope
