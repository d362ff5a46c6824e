"""The Knowledge table's key scheme and item decoders, and the checks and errors both knowledge stores share.

Item layout (pk, sk):
- node          NODE#<path key>        #NODE                          the category node (version-locked)
- prompt set    NODE#<path key>        #ACTIVE                        the node's retrievable learnings as
                                                                      retrieval ranks them (`PromptCandidate`)
- learning      NODE#<path key>        LEARNING#<id>                  a learning, in its node's partition,
                                                                      so one Query reads a node and its learnings
- locator       LEARNING#<id>          #LOCATOR                       where learning <id> lives (never moves)
- influence     LEARNING#<id>          INFLUENCE#<product>#<version>  an extraction used the learning, so "which
                                                                      products did it influence" is one Query
- audit         AUDIT#<YYYY-MM-DD>     <at>#<id>#<version>            every change of the day, in time order

Index `ActiveLearnings` (sparse GSI, projection ALL): hash `active_node`, range `sk`. Only a learning that
retrieval may use (status active, no `valid_to`) carries `active_node` (= its node's pk), so a Query per node
reads exactly the live active learnings there: retired, superseded and proposed learnings and the node item
stay out of it (audit, influence and locator items live outside node partitions anyway). Every learning
write is a whole-item Put built by `learning_item`, so a learning that stops being active leaves the index
in the same write. Tables created before the index need `DynamoKnowledgeStore.backfill_active_index` once.

Prompt set (`#ACTIVE`, entity `prompt_set`): per node, the `PromptCandidate` of every retrievable learning
there (a JSON list by id in `candidates`, with a revision `rev`), so retrieval reads ONE item per level of
the category path, whatever the node holds. Every commit that writes learnings of a node rewrites its prompt
set in the same transaction, conditional on the revision it started from (a concurrent writer makes the
commit a Conflict, as the node's version check already does); a node whose set would pass
MAX_PROMPT_SET_BYTES is marked `overflow` instead, and retrieval reads that node through the index. A node
is created with an empty set, so a missing set means no node or a table written before prompt sets: that
level is read through the index too (run `DynamoKnowledgeStore.backfill_active_index` once to write the
sets; the import recomputes the sets of the nodes it touched).

This module owns the key scheme: `is_learning_key` and `learning_from_image` decode stream images and scanned
items; nothing outside it should parse `pk`/`sk`. `DynamoKnowledgeStore` (`dynamodb_knowledge.py`) writes
and reads items with these keys; `InMemoryKnowledgeStore` (`memory.py`) keys its fake table the same way and
raises the same errors (`validated_snapshot`, `duplicate_items`, `too_many_writes`, `conflict`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from cataloop.adapters.dynamodb_codec import from_item, plain
from cataloop.domain.knowledge.retrieval import PromptCandidate
from cataloop.domain.knowledge.tree import (
    KnowledgeChange,
    KnowledgeSnapshot,
    Learning,
    LearningStatus,
    path_key,
)
from cataloop.errors import CataloopError, Conflict, InvalidInput

NODE_SK = "#NODE"
LOCATOR_SK = "#LOCATOR"
NODE_PREFIX = "NODE#"  # pk of a node's partition (the node and its learnings)
LEARNING_PREFIX = "LEARNING#"  # sk of a learning item; pk of its locator and influence items
INFLUENCE_PREFIX = "INFLUENCE#"
MAX_TRANSACTION_ITEMS = 100
ACTIVE_INDEX = "ActiveLearnings"  # sparse GSI: the learnings retrieval may use, by node
ACTIVE_NODE = "active_node"  # its hash key, set only on such learnings (the node's pk)
_ITEM_KEYS = ("pk", "sk", "entity", ACTIVE_NODE)
PROMPT_SK = "#ACTIVE"  # a node's prompt set, in the node's partition (sorts before #NODE)
PROMPT_ENTITY = "prompt_set"
# Well under DynamoDB's 400 KB item limit; a node past it (hundreds of active learnings) reads the index.
MAX_PROMPT_SET_BYTES = 200_000

PromptEntries = dict[str, dict[str, Any]]  # learning id -> PromptCandidate data (JSON-ready)


def node_pk_for(path: Sequence[str]) -> str:
    """pk of the partition of the node at `path` (the node and its learnings)."""
    return f"{NODE_PREFIX}{path_key(path)}"


def learning_pk_for(learning_id: str) -> str:
    """pk of a learning's locator and influence items."""
    return f"{LEARNING_PREFIX}{learning_id}"


def retrievable(learning: Learning) -> bool:
    """True for a learning retrieval may show (active and not ended): the ones the active index holds."""
    return learning.status is LearningStatus.ACTIVE and learning.valid_to is None


def learning_item(learning: Learning) -> dict[str, Any]:
    """The whole stored item (plain values) of a learning: keys, entity, the model's data, and
    `active_node` only when it is `retrievable` (so the sparse index holds exactly those)."""
    node_pk = node_pk_for(learning.scope_path)
    item: dict[str, Any] = {"pk": node_pk, "sk": f"{LEARNING_PREFIX}{learning.id}", "entity": "learning"}
    if retrievable(learning):
        item[ACTIVE_NODE] = node_pk
    return {**item, **learning.model_dump(mode="json")}


def prompt_entries_with(entries: PromptEntries, learnings: Iterable[Learning]) -> PromptEntries:
    """A node's prompt set after `learnings` (new states of learnings of that node) are written: each one
    leaves it, and comes back as its new candidate when it is `retrievable`."""
    updated = dict(entries)
    for learning in learnings:
        updated.pop(learning.id, None)
        if retrievable(learning):
            updated[learning.id] = PromptCandidate.of(learning).model_dump(mode="json")
    return updated


def encode_prompt_entries(entries: PromptEntries) -> str | None:
    """The stored form of a prompt set (a compact JSON list by learning id), or None past
    MAX_PROMPT_SET_BYTES (the node is then marked overflow)."""
    text = json.dumps([entries[key] for key in sorted(entries)], ensure_ascii=False, separators=(",", ":"))
    return None if len(text.encode()) > MAX_PROMPT_SET_BYTES else text


def decode_prompt_entries(text: str) -> PromptEntries:
    return {str(entry["view"]["id"]): entry for entry in json.loads(text)}


def prompt_candidates(entries: PromptEntries) -> list[PromptCandidate]:
    """The candidates of a prompt set, by learning id (the order `active_learnings_along` uses)."""
    return [PromptCandidate.model_validate(entries[key]) for key in sorted(entries)]


def influence_sk(product_id: str, product_version: int) -> str:
    """sk of the item recording that the extraction of (product, version) used a learning."""
    return f"{INFLUENCE_PREFIX}{product_id}#{product_version:010d}"


def audit_key(learning: Learning) -> tuple[str, str, dict[str, Any]] | None:
    """(pk, sk, attributes) of the audit item of this learning write: its newest audit entry."""
    if not learning.audit:
        return None
    entry = learning.audit[-1].model_dump(mode="json")
    attributes = {
        "learning_id": learning.id,
        "learning_version": learning.version,
        "scope_path": learning.scope_path,
        **entry,
    }
    return f"AUDIT#{entry['at'][:10]}", f"{entry['at']}#{learning.id}#{learning.version:06d}", attributes


def strip_item(item: dict[str, Any]) -> dict[str, Any]:
    """A stored item (AttributeValues) as plain model data, without the key and entity attributes."""
    data = from_item(item)
    for key in _ITEM_KEYS:
        data.pop(key, None)
    return data


def _key_text(value: Any) -> str:
    """A key attribute as text, whether plain ("NODE#/a") or an AttributeValue ({"S": "NODE#/a"})."""
    if isinstance(value, Mapping):
        value = value.get("S", "")
    return "" if value is None else str(value)


def is_learning_key(keys: Mapping[str, Any]) -> bool:
    """True when a Knowledge table key (pk, sk) is a learning item's (not a node, locator, influence or
    audit item). Accepts plain values or AttributeValues."""
    pk, sk = _key_text(keys.get("pk")), _key_text(keys.get("sk"))
    return pk.startswith(NODE_PREFIX) and sk.startswith(LEARNING_PREFIX)


def learning_id_of(keys: Mapping[str, Any]) -> str | None:
    """The learning id in a learning item's key, or None for any other item."""
    return _key_text(keys["sk"])[len(LEARNING_PREFIX) :] if is_learning_key(keys) else None


def learning_from_image(keys: Mapping[str, Any], image: Mapping[str, Any]) -> Learning | None:
    """A Knowledge item (a stream image deserialised to plain values, or a scanned item) -> its Learning;
    None when `keys` are not a learning item's (nodes, locators, influence and audit items). Raises
    `InvalidInput` naming the learning id when a learning item does not validate."""
    learning_id = learning_id_of(keys)
    if learning_id is None:
        return None
    data = {key: value for key, value in plain(dict(image)).items() if key not in _ITEM_KEYS}
    try:
        return Learning.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        location = ".".join(str(part) for part in first["loc"]) or "item"
        raise InvalidInput(
            f"learning {learning_id}: stored item is not a valid learning ({location}: {first['msg']})"
        ) from None


def validated_snapshot(snapshot: KnowledgeSnapshot) -> KnowledgeSnapshot:
    """The snapshot validated again as a whole (a `model_construct`ed one skips pydantic), or InvalidInput
    saying what is wrong. Both knowledge stores call this before writing anything."""
    try:
        return KnowledgeSnapshot.model_validate(snapshot.model_dump())
    except ValidationError as error:
        problems = [
            f"{'.'.join(str(part) for part in item['loc']) or 'snapshot'}: {item['msg']}"
            for item in error.errors()[:5]
        ]
        raise InvalidInput("invalid knowledge snapshot: " + "; ".join(problems)) from None


def duplicate_items(change: KnowledgeChange) -> list[str]:
    """Items a change would write or check more than once (DynamoDB refuses such a transaction)."""
    seen: set[str] = set()
    twice: list[str] = []
    keys = [f"node {path_key(node.path)}" for node in change.nodes]
    keys += [f"node {path_key(check.path)}" for check in change.checks]
    keys += [f"learning {learning.id}" for learning in change.learnings]
    for key in keys:
        if key in seen:
            twice.append(key)
        seen.add(key)
    return twice


def too_many_writes(count: int) -> CataloopError:
    """The error for a change needing more writes than one transaction holds."""
    return CataloopError(
        f"one knowledge change needs {count} writes, more than DynamoDB's {MAX_TRANSACTION_ITEMS} "
        "per transaction; consolidate fewer subcategories at once"
    )


def conflict(reasons: Sequence[str]) -> Conflict:
    """The error for a change whose items or checked nodes changed since they were read."""
    return Conflict(
        "the knowledge tree changed while this change was being decided "
        f"({', '.join(sorted(set(reasons))) or 'cancelled'}); read it again and retry"
    )
