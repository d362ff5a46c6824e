"""The rebuild's contract without a cloud: nothing is swapped when documents fail, retryable failures are
retried with backoff, and items deleted during the build are deleted after the swap."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from cataloop.adapters.embedded_learnings import EmbeddedLearningIndex
from cataloop.adapters.memory import InMemoryProductStore
from cataloop.domain.catalog.listing import ProductListing
from cataloop.domain.knowledge.learning import ValueLexicon
from cataloop.domain.knowledge.learning_search import LearningFilter, learning_document
from cataloop.domain.knowledge.tree import Learning, LearningStatus
from cataloop.domain.search.documents import BulkFailure, BulkOutcome
from cataloop.errors import CataloopError, InvalidInput
from cataloop.services.reindex import reindex_learnings, reindex_products

AT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _item(learning_id: str, version: int = 1) -> Learning:
    return Learning(
        id=learning_id, version=version, text=f"'{learning_id}' is a Brand in 발효유", scope_path=["발효유"],
        attributes=["Brand"], directive=ValueLexicon(attribute="Brand", values=[learning_id]),
        status=LearningStatus.ACTIVE, valid_from=AT, created_at=AT, updated_at=AT,
    )  # fmt: skip


class ListStore:
    """The knowledge store's reads a rebuild uses, over a list, two learnings per page; `between_scans` runs
    once, after the first scan."""

    def __init__(self, items: list[Learning], between_scans: Any = None) -> None:
        self.items = items
        self.scans = 0
        self._between = between_scans

    def scan_learnings(self) -> Iterator[list[Learning]]:
        if self.scans == 1 and self._between is not None:
            self._between(self)
        self.scans += 1
        snapshot = list(self.items)
        for start in range(0, len(snapshot), 2):
            yield snapshot[start : start + 2]

    def approximate_count(self) -> int:
        return len(self.items)


class FlakyIndex(EmbeddedLearningIndex):
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
        reindex_learnings(index, ListStore([_item("a"), _item("b")]), pause=lambda _: None)
    assert index.alias_targets() == [old]


def test_throttled_documents_are_retried_with_backoff_and_the_alias_moves() -> None:
    index = FlakyIndex({"b": 429})
    old = index.ensure_index()
    pauses: list[float] = []
    report = reindex_learnings(index, ListStore([_item("a"), _item("b"), _item("c")]), pause=pauses.append)
    assert (report.indexed, report.previous_indices, index.alias_targets()) == (3, [old], [report.new_index])
    assert pauses == [1.0]


def test_changes_made_during_the_build_are_caught_up_after_the_swap() -> None:
    def edit(store: ListStore) -> None:
        store.items = [_item("a", version=2), _item("c")]  # "b" deleted, "a" edited, "c" created

    index = FlakyIndex({})
    index.ensure_index()
    progress: list[int] = []
    report = reindex_learnings(
        index, ListStore([_item("a"), _item("b")], between_scans=edit), on_progress=progress.append
    )
    assert (report.scanned, report.caught_up, report.deleted_after_swap) == (2, 2, 1)
    assert progress == [2]
    found = index.similar([1.0, 0.0], LearningFilter(), k=10)
    assert sorted(hit.id for hit in found) == ["a", "c"]
    # Version 2 of "a" is indexed: writing version 2 again is stale.
    assert index.bulk_upsert([learning_document(_item("a", 2))], [[1.0, 0.0]]).stale_skipped == ["a"]


class ProductIndexSpy:
    """Records the documents of each bulk call; every write applies."""

    alias = "products"

    def __init__(self) -> None:
        self.generation = 0
        self.targets: list[str] = []
        self.documents: list[Any] = []

    def alias_targets(self) -> list[str]:
        return self.targets

    def create_index(self) -> str:
        self.generation += 1
        return f"products-v{self.generation:04d}"

    def swap_alias(self, new_index: str) -> None:
        self.targets = [new_index]

    def bulk_upsert(self, documents: Sequence[Any], vectors: Any = None, *, index: str | None = None) -> Any:
        self.documents.extend(documents)
        return BulkOutcome(indexed=len(documents))

    def bulk_delete(self, items: Sequence[tuple[str, int]], *, index: str | None = None) -> Any:
        return BulkOutcome(deleted=len(items))


def test_products_are_rebuilt_from_the_store_with_bundle_children_from_other_pages() -> None:
    store = InMemoryProductStore(page_size=2)
    for product_id, title, children in (
        ("a-set", "야쿠르트 세트", ["z-child"]),
        ("b", "나이키 운동화", []),
        ("z-child", "야쿠르트 라이트", []),
    ):
        listing = ProductListing(
            product_id=product_id, title=title, category_path=["식품"], child_ids=children
        )
        store.create_pending(listing, f"e-{product_id}", "2026-11-01T12:00:00Z")
    index = ProductIndexSpy()
    totals: list[int] = []
    report = reindex_products(index, store, on_total=totals.append)
    assert (report.scanned, report.indexed, report.new_index, totals) == (3, 3, "products-v0001", [3])
    bundle = next(document for document in index.documents if document.id == "a-set")
    assert bundle.child_names == ["야쿠르트 라이트"]  # the child is on the second page


def test_an_item_the_store_cannot_read_stops_the_rebuild_before_the_swap() -> None:
    class BrokenStore(ListStore):
        def scan_learnings(self) -> Iterator[list[Learning]]:
            yield [_item("a")]
            raise InvalidInput("learning b: stored item is not a valid learning (text: too short)")

    index = FlakyIndex({})
    old = index.ensure_index()
    with pytest.raises(CataloopError, match="alias not swapped: learning b"):
        reindex_learnings(index, BrokenStore([]))
    assert index.alias_targets() == [old]
