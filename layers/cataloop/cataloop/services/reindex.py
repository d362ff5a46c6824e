"""Rebuild a search index from its store into a new generation, then swap the alias: zero downtime.

1. Scan the store (`ProductStore.scan` / `KnowledgeStore.scan_learnings`, page by page) and bulk every
   document into a NEW generation; readers and the stream indexer keep using the old generation through
   the alias meanwhile.
2. Swap the alias (atomic in both engines). If any document could not be written, or the store cannot
   read an item, stop before the swap: a half-built generation never serves.
3. Catch up: scan again and re-apply what changed while step 1 ran (the stream wrote those changes to the
   old generation). External versions make this safe against the stream writing the same changes again.
The old generation is kept (for a rollback by swapping back); delete it when the new one has proved itself.

A product index that keeps its catalog vocabulary as data (`StoredVocabulary`: OpenSearch) gets it
rebuilt from the catch-up scan, which reads the whole catalog after the swap and is analysed by the new
generation. `plan_reindex` says what a rebuild would do without writing anything (a dry run).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

from cataloop.domain.catalog.stored import StoredProduct
from cataloop.domain.knowledge.learning_search import learning_document
from cataloop.domain.search.documents import BulkOutcome, LearningDocument, ProductDocument, product_document
from cataloop.errors import CataloopError, InvalidInput
from cataloop.ports import (
    KnowledgeStore,
    LearningIndex,
    ProductIndex,
    ProductStore,
    StoredVocabulary,
    VersionedIndex,
)

Progress = Callable[[int], None]

BULK_ATTEMPTS = 3
RETRY_BASE_SECONDS = 0.5


# A rebuild writes product documents to the product index and learning documents to the learnings one.
D = TypeVar("D", ProductDocument, LearningDocument)


class ReindexReport(BaseModel):
    """What a rebuild did. `scanned` counts the items the store yielded (products, or learning items)."""

    model_config = ConfigDict(frozen=True)

    alias: str
    new_index: str
    previous_indices: list[str]
    scanned: int
    indexed: int
    caught_up: int
    deleted_after_swap: int
    build_seconds: float
    catch_up_seconds: float
    documents_per_second: float
    vocabulary_terms: int | None = None  # terms stored, for an index that keeps its vocabulary as data


class ReindexPlan(BaseModel):
    """What a rebuild would do (a dry run): which alias, what it points at now, about how many items."""

    model_config = ConfigDict(frozen=True)

    alias: str
    current_indices: list[str]
    approximate_items: int
    rebuilds_vocabulary: bool


def plan_reindex(index: VersionedIndex[Any], approximate_count: Callable[[], int]) -> ReindexPlan:
    """Read-only: the alias's current targets and the store's approximate item count."""
    return ReindexPlan(
        alias=index.alias,
        current_indices=index.alias_targets(),
        approximate_items=approximate_count(),
        rebuilds_vocabulary=isinstance(index, StoredVocabulary),
    )


def _upsert_all(
    index: VersionedIndex[D], documents: list[D], target: str | None, pause: Callable[[float], None]
) -> BulkOutcome:
    """Bulk `documents`, retrying retryable failures with backoff; raises when some still fail."""
    total = BulkOutcome()
    pending = documents
    for attempt in range(BULK_ATTEMPTS):
        if attempt:
            pause(RETRY_BASE_SECONDS * 2**attempt)
        outcome = index.bulk_upsert(pending, index=target)
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


def _pages(pages: Callable[[], Iterator[list[D]]], alias: str) -> Iterator[list[D]]:
    """The document pages, with a store's refusal to read an item turned into an error that says the
    alias was not moved and what to do."""
    try:
        yield from pages()
    except InvalidInput as error:
        raise CataloopError(
            f"reindex of {alias} stopped, alias not swapped: {error}; fix or delete that item and reindex again"
        ) from error


def rebuild(
    index: VersionedIndex[D],
    pages: Callable[[], Iterator[list[D]]],
    total: Callable[[], int],
    *,
    on_progress: Progress | None = None,
    on_total: Callable[[int], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
    pause: Callable[[float], None] = time.sleep,
) -> ReindexReport:
    """Rebuild `index` from `pages()` (a fresh read of the store, page by page, as documents): new
    generation, swap, catch-up (see the module docstring). `on_total` gets `total()` first (an approximate
    count), `on_progress` the size of every page scanned."""
    if on_total is not None:
        on_total(total())
    previous = index.alias_targets()
    new_index = index.create_index()
    started = clock()
    seen: dict[str, int] = {}
    scanned = indexed = 0
    for documents in _pages(pages, index.alias):
        if documents:
            indexed += _upsert_all(index, documents, new_index, pause).indexed
        seen.update((document.id, document.version) for document in documents)
        scanned += len(documents)
        if on_progress is not None:
            on_progress(len(documents))
    build_seconds = clock() - started
    index.swap_alias(new_index)

    caught_started = clock()
    caught_up = 0
    still_there: set[str] = set()
    for documents in _pages(pages, index.alias):
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
        scanned=scanned,
        indexed=indexed,
        caught_up=caught_up,
        deleted_after_swap=deleted,
        build_seconds=round(build_seconds, 3),
        catch_up_seconds=round(clock() - caught_started, 3),
        documents_per_second=round(indexed / build_seconds, 1) if build_seconds > 0 else 0.0,
    )


# --- products ------------------------------------------------------------------------------------------


def product_documents(products: list[StoredProduct], store: ProductStore) -> list[ProductDocument]:
    """A page of products -> their documents; bundle children come from the same page when they are
    there, else from one `listings` call per page."""
    listings = {product.product_id: product.listing for product in products}
    missing = sorted({child for p in products for child in p.listing.child_ids} - set(listings))
    if missing:
        listings.update((listing.product_id, listing) for listing in store.listings(missing))
    return [
        product_document(
            product.listing,
            product.enrichment or None,
            product.version,
            [listings[child] for child in product.listing.child_ids if child in listings],
        )
        for product in products
    ]


def reindex_products(index: ProductIndex, store: ProductStore, **options: Any) -> ReindexReport:
    """Rebuild the product index from the product store (options as `rebuild`)."""

    vocabulary: StoredVocabulary | None = index if isinstance(index, StoredVocabulary) else None
    terms: Counter[str] = Counter()
    passes = 0

    def pages() -> Iterator[list[ProductDocument]]:
        nonlocal passes
        passes += 1
        terms.clear()  # the last pass (the catch-up, after the swap) is the catalog as it is now
        for products in store.scan():
            documents = product_documents(products, store)
            if vocabulary is not None and passes > 1 and documents:
                terms.update(vocabulary.catalog_terms(documents))
            yield documents

    report = rebuild(index, pages, store.approximate_count, **options)
    if vocabulary is None:
        return report
    vocabulary.replace_vocabulary(dict(terms), generation=report.new_index)
    return report.model_copy(update={"vocabulary_terms": len(terms)})


# --- learnings -----------------------------------------------------------------------------------------


def reindex_learnings(index: LearningIndex, store: KnowledgeStore, **options: Any) -> ReindexReport:
    """Rebuild the learnings index from the knowledge store (options as `rebuild`); every learning is
    indexed, retired ones too, with their status."""

    def pages() -> Iterator[list[LearningDocument]]:
        for learnings in store.scan_learnings():
            yield [learning_document(learning) for learning in learnings]

    return rebuild(index, pages, store.approximate_count, **options)
