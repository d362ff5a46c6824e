"""Shopper search requests: `GET /search` parameter validation, query normalisation and the query's grouping
key, and the names of the query kinds and sort orders the rest of search shares. Pure: no I/O."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from cataloop.errors import InvalidInput
from cataloop.validation import describe_validation_error

MAX_QUERY_CHARS = 200
MAX_PAGE_SIZE = 50
MAX_PAGE = 100


QueryKind = Literal["keyword", "natural_language"]
SortIntent = Literal["price_asc", "price_desc", "rating", "popularity", "newest", "value", "bulk"]
SortOrder = Literal["relevance", "price_asc", "price_desc", "rating", "popularity", "newest", "value", "bulk"]
"""What `GET /search?sort=` accepts; None (the parameter left out) means "infer it from the query".
`value` is the lowest price per ml, g or piece ("가성비"), `bulk` the largest total content ("대용량")."""


# Whitespace controls are ordinary spacing in a pasted query; every other control character is refused.
_SPACING_CONTROLS = frozenset("\t\n\r\x0b\x0c")
_COMPATIBILITY_JAMO = re.compile("([\u3131-\u318e])")


def normalise_query(text: str) -> str:
    """NFKC, format characters (zero-width spaces, bidi overrides) removed, whitespace runs collapsed to one
    space, ends stripped. Case is kept: brand spellings ("rTG") are shown back to the shopper. Hangul
    compatibility jamo ("ㅇㅋㄹㅌ") are kept as typed: NFKC would turn them into conjoining jamo, which no
    chosung field or keyboard matches."""
    if text.isascii():
        # ASCII is NFKC-stable and holds no format character or compatibility jamo.
        return " ".join(text.split())
    if _COMPATIBILITY_JAMO.search(text) is None:
        joined = unicodedata.normalize("NFKC", text)
    else:
        # Runs between jamo are normalised; the jamo themselves (odd items of the split) are kept.
        parts = _COMPATIBILITY_JAMO.split(text)
        joined = "".join(
            part if index % 2 else unicodedata.normalize("NFKC", part) for index, part in enumerate(parts)
        )
    words = joined.split()
    if not "".join(words).isprintable():
        # Format characters are not printable: only a query holding some is filtered character by character.
        words = "".join(char for char in joined if unicodedata.category(char) != "Cf").split()
    return " ".join(words)


def query_key(text: str) -> str:
    """The grouping key of a query in logs and dictionaries: normalised and case-folded."""
    return normalise_query(text).casefold()


def name_key(text: str) -> str:
    """The key under which a query matches a product name exactly: normalised, case-folded, "×" read as
    "x" and every space removed, so "야쿠르트 라이트 65mlx20개" finds "야쿠르트 라이트 65ml x 20개"."""
    return "".join(normalise_query(text).casefold().replace("×", "x").split())


def _invalid_query(message: str) -> PydanticCustomError:
    # A custom error keeps the message as written (a ValueError's would start with "Value error, ").
    return PydanticCustomError("invalid_query", message)


def _has_letter_or_digit(text: str) -> bool:
    return any(unicodedata.category(char)[0] in "LN" for char in text)


class SearchRequest(BaseModel):
    """`GET /search` parameters. `page` is 1-based here (what shoppers see); `plan_page` is 0-based."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    q: str
    size: int = Field(default=20, ge=1, le=MAX_PAGE_SIZE)
    page: int = Field(default=1, ge=1, le=MAX_PAGE)
    sort: SortOrder | None = None

    @field_validator("q", mode="before")
    @classmethod
    def _clean_query(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        bad: list[str] = []
        if not value.isprintable():  # control characters are not printable: most queries stop here
            bad = sorted(
                {f"U+{ord(char):04X}" for char in value if unicodedata.category(char) == "Cc"}
                - {f"U+{ord(char):04X}" for char in _SPACING_CONTROLS}
            )
        if bad:
            raise _invalid_query(f"remove the control characters {', '.join(bad)} from the query")
        text = normalise_query(value)
        if not text:
            raise _invalid_query("the query is empty; type a product name or describe what you need")
        if len(text) > MAX_QUERY_CHARS:
            raise _invalid_query(
                f"the query has {len(text)} characters; shorten it to at most {MAX_QUERY_CHARS}"
            )
        if not _has_letter_or_digit(text):
            raise _invalid_query(
                "the query has no letters or digits (only emoji, symbols or punctuation); "
                "type a product name or describe what you need"
            )
        return text

    @property
    def plan_page(self) -> int:
        """The 0-based page a `SearchPlan` takes."""
        return self.page - 1

    @classmethod
    def parse(cls, params: Mapping[str, Any]) -> SearchRequest:
        """Validate raw query-string parameters; raise InvalidInput naming each bad parameter and the fix."""
        try:
            return cls.model_validate(dict(params))
        except ValidationError as error:
            raise InvalidInput(f"search request: {describe_validation_error(error)}") from error
