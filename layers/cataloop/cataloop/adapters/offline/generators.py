"""The offline baseline's two worker strategies (roles `generator` and `generator_b`).

- Strategy A, "lexicon and patterns": learned value lexicons, not-value vetoes and unit patterns first; then the
  built-in lexicons (`data/builtin_lexicons.json`) and regular patterns for quantities, pack counts, SPF, plies,
  dosage and shoe sizes. Reads the first mention.
- Strategy B, "segments and positions": splits the title at commas, dashes, bars and brackets and reads
  attributes from segment positions (quantities and colours as whole short segments). Reads the last
  mention. Its errors differ from A's on purpose, so the two disagree where
  the text is hard.
- Both read the brand only from the listing's brand field or a learned brand lexicon (NO GUESSING below).
"""

from __future__ import annotations

import re
from typing import Literal

from cataloop.adapters.offline.common import (
    Knowledge,
    Payload,
    Product,
    attribute_key,
    read_payload,
    title_value,
    word_re,
)
from cataloop.adapters.offline.lexicons import builtin_lexicons
from cataloop.domain.catalog.stored import is_food_category
from cataloop.domain.enrichment.attributes import AttributeSchema, AttributeSpec
from cataloop.domain.enrichment.extraction import AttributeValue, WorkerExtraction
from cataloop.domain.enrichment.normalisation import normalise_text, normalise_value, tokens, unit_info

Strategy = Literal["A", "B"]

PATTERN_ATTRIBUTES: dict[str, re.Pattern[str]] = {
    "protection level": re.compile(r"(?:broad spectrum\s+)?spf\s?\d+\+?|\d+\s?spf", re.IGNORECASE),
    "layer": re.compile(r"\d\s?-?\s?(?:ply|layers?)\b", re.IGNORECASE),
    "dosage": re.compile(r"\d[\d,.]*\s?(?:mg|mcg|iu|µg)\b(?:\s?/\s?serving)?", re.IGNORECASE),
    "load size": re.compile(r"\d+\s?loads?\b", re.IGNORECASE),
    "size": re.compile(r"\b\d{1,2}(?:\.5)?\s?(?:[MWDN]|Wide|Narrow)?\s?US\b|\b\d{3}\s?mm\b"),
}
_QUANTITY_UNITS = r"fl\.?\s?oz|fluid\s+ounces?|ounces?|oz|ml|l|liters?|litres?|g|grams?|kg|lbs?|pounds?|counts?|ct|pcs|pieces|개입|입|개"
_QUANTITY_RE = re.compile(
    rf"(?<![\w.])(\d+(?:[.,]\d+)?)\s?-?\s?({_QUANTITY_UNITS})\.?(?![\w가-힣])", re.IGNORECASE
)
_PACK_RE = re.compile(
    r"\(?pack\s+of\s+\d+\)?|\d+\s?-?\s?(?:packs?|pk)\b|twin\s?pack|[x×]\s?\d+(?![\d.])|\d+\s?(?:개입|입|개|팩|세트)(?![가-힣])",
    re.IGNORECASE,
)
# NO GUESSING: neither worker reads a brand from the shape of the words (capitalised run, first word), and B
# does not take the last word of the first segment as the product type. A small model reads a brand from the
# listing's brand field or from a brand the knowledge base taught it. Guessing made the two strategies
# disagree on about 80% of OA-Mine titles and be wrong on the rest ('Mask' as a Mask type, 'Size' as a Tea
# variety), so the disagreement rate measured word shapes instead of learning (docs/offline-baseline.md).
_SEGMENT_SPLIT = re.compile(r"\s*(?:,|\s-\s|\s–\s|\||\(|\)|\[|\]|/\s)\s*")


class _Claims:
    """Attribute values claimed so far, with their spans, so one span is not given to two attributes."""

    def __init__(self, title: str, knowledge: Knowledge) -> None:
        self.title = title
        self.knowledge = knowledge
        self.values: dict[str, AttributeValue] = {}
        self.spans: list[tuple[int, int]] = []
        self.used: set[str] = set()

    def free(self, start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e in self.spans)

    def take(
        self,
        spec: AttributeSpec,
        start: int,
        end: int,
        confidence: float,
        text: str | None = None,
        learning_id: str | None = None,
    ) -> bool:
        if spec.name in self.values or end <= start or not self.free(start, end):
            return False
        value = title_value(self.title, start, end, spec, confidence, text)
        if normalise_text(value.value) in self.knowledge.not_values.get(spec.name, {}):
            self.used.add(self.knowledge.not_values[spec.name][normalise_text(value.value)])
            return False
        self.values[spec.name] = value
        self.spans.append((start, end))
        if learning_id:
            self.used.add(learning_id)
        return True


def _apply_learned(claims: _Claims, schema: AttributeSchema, knowledge: Knowledge) -> None:
    title = claims.title
    for attribute, value, learning_id in knowledge.facts:
        spec = schema.get(attribute)
        if spec and attribute not in claims.values:
            claims.values[attribute] = AttributeValue(
                value=value, normalised=normalise_value(value, spec.kind), confidence=0.9
            )
            claims.used.add(learning_id)
    matches: list[tuple[int, int, str, str]] = []
    for attribute, value, learning_id in knowledge.lexicon:
        for match in word_re(value).finditer(title):
            matches.append((match.start(), match.end(), attribute, learning_id))
    # Longest matches first: "Medium Roast Coffee" beats "Medium".
    for start, end, attribute, learning_id in sorted(matches, key=lambda m: (m[0] - m[1], m[0])):
        spec = schema.get(attribute)
        if spec:
            claims.take(spec, start, end, 0.85, learning_id=learning_id)
    for attribute, unit_terms, keep_unit, learning_id in knowledge.patterns:
        spec = schema.get(attribute)
        if not spec or attribute in claims.values:
            continue
        terms = "|".join(re.escape(term) for term in sorted(unit_terms, key=len, reverse=True))
        found = re.search(rf"(?<![\w.])(\d+(?:[.,]\d+)?)\s?-?\s?(?:{terms})(?![\w])", title, re.IGNORECASE)
        if found:
            end = found.end() if keep_unit else found.end(1)
            claims.take(spec, found.start(), end, 0.8, learning_id=learning_id)


def _quantity_matches(title: str) -> list[re.Match[str]]:
    return [m for m in _QUANTITY_RE.finditer(title) if unit_info(m.group(2)) is not None]


def _segments(title: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    position = 0
    for match in _SEGMENT_SPLIT.finditer(title):
        if match.start() > position:
            spans.append((position, match.start()))
        position = match.end()
    if position < len(title):
        spans.append((position, len(title)))
    return [(s, e) for s, e in spans if title[s:e].strip()]


def _generic_rules(claims: _Claims, schema: AttributeSchema, product: Product, strategy: Strategy) -> None:
    title = claims.title
    segments = _segments(title)
    net = schema.by_concept("net_content")
    pack = schema.by_concept("pack_count")
    # Pack counts first: "Pack of 6" must not become a net content.
    if pack is not None:
        for match in _PACK_RE.finditer(title):
            start, end = match.start(), match.end()
            if strategy == "B":
                # B reads the whole short segment ("2 Count (Pack of 6)" -> "Pack of 6" segment).
                segment = next(((s, e) for s, e in segments if s <= start < e), None)
                if segment and len(title[segment[0] : segment[1]].split()) <= 4:
                    start, end = segment
            text = title[start:end].strip("() ")
            if claims.take(pack, start, end, 0.7, text=text):
                break
    quantities = _quantity_matches(title)
    if net is not None:
        for match in quantities:
            dimension = unit_info(match.group(2))
            if dimension is None or not claims.free(match.start(), match.end()):
                continue
            start, end = match.start(), match.end()
            if strategy == "B":
                segment = next(((s, e) for s, e in segments if s <= start < e), None)
                if segment and len(title[segment[0] : segment[1]].split()) <= 4:
                    start, end = segment
            if claims.take(net, start, end, 0.7):
                break
    elif pack is not None and pack.name not in claims.values:
        # Without a net-content attribute, "12 Count" is the pack size (e.g. toothbrushes).
        for match in quantities:
            info = unit_info(match.group(2))
            if info and info[0] == "count" and claims.take(pack, match.start(), match.end(), 0.6):
                break
    lexicons = builtin_lexicons()
    for spec in schema.attributes:
        if spec.name in claims.values:
            continue
        key = attribute_key(spec)
        pattern = PATTERN_ATTRIBUTES.get(key)
        if pattern is not None:
            for match in pattern.finditer(title):
                if claims.take(spec, match.start(), match.end(), 0.7):
                    break
            continue
        lexicon = lexicons.get(key) or lexicons.get(spec.concept or "")
        if not lexicon:
            continue
        found = sorted(
            ((m.start(), m.end()) for value in lexicon for m in word_re(value).finditer(title)),
            key=lambda span: (span[0], span[0] - span[1]),
        )
        if strategy == "B":
            # Strategy B reads the last mention (titles repeat the form at the end: "..., 100 Capsules").
            found = list(reversed(found))
        for start, end in found:
            if strategy == "B" and key == "color":
                segment = next(((s, e) for s, e in segments if s <= start < e), None)
                if segment and len(title[segment[0] : segment[1]].split()) <= 3:
                    start, end = segment
            if claims.take(spec, start, end, 0.6):
                break
    food = schema.by_concept("is_food")
    if food is not None and food.name not in claims.values and is_food_category(product.category_path):
        claims.values[food.name] = AttributeValue(value="true", normalised="true", confidence=0.7)


def _brand(claims: _Claims, schema: AttributeSchema, product: Product) -> None:
    """The brand from the listing's brand field when the title contains it. Neither strategy guesses a brand
    from the shape of the words (see NO GUESSING above); learned brand lexicons are applied before this."""
    spec = schema.by_concept("brand")
    if spec is None or spec.name in claims.values or not product.brand_hint:
        return
    match = word_re(product.brand_hint).search(claims.title)
    if match:
        claims.take(spec, match.start(), match.end(), 0.8)


def extract(payload: Payload, strategy: Strategy) -> WorkerExtraction:
    """A worker's extraction of the payload's product with strategy A or B."""
    from cataloop.adapters.offline import korean  # Korean listings have their own strategies (korean.py)

    if korean.is_korean(payload):
        return korean.extract(payload, strategy)
    product, schema, knowledge = read_payload(payload)
    claims = _Claims(product.title, knowledge)
    _apply_learned(claims, schema, knowledge)
    if strategy == "A":
        _generic_rules(claims, schema, product, "A")
        _brand(claims, schema, product)
    else:
        _brand(claims, schema, product)
        _generic_rules(claims, schema, product, "B")
    values = claims.values
    brand = schema.by_concept("brand")
    head = [values[brand.name].value] if brand and brand.name in values else []
    rest = [v.value for name, v in values.items() if not brand or name != brand.name][:3]
    return WorkerExtraction(
        attributes=values,
        search_title=" ".join(head + rest)[:300],
        keywords=list(dict.fromkeys(t for v in values.values() for t in tokens(v.value) if len(t) > 1))[:30],
        learning_ids_used=sorted(claims.used),
    )
