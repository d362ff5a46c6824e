"""The search log on S3: batches of records as JSON Lines objects under `<prefix>/dt=YYYY-MM-DD/`.

Objects are never appended to (S3 cannot); each flush writes new objects, named so that they sort by time
and never collide. The `dt=` partition suits Athena and S3 lifecycle rules alike.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC
from typing import Any

from botocore.exceptions import ClientError

from cataloop.domain.search.log import SearchLogRecord, parse_jsonl, to_jsonl
from cataloop.errors import CataloopError

DEFAULT_MAX_BATCH = 500


class SearchLogS3:
    """Buffers records and writes each day's buffered records as one object on `flush()` (automatically
    when `max_batch` records are waiting). A Lambda should flush before returning."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "search-log",
        client: Any | None = None,
        max_batch: int = DEFAULT_MAX_BATCH,
    ) -> None:
        if not bucket:
            raise ValueError("set the search log bucket name (SEARCH_LOG_BUCKET)")
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        if client is None:
            import boto3  # lazily: only the search function writes logs

            client = boto3.client("s3")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.max_batch = max_batch
        self._client = client
        self._buffer: list[SearchLogRecord] = []

    def add(self, record: SearchLogRecord) -> list[str]:
        """Buffer one record; returns the keys written if this filled a batch."""
        self._buffer.append(record)
        return self.flush() if len(self._buffer) >= self.max_batch else []

    def write(self, records: Iterable[SearchLogRecord]) -> list[str]:
        """Buffer records and flush them now; returns the object keys written."""
        self._buffer.extend(records)
        return self.flush()

    def flush(self) -> list[str]:
        """Write buffered records, one object per UTC day; the buffer is kept if a write fails."""
        by_day: dict[str, list[SearchLogRecord]] = {}
        for record in self._buffer:
            by_day.setdefault(record.day, []).append(record)
        keys: list[str] = []
        for day, batch in sorted(by_day.items()):
            key = self._object_key(day, batch)
            try:
                self._client.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=to_jsonl(batch).encode("utf-8"),
                    ContentType="application/x-ndjson; charset=utf-8",
                )
            except ClientError as error:
                # Days already written are dropped from the buffer so a retry does not duplicate them.
                written_days = {k.split("/dt=", 1)[1].split("/", 1)[0] for k in keys}
                self._buffer = [r for r in self._buffer if r.day not in written_days]
                code = error.response.get("Error", {}).get("Code", "Unknown")
                raise CataloopError(
                    f"search log write to s3://{self.bucket}/{key} failed with {code}; "
                    "check the bucket exists and the function may s3:PutObject on it"
                ) from error
            keys.append(key)
        self._buffer.clear()
        return keys

    def _object_key(self, day: str, batch: list[SearchLogRecord]) -> str:
        # Named by the newest record's time, so keys sort by time; the random part prevents collisions.
        stamp = max(record.logged_at for record in batch).astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        return f"{self.prefix}/dt={day}/{stamp}-{uuid.uuid4().hex[:12]}.jsonl"

    def days(self) -> list[str]:
        """The UTC days (YYYY-MM-DD) that have log objects, oldest first."""
        paginator = self._client.get_paginator("list_objects_v2")
        found: set[str] = set()
        for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}/dt=", Delimiter="/"):
            for common in page.get("CommonPrefixes", []):
                found.add(common["Prefix"].removeprefix(f"{self.prefix}/dt=").rstrip("/"))
        return sorted(found)

    def read(self, days: str | Iterable[str] | None = None) -> Iterator[SearchLogRecord]:
        """Every record stored for one UTC day (YYYY-MM-DD), several days, or every day (None), oldest day
        first and within a day in object-key (time) order."""
        one_or_more = {days} if isinstance(days, str) else set(days or ())
        wanted = self.days() if days is None else sorted(one_or_more)
        paginator = self._client.get_paginator("list_objects_v2")
        for day in wanted:
            keys: list[str] = []
            for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}/dt={day}/"):
                keys.extend(item["Key"] for item in page.get("Contents", []))
            for key in sorted(keys):
                body = self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read().decode("utf-8")
                yield from parse_jsonl(body, source=f"s3://{self.bucket}/{key}")
