"""Dictionary upkeep from the search log, the log records and the local JSONL log files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from cataloop.adapters.dictionary_files import SHIPPED, DictionaryFiles
from cataloop.adapters.dictionary_s3 import DictionaryS3
from cataloop.adapters.search_log_files import SearchLogFiles
from cataloop.domain.search.log import SearchLogRecord, parse_jsonl, to_jsonl
from cataloop.errors import InvalidInput
from cataloop_local.cli.dictionary_upkeep import (
    SynonymSuggestion,
    TypoSuggestion,
    approve_suggestions,
    suggest_dictionary,
)

NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
VOCABULARY = {
    "야쿠르트": 40,
    "요거트": 9,
    "유산균": 30,
    "음료": 25,
    "유산균음료": 3,
    "도시락": 12,
    "마스크팩": 8,
}


def log(query: str | None, results: int, **fields: object) -> SearchLogRecord:
    return SearchLogRecord(logged_at=NOW, query=query, result_count=results, **fields)


# --- records ------------------------------------------------------------------------------------------


def test_record_refuses_personal_fields_and_naive_times() -> None:
    with pytest.raises(ValueError, match="user_id"):
        SearchLogRecord(logged_at=NOW, query="x", user_id="kim")
    with pytest.raises(ValueError, match="time zone"):
        SearchLogRecord(logged_at=datetime(2026, 1, 1), query="x")


def test_record_result_classes() -> None:
    assert log("야쿠르트", 0).is_zero_result
    assert log("야쿠르트", 2).is_low_result() and not log("야쿠르트", 3).is_low_result()
    blocked = log(None, 0, guardrail_action="blocked")
    assert not blocked.is_zero_result and blocked.key is None
    assert log("  Greek YOGURT", 1).key == "greek yogurt"


def test_jsonl_round_trip_and_bad_line() -> None:
    records = [log("야쿠르트", 3, kind="keyword", variants=["야쿠르트"], latency_ms=12.5), log(None, 0)]
    text = to_jsonl(records)
    assert "야쿠르트" in text  # readable UTF-8, not \\u escapes
    assert list(parse_jsonl(text)) == records
    with pytest.raises(InvalidInput, match=r"test\.jsonl line 3: logged_at: Field required"):
        list(parse_jsonl(text + '{"query": "x"}\n', source="test.jsonl"))


def test_local_log_files_by_day(tmp_path: Path) -> None:
    files = SearchLogFiles(tmp_path / "logs")
    assert files.days() == [] and list(files.read()) == []
    yesterday = log("도시락", 5).model_copy(update={"logged_at": NOW - timedelta(days=1)})
    files.write([log("야쿠르트", 0), yesterday])
    files.write([log("유산균", 1)])
    assert files.days() == ["2026-11-21", "2026-11-22"]
    assert [record.query for record in files.read()] == ["도시락", "야쿠르트", "유산균"]
    assert [record.query for record in files.read(["2026-11-22"])] == ["야쿠르트", "유산균"]


# --- suggestions --------------------------------------------------------------------------------------


def test_typos_from_zero_and_low_result_searches() -> None:
    records = [
        log("야쿠루트", 0),  # one jamo from 야쿠르트
        log("야쿠루트 음료", 1),
        log("야쿠루트", 50),  # found plenty: not evidence
        log("dbtksrbs", 0),  # 유산균 typed in the English layout
        log("도시략", 0),  # one jamo from 도시락
        log("요거투", 0),  # one jamo from 요거트
    ]
    suggestions = suggest_dictionary(records, VOCABULARY)
    assert suggestions.typos == [
        TypoSuggestion("야쿠루트", "야쿠르트", 2),
        TypoSuggestion("dbtksrbs", "유산균", 1),
        TypoSuggestion("도시략", "도시락", 1),
        TypoSuggestion("요거투", "요거트", 1),
    ]
    assert (
        suggestions.searches_examined,
        suggestions.zero_result_searches,
        suggestions.low_result_searches,
    ) == (
        6,
        4,
        1,
    )


def test_synonyms_from_initials_and_spacing() -> None:
    records = [log("ㄷㅅㄹ", 0), log("유산균 음료", 1), log("마스크 팩", 0)]
    vocabulary = {**VOCABULARY, "마스크": 1}  # "마스크" alone is a term; "팩" is not
    suggestions = suggest_dictionary(records, vocabulary)
    assert suggestions.typos == []
    assert [(s.term, s.synonym) for s in suggestions.synonyms] == [("도시락", "ㄷㅅㄹ")]
    assert "the only catalog term" in suggestions.synonyms[0].evidence

    run_together = suggest_dictionary([log("도시락음료", 0)], VOCABULARY)
    assert [(s.term, s.synonym) for s in run_together.synonyms] == [("도시락음료", "도시락 음료")]
    spaced = suggest_dictionary([log("요 거트", 0)], VOCABULARY)
    assert [(s.term, s.synonym) for s in spaced.synonyms] == [("요거트", "요 거트")]


def test_ambiguous_or_known_words_are_not_suggested() -> None:
    vocabulary = {**VOCABULARY, "요구르트": 5, "야구": 1}
    records = [log("야구르트", 0), log("ㅇㅋㄹㅌ", 0), log("1000", 0), log("야쿠르트", 0)]
    # 야구르트 is one jamo from both 야쿠르트 and 요구르트; 야쿠르트 itself is a catalog term.
    suggestions = suggest_dictionary(records, vocabulary, known_typos=["ㅇㅋㄹㅌ"])
    assert suggestions.typos == [] and suggestions.synonyms == []


def test_min_count_filters_one_off_searches() -> None:
    records = [log("야쿠루트", 0), log("도시략", 0), log("도시략", 0)]
    assert [t.wrong for t in suggest_dictionary(records, VOCABULARY, min_count=2).typos] == ["도시략"]


# --- approval (versions, the pointer and concurrent approvals: tests/unit/test_dictionary_s3.py) ----------


def _base(tmp_path: Path) -> Path:
    directory = tmp_path / "dictionaries"
    directory.mkdir()
    (directory / "typos.txt").write_text("야구르트 => 야쿠르트\n", encoding="utf-8")
    (directory / "synonyms.txt").write_text("요구르트, 요거트\n", encoding="utf-8")
    (directory / "user_dictionary.txt").write_text("야쿠르트\n", encoding="utf-8")
    return directory


def test_approval_refuses_nothing_new_or_bad_terms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="search-log")
        store = DictionaryS3("search-log", client=client, fallback=DictionaryFiles(_base(tmp_path)))
        with pytest.raises(InvalidInput, match="nothing approved"):
            approve_suggestions([], store, approved_by="r", now=NOW)
        with pytest.raises(InvalidInput, match="already in the current dictionary"):
            approve_suggestions([TypoSuggestion("야구르트", "야쿠르트", 1)], store, approved_by="r", now=NOW)
        with pytest.raises(InvalidInput, match="contains ','"):
            approve_suggestions([SynonymSuggestion("a, b", "c", "")], store, approved_by="r", now=NOW)
        with pytest.raises(InvalidInput, match="approved_by"):
            approve_suggestions([TypoSuggestion("x", "y", 1)], store, approved_by=" ", now=NOW)
        assert client.list_objects_v2(Bucket="search-log").get("KeyCount") == 0
    assert sorted(p.name for p in (tmp_path / "dictionaries").iterdir()) == [
        "synonyms.txt",
        "typos.txt",
        "user_dictionary.txt",
    ]


def test_the_shipped_dictionaries_are_read_only_files() -> None:
    # Approved versions are objects in the stack's bucket, never files in the source tree.
    assert not hasattr(DictionaryFiles, "write_version") and not hasattr(DictionaryFiles, "versions")
    assert not (SHIPPED / "versions").exists()
    assert DictionaryFiles().version() == "base"
