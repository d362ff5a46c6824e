"""The indexer's batch logic on domain changes: bulk writes, deletes, ordering on failure, poison records,
bundle children read through the product store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from pydantic import ValidationError

from cataloop.adapters.memory import InMemoryProductStore
from cataloop.domain.catalog.listing import ProductListing
from cataloop.domain.catalog.stored import StoredProduct
from cataloop.domain.search.changes import ProductChanged
from cataloop.domain.search.documents import BulkFailure, BulkOutcome, ProductDocument
from cataloop.errors import InvalidInput
from cataloop.services.indexing import index_product_changes


class RecordingIndex:
    """A SearchIndex test double that records calls and applies external-version rules."""

    def __init__(self, fail_ids: Sequence[str] = ()) -> None:
        self.versions: dict[str, int] = {}
        self.fail_ids = set(fail_ids)
        self.calls: list[str] = []
        self.documents: list[ProductDocument] = []
        self.deleted: list[tuple[str, int]] = []

    def bulk_upsert(
        self, documents: Sequence[ProductDocument], vectors: Any = None, *, index: str | None = None
    ) -> BulkOutcome:
        self.calls.append("upsert")
        self.documents.extend(documents)
        outcome = BulkOutcome()
        for document in documents:
            if document.id in self.fail_ids:
                outcome.failed.append(
                    BulkFailure(id=document.id, status=429, reason="throttled", retryable=True)
                )
            elif document.version <= self.versions.get(document.id, 0):
                outcome.stale_skipped.append(document.id)
            else:
                self.versions[document.id] = document.version
                outcome.indexed += 1
        return outcome

    def bulk_delete(self, items: Sequence[tuple[str, int]], *, index: str | None = None) -> BulkOutcome:
        self.calls.append("delete")
        self.deleted.extend(items)
        outcome = BulkOutcome()
        for doc_id, _version in items:
            self.versions.pop(doc_id, None)
            outcome.deleted += 1
        return outcome


def _product(product_id: str, version: int, **listing: Any) -> StoredProduct:
    return StoredProduct.model_validate(
        {
            "product_id": product_id,
            "version": version,
            "status": "PENDING",
            "source_event_id": "e",
            "created_at": "t",
            "updated_at": "t",
            "listing": {
                "product_id": product_id,
                "title": listing.get("title", f"title {product_id}"),
                "category_path": ["Coffee"],
                **{k: v for k, v in listing.items() if k != "title"},
            },
        }
    )


def _written(sequence: int, product: StoredProduct) -> ProductChanged:
    return ProductChanged(
        product_id=product.product_id, version=product.version, product=product, sequence_number=str(sequence)
    )


def _deleted(sequence: int, product_id: str, old_version: int) -> ProductChanged:
    return ProductChanged(
        product_id=product_id, version=old_version + 1, deleted=True, sequence_number=str(sequence)
    )


def _unreadable(sequence: int, product_id: str, problem: str) -> ProductChanged:
    return ProductChanged(product_id=product_id, version=0, sequence_number=str(sequence), problem=problem)


class CountingStore(InMemoryProductStore):
    """The in-memory product store, counting `listings` calls."""

    def __init__(self) -> None:
        super().__init__()
        self.lookups: list[list[str]] = []

    def listings(self, product_ids: Sequence[str]) -> list[ProductListing]:
        self.lookups.append(list(product_ids))
        return super().listings(product_ids)


def test_upserts_and_deletes_go_in_bulk_and_stale_versions_are_not_failures() -> None:
    index = RecordingIndex()
    index.versions["b"] = 5
    changes = [
        _written(1, _product("a", 1)),
        _written(2, _product("b", 3)),  # older than what is indexed
        _deleted(3, "c", 2),
    ]
    store = CountingStore()
    result = index_product_changes(changes, index, store)
    assert (result.indexed, result.stale, result.deleted) == (1, 1, 1)
    assert result.response() == {"batchItemFailures": []}
    assert index.calls == ["upsert", "delete"]
    assert index.deleted == [("c", 3)]  # the deletion carries the deleted version + 1
    assert store.lookups == []  # no bundle in the batch: no read


def test_a_retryable_failure_reports_that_change_and_every_later_one() -> None:
    index = RecordingIndex(fail_ids=["b"])
    changes = [_written(n, _product(pid, 1)) for n, pid in enumerate(["a", "b", "c"], start=10)]
    result = index_product_changes(changes, index, CountingStore())
    assert result.failed_sequence_numbers == ["11", "12"]
    assert result.response() == {"batchItemFailures": [{"itemIdentifier": "11"}, {"itemIdentifier": "12"}]}


def test_a_poison_change_is_reported_with_a_reason_and_good_changes_are_still_indexed() -> None:
    index = RecordingIndex()
    changes = [
        _written(1, _product("a", 1)),
        _unreadable(
            2, "p", "InvalidInput: product p: stored item is not a valid product (listing.title: ...)"
        ),
    ]
    result = index_product_changes(changes, index, CountingStore())
    assert index.versions == {"a": 1}
    assert result.failed_sequence_numbers == ["2"]
    assert result.rejected and "title" in result.rejected[0] and result.rejected[0].startswith("p: ")


def test_bundle_children_are_read_once_per_batch_and_named_on_the_parent() -> None:
    index = RecordingIndex()
    store = CountingStore()
    for child_id, title in (("c1", "야쿠르트 라이트 65ml"), ("c2", "야쿠르트 에이스 65ml")):
        store.create_pending(
            ProductListing(product_id=child_id, title=title, category_path=["발효유"]), "e", "t"
        )
    changes = [
        _written(1, _product("set", 1, title="야쿠르트 세트", child_ids=["c1", "missing"])),
        _written(2, _product("set2", 1, title="야쿠르트 세트 2", child_ids=["c2", "c1"])),
    ]
    index_product_changes(changes, index, store)
    assert store.lookups == [["c1", "missing", "c2", "c1"]]  # one read for the whole batch
    assert [document.child_names for document in index.documents] == [
        ["야쿠르트 라이트 65ml"],
        ["야쿠르트 에이스 65ml", "야쿠르트 라이트 65ml"],
    ]


def test_a_bundle_whose_child_cannot_be_read_is_reported_and_the_other_bundles_are_indexed() -> None:
    class OneBadChild(CountingStore):
        def listings(self, product_ids: Sequence[str]) -> list[ProductListing]:
            if "bad" in product_ids:
                self.lookups.append(list(product_ids))
                raise InvalidInput("product bad: stored listing is not valid (title: missing)")
            return super().listings(product_ids)

    store = OneBadChild()
    store.create_pending(
        ProductListing(product_id="c1", title="야쿠르트 라이트", category_path=["발효유"]), "e", "t"
    )
    index = RecordingIndex()
    changes = [
        _written(1, _product("set", 1, child_ids=["c1"])),
        _written(2, _product("broken-set", 1, child_ids=["bad"])),
        _written(3, _product("single", 1)),
    ]
    result = index_product_changes(changes, index, store)
    assert sorted(index.versions) == ["set", "single"]
    assert result.failed_sequence_numbers == ["2", "3"]  # the ordering rule: 3 is retried after 2
    assert result.rejected == [
        "broken-set: InvalidInput: product bad: stored listing is not valid (title: missing)"
    ]


def test_a_change_is_exactly_one_of_written_deleted_or_unreadable() -> None:
    product = _product("a", 2)
    with pytest.raises(ValidationError, match="exactly one of"):
        ProductChanged(product_id="a", version=2, product=product, deleted=True, sequence_number="1")
    with pytest.raises(ValidationError, match="exactly one of"):
        ProductChanged(product_id="a", version=2, sequence_number="1")
    with pytest.raises(ValidationError, match="stored product's"):
        ProductChanged(product_id="a", version=3, product=product, sequence_number="1")
    with pytest.raises(ValidationError, match="at least 1"):
        ProductChanged(product_id="a", version=0, deleted=True, sequence_number="1")
