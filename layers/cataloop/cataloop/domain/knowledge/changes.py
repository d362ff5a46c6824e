"""Turning decisions into the items one operation writes, atomically (`KnowledgeChange`).

`plan_change` applies a checked placement plan; `change_for` writes learnings changed elsewhere (votes,
approvals, edits). Every changed item carries version + 1, so the store can write it with a conditional write.

Concurrency contract: a learning write always bumps the version of the node it lives under, and a placement
re-checks the version of every node it read. A placement therefore commits only if the part of the tree it
based its decision on is unchanged, which is what keeps eight concurrent writers from losing or duplicating
anything. Pure logic only.

Status of a new learning, by source channel (`new_status`):
- worker_disagreement, audit and expert: the deployment mode decides (deploy_and_learn -> active,
  learn_then_deploy -> proposed).
- seller_feedback and customer_feedback: `proposed` in every mode unless the draft is `corroborated`, i.e.
  the claim was confirmed by evidence independent of the claimant (`domain.feedback.corrections`). A seller's
  claim found in the seller's own listing is the claimant's own text, never corroboration: it may correct
  that seller's product (scoped to the product), but the category learning other sellers would receive waits
  for an expert. An uncorroborated feedback draft also never widens an existing live learning by a merge:
  it is added next to it as a proposed learning instead.
- imports (`imported_learning`): a live learning from a snapshot lands `proposed`, with an audit entry that
  records who imported it; retired history stays retired.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from cataloop.domain.knowledge.directives import describe_directive, merged_directive
from cataloop.domain.knowledge.learning import FEEDBACK_CHANNELS, LearningDraft, directive_key
from cataloop.domain.knowledge.lifecycle import retire_learning
from cataloop.domain.knowledge.placement import PlacementDecision
from cataloop.domain.knowledge.tree import (
    MAX_AUDIT_ENTRIES,
    AuditEntry,
    DeploymentMode,
    KnowledgeChange,
    KnowledgeNode,
    KnowledgeProvenance,
    Learning,
    LearningsByNode,
    LearningStatus,
    NodeCheck,
    TreeView,
    parent_of,
    path_key,
    union_tail,
)


class _ChangeBuilder:
    """Accumulates node and learning states so each item appears once, at its newest state."""

    def __init__(self, tree: TreeView, learnings: Mapping[str, Learning]):
        self._tree = tree
        self._known = dict(learnings)
        self.nodes: dict[str, KnowledgeNode] = {}
        self.read: dict[str, KnowledgeNode] = {}
        self.learnings: dict[str, Learning] = {}

    def node(self, path: Sequence[str]) -> KnowledgeNode:
        key = path_key(path)
        if key in self.nodes:
            return self.nodes[key]
        node = self._tree.get(key)
        if node is None:
            raise ValueError(f"no node {list(path)}")
        return node

    def mark_read(self, path: Sequence[str]) -> None:
        node = self._tree.get(path_key(path))
        if node is not None:
            self.read[node.key] = node

    def create_node(self, path: Sequence[str]) -> None:
        key = path_key(path)
        if key in self.nodes or key in self._tree:
            return
        self.nodes[key] = KnowledgeNode(path=list(path), version=1)
        parent = parent_of(path)
        if parent is not None:
            parent_node = self.node(parent)
            if not parent_node.has_child(path[-1]):
                self._touch(parent, children=sorted([*parent_node.children, path[-1]]))

    def _touch(self, path: Sequence[str], **changes: object) -> None:
        key = path_key(path)
        current = self.node(path)
        stored = self._tree.get(key)
        version = (stored.version + 1) if stored is not None else 1
        self.nodes[key] = current.model_copy(update={**changes, "version": version})

    def learning(self, learning_id: str) -> Learning:
        return self.learnings.get(learning_id) or self._known[learning_id]

    def write_learning(self, new: Learning, old: Learning | None) -> None:
        delta = int(new.live) - int(old.live if old is not None else False)
        node = self.node(new.scope_path)
        self._touch(new.scope_path, learning_count=max(0, node.learning_count + delta))
        if new.id in self.learnings:
            raise ValueError(f"learning {new.id} is written twice in one change")
        self.learnings[new.id] = new

    def build(self) -> KnowledgeChange:
        checks = [NodeCheck(path=node.path, version=node.version) for key, node in self.read.items()]
        return KnowledgeChange(
            nodes=list(self.nodes.values()),
            checks=[check for check in checks if path_key(check.path) not in self.nodes],
            learnings=list(self.learnings.values()),
        )


def trusted_source(draft: LearningDraft) -> bool:
    """True when the draft's channel may follow the deployment mode (see the module docstring)."""
    return draft.source_channel not in FEEDBACK_CHANNELS or draft.corroborated


def new_status(mode: DeploymentMode, draft: LearningDraft) -> LearningStatus:
    """The status a newly placed learning starts with (see the module docstring)."""
    if not trusted_source(draft):
        return LearningStatus.PROPOSED
    return (
        LearningStatus.ACTIVE
        if DeploymentMode(mode) == DeploymentMode.DEPLOY_AND_LEARN
        else LearningStatus.PROPOSED
    )


def plan_change(
    draft: LearningDraft,
    decisions: Sequence[PlacementDecision],
    tree: TreeView,
    learnings_by_node: LearningsByNode,
    *,
    mode: DeploymentMode,
    now: datetime,
    new_id: Callable[[], str],
    actor: str = "memory_manager",
    execution_id: str | None = None,
) -> tuple[KnowledgeChange, list[Learning]]:
    """Turn a checked plan into the items to write. Returns (change, learnings created or changed). Every
    node the walk read is re-checked at commit, so a concurrent change makes the commit fail and retry."""
    known = {item.id: item for items in learnings_by_node.values() for item in items}
    builder = _ChangeBuilder(tree, known)
    for depth in range(len(draft.scope_path) + 1):
        builder.mark_read(draft.scope_path[:depth])
    for step in decisions:
        if step.action == "branch":
            builder.create_node(step.node_path)
    final = decisions[-1]
    provenance = KnowledgeProvenance.from_draft(draft, execution_id)
    if final.action == "noop":
        return KnowledgeChange(), []
    if final.action == "merge":
        target = builder.learning(final.target_learning_id or "")
        merged = merged_directive(target.directive, draft.directive) or target.directive
        if not trusted_source(draft) and directive_key(merged) != target.key:
            # An uncorroborated claim must not change what a live learning says: add it as proposed.
            final = final.model_copy(
                update={
                    "action": "add",
                    "node_path": list(draft.scope_path),
                    "target_learning_id": None,
                    "reason": f"{final.reason}; uncorroborated {draft.source_channel} is added as proposed "
                    f"instead of widening {target.id}",
                }
            )
            if path_key(draft.scope_path) not in tree and path_key(draft.scope_path) not in builder.nodes:
                raise ValueError(f"no node {draft.scope_path} for the proposed learning")
            return _add(draft, final, builder, mode, now, new_id, actor, provenance)

        changes: dict[str, object] = {
            "support_count": target.support_count + 1,
            "provenance": target.provenance.absorb(provenance),
            "attributes": union_tail(target.attributes, draft.attributes, 10),
        }
        if directive_key(merged) != target.key:
            changes["directive"] = merged
            changes["text"] = describe_directive(merged, target.scope_path)
        builder.write_learning(target.revise(now, actor, "merged", final.reason, **changes), target)
        return builder.build(), list(builder.learnings.values())
    return _add(draft, final, builder, mode, now, new_id, actor, provenance)


def _add(
    draft: LearningDraft,
    final: PlacementDecision,
    builder: _ChangeBuilder,
    mode: DeploymentMode,
    now: datetime,
    new_id: Callable[[], str],
    actor: str,
    provenance: KnowledgeProvenance,
) -> tuple[KnowledgeChange, list[Learning]]:
    superseded = [builder.learning(i) for i in final.supersedes]
    if final.action == "replace":
        superseded = [builder.learning(final.target_learning_id or "")]
    status = new_status(mode, draft)
    support = 1 + sum(item.support_count for item in superseded if final.action == "add")
    # A consolidation carries the copies' outcome record (they said the same thing); a replacement starts at
    # zero, since the record judged what the replaced learning said.
    helpful = sum(item.helpful for item in superseded if final.action == "add")
    harmful = sum(item.harmful for item in superseded if final.action == "add")
    for item in superseded:
        if final.action == "add":
            provenance = item.provenance.absorb(provenance)
    consolidating = final.action == "add" and bool(final.supersedes)
    learning_id = new_id()
    created = Learning(
        id=learning_id,
        version=1,
        text=describe_directive(draft.directive, final.node_path) if consolidating else draft.text,
        kind=draft.kind,
        scope_path=list(final.node_path) if consolidating else list(draft.scope_path),
        attributes=draft.attributes,
        directive=draft.directive,
        source_channel=draft.source_channel,
        provenance=provenance,
        support_count=support,
        helpful=helpful,
        harmful=harmful,
        status=status,
        valid_from=now,
        supersedes=[item.id for item in superseded],
        created_at=now,
        updated_at=now,
        audit=[AuditEntry(at=now, actor=actor, action=final.action, reason=final.reason)],
    )
    builder.write_learning(created, None)
    if status is LearningStatus.ACTIVE:
        for item in superseded:
            reason = f"superseded by {learning_id}: {final.reason}"
            builder.write_learning(retire_learning(item, now, actor, reason, superseded_by=learning_id), item)
    return builder.build(), list(builder.learnings.values())


IMPORT_ACTOR = "import"


def imported_learning(learning: Learning, actor: str, now: datetime) -> Learning:
    """A learning as an import writes it: live ones land `proposed` (an expert approves them in the target
    stage) with an audit entry naming the importer; retired ones are history and stay as they are. The version
    is kept, so importing the same snapshot twice writes nothing the second time."""
    if not learning.live:
        return learning
    entry = AuditEntry(
        at=now,
        actor=(actor or IMPORT_ACTOR)[:128],
        action="imported",
        reason=f"imported from a snapshot as proposed (was {learning.status.value}); an expert approves it",
    )
    return learning.model_copy(
        update={
            "status": LearningStatus.PROPOSED,
            "audit": [*learning.audit, entry][-MAX_AUDIT_ENTRIES:],
        }
    )


def store_imported(learning: Learning, now: datetime) -> Learning:
    """What a store's own import writes: an ACTIVE learning lands proposed (actor `import`) even when a caller
    skipped the service (`knowledge_admin.import_snapshot`), which has normally recorded the importer already."""
    if learning.status is LearningStatus.ACTIVE:
        return imported_learning(learning, IMPORT_ACTOR, now)
    return learning


def change_for(learnings: Sequence[tuple[Learning, Learning | None]], tree: TreeView) -> KnowledgeChange:
    """The change that writes `learnings` (new state, previous state or None) and bumps their nodes."""
    builder = _ChangeBuilder(tree, {old.id: old for _, old in learnings if old is not None})
    for new, old in learnings:
        builder.write_learning(new, old)
    return builder.build()


def imported_node_change(stored: KnowledgeNode | None, incoming: KnowledgeNode) -> KnowledgeChange:
    """Importing a node: create it (version 1, no learnings counted yet) or add the children it lacks."""
    if stored is None:
        return KnowledgeChange(nodes=[incoming.model_copy(update={"version": 1, "learning_count": 0})])
    children = list(stored.children)
    children += [child for child in incoming.children if not stored.has_child(child)]
    return KnowledgeChange(
        nodes=[stored.model_copy(update={"children": children, "version": stored.version + 1})]
    )


def recount_change(node: KnowledgeNode, learnings: Sequence[Learning]) -> KnowledgeChange:
    """The node with `learning_count` set to its live learnings (after an import wrote learnings directly)."""
    count = sum(1 for learning in learnings if learning.live)
    return KnowledgeChange(
        nodes=[node.model_copy(update={"learning_count": count, "version": node.version + 1})]
    )
