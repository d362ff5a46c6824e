"""Record scored outcomes of learnings in the knowledge base: the helpful/harmful counters (ACE's delta
updates) and the retirement of learnings whose harm dominates (`domain.knowledge.outcomes`).

How a caller uses it: after a product's values are confirmed (audit, supervisor, corroborated feedback or
an expert review), call `outcomes.judge_influence(injected views, worker extractions, final values, source,
product_id)` and pass the outcomes to `record_outcomes(store, outcomes)`. Nothing here decides what is
confirmed, and nothing in the enrichment or feedback workflow calls it yet.

Each outcome is one read -> apply -> conditional commit of its learning, retried on Conflict like the expert
actions (`knowledge_admin`); the write bumps the learning's node, so it serialises with placements there.
Within one call, a learning and a node are read once: after a commit, the states it wrote are what the next
outcome on them starts from (every write is conditional on the version it replaces, so if another writer
changed them meanwhile the commit is a Conflict, and the retry reads them again).

Idempotency: a learning remembers the keys ('<source>:<product id>') of its last MAX_OUTCOME_KEYS (50)
counted outcomes in `Learning.outcome_keys`, written in the same conditional write as the counters. An
outcome whose key is there is skipped (`OutcomeReport.replayed`), so a retried state, a redelivered
message or a batch re-sent after a Conflict counts nothing twice. A replay older than the last 50 outcomes
of that learning would count again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cataloop.domain.knowledge.changes import change_for
from cataloop.domain.knowledge.learning import LearningView
from cataloop.domain.knowledge.outcomes import (
    LearningOutcome,
    already_scored,
    apply_outcome,
    judge_influence,
)
from cataloop.domain.knowledge.tree import KnowledgeNode, Learning, path_key, utc_now
from cataloop.errors import CataloopError, Conflict
from cataloop.ports import KnowledgeStore
from cataloop.services.enrichment import WorkerRun
from cataloop.services.knowledge_base import DEFAULT_MAX_ATTEMPTS, jittered_backoff, with_retries
from cataloop.services.workflow import SupervisionOutcome

DEFAULT_ACTOR = "outcome_scoring"


class OutcomeReport(BaseModel):
    """What `record_outcomes` did: outcomes counted as helpful / harmful (`harmful` includes the outcomes
    that retired their learning), learnings retired by the harm rule (id -> the reason in their audit
    trail), and the outcomes skipped, by learning id: unknown ids, learnings already retired (`not_live`),
    and replays (an outcome of that source and product was already counted)."""

    model_config = ConfigDict(frozen=True)

    helpful: int = 0
    harmful: int = 0
    retired: dict[str, str] = Field(default_factory=dict)
    unknown: list[str] = Field(default_factory=list)
    not_live: list[str] = Field(default_factory=list)
    replayed: list[str] = Field(default_factory=list)


Applied = Literal["helpful", "harmful", "retired", "unknown", "not_live", "replayed"]


class _Known:
    """The learnings and nodes one `record_outcomes` call has read or written, at the state it last saw."""

    def __init__(self) -> None:
        self.learnings: dict[str, Learning] = {}
        self.nodes: dict[str, KnowledgeNode] = {}

    def learning(self, store: KnowledgeStore, learning_id: str) -> Learning | None:
        if learning_id not in self.learnings:
            found = store.get_learning(learning_id)
            if found is None:
                return None
            self.learnings[learning_id] = found
        return self.learnings[learning_id]

    def commit(self, store: KnowledgeStore, new: Learning, old: Learning) -> None:
        key = path_key(new.scope_path)
        node = self.nodes.get(key) or store.get_node(new.scope_path)
        if node is None:
            raise CataloopError(f"knowledge node {new.scope_path} is missing for learning {new.id}")
        change = change_for([(new, old)], {node.key: node})
        try:
            store.commit(change)
        except Conflict:  # someone else wrote: the retry reads both again
            self.nodes.pop(key, None)
            self.learnings.pop(new.id, None)
            raise
        self.nodes.update({written.key: written for written in change.nodes})
        self.learnings[new.id] = new


def record_outcomes(
    store: KnowledgeStore,
    outcomes: Sequence[LearningOutcome],
    now: Callable[[], datetime] = utc_now,
    actor: str = DEFAULT_ACTOR,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    backoff: Callable[[int], None] = jittered_backoff,
) -> OutcomeReport:
    """Count each outcome on its learning (in order, one conditional write each) and report what happened.

    A harmful outcome that brings a learning to the retirement rule retires it in the same write (reason in
    its audit trail and in `OutcomeReport.retired`); later outcomes for it are `not_live`. Unknown ids and
    replays are skipped, not errors. Raises Conflict when one learning kept changing for `max_attempts`
    attempts: outcomes before it are committed, and re-sending the whole batch is safe (replays are
    skipped)."""
    counts: dict[str, int] = {"helpful": 0, "harmful": 0}
    retired: dict[str, str] = {}
    skipped: dict[str, list[str]] = {"unknown": [], "not_live": [], "replayed": []}
    known = _Known()
    for outcome in outcomes:

        def attempt(outcome: LearningOutcome = outcome) -> tuple[Applied, Learning | None]:
            learning = known.learning(store, outcome.learning_id)
            if learning is None:
                return "unknown", None
            if not learning.live:
                return "not_live", learning
            if already_scored(learning, outcome):
                return "replayed", learning
            updated = apply_outcome(learning, outcome, now(), actor)
            known.commit(store, updated, learning)
            return ("retired" if not updated.live else "helpful" if outcome.helpful else "harmful"), updated

        what = (
            f"recording the {outcome.source} outcome of product {outcome.product_id} on {outcome.learning_id}"
        )
        applied, learning = with_retries(attempt, what, max_attempts, backoff)
        if applied == "retired" and learning is not None:
            counts["harmful"] += 1
            retired[learning.id] = learning.audit[-1].reason
        elif applied in counts:
            counts[applied] += 1
        else:
            skipped[applied].append(outcome.learning_id)
    return OutcomeReport(
        helpful=counts["helpful"],
        harmful=counts["harmful"],
        retired=retired,
        unknown=skipped["unknown"],
        not_live=skipped["not_live"],
        replayed=skipped["replayed"],
    )


def supervision_outcomes(
    product_id: str,
    decision: str,
    learnings: Sequence[LearningView],
    runs: Sequence[WorkerRun],
    supervision: SupervisionOutcome,
) -> list[LearningOutcome]:
    """What a confident supervisor resolution says about the learnings the workers used: the Supervise state
    and the pipeline score learnings with this. A resolution sent to human review confirms nothing yet (the
    reviewer's decision scores it later), so it yields no outcome."""
    if supervision.needs_review or not learnings:
        return []
    final = {name: value.value for name, value in supervision.resolution.attributes.items()}
    source: Literal["audit", "supervisor"] = "audit" if decision == "AUDIT" else "supervisor"
    return judge_influence(learnings, [run.extraction for run in runs], final, source, product_id)
