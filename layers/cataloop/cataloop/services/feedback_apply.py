"""LearnApply: the last LearnFromFeedback state. Correct the product (a new version carrying the signal in
`provenance.feedback`), record claims still waiting for corroboration, downvote the learnings behind the error
and place the new learnings with the memory manager, counting every supporting signal. Every write checks
what it is about to change, so a retried state changes nothing twice (see `services.feedback` for the
triage and resolution states and the corroboration rule).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from cataloop.domain.feedback.corrections import (
    ClaimJudgement,
    culprits,
)
from cataloop.domain.knowledge.changes import change_for
from cataloop.domain.knowledge.tree import DeploymentMode, Learning, utc_now
from cataloop.errors import Conflict, InvalidInput
from cataloop.ports import ModelClient, ProductStore
from cataloop.services.feedback import (
    MAX_FEEDBACK_HISTORY,
    MAX_PENDING_CLAIMS,
    SUPPORT_ATTEMPTS,
    ApplyInput,
    FeedbackOutcome,
    PlacedLearning,
)
from cataloop.services.knowledge_admin import vote
from cataloop.services.knowledge_base import KnowledgeStore, place_learning

logger = logging.getLogger(__name__)


def _now_text(now: datetime) -> str:
    return now.astimezone(UTC).isoformat(timespec="milliseconds")


def _correct_product(
    state: ApplyInput, corrections: Sequence[ClaimJudgement], products: ProductStore, now: datetime
) -> tuple[int | None, list[str]]:
    """Write the corrected attributes as the next product version (reindexed by the stream). Skips
    attributes that no longer hold the wrong value, and the whole write when this signal is already in the
    product's feedback history."""
    current = products.get(state.product.product_id)
    if current is None:
        raise InvalidInput(f"product {state.product.product_id} disappeared before the correction")
    provenance = dict(current.provenance or {})
    history = [entry for entry in provenance.get("feedback") or [] if isinstance(entry, Mapping)]
    if any(entry.get("signal_id") == state.signal.signal_id for entry in history):
        return current.version, []
    enrichment = dict(current.enrichment or {})
    attributes = dict(enrichment.get("attributes") or {})
    changed: dict[str, dict[str, Any]] = {}
    for judgement in corrections:
        if judgement.value is None:
            continue
        present = attributes.get(judgement.attribute) or {}
        if present.get("value") not in (judgement.wrong_value, None) and present.get("value") != (
            judgement.value.value
        ):
            logger.info(
                "attribute changed since triage; correction skipped",
                extra={"attribute": judgement.attribute, "value": present.get("value")},
            )
            continue
        if present.get("value") == judgement.value.value:
            continue
        attributes[judgement.attribute] = judgement.value.model_dump(mode="json")
        changed[judgement.attribute] = {"old": judgement.wrong_value, "new": judgement.value.value}
    if not changed:
        return current.version, []
    enrichment["attributes"] = attributes
    if "is_food" in changed:
        enrichment["is_food"] = str(changed["is_food"]["new"]).strip().lower() in ("true", "yes", "1", "food")
    entry = {
        "signal_id": state.signal.signal_id,
        "kind": state.signal.kind,
        "channel": state.signal.channel,
        "event_id": state.signal.event_id,
        "execution_id": state.execution_id,
        "corrected": changed,
        "at": _now_text(now),
    }
    provenance["feedback"] = [*history, entry][-MAX_FEEDBACK_HISTORY:]
    written = products.put_version(
        current.model_copy(
            update={"enrichment": enrichment, "provenance": provenance, "updated_at": _now_text(now)}
        )
    )
    return written.version, sorted(changed)


def _record_pending_claims(
    state: ApplyInput, pending: Sequence[ClaimJudgement], products: ProductStore, now: datetime
) -> int | None:
    """Record uncorroborated customer claims on the product (provenance only; the enrichment is unchanged)
    so independent customers making the same claim can be counted. Once per signal id."""
    current = products.get(state.product.product_id)
    if current is None or state.signal.reporter is None:
        return None
    provenance = dict(current.provenance or {})
    claims = [entry for entry in provenance.get("feedback_claims") or [] if isinstance(entry, Mapping)]
    if any(entry.get("signal_id") == state.signal.signal_id for entry in claims):
        return current.version
    claims += [
        {
            "signal_id": state.signal.signal_id,
            "attribute": judgement.attribute,
            "claim": judgement.pending_claim,
            "reporter": state.signal.reporter,
            "at": _now_text(now),
        }
        for judgement in pending
    ]
    provenance["feedback_claims"] = claims[-MAX_PENDING_CLAIMS:]
    written = products.put_version(
        current.model_copy(update={"provenance": provenance, "updated_at": _now_text(now)})
    )
    return written.version


def _already_noted(learning: Learning, signal_id: str) -> bool:
    """True when this signal already voted on, supported or created the learning (a retried step). The id
    must stand alone: 'D-1' is not noted by 'D-10'."""
    mention = re.compile(rf"(?<![\w:.-]){re.escape(signal_id)}(?![\w.-])")
    texts = [entry.reason for entry in learning.audit] + list(learning.provenance.evidence)
    return any(mention.search(text) for text in texts)


def _add_support(
    store: KnowledgeStore, learning_id: str, signal_id: str, now: Callable[[], datetime]
) -> Learning | None:
    """One more supporting signal on a learning the memory manager judged already known (same product)."""
    for _ in range(SUPPORT_ATTEMPTS):
        learning = store.get_learning(learning_id)
        if learning is None or not learning.live or _already_noted(learning, signal_id):
            return learning
        supported = learning.revise(
            now(),
            "feedback",
            "supported",
            f"{signal_id} supports it again",
            support_count=learning.support_count + 1,
        )
        node = store.get_node(learning.scope_path)
        if node is None:
            return learning
        try:
            store.commit(change_for([(supported, learning)], {node.key: node}))
            return supported
        except Conflict:
            continue
    raise Conflict(f"learning {learning_id} kept changing while counting support for {signal_id}; retry")


def apply_feedback(
    state: ApplyInput,
    products: ProductStore,
    knowledge: KnowledgeStore,
    mode: DeploymentMode,
    memory_model: ModelClient | None = None,
    now: Callable[[], datetime] = utc_now,
) -> FeedbackOutcome:
    """Correct the product (new version), downvote the learnings that shaped the wrong values, and place the
    correction learnings with the memory manager (merges count support). Safe to retry."""
    signal = state.signal
    corrections = [j for j in state.resolution.judgements if j.verdict == "correct"]
    version, corrected = _correct_product(state, corrections, products, now()) if corrections else (None, [])
    pending = [j for j in state.resolution.judgements if j.verdict == "unsure" and j.pending_claim]
    if pending and signal.channel == "customer_feedback":
        version = _record_pending_claims(state, pending, products, now()) or version
    used = [found for i in state.product.learnings_used if (found := knowledge.get_learning(i)) is not None]
    downvoted: list[str] = []
    retired: list[str] = []
    for judgement in corrections:
        for culprit in culprits(judgement, used):
            learning = knowledge.get_learning(culprit.learning_id)
            if learning is None or not learning.live or _already_noted(learning, signal.signal_id):
                continue
            voted = vote(
                knowledge,
                culprit.learning_id,
                -culprit.penalty,
                f"{signal.signal_id}: {culprit.reason}",
                actor=f"feedback:{signal.channel}",
                now=now,
            )
            downvoted.append(voted.id)
            if not voted.live:
                retired.append(voted.id)
    placed: list[PlacedLearning] = []
    created = 0
    for draft in state.resolution.drafts:
        result = place_learning(
            draft, knowledge, mode, memory_model, now, execution_id=state.execution_id or None
        )
        final = result.final
        support: int | None = None
        if final.action == "noop" and final.target_learning_id:
            again = _add_support(knowledge, final.target_learning_id, signal.signal_id, now)
            support = again.support_count if again else None
        elif result.changed:
            support = result.changed[0].support_count
        if final.action in ("add", "replace"):
            created += 1
        placed.append(
            PlacedLearning(
                action=final.action,
                node_path=final.node_path,
                learning_ids=[item.id for item in result.changed] or [final.target_learning_id or ""],
                support_count=support,
            )
        )
    return FeedbackOutcome(
        signal_id=signal.signal_id,
        channel=signal.channel,
        kind=signal.kind,
        product_id=state.product.product_id,
        product_version=version,
        corrected=corrected,
        downvoted=downvoted,
        retired=retired,
        placed=placed,
        learnings_created=created,
        needs_review=state.resolution.needs_review,
        review_reason=state.resolution.review_reason,
    )
