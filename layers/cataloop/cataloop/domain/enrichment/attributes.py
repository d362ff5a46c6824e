"""Attribute schemas: which attributes a category has, their kind, and how two values are judged to agree."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cataloop.domain.enrichment.normalisation import normalise_text

AttributeKind = Literal["text", "quantity", "count", "boolean"]
AgreementMode = Literal["exact", "normalised", "token_overlap"]


class AgreementRule(BaseModel):
    """exact: identical strings; normalised: equal after normalise_value; token_overlap: Jaccard >= threshold."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: AgreementMode = "normalised"
    threshold: float = Field(default=0.5, gt=0.0, le=1.0)


class AttributeSpec(BaseModel):
    """One attribute of a category. `concept` names the default-schema attribute it corresponds to (if any),
    so generic logic (brand, net content, pack count) works across catalogs with different attribute names."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=60)
    kind: AttributeKind = "text"
    description: str = Field(min_length=1, max_length=300)
    agreement: AgreementRule = Field(default_factory=AgreementRule)
    concept: str | None = None
    required: bool = False


class AttributeSchema(BaseModel):
    """The attributes of the categories under `category_path` (empty path = the default schema)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_id: str
    category_path: list[str]
    attributes: list[AttributeSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> AttributeSchema:
        names = [spec.name for spec in self.attributes]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"schema {self.schema_id}: duplicate attribute names {duplicates}")
        return self

    @property
    def names(self) -> list[str]:
        return [spec.name for spec in self.attributes]

    def get(self, name: str) -> AttributeSpec | None:
        """The spec called `name`, or None."""
        return next((spec for spec in self.attributes if spec.name == name), None)

    def by_concept(self, concept: str) -> AttributeSpec | None:
        """The first attribute mapped to a default-schema concept such as 'brand' or 'net_content'."""
        return next((spec for spec in self.attributes if spec.concept == concept), None)


class SchemaCatalog(BaseModel):
    """All configured schemas; lookup is by longest matching category-path prefix."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    source: str = ""
    schemas: list[AttributeSchema]

    @model_validator(mode="after")
    def _has_default(self) -> SchemaCatalog:
        if not any(schema.category_path == [] for schema in self.schemas):
            raise ValueError("attribute schema config needs a default schema with an empty category_path")
        return self

    def schema_for(self, category_path: list[str]) -> AttributeSchema:
        """The schema whose category_path is the longest prefix of `category_path` (case-insensitive)."""
        wanted = [normalise_text(part) for part in category_path]
        best: AttributeSchema | None = None
        for schema in self.schemas:
            prefix = [normalise_text(part) for part in schema.category_path]
            if wanted[: len(prefix)] == prefix and (best is None or len(prefix) > len(best.category_path)):
                best = schema
        assert best is not None  # the default schema (empty prefix) always matches
        return best


@lru_cache(maxsize=1)
def schema_catalog() -> SchemaCatalog:
    """The schemas shipped in cataloop/config/attribute_schemas.json (read once per process)."""
    text = resources.files("cataloop").joinpath("config/attribute_schemas.json").read_text(encoding="utf-8")
    return SchemaCatalog.model_validate(json.loads(text))


def schema_for(category_path: list[str]) -> AttributeSchema:
    """The attribute schema for a category path: longest configured prefix, else the default schema."""
    return schema_catalog().schema_for(category_path)
