"""The offline baseline's Korean worker strategies (roles `generator` and `generator_b` on a Korean listing).

`generators.extract` hands a listing here when its locale is "ko" or its title is mostly Hangul. Like the
English strategies, both apply the learnings in the payload first (`generators._apply_learned`: facts, value
lexicons longest match first, not-value vetoes, unit patterns) and only then their own rules, which err
differently on purpose so that the two disagree where the text is hard:

- Strategy A, "catalog and first mention": brand = the listing's brand field, else the first word; product
  type = the category leaf when the title spells it out, else the last Hangul word before the size that is not
  a known flavour; net content = the first mass or volume in the title (it never reads the bullets); pack
  count = the first "x N" multiplier, else the first "N개"/"N개입"/"N입", else "1"; flavour = the first word of
  the built-in flavour list in the title; is_food = the category.
- Strategy B, "positions and the 내용량 line": brand = the first word of the title; net content = the first
  amount on the bullets' "내용량:" line, else the last mass or volume in the title; pack count = the last
  "N개/N개입/N입/N포/N매/N팩" in the title, else the "x N" of the 내용량 line, else "1"; flavour = the last
  built-in flavour word, else the word before the product type (titles of meals read "brand menu type size");
  product type = the last Hangul word before the size; is_food = the category, or a food word anywhere in the
  title (so '딸기 립밤' fools it).

Pack counts are bare numbers ("20"), the form the catalog's gold records and the supervisor's unit-pattern
learnings use. Neither strategy knows flavours, menus or product words outside `data/korean_lexicons.json`
(망고, 무가당, 제육볶음, 시트 마스크, ...), counters outside its own list (A knows only 개/개입/입 and "x N",
B also 포/매/팩; neither 정, 캡슐, 켤레 or 종), that "10포 x 2개" is 20, or a product type the title does not
spell out: those are left for learnings and the supervisor. They read only the listing and the learnings in
the payload, never a gold answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from types import MappingProxyType

from pydantic import BaseModel, ConfigDict, ValidationError

from cataloop.adapters.offline.common import Payload, Product, read_payload, word_re
from cataloop.adapters.offline.generators import Strategy, _apply_learned, _Claims
from cataloop.domain.catalog.stored import is_food_category
from cataloop.domain.enrichment.attributes import AttributeSchema, AttributeSpec
from cataloop.domain.enrichment.extraction import AttributeValue, EvidenceSpan, WorkerExtraction
from cataloop.domain.enrichment.normalisation import (
    normalise_text,
    normalise_value,
    parse_quantity,
    tokens,
    unit_info,
)
from cataloop.domain.search.hangul import is_syllable
from cataloop.errors import CataloopError
from cataloop.validation import describe_validation_error

LEXICON_FILE = "korean_lexicons.json"

# A title word: separated by spaces, commas, bars, brackets, '+', '·' and '/'.
_WORD = re.compile(r"[^\s,|()\[\]+·/]+")
# A mass or volume in the title: "65ml", "1.2L", "500mg", "4.5g" (not "45cm", "2000IU" or "SPF50").
_AMOUNT = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s?(ml|l|mg|kg|g)(?![A-Za-z가-힣])", re.IGNORECASE)
# "x 20개", "× 10팩", "x20": a multiplier and the counter word after it, if any.
_MULTIPLIER = re.compile(r"(?<![A-Za-z])[x×]\s?(\d+)(?![\d.])(?:[가-힣]{1,2}(?![가-힣]))?")
_COUNTER_A = re.compile(r"(?<![\w.])(\d+)\s?(?:개입|개|입)(?![가-힣])")
_COUNTER_B = re.compile(r"(?<![\w.])(\d+)\s?(?:개입|개|입|포|매|팩)(?![가-힣])")
_CONTENT_LINE = re.compile(r"내용량\s*[:：]\s*")
_LINE_AMOUNT = re.compile(r"(\d+(?:\.\d+)?)\s?([A-Za-z]+|[가-힣]+)")
_LINE_MULTIPLIER = re.compile(r"[x×]\s?(\d+)(?![\d.])")


class _LexiconFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str
    lexicons: dict[str, list[str]]


@cache
def korean_lexicons() -> Mapping[str, tuple[str, ...]]:
    """The built-in Korean word lists ('flavor', 'food_words'), read once per process from package data."""
    text = (
        resources.files("cataloop.adapters.offline")
        .joinpath("data", LEXICON_FILE)
        .read_text(encoding="utf-8")
    )
    try:
        parsed = _LexiconFile.model_validate(json.loads(text))
    except ValidationError as error:
        raise CataloopError(
            f"offline baseline data file {LEXICON_FILE} is invalid: {describe_validation_error(error)}"
        ) from None
    missing = sorted({"flavor", "food_words"} - parsed.lexicons.keys())
    if missing:
        raise CataloopError(f"offline baseline data file {LEXICON_FILE} lacks the lexicons {missing}")
    return MappingProxyType({key: tuple(values) for key, values in parsed.lexicons.items()})


def is_korean(payload: Payload) -> bool:
    """True when the payload's product is Korean: locale "ko", or a title whose letters are mostly Hangul."""
    if payload.product.get("locale") == "ko":
        return True
    title = payload.product.get("title")
    if not isinstance(title, str):
        return False
    letters = [char for char in title if char.isalpha()]
    return bool(letters) and 2 * sum(is_syllable(char) for char in letters) > len(letters)


class _Words:
    """The title's words with their spans; `size` is the index of the first word that starts with a digit."""

    def __init__(self, title: str) -> None:
        self.spans = [(m.start(), m.end()) for m in _WORD.finditer(title)]
        self.texts = [title[s:e] for s, e in self.spans]
        self.size = next((i for i, text in enumerate(self.texts) if text[0].isdigit()), len(self.texts))

    def index_at(self, start: int) -> int | None:
        return next((i for i, (s, e) in enumerate(self.spans) if s <= start < e), None)


def _has_hangul(text: str) -> bool:
    return any(is_syllable(char) for char in text)


def _put(
    claims: _Claims, spec: AttributeSpec, value: str, confidence: float, evidence: EvidenceSpan | None = None
) -> bool:
    """Claim a value that is not a title span (a default, the category, a bullet), unless a learning vetoes it."""
    if spec.name in claims.values or not value:
        return False
    vetoed = claims.knowledge.not_values.get(spec.name, {}).get(normalise_text(value))
    if vetoed:
        claims.used.add(vetoed)
        return False
    quantity = parse_quantity(value) if spec.kind == "quantity" else None
    claims.values[spec.name] = AttributeValue(
        value=value,
        normalised=normalise_value(value, spec.kind),
        unit=quantity.unit if quantity else None,
        evidence=evidence,
        confidence=confidence,
    )
    return True


def _bullets(payload: Payload) -> list[str]:
    raw = payload.product.get("bullet_points")
    return [bullet for bullet in raw if isinstance(bullet, str)] if isinstance(raw, list) else []


def _content_line(bullets: list[str]) -> tuple[str, int] | None:
    """The text after "내용량:" in the bullets, with its offset in the bullets joined by single spaces."""
    offset = 0
    for bullet in bullets:
        found = _CONTENT_LINE.search(bullet)
        if found:
            return bullet[found.end() :], offset + found.end()
        offset += len(bullet) + 1
    return None


def _brand(
    claims: _Claims, schema: AttributeSchema, product: Product, words: _Words, strategy: Strategy
) -> None:
    spec = schema.by_concept("brand")
    if spec is None or spec.name in claims.values:
        return
    if strategy == "A" and product.brand_hint:
        match = word_re(product.brand_hint).search(claims.title)
        if match and claims.take(spec, match.start(), match.end(), 0.8):
            return
        if not match and _put(claims, spec, product.brand_hint, 0.7):
            return
    if words.spans:
        start, end = words.spans[0]
        claims.take(spec, start, end, 0.4 if strategy == "A" else 0.5)


def _net_content(claims: _Claims, schema: AttributeSchema, bullets: list[str], strategy: Strategy) -> None:
    spec = schema.by_concept("net_content")
    if spec is None or spec.name in claims.values:
        return
    if strategy == "B":
        line = _content_line(bullets)
        if line is not None:
            text, offset = line
            for match in _LINE_AMOUNT.finditer(text):
                if unit_info(match.group(2)) is None:
                    continue
                joined = " ".join(bullets)
                start, end = offset + match.start(), offset + match.end()
                evidence = EvidenceSpan(field="bullet_points", start=start, end=end, text=joined[start:end])
                if _put(claims, spec, match.group(0), 0.7, evidence):
                    return
                break
    matches = list(_AMOUNT.finditer(claims.title))
    if strategy == "B":
        matches.reverse()
    for match in matches:
        if claims.take(spec, match.start(), match.end(), 0.7):
            return


def _pack_count(claims: _Claims, schema: AttributeSchema, bullets: list[str], strategy: Strategy) -> None:
    spec = schema.by_concept("pack_count")
    if spec is None or spec.name in claims.values:
        return
    title = claims.title
    if strategy == "A":
        for pattern in (_MULTIPLIER, _COUNTER_A):
            for match in pattern.finditer(title):
                if claims.take(spec, match.start(), match.end(), 0.7, text=match.group(1)):
                    return
        _put(claims, spec, "1", 0.4)  # nothing counted: one unit
        return
    for match in reversed(list(_COUNTER_B.finditer(title))):
        if claims.take(spec, match.start(), match.end(), 0.7, text=match.group(1)):
            return
    line = _content_line(bullets)
    multiplier = _LINE_MULTIPLIER.search(line[0]) if line is not None else None
    if line is not None and multiplier is not None:
        joined = " ".join(bullets)
        start, end = line[1] + multiplier.start(), line[1] + multiplier.end()
        evidence = EvidenceSpan(field="bullet_points", start=start, end=end, text=joined[start:end])
        if _put(claims, spec, multiplier.group(1), 0.6, evidence):
            return
    _put(claims, spec, "1", 0.4)  # "내용량: 285g" or nothing counted: one unit


def _flavor_from_lexicon(claims: _Claims, schema: AttributeSchema, strategy: Strategy) -> None:
    spec = schema.by_concept("flavor")
    if spec is None or spec.name in claims.values:
        return
    found = sorted(
        (m.start(), m.end())
        for value in korean_lexicons()["flavor"]
        for m in word_re(value).finditer(claims.title)
    )
    if strategy == "B":
        found.reverse()
    for start, end in found:
        if claims.take(spec, start, end, 0.6):
            return


def _product_type(
    claims: _Claims, schema: AttributeSchema, product: Product, words: _Words, strategy: Strategy
) -> None:
    spec = schema.by_concept("product_type")
    if spec is None or spec.name in claims.values:
        return
    if strategy == "A" and product.category_path:
        # A: the category leaf when the title spells it out ("데일리락 떠먹는 요구르트 망고 85g").
        match = word_re(product.category_path[-1]).search(claims.title)
        if match and claims.take(spec, match.start(), match.end(), 0.6):
            return
    # Else (and always for B): the last Hangul word before the size that nothing else has claimed, never the
    # first word (the brand). A also passes over words of its flavour list; B does not.
    flavors = {normalise_text(word) for word in korean_lexicons()["flavor"]} if strategy == "A" else set()
    for index in range(words.size - 1, 0, -1):
        start, end = words.spans[index]
        text = words.texts[index]
        if _has_hangul(text) and normalise_text(text) not in flavors and claims.take(spec, start, end, 0.5):
            return


def _flavor_by_position(claims: _Claims, schema: AttributeSchema, words: _Words) -> None:
    """B only: the word right before the product type ("한끼정성 불고기 도시락 420g" -> 불고기)."""
    spec = schema.by_concept("flavor")
    product_type = schema.by_concept("product_type")
    if spec is None or product_type is None or spec.name in claims.values:
        return
    read = claims.values.get(product_type.name)
    if read is None or read.evidence is None or read.evidence.field != "title":
        return
    index = words.index_at(read.evidence.start)
    if index is None or index < 2:
        return  # the word before is the first word (the brand) or there is none
    start, end = words.spans[index - 1]
    if _has_hangul(words.texts[index - 1]):
        claims.take(spec, start, end, 0.45)


def _is_food(claims: _Claims, schema: AttributeSchema, product: Product, strategy: Strategy) -> None:
    spec = schema.by_concept("is_food")
    if spec is None or spec.name in claims.values:
        return
    if is_food_category(product.category_path):
        _put(claims, spec, "true", 0.8 if strategy == "A" else 0.6)
        return
    if strategy == "B":
        folded = normalise_text(claims.title)
        word = next((w for w in korean_lexicons()["food_words"] if normalise_text(w) in folded), None)
        if word is not None:
            start = claims.title.find(word)
            evidence = (
                EvidenceSpan(field="title", start=start, end=start + len(word), text=word)
                if start >= 0
                else None
            )
            _put(claims, spec, "true", 0.6, evidence)
            return
    _put(claims, spec, "false", 0.8 if strategy == "A" else 0.6)


def extract(payload: Payload, strategy: Strategy) -> WorkerExtraction:
    """A worker's extraction of the payload's Korean product with strategy A or B (see the module docstring)."""
    product, schema, knowledge = read_payload(payload)
    claims = _Claims(product.title, knowledge)
    _apply_learned(claims, schema, knowledge)
    words = _Words(product.title)
    bullets = _bullets(payload)
    _brand(claims, schema, product, words, strategy)
    _net_content(claims, schema, bullets, strategy)
    _pack_count(claims, schema, bullets, strategy)
    if strategy == "A":
        _product_type(claims, schema, product, words, "A")
        _flavor_from_lexicon(claims, schema, "A")
    else:
        _flavor_from_lexicon(claims, schema, "B")
        _product_type(claims, schema, product, words, "B")
        _flavor_by_position(claims, schema, words)
    _is_food(claims, schema, product, strategy)
    values = claims.values
    brand = schema.by_concept("brand")
    head = [values[brand.name].value] if brand and brand.name in values else []
    described = [
        value.value
        for name, value in values.items()
        if (spec := schema.get(name)) is not None and spec.kind in ("text", "quantity") and spec is not brand
    ]
    rest = described[:3]
    return WorkerExtraction(
        attributes=values,
        search_title=" ".join(head + rest)[:300],
        keywords=list(dict.fromkeys(t for v in values.values() for t in tokens(v.value) if len(t) > 1))[:30],
        learning_ids_used=sorted(claims.used),
    )
