"""The rebuild's contract without a cloud: nothing is swapped when documents fail, retryable failures are
retried with backoff, and items deleted during the build are deleted after the swap."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from cataloop.adapters.dynamodb_codec import from_item, to_item
from cataloop.adapters.embedded_learnings import LocalLearningIndex
from cataloop.domain.knowledge.learning import ValueLexicon
from cataloop.domain.knowledge.learning_search import LearningFilter, learning_document
from cataloop.domain.knowledge.tree import Learning, LearningStatus, path_key
from cataloop.domain.search.documents import BulkFailure, BulkOutcome
from cataloop.errors import CataloopError
from cataloop.services.indexing import stored_learning
from cataloop.services.reindex import reindex_learnings

AT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _item(learning_id: str, version: int = 1) -> dict[str, Any]:
    learning = Learning(
        id=learning_id, version=version, text=f"'{learning_id}' is a Brand in 발효유", scope_path=["발효유"],
        attributes=["Brand"], directive=ValueLexicon(attribute="Brand", values=[learning_id]),
        status=LearningStatus.ACTIVE, valid_from=AT, created_at=AT, updated_at=AT,
    )  # fmt: skip
    key = {
        "pk": f"NODE#{path_key(learning.scope_path)}",
        "sk": f"LEARNING#{learning.id}",
        "entity": "learning",
    }
    return from_item(to_item({**key, **learning.model_dump(mode="json")}))


class ListTable:
    """A TableSource over a list, two items per page; `between_scans` runs once, after the first scan."""

    table = "knowledge"

    def __init__(self, items: list[dict[str, Any]], between_scans: Any = None) -> None:
        self.items = items
        self.scans = 0
        self._between = between_scans

    def pages(self) -> Iterator[list[dict[str, Any]]]:
        if self.scans == 1 and self._between is not None:
            self._between(self)
        self.scans += 1
        snapshot = list(self.items)
        for start in range(0, len(snapshot), 2):
            yield snapshot[start : start + 2]

    def approximate_count(self) -> int:
        return len(self.items)


class FlakyIndex(LocalLearningIndex):
    """Fails the listed ids once with `status`, then behaves."""

    def __init__(self, failures: dict[str, int]) -> None:
        super().__init__(None, None, 2)
        self.failures = dict(failures)

    def bulk_upsert(
        self, documents: Sequence[Any], vectors: Any = None, *, index: str | None = None
    ) -> BulkOutcome:
        failing = [d for d in documents if d.id in self.failures]
        passing = [d for d in documents if d.id not in self.failures]
        outcome = super().bulk_upsert(passing, [[1.0, 0.0]] * len(passing), index=index)
        for document in failing:
            status = self.failures.pop(document.id)
            outcome.failed.append(
                BulkFailure(id=document.id, status=status, reason="x", retryable=status == 429)
            )
        return outcome


def test_a_refused_document_stops_the_rebuild_before_the_swap() -> None:
    index = FlakyIndex({"b": 400})
    old = index.ensure_index()
    with pytest.raises(CataloopError, match="refused"):
        reindex_learnings(index, ListTable([_item("a"), _item("b")]), pause=lambda _: None)
    assert index.alias_targets() == [old]


def test_throttled_documents_are_retried_with_backoff_and_the_alias_moves() -> None:
    index = FlakyIndex({"b": 429})
    old = index.ensure_index()
    pauses: list[float] = []
    report = reindex_learnings(index, ListTable([_item("a"), _item("b"), _item("c")]), pause=pauses.append)
    assert (report.indexed, report.previous_indices, index.alias_targets()) == (3, [old], [report.new_index])
    assert pauses == [1.0]


def test_changes_made_during_the_build_are_caught_up_after_the_swap() -> None:
    def edit(table: ListTable) -> None:
        table.items = [_item("a", version=2), _item("c")]  # "b" deleted, "a" edited, "c" created

    index = FlakyIndex({})
    index.ensure_index()
    progress: list[int] = []
    report = reindex_learnings(
        index, ListTable([_item("a"), _item("b")], between_scans=edit), on_progress=progress.append
    )
    assert (report.scanned, report.caught_up, report.deleted_after_swap) == (2, 2, 1)
    assert progress == [2]
    found = index.similar([1.0, 0.0], LearningFilter(), k=10)
    assert sorted(hit.id for hit in found) == ["a", "c"]
    # Version 2 of "a" is indexed: writing version 2 again is stale.
    assert index.bulk_upsert(
        [learning_document(stored_learning(_item("a", 2)))], [[1.0, 0.0]]
    ).stale_skipped == ["a"]
