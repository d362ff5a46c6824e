"""OfflineModelClient: a deterministic, rule-based BASELINE behind the ModelClient port. It is not an LLM.

It exists so that every flow (workflow, learning loop, evaluation) runs without network or model weights, and
so that the learning loop can be measured end to end. It never reads the prose prompt: it acts on
`request.payload` (the same inputs the prompt was rendered from). See docs/offline-baseline.md.

Roles:
- generator (strategy A, "lexicon and patterns"): learned value lexicons, built-in lexicons and regular
  patterns for units, pack counts, SPF, plies; brand = the first word unless a lexicon says otherwise.
- generator_b (strategy B, "segments and positions"): splits the title at commas, dashes, bars and brackets
  and reads attributes from segment positions (brand = leading capitalised words, quantities as whole short
  segments, product type = head of the first segment). Its errors differ from A's on purpose.
- evaluator: checks that each candidate value occurs in the text, that spans do not overlap another
  attribute, that quantities have units, and applies not-value learnings; it does object (not a rubber stamp).
- supervisor: a SIMULATED strong model. It may consult a labelled reference set (a JSONL in OA-Mine format,
  given by path). For a product in the set it returns the reference labels (high confidence); otherwise it
  resolves from the values of similar reference products of the same category and its own reading, with lower
  confidence, and leaves what it cannot resolve unresolved. It writes concrete learnings with directives.
Every role reads the learnings in its payload and changes its behaviour because of them.
"""

from __future__ import annotations

import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cataloop.domain.catalog.stored import is_food_category
from cataloop.domain.enrichment.attributes import AttributeSchema, AttributeSpec, schema_for
from cataloop.domain.enrichment.extraction import (
    AttributeValue,
    EvaluatorReport,
    EvaluatorVerdict,
    EvidenceSpan,
    SupervisorResolution,
    Verdict,
    WorkerExtraction,
)
from cataloop.domain.enrichment.normalisation import (
    normalise_text,
    normalise_value,
    parse_pack_count,
    parse_quantity,
    tokens,
    unit_info,
)
from cataloop.domain.knowledge.learning import (
    AttributeFact,
    LearningDraft,
    LearningProvenance,
    LearningView,
    NotValue,
    SourceChannel,
    UnitPattern,
    ValueLexicon,
)
from cataloop.domain.model_calls import ModelRequest, ModelResponse, ModelUsage
from cataloop.errors import ModelError

OutputT = TypeVar("OutputT", bound=BaseModel)

DEFAULT_MODEL_IDS = {
    "generator": "offline-baseline/generator-a-lexicon-v1",
    "generator_b": "offline-baseline/generator-b-segments-v1",
    "evaluator": "offline-baseline/evaluator-v1",
    "supervisor": "offline-baseline/supervisor-reference-v1",
}

# Small, generic built-in lexicons keyed by normalised attribute name or concept. Hand-written domain
# knowledge (not mined from any benchmark split).
BUILTIN_LEXICONS: dict[str, list[str]] = {
    "gender": [
        "Women's",
        "Womens",
        "Men's",
        "Mens",
        "Unisex",
        "Boys'",
        "Girls'",
        "Boy's",
        "Girl's",
        "여성",
        "남성",
        "남녀공용",
        "여자",
        "남자",
    ],
    "color": [
        "Black",
        "White",
        "Blue",
        "Red",
        "Pink",
        "Green",
        "Grey",
        "Gray",
        "Brown",
        "Navy",
        "Purple",
        "Yellow",
        "Orange",
        "Beige",
        "Tan",
        "Silver",
        "Gold",
        "Clear",
        "Multicolor",
        "Taupe",
        "Ivory",
        "블랙",
        "화이트",
        "네이비",
        "그레이",
        "베이지",
        "레드",
        "핑크",
        "블루",
    ],
    "item form": [
        "Capsules",
        "Capsule",
        "Tablets",
        "Tablet",
        "Gummies",
        "Softgels",
        "Caplets",
        "Chewables",
        "Powder",
        "Liquid",
        "Lotion",
        "Spray",
        "Cream",
        "Gel",
        "Stick",
        "Tea Bags",
        "Loose Leaf",
        "Ground Coffee",
        "Ground",
        "Whole Bean",
        "K-Cup Pods",
        "K-Cups",
        "Pods",
        "Pacs",
        "Drops",
        "Conditioner",
        "Oil",
        "Bar",
        "Sachets",
        "Packets",
    ],
    "roast type": [
        "Medium-Dark Roast",
        "Medium Dark Roast",
        "Medium Roast",
        "Dark Roast",
        "Light Roast",
        "French Roast",
        "Espresso Roast",
    ],
    "caffeine content": ["Decaffeinated", "Decaf", "Caffeine Free", "Caffeine-Free", "Caffeinated"],
    "firmness": ["Extra Soft", "Ultra Soft", "Soft", "Medium", "Firm", "Hard"],
    "reusability": ["Reusable", "Disposable", "Washable", "Single-Use"],
    "power source": ["Rechargeable", "Battery Powered", "Battery Operated", "Battery"],
    "operation mode": ["Sonic", "Electric", "Manual", "Oscillating"],
    "diet": ["Vegan", "Vegetarian", "Veggie", "Keto", "Paleo"],
    "specialty": ["Organic", "Gluten Free", "Gluten-Free", "Non-GMO", "Natural", "Sugar Free"],
    "age": ["Kids", "Adult", "Adults", "Baby", "Toddler", "Children"],
    "age range": ["Adult", "Kids", "Children", "Child"],
    "material": [
        "Leather",
        "Suede",
        "Canvas",
        "Cotton",
        "Nylon",
        "Mesh",
        "Rubber",
        "Silk",
        "Polyester",
        "면",
        "가죽",
    ],
    "closure type": ["Ear Loop", "Ear Loops", "Adjustable", "Elastic"],
}
PATTERN_ATTRIBUTES: dict[str, re.Pattern[str]] = {
    "protection level": re.compile(r"(?:broad spectrum\s+)?spf\s?\d+\+?|\d+\s?spf", re.IGNORECASE),
    "layer": re.compile(r"\d\s?-?\s?(?:ply|layers?)\b", re.IGNORECASE),
    "dosage": re.compile(r"\d[\d,.]*\s?(?:mg|mcg|iu|µg)\b(?:\s?/\s?serving)?", re.IGNORECASE),
    "load size": re.compile(r"\d+\s?loads?\b", re.IGNORECASE),
    "size": re.compile(r"\b\d{1,2}(?:\.5)?\s?(?:[MWDN]|Wide|Narrow)?\s?US\b|\b\d{3}\s?mm\b"),
}
# Words that start descriptions rather than brand names (for strategy B's brand boundary).
DESCRIPTOR_WORDS = {
    "organic",
    "natural",
    "new",
    "premium",
    "original",
    "classic",
    "pure",
    "the",
    "for",
    "with",
    "and",
    "women's",
    "men's",
    "womens",
    "mens",
    "unisex",
    "kids",
    "baby",
    "adult",
    "vitamin",
    "tea",
    "coffee",
}
_QUANTITY_UNITS = r"fl\.?\s?oz|fluid\s+ounces?|ounces?|oz|ml|l|liters?|litres?|g|grams?|kg|lbs?|pounds?|counts?|ct|pcs|pieces|개입|입|개"
_QUANTITY_RE = re.compile(
    rf"(?<![\w.])(\d+(?:[.,]\d+)?)\s?-?\s?({_QUANTITY_UNITS})\.?(?![\w가-힣])", re.IGNORECASE
)
_PACK_RE = re.compile(
    r"\(?pack\s+of\s+\d+\)?|\d+\s?-?\s?(?:packs?|pk)\b|twin\s?pack|[x×]\s?\d+(?![\d.])|\d+\s?(?:개입|입|개|팩|세트)(?![가-힣])",
    re.IGNORECASE,
)
_SEGMENT_SPLIT = re.compile(r"\s*(?:,|\s-\s|\s–\s|\||\(|\)|\[|\]|/\s)\s*")


class _ReferenceRow(BaseModel):
    model_config = ConfigDict(extra="ignore")

    input: str
    category: str
    target_scores: dict[str, dict[str, float]] = Field(default_factory=dict)


@dataclass
class _Reference:
    """A labelled reference set, indexed by normalised title and by category."""

    by_title: dict[str, _ReferenceRow] = field(default_factory=dict)
    by_category: dict[str, list[_ReferenceRow]] = field(default_factory=lambda: defaultdict(list))
    lexicon: dict[str, dict[str, Counter[str]]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> _Reference:
        reference = cls()
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    row = _ReferenceRow.model_validate_json(line)
                except ValidationError as error:
                    raise ModelError(
                        f"reference set {path} line {number} is not OA-Mine JSONL: {error}"
                    ) from None
                reference.by_title[normalise_text(row.input)] = row
                category = normalise_text(row.category)
                reference.by_category[category].append(row)
                per_attribute = reference.lexicon.setdefault(category, {})
                for attribute, values in row.target_scores.items():
                    for value in values:
                        per_attribute.setdefault(attribute, Counter())[value.strip()] += 1
        return reference


@dataclass
class _Knowledge:
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


def _compile(
    learnings: Iterable[LearningView], schema: AttributeSchema, category_path: list[str]
) -> _Knowledge:
    knowledge = _Knowledge()
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


class _Payload(BaseModel):
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
class _Product:
    product_id: str
    title: str
    description: str
    category_path: list[str]
    brand_hint: str | None

    @classmethod
    def of(cls, raw: dict[str, Any]) -> _Product:
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


def _word_re(phrase: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w]){re.escape(phrase.strip())}(?![\w])", re.IGNORECASE)


def _span(title: str, start: int, end: int) -> EvidenceSpan:
    return EvidenceSpan(field="title", start=start, end=end, text=title[start:end])


def _value(
    title: str, start: int, end: int, spec: AttributeSpec, confidence: float, text: str | None = None
) -> AttributeValue:
    surface = (text if text is not None else title[start:end]).strip(" ,;:-")[:200] or title[start:end]
    unit = None
    if spec.kind == "quantity":
        quantity = parse_quantity(surface)
        unit = quantity.unit if quantity else None
    return AttributeValue(
        value=surface,
        normalised=normalise_value(surface, spec.kind),
        unit=unit,
        evidence=_span(title, start, end) if end > start else None,
        confidence=confidence,
    )


def _key(spec: AttributeSpec) -> str:
    return normalise_text(spec.name)


def _is_food(category_path: list[str]) -> bool:
    return is_food_category(category_path)


class _Claims:
    """Attribute values claimed so far, with their spans, so one span is not given to two attributes."""

    def __init__(self, title: str, knowledge: _Knowledge) -> None:
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
        value = _value(self.title, start, end, spec, confidence, text)
        if normalise_text(value.value) in self.knowledge.not_values.get(spec.name, {}):
            self.used.add(self.knowledge.not_values[spec.name][normalise_text(value.value)])
            return False
        self.values[spec.name] = value
        self.spans.append((start, end))
        if learning_id:
            self.used.add(learning_id)
        return True


def _apply_learned(claims: _Claims, schema: AttributeSchema, knowledge: _Knowledge) -> None:
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
        for match in _word_re(value).finditer(title):
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


def _generic_rules(claims: _Claims, schema: AttributeSchema, product: _Product, strategy: str) -> None:
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
    for spec in schema.attributes:
        if spec.name in claims.values:
            continue
        key = _key(spec)
        pattern = PATTERN_ATTRIBUTES.get(key)
        if pattern is not None:
            for match in pattern.finditer(title):
                if claims.take(spec, match.start(), match.end(), 0.7):
                    break
            continue
        lexicon = BUILTIN_LEXICONS.get(key) or BUILTIN_LEXICONS.get(spec.concept or "")
        if not lexicon:
            continue
        found = sorted(
            ((m.start(), m.end()) for value in lexicon for m in _word_re(value).finditer(title)),
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
    if food is not None and food.name not in claims.values and _is_food(product.category_path):
        claims.values[food.name] = AttributeValue(value="true", normalised="true", confidence=0.7)


def _brand(claims: _Claims, schema: AttributeSchema, product: _Product, strategy: str) -> None:
    spec = schema.by_concept("brand")
    if spec is None or spec.name in claims.values:
        return
    title = claims.title
    if product.brand_hint:
        match = _word_re(product.brand_hint).search(title)
        if match and claims.take(spec, match.start(), match.end(), 0.8):
            return
    words = list(re.finditer(r"[^\s,|()\[\]]+", title))
    if not words:
        return
    if strategy == "A":
        first = words[0]
        claims.take(spec, first.start(), first.end(), 0.4)
        return
    # "... by The Humble Co." names the maker explicitly.
    maker = re.search(r"\bby\s+((?:[A-Z][\w&.'-]*\s?){1,4})", title)
    if maker and claims.take(spec, maker.start(1), maker.start(1) + len(maker.group(1).rstrip()), 0.5):
        return
    segments = _segments(title)
    first_segment_end = segments[0][1] if segments else len(title)
    chosen: list[re.Match[str]] = []
    for word in words:
        text = word.group(0)
        if word.start() >= first_segment_end or len(chosen) == 3:
            break
        folded = normalise_text(text)
        if chosen and (folded in DESCRIPTOR_WORDS or not (text[0].isupper() or not text[0].isalpha())):
            break
        if any(ch.isdigit() for ch in text) and chosen:
            break
        if not claims.free(word.start(), word.end()):
            break
        chosen.append(word)
    if chosen:
        claims.take(spec, chosen[0].start(), chosen[-1].end(), 0.45)


def _product_type(claims: _Claims, schema: AttributeSchema, strategy: str) -> None:
    spec = schema.by_concept("product_type")
    if spec is None or spec.name in claims.values or strategy != "B":
        return
    title = claims.title
    segments = _segments(title)
    if not segments:
        return
    start, end = segments[0]
    words = [m for m in re.finditer(r"[^\s]+", title[start:end])]
    if not words:
        return
    last = words[-1]
    if any(ch.isdigit() for ch in last.group(0)):
        return
    claims.take(spec, start + last.start(), start + last.end(), 0.4)


def _extract(payload: _Payload, strategy: str) -> WorkerExtraction:
    product = _Product.of(payload.product)
    schema = payload.attribute_schema or schema_for(product.category_path or ["unknown"])
    knowledge = _compile(payload.learnings, schema, product.category_path)
    claims = _Claims(product.title, knowledge)
    _apply_learned(claims, schema, knowledge)
    if strategy == "A":
        _generic_rules(claims, schema, product, "A")
        _brand(claims, schema, product, "A")
    else:
        _brand(claims, schema, product, "B")
        _generic_rules(claims, schema, product, "B")
        _product_type(claims, schema, "B")
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


def _candidate_extractions(payload: _Payload) -> list[WorkerExtraction]:
    extractions: list[WorkerExtraction] = []
    for candidate in payload.candidates:
        raw = candidate.get("extraction", candidate)
        try:
            extractions.append(WorkerExtraction.model_validate(raw))
        except ValidationError:
            extractions.append(WorkerExtraction())
    return extractions


def _evaluate(payload: _Payload) -> EvaluatorReport:
    product = _Product.of(payload.product)
    schema = payload.attribute_schema or schema_for(product.category_path or ["unknown"])
    knowledge = _compile(payload.learnings, schema, product.category_path)
    text = f"{product.title} {product.description}"
    folded_text = normalise_text(text)
    extractions = _candidate_extractions(payload)
    used: set[str] = set()
    verdicts: list[EvaluatorVerdict] = []
    spans_by_attribute: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for extraction in extractions:
        for name, value in extraction.attributes.items():
            if value.evidence is not None and value.evidence.field == "title":
                spans_by_attribute[name].append((value.evidence.start, value.evidence.end))
    for spec in schema.attributes:
        values = [e.attributes[spec.name] for e in extractions if spec.name in e.attributes]
        if not values:
            continue
        surfaces = list(dict.fromkeys(v.value for v in values))
        verdict: Verdict = "ok"
        reason = f"'{surfaces[0]}' is stated in the text"
        confirmed = [lid for s in surfaces for lid in knowledge.lexicon_ids(spec.name, s)]
        missing = [s for s in surfaces if normalise_text(s) not in folded_text]
        rejected = [
            (s, knowledge.not_values[spec.name][normalise_text(s)])
            for s in surfaces
            if normalise_text(s) in knowledge.not_values.get(spec.name, {})
        ]
        elsewhere = [(s, *other) for s in surfaces if (other := knowledge.other_attribute_of(spec.name, s))]
        overlapping = [
            other
            for other, spans in spans_by_attribute.items()
            if other != spec.name
            and any(s < e2 and s2 < e for s, e in spans_by_attribute.get(spec.name, []) for s2, e2 in spans)
        ]
        if rejected:
            verdict, reason = (
                "misread",
                f"learning {rejected[0][1]}: '{rejected[0][0]}' is not a {spec.name} value",
            )
            used.add(rejected[0][1])
        elif elsewhere:
            verdict = "misread"
            reason = f"learning {elsewhere[0][2]}: '{elsewhere[0][0]}' is a {elsewhere[0][1]} value"
            used.add(elsewhere[0][2])
        elif missing:
            verdict, reason = "unsupported", f"'{missing[0]}' does not occur in the product text"
        elif confirmed and len(surfaces) == 1:
            verdict, reason = "ok", f"'{surfaces[0]}' confirmed by learning {confirmed[0]}"
            used.add(confirmed[0])
        elif len(surfaces) > 1 and len({normalise_value(s, spec.kind) for s in surfaces}) > 1:
            verdict, reason = "ambiguous", f"two readings: {surfaces[:2]}"
        elif spec.kind == "quantity" and not any(ch.isdigit() for ch in surfaces[0]):
            verdict, reason = "misread", f"'{surfaces[0]}' has no amount"
        elif (
            spec.kind == "quantity"
            and parse_quantity(surfaces[0]) is None
            and parse_pack_count(surfaces[0]) is None
        ):
            verdict, reason = "missing_context", f"'{surfaces[0]}' has no recognisable unit"
        elif overlapping:
            verdict, reason = "ambiguous", f"the span of '{surfaces[0]}' is also read as {overlapping[0]}"
        elif spec.concept == "brand" and (
            normalise_text(surfaces[0]) in DESCRIPTOR_WORDS
            or any(
                normalise_text(surfaces[0]) == normalise_text(v)
                for vs in BUILTIN_LEXICONS.values()
                for v in vs
            )
        ):
            verdict, reason = "misread", f"'{surfaces[0]}' is a descriptive word, not a brand"
        elif spec.concept == "brand" and len(tokens(surfaces[0])) == 1 and not confirmed:
            # A one-word brand at the start is often the first word of a longer name ("Holy" of "Holy Land").
            verdict, reason = "missing_context", f"'{surfaces[0]}' may be only the first word of the brand"
        verdicts.append(EvaluatorVerdict(attribute=spec.name, verdict=verdict, reason=reason[:500]))
    approved = sum(v.verdict == "ok" for v in verdicts)
    return EvaluatorReport(
        verdicts=verdicts,
        summary=f"{approved} of {len(verdicts)} attributes approved",
        learning_ids_used=sorted(used),
    )


def _scope_text(path: list[str]) -> str:
    return " > ".join(path) if path else "all categories"


class OfflineModelClient:
    """Deterministic rule-based BASELINE implementing ModelClient (never an LLM; see the module docstring).

    `reference_path`: optional OA-Mine-format JSONL the simulated supervisor may consult.
    Token usage is estimated as characters / 4 of the rendered prompt and of the JSON output.
    """

    def __init__(
        self,
        reference_path: str | Path | None = None,
        model_ids: dict[str, str] | None = None,
        max_learnings_per_product: int = 4,
        similar_products: int = 10,
    ) -> None:
        self.model_ids = {**DEFAULT_MODEL_IDS, **(model_ids or {})}
        self.max_learnings_per_product = max_learnings_per_product
        self.similar_products = similar_products
        self._reference = _Reference.load(Path(reference_path)) if reference_path else None

    def invoke(self, request: ModelRequest, output_model: type[OutputT]) -> ModelResponse[OutputT]:
        """Run the role named in `request.role` on `request.payload` and return `output_model`."""
        started = time.perf_counter()
        try:
            payload = _Payload.model_validate(request.payload)
        except ValidationError as error:
            raise ModelError(
                f"offline model: payload for role {request.role} is malformed: {error}"
            ) from None
        output: BaseModel
        if request.role in ("generator", "generator_b"):
            output = _extract(payload, "A" if request.role == "generator" else "B")
        elif request.role == "evaluator":
            output = _evaluate(payload)
        elif request.role == "supervisor":
            output = self._supervise(payload)
        else:
            raise ModelError(f"offline model has no behaviour for role {request.role!r}")
        if not isinstance(output, output_model):
            raise ModelError(
                f"offline model role {request.role} returns {type(output).__name__}, "
                f"but {output_model.__name__} was requested"
            )
        prompt_chars = len(request.prompt.system) + len(request.prompt.user)
        usage = ModelUsage(
            input_tokens=max(1, prompt_chars // 4),
            output_tokens=max(1, len(output.model_dump_json()) // 4),
            latency_ms=(time.perf_counter() - started) * 1000,
        )
        return ModelResponse[output_model](  # type: ignore[valid-type]
            model_id=self.model_ids.get(request.role, f"offline-baseline/{request.role}"),
            output=cast(OutputT, output),
            usage=usage,
        )

    # --- supervisor -------------------------------------------------------------------------------------

    def _supervise(self, payload: _Payload) -> SupervisorResolution:
        product = _Product.of(payload.product)
        schema = payload.attribute_schema or schema_for(product.category_path or ["unknown"])
        knowledge = _compile(payload.learnings, schema, product.category_path)
        extractions = _candidate_extractions(payload)
        row = self._reference.by_title.get(normalise_text(product.title)) if self._reference else None
        if row is not None:
            gold = {a: list(v) for a, v in row.target_scores.items() if schema.get(a) is not None}
            attributes = {}
            for name, values in gold.items():
                spec = schema.get(name)
                if spec is None or not values:
                    continue
                value = values[0].strip()
                match = _word_re(value).search(product.title)
                attributes[name] = (
                    _value(product.title, match.start(), match.end(), spec, 0.95)
                    if match
                    else AttributeValue(
                        value=value, normalised=normalise_value(value, spec.kind), confidence=0.9
                    )
                )
            learnings = self._learnings(payload, schema, product, extractions, attributes, knowledge)
            return SupervisorResolution(
                attributes=attributes,
                unresolved=[],
                confidence=0.95,
                reason="resolved against the labelled reference set (simulated strong model)",
                learnings=learnings,
                learning_ids_used=[],
            )
        return self._resolve_by_similarity(payload, schema, product, extractions, knowledge)

    def _resolve_by_similarity(
        self,
        payload: _Payload,
        schema: AttributeSchema,
        product: _Product,
        extractions: list[WorkerExtraction],
        knowledge: _Knowledge,
    ) -> SupervisorResolution:
        # Agreed attributes stay; only the disputed ones are re-read.
        attributes: dict[str, AttributeValue] = {
            name: value
            for name, value in payload.agreed_values.items()
            if name not in payload.disagreed_attributes
        }
        similar_lexicon, category_lexicon = self._lexicons(product)
        unresolved: list[str] = []
        guessed: list[str] = []
        used: set[str] = set()
        confirmed: dict[str, str] = {}
        for name in payload.disagreed_attributes:
            spec = schema.get(name)
            if spec is None:
                continue
            candidates = [e.attributes[name] for e in extractions if name in e.attributes]
            chosen: AttributeValue | None = None
            for lexicon in (similar_lexicon, category_lexicon):
                known = lexicon.get(name, {})
                for candidate in candidates:
                    if normalise_text(candidate.value) in known:
                        chosen = candidate.model_copy(update={"confidence": 0.75})
                        confirmed[name] = candidate.value
                        break
                if chosen is None:
                    spans = sorted(
                        (
                            (m.start(), m.end())
                            for folded, surface in known.items()
                            for m in _word_re(surface).finditer(product.title)
                        ),
                        key=lambda span: (span[0] - span[1], span[0]),
                    )
                    if spans:
                        chosen = _value(product.title, spans[0][0], spans[0][1], spec, 0.65)
                        confirmed[name] = chosen.value
                if chosen is not None:
                    break
            if chosen is None:
                learned = [c for c in candidates if knowledge.lexicon_ids(name, c.value)]
                if learned:
                    chosen = learned[0]
                    used.update(knowledge.lexicon_ids(name, chosen.value))
            if chosen is None and candidates:
                # Its own reading: keep a candidate the evaluator did not reject, preferring the fuller one,
                # at low confidence (the resolution's confidence then routes it to human review upstream).
                verdict = payload.evaluation.verdict_for(name) if payload.evaluation else None
                if verdict is None or verdict.verdict not in ("misread", "unsupported"):
                    best = max(candidates, key=lambda c: (c.confidence, len(c.value)))
                    chosen = best.model_copy(update={"confidence": 0.45})
                    guessed.append(name)
            if chosen is None:
                unresolved.append(name)
            else:
                attributes[name] = chosen
        learnings = self._learnings(
            payload,
            schema,
            product,
            extractions,
            {n: attributes[n] for n in confirmed if n in attributes},
            knowledge,
        )
        confidence = 0.4 if unresolved else 0.5 if guessed else 0.6
        return SupervisorResolution(
            attributes=attributes,
            unresolved=unresolved,
            confidence=confidence,
            reason=(
                "not in the reference set: resolved from similar reference products and the text"
                + (f"; low-confidence reading of {guessed}" if guessed else "")
                + (f"; unresolved: {unresolved}" if unresolved else "")
            ),
            learnings=learnings,
            learning_ids_used=sorted(used),
        )

    def _lexicons(self, product: _Product) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
        if self._reference is None or not product.category_path:
            return {}, {}
        category = normalise_text(product.category_path[-1])
        rows = self._reference.by_category.get(category, [])
        title_tokens = set(tokens(product.title))

        def similarity(row: _ReferenceRow) -> float:
            other = set(tokens(row.input))
            return len(title_tokens & other) / (len(title_tokens | other) or 1)

        similar = sorted(rows, key=similarity, reverse=True)[: self.similar_products]
        similar_lexicon: dict[str, dict[str, str]] = defaultdict(dict)
        for row in similar:
            for attribute, values in row.target_scores.items():
                for value in values:
                    similar_lexicon[attribute][normalise_text(value)] = value.strip()
        category_lexicon: dict[str, dict[str, str]] = {
            attribute: {normalise_text(v): v for v, count in counter.items() if count >= 2}
            for attribute, counter in self._reference.lexicon.get(category, {}).items()
        }
        return similar_lexicon, category_lexicon

    def _learnings(
        self,
        payload: _Payload,
        schema: AttributeSchema,
        product: _Product,
        extractions: list[WorkerExtraction],
        resolved: dict[str, AttributeValue],
        knowledge: _Knowledge,
    ) -> list[LearningDraft]:
        """Concrete learnings that would have made the workers right, disputed attributes first."""
        scope = product.category_path[-1:] if product.category_path else []
        # Scope to the full path: a learning about 'Numi' in Tea should not leak into Coffee.
        scope = list(product.category_path) or scope
        where = _scope_text(scope)
        order = list(payload.disagreed_attributes) + [
            n for n in resolved if n not in payload.disagreed_attributes
        ]
        drafts: list[LearningDraft] = []
        seen: set[str] = set()
        provenance = LearningProvenance(
            product_id=product.product_id,
            model_id=self.model_ids["supervisor"],
            evidence=product.title[:300],
        )
        resolved_by_norm = {normalise_text(v.value): n for n, v in resolved.items()}

        def add(fields: dict[str, Any]) -> None:
            try:
                draft = LearningDraft.model_validate(fields)
            except ValidationError:
                return  # e.g. a value too long to be a reusable lexicon entry
            key = draft.directive.type + draft.text
            if key not in seen and len(drafts) < self.max_learnings_per_product:
                seen.add(key)
                drafts.append(draft)

        for name in order:
            spec = schema.get(name)
            if spec is None:
                continue
            final = resolved.get(name)
            worker_values = [e.attributes.get(name) for e in extractions]
            if final is not None and any(
                w is None or normalise_text(w.value) != normalise_text(final.value) for w in worker_values
            ):
                if knowledge.lexicon_ids(name, final.value):
                    continue
                if spec.kind in ("quantity", "count") and any(ch.isdigit() for ch in final.value):
                    pattern = self._unit_pattern(product.title, final.value)
                    if pattern is not None:
                        terms, keep = pattern
                        add(
                            dict(
                                text=(
                                    f"In {where}, a number followed by '{terms[0]}' is the {name}"
                                    + (
                                        " (keep the unit word)."
                                        if keep
                                        else " (the bare number, without the word)."
                                    )
                                ),
                                kind="rule",
                                scope_path=scope,
                                attributes=[name],
                                directive={
                                    "type": "pattern",
                                    "attribute": name,
                                    "unit_terms": terms,
                                    "keep_unit": keep,
                                },
                                source_channel=payload.source_channel,
                                provenance=provenance,
                            )
                        )
                    continue
                add(
                    dict(
                        text=f"In {where}, '{final.value}' is a {name} value.",
                        kind="example",
                        scope_path=scope,
                        attributes=[name],
                        directive={"type": "value_lexicon", "attribute": name, "values": [final.value]},
                        source_channel=payload.source_channel,
                        provenance=provenance,
                    )
                )
            for worker in worker_values:
                if worker is None or (
                    final is not None and normalise_text(worker.value) == normalise_text(final.value)
                ):
                    continue
                if normalise_text(worker.value) in knowledge.not_values.get(name, {}):
                    continue
                belongs = resolved_by_norm.get(normalise_text(worker.value))
                if belongs is None or belongs == name:
                    # Only a value that demonstrably belongs to another attribute generalises; "X is not a
                    # Gender" learned from one product's labels would wrongly veto X everywhere.
                    continue
                text = f"In {where}, '{worker.value}' is not a {name} value; it is the {belongs}."
                add(
                    dict(
                        text=text,
                        kind="rule",
                        scope_path=scope,
                        attributes=[name, belongs],
                        directive={
                            "type": "not_value",
                            "attribute": name,
                            "value": worker.value,
                            "correct_attribute": belongs,
                        },
                        source_channel=payload.source_channel,
                        provenance=provenance,
                    )
                )
        return drafts

    @staticmethod
    def _unit_pattern(title: str, value: str) -> tuple[list[str], bool] | None:
        """The unit word that follows the value's number in the title, and whether the value keeps it."""
        number = re.search(r"\d+(?:[.,]\d+)?", value)
        if number is None:
            return None
        digits = number.group(0)
        keep = bool(re.search(r"[A-Za-z가-힣]", value[number.end() :]))
        match = re.search(rf"(?<![\w.]){re.escape(digits)}\s?-?\s?([A-Za-z가-힣][\w-]*\.?)", title)
        if match is None:
            return None
        unit = match.group(1).rstrip(".")
        if unit_info(unit) is not None and keep:
            return None  # a standard unit the workers already read; a pattern would add nothing
        if normalise_text(unit) in {"pack", "of"}:
            return None
        return [unit], keep


def load_reference_titles(path: str | Path) -> set[str]:
    """Normalised titles of a reference JSONL (to check that an evaluation split is disjoint from it)."""
    return {normalise_text(row.input) for row in _Reference.load(Path(path)).by_title.values()}
