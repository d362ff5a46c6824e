"""The search log: one record per query, with what was understood and what came back, and no personal data.

A record holds the query only as the guardrail let it through (personal data already masked; nothing for a
blocked query), plus classification, variants, result count and latency. It has no user id, session id, IP
address or user agent, and `extra="forbid"` keeps anyone from adding them by accident. Records are stored
as JSON Lines, one file per batch under a date prefix, which is what dictionary upkeep reads back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cataloop.domain.search.guardrail import GuardrailAction
from cataloop.domain.search.query import QueryKind, SortIntent, SortOrder, query_key
from cataloop.errors import InvalidInput

LOW_RESULT_THRESHOLD = 3
"""A search with fewer results than this (but more than none) counts as low-result for dictionary upkeep."""


class SearchLogRecord(BaseModel):
    """One logged search. `query` is the normalised text after the guardrail (masked), None when blocked."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    logged_at: datetime
    query: str | None = Field(default=None, max_length=200)
    guardrail_action: GuardrailAction = "none"
    exact_match: bool = False
    kind: QueryKind | None = None
    sort_intent: SortIntent | None = None
    sort: SortOrder = "relevance"
    food_intent: bool | None = None
    cleaned_query: str | None = Field(default=None, max_length=200)
    variants: list[str] = Field(default_factory=list, max_length=8)
    mode: str | None = Field(default=None, max_length=20)
    result_count: int = Field(default=0, ge=0)
    page: int = Field(default=1, ge=1)
    latency_ms: float = Field(default=0.0, ge=0)
    request_id: str | None = Field(default=None, max_length=100)

    @field_validator("logged_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("logged_at must carry a time zone (use datetime.now(UTC))")
        return value.astimezone(UTC)

    @field_validator("query", "cleaned_query")
    @classmethod
    def _no_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            return None
        return value

    @property
    def key(self) -> str | None:
        """The case-folded query, for grouping; None for a blocked query."""
        return query_key(self.query) if self.query else None

    @property
    def is_zero_result(self) -> bool:
        return self.query is not None and self.guardrail_action != "blocked" and self.result_count == 0

    def is_low_result(self, threshold: int = LOW_RESULT_THRESHOLD) -> bool:
        """Some results, but fewer than `threshold`."""
        return (
            self.query is not None
            and self.guardrail_action != "blocked"
            and 0 < self.result_count < threshold
        )

    @property
    def day(self) -> str:
        """The UTC date, YYYY-MM-DD: the partition a record is stored under."""
        return self.logged_at.strftime("%Y-%m-%d")


def to_jsonl(records: Iterable[SearchLogRecord]) -> str:
    """JSON Lines, one record per line, UTF-8 text kept readable."""
    return "".join(
        json.dumps(record.model_dump(mode="json", exclude_defaults=True), ensure_ascii=False) + "\n"
        for record in records
    )


def parse_jsonl(text: str, source: str = "search log") -> Iterator[SearchLogRecord]:
    """Records from JSON Lines; InvalidInput names the source and line of a bad record."""
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield SearchLogRecord.model_validate_json(line)
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
            raise InvalidInput(f"{source} line {number}: {problems}") from error
