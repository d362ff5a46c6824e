"""Index a batch of stream records (Products or Knowledge) with one bulk call, reporting partial failures.

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

from cataloop.domain.catalog.listing import ProductListing
from cataloop.domain.catalog.stored import StoredProduct
from cataloop.domain.knowledge.learning_search import learning_document
from cataloop.domain.knowledge.tree import Learning
from cataloop.domain.search.documents import LearningDocument, ProductDocument, product_document
from cataloop.ports import ProductIndex as SearchIndex

ChildLookup = Callable[[list[str]], list[ProductListing]]

# Knowledge table keys of a learning item (see adapters/dynamodb_knowledge.py); every other item of the
# table (nodes, locators, influences, audit entries) is not searchable and is passed over.
LEARNING_PK_PREFIX = "NODE#"
LEARNING_SK_PREFIX = "LEARNING#"
_ITEM_KEYS = ("pk", "sk", "entity")


@dataclass
class IndexBatchResult:
    indexed: int = 0
    deleted: int = 0
    stale: int = 0
    ignored: int = 0  # records of items that are not indexed (knowledge nodes, audit entries, ...)
    rejected: list[str] = field(default_factory=list)  # poison records: reported, retried, then dead-lettered
    failed_sequence_numbers: list[str] = field(default_factory=list)

    def response(self) -> dict[str, Any]:
        return {"batchItemFailures": [{"itemIdentifier": s} for s in self.failed_sequence_numbers]}

    def absorb(self, other: IndexBatchResult) -> None:
        """Add another batch's counts (one Lambda batch may be split by source table)."""
        self.indexed += other.indexed
        self.deleted += other.deleted
        self.stale += other.stale
        self.ignored += other.ignored
        self.rejected.extend(other.rejected)
        self.failed_sequence_numbers.extend(other.failed_sequence_numbers)


@dataclass
class _Change:
    sequence: str
    doc_id: str
    document: ProductDocument | LearningDocument | None = None
    delete_version: int | None = None
    error: str | None = None


def _problem(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"[:500]


def _change_from_record(record: dict[str, Any], children: ChildLookup) -> _Change:
    """One Products stream record (already deserialised images) -> the index change it asks for."""
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
        return _Change(sequence, product_id, error=_problem(error))


def _apply(changes: list[_Change], index: SearchIndex) -> IndexBatchResult:
    """Send the upserts and deletes in one bulk call each and apply the ordering rule for retries."""
    result = IndexBatchResult()
    upserts = [c for c in changes if c.document is not None]
    deletes = [c for c in changes if c.delete_version is not None]
    failed_ids: set[str] = set()
    if upserts:
        outcome = index.bulk_upsert([c.document for c in upserts if c.document is not None])
        result.indexed += outcome.indexed
        result.stale += len(outcome.stale_skipped)
        failed_ids.update(f.id for f in outcome.failed)
    if deletes:
        outcome = index.bulk_delete([(c.doc_id, c.delete_version or 0) for c in deletes])
        result.deleted += outcome.deleted
        result.stale += len(outcome.stale_skipped)
        failed_ids.update(f.id for f in outcome.failed)
    first_failure: int | None = None
    for position, change in enumerate(changes):
        if change.error is not None:
            result.rejected.append(f"{change.doc_id}: {change.error}")
        if change.error is not None or change.doc_id in failed_ids:
            first_failure = position
            break
    if first_failure is not None:
        result.failed_sequence_numbers = [c.sequence for c in changes[first_failure:]]
    return result


def index_product_changes(
    records: Sequence[dict[str, Any]], index: SearchIndex, children: ChildLookup
) -> IndexBatchResult:
    """Apply a batch of Products stream records (images deserialised to plain values) to `index`."""
    return _apply([_change_from_record(record, children) for record in records], index)


# --- learnings ----------------------------------------------------------------------------------------


def is_learning_key(keys: dict[str, Any]) -> bool:
    """True when a Knowledge table key (pk, sk) is a learning item's."""
    pk, sk = str(keys.get("pk", "")), str(keys.get("sk", ""))
    return pk.startswith(LEARNING_PK_PREFIX) and sk.startswith(LEARNING_SK_PREFIX)


def stored_learning(image: dict[str, Any]) -> Learning:
    """A Knowledge table learning item (deserialised) -> the Learning it stores."""
    return Learning.model_validate({key: value for key, value in image.items() if key not in _ITEM_KEYS})


def _learning_change(record: dict[str, Any]) -> _Change | None:
    """One Knowledge stream record -> its index change, or None when the item is not a learning."""
    dynamodb = record["dynamodb"]
    sequence = str(dynamodb["SequenceNumber"])
    keys = dynamodb.get("Keys") or {}
    if not is_learning_key(keys):
        return None
    learning_id = str(keys["sk"])[len(LEARNING_SK_PREFIX) :]
    try:
        if record["eventName"] == "REMOVE":
            old = dynamodb.get("OldImage") or {}
            return _Change(sequence, learning_id, delete_version=int(old.get("version", 0)) + 1)
        return _Change(
            sequence, learning_id, document=learning_document(stored_learning(dynamodb["NewImage"]))
        )
    except (ValidationError, KeyError, TypeError, ValueError) as error:
        return _Change(sequence, learning_id, error=_problem(error))


def index_learning_changes(records: Sequence[dict[str, Any]], index: SearchIndex) -> IndexBatchResult:
    """Apply a batch of Knowledge stream records to the learnings index. Only learning items are indexed
    (retired ones too, with their status, so history stays searchable); other items are counted as
    ignored and never block the batch."""
    changes: list[_Change] = []
    ignored = 0
    for record in records:
        change = _learning_change(record)
        if change is None:
            ignored += 1
        else:
            changes.append(change)
    result = _apply(changes, index)
    result.ignored = ignored
    return result
