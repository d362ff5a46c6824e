"""The offline baseline's hand-written word lists, read from the JSON files shipped in `data/`.

`data/builtin_lexicons.json`: small generic lexicons (gender, colour, item form, roast, ...) keyed by normalised
attribute name or concept, read by generator A and by the evaluator's brand check.
`data/descriptor_words.json`: words that start descriptions rather than brand names (the evaluator's brand
check). Each file is read once per process.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from cataloop.domain.enrichment.normalisation import normalise_text
from cataloop.errors import CataloopError
from cataloop.validation import describe_validation_error

ModelT = TypeVar("ModelT", bound=BaseModel)


class _LexiconFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str
    lexicons: dict[str, list[str]]


class _WordFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str
    words: list[str]


def _read(name: str) -> str:
    return resources.files("cataloop.adapters.offline").joinpath("data", name).read_text(encoding="utf-8")


def _parse(model: type[ModelT], name: str) -> ModelT:
    try:
        return model.model_validate(json.loads(_read(name)))
    except ValidationError as error:
        raise CataloopError(
            f"offline baseline data file {name} is invalid: {describe_validation_error(error)}"
        ) from None


@cache
def builtin_lexicons() -> Mapping[str, tuple[str, ...]]:
    """Normalised attribute name or concept -> surface values, in file order."""
    parsed = _parse(_LexiconFile, "builtin_lexicons.json")
    return MappingProxyType({key: tuple(values) for key, values in parsed.lexicons.items()})


@cache
def builtin_lexicon_values() -> frozenset[str]:
    """Every built-in lexicon value, folded with `normalise_text`."""
    return frozenset(normalise_text(value) for values in builtin_lexicons().values() for value in values)


@cache
def descriptor_words() -> frozenset[str]:
    """Words that start descriptions rather than brand names (lower case, as `normalise_text` folds)."""
    return frozenset(_parse(_WordFile, "descriptor_words.json").words)
