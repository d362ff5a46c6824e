"""In-memory fakes of the store ports, keeping the same rules as the DynamoDB adapters.

`InMemoryProductStore` (`ProductStore`) and `InMemoryKnowledgeStore` (`KnowledgeStore`) are for fast tests
and the evaluation: conditional creates, optimistic version checks that raise `Conflict` with nothing
written, atomic knowledge changes, idempotent influence records, snapshot export/import with the same
validation, paginated scans. `tests/contract/` runs the same assertions against these and the DynamoDB
adapters on moto.

Faithfulness: what is stored is what DynamoDB would give back (`dynamodb_codec.stored_form`: top-level
None dropped, whole floats as ints), kept as plain data and validated into fresh models on every read,
so a caller mutating a returned object (or the object it wrote) never changes the store. Items are keyed
as the Knowledge table keys them (a learning lives under its node; a locator, created with version 1,
says where), so the same writes conflict in both. Every call holds one re-entrant lock, so a fake shared
by threads behaves like the table's per-request atomicity; read-decide-write races between calls stay real.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from cataloop.adapters.dynamodb_codec import stored_form
from cataloop.adapters.dynamodb_knowledge_items import (
    MAX_TRANSACTION_ITEMS,
    PromptEntries,
    audit_key,
    conflict,
    decode_prompt_entries,
    duplicate_items,
    encode_prompt_entries,
    influence_sk,
    prompt_candidates,
    prompt_entries_with,
    retrievable,
    too_many_writes,
    validated_snapshot,
)
from cataloop.adapters.dynamodb_products import (
    REDRIVES,
    RELEASED,
    already_exists,
    changed_since,
    not_owned,
    not_stranded,
    owned_pending,
    product_from_image,
)
from cataloop.domain.catalog.listing import ProductListing
from cataloop.domain.catalog.stored import StoredProduct
from cataloop.domain.knowledge.changes import (
    change_for,
    imported_node_change,
    recount_change,
    store_imported,
)
from cataloop.domain.knowledge.learning import LearningView
from cataloop.domain.knowledge.retrieval import PromptCandidate
from cataloop.domain.knowledge.tree import (
    ImportResult,
    Influence,
    KnowledgeChange,
    KnowledgeNode,
    KnowledgeSnapshot,
    Learning,
    path_key,
    utc_now,
)
from cataloop.errors import CataloopError

DEFAULT_PAGE_SIZE = 500


def _fresh(data: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(data)


# --------------------------------------------------------------------------------------------- products


class InMemoryProductStore:
    """The `ProductStore` port in a dict, with the DynamoDB adapter's rules (see `DynamoProductStore`)."""

    def __init__(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self._items: dict[str, dict[str, Any]] = {}
        self._page_size = page_size
        self._lock = threading.RLock()

    def _read(self, product_id: str) -> StoredProduct | None:
        data = self._items.get(product_id)
        return None if data is None else StoredProduct.model_validate(_fresh(data))

    def get(self, product_id: str) -> StoredProduct | None:
        with self._lock:
            return self._read(product_id)

    def create_pending(self, listing: ProductListing, event_id: str, now: str) -> tuple[StoredProduct, bool]:
        """Version 1, PENDING, unless the product exists: a redelivery of the same event gets the stored
        product and False; another event for an existing product is a Conflict."""
        product = StoredProduct.pending(listing, event_id, now)
        data = stored_form(product.model_dump(mode="json"))
        with self._lock:
            existing = self._read(listing.product_id)
            if existing is None:
                self._items[listing.product_id] = data
                return StoredProduct.model_validate(_fresh(data)), True
        if existing.source_event_id == event_id:
            return existing, False
        raise already_exists(listing.product_id, existing)

    def put_version(self, product: StoredProduct) -> StoredProduct:
        """Write `product` as version N+1 of the stored version N (`product.version` is the version read);
        Conflict, with nothing written, when the stored version is another or the product is absent."""
        new = product.model_copy(update={"version": product.version + 1})
        data = stored_form(new.model_dump(mode="json"))
        with self._lock:
            stored = self._items.get(product.product_id)
            if stored is None or stored.get("version") != product.version:
                raise changed_since(product)
            self._items[product.product_id] = data
        return StoredProduct.model_validate(_fresh(data))

    def take_over_pending(
        self, listing: ProductListing, event_id: str, now: str, stale_before: str
    ) -> StoredProduct:
        """`event_id` becomes the owner of a stranded PENDING product (released by the redrive, or without
        an enrichment and last written before `stale_before`): the new listing as version N+1; Conflict
        otherwise, with nothing written."""
        with self._lock:
            data = self._items.get(listing.product_id)
            takeable = (
                data is not None
                and data.get("status") == "PENDING"
                and data.get("source_event_id") != event_id
                and (
                    data.get(RELEASED) is True
                    or ("enrichment" not in data and str(data.get("updated_at")) < stale_before)
                )
            )
            if data is None or not takeable:
                raise not_stranded(listing.product_id, self._read(listing.product_id), stale_before)
            new = dict(_fresh(data))
            new.pop(RELEASED, None)
            new.update(
                stored_form(
                    {
                        "listing": listing.model_dump(mode="json"),
                        "source_event_id": event_id,
                        "version": int(data["version"]) + 1,
                        "updated_at": now,
                    }
                )
            )
            self._items[listing.product_id] = new
            return StoredProduct.model_validate(_fresh(new))

    def release_stranded(self, product_id: str, event_id: str, max_redrives: int) -> int | None:
        """Count one redrive of a PENDING product owned by `event_id` and release it for a take-over;
        None when `max_redrives` were used; Conflict when it is not PENDING under `event_id`."""
        with self._lock:
            current = self._read(product_id)
            if current is None or not owned_pending(current, event_id):
                raise not_owned(product_id, event_id, current)
            data = self._items[product_id]
            count = int(data.get(REDRIVES, 0))
            if count >= max_redrives:
                return None
            data[REDRIVES] = count + 1
            data[RELEASED] = True
            return count + 1

    def listings(self, product_ids: Sequence[str]) -> list[ProductListing]:
        """The listings of the ids that exist, in the order asked, each id once."""
        unique = [product_id for product_id in dict.fromkeys(product_ids) if product_id]
        with self._lock:
            found = [self._items[product_id] for product_id in unique if product_id in self._items]
            return [ProductListing.model_validate(_fresh(data["listing"])) for data in found]

    def waiting_for_review(self) -> Iterator[list[StoredProduct]]:
        """The NEEDS_REVIEW products, `page_size` per yield, by product id."""
        with self._lock:
            waiting = [_fresh(self._items[key]) for key in sorted(self._items)]
        products = [product_from_image(data) for data in waiting if data.get("status") == "NEEDS_REVIEW"]
        for start in range(0, len(products), self._page_size):
            yield products[start : start + self._page_size]

    def scan(self) -> Iterator[list[StoredProduct]]:
        """Every stored product, `page_size` per yield, in product id order. Like a DynamoDB Scan, each
        page is read when it is asked for (from after the last id of the page before)."""
        after: str | None = None
        while True:
            with self._lock:
                ids = sorted(key for key in self._items if after is None or key > after)
                page = [_fresh(self._items[key]) for key in ids[: self._page_size]]
            if not page:
                return
            yield [product_from_image(data) for data in page]
            if len(ids) <= self._page_size:
                return
            after = str(page[-1]["product_id"])

    def approximate_count(self) -> int:
        with self._lock:
            return len(self._items)


# -------------------------------------------------------------------------------------------- knowledge

_Key = tuple[str, str]  # (node key, learning id): where a learning item lives, as in the Knowledge table


class InMemoryKnowledgeStore:
    """The `KnowledgeStore` port in dicts, with the DynamoDB adapter's rules (see `DynamoKnowledgeStore`):
    the same items (nodes, learnings under their node, locators, influence and audit records), the same
    conditions, the same orders. `items_read` counts the items the table's Query and GetItem calls would
    read (a node partition: its node and every learning; the active index: only live active learnings; a
    prompt set: one item per node, read by retrieval and rewritten by every commit of the node's learnings)."""

    def __init__(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self._nodes: dict[str, dict[str, Any]] = {}  # node key -> node
        self._learnings: dict[_Key, dict[str, Any]] = {}
        self._locators: dict[str, str] = {}  # learning id -> node key (written with version 1)
        self._influence: dict[tuple[str, str], dict[str, Any]] = {}  # (learning id, sk) -> influence
        self._audit: dict[tuple[str, str], dict[str, Any]] = {}  # (day, sk) -> audit entry
        # node key -> {"rev": n, "candidates": encoded entries, or None when the set overflowed}
        self._prompt_sets: dict[str, dict[str, Any]] = {}
        self._page_size = page_size
        self._lock = threading.RLock()
        self.items_read = 0  # what DynamoDB's Query (ScannedCount) and GetItem would read

    # ------------------------------------------------------------------------------------------ reads

    def _node(self, key: str) -> KnowledgeNode | None:
        data = self._nodes.get(key)
        self.items_read += data is not None
        return None if data is None else KnowledgeNode.model_validate(_fresh(data))

    def _partition(self, key: str) -> list[Learning]:
        found = sorted(
            (learning_id, data) for (node, learning_id), data in self._learnings.items() if node == key
        )
        self.items_read += len(found)
        return [Learning.model_validate(_fresh(data)) for _, data in found]

    def _active(self, key: str) -> list[Learning]:
        """What a Query of the sparse active index reads for node `key`: its retrievable learnings only."""
        found = sorted(
            (learning_id, learning)
            for (node, learning_id), data in self._learnings.items()
            if node == key and retrievable(learning := Learning.model_validate(_fresh(data)))
        )
        self.items_read += len(found)
        return [learning for _, learning in found]

    def get_node(self, path: Sequence[str]) -> KnowledgeNode | None:
        with self._lock:
            return self._node(path_key(path))

    def node_partition(self, path: Sequence[str]) -> tuple[KnowledgeNode | None, list[Learning]]:
        """The node at `path` and every learning stored under it (any status), by learning id."""
        key = path_key(path)
        with self._lock:
            return self._node(key), self._partition(key)

    def list_learnings(self, path: Sequence[str]) -> list[Learning]:
        return self.node_partition(path)[1]

    def learnings_along(self, path: Sequence[str]) -> list[Learning]:
        """Learnings under the root and every prefix of `path` (any status), root first; reads each whole
        node partition, as the DynamoDB adapter does."""
        with self._lock:
            found: list[Learning] = []
            for depth in range(len(path) + 1):
                found.extend(self.node_partition(path[:depth])[1])
            return found

    def active_learnings_along(self, path: Sequence[str]) -> list[Learning]:
        """The live active learnings under the root and every prefix of `path`, root first, by id within a
        level; reads only those (the DynamoDB adapter's sparse index)."""
        with self._lock:
            return [item for depth in range(len(path) + 1) for item in self._active(path_key(path[:depth]))]

    def prompt_candidates_along(self, path: Sequence[str]) -> list[PromptCandidate]:
        """The candidates of the live active learnings under the root and every prefix of `path`, root
        first, by id within a level: one prompt set item read per level that has one (a level whose set
        overflowed or is missing reads its active learnings, as the DynamoDB adapter reads the index)."""
        with self._lock:
            found: list[PromptCandidate] = []
            for key in dict.fromkeys(path_key(path[:depth]) for depth in range(len(path) + 1)):
                stored = self._prompt_sets.get(key)
                self.items_read += stored is not None
                if stored is None or stored["candidates"] is None:
                    found.extend(PromptCandidate.of(learning) for learning in self._active(key))
                else:
                    found.extend(prompt_candidates(decode_prompt_entries(stored["candidates"])))
            return found

    def _retrievable_entries(self, key: str) -> PromptEntries:
        return prompt_entries_with({}, self._partition(key))

    def _prompt_set_after(self, key: str, learnings: Sequence[Learning], created: bool) -> dict[str, Any]:
        """A node's next prompt set, read as the DynamoDB adapter reads it (the set, or the partition when
        it is missing or overflowed; nothing for a node the change creates)."""
        stored = None if created else self._prompt_sets.get(key)
        self.items_read += stored is not None
        if created:
            entries: PromptEntries = {}
        elif stored is None or stored["candidates"] is None:
            entries = self._retrievable_entries(key)
        else:
            entries = decode_prompt_entries(stored["candidates"])
        return {
            "rev": (0 if stored is None else stored["rev"]) + 1,
            "candidates": encode_prompt_entries(prompt_entries_with(entries, learnings)),
        }

    def get_learning(self, learning_id: str) -> Learning | None:
        """The current version, found through the learning's locator."""
        with self._lock:
            key = self._locators.get(learning_id)
            data = None if key is None else self._learnings.get((key, learning_id))
            self.items_read += (key is not None) + (data is not None)
            return None if data is None else Learning.model_validate(_fresh(data))

    def tree(self) -> list[KnowledgeNode]:
        with self._lock:
            nodes = [KnowledgeNode.model_validate(_fresh(data)) for data in self._nodes.values()]
        return sorted(nodes, key=lambda node: (len(node.path), node.key))

    def influenced_products(self, learning_id: str) -> list[Influence]:
        """Every extraction recorded as using `learning_id`, by product id then product version."""
        with self._lock:
            found = sorted(
                (sk, data) for (owner, sk), data in self._influence.items() if owner == learning_id
            )
            self.items_read += len(found)
            return [Influence.model_validate(_fresh(data)) for _, data in found]

    def audit_log(self, day: str) -> list[dict[str, Any]]:
        """All audit entries of one UTC day ('YYYY-MM-DD'), in time order."""
        with self._lock:
            entries = [
                _fresh(data) for (entry_day, _), data in sorted(self._audit.items()) if entry_day == day
            ]
            self.items_read += len(entries)
            return entries

    def scan_learnings(self) -> Iterator[list[Learning]]:
        """Every learning item (any status), `page_size` per yield, by (node key, learning id)."""
        after: _Key | None = None
        while True:
            with self._lock:
                keys = sorted(key for key in self._learnings if after is None or key > after)
                page = [_fresh(self._learnings[key]) for key in keys[: self._page_size]]
            if not page:
                return
            yield [Learning.model_validate(data) for data in page]
            if len(keys) <= self._page_size:
                return
            after = keys[self._page_size - 1]

    def approximate_count(self) -> int:
        """Every item the Knowledge table would hold (nodes, learnings, locators, influence, audit), like
        DescribeTable's ItemCount: an upper bound of what `scan_learnings` yields."""
        with self._lock:
            return (
                len(self._nodes)
                + len(self._learnings)
                + len(self._locators)
                + len(self._influence)
                + len(self._audit)
                + len(self._prompt_sets)
            )

    # ----------------------------------------------------------------------------------------- writes

    def commit(self, change: KnowledgeChange) -> None:
        """Apply `change` atomically: every node and learning at version 1 must be absent, any other version
        N must replace N - 1, every checked node must be at its version; otherwise Conflict and nothing is
        written. The same limits as a DynamoDB transaction (100 items, each item once)."""
        if change.empty:
            return
        twice = duplicate_items(change)
        if twice:
            raise CataloopError(f"one knowledge change writes or checks {', '.join(twice)} more than once")
        # one prompt set write per node created (empty) or whose learnings change, as in the table
        by_node: dict[str, list[Learning]] = {node.key: [] for node in change.nodes if node.version == 1}
        for learning in change.learnings:
            by_node.setdefault(path_key(learning.scope_path), []).append(learning)
        writes = len(change.nodes) + len(change.checks) + len(by_node)
        writes += sum(1 + (learning.version == 1) + bool(learning.audit) for learning in change.learnings)
        if writes > MAX_TRANSACTION_ITEMS:
            raise too_many_writes(writes)
        nodes = [(node.key, stored_form(node.model_dump(mode="json"))) for node in change.nodes]
        learnings = [
            ((path_key(learning.scope_path), learning.id), stored_form(learning.model_dump(mode="json")))
            for learning in change.learnings
        ]
        audits = [entry for entry in map(audit_key, change.learnings) if entry is not None]
        with self._lock:
            failed = [
                *(
                    node.key
                    for node in change.nodes
                    if self._version(self._nodes.get(node.key)) != node.version - 1
                ),
                *(
                    path_key(check.path)
                    for check in change.checks
                    if self._version(self._nodes.get(path_key(check.path))) != check.version
                ),
                *(
                    learning.id
                    for (key, _), learning in zip(learnings, change.learnings, strict=True)
                    if self._version(self._learnings.get(key)) != learning.version - 1
                    or (learning.version == 1 and learning.id in self._locators)
                ),
            ]
            created = {node.key for node in change.nodes if node.version == 1}
            prompt_sets = {
                key: self._prompt_set_after(key, learnings, key in created)
                for key, learnings in by_node.items()
            }
            failed += [key for key in created & set(prompt_sets) if key in self._prompt_sets]
            if failed:
                raise conflict(["ConditionalCheckFailed"])
            self._prompt_sets.update(prompt_sets)
            for node_key, data in nodes:
                self._nodes[node_key] = data
            for (scope_key, learning_id), data in learnings:
                self._learnings[(scope_key, learning_id)] = data
                if data["version"] == 1:
                    self._locators[learning_id] = scope_key
            for pk, sk, attributes in audits:
                self._audit[(pk.removeprefix("AUDIT#"), sk)] = stored_form(attributes)

    @staticmethod
    def _version(data: dict[str, Any] | None) -> int:
        return 0 if data is None else int(data["version"])

    def put_node(self, node: KnowledgeNode) -> None:
        """Create `node` (version 1) or write it over version - 1; Conflict otherwise."""
        self.commit(KnowledgeChange(nodes=[node]))

    def put_learning(self, learning: Learning) -> None:
        """Create `learning` (version 1) or write it over version - 1, bumping its node's version and live
        count in the same change; Conflict if either changed since it was read."""
        with self._lock:
            previous = None if learning.version == 1 else self.get_learning(learning.id)
            node = self.get_node(learning.scope_path)
            if node is None:
                raise CataloopError(
                    f"no knowledge node {learning.scope_path}; place the learning to create it"
                )
            self.commit(change_for([(learning, previous)], {node.key: node}))

    def record_influence(
        self,
        learnings: Sequence[LearningView],
        product_id: str,
        product_version: int,
        execution_id: str | None,
        at: datetime,
    ) -> None:
        """One record per (learning, product, product version), rewritten by a retried Persist."""
        records = {
            view.id: Influence(
                learning_id=view.id,
                learning_version=view.version,
                product_id=product_id,
                product_version=product_version,
                execution_id=execution_id,
                at=at,
            )
            for view in learnings
        }
        sk = influence_sk(product_id, product_version)
        with self._lock:
            for learning_id, influence in records.items():
                self._influence[(learning_id, sk)] = stored_form(influence.model_dump(mode="json"))

    # ------------------------------------------------------------------------------------ snapshots

    def export_snapshot(self, now: datetime) -> KnowledgeSnapshot:
        """Every node (shallowest first) and learning (by id, with its audit history)."""
        with self._lock:
            nodes = [KnowledgeNode.model_validate(_fresh(data)) for data in self._nodes.values()]
            learnings = [Learning.model_validate(_fresh(data)) for data in self._learnings.values()]
        nodes.sort(key=lambda node: (len(node.path), node.key))
        learnings.sort(key=lambda learning: learning.id)
        return KnowledgeSnapshot(exported_at=now, nodes=nodes, learnings=learnings)

    def import_snapshot(self, snapshot: KnowledgeSnapshot) -> ImportResult:
        """Validate the whole snapshot (InvalidInput, nothing written), then merge it as the DynamoDB adapter
        does: nodes created (version 1, no learnings counted) or given the union of children; a learning
        written unless the stored one is at the same or a newer version (a live one lands `proposed`, with an
        audit entry naming the importer, unless the service already did that); then node counts recomputed.
        The fake holds its lock for the whole import."""
        snapshot = validated_snapshot(snapshot)
        with self._lock:
            for node in snapshot.nodes:
                self._merge_node(node)
            written = kept = 0
            at = utc_now()
            for incoming in snapshot.learnings:
                learning = store_imported(incoming, at)
                key = (path_key(learning.scope_path), learning.id)
                if self._version(self._learnings.get(key)) < learning.version:
                    self._learnings[key] = stored_form(learning.model_dump(mode="json"))
                    written += 1
                else:
                    kept += 1
                self._locators[learning.id] = key[0]
            for node in snapshot.nodes:
                self._recount(node.path)
        return ImportResult(nodes=len(snapshot.nodes), learnings_written=written, learnings_kept=kept)

    def _merge_node(self, incoming: KnowledgeNode) -> None:
        self.commit(imported_node_change(self.get_node(incoming.path), incoming))

    def _recount(self, path: Sequence[str]) -> None:
        node, learnings = self.node_partition(path)
        if node is not None:
            self.commit(recount_change(node, learnings))
            key = path_key(path)
            stored = self._prompt_sets.get(key)
            self.items_read += stored is not None
            self._prompt_sets[key] = {
                "rev": (0 if stored is None else stored["rev"]) + 1,
                "candidates": encode_prompt_entries(self._retrievable_entries(key)),
            }
