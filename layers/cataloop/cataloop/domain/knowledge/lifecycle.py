"""A learning's life after placement: votes (zero votes retires it), expert approval, edits (an edit is a
replacement) and retirement. Each returns the next version of the learning with an audit entry; nothing is
deleted. Outcome scoring (helpful/harmful counters, which may also retire) is in `outcomes`. Pure logic
only."""

from __future__ import annotations

from datetime import datetime

from pydantic import ValidationError

from cataloop.domain.knowledge.directives import Directive
from cataloop.domain.knowledge.learning import LearningDraft
from cataloop.domain.knowledge.tree import MAX_VOTES, AuditEntry, Learning, LearningStatus, union_tail
from cataloop.validation import describe_validation_error


def retire_learning(
    learning: Learning, now: datetime, actor: str, reason: str, **changes: object
) -> Learning:
    """The retired next version of `learning` (valid_to = now); retiring twice is an error."""
    if not learning.live:
        raise ValueError(f"learning {learning.id} is already retired")
    return learning.revise(
        now, actor, "retired", reason, status=LearningStatus.RETIRED, valid_to=now, **changes
    )


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
    The new learning keeps the votes and support; its helpful/harmful record starts at zero, since the old
    record judged the old wording. Raises ValueError when the new text is empty, oversized or abstract."""
    if not old.live:
        raise ValueError(
            f"learning {old.id} is retired; edit its replacement {old.superseded_by or ''}".strip()
        )
    try:
        draft = LearningDraft(
            text=text,
            kind=old.kind,
            scope_path=old.scope_path,
            attributes=union_tail(old.attributes, [(directive or old.directive).attribute], 10),
            directive=directive or old.directive,
            source_channel=old.source_channel,
        )
    except ValidationError as error:
        raise ValueError(describe_validation_error(error, limit=1)) from None
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
