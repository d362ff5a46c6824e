"""Learnings: concrete, machine-actionable knowledge the supervisor writes and later workers are shown.

A learning has prose (`text`, what an LLM reads) and a `directive` (what deterministic code and the offline
baseline act on). Both must say the same concrete thing; abstract advice ("be careful with brands") is refused.

Learnings are data, never instructions: prompts render them inside a delimited, JSON-escaped data block (see
`domain.enrichment.prompting.learnings_block`). On top of that, the surface values a new draft's directive
carries are bounded by the kind of their attribute (`value_problem`), because a value is what gets copied
into other sellers' extractions: a brand-like value is at most MAX_NAME_VALUE_CHARS (60) characters and
MAX_NAME_VALUE_WORDS (8) words; any other text value at most MAX_TEXT_VALUE_CHARS (80) characters and
MAX_TEXT_VALUE_WORDS (10) words; a quantity or count value is a number with an optional unit ('100 Softgels',
'Pack of 2', '20개입', at most 40 characters); a unit word of a pattern is at most 30 characters without
digits; a boolean is at most 10 characters. No value may hold a sentence (sentence punctuation followed by
more text, or a run of it), a line break, markup, or instruction wording ('ignore ...', 'you must', 'system:').
A draft that breaks a bound is refused with the reason. Stored learnings are re-validated without these
bounds (`context={"stored": True}`) so older items stay readable; new drafts, edits and imported snapshots
are checked.

`corroborated` marks a feedback-sourced draft whose claim was corroborated independently of the claimant
(see `domain.feedback.corrections`); only such feedback drafts follow the deployment mode, every other
seller or customer draft starts `proposed` (`domain.knowledge.changes`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from cataloop.domain.enrichment.attributes import schema_catalog
from cataloop.domain.enrichment.normalisation import normalise_text
from cataloop.domain.text import clean_name, has_hidden_characters

MIN_TEXT_CHARS = 12
MAX_TEXT_CHARS = 400
MAX_LEXICON_VALUES = 20

LearningKind = Literal["rule", "example", "definition"]
# `human_review`: a reviewer's decision on a product (`services.review_decisions`); a person is corroboration,
# so it follows the deployment mode like `expert` (it is not one of the FEEDBACK_CHANNELS).
SourceChannel = Literal[
    "worker_disagreement", "audit", "seller_feedback", "customer_feedback", "expert", "human_review"
]
FEEDBACK_CHANNELS: frozenset[str] = frozenset({"seller_feedback", "customer_feedback"})

MAX_NAME_VALUE_CHARS = 60
MAX_NAME_VALUE_WORDS = 8
MAX_TEXT_VALUE_CHARS = 80
MAX_TEXT_VALUE_WORDS = 10
MAX_QUANTITY_VALUE_CHARS = 40
MAX_UNIT_TERM_CHARS = 30
MAX_BOOLEAN_VALUE_CHARS = 10

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


# Sentence shape: a run of terminators, a clause break, a line break, two sentence breaks, or a terminator at
# the end of four or more words. Single abbreviations ('Dr. Scholl's', '1.5 fl. oz', 'Yes! To') pass.
_SENTENCE_RUN = re.compile(r"[.!?。！？]{2,}|[;:]\s*\S|[\n\r\t]")
_SENTENCE_BREAK = re.compile(r"[.!?。！？]\s+\S")
_SENTENCE_END = re.compile(r"[.!?。！？]\s*$")


def _sentence_like(value: str) -> bool:
    if _SENTENCE_RUN.search(value) or len(_SENTENCE_BREAK.findall(value)) >= 2:
        return True
    return bool(_SENTENCE_END.search(value)) and len(value.split()) >= 4


_MARKUP = re.compile(r"[<>{}\[\]`]|\$\{|https?://|www\.", re.IGNORECASE)
_INSTRUCTION = re.compile(
    r"\b(ignore|disregard|forget|override|bypass)\b.{0,40}\b(instruction|previous|above|rule|learning|prompt|"
    r"schema|everything|all)s?\b|\b(you|assistant|model|ai)\s+(must|should|shall|will|are|have to|need)\b|"
    r"\b(system|assistant|user|developer)\s*:|\b(instructions?|prompts?|jailbreak)\b|"
    r"\b(always|never)\s+(set|use|output|answer|return|extract|say|write|mark|label|treat|apply)\b|"
    r"^\s*(please|do not|don't|set|output|return|respond|answer|treat|apply|extract|use|write)\b",
    re.IGNORECASE,
)
_QUANTITY = re.compile(
    r"^(?:pack\s+of\s+\d+(?:[.,]\d+)?|[x×]\s?\d+|\d+(?:[.,]\d+)?(?:\s?-?\s?[^\W\d_][\w.'%-]*){0,3}"
    r"(?:\s*\((?:pack\s+of\s+)?\d+[^()]{0,15}\))?)$",
    re.IGNORECASE,
)


@lru_cache(maxsize=1024)
def attribute_kind(attribute: str) -> tuple[str, str | None]:
    """(kind, concept) of an attribute name in any schema ('text', None when no schema knows it)."""
    wanted = normalise_text(attribute).replace("_", " ")
    for schema in schema_catalog().schemas:
        for spec in schema.attributes:
            if normalise_text(spec.name).replace("_", " ") == wanted:
                return spec.kind, spec.concept
    return "text", None


def _name_like(attribute: str, concept: str | None) -> bool:
    return concept == "brand" or "brand" in normalise_text(attribute) or "model" in normalise_text(attribute)


def value_problem(attribute: str, value: str, role: Literal["value", "unit_term"] = "value") -> str | None:
    """Why `value` cannot be a learned value of `attribute` (None when it can). See the module docstring."""
    kind, concept = attribute_kind(attribute)
    shown = value if len(value) <= 60 else value[:57] + "..."
    if has_hidden_characters(value) or clean_name(value) != value.strip():
        return f"{attribute} value {shown!r} holds control, bidi, zero-width or tag characters"
    if _sentence_like(value) or _MARKUP.search(value):
        return f"{attribute} value {shown!r} reads as a sentence or markup, not a {attribute} value"
    if _INSTRUCTION.search(value):
        return f"{attribute} value {shown!r} reads as an instruction, not a {attribute} value"
    words = len(value.split())
    if role == "unit_term":
        if len(value) > MAX_UNIT_TERM_CHARS or words > 3 or any(ch.isdigit() for ch in value):
            return (
                f"unit word {shown!r} of {attribute} must be a unit word of at most {MAX_UNIT_TERM_CHARS} "
                "characters and 3 words, without digits"
            )
        return None
    if kind in ("quantity", "count"):
        if len(value) > MAX_QUANTITY_VALUE_CHARS or not _QUANTITY.match(value.strip()):
            return (
                f"{attribute} is a {kind}: a value must be a number with an optional unit such as '100 Softgels' "
                f"or 'Pack of 2' (at most {MAX_QUANTITY_VALUE_CHARS} characters), not {shown!r}"
            )
        return None
    if kind == "boolean":
        if len(value) > MAX_BOOLEAN_VALUE_CHARS:
            return f"{attribute} is a yes/no attribute: {shown!r} is not a yes/no value"
        return None
    limit, word_limit = (
        (MAX_NAME_VALUE_CHARS, MAX_NAME_VALUE_WORDS)
        if _name_like(attribute, concept)
        else (MAX_TEXT_VALUE_CHARS, MAX_TEXT_VALUE_WORDS)
    )
    if len(value) > limit or words > word_limit:
        return (
            f"{attribute} value {shown!r} is {len(value)} characters / {words} words; a {attribute} value is at "
            f"most {limit} characters and {word_limit} words"
        )
    return None


def directive_problems(directive: ValueLexicon | NotValue | UnitPattern | AttributeFact) -> list[str]:
    """Every surface value of `directive` that breaks its attribute's bounds, with the reason."""
    if isinstance(directive, UnitPattern):
        checks = [(term, "unit_term") for term in directive.unit_terms]
    else:
        # An AttributeFact's terms end with the attribute name itself: only its value is a surface value.
        values = [directive.value] if isinstance(directive, AttributeFact) else directive_terms(directive)
        checks = [(term, "value") for term in values]
    problems: list[str] = []
    for term, role in checks:
        problem = value_problem(directive.attribute, term, role)  # type: ignore[arg-type]
        if problem:
            problems.append(problem)
    return problems


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
    corroborated: bool = Field(
        default=False,
        description="feedback drafts only: the claim was corroborated independently of the claimant",
    )

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
    def _concrete(self, info: ValidationInfo) -> LearningDraft:
        if not (info.context or {}).get("stored"):
            problems = directive_problems(self.directive)
            if problems:
                raise ValueError("learning value refused: " + "; ".join(problems[:3]))
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
