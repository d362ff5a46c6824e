"""Knowledge-base use cases of the enrichment and feedback workflows: place a learning (the memory manager),
retrieve learnings for a worker prompt, and record which learnings influenced an extraction. The expert and
audit actions (approve, retire, edit, vote, export/import, replay validation) are in `knowledge_admin`.

Every write is read -> decide -> conditional commit, retried on Conflict a bounded number of times: a lost
race re-reads the tree and decides again (an add that lost to an identical add becomes a merge), so
concurrent writers lose nothing and create no duplicates.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cataloop.domain.enrichment.prompting import data_block
from cataloop.domain.knowledge.changes import plan_change
from cataloop.domain.knowledge.learning import LearningDraft, LearningView
from cataloop.domain.knowledge.placement import PlacementDecision, PlacementPlan, check_plan, decide_placement
from cataloop.domain.knowledge.retrieval import DEFAULT_PROMPT_BUDGET_TOKENS, rank_for_prompt
from cataloop.domain.knowledge.tree import (
    DeploymentMode,
    KnowledgeNode,
    Learning,
    path_key,
    utc_now,
)
from cataloop.domain.model_calls import ModelRequest, PromptText
from cataloop.domain.prompts import load_template
from cataloop.errors import Conflict, InvalidInput, ModelError
from cataloop.ports import KnowledgeStore, ModelClient

logger = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 10
# Siblings read for consolidation; a parent with more subcategories than this consolidates on the first ones.
MAX_SIBLINGS_READ = 40
MEMORY_MANAGER_TEMPLATE = "memory_manager"
MEMORY_MANAGER_TEMPLATE_VERSION = "v1"

T = TypeVar("T")


class PlacementResult(BaseModel):
    """What the memory manager decided and wrote. `changed` holds every learning written (created, merged,
    or retired as superseded), at its new version."""

    model_config = ConfigDict(frozen=True)

    decisions: list[PlacementDecision]
    decided_by: Literal["offline_baseline", "model"]
    model_id: str | None = None
    model_plan_rejected: str | None = None
    changed: list[Learning] = Field(default_factory=list)
    attempts: int = Field(ge=1)

    @property
    def final(self) -> PlacementDecision:
        return self.decisions[-1]


def new_learning_id() -> str:
    return f"L-{uuid.uuid4().hex[:16]}"


def jittered_backoff(attempt: int) -> None:
    """Full jitter, 10 ms base, capped at 200 ms: conflicting writers spread out instead of colliding again."""
    time.sleep(random.uniform(0, min(0.2, 0.01 * 2**attempt)))


def parse_draft(raw: LearningDraft | Mapping[str, Any]) -> LearningDraft:
    """A validated draft, or InvalidInput naming each bad field (empty, oversized or abstract text...)."""
    if isinstance(raw, LearningDraft):
        return raw
    try:
        return LearningDraft.model_validate(raw)
    except ValidationError as error:
        raise InvalidInput(describe_validation_error(error, "learning")) from None


def describe_validation_error(error: ValidationError, what: str) -> str:
    """`invalid <what>: ` and the first five problems, each as field path and message."""
    problems = [
        f"{'.'.join(str(part) for part in item['loc']) or what}: {item['msg']}" for item in error.errors()[:5]
    ]
    return f"invalid {what}: " + "; ".join(problems)


def with_retries(
    operation: Callable[[], T], what: str, max_attempts: int, backoff: Callable[[int], None]
) -> T:
    """Run `operation` (one read -> decide -> commit) again after each Conflict, up to `max_attempts` times."""
    for attempt in range(1, max_attempts + 1):
        try:
            return operation()
        except Conflict as conflict:
            logger.info("knowledge write conflict; re-reading", extra={"what": what, "attempt": attempt})
            if attempt == max_attempts:
                raise Conflict(
                    f"{what}: the knowledge tree kept changing for {max_attempts} attempts; retry later"
                ) from conflict
            backoff(attempt)
    raise AssertionError("unreachable")


# ---------------------------------------------------------------------------------------- placement


def _neighbourhood(
    store: KnowledgeStore, draft: LearningDraft
) -> tuple[dict[str, KnowledgeNode], dict[str, list[Learning]]]:
    """The nodes and learnings the decision may depend on: the scope path and the scope's siblings. Each node
    partition is read at most once per call (one placement attempt; a retry after a Conflict reads again)."""
    tree: dict[str, KnowledgeNode] = {}
    learnings: dict[str, list[Learning]] = {}
    partitions: dict[str, tuple[KnowledgeNode | None, list[Learning]]] = {}

    def partition(path: Sequence[str]) -> tuple[KnowledgeNode | None, list[Learning]]:
        key = path_key(path)
        if key not in partitions:
            partitions[key] = store.node_partition(path)
        return partitions[key]

    scope = draft.scope_path
    for depth in range(len(scope) + 1):
        node, items = partition(scope[:depth])
        if node is None:
            break
        tree[node.key] = node
        learnings[node.key] = items
    parent = tree.get(path_key(scope[:-1])) if len(scope) >= 2 else None
    if parent is not None and draft.kind != "example":
        for child in sorted(parent.children)[:MAX_SIBLINGS_READ]:
            path = [*parent.path, child]
            if path_key(path) in tree:
                continue
            node, items = partition(path)
            if node is not None:
                tree[node.key] = node
                learnings[node.key] = items
    return tree, learnings


def render_memory_manager_prompt(
    draft: LearningDraft, tree: Mapping[str, KnowledgeNode], learnings: Mapping[str, Sequence[Learning]]
) -> tuple[PromptText, dict[str, Any]]:
    """The memory-manager prompt and its payload: the draft, the nodes along its scope (with siblings) and
    their live learnings. Stored text is data, so it goes inside the delimited data block."""
    payload = {
        "draft": draft.model_dump(mode="json"),
        "nodes": [
            {"path": node.path, "children": node.children, "learning_count": node.learning_count}
            for node in sorted(tree.values(), key=lambda node: (len(node.path), node.key))
        ],
        "learnings": [
            {
                "id": item.id,
                "node_path": item.scope_path,
                "status": item.status.value,
                "text": item.text,
                "directive": item.directive.model_dump(mode="json"),
                "support_count": item.support_count,
                "votes": item.votes,
            }
            for items in learnings.values()
            for item in items
            if item.live
        ],
    }
    prompt = load_template(MEMORY_MANAGER_TEMPLATE, MEMORY_MANAGER_TEMPLATE_VERSION).render(
        {"knowledge_data": data_block(payload)}
    )
    return prompt, payload


def _model_plan(
    model: ModelClient,
    draft: LearningDraft,
    tree: Mapping[str, KnowledgeNode],
    learnings: Mapping[str, Sequence[Learning]],
) -> tuple[list[PlacementDecision], str]:
    prompt, payload = render_memory_manager_prompt(draft, tree, learnings)
    response = model.invoke(
        ModelRequest(role="memory_manager", prompt=prompt, payload=payload), PlacementPlan
    )
    try:
        plan = PlacementPlan.model_validate(response.output.model_dump(mode="json"))
    except ValidationError as error:
        raise ModelError(describe_validation_error(error, "memory manager plan")) from None
    try:
        check_plan(plan.decisions, draft, tree, learnings)
    except ValueError as error:
        raise ModelError(f"memory manager plan does not fit the tree: {error}") from None
    return plan.decisions, response.model_id


NearDuplicateFinder = Callable[[LearningDraft], list[str]]


def _near_duplicates(similar: NearDuplicateFinder | None, draft: LearningDraft) -> list[str]:
    """The finder's near-duplicate ids, or none when there is no finder or it failed (logged)."""
    if similar is None:
        return []
    try:
        return list(similar(draft))
    except Exception as error:  # a hint only: placement must not fail because search is down
        logger.warning(
            "near-duplicate lookup failed; placing without it",
            extra={"error": f"{type(error).__name__}: {error}"[:500]},
        )
        return []


def place_learning(
    draft: LearningDraft | Mapping[str, Any],
    store: KnowledgeStore,
    mode: DeploymentMode,
    model: ModelClient | None = None,
    now: Callable[[], datetime] = utc_now,
    *,
    actor: str = "memory_manager",
    execution_id: str | None = None,
    new_id: Callable[[], str] = new_learning_id,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    backoff: Callable[[int], None] = jittered_backoff,
    similar: NearDuplicateFinder | None = None,
) -> PlacementResult:
    """Place `draft` in the tree: decide (the model with role memory_manager when given, else the offline
    baseline; a model plan that fails validation falls back to the baseline, and the reason is kept), then
    commit atomically. InvalidInput for a bad draft; Conflict after `max_attempts` lost races.

    `similar` (e.g. `knowledge_search.near_duplicate_finder`) returns the ids of live learnings at the
    draft's scope that the learnings index finds semantically close to it; the baseline prefers them as the
    merge target (`decide_placement`). It is asked at most once per placement, only when the baseline
    decides (a model plan does not use it), and it is only a hint: when it fails (index or embedder
    unreachable) the failure is logged and the baseline decides without it."""
    valid = parse_draft(draft)
    attempts = 0
    near: list[str] | None = None

    def attempt() -> PlacementResult:
        nonlocal attempts, near
        attempts += 1
        tree, learnings = _neighbourhood(store, valid)
        decided_by: Literal["offline_baseline", "model"] = "offline_baseline"
        model_id: str | None = None
        rejected: str | None = None
        decisions: list[PlacementDecision] | None = None
        if model is not None:
            try:
                decisions, model_id = _model_plan(model, valid, tree, learnings)
                decided_by = "model"
            except ModelError as error:
                rejected = str(error)
                logger.warning(
                    "memory manager plan rejected; using the offline baseline", extra={"error": rejected}
                )
        if decisions is None:
            if near is None:
                near = _near_duplicates(similar, valid)
            decisions = decide_placement(valid, tree, learnings, near)
        change, changed = plan_change(
            valid,
            decisions,
            tree,
            learnings,
            mode=mode,
            now=now(),
            new_id=new_id,
            actor=actor if decided_by == "offline_baseline" else f"{actor}:{model_id}"[:128],
            execution_id=execution_id,
        )
        store.commit(change)
        for decision in decisions:
            logger.info(
                "knowledge placement",
                extra={
                    "action": decision.action,
                    "node_path": decision.node_path,
                    "target_learning_id": decision.target_learning_id,
                    "reason": decision.reason,
                    "decided_by": decided_by,
                    "near_duplicates": near or [],
                    "attempt": attempts,
                },
            )
        return PlacementResult(
            decisions=decisions,
            decided_by=decided_by,
            model_id=model_id,
            model_plan_rejected=rejected,
            changed=changed,
            attempts=attempts,
        )

    return with_retries(attempt, "placing a learning", max_attempts, backoff)


# ---------------------------------------------------------------------------------------- retrieval


def retrieve_for_prompt(
    store: KnowledgeStore,
    category_path: Sequence[str],
    product_text: str,
    budget: int = DEFAULT_PROMPT_BUDGET_TOKENS,
    now: datetime | None = None,
) -> list[LearningView]:
    """The active learnings along `category_path`, ranked (similarity, helpfulness, votes, recency,
    specificity) within `budget` estimated tokens. Each view carries id and version, for Persist to record.
    Reads the prompt set of each level (`KnowledgeStore.prompt_candidates_along`): one item per node."""
    return rank_for_prompt(
        store.prompt_candidates_along(category_path), product_text, category_path, budget, now
    )


def record_influence(
    store: KnowledgeStore,
    learnings: Sequence[LearningView],
    product_id: str,
    product_version: int,
    execution_id: str | None = None,
    now: datetime | None = None,
) -> None:
    """Record that this product version's extraction used `learnings` (idempotent)."""
    store.record_influence(learnings, product_id, product_version, execution_id, now or utc_now())
