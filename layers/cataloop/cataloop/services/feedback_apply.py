"""LearnApply: the last LearnFromFeedback state. Correct the product (a new version carrying the signal in
`provenance.feedback`), record claims still waiting for corroboration, downvote the learnings behind the error
and place the new learnings with the memory manager, counting every supporting signal. Every write checks
what it is about to change, so a retried state changes nothing twice (see `services.feedback` for the
triage and resolution states and the corroboration rule).

`write_corrections` (a corrected product version, conditional write, re-read on Conflict) and `place_drafts`
(placement with support counting) are shared with the human-review decisions (`services.review_decisions`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from cataloop.domain.catalog.stored import ProductStatus, StoredProduct
from cataloop.domain.feedback.corrections import (
    ClaimJudgement,
    culprits,
)
from cataloop.domain.knowledge.changes import change_for
from cataloop.domain.knowledge.learning import LearningDraft
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


CORRECTION_ATTEMPTS = 5


def write_corrections(
    products: ProductStore,
    product_id: str,
    corrections: Sequence[ClaimJudgement],
    entry: Mapping[str, Any],
    now: datetime,
    *,
    keep_changed: bool = True,
    status: ProductStatus | None = None,
    check: Callable[[StoredProduct], None] | None = None,
    attempts: int = CORRECTION_ATTEMPTS,
) -> tuple[StoredProduct, dict[str, dict[str, Any]]]:
    """Write the confirmed `corrections` as the next product version (reindexed by the stream), with `entry`
    (identified by its `signal_id`) appended to `provenance.feedback` with what it changed ('corrected': old
    and new value per attribute). A correction whose value is None removes the attribute. `keep_changed`:
    skip an attribute that no longer holds the judged wrong value (it changed since it was read). `status`:
    the version's status (None keeps it); `check` may refuse the product as read (raises). Nothing is
    written when the entry is already in the history, or when nothing changes. Re-reads and decides again
    when another writer wins the conditional write. Returns the written (or current) product and the
    changes."""
    for _ in range(attempts):
        current = products.get(product_id)
        if current is None:
            raise InvalidInput(f"product {product_id} is not in the catalog")
        if check is not None:
            check(current)
        provenance = dict(current.provenance or {})
        history = [item for item in provenance.get("feedback") or [] if isinstance(item, Mapping)]
        if any(item.get("signal_id") == entry["signal_id"] for item in history):
            return current, {}
        enrichment = dict(current.enrichment or {})
        attributes = dict(enrichment.get("attributes") or {})
        changed: dict[str, dict[str, Any]] = {}
        for judgement in corrections:
            present = (attributes.get(judgement.attribute) or {}).get("value")
            new = judgement.value.value if judgement.value is not None else None
            if keep_changed and present not in (judgement.wrong_value, None) and present != new:
                logger.info(
                    "attribute changed since triage; correction skipped",
                    extra={"attribute": judgement.attribute, "value": present},
                )
                continue
            if present == new:
                continue
            if judgement.value is None:
                attributes.pop(judgement.attribute, None)
            else:
                attributes[judgement.attribute] = judgement.value.model_dump(mode="json")
            changed[judgement.attribute] = {"old": present, "new": new}
        if not changed and (status is None or current.status == status):
            return current, {}
        enrichment["attributes"] = attributes
        if "is_food" in changed:
            new_food = changed["is_food"]["new"]
            enrichment["is_food"] = (
                None if new_food is None else str(new_food).strip().lower() in ("true", "yes", "1", "food")
            )
        record = {**entry, "corrected": changed, "at": _now_text(now)}
        provenance["feedback"] = [*history, record][-MAX_FEEDBACK_HISTORY:]
        update: dict[str, Any] = {
            "enrichment": enrichment,
            "provenance": provenance,
            "updated_at": _now_text(now),
        }
        if status is not None:
            update["status"] = status
        try:
            return products.put_version(current.model_copy(update=update)), changed
        except Conflict:
            logger.info("product changed while correcting it; re-reading", extra={"product_id": product_id})
            continue
    raise Conflict(f"product {product_id} kept changing while {entry['signal_id']} corrected it; retry")


def _correct_product(
    state: ApplyInput, corrections: Sequence[ClaimJudgement], products: ProductStore, now: datetime
) -> tuple[int | None, list[str]]:
    """The signal's corrections as the next product version (see `write_corrections`)."""
    entry = {
        "signal_id": state.signal.signal_id,
        "kind": state.signal.kind,
        "channel": state.signal.channel,
        "event_id": state.signal.event_id,
        "execution_id": state.execution_id,
    }
    written, changed = write_corrections(products, state.product.product_id, corrections, entry, now)
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
    store: KnowledgeStore,
    learning_id: str,
    signal_id: str,
    now: Callable[[], datetime],
    actor: str = "feedback",
) -> Learning | None:
    """One more supporting signal on a learning the memory manager judged already known (same product)."""
    for _ in range(SUPPORT_ATTEMPTS):
        learning = store.get_learning(learning_id)
        if learning is None or not learning.live or _already_noted(learning, signal_id):
            return learning
        supported = learning.revise(
            now(),
            actor,
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
    downvoted, retired = downvote_culprits(
        corrections,
        state.product.learnings_used,
        knowledge,
        signal_id=signal.signal_id,
        actor=f"feedback:{signal.channel}",
        now=now,
    )
    placed, created = place_drafts(
        state.resolution.drafts,
        knowledge,
        mode,
        memory_model,
        now,
        signal_id=signal.signal_id,
        execution_id=state.execution_id or None,
    )
    return FeedbackOutcome(
        signal_id=signal.signal_id,
        channel=signal.channel,
        kind=signal.kind,
        product_id=state.product.product_id,
        product_version=version,
        corrected=corrected,
        rejected=[
            j.attribute for j in state.resolution.judgements if j.verdict == "reject" or j.contradicted
        ],
        downvoted=downvoted,
        retired=retired,
        placed=placed,
        learnings_created=created,
        needs_review=state.resolution.needs_review,
        review_reason=state.resolution.review_reason,
    )


def place_drafts(
    drafts: Sequence[LearningDraft],
    knowledge: KnowledgeStore,
    mode: DeploymentMode,
    memory_model: ModelClient | None,
    now: Callable[[], datetime],
    *,
    signal_id: str,
    execution_id: str | None = None,
    actor: str = "feedback",
) -> tuple[list[PlacedLearning], int]:
    """Place each draft with the memory manager (`knowledge_base.place_learning`); a draft it finds already
    known counts one more supporting signal on that learning (once per `signal_id`). Returns what was placed
    and how many learnings were created."""
    placed: list[PlacedLearning] = []
    created = 0
    for draft in drafts:
        result = place_learning(draft, knowledge, mode, memory_model, now, execution_id=execution_id)
        final = result.final
        action = final.action
        if action == "merge" and result.changed and all(item.version == 1 for item in result.changed):
            action = "add"  # an uncorroborated draft may not widen a live learning: it was added beside it
        support: int | None = None
        if action == "noop" and final.target_learning_id:
            again = _add_support(knowledge, final.target_learning_id, signal_id, now, actor)
            support = again.support_count if again else None
        elif result.changed:
            support = result.changed[0].support_count
        if action in ("add", "replace"):
            created += 1
        placed.append(
            PlacedLearning(
                action=action,
                node_path=final.node_path,
                learning_ids=[item.id for item in result.changed] or [final.target_learning_id or ""],
                support_count=support,
            )
        )
    return placed, created


def downvote_culprits(
    corrections: Sequence[ClaimJudgement],
    learnings_used: Sequence[str],
    knowledge: KnowledgeStore,
    *,
    signal_id: str,
    actor: str,
    now: Callable[[], datetime],
) -> tuple[list[str], list[str]]:
    """Downvote the used learnings behind each corrected value (`corrections.culprits`), once per
    `signal_id`. Returns the ids downvoted and the ids that retired by it."""
    used = [found for i in learnings_used if (found := knowledge.get_learning(i)) is not None]
    downvoted: list[str] = []
    retired: list[str] = []
    for judgement in corrections:
        for culprit in culprits(judgement, used):
            learning = knowledge.get_learning(culprit.learning_id)
            if learning is None or not learning.live or _already_noted(learning, signal_id):
                continue
            voted = vote(
                knowledge,
                culprit.learning_id,
                -culprit.penalty,
                f"{signal_id}: {culprit.reason}",
                actor=actor,
                now=now,
            )
            downvoted.append(voted.id)
            if not voted.live:
                retired.append(voted.id)
    return downvoted, retired
