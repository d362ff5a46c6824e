"""The labelled reference set the simulated supervisor may consult: an OA-Mine-format JSONL, indexed by
normalised title and by category, with each category's value counts per attribute."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cataloop.domain.enrichment.normalisation import normalise_text
from cataloop.errors import ModelError
from cataloop.validation import describe_validation_error


class ReferenceRow(BaseModel):
    """One labelled product: title, category and gold values per attribute."""

    model_config = ConfigDict(extra="ignore")

    input: str
    category: str
    target_scores: dict[str, dict[str, float]] = Field(default_factory=dict)


@dataclass
class Reference:
    """A labelled reference set, indexed by normalised title and by category."""

    by_title: dict[str, ReferenceRow] = field(default_factory=dict)
    by_category: dict[str, list[ReferenceRow]] = field(default_factory=lambda: defaultdict(list))
    lexicon: dict[str, dict[str, Counter[str]]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Reference:
        reference = cls()
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    row = ReferenceRow.model_validate_json(line)
                except ValidationError as error:
                    raise ModelError(
                        f"reference set {path} line {number} is not OA-Mine JSONL: "
                        f"{describe_validation_error(error)}"
                    ) from None
                reference.by_title[normalise_text(row.input)] = row
                category = normalise_text(row.category)
                reference.by_category[category].append(row)
                per_attribute = reference.lexicon.setdefault(category, {})
                for attribute, values in row.target_scores.items():
                    for value in values:
                        per_attribute.setdefault(attribute, Counter())[value.strip()] += 1
        return reference


def load_reference_titles(path: str | Path) -> set[str]:
    """Normalised titles of a reference JSONL (to check that an evaluation split is disjoint from it)."""
    return {normalise_text(row.input) for row in Reference.load(Path(path)).by_title.values()}
