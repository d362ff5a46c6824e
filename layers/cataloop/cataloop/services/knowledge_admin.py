"""Expert and audit actions on the knowledge base: approve, retire, edit and vote on a learning, show it with
what it influenced, browse the tree, export and import snapshots, and validate or promote a learning by replay.

Like placement (`knowledge_base`), every write is read -> decide -> conditional commit, retried on Conflict.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from cataloop.domain.knowledge.changes import IMPORT_ACTOR, change_for, imported_learning
from cataloop.domain.knowledge.directives import describe_directive
from cataloop.domain.knowledge.learning import LearningDirective, LearningDraft, LearningView
from cataloop.domain.knowledge.lifecycle import approve_learning, edited_learning, retire_learning, vote_on
from cataloop.domain.knowledge.tree import (
    KnowledgeNode,
    KnowledgeSnapshot,
    Learning,
    LearningStatus,
    snapshot_value_problems,
    utc_now,
)
from cataloop.errors import CataloopError, InvalidInput
from cataloop.services.knowledge_base import (
    DEFAULT_MAX_ATTEMPTS,
    KnowledgeStore,
    describe_validation_error,
    jittered_backoff,
    new_learning_id,
    with_retries,
)

T = TypeVar("T")


class LearningDetail(BaseModel):
    """A learning for the audit console: itself (with its audit trail) and the extractions it influenced."""

    model_config = ConfigDict(frozen=True)

    learning: Learning
    influenced: list[Any]


_DIRECTIVE: TypeAdapter[LearningDirective] = TypeAdapter(LearningDirective)


def _require(store: KnowledgeStore, learning_id: str) -> Learning:
    learning = store.get_learning(learning_id)
    if learning is None:
        raise InvalidInput(f"no learning {learning_id!r}; find ids with `cataloop kb tree` and `kb show`")
    return learning


def _commit_learnings(store: KnowledgeStore, writes: Sequence[tuple[Learning, Learning | None]]) -> None:
    tree: dict[str, KnowledgeNode] = {}
    for new, _ in writes:
        node = store.get_node(new.scope_path)
        if node is None:
            raise CataloopError(f"knowledge node {new.scope_path} is missing for learning {new.id}")
        tree[node.key] = node
    store.commit(change_for(writes, tree))


def _domain(action: Callable[[], T]) -> T:
    try:
        return action()
    except ValueError as error:
        raise InvalidInput(str(error)) from None


def approve(
    store: KnowledgeStore,
    learning_id: str,
    actor: str,
    reason: str,
    now: Callable[[], datetime] = utc_now,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    backoff: Callable[[int], None] = jittered_backoff,
) -> Learning:
    """proposed -> active (learn-then-deploy). What it supersedes and is still live is retired in the same
    transaction, so prompts switch from the old learning to the new one at once."""

    def attempt() -> Learning:
        learning = _require(store, learning_id)
        at = now()
        approved = _domain(lambda: approve_learning(learning, at, actor, reason))
        writes: list[tuple[Learning, Learning | None]] = [(approved, learning)]
        for old_id in learning.supersedes:
            old = store.get_learning(old_id)
            if old is not None and old.live:
                retired = retire_learning(
                    old,
                    at,
                    actor,
                    f"superseded by {learning_id} (approved): {reason}",
                    superseded_by=learning_id,
                )
                writes.append((retired, old))
        _commit_learnings(store, writes)
        return approved

    return with_retries(attempt, f"approving {learning_id}", max_attempts, backoff)


def retire(
    store: KnowledgeStore,
    learning_id: str,
    actor: str,
    reason: str,
    now: Callable[[], datetime] = utc_now,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    backoff: Callable[[int], None] = jittered_backoff,
) -> Learning:
    """Retire a proposed or active learning (valid_to = now); its item and history are kept."""

    def attempt() -> Learning:
        learning = _require(store, learning_id)
        retired = _domain(lambda: retire_learning(learning, now(), actor, reason))
        _commit_learnings(store, [(retired, learning)])
        return retired

    return with_retries(attempt, f"retiring {learning_id}", max_attempts, backoff)


def parse_directive(raw: str | Mapping[str, Any]) -> LearningDirective:
    """A learning directive from JSON text or a mapping (`{"type": "value_lexicon", "attribute": ...,
    "values": [...]}`, or not_value / pattern / attribute_fact); InvalidInput says what is wrong."""
    try:
        data = json.loads(raw) if isinstance(raw, str) else dict(raw)
        return _DIRECTIVE.validate_python(data)
    except json.JSONDecodeError as error:
        raise InvalidInput(f"the directive is not JSON: {error}") from None
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise InvalidInput(
            f"the directive is not valid ({problems}); give its type (value_lexicon, not_value, pattern or "
            "attribute_fact) and that type's fields"
        ) from None


def edit(
    store: KnowledgeStore,
    learning_id: str,
    text: str | None,
    actor: str,
    reason: str,
    directive: LearningDirective | None = None,
    now: Callable[[], datetime] = utc_now,
    new_id: Callable[[], str] = new_learning_id,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    backoff: Callable[[int], None] = jittered_backoff,
) -> Learning:
    """Replace a learning with an edited copy (new id, same status); the old one is retired with valid_to
    and superseded_by. The directive is what extraction follows: an expert who corrects what a learning
    does gives a new `directive`, and without `text` its prose is derived from it; a `text` alone rewords
    the learning and must still name what its directive is about. InvalidInput when neither is given, or
    the text is empty, oversized, abstract or about something else than the directive."""
    if text is None and directive is None:
        raise InvalidInput("give the learning's new directive, its new text, or both")

    def attempt() -> Learning:
        old = _require(store, learning_id)
        wording = text if text is not None else describe_directive(directive or old.directive, old.scope_path)
        created, retired = _domain(
            lambda: edited_learning(old, wording, directive, now(), actor, reason, new_id())
        )
        _commit_learnings(store, [(created, None), (retired, old)])
        return created

    return with_retries(attempt, f"editing {learning_id}", max_attempts, backoff)


def vote(
    store: KnowledgeStore,
    learning_id: str,
    delta: int,
    reason: str,
    actor: str = "feedback",
    now: Callable[[], datetime] = utc_now,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    backoff: Callable[[int], None] = jittered_backoff,
) -> Learning:
    """Add `delta` votes (negative when the learning was implicated in an error); at 0 it is retired."""

    def attempt() -> Learning:
        learning = _require(store, learning_id)
        voted = _domain(lambda: vote_on(learning, delta, now(), actor, reason))
        _commit_learnings(store, [(voted, learning)])
        return voted

    return with_retries(attempt, f"voting on {learning_id}", max_attempts, backoff)


def show_learning(store: KnowledgeStore, learning_id: str) -> LearningDetail:
    """The learning with its provenance and audit trail, and every extraction it influenced."""
    return LearningDetail(
        learning=_require(store, learning_id), influenced=list(store.influenced_products(learning_id))
    )


def knowledge_tree(store: KnowledgeStore) -> list[KnowledgeNode]:
    """Every node, shallowest first, for browsing."""
    return store.tree()


# ------------------------------------------------------------------------------------------ snapshots


def export_snapshot(store: KnowledgeStore, now: datetime | None = None) -> KnowledgeSnapshot:
    """The whole knowledge base as a snapshot (`.model_dump_json()` is the file format)."""
    return store.export_snapshot(now or utc_now())


def parse_snapshot(raw: str | bytes | Mapping[str, Any] | KnowledgeSnapshot) -> KnowledgeSnapshot:
    """A fully validated snapshot, or InvalidInput saying what is wrong (nothing has been written)."""
    if isinstance(raw, KnowledgeSnapshot):
        return raw
    try:
        data = json.loads(raw) if isinstance(raw, str | bytes) else dict(raw)
    except (ValueError, TypeError) as error:
        raise InvalidInput(f"knowledge snapshot is not JSON: {error}") from None
    try:
        return KnowledgeSnapshot.model_validate(data)
    except ValidationError as error:
        raise InvalidInput(describe_validation_error(error, "knowledge snapshot")) from None


def import_snapshot(
    store: KnowledgeStore,
    raw: str | bytes | Mapping[str, Any] | KnowledgeSnapshot,
    actor: str = IMPORT_ACTOR,
    now: Callable[[], datetime] = utc_now,
) -> BaseModel:
    """Validate the whole snapshot first (InvalidInput, nothing written), then merge it into the store.

    Imported knowledge never goes live by itself: every live learning lands `proposed`, with an audit entry
    naming `actor` (the importer's identity), and an expert approves it in this stage; retired history is
    kept as it is."""
    snapshot = parse_snapshot(raw)
    problems = snapshot_value_problems(snapshot)
    if problems:
        raise InvalidInput("invalid knowledge snapshot: " + "; ".join(problems[:5]))
    at = now()
    learnings = [imported_learning(learning, actor, at) for learning in snapshot.learnings]
    return store.import_snapshot(snapshot.model_copy(update={"learnings": learnings}))


# ------------------------------------------------------------------------------------- replay validation

ReplayScore = Callable[[list[LearningView]], float]


def validate_by_replay(
    draft: LearningDraft, replay: ReplayScore, baseline_score: float, min_improvement: float = 0.0
) -> bool:
    """True when replaying with the learning lowers the disagreement-or-error rate: `replay` re-runs the
    provenance products and a sample of similar past products with the candidate and returns that rate
    (lower is better); `baseline_score` is the rate without it."""
    candidate = LearningView.from_draft(draft, "replay-candidate")
    score = replay([candidate])
    return score < baseline_score - min_improvement


def promote_by_replay(
    store: KnowledgeStore,
    learning_id: str,
    replay: ReplayScore,
    baseline_score: float,
    actor: str = "replay_validation",
    now: Callable[[], datetime] = utc_now,
) -> Learning:
    """Approve a proposed learning if its replay lowers the rate; otherwise record the failed replay in its
    audit trail and leave it proposed. Returns the learning as stored afterwards."""
    learning = _require(store, learning_id)
    if learning.status is not LearningStatus.PROPOSED:
        raise InvalidInput(
            f"learning {learning_id} is {learning.status.value}; only proposed ones are replayed"
        )
    score = replay([learning.view()])
    if score < baseline_score:
        reason = f"replay rate {score:.4f} < baseline {baseline_score:.4f}"
        return approve(store, learning_id, actor, reason, now)
    reason = f"replay rate {score:.4f} does not improve on baseline {baseline_score:.4f}; stays proposed"
    noted = learning.revise(now(), actor, "replay_rejected", reason)
    _commit_learnings(store, [(noted, learning)])
    return noted
