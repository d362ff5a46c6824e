"""Knowledge table (single-table design): nodes, learnings, locators, influences and audit items.

Item layout (pk, sk):
- node          NODE#<path key>        #NODE                          the category node (version-locked)
- learning      NODE#<path key>        LEARNING#<id>                  a learning, in its node's partition,
                                                                      so one Query reads a node and its learnings
- locator       LEARNING#<id>          #LOCATOR                       where learning <id> lives (never moves)
- influence     LEARNING#<id>          INFLUENCE#<product>#<version>  an extraction used the learning, so "which
                                                                      products did it influence" is one Query
- audit         AUDIT#<YYYY-MM-DD>     <at>#<id>#<version>            every change of the day, in time order

All writes of one operation go in one TransactWriteItems: items at version 1 are created only if absent,
later versions only over the version before them, and the nodes the decision read are condition-checked.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from cataloop.adapters.dynamodb_codec import from_item, to_item
from cataloop.domain.knowledge.learning import LearningView
from cataloop.domain.knowledge.tree import (
    ImportResult,
    Influence,
    KnowledgeChange,
    KnowledgeNode,
    KnowledgeSnapshot,
    Learning,
    change_for,
    path_key,
)
from cataloop.errors import CataloopError, Conflict

NODE_SK = "#NODE"
LOCATOR_SK = "#LOCATOR"
MAX_TRANSACTION_ITEMS = 100
_CONFLICT_CODES = frozenset({"ConditionalCheckFailed", "TransactionConflict"})


def _node_pk(path: Sequence[str]) -> str:
    return f"NODE#{path_key(path)}"


def _learning_pk(learning_id: str) -> str:
    return f"LEARNING#{learning_id}"


def _strip(item: dict[str, Any]) -> dict[str, Any]:
    data = from_item(item)
    for key in ("pk", "sk", "entity"):
        data.pop(key, None)
    return data


class DynamoKnowledgeStore:
    """The knowledge base on one DynamoDB table (low-level client)."""

    def __init__(self, client: Any, table_name: str):
        self._client = client
        self._table = table_name

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

    def _scan(self) -> Iterator[dict[str, Any]]:
        start: dict[str, Any] | None = None
        while True:
            page = self._client.scan(
                TableName=self._table, ConsistentRead=True, **({"ExclusiveStartKey": start} if start else {})
            )
            yield from page.get("Items", [])
            start = page.get("LastEvaluatedKey")
            if not start:
                return

    def get_node(self, path: Sequence[str]) -> KnowledgeNode | None:
        item = self._client.get_item(
            TableName=self._table,
            Key={"pk": {"S": _node_pk(path)}, "sk": {"S": NODE_SK}},
            ConsistentRead=True,
        ).get("Item")
        return None if item is None else KnowledgeNode.model_validate(_strip(item))

    def node_partition(self, path: Sequence[str]) -> tuple[KnowledgeNode | None, list[Learning]]:
        """The node at `path` and every learning stored under it (any status), in one consistent Query."""
        node: KnowledgeNode | None = None
        learnings: list[Learning] = []
        for item in self._query(
            KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": _node_pk(path)}}
        ):
            if item["sk"]["S"] == NODE_SK:
                node = KnowledgeNode.model_validate(_strip(item))
            elif item["sk"]["S"].startswith("LEARNING#"):
                learnings.append(Learning.model_validate(_strip(item)))
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
            Key={"pk": {"S": _learning_pk(learning_id)}, "sk": {"S": LOCATOR_SK}},
            ConsistentRead=True,
        ).get("Item")
        if locator is None:
            return None
        item = self._client.get_item(
            TableName=self._table,
            Key={"pk": {"S": locator["node_pk"]["S"]}, "sk": {"S": f"LEARNING#{learning_id}"}},
            ConsistentRead=True,
        ).get("Item")
        return None if item is None else Learning.model_validate(_strip(item))

    def tree(self) -> list[KnowledgeNode]:
        """Every node, shallowest first (a Scan: for the audit console and exports, not the hot path)."""
        nodes = [
            KnowledgeNode.model_validate(_strip(item))
            for item in self._scan()
            if item.get("entity", {}).get("S") == "node"
        ]
        return sorted(nodes, key=lambda node: (len(node.path), node.key))

    def influenced_products(self, learning_id: str) -> list[Influence]:
        """Every extraction recorded as using `learning_id`, by product id then product version."""
        return [
            Influence.model_validate(_strip(item))
            for item in self._query(
                KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
                ExpressionAttributeValues={
                    ":pk": {"S": _learning_pk(learning_id)},
                    ":prefix": {"S": "INFLUENCE#"},
                },
            )
        ]

    def audit_log(self, day: str) -> list[dict[str, Any]]:
        """All audit items of one UTC day ('YYYY-MM-DD'), in time order."""
        return [
            _strip(item)
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
            {"pk": _node_pk(node.path), "sk": NODE_SK, "entity": "node", **node.model_dump(mode="json")}
        )
        return {"Put": {"TableName": self._table, "Item": item, **self._versioned(node.version - 1)}}

    def _learning_puts(self, learning: Learning) -> list[dict[str, Any]]:
        node_pk = _node_pk(learning.scope_path)
        data = learning.model_dump(mode="json")
        item = to_item({"pk": node_pk, "sk": f"LEARNING#{learning.id}", "entity": "learning", **data})
        actions: list[dict[str, Any]] = [
            {"Put": {"TableName": self._table, "Item": item, **self._versioned(learning.version - 1)}}
        ]
        if learning.version == 1:
            locator = {
                "pk": _learning_pk(learning.id),
                "sk": LOCATOR_SK,
                "entity": "locator",
                "node_pk": node_pk,
            }
            actions.append(
                {"Put": {"TableName": self._table, "Item": to_item(locator), **self._versioned(0)}}
            )
        if learning.audit:
            entry = learning.audit[-1].model_dump(mode="json")
            audit = {
                "pk": f"AUDIT#{entry['at'][:10]}",
                "sk": f"{entry['at']}#{learning.id}#{learning.version:06d}",
                "entity": "audit",
                "learning_id": learning.id,
                "learning_version": learning.version,
                "scope_path": learning.scope_path,
                **entry,
            }
            actions.append({"Put": {"TableName": self._table, "Item": to_item(audit)}})
        return actions

    def commit(self, change: KnowledgeChange) -> None:
        """Write `change` atomically; Conflict if any item or checked node changed since it was read."""
        if change.empty:
            return
        actions: list[dict[str, Any]] = [self._node_put(node) for node in change.nodes]
        for check in change.checks:
            actions.append(
                {
                    "ConditionCheck": {
                        "TableName": self._table,
                        "Key": {"pk": {"S": _node_pk(check.path)}, "sk": {"S": NODE_SK}},
                        **self._versioned(check.version),
                    }
                }
            )
        for learning in change.learnings:
            actions.extend(self._learning_puts(learning))
        if len(actions) > MAX_TRANSACTION_ITEMS:
            raise CataloopError(
                f"one knowledge change needs {len(actions)} writes, more than DynamoDB's {MAX_TRANSACTION_ITEMS} "
                "per transaction; consolidate fewer subcategories at once"
            )
        try:
            self._client.transact_write_items(TransactItems=actions)
        except ClientError as error:
            code = error.response["Error"]["Code"]
            reasons = {reason.get("Code") for reason in error.response.get("CancellationReasons", [])}
            if code == "TransactionCanceledException" and (reasons & _CONFLICT_CODES or not reasons):
                raise Conflict(
                    "the knowledge tree changed while this change was being decided "
                    f"({', '.join(sorted(r for r in reasons if r and r != 'None')) or 'cancelled'}); read it again and retry"
                ) from error
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
        a retried Persist rewrites the same items."""
        items = [
            Influence(
                learning_id=view.id,
                learning_version=view.version,
                product_id=product_id,
                product_version=product_version,
                execution_id=execution_id,
                at=at,
            )
            for view in learnings
        ]
        for start in range(0, len(items), 25):
            requests = [
                {
                    "PutRequest": {
                        "Item": to_item(
                            {
                                "pk": _learning_pk(influence.learning_id),
                                "sk": f"INFLUENCE#{product_id}#{product_version:010d}",
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
                nodes.append(KnowledgeNode.model_validate(_strip(item)))
            elif entity == "learning":
                learnings.append(Learning.model_validate(_strip(item)))
        nodes.sort(key=lambda node: (len(node.path), node.key))
        learnings.sort(key=lambda learning: learning.id)
        return KnowledgeSnapshot(exported_at=now, nodes=nodes, learnings=learnings)

    def import_snapshot(self, snapshot: KnowledgeSnapshot, max_attempts: int = 8) -> ImportResult:
        """Merge an already-validated snapshot: nodes are created or get the union of children, a learning
        is written unless the stored one is at the same or a newer version, then node counts are recomputed.
        (Validation happens before this call, so a malformed snapshot never gets here.)"""
        for node in snapshot.nodes:
            self._retrying(lambda node=node: self._merge_node(node), max_attempts)
        written = kept = 0
        for learning in snapshot.learnings:
            data = learning.model_dump(mode="json")
            node_pk = _node_pk(learning.scope_path)
            item = to_item({"pk": node_pk, "sk": f"LEARNING#{learning.id}", "entity": "learning", **data})
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
                "pk": _learning_pk(learning.id),
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
        stored = self.get_node(incoming.path)
        if stored is None:
            self.commit(
                KnowledgeChange(nodes=[incoming.model_copy(update={"version": 1, "learning_count": 0})])
            )
            return
        children = list(stored.children)
        children += [child for child in incoming.children if not stored.has_child(child)]
        self.commit(
            KnowledgeChange(
                nodes=[stored.model_copy(update={"children": children, "version": stored.version + 1})]
            )
        )

    def _recount(self, path: Sequence[str]) -> None:
        node, learnings = self.node_partition(path)
        if node is None:
            return
        count = sum(1 for learning in learnings if learning.live)
        self.commit(
            KnowledgeChange(
                nodes=[node.model_copy(update={"learning_count": count, "version": node.version + 1})]
            )
        )
