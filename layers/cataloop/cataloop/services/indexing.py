"""Apply a batch of product or learning changes to their index with one bulk call, reporting partial
failures.

The changes are domain events (`cataloop.domain.search.changes`); where they came from (a DynamoDB stream,
see `adapters/dynamodb_streams.py`) and how the stores key their items is not this module's concern.

Why not Powertools' `BatchProcessor`: it calls a handler per record, while the search engines want one
bulk request per batch. This keeps its response contract (`PartialItemFailureResponse`, sequence numbers
as item identifiers) and its ordering rule for streams: from the first change that must be retried, every
later change is reported too, so a retry never applies an older change after a newer one (external
versions make the replays harmless).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

from pydantic import ValidationError

from cataloop.domain.catalog.listing import ProductListing
from cataloop.domain.catalog.stored import StoredProduct
from cataloop.domain.knowledge.learning_search import learning_document
from cataloop.domain.search.changes import LearningChanged, ProductChanged
from cataloop.domain.search.documents import BulkOutcome, LearningDocument, ProductDocument, product_document
from cataloop.errors import InvalidInput
from cataloop.ports import LearningIndex, ProductIndex, ProductStore, StoredVocabulary

if TYPE_CHECKING:  # a TypedDict: Powertools' batch package is not imported at run time for its type
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

MAX_PROBLEM_CHARS = 500

logger = logging.getLogger(__name__)

DocumentT = TypeVar("DocumentT", ProductDocument, LearningDocument)


@dataclass
class IndexBatchResult:
    indexed: int = 0
    deleted: int = 0
    stale: int = 0
    ignored: int = 0  # changes of items that are not indexed (knowledge nodes, audit entries, ...)
    rejected: list[str] = field(default_factory=list)  # poison records: reported, retried, then dead-lettered
    failed_sequence_numbers: list[str] = field(default_factory=list)

    def response(self) -> PartialItemFailureResponse:
        """The partial batch response Lambda reads (Powertools' `PartialItemFailureResponse` shape)."""
        return {"batchItemFailures": [{"itemIdentifier": s} for s in self.failed_sequence_numbers]}

    def absorb(self, other: IndexBatchResult) -> None:
        """Add another batch's counts (one Lambda batch may hold changes for both indexes)."""
        self.indexed += other.indexed
        self.deleted += other.deleted
        self.stale += other.stale
        self.ignored += other.ignored
        self.rejected.extend(other.rejected)
        self.failed_sequence_numbers.extend(other.failed_sequence_numbers)


@dataclass
class _Write(Generic[DocumentT]):
    """What one change asks of the index: a document to upsert, a versioned delete, or nothing (error)."""

    sequence: str
    doc_id: str
    document: DocumentT | None = None
    delete_version: int | None = None
    error: str | None = None


def _problem(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"[:MAX_PROBLEM_CHARS]


def _apply(
    writes: list[_Write[DocumentT]],
    upsert: Callable[[list[DocumentT]], BulkOutcome],
    delete: Callable[[list[tuple[str, int]]], BulkOutcome],
) -> IndexBatchResult:
    """Send the upserts and the deletes in one bulk call each and apply the ordering rule for retries."""
    result = IndexBatchResult()
    documents = [w.document for w in writes if w.document is not None]
    deletes = [(w.doc_id, w.delete_version) for w in writes if w.delete_version is not None]
    failed_ids: set[str] = set()
    if documents:
        outcome = upsert(documents)
        result.indexed += outcome.indexed
        result.stale += len(outcome.stale_skipped)
        failed_ids.update(f.id for f in outcome.failed)
    if deletes:
        outcome = delete(deletes)
        result.deleted += outcome.deleted
        result.stale += len(outcome.stale_skipped)
        failed_ids.update(f.id for f in outcome.failed)
    for position, write in enumerate(writes):
        if write.error is not None:
            result.rejected.append(f"{write.doc_id}: {write.error}")
        if write.error is not None or write.doc_id in failed_ids:
            result.failed_sequence_numbers = [w.sequence for w in writes[position:]]
            break
    return result


# --- products ------------------------------------------------------------------------------------------


def _bundle_children(
    products: Sequence[StoredProduct], store: ProductStore
) -> tuple[dict[str, ProductListing], dict[str, str]]:
    """The listings of every bundle child in the batch with one `listings` call, and, when that call
    finds an unreadable child, which parents it blocks (each parent looked up on its own)."""
    wanted = [child for product in products for child in product.listing.child_ids]
    if not wanted:
        return {}, {}
    try:
        return {listing.product_id: listing for listing in store.listings(wanted)}, {}
    except InvalidInput:
        found: dict[str, ProductListing] = {}
        blocked: dict[str, str] = {}
        for product in products:
            if not product.listing.child_ids:
                continue
            try:
                found.update((item.product_id, item) for item in store.listings(product.listing.child_ids))
            except InvalidInput as error:
                blocked[product.product_id] = _problem(error)
        return found, blocked


def _product_write(
    change: ProductChanged, children: dict[str, ProductListing], blocked: dict[str, str]
) -> _Write[ProductDocument]:
    write: _Write[ProductDocument] = _Write(change.sequence_number, change.product_id)
    if change.problem is not None:
        write.error = change.problem
    elif change.deleted:
        write.delete_version = change.version
    elif change.product is not None:
        product = change.product
        if product.product_id in blocked:
            write.error = blocked[product.product_id]
            return write
        bundle = [children[child] for child in product.listing.child_ids if child in children]
        try:
            write.document = product_document(
                product.listing, product.enrichment or None, product.version, bundle
            )
        except (ValidationError, ValueError, TypeError) as error:
            write.error = _problem(error)
    return write


def index_product_changes(
    changes: Sequence[ProductChanged], index: ProductIndex, store: ProductStore
) -> IndexBatchResult:
    """Apply a batch of product changes to the product index. Bundle children are read from `store` with
    one `listings` call for the whole batch, so a bundle's document names its components."""
    written = [change.product for change in changes if change.product is not None]
    children, blocked = _bundle_children(written, store)
    writes = [_product_write(change, children, blocked) for change in changes]
    result = _apply(writes, index.bulk_upsert, index.bulk_delete)
    if isinstance(index, StoredVocabulary):
        retried = set(result.failed_sequence_numbers)
        _extend_vocabulary(index, [w.document for w in writes if w.document and w.sequence not in retried])
    return result


def _extend_vocabulary(index: StoredVocabulary, documents: list[ProductDocument]) -> None:
    """Add the terms of the written documents to an index that keeps its vocabulary as data. A failure here
    is logged, not retried: the documents are indexed, and the next reindex rebuilds the vocabulary."""
    if not documents:
        return
    try:
        index.extend_vocabulary(index.catalog_terms(documents))
    except Exception as error:  # the vocabulary must never fail an indexed batch
        logger.warning("catalog vocabulary not extended (%d documents): %s", len(documents), _problem(error))


# --- learnings -----------------------------------------------------------------------------------------


def _learning_write(change: LearningChanged) -> _Write[LearningDocument]:
    write: _Write[LearningDocument] = _Write(change.sequence_number, change.learning_id)
    if change.problem is not None:
        write.error = change.problem
    elif change.deleted:
        write.delete_version = change.version
    elif change.learning is not None:
        try:
            write.document = learning_document(change.learning)
        except (ValidationError, ValueError, TypeError) as error:
            write.error = _problem(error)
    return write


def index_learning_changes(
    changes: Sequence[LearningChanged], index: LearningIndex, *, ignored: int = 0
) -> IndexBatchResult:
    """Apply a batch of learning changes to the learnings index (retired learnings too, with their
    status, so history stays searchable). `ignored` counts the feed's records that were not learnings;
    it is only reported."""
    writes = [_learning_write(change) for change in changes]
    result = _apply(writes, index.bulk_upsert, index.bulk_delete)
    result.ignored = ignored
    return result
