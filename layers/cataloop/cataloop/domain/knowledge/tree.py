"""The hierarchical knowledge base: a tree of category nodes with learnings under them.

Pure logic only. The memory manager's offline baseline (`decide_placement`) walks the tree from the root and
decides, level by level, to descend, branch, add, merge, replace or do nothing; `plan_change` turns those
decisions into new item states (every changed item carries version + 1, so the store can write them with
conditional writes); `rank_for_prompt` picks what a worker is shown. Nothing is ever deleted: a replaced or
retired learning keeps its item with `valid_to` set.

Concurrency contract: a learning write always bumps the version of the node it lives under, and a placement
re-checks the version of every node it read. A placement therefore commits only if the part of the tree it
based its decision on is unchanged, which is what keeps eight concurrent writers from losing or duplicating
anything.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from cataloop.domain.enrichment.normalisation import normalise_text
from cataloop.domain.knowledge.learning import (
    MAX_LEXICON_VALUES,
    MAX_TEXT_CHARS,
    AttributeFact,
    AttributeName,
    LearningDirective,
    LearningDraft,
    LearningKind,
    LearningView,
    NotValue,
    SourceChannel,
    UnitPattern,
    ValueLexicon,
    directive_key,
    directive_terms,
)

SNAPSHOT_SCHEMA_VERSION = 1
MAX_DEPTH = 8
INITIAL_VOTES = 2
MAX_VOTES = 100
MAX_PROVENANCE_IDS = 50
MAX_EVIDENCE = 10
MAX_AUDIT_ENTRIES = 100
# "Frequent": the same directive under at least this many sibling subcategories is promoted to the parent.
CONSOLIDATION_MIN_SIBLINGS = 3
DEFAULT_PROMPT_BUDGET_TOKENS = 400
CHARS_PER_TOKEN = 4

Directive = ValueLexicon | NotValue | UnitPattern | AttributeFact
PlacementAction = Literal["descend", "branch", "add", "merge", "replace", "noop"]
FINAL_ACTIONS: frozenset[str] = frozenset({"add", "merge", "replace", "noop"})


class LearningStatus(StrEnum):
    PROPOSED = "proposed"
    ACTIVE = "active"
    RETIRED = "retired"


class DeploymentMode(StrEnum):
    """deploy_and_learn: new learnings are active at once. learn_then_deploy: they stay proposed (and what they
    replace stays active) until an expert approves them."""

    DEPLOY_AND_LEARN = "deploy_and_learn"
    LEARN_THEN_DEPLOY = "learn_then_deploy"


# ------------------------------------------------------------------------------------------------ tree paths


def path_key(path: Sequence[str]) -> str:
    """Stable key of a category path: case- and width-insensitive, '/'-separated ('/' for the root).
    '%' and '/' inside a category name are escaped so the key is unambiguous."""
    parts = [normalise_text(part).replace("%", "%25").replace("/", "%2F") for part in path]
    return "/" + "/".join(parts)


def same_path(left: Sequence[str], right: Sequence[str]) -> bool:
    return path_key(left) == path_key(right)


def parent_of(path: Sequence[str]) -> list[str] | None:
    return None if not path else list(path[:-1])


def utc_now() -> datetime:
    return datetime.now(UTC)


class AuditEntry(BaseModel):
    """One change to a learning: who did what, when, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at: AwareDatetime
    actor: str = Field(min_length=1, max_length=128)
    action: str = Field(min_length=1, max_length=40)
    reason: str = Field(min_length=1, max_length=1000)


class KnowledgeProvenance(BaseModel):
    """The signals behind a learning. Lists keep the most recent MAX_PROVENANCE_IDS entries; `support_count`
    on the learning keeps the full count."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    product_ids: list[str] = Field(default_factory=list, max_length=MAX_PROVENANCE_IDS)
    execution_ids: list[str] = Field(default_factory=list, max_length=MAX_PROVENANCE_IDS)
    model_ids: list[str] = Field(default_factory=list, max_length=MAX_PROVENANCE_IDS)
    evidence: list[str] = Field(default_factory=list, max_length=MAX_EVIDENCE)

    @classmethod
    def from_draft(cls, draft: LearningDraft, execution_id: str | None = None) -> KnowledgeProvenance:
        source = draft.provenance
        return cls(
            product_ids=[source.product_id] if source.product_id else [],
            execution_ids=[execution_id] if execution_id else [],
            model_ids=[source.model_id] if source.model_id else [],
            evidence=[source.evidence] if source.evidence else [],
        )

    def absorb(self, other: KnowledgeProvenance) -> KnowledgeProvenance:
        """Union with `other`, newest last, trimmed to the caps."""
        return KnowledgeProvenance(
            product_ids=_union_tail(self.product_ids, other.product_ids, MAX_PROVENANCE_IDS),
            execution_ids=_union_tail(self.execution_ids, other.execution_ids, MAX_PROVENANCE_IDS),
            model_ids=_union_tail(self.model_ids, other.model_ids, MAX_PROVENANCE_IDS),
            evidence=_union_tail(self.evidence, other.evidence, MAX_EVIDENCE),
        )


def _union_tail(first: Iterable[str], second: Iterable[str], cap: int) -> list[str]:
    merged: list[str] = []
    for item in [*first, *second]:
        if item not in merged:
            merged.append(item)
    return merged[-cap:]


class Learning(BaseModel):
    """A stored learning. `version` increases by one with every write (conditional writes); a replacement is
    a new learning that `supersedes` the old one, which keeps its item with `valid_to` and `superseded_by`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=128)
    version: int = Field(ge=1)
    text: str
    kind: LearningKind = "rule"
    scope_path: list[str] = Field(default_factory=list, max_length=MAX_DEPTH)
    attributes: list[AttributeName] = Field(min_length=1, max_length=10)
    directive: LearningDirective
    source_channel: SourceChannel = "worker_disagreement"
    provenance: KnowledgeProvenance = Field(default_factory=KnowledgeProvenance)
    votes: int = Field(default=INITIAL_VOTES, ge=0, le=MAX_VOTES)
    support_count: int = Field(default=1, ge=1)
    status: LearningStatus = LearningStatus.PROPOSED
    valid_from: AwareDatetime
    valid_to: AwareDatetime | None = None
    supersedes: list[str] = Field(default_factory=list, max_length=64)
    superseded_by: str | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime
    audit: list[AuditEntry] = Field(default_factory=list, max_length=MAX_AUDIT_ENTRIES)

    @model_validator(mode="after")
    def _concrete_and_consistent(self) -> Learning:
        # The draft's validators are the one definition of "concrete, not oversized, not empty".
        LearningDraft(
            text=self.text,
            kind=self.kind,
            scope_path=self.scope_path,
            attributes=self.attributes,
            directive=self.directive,
            source_channel=self.source_channel,
        )
        if self.status is LearningStatus.RETIRED and self.valid_to is None:
            raise ValueError(f"learning {self.id} is retired but has no valid_to")
        if self.status is not LearningStatus.RETIRED and self.valid_to is not None:
            raise ValueError(f"learning {self.id} has valid_to but is {self.status.value}; retire it instead")
        return self

    @property
    def key(self) -> str:
        return directive_key(self.directive)

    @property
    def live(self) -> bool:
        """Proposed or active: still part of the knowledge (retired ones are history)."""
        return self.status is not LearningStatus.RETIRED

    def view(self) -> LearningView:
        """What a worker prompt shows, with the id and version Persist records."""
        return LearningView(
            id=self.id,
            version=self.version,
            text=self.text,
            kind=self.kind,
            scope_path=self.scope_path,
            attributes=self.attributes,
            directive=self.directive,
        )

    def revise(self, now: datetime, actor: str, action: str, reason: str, **changes: object) -> Learning:
        """The next version of this learning with `changes` applied and one audit entry appended."""
        entry = AuditEntry(at=now, actor=actor, action=action, reason=reason[:1000])
        data = self.model_dump()
        data.update(changes)
        data["version"] = self.version + 1
        data["updated_at"] = now
        data["audit"] = [*self.audit, entry][-MAX_AUDIT_ENTRIES:]
        return Learning.model_validate(data)


class KnowledgeNode(BaseModel):
    """A category in the tree. `children` are the names of its subcategories; `learning_count` counts its
    live (proposed or active) learnings; `version` bumps whenever the node or its learnings change."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: list[str] = Field(default_factory=list, max_length=MAX_DEPTH)
    children: list[str] = Field(default_factory=list)
    learning_count: int = Field(default=0, ge=0)
    version: int = Field(default=1, ge=1)

    @property
    def key(self) -> str:
        return path_key(self.path)

    def has_child(self, name: str) -> bool:
        return any(same_path([child], [name]) for child in self.children)


class PlacementDecision(BaseModel):
    """One step of the memory manager's walk. `descend`/`branch` are path steps; exactly one final step
    (`add`, `merge`, `replace` or `noop`) ends the walk. `supersedes` lists the sibling copies a
    consolidating `add` retires."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    action: PlacementAction
    node_path: list[str] = Field(default_factory=list, max_length=MAX_DEPTH)
    target_learning_id: str | None = None
    reason: str = Field(min_length=1, max_length=1000)
    supersedes: list[str] = Field(default_factory=list, max_length=64)


class PlacementPlan(BaseModel):
    """The memory manager model's structured output."""

    model_config = ConfigDict(extra="forbid")

    decisions: list[PlacementDecision] = Field(min_length=1, max_length=2 * MAX_DEPTH + 2)


TreeView = Mapping[str, KnowledgeNode]
LearningsByNode = Mapping[str, Sequence[Learning]]


# ------------------------------------------------------------------------------------------- directives


def describe_directive(directive: Directive, scope_path: Sequence[str]) -> str:
    """Concrete prose for a directive, used when a merge or consolidation changes what a learning says."""
    # The innermost category name alone: a full path would crowd the terms out of MAX_TEXT_CHARS.
    scope = scope_path[-1] if scope_path else "all categories"
    if isinstance(directive, ValueLexicon | UnitPattern):
        terms = directive.values if isinstance(directive, ValueLexicon) else directive.unit_terms
        if isinstance(directive, ValueLexicon):
            head = f"In {scope}, these are {directive.attribute} values: "
        else:
            keep = "with the unit word" if directive.keep_unit else "as the bare number"
            head = f"In {scope}, a number followed by one of these is {directive.attribute} ({keep}): "
        quoted: list[str] = []
        for term in terms:
            candidate = ", ".join([*quoted, f"'{term}'"])
            if quoted and len(head) + len(candidate) + 5 > MAX_TEXT_CHARS:
                return head + ", ".join(quoted) + ", …"
            quoted.append(f"'{term}'")
        return (head + ", ".join(quoted) + ".")[:MAX_TEXT_CHARS]
    if isinstance(directive, NotValue):
        tail = f" (it is {directive.correct_attribute})" if directive.correct_attribute else ""
        return f"In {scope}, '{directive.value}' is not a {directive.attribute} value{tail}."[:MAX_TEXT_CHARS]
    return f"In {scope}, every product has {directive.attribute} = '{directive.value}'."[:MAX_TEXT_CHARS]


def _folded(terms: Iterable[str]) -> set[str]:
    return {normalise_text(term) for term in terms}


def _merged_directive(existing: Directive, incoming: Directive) -> Directive | None:
    """The union of two mergeable directives, or None when they cannot merge (different kinds, different
    attribute, or the union would exceed MAX_LEXICON_VALUES)."""
    if directive_key(existing) == directive_key(incoming):
        return existing
    if isinstance(existing, ValueLexicon) and isinstance(incoming, ValueLexicon):
        if existing.attribute != incoming.attribute:
            return None
        seen = _folded(existing.values)
        values = [*existing.values, *(v for v in incoming.values if normalise_text(v) not in seen)]
        return None if len(values) > MAX_LEXICON_VALUES else existing.model_copy(update={"values": values})
    if isinstance(existing, UnitPattern) and isinstance(incoming, UnitPattern):
        if existing.attribute != incoming.attribute or existing.keep_unit != incoming.keep_unit:
            return None
        seen = _folded(existing.unit_terms)
        terms = [*existing.unit_terms, *(t for t in incoming.unit_terms if normalise_text(t) not in seen)]
        return None if len(terms) > MAX_LEXICON_VALUES else existing.model_copy(update={"unit_terms": terms})
    return None


def covers(existing: Directive, incoming: Directive) -> bool:
    """True when `existing` already says everything `incoming` says."""
    if directive_key(existing) == directive_key(incoming):
        return True
    if isinstance(existing, ValueLexicon) and isinstance(incoming, ValueLexicon):
        return existing.attribute == incoming.attribute and _folded(incoming.values) <= _folded(
            existing.values
        )
    if isinstance(existing, UnitPattern) and isinstance(incoming, UnitPattern):
        return (
            existing.attribute == incoming.attribute
            and existing.keep_unit == incoming.keep_unit
            and _folded(incoming.unit_terms) <= _folded(existing.unit_terms)
        )
    return False


def contradicts(existing: Directive, incoming: Directive) -> str | None:
    """Why `incoming` contradicts `existing` (so it replaces it), or None. Only direct contradictions about
    the same attribute and the same surface value count; anything else is kept side by side."""
    if existing.attribute != incoming.attribute:
        return None
    if isinstance(existing, AttributeFact) and isinstance(incoming, AttributeFact):
        if normalise_text(existing.value) == normalise_text(incoming.value):
            return None
        return f"{existing.attribute} was '{existing.value}', the new evidence says '{incoming.value}'"
    if isinstance(existing, UnitPattern) and isinstance(incoming, UnitPattern):
        shared = _folded(existing.unit_terms) & _folded(incoming.unit_terms)
        if existing.keep_unit == incoming.keep_unit or not shared:
            return None
        return f"keep_unit for {sorted(shared)} flips to {incoming.keep_unit}"
    if isinstance(existing, NotValue) and isinstance(incoming, NotValue):
        same_value = normalise_text(existing.value) == normalise_text(incoming.value)
        if not same_value or existing.correct_attribute == incoming.correct_attribute:
            return None
        return f"'{incoming.value}' belongs to {incoming.correct_attribute}, not {existing.correct_attribute}"
    if isinstance(existing, NotValue) and isinstance(incoming, ValueLexicon):
        if normalise_text(existing.value) not in _folded(incoming.values):
            return None
        return f"'{existing.value}' is now known to be a {existing.attribute} value"
    if isinstance(existing, ValueLexicon) and isinstance(incoming, NotValue):
        # Only a single-value lexicon is replaced outright; a larger one keeps its other values and the more
        # specific NotValue is added next to it.
        if _folded(existing.values) != {normalise_text(incoming.value)}:
            return None
        return f"'{incoming.value}' is not a {incoming.attribute} value after all"
    return None


# ------------------------------------------------------------------------------------- offline placement


def _live(learnings_by_node: LearningsByNode, path: Sequence[str]) -> list[Learning]:
    return sorted(
        (item for item in learnings_by_node.get(path_key(path), []) if item.live), key=lambda item: item.id
    )


def _already_from(learning: Learning, draft: LearningDraft) -> bool:
    product = draft.provenance.product_id
    return bool(product) and product in learning.provenance.product_ids


def _cover_or_merge(
    draft: LearningDraft, learning: Learning, path: Sequence[str], where: str
) -> PlacementDecision:
    if _already_from(learning, draft) and covers(learning.directive, draft.directive):
        return PlacementDecision(
            action="noop",
            node_path=list(path),
            target_learning_id=learning.id,
            reason=f"{where} learning {learning.id} already says this, recorded from product "
            f"{draft.provenance.product_id}",
        )
    return PlacementDecision(
        action="merge",
        node_path=list(path),
        target_learning_id=learning.id,
        reason=f"{where} learning {learning.id} already says this; add the new signal to its support",
    )


def _consolidation(
    draft: LearningDraft, tree: TreeView, learnings_by_node: LearningsByNode
) -> PlacementDecision | None:
    scope = draft.scope_path
    # Examples are individual cases, and promoting to the root would apply a category's quirk to the whole
    # catalog: both stay individual.
    if draft.kind == "example" or len(scope) < 2:
        return None
    parent = scope[:-1]
    parent_node = tree.get(path_key(parent))
    if parent_node is None:
        return None
    key = directive_key(draft.directive)
    copies: list[Learning] = []
    siblings: list[str] = []
    for child in sorted(parent_node.children, key=normalise_text):
        matching = [item for item in _live(learnings_by_node, [*parent, child]) if item.key == key]
        if matching and not same_path([child], [scope[-1]]):
            siblings.append(child)
        copies.extend(matching)
    if len(siblings) + 1 < CONSOLIDATION_MIN_SIBLINGS:
        return None
    return PlacementDecision(
        action="add",
        node_path=list(parent),
        reason=f"the same directive is learned under {len(siblings) + 1} subcategories of "
        f"{' > '.join(parent)} ({', '.join([*siblings, scope[-1]])}): promote it to the parent and retire "
        "the copies",
        supersedes=[item.id for item in copies],
    )


def decide_placement(
    draft: LearningDraft, tree: TreeView, learnings_by_node: LearningsByNode
) -> list[PlacementDecision]:
    """The offline memory manager: walk from the root along the draft's scope and return the path steps and
    exactly one final decision (add, merge, replace or noop), each with its reason. Deterministic."""
    decisions: list[PlacementDecision] = []
    scope = draft.scope_path
    for depth in range(len(scope) + 1):
        path = list(scope[:depth])
        node = tree.get(path_key(path))
        label = " > ".join(path) or "the root"
        if node is None:
            decisions.append(
                PlacementDecision(
                    action="branch", node_path=path, reason=f"no node for {label} yet: create it"
                )
            )
            if depth == len(scope):
                decisions.append(
                    PlacementDecision(action="add", node_path=path, reason=f"first learning under {label}")
                )
            continue
        live = _live(learnings_by_node, path)
        if depth < len(scope):
            covering = next((item for item in live if covers(item.directive, draft.directive)), None)
            if covering is not None:
                decisions.append(_cover_or_merge(draft, covering, path, f"ancestor {label}:"))
                return decisions
            if depth == len(scope) - 1:
                consolidated = _consolidation(draft, tree, learnings_by_node)
                if consolidated is not None:
                    decisions.append(consolidated)
                    return decisions
            decisions.append(
                PlacementDecision(
                    action="descend",
                    node_path=path,
                    reason=f"nothing at {label} covers it; the scope continues into '{scope[depth]}'",
                )
            )
            continue
        decisions.append(_final_at_target(draft, live, path, label))
    return decisions


def _final_at_target(
    draft: LearningDraft, live: Sequence[Learning], path: list[str], label: str
) -> PlacementDecision:
    for item in live:
        if covers(item.directive, draft.directive):
            return _cover_or_merge(draft, item, path, f"{label}:")
    for item in live:
        if _merged_directive(item.directive, draft.directive) is not None:
            return PlacementDecision(
                action="merge",
                node_path=path,
                target_learning_id=item.id,
                reason=f"same {draft.directive.attribute} {draft.directive.type} as {item.id}: union the values",
            )
    for item in live:
        why = contradicts(item.directive, draft.directive)
        if why is not None:
            return PlacementDecision(
                action="replace",
                node_path=path,
                target_learning_id=item.id,
                reason=f"contradicts {item.id}: {why}; the newer learning replaces it",
            )
    return PlacementDecision(
        action="add", node_path=path, reason=f"no learning at {label} says this or something close to it"
    )


def check_plan(
    decisions: Sequence[PlacementDecision],
    draft: LearningDraft,
    tree: TreeView,
    learnings_by_node: LearningsByNode,
) -> None:
    """Raise ValueError (saying what is wrong) unless `decisions` is a valid walk for `draft` over this tree:
    path steps along the draft's scope, branches only where no node exists, and one final step whose target
    is a live learning at that node (a model's plan is checked with this before anything is written)."""
    if not decisions:
        raise ValueError("the plan has no decisions; end with one of add, merge, replace or noop")
    *steps, final = decisions
    if final.action not in FINAL_ACTIONS:
        raise ValueError(f"the last decision must be add, merge, replace or noop, not {final.action}")
    scope = draft.scope_path
    known = set(tree)
    for step in steps:
        if step.action in FINAL_ACTIONS:
            raise ValueError(f"only the last decision may be {step.action}")
        if not same_path(step.node_path, scope[: len(step.node_path)]):
            raise ValueError(f"{step.action} at {step.node_path} is off the draft's scope {scope}")
        exists = path_key(step.node_path) in known
        if step.action == "branch" and exists:
            raise ValueError(f"branch at {step.node_path}: that node exists, descend instead")
        if step.action == "descend" and not exists:
            raise ValueError(f"descend at {step.node_path}: no such node, branch instead")
        if step.action == "branch":
            parent = parent_of(step.node_path)
            if parent is not None and path_key(parent) not in known:
                raise ValueError(f"branch at {step.node_path} before its parent exists")
            known.add(path_key(step.node_path))
    if not same_path(final.node_path, scope[: len(final.node_path)]):
        raise ValueError(f"{final.action} at {final.node_path} is off the draft's scope {scope}")
    if final.action == "add" and not final.supersedes and not same_path(final.node_path, scope):
        raise ValueError(
            "add must happen at the draft's own scope unless it consolidates (supersedes) copies"
        )
    if final.action == "replace" and not same_path(final.node_path, scope):
        raise ValueError("replace must happen at the draft's own scope; merge into an ancestor instead")
    if path_key(final.node_path) not in known:
        raise ValueError(f"{final.action} at {final.node_path}: no such node; branch to it first")
    if final.action in ("merge", "replace"):
        at_node = {item.id for item in _live(learnings_by_node, final.node_path)}
        if final.target_learning_id not in at_node:
            raise ValueError(
                f"{final.action} target {final.target_learning_id!r} is not a live learning at "
                f"{final.node_path} (choose one of {sorted(at_node)})"
            )
    if final.action == "merge":
        target = next(
            i for i in _live(learnings_by_node, final.node_path) if i.id == final.target_learning_id
        )
        if not same_path(final.node_path, scope) and not covers(target.directive, draft.directive):
            raise ValueError(
                f"merge into ancestor learning {target.id} would widen the draft's scope; merge only where the "
                "ancestor already says everything the draft says, otherwise add at the draft's scope"
            )
        if (
            not covers(target.directive, draft.directive)
            and _merged_directive(target.directive, draft.directive) is None
        ):
            raise ValueError(
                f"cannot merge a {draft.directive.type} into {target.id} ({target.directive.type})"
            )
    live_ids = {item.id: item for items in learnings_by_node.values() for item in items if item.live}
    for learning_id in final.supersedes:
        copy = live_ids.get(learning_id)
        if copy is None:
            raise ValueError(f"supersedes {learning_id!r}, which is not a live learning")
        below = path_key(copy.scope_path).startswith(path_key(final.node_path).rstrip("/") + "/")
        if not below or not covers(draft.directive, copy.directive):
            raise ValueError(
                f"supersedes {learning_id!r}, which is not a copy of this directive under {final.node_path}"
            )


# ------------------------------------------------------------------------------------- applying a plan


class NodeCheck(BaseModel):
    """A node the decision was based on: the write commits only if it is still at this version."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: list[str]
    version: int = Field(ge=1)


class KnowledgeChange(BaseModel):
    """Everything one operation writes, atomically. Items at version 1 are created (must not exist); any
    other version N is written only if the stored item is at N - 1."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    nodes: list[KnowledgeNode] = Field(default_factory=list)
    checks: list[NodeCheck] = Field(default_factory=list)
    learnings: list[Learning] = Field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.nodes and not self.learnings


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


def _new_status(mode: DeploymentMode) -> LearningStatus:
    return (
        LearningStatus.ACTIVE
        if DeploymentMode(mode) == DeploymentMode.DEPLOY_AND_LEARN
        else LearningStatus.PROPOSED
    )


def retire_learning(
    learning: Learning, now: datetime, actor: str, reason: str, **changes: object
) -> Learning:
    """The retired next version of `learning` (valid_to = now); retiring twice is an error."""
    if not learning.live:
        raise ValueError(f"learning {learning.id} is already retired")
    return learning.revise(
        now, actor, "retired", reason, status=LearningStatus.RETIRED, valid_to=now, **changes
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
        merged = _merged_directive(target.directive, draft.directive) or target.directive
        changes: dict[str, object] = {
            "support_count": target.support_count + 1,
            "provenance": target.provenance.absorb(provenance),
            "attributes": _union_tail(target.attributes, draft.attributes, 10),
        }
        if directive_key(merged) != target.key:
            changes["directive"] = merged
            changes["text"] = describe_directive(merged, target.scope_path)
        builder.write_learning(target.revise(now, actor, "merged", final.reason, **changes), target)
        return builder.build(), list(builder.learnings.values())
    superseded = [builder.learning(i) for i in final.supersedes]
    if final.action == "replace":
        superseded = [builder.learning(final.target_learning_id or "")]
    status = _new_status(mode)
    support = 1 + sum(item.support_count for item in superseded if final.action == "add")
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


# ----------------------------------------------------------------------------------------- audit actions


def vote_on(learning: Learning, delta: int, now: datetime, actor: str, reason: str) -> Learning:
    """Votes + delta, clamped to 0..MAX_VOTES: up when the learning helped, down when it was implicated in an
    error. Reaching 0 retires it (valid_to = now). Voting on a retired learning is an error."""
    if delta == 0:
        raise ValueError("a vote must change the count: use a positive or negative delta")
    if not learning.live:
        raise ValueError(f"learning {learning.id} is retired; votes no longer apply")
    votes = max(0, min(MAX_VOTES, learning.votes + delta))
    if votes == 0:
        return learning.revise(
            now,
            actor,
            "retired",
            f"votes reached 0: {reason}",
            votes=0,
            status=LearningStatus.RETIRED,
            valid_to=now,
        )
    return learning.revise(now, actor, "upvoted" if delta > 0 else "downvoted", reason, votes=votes)


def upvote(learning: Learning, now: datetime, actor: str, reason: str) -> Learning:
    """One more vote (capped at MAX_VOTES): the learning helped an extraction."""
    return vote_on(learning, 1, now, actor, reason)


def downvote(learning: Learning, now: datetime, actor: str, reason: str) -> Learning:
    """One vote less: the learning was implicated in an error. At zero votes it is retired."""
    return vote_on(learning, -1, now, actor, reason)


def approve_learning(learning: Learning, now: datetime, actor: str, reason: str) -> Learning:
    """proposed -> active; anything else is an error saying what state the learning is in."""
    if learning.status is not LearningStatus.PROPOSED:
        raise ValueError(
            f"learning {learning.id} is {learning.status.value}; only proposed learnings can be approved"
        )
    return learning.revise(now, actor, "approved", reason, status=LearningStatus.ACTIVE)


def edited_learning(
    old: Learning, text: str, directive: Directive | None, now: datetime, actor: str, reason: str, new_id: str
) -> tuple[Learning, Learning]:
    """An edit is a replacement: (new learning at version 1 superseding `old`, `old` retired with valid_to).
    Raises ValueError when the new text is empty, oversized or abstract."""
    if not old.live:
        raise ValueError(
            f"learning {old.id} is retired; edit its replacement {old.superseded_by or ''}".strip()
        )
    try:
        draft = LearningDraft(
            text=text,
            kind=old.kind,
            scope_path=old.scope_path,
            attributes=_union_tail(old.attributes, [(directive or old.directive).attribute], 10),
            directive=directive or old.directive,
            source_channel=old.source_channel,
        )
    except ValidationError as error:
        raise ValueError(_first_error(error)) from None
    new = Learning(
        id=new_id,
        version=1,
        text=draft.text,
        kind=old.kind,
        scope_path=old.scope_path,
        attributes=draft.attributes,
        directive=draft.directive,
        source_channel="expert",
        provenance=old.provenance,
        votes=old.votes,
        support_count=old.support_count,
        status=old.status,
        valid_from=now,
        supersedes=[old.id],
        created_at=now,
        updated_at=now,
        audit=[AuditEntry(at=now, actor=actor, action="edited", reason=f"replaces {old.id}: {reason}")],
    )
    retired = retire_learning(old, now, actor, f"edited into {new_id}: {reason}", superseded_by=new_id)
    return new, retired


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"]) or "learning"
    return f"{location}: {first['msg']}"


def change_for(learnings: Sequence[tuple[Learning, Learning | None]], tree: TreeView) -> KnowledgeChange:
    """The change that writes `learnings` (new state, previous state or None) and bumps their nodes."""
    builder = _ChangeBuilder(tree, {old.id: old for _, old in learnings if old is not None})
    for new, old in learnings:
        builder.write_learning(new, old)
    return builder.build()


# -------------------------------------------------------------------------------------------- retrieval

_WORD = re.compile(r"[\w']+", re.UNICODE)


def estimated_tokens(text: str) -> int:
    """The prompt budget's estimate: one token per CHARS_PER_TOKEN characters, rounded up."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def _similarity(learning: Learning, product_folded: str, product_words: set[str]) -> float:
    terms = [normalise_text(term) for term in directive_terms(learning.directive)]
    if any(term and term in product_folded for term in terms):
        return 1.0
    words = set(_WORD.findall(normalise_text(learning.text)))
    if not words or not product_words:
        return 0.0
    return 0.5 * len(words & product_words) / len(words | product_words)


def prompt_score(learning: Learning, product_text: str, category_path: Sequence[str], now: datetime) -> float:
    """0..1: similarity to the product (0.5), votes (0.2), recency (0.15), specificity of scope (0.15)."""
    folded = normalise_text(product_text)
    similarity = _similarity(learning, folded, set(_WORD.findall(folded)))
    votes = min(learning.votes, 10) / 10
    age_days = max(0.0, (now - learning.updated_at).total_seconds() / 86400)
    recency = 1 / (1 + age_days / 30)
    specificity = len(learning.scope_path) / max(1, len(category_path))
    return 0.5 * similarity + 0.2 * votes + 0.15 * recency + 0.15 * specificity


def rank_for_prompt(
    learnings: Iterable[Learning],
    product_text: str,
    category_path: Sequence[str],
    token_budget: int = DEFAULT_PROMPT_BUDGET_TOKENS,
    now: datetime | None = None,
) -> list[LearningView]:
    """The active learnings whose scope is a prefix of `category_path`, best first, that fit in
    `token_budget` (estimated tokens of their text); one per directive. Deterministic for a given `now`."""
    eligible = [
        item
        for item in learnings
        if item.status is LearningStatus.ACTIVE
        and item.valid_to is None
        and item.view().applies_to(list(category_path))
    ]
    if not eligible or token_budget <= 0:
        return []
    reference = now or max(item.updated_at for item in eligible)
    scored = sorted(
        eligible,
        key=lambda item: (-prompt_score(item, product_text, category_path, reference), item.id),
    )
    chosen: list[LearningView] = []
    keys: set[str] = set()
    spent = 0
    for item in scored:
        cost = estimated_tokens(item.text)
        if item.key in keys or spent + cost > token_budget:
            continue
        keys.add(item.key)
        spent += cost
        chosen.append(item.view())
    return chosen


# --------------------------------------------------------------------------------------------- snapshots


class KnowledgeSnapshot(BaseModel):
    """A portable copy of the knowledge base (JSON). Validated as a whole: a snapshot that fails any check
    is refused before anything is written."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = 1
    exported_at: AwareDatetime
    nodes: list[KnowledgeNode] = Field(default_factory=list)
    learnings: list[Learning] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> KnowledgeSnapshot:
        nodes: dict[str, KnowledgeNode] = {}
        for node in self.nodes:
            if node.key in nodes:
                raise ValueError(f"node {node.path} appears twice")
            nodes[node.key] = node
        for node in self.nodes:
            parent = parent_of(node.path)
            if parent is None:
                continue
            parent_node = nodes.get(path_key(parent))
            if parent_node is None:
                raise ValueError(f"node {node.path} has no parent node {parent} in the snapshot")
            if not parent_node.has_child(node.path[-1]):
                raise ValueError(f"node {parent} does not list its child '{node.path[-1]}'")
        for node in self.nodes:
            for child in node.children:
                if path_key([*node.path, child]) not in nodes:
                    raise ValueError(f"node {node.path} lists child '{child}' but that node is missing")
        ids: set[str] = set()
        for learning in self.learnings:
            if learning.id in ids:
                raise ValueError(f"learning {learning.id} appears twice")
            ids.add(learning.id)
            if path_key(learning.scope_path) not in nodes:
                raise ValueError(f"learning {learning.id} is under {learning.scope_path}, which has no node")
        for learning in self.learnings:
            refs = [*learning.supersedes, *([learning.superseded_by] if learning.superseded_by else [])]
            missing = [ref for ref in refs if ref not in ids]
            if missing:
                raise ValueError(
                    f"learning {learning.id} refers to learnings missing from the snapshot: {missing}"
                )
        return self

    def live_counts(self) -> dict[str, int]:
        """Live learnings per node key, recomputed (stored counts are not trusted on import)."""
        counts = {node.key: 0 for node in self.nodes}
        for learning in self.learnings:
            if learning.live:
                counts[path_key(learning.scope_path)] += 1
        return counts


class Influence(BaseModel):
    """One extraction that used a learning: which version of it, on which product version."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    learning_id: str
    learning_version: int = Field(ge=1)
    product_id: str
    product_version: int = Field(ge=0)
    execution_id: str | None = None
    at: datetime


class ImportResult(BaseModel):
    """What an import wrote: learnings that were absent or older were written, newer stored ones kept."""

    model_config = ConfigDict(frozen=True)

    nodes: int
    learnings_written: int
    learnings_kept: int
