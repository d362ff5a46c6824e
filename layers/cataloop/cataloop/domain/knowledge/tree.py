"""The hierarchical knowledge base's value objects: category nodes with learnings under them, tree paths,
and what one change, an export or an import writes.

Pure logic only. Where a new learning goes is decided in `placement` (the memory manager's offline baseline)
and turned into items to write in `changes`; votes, approval, edits and retirement are in `lifecycle`; the
helpful/harmful outcome record is kept by `outcomes`; what a worker is shown is chosen in `retrieval`; what
two directives say about each other is in `directives`.
Nothing is ever deleted: a replaced or retired learning keeps its item with `valid_to` set.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from cataloop.domain.enrichment.normalisation import normalise_text
from cataloop.domain.knowledge.learning import (
    AttributeName,
    LearningDirective,
    LearningDraft,
    LearningKind,
    LearningView,
    SourceChannel,
    directive_key,
    directive_problems,
)

SNAPSHOT_SCHEMA_VERSION = 1
MAX_DEPTH = 8
INITIAL_VOTES = 2
MAX_VOTES = 100
MAX_PROVENANCE_IDS = 50
MAX_EVIDENCE = 10
MAX_AUDIT_ENTRIES = 100
# Outcome keys ('<source>:<product id>') a learning remembers, newest last, so a replayed outcome is not
# counted twice (`domain.knowledge.outcomes`); older keys fall off.
MAX_OUTCOME_KEYS = 50


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
            product_ids=union_tail(self.product_ids, other.product_ids, MAX_PROVENANCE_IDS),
            execution_ids=union_tail(self.execution_ids, other.execution_ids, MAX_PROVENANCE_IDS),
            model_ids=union_tail(self.model_ids, other.model_ids, MAX_PROVENANCE_IDS),
            evidence=union_tail(self.evidence, other.evidence, MAX_EVIDENCE),
        )


def union_tail(first: Iterable[str], second: Iterable[str], cap: int) -> list[str]:
    """`first` then the new items of `second`, without duplicates, keeping the last `cap`."""
    merged: list[str] = []
    for item in [*first, *second]:
        if item not in merged:
            merged.append(item)
    return merged[-cap:]


class Learning(BaseModel):
    """A stored learning. `version` increases by one with every write (conditional writes); a replacement is
    a new learning that `supersedes` the old one, which keeps its item with `valid_to` and `superseded_by`.

    `helpful` / `harmful` count the scored outcomes of extractions that used the learning (ACE's per-item
    counters, `domain.knowledge.outcomes`); `outcome_keys` holds the last MAX_OUTCOME_KEYS outcomes counted
    ('<source>:<product id>') so a replay is recognised. Items written before these fields load as 0 / []."""

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
    helpful: int = Field(default=0, ge=0)
    harmful: int = Field(default=0, ge=0)
    outcome_keys: list[str] = Field(default_factory=list, max_length=MAX_OUTCOME_KEYS)
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
        # Stored items skip the value bounds of new drafts, so items written before a bound stay readable.
        LearningDraft.model_validate(
            {
                "text": self.text,
                "kind": self.kind,
                "scope_path": self.scope_path,
                "attributes": self.attributes,
                "directive": self.directive,
                "source_channel": self.source_channel,
            },
            context={"stored": True},
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


TreeView = Mapping[str, KnowledgeNode]
LearningsByNode = Mapping[str, Sequence[Learning]]


# ---------------------------------------------------------------------------------------- what is written


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


def snapshot_value_problems(snapshot: KnowledgeSnapshot) -> list[str]:
    """The live learnings of a snapshot whose values break the bounds of new learnings (`learning.
    value_problem`), checked before an import writes anything. Exports are not checked: a store can always
    be exported, even with items written before a bound existed."""
    problems: list[str] = []
    for learning in snapshot.learnings:
        if learning.live:
            problems += [
                f"learning {learning.id}: {problem}" for problem in directive_problems(learning.directive)
            ]
    return problems


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
