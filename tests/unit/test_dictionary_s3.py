"""Approved dictionaries as versioned objects in the stack's bucket (DictionaryS3, on moto): versions v0001,
v0002, ... plus the `dictionaries/current.json` pointer written last and conditionally; the shipped files are
version 0 and the fallback; readers cache the version in force for a TTL and keep the last good one."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from cataloop import wiring
from cataloop.adapters.dictionary_files import DictionaryFiles
from cataloop.adapters.dictionary_s3 import DictionaryS3
from cataloop.errors import Conflict
from cataloop.settings import Settings
from cataloop_local.cli.dictionary_upkeep import SynonymSuggestion, TypoSuggestion, approve_suggestions

NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
BUCKET = "cataloop-search-log"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client
    wiring.forget_dictionaries()


@pytest.fixture
def base(tmp_path: Path) -> DictionaryFiles:
    directory = tmp_path / "dictionaries"
    directory.mkdir()
    (directory / "typos.txt").write_text("야구르트 => 야쿠르트\n", encoding="utf-8")
    (directory / "synonyms.txt").write_text("요구르트, 요거트\n", encoding="utf-8")
    (directory / "user_dictionary.txt").write_text("야쿠르트\n", encoding="utf-8")
    (directory / "stop_tags.txt").write_text("E\n", encoding="utf-8")
    return DictionaryFiles(directory)


def _store(s3: Any, base: DictionaryFiles, clock: Clock | None = None) -> DictionaryS3:
    return DictionaryS3(BUCKET, client=s3, fallback=base, clock=clock or Clock())


def _text(s3: Any, key: str) -> str:
    return str(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode("utf-8"))


def test_without_a_pointer_the_shipped_files_are_version_0(s3: Any, base: DictionaryFiles) -> None:
    store = _store(s3, base)
    assert store.version() == "base" and store.current().number == 0
    assert store.typo_corrections() == {"야구르트": "야쿠르트"}
    assert store.lines("user_dictionary") == ["야쿠르트"] and store.lines("unknown") == []
    assert store.last_error is None


def test_approving_twice_writes_v0001_then_v0002(s3: Any, base: DictionaryFiles) -> None:
    store = _store(s3, base)
    approved = [
        TypoSuggestion("야쿠루트", "야쿠르트", 2),
        TypoSuggestion("야구르트", "야쿠르트", 1),  # already a rule: not repeated
        SynonymSuggestion("도시락", "ㄷㅅㄹ", "initials"),
    ]
    assert approve_suggestions(approved, store, approved_by="reviewer@shop", now=NOW) == "v0001"
    typos = _text(s3, "dictionaries/v0001/typos.txt").splitlines()
    assert typos[0] == "야구르트 => 야쿠르트"
    assert typos[1].startswith("# approved by reviewer@shop at 2026-11-22T09:30:00+00:00 (from base)")
    assert typos[2:] == ["야쿠루트 => 야쿠르트"]
    assert _text(s3, "dictionaries/v0001/synonyms.txt").splitlines()[-1] == "도시락, ㄷㅅㄹ"
    # A full copy: the unchanged files too (stop tags included).
    assert _text(s3, "dictionaries/v0001/user_dictionary.txt") == "야쿠르트\n"
    assert _text(s3, "dictionaries/v0001/stop_tags.txt") == "E\n"
    pointer = json.loads(_text(s3, "dictionaries/current.json"))
    assert pointer["version"] == "v0001" and pointer["previous"] == "base"
    assert pointer["approved_by"] == "reviewer@shop"
    assert pointer["files"] == ["stop_tags", "synonyms", "typos", "user_dictionary"]
    assert (base.directory / "typos.txt").read_text(encoding="utf-8") == "야구르트 => 야쿠르트\n"  # untouched
    assert not (base.directory / "versions").exists()

    assert store.version() == "v0001"  # the approving process reads its own version at once
    assert store.typo_corrections()["야쿠루트"] == "야쿠르트"

    second = approve_suggestions([TypoSuggestion("도시략", "도시락", 1)], store, approved_by="r", now=NOW)
    assert second == "v0002"
    assert "야쿠루트 => 야쿠르트" in _text(s3, "dictionaries/v0002/typos.txt")  # builds on v0001
    assert json.loads(_text(s3, "dictionaries/current.json"))["previous"] == "v0001"
    assert store.version() == "v0002" and store.typo_corrections()["도시략"] == "도시락"


def test_of_two_concurrent_approvals_one_wins_the_other_gets_a_conflict(
    s3: Any, base: DictionaryFiles
) -> None:
    first, second = _store(s3, base), _store(s3, base)
    # Both read the version in force before either writes.
    first_base, second_base = first.read_current(), second.read_current()
    assert first.write_version(first_base, {"typos": ["a => b"]}, approved_by="a", approved_at=NOW) == "v0001"
    with pytest.raises(Conflict, match="approve again"):
        second.write_version(second_base, {"typos": ["c => d"]}, approved_by="b", approved_at=NOW)
    assert json.loads(_text(s3, "dictionaries/current.json"))["version"] == "v0001"
    assert _text(s3, "dictionaries/v0001/typos.txt") == "a => b\n"  # the winner's version is not overwritten


def test_a_pointer_moved_by_another_approval_refuses_the_stale_one(s3: Any, base: DictionaryFiles) -> None:
    store, other = _store(s3, base), _store(s3, base)
    stale = store.read_current()
    other.write_version(other.read_current(), {"typos": ["a => b"]}, approved_by="a", approved_at=NOW)
    # The stale approval gets the next free number, but the pointer is no longer the one it started from.
    with pytest.raises(Conflict, match="started from base"):
        store.write_version(stale, {"typos": ["c => d"]}, approved_by="b", approved_at=NOW)
    assert json.loads(_text(s3, "dictionaries/current.json"))["version"] == "v0001"
    # An orphan version (written, never in force) is skipped by the next approval, not overwritten.
    assert store.write_version(
        store.read_current(), {"typos": ["e => f"]}, approved_by="c", approved_at=NOW
    ) == ("v0003")


def test_a_malformed_version_keeps_the_last_good_one_and_logs_why(
    s3: Any, base: DictionaryFiles, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    store = _store(s3, base, clock)
    approve_suggestions([TypoSuggestion("야쿠루트", "야쿠르트", 2)], store, approved_by="r", now=NOW)
    assert store.version() == "v0001"

    s3.put_object(Bucket=BUCKET, Key="dictionaries/current.json", Body=b"{not json")
    clock.now += 301
    with caplog.at_level(logging.WARNING, logger="cataloop.adapters.dictionary_s3"):
        assert store.version() == "v0001"
    assert "keeping the last good version (v0001)" in caplog.text and "not JSON" in caplog.text
    assert store.typo_corrections()["야쿠루트"] == "야쿠르트" and store.last_error

    # A pointer naming files that are not there: the same.
    s3.put_object(
        Bucket=BUCKET,
        Key="dictionaries/current.json",
        Body=json.dumps({"version": "v0009", "files": ["typos"]}).encode(),
    )
    clock.now += 301
    assert store.version() == "v0001"
    # A pointer with a bad version name.
    s3.put_object(
        Bucket=BUCKET,
        Key="dictionaries/current.json",
        Body=json.dumps({"version": "../x", "files": []}).encode(),
    )
    clock.now += 301
    assert store.version() == "v0001" and "'version' must be" in str(store.last_error)

    # A fresh reader (a cold start) with the broken pointer uses the shipped files.
    fresh = _store(s3, base)
    assert fresh.version() == "base" and fresh.last_error


def test_a_missing_bucket_keeps_the_shipped_files(s3: Any, base: DictionaryFiles) -> None:
    store = DictionaryS3("no-such-bucket", client=s3, fallback=base)
    assert store.version() == "base" and "NoSuchBucket" in str(store.last_error)


def test_the_pointer_is_re_read_only_after_the_ttl(s3: Any, base: DictionaryFiles) -> None:
    clock = Clock()
    reader, approver = _store(s3, base, clock), _store(s3, base)
    assert reader.version() == "base"
    approve_suggestions([TypoSuggestion("야쿠루트", "야쿠르트", 2)], approver, approved_by="r", now=NOW)
    clock.now += 299
    assert reader.version() == "base"  # cached
    calls: list[str] = []
    s3.meta.events.register(
        "provide-client-params.s3.GetObject", lambda **kw: calls.append(kw["params"]["Key"])
    )
    clock.now += 1
    assert reader.version() == "v0001"
    assert calls[0] == "dictionaries/current.json" and "dictionaries/v0001/typos.txt" in calls
    calls.clear()
    clock.now += 300
    assert reader.version() == "v0001"
    assert calls == ["dictionaries/current.json"]  # unchanged ETag: the files are not read again
    calls.clear()
    assert reader.typo_corrections()["야쿠루트"] == "야쿠르트" and calls == []


def test_wiring_reads_the_bucket_when_dictionary_bucket_is_set(s3: Any) -> None:
    assert wiring.describe_adapters(Settings(data_dir="/tmp/x"))["dictionaries"] == "DictionaryFiles"
    assert type(wiring.dictionaries(Settings(data_dir="/tmp/x"))).__name__ == "DictionaryFiles"
    config = Settings(data_dir="/tmp/x", dictionary_bucket=BUCKET, region="us-east-1")
    store = wiring.dictionaries(config)
    assert wiring.describe_adapters(config)["dictionaries"] == type(store).__name__ == "DictionaryS3"
    assert wiring.dictionaries(config) is store  # one store (and TTL cache) per process and bucket
    assert store.version() == "base"
    approver = DictionaryS3(BUCKET, client=s3, fallback=DictionaryFiles())
    approve_suggestions([TypoSuggestion("야쿠루트", "야쿠르트", 2)], approver, approved_by="r", now=NOW)
    wiring.forget_dictionaries()
    assert wiring.dictionaries(config).version() == "v0001"
    assert wiring.korean_analyzer(config) is not None  # the analyzer builds from the bucket's version
