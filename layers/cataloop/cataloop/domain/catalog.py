"""Stored products: status, versions and what each version records."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .products import ProductListing


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
