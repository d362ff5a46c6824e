"""Stored products: status, versions and what each version records."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cataloop.domain.catalog.listing import ProductListing

# Category names that mean "food" at any level of a category path (Korean and English, case-folded).
# One list for the whole product: extraction baselines, search documents and food-intent ranking use it.
FOOD_CATEGORY_WORDS = frozenset(
    {
        "식품",
        "식료품",
        "건강식품",
        "건강기능식품",
        "신선간편식",
        "발효유",
        "요구르트",
        "우유",
        "음료",
        "과자",
        "라면",
        "커피",
        "차",
        "간식",
        "유제품",
        "생수",
        "food",
        "foods",
        "grocery",
        "grocery & gourmet food",
        "beverages",
        "snacks",
        "coffee",
        "tea",
        "breakfast cereal",
        "cereal",
        "vitamin",
    }
)


def is_food_category(category_path: list[str]) -> bool:
    """True when any level of the path names a food category."""
    return any(" ".join(part.split()).casefold() in FOOD_CATEGORY_WORDS for part in category_path)


class ProductStatus(StrEnum):
    PENDING = "PENDING"
    ENRICHED = "ENRICHED"
    NEEDS_REVIEW = "NEEDS_REVIEW"


class StoredProduct(BaseModel):
    """One item of the Products table. `version` increases by one with every write (optimistic locking,
    and the external version of the search document)."""

    model_config = ConfigDict(extra="ignore")

    product_id: str
    version: int = Field(ge=1)
    status: ProductStatus
    listing: ProductListing
    source_event_id: str
    created_at: str
    updated_at: str
    enrichment: dict[str, Any] | None = None
    provenance: dict[str, Any] | None = None

    @classmethod
    def pending(cls, listing: ProductListing, event_id: str, now: str) -> StoredProduct:
        """Version 1 of a newly listed product, waiting for its enrichment."""
        return cls(
            product_id=listing.product_id,
            version=1,
            status=ProductStatus.PENDING,
            listing=listing,
            source_event_id=event_id,
            created_at=now,
            updated_at=now,
        )
