"""What the search indexes store: one `ProductDocument` per product and one `LearningDocument` per learning.

Both engines (OpenSearch and the embedded tantivy index) index these same documents, so everything derived in
Python at index time (keyword split, chosung, keyboard form, flattened attributes, the text to embed)
lives here, once.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cataloop.domain.catalog.listing import ProductListing
from cataloop.domain.catalog.stored import is_food_category
from cataloop.domain.search.hangul import hangul_to_qwerty, is_syllable, to_chosung
from cataloop.domain.search.query import name_key
from cataloop.domain.search.value import Unit, unit_pricing

# The chosung and keyboard fields match a query against word prefixes of this many characters: OpenSearch
# builds them with an edge_ngram filter, the embedded engine expands them in Python with `prefix_grams`.
PREFIX_GRAM_MIN = 1
PREFIX_GRAM_MAX = 20

MAX_KEYWORDS = 100
MAX_KEYWORD_CHARS = 100
MAX_EMBEDDING_TEXT_CHARS = 1200
CATEGORY_SEPARATOR = ">"

# Top-level categories that are food when the enrichment does not say; compared case-insensitively.
_ATTRIBUTE_NAME = re.compile(r"[^\w]+")
_INDEX_NAME = re.compile(r"^(?P<alias>[a-z0-9][a-z0-9_-]*)-v(?P<generation>\d{4,})$")
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9'&+.-]*")


class ProductDocument(BaseModel):
    """A product as both search engines index it. `version` is the Products item version and drives
    external versioning: an index never replaces a document with an older or equal version."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    version: int = Field(ge=1)
    name: str
    # `name_key(name)`: the exact-name fast path finds a product by this one term.
    name_key: str = ""
    description: str = ""
    english: str = ""
    keywords: list[str] = Field(default_factory=list)
    name_chosung: list[str] = Field(default_factory=list)
    name_qwerty: list[str] = Field(default_factory=list)
    category_path: list[str]
    category_prefixes: list[str]
    is_food: bool = False
    price: float | None = None
    # Unit pricing (see `cataloop.domain.search.value`): what the listing holds in all, in `unit`, and its
    # price per unit, for "가성비" (value) and "대용량" (bulk) sorting.
    unit: Unit | None = None
    total_content: float | None = None
    unit_price: float | None = None
    rating: float | None = None
    review_count: int = 0
    purchase_count: int = 0
    parent_id: str | None = None
    child_ids: list[str] = Field(default_factory=list)
    child_names: list[str] = Field(default_factory=list)
    brand: str | None = None
    attributes: dict[str, list[str]] = Field(default_factory=dict)
    embedding_text: str

    @field_validator("attributes")
    @classmethod
    def _attribute_fields(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        bad = [name for name in value if not name.startswith("attr_")]
        if bad:
            raise ValueError(f"attribute keys must start with 'attr_' (use attribute_field()); got {bad}")
        return value

    @property
    def is_bundle(self) -> bool:
        return bool(self.child_ids)

    @property
    def category(self) -> str:
        """The category path as one string, for lexical matching."""
        return " ".join(self.category_path)

    def source(self) -> dict[str, Any]:
        """The JSON body stored in the index: attributes flattened to top-level `attr_<name>` fields."""
        body = self.model_dump(exclude={"attributes", "version"})
        body.update(self.attributes)
        return body


class LearningDocument(BaseModel):
    """A learning as the knowledge index stores it, searchable by text and filtered by scope."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    version: int = Field(ge=1)
    text: str = Field(min_length=1)
    kind: str = "rule"
    scope_path: list[str] = Field(default_factory=list)
    scope_prefixes: list[str] = Field(default_factory=list)
    attributes: list[str] = Field(default_factory=list)
    status: str = "active"
    votes: int = 0
    embedding_text: str = ""

    def source(self) -> dict[str, Any]:
        return self.model_dump(exclude={"version"})


class BulkFailure(BaseModel):
    """One bulk item that was neither applied nor stale. `retryable` items should be redelivered."""

    model_config = ConfigDict(frozen=True)

    id: str
    status: int
    reason: str
    retryable: bool


class BulkOutcome(BaseModel):
    """What a bulk write did. Stale items (an equal or newer version is already indexed) are not failures."""

    indexed: int = 0
    deleted: int = 0
    stale_skipped: list[str] = Field(default_factory=list)
    failed: list[BulkFailure] = Field(default_factory=list)


def index_name(alias: str, generation: int) -> str:
    """The physical index behind `alias` for one build generation: ("products", 1) -> "products-v0001"."""
    name = f"{alias}-v{generation:04d}"
    if generation < 1 or not _INDEX_NAME.match(name):
        raise ValueError(
            f"alias {alias!r} must be lower-case letters, digits, '-' or '_' and generation >= 1"
        )
    return name


def index_generation(alias: str, name: str) -> int | None:
    """The generation number of a physical index of `alias`, or None when `name` is not one."""
    match = _INDEX_NAME.match(name)
    if match is None or match["alias"] != alias:
        return None
    return int(match["generation"])


class _EnrichmentView(BaseModel):
    """The parts of an enrichment result that search uses; other keys are ignored."""

    model_config = ConfigDict(extra="ignore")

    attributes: dict[str, Any] = Field(default_factory=dict)
    keywords: list[str] = Field(default_factory=list)
    search_title: str | None = None
    english_name: str | None = None
    is_food: bool | None = None


def split_keywords(raw: str) -> list[str]:
    """Split seller keywords on `|` only (commas occur inside keywords such as "1,000mAh"); each term is
    NFKC-normalised, whitespace-collapsed and stripped; empty terms and case-insensitive repeats are
    dropped (first spelling kept); terms over 100 characters are cut and at most 100 terms are kept."""
    return dedupe_terms(raw.split("|"))


def dedupe_terms(terms: Iterable[str]) -> list[str]:
    """Normalise and de-duplicate keyword terms by the rules of `split_keywords`."""
    seen: set[str] = set()
    out: list[str] = []
    for term in terms:
        cleaned = " ".join(unicodedata.normalize("NFKC", term).split())[:MAX_KEYWORD_CHARS].strip()
        key = cleaned.casefold()
        if cleaned and key not in seen:
            seen.add(key)
            out.append(cleaned)
            if len(out) == MAX_KEYWORDS:
                break
    return out


def attribute_field(name: str) -> str:
    """Index field for an enriched attribute: "Net content" -> "attr_net_content"."""
    slug = _ATTRIBUTE_NAME.sub("_", unicodedata.normalize("NFKC", name).casefold()).strip("_")
    if not slug:
        raise ValueError(f"attribute name {name!r} has no letters or digits to build a field name from")
    return f"attr_{slug}"


def category_prefixes(path: Sequence[str]) -> list[str]:
    """Every prefix of a category path, joined by ">", so a filter on any ancestor is one term lookup."""
    return [CATEGORY_SEPARATOR.join(path[: depth + 1]) for depth in range(len(path))]


def word_forms(text: str, convert: Callable[[str], str]) -> list[str]:
    """`convert` applied to each word, plus the run-together form starting at each word ("떠먹는 요구르트
    플레인" -> ..., ㄸㅁㄴㅇㄱㄹㅌㅍㄹㅇ, ㅇㄱㄹㅌㅍㄹㅇ), so a shopper may type one word's form or the
    forms of several neighbouring words without spaces (the fields match word prefixes)."""
    words = [convert(word) for word in text.split()]
    words = [word for word in words if word]
    forms = list(dict.fromkeys(words))
    for start in range(len(words) - 1):
        joined = "".join(words[start:])
        if joined not in forms:
            forms.append(joined)
    return forms


def prefix_grams(token: str, low: int = PREFIX_GRAM_MIN, high: int = PREFIX_GRAM_MAX) -> list[str]:
    """Prefixes of `token` of `low`..`high` characters: what an edge_ngram filter emits."""
    return [token[:size] for size in range(low, min(high, len(token)) + 1)]


def _chosung_word(word: str) -> str:
    # Only words with Hangul get a chosung form; "Nike" has none and would only add noise.
    return to_chosung(word) if any(is_syllable(char) for char in word) else ""


def _qwerty_word(word: str) -> str:
    return hangul_to_qwerty(word).lower() if any(is_syllable(char) for char in word) else ""


def _attribute_values(raw: Any) -> list[str]:
    """Flatten an attribute value: a scalar, a list, or an extraction record with value/normalised."""
    if raw is None:
        return []
    if isinstance(raw, dict):
        return dedupe_terms(
            value for key in ("value", "normalised") for value in _attribute_values(raw.get(key))
        )
    if isinstance(raw, list | tuple | set):
        return dedupe_terms(value for item in raw for value in _attribute_values(item))
    if isinstance(raw, bool):
        return ["true" if raw else "false"]
    return dedupe_terms([str(raw)])


def _first(values: list[str] | None) -> str | None:
    return values[0] if values else None


def _is_food(listing: ProductListing, enrichment: _EnrichmentView, attributes: dict[str, list[str]]) -> bool:
    if enrichment.is_food is not None:
        return enrichment.is_food
    flag = attributes.get("attr_is_food")
    if flag:
        return flag[0].casefold() in {"true", "yes", "1", "y"}
    return is_food_category(listing.category_path)


def _english_text(listing: ProductListing, enrichment: _EnrichmentView) -> str:
    if enrichment.english_name:
        return enrichment.english_name
    # Decided from the text, not `locale` (which defaults to "en"): a Korean title often carries the
    # Latin brand or model ("나이키 Air Max 90"), and only those words are English.
    if any(is_syllable(char) for char in listing.title):
        return " ".join(_LATIN_WORD.findall(listing.title))
    return listing.title


def product_document(
    listing: ProductListing,
    enrichment: dict[str, Any] | None,
    version: int,
    bundle_children: Sequence[ProductListing] = (),
) -> ProductDocument:
    """Build the search document for a listing and its (optional) enrichment result. `bundle_children` are
    the listings of a bundle's components; their ids and names are indexed on the parent."""
    view = _EnrichmentView.model_validate(enrichment or {})
    attributes: dict[str, list[str]] = {}
    for name, raw in view.attributes.items():
        values = _attribute_values(raw)
        if values:
            field = attribute_field(name)
            attributes[field] = dedupe_terms([*attributes.get(field, []), *values])
    brand = listing.brand or next(iter(attributes.get("attr_brand", [])), None)
    keywords = dedupe_terms([*split_keywords(listing.metadata_keywords), *view.keywords])
    child_ids = list(dict.fromkeys([*listing.child_ids, *(child.product_id for child in bundle_children)]))
    child_names = [child.title for child in bundle_children]
    description = "\n".join(part for part in [listing.description, *listing.bullet_points] if part)
    name = listing.title
    price = float(listing.price) if listing.price is not None else None
    pricing = unit_pricing(
        _first(attributes.get("attr_net_content")),
        _first(attributes.get("attr_pack_count") or attributes.get("attr_pack_size")),
        price,
        title=name,
    )
    embedding_text = " | ".join(
        part
        for part in [
            view.search_title or name,
            brand or "",
            " > ".join(listing.category_path),
            ", ".join(keywords[:20]),
            ", ".join(child_names[:10]),
            description,
        ]
        if part
    )[:MAX_EMBEDDING_TEXT_CHARS]
    return ProductDocument(
        id=listing.product_id,
        version=version,
        name=name,
        name_key=name_key(name),
        description=description,
        english=_english_text(listing, view),
        keywords=keywords,
        # Seller keywords add their initials too: "ㅇㅅㄱㅇㄹ" finds the keyword "유산균음료".
        name_chosung=list(
            dict.fromkeys(
                [
                    *word_forms(name, _chosung_word),
                    *(f for k in keywords for f in word_forms(k, _chosung_word)),
                ]
            )
        ),
        name_qwerty=word_forms(name, _qwerty_word),
        category_path=list(listing.category_path),
        category_prefixes=category_prefixes(listing.category_path),
        is_food=_is_food(listing, view, attributes),
        price=price,
        unit=pricing.unit if pricing else None,
        total_content=pricing.total_content if pricing else None,
        unit_price=pricing.unit_price if pricing else None,
        rating=listing.rating,
        review_count=listing.review_count or 0,
        purchase_count=listing.purchase_count or 0,
        parent_id=listing.parent_id,
        child_ids=child_ids,
        child_names=child_names,
        brand=brand,
        attributes=attributes,
        embedding_text=embedding_text,
    )
