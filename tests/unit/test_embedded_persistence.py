"""Persistence of the embedded indexes: a snapshot plus an append-only, checksummed journal per generation.
A reopen sees exactly what was committed (documents, versions, vectors, tombstones); a torn journal tail
(a crash mid-append) is replayed up to the last complete entry; a commit that reached the journal but not
tantivy is redone on open; the journal is compacted into the snapshot when it grows."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from cataloop.adapters import embedded_generations
from cataloop.adapters.embedded_generations import JOURNAL_FILE, STATE_FILE
from cataloop.adapters.embedded_learnings import EmbeddedLearningIndex
from cataloop.adapters.embedded_search import EmbeddedSearchIndex
from cataloop.adapters.embedded_search_storage import Generation
from cataloop.adapters.korean_analyzer import KoreanAnalysisConfig, KoreanAnalyzer
from cataloop.domain.catalog.listing import ProductListing
from cataloop.domain.knowledge.learning_search import LearningFilter
from cataloop.domain.search.documents import LearningDocument, ProductDocument, product_document
from cataloop.domain.search.plan import build_search_plan

DIMENSION = 8
GENERATION = "products-v0001"


@pytest.fixture(scope="module")
def analyzer() -> KoreanAnalyzer:
    return KoreanAnalyzer(KoreanAnalysisConfig(user_dictionary=("야쿠르트",)))


def _document(number: int, version: int = 1, title: str | None = None) -> ProductDocument:
    listing = ProductListing(
        product_id=f"p{number}",
        title=title or f"나이키 운동화 모델{number}",
        category_path=["패션", "신발"],
        price=1000 + number,
        metadata_keywords="러닝화|스니커즈",
    )
    # Odd products carry an attribute, so journalled sources hold `attr_` fields (the redo rebuilds them).
    return product_document(listing, {"attributes": {"Color": "흰색"}} if number % 2 else None, version)


def _vector(number: int, version: int = 1) -> list[float]:
    return list(np.random.default_rng(number * 100 + version).normal(size=DIMENSION))


def _open(path: Path, analyzer: KoreanAnalyzer) -> EmbeddedSearchIndex:
    index = EmbeddedSearchIndex(path, analyzer, None, DIMENSION)
    index.ensure_index()
    return index


def _snapshot(index: EmbeddedSearchIndex) -> tuple[dict[str, int], dict[str, int], dict[str, object], dict]:
    generation = index._target(None)
    vectors = {doc_id: generation.vectors[row].tolist() for doc_id, row in generation.vector_rows.items()}
    return dict(generation.versions), dict(generation.tombstones), dict(generation.sources), vectors


def _ids(index: EmbeddedSearchIndex, query: str) -> set[str]:
    return {hit.id for hit in index.search(build_search_plan(query, mode="keyword", size=50)).hits}


def test_reopen_after_many_single_upserts_returns_the_same_documents_versions_and_vectors(
    tmp_path: Path, analyzer: KoreanAnalyzer, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = _open(tmp_path, analyzer)
    for number in range(40):
        index.bulk_upsert([_document(number)], vectors=[_vector(number)])
    for number in range(0, 40, 3):  # updates move rows in place; new versions replace old vectors
        index.bulk_upsert([_document(number, 2, f"아디다스 축구화 {number}")], vectors=[_vector(number, 2)])
    index.bulk_delete([(f"p{number}", 5) for number in range(1, 40, 7)])
    before = _snapshot(index)
    index.close()
    journal = tmp_path / GENERATION / JOURNAL_FILE
    assert len(journal.read_bytes().splitlines()) == 40 + 14 + 1  # one entry per commit, nothing rewritten

    def no_redo(self: Generation, entries: list[dict[str, object]]) -> None:
        raise AssertionError("a clean reopen has nothing to redo in tantivy")

    monkeypatch.setattr(Generation, "_redo", no_redo)
    reopened = _open(tmp_path, analyzer)
    assert _snapshot(reopened) == before
    deleted = {f"p{number}" for number in range(1, 40, 7)}
    assert _ids(reopened, "축구화") == {f"p{number}" for number in range(0, 40, 3)} - deleted
    assert "p1" not in _ids(reopened, "운동화") and "p2" in _ids(reopened, "운동화")
    hybrid = build_search_plan("운동화", mode="hybrid", size=3)
    assert reopened.search(hybrid, _vector(2)).hits[0].id == "p2"  # the exact vector is back
    reopened.close()


def test_deletes_and_tombstones_survive_a_reopen(tmp_path: Path, analyzer: KoreanAnalyzer) -> None:
    index = _open(tmp_path, analyzer)
    index.bulk_upsert([_document(1), _document(2)], vectors=[_vector(1), _vector(2)])
    assert index.delete("p1", 3).deleted == 1
    index.close()

    reopened = _open(tmp_path, analyzer)
    assert _ids(reopened, "운동화") == {"p2"}
    assert reopened._target(None).tombstones == {"p1": 3}
    assert reopened.bulk_upsert([_document(1, 2)], vectors=[_vector(1)]).stale_skipped == ["p1"]
    assert reopened.bulk_upsert([_document(1, 4)], vectors=[_vector(1)]).indexed == 1
    reopened.close()
    again = _open(tmp_path, analyzer)
    assert _ids(again, "운동화") == {"p1", "p2"} and again._target(None).tombstones == {}
    again.close()


def test_a_torn_last_journal_line_is_replayed_up_to_the_last_complete_entry(
    tmp_path: Path, analyzer: KoreanAnalyzer
) -> None:
    index = _open(tmp_path, analyzer)
    for number in range(5):
        index.bulk_upsert([_document(number)], vectors=[_vector(number)])
    index.close()
    journal = tmp_path / GENERATION / JOURNAL_FILE
    complete = journal.read_bytes()
    last = complete.splitlines(keepends=True)[-1]
    # A crash in the middle of appending a sixth entry: half a line, no newline.
    journal.write_bytes(complete + last[: len(last) // 2])

    reopened = _open(tmp_path, analyzer)
    assert set(reopened._target(None).versions) == {f"p{number}" for number in range(5)}
    assert journal.read_bytes() == complete  # the torn tail is cut off, so the next append starts clean
    reopened.bulk_upsert([_document(5)], vectors=[_vector(5)])
    reopened.close()

    # A complete line whose checksum does not match (a torn sector) ends the replay the same way.
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(b"".join(lines[:-1]) + lines[-1].replace(b"p5", b"p9"))
    again = _open(tmp_path, analyzer)
    assert set(again._target(None).versions) == {f"p{number}" for number in range(5)}
    again.close()


def test_a_commit_journalled_but_not_in_tantivy_is_redone_on_open(
    tmp_path: Path, analyzer: KoreanAnalyzer
) -> None:
    index = _open(tmp_path / "live", analyzer)
    index.bulk_upsert([_document(number) for number in range(4)], vectors=[_vector(n) for n in range(4)])
    index.close()
    crashed = tmp_path / "crashed"
    shutil.copytree(tmp_path / "live", crashed)  # tantivy as of the first commit

    index = _open(tmp_path / "live", analyzer)
    index.bulk_upsert([_document(1, 2, "아디다스 축구화")], vectors=[_vector(1, 2)])
    index.delete("p2", 2)
    index.close()
    # The process died after appending these two entries to the journal, before tantivy committed them.
    shutil.copy(tmp_path / "live" / GENERATION / JOURNAL_FILE, crashed / GENERATION / JOURNAL_FILE)

    reopened = _open(crashed, analyzer)
    assert _ids(reopened, "운동화") == {"p0", "p3"}  # p1 renamed, p2 deleted: no resurrection
    assert _ids(reopened, "축구화") == {"p1"}
    assert reopened._target(None).tombstones == {"p2": 2}
    reopened.close()
    assert _ids(_open(crashed, analyzer), "운동화") == {"p0", "p3"}  # the redo was committed once


def test_the_journal_is_compacted_into_the_snapshot_when_it_grows(
    tmp_path: Path, analyzer: KoreanAnalyzer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedded_generations, "MIN_COMPACT_BYTES", 0)
    monkeypatch.setattr(embedded_generations, "MAX_JOURNAL_ENTRIES", 10)
    index = _open(tmp_path, analyzer)
    directory = tmp_path / GENERATION
    journal = directory / JOURNAL_FILE
    sizes = []
    for number in range(25):
        index.bulk_upsert([_document(number)], vectors=[_vector(number)])
        sizes.append(journal.stat().st_size)
    assert (directory / STATE_FILE).exists()
    assert any(later < earlier for earlier, later in itertools.pairwise(sizes))  # it shrank
    assert len(journal.read_bytes().splitlines()) <= 10
    assert len(list(directory.glob("vectors*.npy"))) == 1  # older snapshots' vector files are gone
    before = _snapshot(index)
    index.close()

    reopened = _open(tmp_path, analyzer)
    assert _snapshot(reopened) == before
    assert len(_ids(reopened, "운동화")) == 25
    reopened.close()


def test_a_snapshot_of_the_old_format_still_opens(tmp_path: Path, analyzer: KoreanAnalyzer) -> None:
    index = _open(tmp_path, analyzer)
    index.bulk_upsert([_document(1), _document(2)], vectors=[_vector(1), _vector(2)])
    generation = index._target(None)
    generation.compact()
    before = _snapshot(index)
    index.close()
    directory = tmp_path / GENERATION
    # The format before the journal: state.json without seq, the matrix in vectors.npy.
    (vectors_file,) = directory.glob("vectors-*.npy")
    vectors_file.rename(directory / "vectors.npy")
    state = (directory / STATE_FILE).read_text(encoding="utf-8")
    legacy = {key: value for key, value in json.loads(state).items() if key not in ("seq", "vectors_file")}
    (directory / STATE_FILE).write_text(json.dumps(legacy), encoding="utf-8")
    (directory / JOURNAL_FILE).unlink()

    reopened = _open(tmp_path, analyzer)
    assert _snapshot(reopened) == before
    reopened.bulk_upsert([_document(3)], vectors=[_vector(3)])
    reopened.close()
    assert set(_open(tmp_path, analyzer)._target(None).versions) == {"p1", "p2", "p3"}


def _learning(learning_id: str, version: int = 1) -> LearningDocument:
    return LearningDocument(
        id=learning_id, version=version, text=f"규칙 {learning_id}", scope_prefixes=["식품"]
    )


def test_learnings_reopen_from_snapshot_and_journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded_generations, "MIN_COMPACT_BYTES", 0)
    monkeypatch.setattr(embedded_generations, "MAX_JOURNAL_ENTRIES", 4)
    index = EmbeddedLearningIndex(tmp_path, None, DIMENSION)
    index.ensure_index()
    for number in range(9):
        index.bulk_upsert([_learning(f"l{number}")], vectors=[_vector(number)])
    index.bulk_delete([("l3", 2)])
    index.bulk_upsert([_learning("l4", 2)], vectors=[_vector(4, 2)])
    generation = index._target(None)
    before = (
        dict(generation.versions),
        dict(generation.tombstones),
        generation.vectors.copy(),
        list(generation.ids),
    )

    reopened = EmbeddedLearningIndex(tmp_path, None, DIMENSION)
    again = reopened._target(None)
    assert (dict(again.versions), dict(again.tombstones), list(again.ids)) == (
        before[0],
        before[1],
        before[3],
    )
    np.testing.assert_array_equal(again.vectors, before[2])
    hits = reopened.similar(_vector(4, 2), LearningFilter(), k=1)
    assert hits[0].id == "l4"
    assert reopened.bulk_upsert([_learning("l3", 1)], vectors=[_vector(3)]).stale_skipped == ["l3"]


def test_the_memoised_analysis_matches_the_analyzer(analyzer: KoreanAnalyzer) -> None:
    """Indexing parses each distinct text once and derives both the analysed and the joined (shingled)
    terms from that token stream; both must equal what `KoreanAnalyzer` itself returns."""
    index = EmbeddedSearchIndex(None, analyzer, None, DIMENSION)
    texts = [
        json.loads(line)["product"]["title"]
        for line in (Path(__file__).resolve().parents[2] / "data" / "korean-mall" / "products.jsonl")
        .read_text(encoding="utf-8")
        .splitlines()
        if line.strip()
    ] + ["주방용 세제", "주방 세제", "Apple iPhone 15 Case", "", "의 을 를"]
    for text in texts:
        assert index._analyzed(text) == analyzer.analyze(text), text
        assert index._joined(text) == analyzer.joined(text), text
        assert index._joined(text) == analyzer.joined(text), text  # from the memo, the same
