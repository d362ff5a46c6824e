"""Ports: every interface the services depend on, in one place.

One Protocol per port, each with its contract in the docstring (in the style of haystack's `DocumentStore`):
what a call returns, what it raises, and which guarantees every implementation keeps. Adapters implement
them: AWS (`dynamodb_*`, `opensearch_*`, `bedrock_*`, `search_log_s3`), embedded engines that run in-process
(`embedded_*`, `e5_embeddings`), the offline model baseline (`adapters/offline/`), and in-memory fakes
(`adapters/memory.py`) that keep the same rules for fast tests and the evaluation. Shared contract tests in
`tests/contract/` run the same assertions against a fake and its real adapter.

Value objects that cross a port live in the domain: `cataloop.domain.model_calls` (prompts, requests and
responses of model calls), `cataloop.domain.catalog` (listings, stored products), `cataloop.domain.knowledge`
(nodes, learnings, changes, snapshots), `cataloop.domain.search` (documents, plans, pages, log records).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar, runtime_checkable

# The domain's value objects appear in annotations only: importing them here would make every importer of a
# port (each handler) build all of their pydantic models at cold start.
if TYPE_CHECKING:
    from cataloop.domain.catalog.listing import ProductListing
    from cataloop.domain.catalog.stored import StoredProduct
    from cataloop.domain.knowledge.learning import LearningView
    from cataloop.domain.knowledge.learning_search import LearningFilter
    from cataloop.domain.knowledge.retrieval import PromptCandidate
    from cataloop.domain.knowledge.tree import (
        ImportResult,
        Influence,
        KnowledgeChange,
        KnowledgeNode,
        KnowledgeSnapshot,
        Learning,
    )
    from cataloop.domain.model_calls import ModelRequest, ModelResponse, OutputT
    from cataloop.domain.search.classification import QueryClassification
    from cataloop.domain.search.documents import BulkOutcome, LearningDocument, ProductDocument
    from cataloop.domain.search.guardrail import GuardrailSource, GuardrailVerdict
    from cataloop.domain.search.log import SearchLogRecord
    from cataloop.domain.search.plan import SearchHit, SearchPage, SearchPlan


# ----------------------------------------------------------------------------------------------- models


class ModelClient(Protocol):
    """One structured model call.

    Contract: returns a `ModelResponse` whose `output` is a validated instance of `output_model` and whose
    `model_id` names the model that really answered (never a model that did not run). Raises
    `RetryableModelError` for transient failures (throttling, timeouts, 5xx) and `ModelError` for answers
    that cannot be used (no tool call, invalid output after the repair retry, a guardrail stop).
    """

    def invoke(self, request: ModelRequest, output_model: type[OutputT]) -> ModelResponse[OutputT]: ...


class Embedder(Protocol):
    """Text embeddings of a fixed `dimension`.

    Contract: `embed(texts, kind)` returns one vector of `dimension` floats per text, in order; `kind`
    selects the model's query/passage convention (e5's "query: "/"passage: " prefixes). The same text and
    kind always give the same vector. Raises `RetryableModelError` on transient service failures.
    """

    dimension: int

    def embed(self, texts: list[str], kind: Literal["query", "passage"]) -> list[list[float]]: ...


class Guardrail(Protocol):
    """Checks one text entering or leaving a model (a shopper query, a generated comment).

    Contract: returns a `GuardrailVerdict` (passed, masked with `masked_text`, or blocked with reasons);
    raises `RetryableModelError` only when the check itself could not run.
    """

    def check(self, text: str, source: GuardrailSource) -> GuardrailVerdict: ...


class QueryClassifier(Protocol):
    """Classifies one validated shopper query: keyword or natural language, sort intent, food intent.

    Contract: returns a `QueryClassification` whose `cleaned_query` is the query without its sort-intent
    words (the query itself when nothing would be left) and whose `classifier` names who answered:
    "rules", "bedrock", or "rules (fallback: REASON)". A model-backed implementation never raises for a
    failed, invalid or late model answer: it falls back to the rules classifier and says so in `classifier`.
    """

    def classify(self, query: str) -> QueryClassification: ...


# ----------------------------------------------------------------------------------------------- stores


class ProductStore(Protocol):
    """Products, one item per product holding its current version (DynamoDB `Products`, or in memory).

    Contract:
    - `get` returns the current version, or None for an unknown id.
    - `create_pending` writes version 1 with status PENDING unless the product exists; it returns the stored
      product and whether this call created it. The same listing sent twice creates it once.
    - `put_version(product)` takes the version that was read (N) with its changes and writes it as N+1,
      only if N is still the stored version (optimistic locking); it returns the written product and raises
      `Conflict` otherwise, with nothing written.
    - `listings` returns the listings of the given ids that exist, in the order asked, duplicates once;
      any number of ids (the DynamoDB adapter batches by 100 and retries unprocessed keys with backoff,
      raising `CataloopError` when retries are exhausted).
    - `scan` yields every stored product, a page at a time (for a full reindex); an unreadable item raises
      `InvalidInput` naming its id. `approximate_count` is the item count the table reports (for progress).
    - `waiting_for_review` yields the NEEDS_REVIEW products by product id, a page at a time, reading only
      them (DynamoDB: a sparse index, so eventually consistent: a product that just entered or left review
      may take a moment to appear or go).
    - `take_over_pending(listing, event_id, now, stale_before)` makes `event_id` the owner of a stranded
      product: one that is PENDING under another event and either released by the redrive (its owner's
      execution ended) or has no enrichment and was last written before `stale_before` (ISO time). It
      writes the new listing as version N+1 (so the old owner's Persist finds a newer version) and returns
      it; `Conflict` otherwise, with nothing written.
    - `release_stranded(product_id, event_id, max_redrives)`: the execution of `event_id` ended without
      enriching its PENDING product; counts one redrive on the product and releases it for an immediate
      take-over. Returns the count, None when `max_redrives` were already counted (nothing written), and
      raises `Conflict` when the product is not PENDING under `event_id`. A version write clears both.
    - Throttling and transient service errors raise `RetryableStoreError`.
    - Reads are consistent (but `waiting_for_review`): a write is visible to the next read.
    """

    def get(self, product_id: str) -> StoredProduct | None: ...

    def take_over_pending(
        self, listing: ProductListing, event_id: str, now: str, stale_before: str
    ) -> StoredProduct: ...

    def release_stranded(self, product_id: str, event_id: str, max_redrives: int) -> int | None: ...

    def create_pending(
        self, listing: ProductListing, event_id: str, now: str
    ) -> tuple[StoredProduct, bool]: ...

    def put_version(self, product: StoredProduct) -> StoredProduct: ...

    def listings(self, product_ids: Sequence[str]) -> list[ProductListing]: ...

    def scan(self) -> Iterator[list[StoredProduct]]: ...

    def waiting_for_review(self) -> Iterator[list[StoredProduct]]: ...

    def approximate_count(self) -> int: ...


class KnowledgeStore(Protocol):
    """The knowledge tree: category nodes, their learnings, influence and audit records.

    Contract:
    - Reads never return retired-by-time versions as current: `get_learning` returns the current version.
    - `commit(change)` applies every item of a `KnowledgeChange` atomically or not at all; each item carries
      the version it expects to replace, and a concurrent writer makes it raise `Conflict` (the caller
      re-reads and re-plans). Nothing is partially written. More than 100 writes, or one item named twice,
      in one change raise `CataloopError` before anything is sent.
    - `record_influence` is idempotent per (learning, product, product version); a learning listed twice
      is written once.
    - `import_snapshot` validates the whole snapshot before writing (`InvalidInput`, nothing written);
      learnings already stored with a newer version are kept.
    - `scan_learnings` yields every learning item, a page at a time (for a full reindex); an unreadable
      learning raises `InvalidInput` naming its id. `approximate_count` counts every item of the store
      (nodes, locators, influence and audit records too): an upper bound on the learnings, for progress.
    - Reads are consistent, except `active_learnings_along` (retrieval for a prompt): it may lag a commit
      by about a second in DynamoDB (a GSI). Decisions that write read `node_partition`, which is consistent.
    - `active_learnings_along(path)` returns only the learnings retrieval may use (active, no `valid_to`)
      along `path`, root first, and reads only those: its read units per call do not grow with the retired,
      superseded or proposed learnings of the nodes, nor with audit, influence or locator items.
      `learnings_along` and `node_partition` return every learning (any status) and read whole node
      partitions. Both stores count the items their reads read in `items_read`.
    - `prompt_candidates_along(path)` returns what retrieval ranks (`PromptCandidate`: view, counters,
      votes, times) of the same learnings in the same order, reading at most one item per level (the
      node's prompt set, kept in step by every commit of the node's learnings), so its reads per call do
      not grow with the learnings the nodes hold. It may lag a commit like `active_learnings_along`.
    """

    def get_node(self, path: Sequence[str]) -> KnowledgeNode | None: ...

    def node_partition(self, path: Sequence[str]) -> tuple[KnowledgeNode | None, list[Learning]]: ...

    def learnings_along(self, path: Sequence[str]) -> list[Learning]: ...

    def active_learnings_along(self, path: Sequence[str]) -> list[Learning]: ...

    def prompt_candidates_along(self, path: Sequence[str]) -> list[PromptCandidate]: ...

    def get_learning(self, learning_id: str) -> Learning | None: ...

    def tree(self) -> list[KnowledgeNode]: ...

    def commit(self, change: KnowledgeChange) -> None: ...

    def influenced_products(self, learning_id: str) -> list[Influence]: ...

    def record_influence(
        self,
        learnings: Sequence[LearningView],
        product_id: str,
        product_version: int,
        execution_id: str | None,
        at: datetime,
    ) -> None: ...

    def export_snapshot(self, now: datetime) -> KnowledgeSnapshot: ...

    def import_snapshot(self, snapshot: KnowledgeSnapshot) -> ImportResult: ...

    def scan_learnings(self) -> Iterator[list[Learning]]: ...

    def approximate_count(self) -> int: ...


# ----------------------------------------------------------------------------------------------- search


DocumentT = TypeVar("DocumentT", "ProductDocument", "LearningDocument", contravariant=True)


class VersionedIndex(Protocol[DocumentT]):
    """An index behind an alias, written with external versions (both engines, both indexes).

    Contract:
    - `ensure_index` makes the alias point at a live index (creating the first generation) and returns it.
    - `create_index` creates a new, empty generation and returns its name; `swap_alias` points the alias
      at it atomically; `alias_targets` lists what the alias points at now.
    - `bulk_upsert`/`bulk_delete` apply a document only when its version is newer than the stored one
      (an older or equal version is counted as stale, not an error); one call per batch; the outcome says
      per document what happened. `index=None` writes to the alias.
    """

    alias: str

    def ensure_index(self) -> str: ...

    def create_index(self) -> str: ...

    def alias_targets(self) -> list[str]: ...

    def swap_alias(self, new_index: str) -> Any: ...

    def bulk_upsert(
        self, documents: Sequence[DocumentT], vectors: Any = None, *, index: str | None = None
    ) -> BulkOutcome: ...

    def bulk_delete(self, items: Sequence[tuple[str, int]], *, index: str | None = None) -> BulkOutcome: ...


class ProductIndex(VersionedIndex["ProductDocument"], Protocol):
    """The product index (embedded tantivy + numpy engine, or OpenSearch).

    Contract, besides `VersionedIndex`:
    - `search(plan, query_vector)` executes an engine-neutral `SearchPlan` (keyword, vector or hybrid) and
      returns a `SearchPage`; a hybrid or vector plan needs `query_vector` (the adapter may embed the
      plan's text itself when it has an embedder).
    - `vocabulary()` returns the catalog terms the variant resolvers (chosung, wrong keyboard, typos) match
      against, with their document frequencies (read-only; callers must not change it); an engine that
      cannot list its terms returns an empty mapping, and search then skips variants.
    - `in_catalog(text)` is True when `text` is one analysed term of the catalog.
    """

    def search(self, plan: SearchPlan, query_vector: Sequence[float] | None = None) -> SearchPage: ...

    def vocabulary(self) -> Mapping[str, int]: ...

    def in_catalog(self, text: str) -> bool: ...


@runtime_checkable
class StoredVocabulary(Protocol):
    """A product index that cannot list its own terms keeps its catalog vocabulary as data (OpenSearch);
    an engine that lists its terms (the embedded one) does not implement this.

    Contract:
    - `catalog_terms(documents, index=...)` returns the vocabulary terms of `documents` with their
      frequencies, analysed as `index` (a generation, default the alias) analyses names, keywords, brands
      and English text, i.e. the terms `vocabulary()` would list for them.
    - `replace_vocabulary(terms, generation=...)` stores `terms` as the whole vocabulary (a reindex);
      `extend_vocabulary(terms)` adds the terms not stored yet (the indexer), safely against concurrent
      writers. `vocabulary()` reflects either within its cache time.
    """

    def catalog_terms(
        self, documents: Sequence[ProductDocument], *, index: str | None = None
    ) -> dict[str, int]: ...

    def replace_vocabulary(self, terms: Mapping[str, int], *, generation: str) -> None: ...

    def extend_vocabulary(self, terms: Mapping[str, int]) -> None: ...


class LearningIndex(VersionedIndex["LearningDocument"], Protocol):
    """The learnings index: one document per learning, for similarity and audit queries.

    Contract, besides `VersionedIndex`: `similar(query_vector, learning_filter, k)` returns at most `k` hits
    that pass the filter (status, scope), best first.
    """

    def similar(
        self, query_vector: Sequence[float], learning_filter: LearningFilter, k: int = 10
    ) -> list[SearchHit]: ...


class SearchLog(Protocol):
    """Where search-log records go (S3 in AWS, JSON Lines files when no bucket is configured).

    Contract: `write(records)` stores every record or raises; records hold no personal data (the domain
    model forbids extra fields), so a writer never filters.
    """

    def write(self, records: Iterable[SearchLogRecord]) -> Any: ...


class DictionaryStore(Protocol):
    """The analyzer dictionaries in force (user dictionary, synonyms, typo corrections), versioned.

    Contract: `lines(name)` returns the lines of dictionary `name` in the version in force (comments and blank
    lines dropped; an unknown name is empty); `typo_corrections()` its `wrong => right` rules as a mapping;
    `search_time_rules()` the synonyms plus the typo rules; `version()` names that version ("base", version 0,
    for the files shipped in the package; vNNNN for an approved one). Approved versions live in the stack's
    bucket (`DictionaryS3`), never in the source tree; a store that cannot read them keeps the last good version.
    """

    def lines(self, name: str) -> list[str]: ...

    def typo_corrections(self) -> dict[str, str]: ...

    def search_time_rules(self) -> list[str]: ...

    def version(self) -> str: ...


# ----------------------------------------------------------------------------------------------- redrive


class ExecutionInputs(Protocol):
    """The input of a Step Functions execution (DescribeExecution).

    Contract: `input_of(execution_arn)` returns the parsed JSON input, or None when the execution is
    unknown or its input is not a JSON object.
    """

    def input_of(self, execution_arn: str) -> dict[str, Any] | None: ...


class CatalogEvents(Protocol):
    """Puts catalog events on the event bus.

    Contract: `put(source, detail_type, detail)` returns the new event id; raises `RetryableStoreError` when
    the bus throttled or failed the entry.
    """

    def put(self, source: str, detail_type: str, detail: dict[str, Any]) -> str: ...


class DeadLetters(Protocol):
    """A dead-letter queue: `send(body, cause)` keeps a message for an operator, with its cause."""

    def send(self, body: dict[str, Any], cause: str) -> None: ...
