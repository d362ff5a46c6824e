"""Product listings as sellers submit them, and the ProductCreated event detail."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

MAX_TITLE_CHARS = 500
MAX_TEXT_CHARS = 5000

ProductId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]


class ProductListing(BaseModel):
    """A seller's listing: the raw input to enrichment. Text is data, never instructions."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    product_id: ProductId
    title: str = Field(min_length=1, max_length=MAX_TITLE_CHARS)
    description: str = Field(default="", max_length=20 * MAX_TEXT_CHARS)
    bullet_points: list[str] = Field(default_factory=list, max_length=50)
    category_path: list[str] = Field(min_length=1, max_length=8)
    brand: str | None = Field(default=None, max_length=200)
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

    @field_validator("category_path")
    @classmethod
    def _category_names(cls, value: list[str]) -> list[str]:
        cleaned = [part.strip() for part in value]
        if any(not part or len(part) > 100 for part in cleaned):
            raise ValueError("category_path entries must be 1-100 characters")
        return cleaned


class ProductCreatedDetail(BaseModel):
    """`detail` of an EventBridge ProductCreated event."""

    model_config = ConfigDict(extra="forbid")

    product: ProductListing
