"""The memory manager's offline baseline: where a new learning goes in the knowledge tree.

`decide_placement` walks the tree from the root along the draft's scope and decides, level by level, to
descend, branch, add, merge, replace or do nothing, each step with its reason; the same directive learned
under CONSOLIDATION_MIN_SIBLINGS sibling subcategories is promoted to their parent. `check_plan` validates a
plan (the baseline's or a model's) against the tree before anything is written; `changes.plan_change` turns a
checked plan into the items to write. Pure logic only.

Near-duplicates: the caller may pass the ids of live learnings at the draft's scope that the learnings index
finds semantically close to the draft (`services.knowledge_search`). At the draft's own node they are
considered first, in the order given, so a draft merges into the learning that says nearly the same thing
(e.g. a Brand lexicon whose values overlap the draft's) rather than into whichever mergeable learning sorts
first by id. Similarity never overrides the directives' own rules: a near-duplicate is merged into only
when its directive has the draft's type and attribute and the two merge (`directives.merged_directive`) or
it covers the draft; otherwise it is ignored and the usual walk decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cataloop.domain.enrichment.normalisation import normalise_text
from cataloop.domain.knowledge.directives import contradicts, covers, merged_directive
from cataloop.domain.knowledge.learning import LearningDraft, directive_key
from cataloop.domain.knowledge.tree import (
    MAX_DEPTH,
    Learning,
    LearningsByNode,
    TreeView,
    parent_of,
    path_key,
    same_path,
)

# "Frequent": the same directive under at least this many sibling subcategories is promoted to the parent.
CONSOLIDATION_MIN_SIBLINGS = 3
PlacementAction = Literal["descend", "branch", "add", "merge", "replace", "noop"]
FINAL_ACTIONS: frozenset[str] = frozenset({"add", "merge", "replace", "noop"})


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


def live_learnings(learnings_by_node: LearningsByNode, path: Sequence[str]) -> list[Learning]:
    """The proposed or active learnings at the node `path`, by id."""
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
        matching = [item for item in live_learnings(learnings_by_node, [*parent, child]) if item.key == key]
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
    draft: LearningDraft,
    tree: TreeView,
    learnings_by_node: LearningsByNode,
    near_duplicates: Sequence[str] = (),
) -> list[PlacementDecision]:
    """The offline memory manager: walk from the root along the draft's scope and return the path steps and
    exactly one final decision (add, merge, replace or noop), each with its reason. `near_duplicates`: ids
    of learnings semantically close to the draft, best first, preferred as the merge target at the draft's
    node (see the module docstring). Deterministic for given arguments."""
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
        live = live_learnings(learnings_by_node, path)
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
        decisions.append(_final_at_target(draft, live, path, label, near_duplicates))
    return decisions


def _near_duplicates_first(
    draft: LearningDraft, live: Sequence[Learning], near_duplicates: Sequence[str]
) -> tuple[list[Learning], set[str]]:
    """`live` with the near-duplicates of the draft (same directive type and attribute) first, in the order
    given, then the rest by id; and the ids that were taken as near-duplicates."""
    by_id = {item.id: item for item in live}
    close: list[Learning] = []
    for learning_id in dict.fromkeys(near_duplicates):
        item = by_id.get(learning_id)
        if (
            item is not None
            and item.directive.type == draft.directive.type
            and item.directive.attribute == draft.directive.attribute
        ):
            close.append(item)
    chosen = {item.id for item in close}
    return [*close, *(item for item in live if item.id not in chosen)], chosen


def _final_at_target(
    draft: LearningDraft,
    live: Sequence[Learning],
    path: list[str],
    label: str,
    near_duplicates: Sequence[str] = (),
) -> PlacementDecision:
    ordered, close = _near_duplicates_first(draft, live, near_duplicates)
    for item in ordered:
        if covers(item.directive, draft.directive):
            return _cover_or_merge(draft, item, path, f"{label}:")
    for item in ordered:
        if merged_directive(item.directive, draft.directive) is not None:
            same = f"same {draft.directive.attribute} {draft.directive.type}"
            reason = (
                f"near-duplicate {item.id} (the learnings index finds it close to the draft), {same}: "
                "union the values"
                if item.id in close
                else f"{same} as {item.id}: union the values"
            )
            return PlacementDecision(
                action="merge", node_path=path, target_learning_id=item.id, reason=reason
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
        at_node = {item.id for item in live_learnings(learnings_by_node, final.node_path)}
        if final.target_learning_id not in at_node:
            raise ValueError(
                f"{final.action} target {final.target_learning_id!r} is not a live learning at "
                f"{final.node_path} (choose one of {sorted(at_node)})"
            )
    if final.action == "merge":
        target = next(
            i for i in live_learnings(learnings_by_node, final.node_path) if i.id == final.target_learning_id
        )
        if not same_path(final.node_path, scope) and not covers(target.directive, draft.directive):
            raise ValueError(
                f"merge into ancestor learning {target.id} would widen the draft's scope; merge only where the "
                "ancestor already says everything the draft says, otherwise add at the draft's scope"
            )
        if (
            not covers(target.directive, draft.directive)
            and merged_directive(target.directive, draft.directive) is None
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
