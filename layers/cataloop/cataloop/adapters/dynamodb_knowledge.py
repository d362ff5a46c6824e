"""The knowledge base on the Knowledge table (single-table design): `DynamoKnowledgeStore`, nodes, learnings,
locators, influences and audit items read and written with the low-level client.

All writes of one operation go in one TransactWriteItems: items at version 1 are created only if absent,
later versions only over the version before them, and the nodes the decision read are condition-checked.

The item layout, key scheme and item decoders are in `dynamodb_knowledge_items.py`, with the checks and errors
this store shares with `InMemoryKnowledgeStore`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from cataloop.adapters.dynamodb_codec import from_item, to_item
from cataloop.adapters.dynamodb_errors import RetryableErrors
from cataloop.adapters.dynamodb_knowledge_items import (
    INFLUENCE_PREFIX,
    LEARNING_PREFIX,
    LOCATOR_SK,
    MAX_TRANSACTION_ITEMS,
    NODE_PREFIX,
    NODE_SK,
    audit_key,
    conflict,
    duplicate_items,
    influence_sk,
    learning_from_image,
    learning_pk_for,
    node_pk_for,
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

SCAN_PAGE_SIZE = 500
_CONFLICT_CODES = frozenset({"ConditionalCheckFailed", "TransactionConflict"})


class DynamoKnowledgeStore:
    """The knowledge base on one DynamoDB table (low-level client)."""

    def __init__(self, client: Any, table_name: str, *, scan_page_size: int = SCAN_PAGE_SIZE):
        self._client = RetryableErrors(client)  # throttling and 5xx -> RetryableStoreError
        self._table = table_name
        self._page_size = scan_page_size

    @property
    def table(self) -> str:
        return self._table

    # ------------------------------------------------------------------------------------------ reads

    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        start: dict[str, Any] | None = None
        while True:
            page = self._client.query(
                TableName=self._table,
                ConsistentRead=True,
                **kwargs,
                **({"ExclusiveStartKey": start} if start else {}),
            )
            yield from page.get("Items", [])
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

    def get_node(self, path: Sequence[str]) -> KnowledgeNode | None:
        item = self._client.get_item(
            TableName=self._table,
            Key={"pk": {"S": node_pk_for(path)}, "sk": {"S": NODE_SK}},
            ConsistentRead=True,
        ).get("Item")
        return None if item is None else KnowledgeNode.model_validate(strip_item(item))

    def node_partition(self, path: Sequence[str]) -> tuple[KnowledgeNode | None, list[Learning]]:
        """The node at `path` and every learning stored under it (any status), in one consistent Query."""
        node: KnowledgeNode | None = None
        learnings: list[Learning] = []
        for item in self._query(
            KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": node_pk_for(path)}}
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
        """Learnings under the root and every prefix of `path`, root first (one Query per level)."""
        found: list[Learning] = []
        for depth in range(len(path) + 1):
            found.extend(self.list_learnings(path[:depth]))
        return found

    def get_learning(self, learning_id: str) -> Learning | None:
        locator = self._client.get_item(
            TableName=self._table,
            Key={"pk": {"S": learning_pk_for(learning_id)}, "sk": {"S": LOCATOR_SK}},
            ConsistentRead=True,
        ).get("Item")
        if locator is None:
            return None
        item = self._client.get_item(
            TableName=self._table,
            Key={"pk": {"S": locator["node_pk"]["S"]}, "sk": {"S": f"{LEARNING_PREFIX}{learning_id}"}},
            ConsistentRead=True,
        ).get("Item")
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
        data = learning.model_dump(mode="json")
        item = to_item({"pk": node_pk, "sk": f"{LEARNING_PREFIX}{learning.id}", "entity": "learning", **data})
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
        if len(actions) > MAX_TRANSACTION_ITEMS:
            raise too_many_writes(len(actions))
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
            data = learning.model_dump(mode="json")
            node_pk = node_pk_for(learning.scope_path)
            item = to_item(
                {"pk": node_pk, "sk": f"{LEARNING_PREFIX}{learning.id}", "entity": "learning", **data}
            )
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
