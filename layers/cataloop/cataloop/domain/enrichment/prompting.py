"""Prompt rendering: versioned templates with slots, and product text sanitised into a delimited data block.

Templates live in cataloop/prompts/<role>.v<N>.txt and load through `cataloop.domain.prompts`. Product
text is sanitised (HTML and scripts removed, then the shared `domain.text` sanitiser: control, bidi,
zero-width and tag characters), truncated to a character budget, JSON-encoded with '<', '>' and '&'
escaped, and placed between <product_data> tags, so nothing a seller writes can close the block or pose as
an instruction.

Learnings are data too: a learning's value can come from a seller's or customer's text, and its scope from a
seller's category path. `learnings_block` renders them as JSON records (id, version, scope_path, attributes,
directive, text) with the same escaping, between <learnings_data> tags; the templates' system text says
both blocks hold data, never instructions, and no category name or learning value is written into prose.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cataloop.domain.catalog.listing import ProductListing
from cataloop.domain.enrichment.attributes import AttributeSchema
from cataloop.domain.knowledge.learning import LearningView
from cataloop.domain.model_calls import PromptText
from cataloop.domain.prompts import load_template
from cataloop.domain.text import clean_text

TemplateName = Literal["generator", "evaluator", "supervisor"]
TEMPLATE_VERSION = "v2"
DEFAULT_BUDGET_CHARS = 4000
TRUNCATION_MARK = " …"

_SCRIPT = re.compile(r"<(script|style)\b[^>]*>.*?(</\1\s*>|$)", re.IGNORECASE | re.DOTALL)
_COMMENT = re.compile(r"<!--.*?(-->|$)", re.DOTALL)
_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_SPACE = re.compile(r"[ \t\r\n]+")


def sanitise_text(text: str) -> str:
    """Strip scripts, styles, comments and tags, decode entities, drop control, bidi, zero-width and tag
    characters (`domain.text.clean_text`), collapse spaces."""
    cleaned = _SCRIPT.sub(" ", text)
    cleaned = _COMMENT.sub(" ", cleaned)
    cleaned = _TAG.sub(" ", cleaned)
    cleaned = html.unescape(cleaned)
    # Entities can decode into new tags ("&lt;script&gt;"): strip again after decoding.
    cleaned = _SCRIPT.sub(" ", cleaned)
    cleaned = _TAG.sub(" ", cleaned)
    cleaned = clean_text(cleaned)
    return _SPACE.sub(" ", cleaned).strip()


class ProductData(BaseModel):
    """The sanitised, budgeted product text that goes inside the data block (and into the model payload)."""

    model_config = ConfigDict(frozen=True)

    product_id: str
    title: str
    category_path: list[str]
    brand: str | None = None
    description: str = ""
    bullet_points: list[str] = Field(default_factory=list)
    metadata_keywords: str = ""
    locale: str = "en"
    truncated: bool = False


def _cut(text: str, limit: int) -> tuple[str, bool]:
    if len(text) <= limit:
        return text, False
    if limit <= len(TRUNCATION_MARK):
        return "", bool(text)
    return text[: limit - len(TRUNCATION_MARK)].rstrip() + TRUNCATION_MARK, True


def prepare_product_data(listing: ProductListing, budget_chars: int = DEFAULT_BUDGET_CHARS) -> ProductData:
    """Sanitise the listing's text and fit it into `budget_chars`: title first, then bullet points,
    description and keywords; `truncated` is True when anything was cut or dropped."""
    if budget_chars < 50:
        raise ValueError(f"budget_chars must be at least 50 so the title fits, got {budget_chars}")
    remaining = budget_chars
    title, cut_title = _cut(sanitise_text(listing.title), min(remaining, 500))
    remaining -= len(title)
    truncated = cut_title
    bullets: list[str] = []
    for raw in listing.bullet_points:
        bullet = sanitise_text(raw)
        if not bullet:
            continue
        piece, cut = _cut(bullet, remaining)
        truncated |= cut
        if not piece:
            break
        bullets.append(piece)
        remaining -= len(piece)
    description, cut = _cut(sanitise_text(listing.description), max(remaining, 0))
    truncated |= cut
    remaining -= len(description)
    keywords, cut = _cut(sanitise_text(listing.metadata_keywords), max(remaining, 0))
    truncated |= cut
    return ProductData(
        product_id=listing.product_id,
        title=title,
        category_path=[sanitise_text(part) for part in listing.category_path],
        brand=sanitise_text(listing.brand) if listing.brand else None,
        description=description,
        bullet_points=bullets,
        metadata_keywords=keywords,
        locale=listing.locale,
        truncated=truncated,
    )


def data_block(value: Any) -> str:
    """JSON for a data block: '<', '>' and '&' are \\u-escaped so the text cannot open or close tags."""
    text = json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True, default=str)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _schema_lines(schema: AttributeSchema) -> str:
    return "\n".join(
        f"- {spec.name} ({spec.kind}{', required' if spec.required else ''}): {spec.description}"
        for spec in schema.attributes
    )


def learning_record(view: LearningView) -> dict[str, Any]:
    """One learning as a data record: category and values are fields, never prose around them."""
    return {
        "id": view.id,
        "version": view.version,
        "scope_path": list(view.scope_path),
        "attributes": list(view.attributes),
        "directive": view.directive.model_dump(mode="json"),
        "text": view.text,
    }


def learnings_block(learnings: Sequence[LearningView]) -> str:
    """The content of the <learnings_data> block: a JSON list of learning records, escaped like product
    data (an empty list when there are none)."""
    return data_block([learning_record(view) for view in learnings])


def _example_lines(examples: Sequence[tuple[str, dict[str, str]]]) -> str:
    if not examples:
        return "(none)"
    return "\n".join(f"- {data_block(title)} -> {data_block(values)}" for title, values in examples)


def _render(name: TemplateName, slots: dict[str, str]) -> PromptText:
    return load_template(name, TEMPLATE_VERSION).render(slots)


def _common_slots(
    product: ProductData, schema: AttributeSchema, learnings: Sequence[LearningView]
) -> dict[str, str]:
    return {
        "category_path": data_block(product.category_path),
        "attribute_schema": _schema_lines(schema),
        "learnings": learnings_block(learnings),
        "product_data": data_block(product.model_dump(mode="json")),
    }


def render_generator(
    product: ProductData,
    schema: AttributeSchema,
    learnings: Sequence[LearningView] = (),
    examples: Sequence[tuple[str, dict[str, str]]] = (),
) -> PromptText:
    """The generator prompt: schema, learnings (with ids), few-shot examples and the product data block."""
    slots = _common_slots(product, schema, learnings)
    slots["examples"] = _example_lines(examples)
    return _render("generator", slots)


def render_evaluator(
    product: ProductData,
    schema: AttributeSchema,
    candidates: Sequence[dict[str, Any]],
    learnings: Sequence[LearningView] = (),
) -> PromptText:
    """The critical evaluator prompt over the generators' candidate extractions."""
    slots = _common_slots(product, schema, learnings)
    slots["candidates"] = data_block(list(candidates))
    return _render("evaluator", slots)


def render_supervisor(
    product: ProductData,
    schema: AttributeSchema,
    candidates: Sequence[dict[str, Any]],
    evaluator_report: dict[str, Any] | None,
    decision: str,
    disagreed_attributes: Sequence[str],
    learnings: Sequence[LearningView] = (),
) -> PromptText:
    """The supervisor prompt: candidates, evaluator report, the disagreement, and what is already learned."""
    slots = _common_slots(product, schema, learnings)
    slots["candidates"] = data_block(list(candidates))
    slots["evaluator_report"] = data_block(evaluator_report or {})
    slots["decision"] = decision
    slots["disagreed_attributes"] = data_block(list(disagreed_attributes))
    return _render("supervisor", slots)
