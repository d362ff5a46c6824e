"""The indexer's batch logic: bulk writes, deletes, ordering on failure, poison records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cataloop.domain.catalog.listing import ProductListing
from cataloop.domain.search.documents import BulkFailure, BulkOutcome, ProductDocument
from cataloop.services.indexing import index_product_changes


class RecordingIndex:
    """A SearchIndex test double that records calls and applies external-version rules."""

    def __init__(self, fail_ids: Sequence[str] = ()) -> None:
        self.versions: dict[str, int] = {}
        self.fail_ids = set(fail_ids)
        self.calls: list[str] = []

    def bulk_upsert(
        self, documents: Sequence[ProductDocument], vectors: Any = None, *, index: str | None = None
    ) -> BulkOutcome:
        self.calls.append("upsert")
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
        outcome = BulkOutcome()
        for doc_id, _version in items:
            self.versions.pop(doc_id, None)
            outcome.deleted += 1
        return outcome


def _image(product_id: str, version: int, **listing: Any) -> dict[str, Any]:
    return {
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


def _record(
    sequence: int, name: str, new: dict[str, Any] | None, old: dict[str, Any] | None = None
) -> dict[str, Any]:
    key = (new or old or {}).get("product_id", "?")
    return {
        "eventName": name,
        "dynamodb": {
            "SequenceNumber": str(sequence),
            "Keys": {"product_id": key},
            "NewImage": new,
            "OldImage": old,
        },
    }


def _no_children(ids: list[str]) -> list[ProductListing]:
    return []


def test_upserts_and_deletes_go_in_bulk_and_stale_versions_are_not_failures() -> None:
    index = RecordingIndex()
    index.versions["b"] = 5
    records = [
        _record(1, "INSERT", _image("a", 1)),
        _record(2, "MODIFY", _image("b", 3)),  # older than what is indexed
        _record(3, "REMOVE", None, _image("c", 2)),
    ]
    result = index_product_changes(records, index, _no_children)
    assert (result.indexed, result.stale, result.deleted) == (1, 1, 1)
    assert result.response() == {"batchItemFailures": []}
    assert index.calls == ["upsert", "delete"]


def test_a_retryable_failure_reports_that_record_and_every_later_one() -> None:
    index = RecordingIndex(fail_ids=["b"])
    records = [_record(n, "INSERT", _image(pid, 1)) for n, pid in enumerate(["a", "b", "c"], start=10)]
    result = index_product_changes(records, index, _no_children)
    assert result.failed_sequence_numbers == ["11", "12"]


def test_a_poison_record_is_reported_with_a_reason_and_good_records_are_still_indexed() -> None:
    index = RecordingIndex()
    broken = _image("p", 1)
    del broken["listing"]["title"]
    records = [_record(1, "INSERT", _image("a", 1)), _record(2, "INSERT", broken)]
    result = index_product_changes(records, index, _no_children)
    assert index.versions == {"a": 1}
    assert result.failed_sequence_numbers == ["2"]
    assert result.rejected and "title" in result.rejected[0]


def test_bundle_children_are_looked_up_and_named_on_the_parent() -> None:
    index = RecordingIndex()
    captured: list[ProductDocument] = []
    original = index.bulk_upsert

    def capture(
        documents: Sequence[ProductDocument], vectors: Any = None, *, index: str | None = None
    ) -> BulkOutcome:
        captured.extend(documents)
        return original(documents)

    index.bulk_upsert = capture  # type: ignore[method-assign]
    child = ProductListing(product_id="c1", title="야쿠르트 라이트 65ml", category_path=["발효유"])
    parent = _image("set", 1, title="야쿠르트 세트", child_ids=["c1"])
    index_product_changes([_record(1, "INSERT", parent)], index, lambda ids: [child] if ids == ["c1"] else [])
    assert captured[0].child_names == ["야쿠르트 라이트 65ml"]
