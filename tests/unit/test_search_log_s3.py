"""The S3 search log writer against moto's S3."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from cataloop.adapters.search_log_s3 import SearchLogS3
from cataloop.domain.search.log import SearchLogRecord, parse_jsonl
from cataloop.errors import CataloopError

BUCKET = "cataloop-test-search-log"
NOW = datetime(2026, 11, 22, 23, 59, 30, tzinfo=UTC)


def record(query: str, at: datetime = NOW, results: int = 0) -> SearchLogRecord:
    return SearchLogRecord(logged_at=at, query=query, result_count=results)


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def _keys(client: Any) -> list[str]:
    return sorted(item["Key"] for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def test_flush_writes_one_jsonl_object_per_day(s3: Any) -> None:
    log = SearchLogS3(BUCKET, prefix="/logs/", client=s3)
    next_day = NOW + timedelta(minutes=1)  # 2026-11-23 00:00:30
    assert log.add(record("야쿠르트")) == []  # buffered, nothing written yet
    assert _keys(s3) == []
    keys = log.write([record("도시락", results=4), record("유산균", at=next_day)])
    assert len(keys) == 2 and keys == _keys(s3)
    assert keys[0].startswith("logs/dt=2026-11-22/20261122T235930")
    assert keys[1].startswith("logs/dt=2026-11-23/20261123T000030")
    obj = s3.get_object(Bucket=BUCKET, Key=keys[0])
    assert obj["ContentType"].startswith("application/x-ndjson")
    body = obj["Body"].read().decode("utf-8")
    assert [r.query for r in parse_jsonl(body)] == ["야쿠르트", "도시락"]
    assert log.flush() == []  # the buffer was emptied


def test_full_batch_flushes_by_itself(s3: Any) -> None:
    log = SearchLogS3(BUCKET, client=s3, max_batch=2)
    assert log.add(record("a")) == []
    written = log.add(record("b"))
    assert len(written) == 1 and _keys(s3) == written


def test_read_returns_a_days_records_in_time_order(s3: Any) -> None:
    log = SearchLogS3(BUCKET, client=s3)
    log.write([record("first", at=NOW - timedelta(hours=2))])
    log.write([record("second", at=NOW - timedelta(hours=1)), record("third")])
    log.write([record("other day", at=NOW + timedelta(days=1))])
    assert [r.query for r in log.read("2026-11-22")] == ["first", "second", "third"]
    assert list(log.read("2026-01-01")) == []


def test_days_and_read_without_days_cover_every_day_oldest_first(s3: Any) -> None:
    log = SearchLogS3(BUCKET, client=s3)
    log.write([record("later", at=NOW + timedelta(days=1)), record("earlier", at=NOW - timedelta(days=3))])
    log.write([record("middle")])
    s3.put_object(Bucket=BUCKET, Key="classifier/examples.json", Body=b"{}")  # not the log's
    assert log.days() == ["2026-11-19", "2026-11-22", "2026-11-23"]
    assert [r.query for r in log.read()] == ["earlier", "middle", "later"]
    assert [r.query for r in log.read(["2026-11-23", "2026-11-19"])] == ["earlier", "later"]
    assert SearchLogS3("empty", client=s3.create_bucket(Bucket="empty") and s3).days() == []


def test_missing_bucket_keeps_the_buffer_and_says_what_to_check(s3: Any) -> None:
    log = SearchLogS3("no-such-bucket", client=s3)
    log.add(record("야쿠르트"))
    with pytest.raises(CataloopError, match=r"s3://no-such-bucket/.*NoSuchBucket; check the bucket exists"):
        log.flush()
    s3.create_bucket(Bucket="no-such-bucket")
    assert len(log.flush()) == 1  # the record was not lost


def test_configuration_errors() -> None:
    with pytest.raises(ValueError, match="SEARCH_LOG_BUCKET"):
        SearchLogS3("", client=object())
    with pytest.raises(ValueError, match="max_batch"):
        SearchLogS3(BUCKET, client=object(), max_batch=0)
