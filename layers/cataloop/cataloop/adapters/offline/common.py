"""What every role of the offline baseline shares: the request payload, the product, compiled learnings and
the helpers that turn a title span into an `AttributeValue`.

The roles never read the prose prompt: they act on `ModelRequest.payload`, parsed here as `Payload`
(lenient, so odd input still yields valid output).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cataloop.domain.enrichment.attributes import AttributeSchema, AttributeSpec, schema_for
from cataloop.domain.enrichment.extraction import (
    AttributeValue,
    EvaluatorReport,
    EvidenceSpan,
    WorkerExtraction,
)
from cataloop.domain.enrichment.normalisation import normalise_text, normalise_value, parse_quantity
from cataloop.domain.knowledge.learning import (
    AttributeFact,
    LearningView,
    NotValue,
    SourceChannel,
    UnitPattern,
    ValueLexicon,
)


@dataclass
class Knowledge:
    """Learnings that apply to one product, compiled into lookups."""

    lexicon: list[tuple[str, str, str]] = field(default_factory=list)  # (attribute, value, learning id)
    not_values: dict[str, dict[str, str]] = field(default_factory=dict)  # attribute -> {norm value: id}
    patterns: list[tuple[str, list[str], bool, str]] = field(default_factory=list)
    facts: list[tuple[str, str, str]] = field(default_factory=list)

    def lexicon_ids(self, attribute: str, value: str) -> list[str]:
        folded = normalise_text(value)
        return [lid for attr, val, lid in self.lexicon if attr == attribute and normalise_text(val) == folded]

    def other_attribute_of(self, attribute: str, value: str) -> tuple[str, str] | None:
        folded = normalise_text(value)
        for attr, val, lid in self.lexicon:
            if attr != attribute and normalise_text(val) == folded:
                return attr, lid
        return None


def compile_knowledge(
    learnings: Iterable[LearningView], schema: AttributeSchema, category_path: list[str]
) -> Knowledge:
    """The learnings whose scope covers `category_path` and whose attribute is in `schema`, as lookups."""
    knowledge = Knowledge()
    names = set(schema.names)
    for view in learnings:
        if not view.applies_to(category_path) or view.directive.attribute not in names:
            continue
        directive = view.directive
        if isinstance(directive, ValueLexicon):
            knowledge.lexicon.extend((directive.attribute, value, view.id) for value in directive.values)
        elif isinstance(directive, NotValue):
            knowledge.not_values.setdefault(directive.attribute, {})[normalise_text(directive.value)] = (
                view.id
            )
        elif isinstance(directive, UnitPattern):
            knowledge.patterns.append(
                (directive.attribute, list(directive.unit_terms), directive.keep_unit, view.id)
            )
        elif isinstance(directive, AttributeFact):
            knowledge.facts.append((directive.attribute, directive.value, view.id))
    return knowledge


class Payload(BaseModel):
    """What the services put in ModelRequest.payload; lenient so odd input still yields valid output."""

    model_config = ConfigDict(extra="ignore")

    product: dict[str, Any] = Field(default_factory=dict)
    attribute_schema: AttributeSchema | None = Field(default=None, alias="schema")
    learnings: list[LearningView] = Field(default_factory=list)
    candidates: list[dict[str, Any]] = Field(default_factory=list)
    evaluation: EvaluatorReport | None = None
    decision: str = "DISAGREE"
    disagreed_attributes: list[str] = Field(default_factory=list)
    agreed_values: dict[str, AttributeValue] = Field(default_factory=dict)
    source_channel: SourceChannel = "worker_disagreement"


@dataclass
class Product:
    """The product fields the roles read from the payload (missing or mistyped fields become empty)."""

    product_id: str
    title: str
    description: str
    category_path: list[str]
    brand_hint: str | None

    @classmethod
    def of(cls, raw: dict[str, Any]) -> Product:
        def text(key: str) -> str:
            value = raw.get(key)
            return value if isinstance(value, str) else ""

        path = raw.get("category_path")
        category_path = [part for part in path if isinstance(part, str)] if isinstance(path, list) else []
        bullets = raw.get("bullet_points")
        bullet_text = " ".join(b for b in bullets if isinstance(b, str)) if isinstance(bullets, list) else ""
        return cls(
            product_id=text("product_id") or "unknown",
            title=text("title"),
            description=" ".join(part for part in (text("description"), bullet_text) if part),
            category_path=category_path,
            brand_hint=text("brand") or None,
        )


def read_payload(payload: Payload) -> tuple[Product, AttributeSchema, Knowledge]:
    """The product, its schema (the payload's, else the one for its category) and its compiled learnings."""
    product = Product.of(payload.product)
    schema = payload.attribute_schema or schema_for(product.category_path or ["unknown"])
    knowledge = compile_knowledge(payload.learnings, schema, product.category_path)
    return product, schema, knowledge


def word_re(phrase: str) -> re.Pattern[str]:
    """`phrase` as a whole-word, case-insensitive pattern."""
    return re.compile(rf"(?<![\w]){re.escape(phrase.strip())}(?![\w])", re.IGNORECASE)


def title_value(
    title: str, start: int, end: int, spec: AttributeSpec, confidence: float, text: str | None = None
) -> AttributeValue:
    """The value of `spec` read at title[start:end] (or `text`), with its evidence span."""
    surface = (text if text is not None else title[start:end]).strip(" ,;:-")[:200] or title[start:end]
    unit = None
    if spec.kind == "quantity":
        quantity = parse_quantity(surface)
        unit = quantity.unit if quantity else None
    return AttributeValue(
        value=surface,
        normalised=normalise_value(surface, spec.kind),
        unit=unit,
        evidence=(
            EvidenceSpan(field="title", start=start, end=end, text=title[start:end]) if end > start else None
        ),
        confidence=confidence,
    )


def attribute_key(spec: AttributeSpec) -> str:
    """The key of `spec` in the built-in lexicons and patterns: its normalised name."""
    return normalise_text(spec.name)


def candidate_extractions(payload: Payload) -> list[WorkerExtraction]:
    """The workers' extractions in the payload; an unreadable one counts as an empty extraction."""
    extractions: list[WorkerExtraction] = []
    for candidate in payload.candidates:
        raw = candidate.get("extraction", candidate)
        try:
            extractions.append(WorkerExtraction.model_validate(raw))
        except ValidationError:
            extractions.append(WorkerExtraction())
    return extractions
