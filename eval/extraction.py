"""OA-Mine-format JSONL records (title, category, gold values per attribute) as listings with gold.

The enrichment loop itself is `cataloop.services.pipeline` (the use cases the state machine runs);
`cataloop_eval.learning` runs and scores it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cataloop.domain.catalog.listing import ProductListing
from cataloop.errors import InvalidInput


class OaMineRecord(BaseModel):
    """One line of an OA-Mine JSONL: title, category and gold values per attribute."""

    model_config = ConfigDict(extra="ignore")

    input: str = Field(min_length=1, max_length=500)
    category: str = Field(min_length=1, max_length=100)
    target_scores: dict[str, dict[str, float]] = Field(default_factory=dict)

    @property
    def gold(self) -> dict[str, list[str]]:
        return {attribute: list(values) for attribute, values in self.target_scores.items() if values}

    def listing(self) -> ProductListing:
        """The record as a seller listing; the id is derived from the title so reruns are stable."""
        digest = hashlib.sha256(self.input.encode()).hexdigest()[:16]
        return ProductListing(
            product_id=f"oa-{digest}", title=self.input, category_path=[self.category], locale="en"
        )


def read_oa_mine(path: str | Path) -> list[OaMineRecord]:
    """Records of an OA-Mine JSONL; InvalidInput names the first bad line."""
    records: list[OaMineRecord] = []
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                records.append(OaMineRecord.model_validate_json(line))
            except ValidationError as error:
                raise InvalidInput(
                    f"{path}:{number} is not an OA-Mine record {{input, category, target_scores}}: {error}"
                ) from None
    return records


def holdout_split(
    records: Sequence[OaMineRecord], fraction_denominator: int = 5
) -> tuple[list[OaMineRecord], list[OaMineRecord]]:
    """(train, holdout) by a fixed hash of the title: sha256(title) % denominator == 0 is held out (20%)."""
    train: list[OaMineRecord] = []
    holdout: list[OaMineRecord] = []
    for record in records:
        bucket = int(hashlib.sha256(record.input.encode()).hexdigest(), 16) % fraction_denominator
        (holdout if bucket == 0 else train).append(record)
    return train, holdout
