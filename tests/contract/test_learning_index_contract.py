"""The `LearningIndex` contract (cataloop.ports), asserted the same way on both engines: `EmbeddedLearningIndex`
on disk in a temporary directory, and `OpenSearchLearningIndex` over `FakeOpenSearch` (OpenSearch-shaped
responses). External versions, per-document bulk outcomes, deletes with tombstones, alias swaps, and
filtered similarity with OpenSearch's cosinesimil scores. The k-NN request body is snapshot-tested.

Set UPDATE_SNAPSHOTS=1 to rewrite the request snapshot after an intended change; review the diff.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import pytest

from cataloop.adapters.embedded_learnings import EmbeddedLearningIndex
from cataloop.adapters.korean_analyzer import nori_index_settings
from cataloop.adapters.opensearch_learnings import OpenSearchLearningIndex
from cataloop.adapters.opensearch_mapping import learnings_index_mapping
from cataloop.domain.knowledge.learning import ValueLexicon
from cataloop.domain.knowledge.learning_search import LearningFilter, learning_document
from cataloop.domain.knowledge.tree import Learning, LearningStatus
from cataloop.domain.search.documents import LearningDocument
from cataloop.ports import LearningIndex
from tests.contract.fake_opensearch import FakeOpenSearch

SNAPSHOT = (
    Path(__file__).resolve().parents[1] / "unit" / "snapshots" / "opensearch_learning_index_requests.json"
)
AT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

# Each axis is one topic; a text's vector counts its topic words, so nearness is predictable.
TOPICS = (("야쿠르트", "유산균", "yakult"), ("나이키", "운동화", "nike"), ("용량", "ml", "volume"))


class TopicEmbedder:
    dimension = len(TOPICS) + 1

    def embed(self, texts: list[str], kind: Literal["query", "passage"]) -> list[list[float]]:
        return [[float(sum(t.lower().count(w) for w in words)) for words in TOPICS] + [0.05] for t in texts]


def _document(
    learning_id: str,
    text: str,
    values: list[str],
    scope: list[str],
    version: int = 1,
    status: LearningStatus = LearningStatus.ACTIVE,
) -> LearningDocument:
    return learning_document(
        Learning(
            id=learning_id,
            version=version,
            text=text,
            scope_path=scope,
            attributes=["Brand"],
            directive=ValueLexicon(attribute="Brand", values=values),
            status=status,
            valid_from=AT,
            valid_to=AT if status is LearningStatus.RETIRED else None,
            created_at=AT,
            updated_at=AT,
        )
    )


def _yakult(version: int = 1, status: LearningStatus = LearningStatus.ACTIVE) -> LearningDocument:
    return _document(
        "l-yakult", "야쿠르트 is a Brand of 유산균 drinks", ["야쿠르트"], ["식품", "발효유"], version, status
    )


def _nike(version: int = 1) -> LearningDocument:
    return _document("l-nike", "나이키 is the Brand on 운동화 titles", ["나이키"], ["패션", "신발"], version)


def _root(version: int = 1) -> LearningDocument:
    return _document("l-root", "Yakult is a Brand, never a volume in ml", ["Yakult"], [], version)


def _opensearch(client: FakeOpenSearch) -> OpenSearchLearningIndex:
    mapping = learnings_index_mapping(TopicEmbedder.dimension, nori_index_settings([], []))
    return OpenSearchLearningIndex(client, "learnings", mapping=mapping, embedder=TopicEmbedder())


@pytest.fixture(params=["embedded", "opensearch"])
def index(request: pytest.FixtureRequest, tmp_path: Path) -> LearningIndex:
    if request.param == "embedded":
        return EmbeddedLearningIndex(tmp_path / "learnings", TopicEmbedder(), TopicEmbedder.dimension)
    return _opensearch(FakeOpenSearch())


def _query(text: str) -> list[float]:
    return TopicEmbedder().embed([text], "query")[0]


def _similar(index: LearningIndex, text: str, learning_filter: LearningFilter | None = None) -> list[str]:
    return [hit.id for hit in index.similar(_query(text), learning_filter or LearningFilter(), 10)]


def test_a_new_generation_serves_only_after_the_alias_swap(index: LearningIndex) -> None:
    old = index.ensure_index()
    assert (old, index.alias_targets(), index.ensure_index()) == ("learnings-v0001", [old], old)
    index.bulk_upsert([_yakult()])
    new = index.create_index()
    index.bulk_upsert([_nike(), _root()], index=new)
    assert _similar(index, "운동화") == ["l-yakult"]
    index.swap_alias(new)
    assert index.alias_targets() == [new]
    assert _similar(index, "운동화")[0] == "l-nike"


def test_older_or_equal_versions_are_stale_and_the_outcome_is_per_document(index: LearningIndex) -> None:
    index.ensure_index()
    assert index.bulk_upsert([_yakult(version=2)]).indexed == 1
    outcome = index.bulk_upsert([_yakult(version=1), _nike(), _yakult(version=2)])
    assert (outcome.indexed, sorted(outcome.stale_skipped), outcome.failed) == (
        1,
        ["l-yakult", "l-yakult"],
        [],
    )
    retired = index.bulk_upsert([_yakult(version=3, status=LearningStatus.RETIRED)])
    assert retired.indexed == 1
    assert _similar(index, "야쿠르트", LearningFilter(statuses=("retired",))) == ["l-yakult"]


def test_a_delete_needs_a_newer_version_and_leaves_a_tombstone(index: LearningIndex) -> None:
    index.ensure_index()
    index.bulk_upsert([_yakult(version=2), _nike()])
    assert index.bulk_delete([("l-yakult", 2)]).stale_skipped == ["l-yakult"]
    outcome = index.bulk_delete([("l-yakult", 3), ("l-absent", 1)])
    assert (outcome.deleted, outcome.stale_skipped, outcome.failed) == (2, [], [])
    assert "l-yakult" not in _similar(index, "야쿠르트")
    assert index.bulk_upsert([_yakult(version=3)]).stale_skipped == ["l-yakult"]
    assert index.bulk_upsert([_yakult(version=4)]).indexed == 1


def test_similar_ranks_by_meaning_within_the_filter_with_cosinesimil_scores(index: LearningIndex) -> None:
    index.ensure_index()
    index.bulk_upsert([_yakult(), _nike(), _root()])
    hits = index.similar(
        _query("유산균 야쿠르트"), LearningFilter.for_scope(["식품", "발효유"], "applies"), 5
    )
    assert [hit.id for hit in hits] == ["l-yakult", "l-root"]  # l-nike is scoped elsewhere
    assert 0.5 < hits[1].score < hits[0].score <= 1.0
    assert hits[0].source["scope_path"] == ["식품", "발효유"] and "embedding_text" not in hits[0].source
    assert len(index.similar(_query("야쿠르트"), LearningFilter(), 1)) == 1


def test_opensearch_requests_match_the_snapshot() -> None:
    client = FakeOpenSearch()
    index = _opensearch(client)
    index.ensure_index()
    index.bulk_upsert([_yakult(), _nike()])
    index.bulk_delete([("l-nike", 2)])
    index.similar(_query("야쿠르트"), LearningFilter.for_scope(["식품"], "within"), 3)
    requests = [request for request in client.requests if request["method"] != "PUT"]  # mapping: elsewhere
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(
            json.dumps(requests, ensure_ascii=False, indent=2, sort_keys=True) + "\n", "utf-8"
        )
    assert requests == json.loads(SNAPSHOT.read_text("utf-8"))
