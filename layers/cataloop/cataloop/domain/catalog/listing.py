"""Product listings as sellers submit them, and the ProductCreated event detail.

Text hygiene: every text field goes through the one sanitiser (`cataloop.domain.text`) before validation:
control, bidi, zero-width and Unicode tag characters are stripped; names (title, brand, category names) are
NFKC-normalised and single-line; the description keeps its newlines and tabs.

Payload budget: each field has a size limit, and the whole listing, serialised as JSON in UTF-8, must fit in
MAX_LISTING_BYTES (64 KiB). The EnrichProduct state machine passes the listing through its 256 KB state:
the execution input (the event), the context state and each task's payload carry one copy, and the derived
copies (the budgeted product data in each prompt, at most 4,000 characters, and quoted evidence spans) are
bounded separately. Estimating the worst single state or payload at 3 listing copies (the listing, the
generator/evaluator candidates quoting it, the prompt records), 3 x 64 KiB = 192 KiB leaves 64 KiB for
learnings, candidates and decisions below the 256 KB limit, so a valid listing cannot overflow it.
PrepareContext validates this model, so an oversized listing is refused before anything is written.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from cataloop.domain.text import clean_name, clean_text, utf8_size

MAX_TITLE_CHARS = 500
MAX_TEXT_CHARS = 5000
MAX_DESCRIPTION_CHARS = 20_000
MAX_BULLET_CHARS = 1000
MAX_BULLETS = 50
MAX_BRAND_CHARS = 200
MAX_CATEGORY_NAME_CHARS = 100
MAX_CATEGORY_DEPTH = 8
# The whole listing as JSON in UTF-8 (see the module docstring for why this fits the 256 KB state).
MAX_LISTING_BYTES = 64 * 1024
STATE_COPIES_ESTIMATE = 3
STEP_FUNCTIONS_STATE_BYTES = 256 * 1024

ProductId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]

_NAME_FIELDS = ("title", "brand")
_LINE_FIELDS = ("seller_id", "metadata_keywords")


class ProductListing(BaseModel):
    """A seller's listing: the raw input to enrichment. Text is data, never instructions."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    product_id: ProductId
    title: str = Field(min_length=1, max_length=MAX_TITLE_CHARS)
    description: str = Field(default="", max_length=MAX_DESCRIPTION_CHARS)
    bullet_points: list[Annotated[str, Field(max_length=MAX_BULLET_CHARS)]] = Field(
        default_factory=list, max_length=MAX_BULLETS
    )
    category_path: list[str] = Field(min_length=1, max_length=MAX_CATEGORY_DEPTH)
    brand: str | None = Field(default=None, max_length=MAX_BRAND_CHARS)
    price: Decimal | None = Field(default=None, ge=0)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    seller_id: str = Field(default="unknown", max_length=128)
    locale: Literal["ko", "en"] = "en"
    parent_id: ProductId | None = None
    child_ids: list[ProductId] = Field(default_factory=list, max_length=100)
    metadata_keywords: str = Field(default="", max_length=MAX_TEXT_CHARS)
    rating: float | None = Field(default=None, ge=0, le=5)
    review_count: int | None = Field(default=None, ge=0)
    purchase_count: int | None = Field(default=None, ge=0)

    @field_validator(*_NAME_FIELDS, mode="before")
    @classmethod
    def _clean_names(cls, value: Any) -> Any:
        return clean_name(value) if isinstance(value, str) else value

    @field_validator(*_LINE_FIELDS, mode="before")
    @classmethod
    def _clean_lines(cls, value: Any) -> Any:
        return clean_text(value) if isinstance(value, str) else value

    @field_validator("description", mode="before")
    @classmethod
    def _clean_description(cls, value: Any) -> Any:
        return clean_text(value, multiline=True) if isinstance(value, str) else value

    @field_validator("bullet_points", mode="before")
    @classmethod
    def _clean_bullets(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        return [clean_text(item) if isinstance(item, str) else item for item in value]

    @field_validator("category_path", mode="before")
    @classmethod
    def _clean_category_names(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        return [clean_name(part) if isinstance(part, str) else part for part in value]

    @field_validator("category_path")
    @classmethod
    def _category_names(cls, value: list[str]) -> list[str]:
        cleaned = [part.strip() for part in value]
        if any(not part or len(part) > MAX_CATEGORY_NAME_CHARS for part in cleaned):
            raise ValueError(f"category_path entries must be 1-{MAX_CATEGORY_NAME_CHARS} characters")
        return cleaned

    @model_validator(mode="after")
    def _within_budget(self) -> ProductListing:
        size = listing_size(self)
        if size > MAX_LISTING_BYTES:
            raise ValueError(
                f"listing is {size:,} bytes as UTF-8 JSON; the limit is {MAX_LISTING_BYTES:,} "
                "(shorten the description, bullet points or keywords)"
            )
        return self


def listing_size(listing: ProductListing) -> int:
    """The listing's size as it travels: JSON (as Step Functions and EventBridge carry it) in UTF-8 bytes."""
    return utf8_size(json.dumps(listing.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":")))


class ProductCreatedDetail(BaseModel):
    """`detail` of an EventBridge ProductCreated event."""

    model_config = ConfigDict(extra="forbid")

    product: ProductListing
