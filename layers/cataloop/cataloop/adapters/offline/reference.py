"""The labelled reference set the simulated supervisor may consult: an OA-Mine-format JSONL, indexed by
category and split into FOLDS by a hash of the normalised title.

Cross-fitting: `Reference.visible(title, category)` returns the rows of the category that are NOT in the
title's fold, so the supervisor resolving a product never sees that product's own labels (nor those of any
other product in the same fold), whether or not the product is in the reference set. A product of another
set (the public test split) sees the other folds of the reference, like any product.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cataloop.domain.enrichment.normalisation import normalise_text
from cataloop.errors import ModelError
from cataloop.validation import describe_validation_error

DEFAULT_FOLDS = 5


class ReferenceRow(BaseModel):
    """One labelled product: title, category and gold values per attribute."""

    model_config = ConfigDict(extra="ignore")

    input: str
    category: str
    target_scores: dict[str, dict[str, float]] = Field(default_factory=dict)


def fold_of(title: str, folds: int = DEFAULT_FOLDS) -> int:
    """The fold a title belongs to: sha256 of the normalised title modulo `folds` (stable across runs)."""
    return int(hashlib.sha256(normalise_text(title).encode()).hexdigest(), 16) % folds


@dataclass
class Reference:
    """A labelled reference set, indexed by category and fold."""

    folds: int = DEFAULT_FOLDS
    # category -> fold -> rows
    rows: dict[str, dict[int, list[ReferenceRow]]] = field(default_factory=lambda: defaultdict(dict))
    # category -> fold -> attribute -> value counts
    counts: dict[str, dict[int, dict[str, Counter[str]]]] = field(default_factory=lambda: defaultdict(dict))

    def add(self, row: ReferenceRow) -> None:
        category = normalise_text(row.category)
        fold = fold_of(row.input, self.folds)
        self.rows[category].setdefault(fold, []).append(row)
        per_attribute = self.counts[category].setdefault(fold, {})
        for attribute, values in row.target_scores.items():
            for value in values:
                per_attribute.setdefault(attribute, Counter())[value.strip()] += 1

    def visible(self, title: str, category: str) -> list[ReferenceRow]:
        """The category's rows outside the title's fold."""
        hidden = fold_of(title, self.folds)
        by_fold = self.rows.get(normalise_text(category), {})
        return [row for fold, rows in sorted(by_fold.items()) if fold != hidden for row in rows]

    def value_counts(self, title: str, category: str) -> dict[str, Counter[str]]:
        """attribute -> value -> number of visible rows of the category (outside the title's fold) with it."""
        hidden = fold_of(title, self.folds)
        total: dict[str, Counter[str]] = {}
        for fold, per_attribute in self.counts.get(normalise_text(category), {}).items():
            if fold == hidden:
                continue
            for attribute, counter in per_attribute.items():
                total.setdefault(attribute, Counter()).update(counter)
        return total

    @classmethod
    def of_rows(cls, rows: list[ReferenceRow], folds: int = DEFAULT_FOLDS) -> Reference:
        reference = cls(folds=folds)
        for row in rows:
            reference.add(row)
        return reference

    @classmethod
    def load(cls, path: Path, folds: int = DEFAULT_FOLDS) -> Reference:
        return cls.load_many([path], folds)

    @classmethod
    def load_many(cls, paths: list[Path], folds: int = DEFAULT_FOLDS) -> Reference:
        return cls.of_rows([row for path in paths for row in _rows(path)], folds)


def reference_paths(value: str | Path) -> list[Path]:
    """The reference files named by OFFLINE_REFERENCE_SET: one path, or several separated by commas."""
    return [Path(part.strip()) for part in str(value).split(",") if part.strip()]


def _rows(path: Path) -> list[ReferenceRow]:
    rows: list[ReferenceRow] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                rows.append(ReferenceRow.model_validate_json(line))
            except ValidationError as error:
                raise ModelError(
                    f"reference set {path} line {number} is not OA-Mine JSONL: "
                    f"{describe_validation_error(error)}"
                ) from None
    return rows


def load_reference_titles(path: str | Path) -> set[str]:
    """Normalised titles of a reference JSONL (to check that an evaluation split is disjoint from it)."""
    reference = Reference.load(Path(path))
    return {
        normalise_text(row.input)
        for by_fold in reference.rows.values()
        for rows in by_fold.values()
        for row in rows
    }
