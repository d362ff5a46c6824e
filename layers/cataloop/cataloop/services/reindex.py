"""Rebuild a search index from its table into a new generation, then swap the alias: zero downtime.

1. Scan the table (paginated) and bulk every document into a NEW generation; readers and the stream
   indexer keep using the old generation through the alias meanwhile.
2. Swap the alias (atomic in both engines). If any document could not be written, stop before the swap:
   a half-built generation never serves.
3. Catch up: scan again and re-apply what changed while step 1 ran (the stream wrote those changes to the
   old generation). External versions make this safe against the stream writing the same changes again.
The old generation is kept (for a rollback by swapping back); delete it when the new one has proved itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError

from cataloop.domain.catalog.stored import StoredProduct
from cataloop.domain.knowledge.learning_search import learning_document
from cataloop.domain.search.documents import BulkOutcome, LearningDocument, ProductDocument, product_document
from cataloop.errors import CataloopError
from cataloop.services.indexing import LEARNING_SK_PREFIX, ChildLookup, is_learning_key, stored_learning

Document = ProductDocument | LearningDocument
Progress = Callable[[int], None]

BULK_ATTEMPTS = 3
RETRY_BASE_SECONDS = 0.5
MAX_PROBLEMS_REPORTED = 20


class VersionedIndex(Protocol):
    """The index operations a rebuild needs (both product and learnings indexes, both engines)."""

    alias: str

    def create_index(self) -> str: ...

    def alias_targets(self) -> list[str]: ...

    def swap_alias(self, new_index: str) -> Any: ...

    def bulk_upsert(
        self, documents: Sequence[Any], vectors: Any = None, *, index: str | None = None
    ) -> Any: ...

    def bulk_delete(self, items: Sequence[tuple[str, int]], *, index: str | None = None) -> Any: ...


class TableSource(Protocol):
    """A table read page by page as plain items (`DynamoTableScan`)."""

    table: str

    def pages(self) -> Iterator[list[dict[str, Any]]]: ...

    def approximate_count(self) -> int: ...


class ReindexReport(BaseModel):
    """What a rebuild did. `unreadable` items failed validation and were left out (with the reasons)."""

    model_config = ConfigDict(frozen=True)

    alias: str
    new_index: str
    previous_indices: list[str]
    table: str
    scanned: int
    indexed: int
    unreadable: int
    problems: list[str]
    caught_up: int
    deleted_after_swap: int
    build_seconds: float
    catch_up_seconds: float
    documents_per_second: float


def _upsert_all(
    index: VersionedIndex, documents: list[Document], target: str | None, pause: Callable[[float], None]
) -> BulkOutcome:
    """Bulk `documents`, retrying retryable failures with backoff; raises when some still fail."""
    total = BulkOutcome()
    pending = documents
    for attempt in range(BULK_ATTEMPTS):
        if attempt:
            pause(RETRY_BASE_SECONDS * 2**attempt)
        outcome: BulkOutcome = index.bulk_upsert(pending, index=target)
        total.indexed += outcome.indexed
        total.stale_skipped.extend(outcome.stale_skipped)
        retry = {failure.id for failure in outcome.failed if failure.retryable}
        fatal = [failure for failure in outcome.failed if not failure.retryable]
        if fatal:
            first = fatal[0]
            raise CataloopError(
                f"{len(fatal)} document(s) were refused by {target or index.alias} (first: {first.id}, "
                f"status {first.status}: {first.reason}); fix the mapping or the data and reindex again"
            )
        pending = [document for document in pending if document.id in retry]
        if not pending:
            return total
    raise CataloopError(
        f"{len(pending)} document(s) still failed after {BULK_ATTEMPTS} attempts (throttling?); reindex again"
    )


DocumentsOfPage = Callable[[list[dict[str, Any]], list[str]], list[Document]]


def rebuild(
    index: VersionedIndex,
    source: TableSource,
    documents_of: DocumentsOfPage,
    *,
    on_progress: Progress | None = None,
    on_total: Callable[[int], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
    pause: Callable[[float], None] = time.sleep,
) -> ReindexReport:
    """Rebuild `index` from `source`: new generation, swap, catch-up (see the module docstring).
    `documents_of(items, problems)` turns a page of items into documents, appending why any was skipped;
    `on_total` gets the approximate item count first, `on_progress` the size of every page scanned."""
    if on_total is not None:
        on_total(source.approximate_count())
    previous = index.alias_targets()
    new_index = index.create_index()
    started = clock()
    seen: dict[str, int] = {}
    problems: list[str] = []
    scanned = indexed = 0
    for items in source.pages():
        documents = documents_of(items, problems)
        if documents:
            indexed += _upsert_all(index, documents, new_index, pause).indexed
        seen.update((document.id, document.version) for document in documents)
        scanned += len(items)
        if on_progress is not None:
            on_progress(len(items))
    build_seconds = clock() - started
    index.swap_alias(new_index)

    caught_started = clock()
    caught_up = 0
    still_there: set[str] = set()
    for items in source.pages():
        documents = documents_of(items, [])
        still_there.update(document.id for document in documents)
        changed = [document for document in documents if document.version > seen.get(document.id, 0)]
        if changed:
            caught_up += _upsert_all(index, changed, None, pause).indexed
    gone = [(doc_id, version + 1) for doc_id, version in seen.items() if doc_id not in still_there]
    deleted = index.bulk_delete(gone).deleted if gone else 0
    return ReindexReport(
        alias=index.alias,
        new_index=new_index,
        previous_indices=previous,
        table=source.table,
        scanned=scanned,
        indexed=indexed,
        unreadable=len(problems),
        problems=problems[:MAX_PROBLEMS_REPORTED],
        caught_up=caught_up,
        deleted_after_swap=deleted,
        build_seconds=round(build_seconds, 3),
        catch_up_seconds=round(clock() - caught_started, 3),
        documents_per_second=round(indexed / build_seconds, 1) if build_seconds > 0 else 0.0,
    )


# --- products ------------------------------------------------------------------------------------------


def product_documents_of(children: ChildLookup) -> DocumentsOfPage:
    """Products items -> product documents, bundle children resolved from the same page when they are
    there, else with one `children` lookup per page."""

    def documents_of(items: list[dict[str, Any]], problems: list[str]) -> list[Document]:
        stored: list[StoredProduct] = []
        for item in items:
            try:
                stored.append(StoredProduct.model_validate(item))
            except ValidationError as error:
                problems.append(f"{item.get('product_id', '?')}: {error.errors()[0]['msg']}")
        listings = {product.product_id: product.listing for product in stored}
        missing = sorted({child for p in stored for child in p.listing.child_ids} - set(listings))
        if missing:
            listings.update((listing.product_id, listing) for listing in children(missing))
        return [
            product_document(
                product.listing,
                product.enrichment or None,
                product.version,
                [listings[child] for child in product.listing.child_ids if child in listings],
            )
            for product in stored
        ]

    return documents_of


def reindex_products(
    index: VersionedIndex, source: TableSource, children: ChildLookup, **options: Any
) -> ReindexReport:
    """Rebuild the product index from the Products table (options as `rebuild`)."""
    return rebuild(index, source, product_documents_of(children), **options)


# --- learnings -----------------------------------------------------------------------------------------


def learning_documents_of(items: list[dict[str, Any]], problems: list[str]) -> list[Document]:
    """Knowledge items -> learning documents; nodes, locators, influences and audit items are skipped."""
    documents: list[Document] = []
    for item in items:
        if not is_learning_key(item):
            continue
        try:
            documents.append(learning_document(stored_learning(item)))
        except ValidationError as error:
            problems.append(f"{str(item['sk'])[len(LEARNING_SK_PREFIX) :]}: {error.errors()[0]['msg']}")
    return documents


def reindex_learnings(index: VersionedIndex, source: TableSource, **options: Any) -> ReindexReport:
    """Rebuild the learnings index from the Knowledge table (options as `rebuild`)."""
    return rebuild(index, source, learning_documents_of, **options)
