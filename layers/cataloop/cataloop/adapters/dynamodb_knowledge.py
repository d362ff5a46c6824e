"""The knowledge base on the Knowledge table (single-table design): `DynamoKnowledgeStore`, nodes, learnings,
locators, influences and audit items read and written with the low-level client.

All writes of one operation go in one TransactWriteItems: items at version 1 are created only if absent,
later versions only over the version before them, and the nodes the decision read are condition-checked.

The item layout, key scheme and item decoders are in `dynamodb_knowledge_items.py`, with the checks and errors
this store shares with `InMemoryKnowledgeStore`.

Hot-path reads go by key: `prompt_candidates_along` (retrieval for a prompt) reads each level's prompt set
(one item per node, all levels in one BatchGetItem), so what it reads does not grow with the learnings the
nodes keep; `active_learnings_along` queries the sparse `ActiveLearnings` index once per level (only the live
active learnings, whole items; a node whose prompt set overflowed is read this way). `items_read` counts the
items Query, GetItem and BatchGetItem read; `read_units` estimates the read capacity they consume.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from cataloop.adapters.dynamodb_codec import from_item, to_item
from cataloop.adapters.dynamodb_errors import RetryableErrors
from cataloop.adapters.dynamodb_knowledge_items import (
    ACTIVE_INDEX,
    ACTIVE_NODE,
    INFLUENCE_PREFIX,
    LEARNING_PREFIX,
    LOCATOR_SK,
    MAX_TRANSACTION_ITEMS,
    NODE_PREFIX,
    NODE_SK,
    PROMPT_ENTITY,
    PROMPT_SK,
    PromptEntries,
    audit_key,
    conflict,
    decode_prompt_entries,
    duplicate_items,
    encode_prompt_entries,
    influence_sk,
    learning_from_image,
    learning_item,
    learning_pk_for,
    node_pk_for,
    prompt_candidates,
    prompt_entries_with,
    retrievable,
    strip_item,
    too_many_writes,
    validated_snapshot,
)
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
    utc_now,
)
from cataloop.errors import CataloopError, Conflict

logger = logging.getLogger(__name__)

SCAN_PAGE_SIZE = 500
_CONFLICT_CODES = frozenset({"ConditionalCheckFailed", "TransactionConflict"})
_NO_INDEX_CODES = frozenset({"ValidationException", "ResourceNotFoundException"})


class DynamoKnowledgeStore:
    """The knowledge base on one DynamoDB table (low-level client)."""

    def __init__(
        self,
        client: Any,
        table_name: str,
        *,
        scan_page_size: int = SCAN_PAGE_SIZE,
        active_index: str | None = ACTIVE_INDEX,
    ):
        self._client = RetryableErrors(client)  # throttling and 5xx -> RetryableStoreError
        self._table = table_name
        self._page_size = scan_page_size
        # None (or an index the table does not have yet, found on first use): read whole node partitions.
        self._active_index = active_index
        self.items_read = 0  # items read by Query (ScannedCount, before any filter) and GetItem
        self.read_units = 0.0  # estimated RCUs of those reads (`_read_units`)

    @property
    def table(self) -> str:
        return self._table

    # ------------------------------------------------------------------------------------------ reads

    def _query(self, *, consistent: bool = True, **kwargs: Any) -> Iterator[dict[str, Any]]:
        start: dict[str, Any] | None = None
        while True:
            page = self._client.query(
                TableName=self._table,
                ConsistentRead=consistent,
                **kwargs,
                **({"ExclusiveStartKey": start} if start else {}),
            )
            items = page.get("Items", [])
            self.items_read += int(page.get("ScannedCount", len(items)))
            self.read_units += _read_units(sum(_item_size(item) for item in items), consistent)
            yield from items
            start = page.get("LastEvaluatedKey")
            if not start:
                return

    def _scan_pages(self, **kwargs: Any) -> Iterator[list[dict[str, Any]]]:
        start: dict[str, Any] | None = None
        while True:
            page = self._client.scan(
                TableName=self._table,
                ConsistentRead=True,
                **kwargs,
                **({"ExclusiveStartKey": start} if start else {}),
            )
            yield page.get("Items", [])
            start = page.get("LastEvaluatedKey")
            if not start:
                return

    def _scan(self) -> Iterator[dict[str, Any]]:
        for page in self._scan_pages():
            yield from page

    def scan_learnings(self) -> Iterator[list[Learning]]:
        """Every learning item (any status), one page per yield (a Scan filtered on the learning key
        scheme, up to `scan_page_size` items read per page; pages with no learning are skipped). An item
        that does not validate raises `InvalidInput` naming the learning id."""
        for items in self._scan_pages(
            Limit=self._page_size,
            FilterExpression="begins_with(pk, :node) AND begins_with(sk, :learning)",
            ExpressionAttributeValues={":node": {"S": NODE_PREFIX}, ":learning": {"S": LEARNING_PREFIX}},
        ):
            learnings: list[Learning] = []
            for item in items:
                data = from_item(item)
                learning = learning_from_image(data, data)
                if learning is not None:
                    learnings.append(learning)
            if learnings:
                yield learnings

    def approximate_count(self) -> int:
        """DescribeTable's ItemCount (every item: nodes, learnings, locators, influence, audit), refreshed
        about every six hours in AWS: an upper bound of what `scan_learnings` yields, for progress only."""
        return int(self._client.describe_table(TableName=self._table)["Table"].get("ItemCount", 0))

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._client.get_item(
            TableName=self._table, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
        ).get("Item")
        self.items_read += item is not None
        self.read_units += _read_units(0 if item is None else _item_size(item), True)
        return item

    def get_node(self, path: Sequence[str]) -> KnowledgeNode | None:
        item = self._get(node_pk_for(path), NODE_SK)
        return None if item is None else KnowledgeNode.model_validate(strip_item(item))

    def node_partition(self, path: Sequence[str]) -> tuple[KnowledgeNode | None, list[Learning]]:
        """The node at `path` and every learning stored under it (any status), in one consistent Query."""
        node: KnowledgeNode | None = None
        learnings: list[Learning] = []
        for item in self._query(  # from #NODE on: the node and its learnings, not its prompt set
            KeyConditionExpression="pk = :pk AND sk >= :node",
            ExpressionAttributeValues={":pk": {"S": node_pk_for(path)}, ":node": {"S": NODE_SK}},
        ):
            if item["sk"]["S"] == NODE_SK:
                node = KnowledgeNode.model_validate(strip_item(item))
            elif item["sk"]["S"].startswith(LEARNING_PREFIX):
                learnings.append(Learning.model_validate(strip_item(item)))
        return node, learnings

    def list_learnings(self, path: Sequence[str]) -> list[Learning]:
        """Learnings stored directly under `path` (any status)."""
        return self.node_partition(path)[1]

    def learnings_along(self, path: Sequence[str]) -> list[Learning]:
        """Learnings under the root and every prefix of `path` (any status), root first (one Query per
        level, reading whole node partitions: for audits and tests, not the per-product path)."""
        found: list[Learning] = []
        for depth in range(len(path) + 1):
            found.extend(self.list_learnings(path[:depth]))
        return found

    def active_learnings_along(self, path: Sequence[str]) -> list[Learning]:
        """The live active learnings under the root and every prefix of `path`, root first, by id within a
        level: one Query per level on the sparse `ActiveLearnings` index, which reads only those items
        (eventually consistent, as every GSI read: a commit shows up within about a second). Without the
        index, whole partitions are read and filtered (the same result, more reads)."""
        found: list[Learning] = []
        for depth in range(len(path) + 1):
            found.extend(self._active_under(node_pk_for(path[:depth])))
        return found

    def prompt_candidates_along(self, path: Sequence[str]) -> list[PromptCandidate]:
        """What retrieval ranks: the candidates of the live active learnings under the root and every prefix
        of `path`, root first, by id within a level. One BatchGetItem of the levels' prompt sets (eventually
        consistent, like the index), so at most one item per level is read however many learnings the nodes
        hold; a level whose prompt set overflowed or is missing (no such node, or a table from before
        prompt sets until `backfill_active_index`) is read through `ActiveLearnings`."""
        keys = list(dict.fromkeys(node_pk_for(path[:depth]) for depth in range(len(path) + 1)))
        found = self._batch_get([{"pk": {"S": key}, "sk": {"S": PROMPT_SK}} for key in keys])
        candidates: list[PromptCandidate] = []
        for key in keys:
            item = found.get(key)
            if item is not None and "candidates" in item:
                candidates.extend(prompt_candidates(decode_prompt_entries(item["candidates"]["S"])))
            else:
                candidates.extend(PromptCandidate.of(learning) for learning in self._active_under(key))
        return candidates

    def _batch_get(self, keys: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Items by pk (keys of distinct partitions, at most 100), retrying unprocessed keys."""
        found: dict[str, dict[str, Any]] = {}
        pending: dict[str, Any] = {self._table: {"Keys": keys, "ConsistentRead": False}}
        for _ in range(8):
            page = self._client.batch_get_item(RequestItems=pending)
            returned = page.get("Responses", {}).get(self._table, [])
            for item in returned:
                found[item["pk"]["S"]] = item
            self.items_read += len(returned)
            self.read_units += sum(_read_units(_item_size(item), False) for item in returned)
            self.read_units += _read_units(0, False) * (len(pending[self._table]["Keys"]) - len(returned))
            pending = page.get("UnprocessedKeys") or {}
            if not pending:
                return found
        raise CataloopError("DynamoDB kept knowledge reads unprocessed; retry")

    def _active_under(self, node_pk: str) -> list[Learning]:
        if self._active_index is not None:
            try:
                return [
                    Learning.model_validate(strip_item(item))
                    for item in self._query(
                        consistent=False,
                        IndexName=self._active_index,
                        KeyConditionExpression="#n = :pk",
                        ExpressionAttributeNames={"#n": ACTIVE_NODE},
                        ExpressionAttributeValues={":pk": {"S": node_pk}},
                    )
                ]
            except ClientError as error:
                message = str(error.response.get("Error", {}).get("Message", "")).lower()
                # DynamoDB: ValidationException (no such index, or one still backfilling); moto: not found
                if error.response["Error"]["Code"] not in _NO_INDEX_CODES or "index" not in message:
                    raise
                logger.warning(
                    "knowledge table has no usable active-learnings index; reading whole node partitions",
                    extra={"table": self._table, "index": self._active_index, "error": message},
                )
                self._active_index = None
        learnings: list[Learning] = []
        for item in self._query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :learning)",
            ExpressionAttributeValues={":pk": {"S": node_pk}, ":learning": {"S": LEARNING_PREFIX}},
        ):
            learning = Learning.model_validate(strip_item(item))
            if retrievable(learning):
                learnings.append(learning)
        return learnings

    def get_learning(self, learning_id: str) -> Learning | None:
        locator = self._get(learning_pk_for(learning_id), LOCATOR_SK)
        if locator is None:
            return None
        item = self._get(locator["node_pk"]["S"], f"{LEARNING_PREFIX}{learning_id}")
        return None if item is None else Learning.model_validate(strip_item(item))

    def tree(self) -> list[KnowledgeNode]:
        """Every node, shallowest first (a Scan: for the audit console and exports, not the hot path)."""
        nodes = [
            KnowledgeNode.model_validate(strip_item(item))
            for item in self._scan()
            if item.get("entity", {}).get("S") == "node"
        ]
        return sorted(nodes, key=lambda node: (len(node.path), node.key))

    def influenced_products(self, learning_id: str) -> list[Influence]:
        """Every extraction recorded as using `learning_id`, by product id then product version."""
        return [
            Influence.model_validate(strip_item(item))
            for item in self._query(
                KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
                ExpressionAttributeValues={
                    ":pk": {"S": learning_pk_for(learning_id)},
                    ":prefix": {"S": INFLUENCE_PREFIX},
                },
            )
        ]

    def audit_log(self, day: str) -> list[dict[str, Any]]:
        """All audit items of one UTC day ('YYYY-MM-DD'), in time order."""
        return [
            strip_item(item)
            for item in self._query(
                KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": f"AUDIT#{day}"}}
            )
        ]

    # ----------------------------------------------------------------------------------------- writes

    @staticmethod
    def _versioned(expected: int) -> dict[str, Any]:
        if expected == 0:
            return {"ConditionExpression": "attribute_not_exists(pk)"}
        return {
            "ConditionExpression": "#v = :expected",
            "ExpressionAttributeNames": {"#v": "version"},
            "ExpressionAttributeValues": {":expected": {"N": str(expected)}},
        }

    def _node_put(self, node: KnowledgeNode) -> dict[str, Any]:
        item = to_item(
            {"pk": node_pk_for(node.path), "sk": NODE_SK, "entity": "node", **node.model_dump(mode="json")}
        )
        return {"Put": {"TableName": self._table, "Item": item, **self._versioned(node.version - 1)}}

    def _learning_puts(self, learning: Learning) -> list[dict[str, Any]]:
        node_pk = node_pk_for(learning.scope_path)
        item = to_item(learning_item(learning))
        actions: list[dict[str, Any]] = [
            {"Put": {"TableName": self._table, "Item": item, **self._versioned(learning.version - 1)}}
        ]
        if learning.version == 1:
            locator = {
                "pk": learning_pk_for(learning.id),
                "sk": LOCATOR_SK,
                "entity": "locator",
                "node_pk": node_pk,
            }
            actions.append(
                {"Put": {"TableName": self._table, "Item": to_item(locator), **self._versioned(0)}}
            )
        audit = audit_key(learning)
        if audit is not None:
            pk, sk, attributes = audit
            item = to_item({"pk": pk, "sk": sk, "entity": "audit", **attributes})
            actions.append({"Put": {"TableName": self._table, "Item": item}})
        return actions

    def commit(self, change: KnowledgeChange) -> None:
        """Write `change` atomically; Conflict if any item or checked node changed since it was read."""
        if change.empty:
            return
        twice = duplicate_items(change)
        if twice:
            raise CataloopError(f"one knowledge change writes or checks {', '.join(twice)} more than once")
        actions: list[dict[str, Any]] = [self._node_put(node) for node in change.nodes]
        for check in change.checks:
            actions.append(
                {
                    "ConditionCheck": {
                        "TableName": self._table,
                        "Key": {"pk": {"S": node_pk_for(check.path)}, "sk": {"S": NODE_SK}},
                        **self._versioned(check.version),
                    }
                }
            )
        for learning in change.learnings:
            actions.extend(self._learning_puts(learning))
        # one prompt set write per node created (empty) or whose learnings change
        created: dict[str, list[Learning]] = {
            node_pk_for(node.path): [] for node in change.nodes if node.version == 1
        }
        grouped = {**created, **_by_node(change.learnings)}
        if len(actions) + len(grouped) > MAX_TRANSACTION_ITEMS:
            raise too_many_writes(len(actions) + len(grouped))
        for node_pk, learnings in grouped.items():
            actions.append(self._prompt_set_put(node_pk, learnings, created=node_pk in created))
        try:
            self._client.transact_write_items(TransactItems=actions)
        except ClientError as error:
            code = error.response["Error"]["Code"]
            reasons = {reason.get("Code") for reason in error.response.get("CancellationReasons", [])}
            if code == "TransactionCanceledException" and (reasons & _CONFLICT_CODES or not reasons):
                raise conflict([r for r in reasons if r and r != "None"]) from error
            if code == "TransactionConflictException":
                raise Conflict("another transaction is writing the same knowledge items; retry") from error
            raise

    def _retrievable_entries(self, node_pk: str) -> PromptEntries:
        """A node's prompt set recomputed from its partition (consistent Query of its learnings)."""
        learnings = [
            Learning.model_validate(strip_item(item))
            for item in self._query(
                KeyConditionExpression="pk = :pk AND begins_with(sk, :learning)",
                ExpressionAttributeValues={":pk": {"S": node_pk}, ":learning": {"S": LEARNING_PREFIX}},
            )
        ]
        return prompt_entries_with({}, learnings)

    def _prompt_set_put(
        self, node_pk: str, learnings: Sequence[Learning], *, created: bool
    ) -> dict[str, Any]:
        """The Put of a node's prompt set after `learnings` are written, conditional on the revision read (a
        node created by the same change starts empty; a missing or overflowed set is recomputed)."""
        stored = None if created else self._get(node_pk, PROMPT_SK)
        if created:
            entries: PromptEntries = {}
        elif stored is None or "candidates" not in stored:
            entries = self._retrievable_entries(node_pk)
        else:
            entries = decode_prompt_entries(stored["candidates"]["S"])
        return self._prompt_set_write(node_pk, prompt_entries_with(entries, learnings), stored)

    def _prompt_set_write(
        self, node_pk: str, entries: PromptEntries, stored: dict[str, Any] | None
    ) -> dict[str, Any]:
        revision = 0 if stored is None else int(stored["rev"]["N"])
        item: dict[str, Any] = {
            "pk": {"S": node_pk},
            "sk": {"S": PROMPT_SK},
            "entity": {"S": PROMPT_ENTITY},
            "rev": {"N": str(revision + 1)},
        }
        encoded = encode_prompt_entries(entries)
        if encoded is None:
            item["overflow"] = {"BOOL": True}
        else:
            item["candidates"] = {"S": encoded}
        condition: dict[str, Any] = (
            {"ConditionExpression": "attribute_not_exists(pk)"}
            if stored is None
            else {
                "ConditionExpression": "#r = :rev",
                "ExpressionAttributeNames": {"#r": "rev"},
                "ExpressionAttributeValues": {":rev": {"N": str(revision)}},
            }
        )
        return {"Put": {"TableName": self._table, "Item": item, **condition}}

    def _rebuild_prompt_set(self, node_pk: str) -> None:
        """Recompute a node's prompt set from its partition (after an import, or for a table written before
        prompt sets); Conflict when another writer changed it meanwhile."""
        stored = self._get(node_pk, PROMPT_SK)
        put = self._prompt_set_write(node_pk, self._retrievable_entries(node_pk), stored)["Put"]
        try:
            self._client.put_item(**put)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            raise conflict(["ConditionalCheckFailed"]) from error

    def put_node(self, node: KnowledgeNode) -> None:
        """Create `node` (version 1) or write it over version - 1; Conflict otherwise."""
        self.commit(KnowledgeChange(nodes=[node]))

    def put_learning(self, learning: Learning) -> None:
        """Create `learning` (version 1) or write it over version - 1, bumping its node's version and live
        count in the same transaction; Conflict if either changed since it was read."""
        previous = None if learning.version == 1 else self.get_learning(learning.id)
        node = self.get_node(learning.scope_path)
        if node is None:
            raise CataloopError(f"no knowledge node {learning.scope_path}; place the learning to create it")
        self.commit(change_for([(learning, previous)], {node.key: node}))

    def record_influence(
        self,
        learnings: Sequence[LearningView],
        product_id: str,
        product_version: int,
        execution_id: str | None,
        at: datetime,
    ) -> None:
        """Remember that the extraction of (product_id, product_version) used these learnings. Idempotent:
        a retried Persist rewrites the same items (one per learning id; a repeated view is written once,
        as BatchWriteItem refuses duplicate keys)."""
        unique = {view.id: view for view in learnings}
        items = [
            Influence(
                learning_id=view.id,
                learning_version=view.version,
                product_id=product_id,
                product_version=product_version,
                execution_id=execution_id,
                at=at,
            )
            for view in unique.values()
        ]
        for start in range(0, len(items), 25):
            requests = [
                {
                    "PutRequest": {
                        "Item": to_item(
                            {
                                "pk": learning_pk_for(influence.learning_id),
                                "sk": influence_sk(product_id, product_version),
                                "entity": "influence",
                                **influence.model_dump(mode="json"),
                            }
                        )
                    }
                }
                for influence in items[start : start + 25]
            ]
            pending: dict[str, Any] = {self._table: requests}
            for _ in range(8):
                unprocessed = (
                    self._client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
                )
                if not unprocessed:
                    break
                pending = unprocessed
            else:
                raise CataloopError(
                    f"DynamoDB kept {len(pending[self._table])} influence writes unprocessed; retry"
                )

    # ------------------------------------------------------------------------------------ snapshots

    def export_snapshot(self, now: datetime) -> KnowledgeSnapshot:
        """Every node and learning (with its audit history) as one validated snapshot."""
        nodes: list[KnowledgeNode] = []
        learnings: list[Learning] = []
        for item in self._scan():
            entity = item.get("entity", {}).get("S")
            if entity == "node":
                nodes.append(KnowledgeNode.model_validate(strip_item(item)))
            elif entity == "learning":
                learnings.append(Learning.model_validate(strip_item(item)))
        nodes.sort(key=lambda node: (len(node.path), node.key))
        learnings.sort(key=lambda learning: learning.id)
        return KnowledgeSnapshot(exported_at=now, nodes=nodes, learnings=learnings)

    def import_snapshot(self, snapshot: KnowledgeSnapshot, max_attempts: int = 8) -> ImportResult:
        """Merge a snapshot: it is validated again as a whole first (InvalidInput, nothing written), then
        nodes are created or get the union of children, a learning is written unless the stored one is at
        the same or a newer version (a live one lands `proposed`, with an audit entry naming the importer,
        unless the service already did that), then node counts are recomputed."""
        snapshot = validated_snapshot(snapshot)
        for node in snapshot.nodes:
            self._retrying(lambda node=node: self._merge_node(node), max_attempts)
        written = kept = 0
        at = utc_now()
        for incoming in snapshot.learnings:
            learning = store_imported(incoming, at)
            node_pk = node_pk_for(learning.scope_path)
            item = to_item(learning_item(learning))
            try:
                self._client.put_item(
                    TableName=self._table,
                    Item=item,
                    ConditionExpression="attribute_not_exists(pk) OR #v < :incoming",
                    ExpressionAttributeNames={"#v": "version"},
                    ExpressionAttributeValues={":incoming": {"N": str(learning.version)}},
                )
                written += 1
            except ClientError as error:
                if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                kept += 1
            locator = {
                "pk": learning_pk_for(learning.id),
                "sk": LOCATOR_SK,
                "entity": "locator",
                "node_pk": node_pk,
            }
            self._client.put_item(TableName=self._table, Item=to_item(locator))
        for node in snapshot.nodes:
            self._retrying(lambda node=node: self._recount(node.path), max_attempts)
        return ImportResult(nodes=len(snapshot.nodes), learnings_written=written, learnings_kept=kept)

    def backfill_active_index(self, max_attempts: int = 8) -> int:
        """One-off, for a table created before the `ActiveLearnings` index or the prompt sets: set
        `active_node` on every retrievable learning that lacks it (a conditional update at its current
        version, so a concurrent writer wins and writes the attribute itself), and write the prompt set of
        every node with a retrievable learning that has none. Idempotent; returns how many learning items
        it updated."""
        updated = 0
        nodes: set[str] = set()
        for page in self.scan_learnings():
            for learning in page:
                if not retrievable(learning):
                    continue
                node_pk = node_pk_for(learning.scope_path)
                nodes.add(node_pk)
                try:
                    self._client.update_item(
                        TableName=self._table,
                        Key={"pk": {"S": node_pk}, "sk": {"S": f"{LEARNING_PREFIX}{learning.id}"}},
                        UpdateExpression="SET #a = :pk",
                        ConditionExpression="#v = :version AND attribute_not_exists(#a)",
                        ExpressionAttributeNames={"#a": ACTIVE_NODE, "#v": "version"},
                        ExpressionAttributeValues={
                            ":pk": {"S": node_pk},
                            ":version": {"N": str(learning.version)},
                        },
                    )
                    updated += 1
                except ClientError as error:
                    if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                        raise
        for node_pk in sorted(nodes):
            if self._get(node_pk, PROMPT_SK) is None:
                self._retrying(lambda node_pk=node_pk: self._rebuild_prompt_set(node_pk), max_attempts)
        return updated

    @staticmethod
    def _retrying(write: Any, max_attempts: int) -> None:
        for attempt in range(max_attempts):
            try:
                write()
                return
            except Conflict:
                if attempt == max_attempts - 1:
                    raise

    def _merge_node(self, incoming: KnowledgeNode) -> None:
        self.commit(imported_node_change(self.get_node(incoming.path), incoming))

    def _recount(self, path: Sequence[str]) -> None:
        node, learnings = self.node_partition(path)
        if node is not None:
            self.commit(recount_change(node, learnings))
            self._rebuild_prompt_set(node_pk_for(path))


def _value_size(value: dict[str, Any]) -> int:
    (kind, data), *_ = value.items()
    if kind in ("S", "B"):
        return len(data.encode() if isinstance(data, str) else data)
    if kind == "N":
        return len(str(data).lstrip("-").replace(".", "")) // 2 + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + _value_size(item) for item in data)
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + _value_size(item) for name, item in data.items())
    return sum(len(str(item).encode()) for item in data)  # sets


def _item_size(item: dict[str, Any]) -> int:
    """DynamoDB's item size, approximately: attribute names plus values (numbers about half their digits)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _read_units(size: int, consistent: bool) -> float:
    """RCUs of one read of `size` bytes (one item, or a Query page's items together): a unit per 4 KB or
    part of it (at least one), halved when eventually consistent."""
    return max(1, -(-size // 4096)) * (1.0 if consistent else 0.5)


def _by_node(learnings: Sequence[Learning]) -> dict[str, list[Learning]]:
    """The learnings of a change grouped by the pk of their node, in change order."""
    grouped: dict[str, list[Learning]] = {}
    for learning in learnings:
        grouped.setdefault(node_pk_for(learning.scope_path), []).append(learning)
    return grouped
