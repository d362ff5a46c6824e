"""Index a batch of Products stream records with one bulk call, reporting partial failures.

Why not Powertools' BatchProcessor: it calls a handler per record, while the search engines want one bulk
request per batch. This keeps its contract (`{"batchItemFailures": [...]}` with sequence numbers) and
its ordering rule: from the first record that must be retried, every later record is reported too, so a
retry never applies an older change after a newer one (external versions make the replays harmless).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from ..domain.catalog import StoredProduct
from ..domain.products import ProductListing
from ..domain.search_document import ProductDocument, product_document
from ..ports import SearchIndex

ChildLookup = Callable[[list[str]], list[ProductListing]]


@dataclass
class IndexBatchResult:
    indexed: int = 0
    deleted: int = 0
    stale: int = 0
    rejected: list[str] = field(default_factory=list)  # poison records: reported, retried, then dead-lettered
    failed_sequence_numbers: list[str] = field(default_factory=list)

    def response(self) -> dict[str, Any]:
        return {"batchItemFailures": [{"itemIdentifier": s} for s in self.failed_sequence_numbers]}


@dataclass
class _Change:
    sequence: str
    product_id: str
    document: ProductDocument | None = None
    delete_version: int | None = None
    error: str | None = None


def _change_from_record(record: dict[str, Any], children: ChildLookup) -> _Change:
    """One stream record (already deserialised images) -> the index change it asks for."""
    dynamodb = record["dynamodb"]
    sequence = str(dynamodb["SequenceNumber"])
    product_id = str(dynamodb.get("Keys", {}).get("product_id", "?"))
    try:
        if record["eventName"] == "REMOVE":
            old = dynamodb.get("OldImage") or {}
            return _Change(sequence, product_id, delete_version=int(old.get("version", 0)) + 1)
        stored = StoredProduct.model_validate(dynamodb["NewImage"])
        bundle = children(stored.listing.child_ids) if stored.listing.child_ids else []
        enrichment = stored.enrichment or None
        document = product_document(stored.listing, enrichment, stored.version, bundle)
        return _Change(sequence, stored.product_id, document=document)
    except (ValidationError, KeyError, TypeError, ValueError) as error:
        return _Change(sequence, product_id, error=f"{type(error).__name__}: {error}"[:500])


def index_product_changes(
    records: Sequence[dict[str, Any]], index: SearchIndex, children: ChildLookup
) -> IndexBatchResult:
    """Apply a batch of Products stream records (images deserialised to plain values) to `index`."""
    result = IndexBatchResult()
    changes = [_change_from_record(record, children) for record in records]
    upserts = [c for c in changes if c.document is not None]
    deletes = [c for c in changes if c.delete_version is not None]
    failed_ids: set[str] = set()
    if upserts:
        outcome = index.bulk_upsert([c.document for c in upserts if c.document is not None])
        result.indexed += outcome.indexed
        result.stale += len(outcome.stale_skipped)
        failed_ids.update(f.id for f in outcome.failed)
    if deletes:
        outcome = index.bulk_delete([(c.product_id, c.delete_version or 0) for c in deletes])
        result.deleted += outcome.deleted
        result.stale += len(outcome.stale_skipped)
        failed_ids.update(f.id for f in outcome.failed)
    first_failure: int | None = None
    for position, change in enumerate(changes):
        if change.error is not None:
            result.rejected.append(f"{change.product_id}: {change.error}")
        if change.error is not None or change.product_id in failed_ids:
            first_failure = position
            break
    if first_failure is not None:
        result.failed_sequence_numbers = [c.sequence for c in changes[first_failure:]]
    return result
