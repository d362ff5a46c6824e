"""Which learnings a worker prompt shows: the active learnings in the product's category path, ranked by
similarity to the product, outcome record (helpful vs harmful), votes, recency and specificity, within a
token budget. Pure logic only.

`PromptCandidate` is what ranking needs of one active learning (its view, outcome counters, votes and the
two times recency and the default reference use), without its audit trail, provenance or outcome keys: the
knowledge stores keep one list of them per node (the node's prompt set), so retrieval reads one small item
per level of the category path however many learnings the nodes hold."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from cataloop.domain.enrichment.normalisation import normalise_text
from cataloop.domain.knowledge.learning import LearningView, directive_key, directive_terms
from cataloop.domain.knowledge.outcomes import OUTCOME_ACTIONS
from cataloop.domain.knowledge.tree import Learning, LearningStatus

DEFAULT_PROMPT_BUDGET_TOKENS = 400
CHARS_PER_TOKEN = 4
_WORD = re.compile(r"[\w']+", re.UNICODE)


def estimated_tokens(text: str) -> int:
    """The prompt budget's estimate: one token per CHARS_PER_TOKEN characters, rounded up."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


class PromptCandidate(BaseModel):
    """An active learning as ranking sees it (see the module docstring); `PromptCandidate.of(learning)`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    view: LearningView
    helpful: int = Field(default=0, ge=0)
    harmful: int = Field(default=0, ge=0)
    votes: int = Field(default=0, ge=0)
    updated_at: AwareDatetime
    last_changed: AwareDatetime

    @classmethod
    def of(cls, learning: Learning) -> PromptCandidate:
        return cls(
            view=learning.view(),
            helpful=learning.helpful,
            harmful=learning.harmful,
            votes=learning.votes,
            updated_at=learning.updated_at,
            last_changed=last_changed(learning),
        )

    @property
    def id(self) -> str:
        return self.view.id


def _candidates(learnings: Iterable[Learning | PromptCandidate]) -> list[PromptCandidate]:
    """Candidates of the active, not ended learnings (a `PromptCandidate` is one by construction)."""
    return [
        item if isinstance(item, PromptCandidate) else PromptCandidate.of(item)
        for item in learnings
        if isinstance(item, PromptCandidate)
        or (item.status is LearningStatus.ACTIVE and item.valid_to is None)
    ]


def _similarity(learning: LearningView, product_folded: str, product_words: set[str]) -> float:
    terms = [normalise_text(term) for term in directive_terms(learning.directive)]
    if any(term and term in product_folded for term in terms):
        return 1.0
    words = set(_WORD.findall(normalise_text(learning.text)))
    if not words or not product_words:
        return 0.0
    return 0.5 * len(words & product_words) / len(words | product_words)


# Weights of `prompt_score`; they sum to 1.
SIMILARITY_WEIGHT = 0.45
HELPFULNESS_WEIGHT = 0.2
VOTES_WEIGHT = 0.1
RECENCY_WEIGHT = 0.1
SPECIFICITY_WEIGHT = 0.15


def helpfulness(learning: Learning | PromptCandidate) -> float:
    """The learning's outcome record smoothed (Laplace): (helpful + 1) / (helpful + harmful + 2). 0.5 with no
    record; towards 1 for a learning that keeps helping, towards 0 for one that keeps hurting."""
    return (learning.helpful + 1) / (learning.helpful + learning.harmful + 2)


def last_changed(learning: Learning) -> datetime:
    """When the learning last changed other than by outcome scoring (recency's reference): counting an
    outcome is a write (`updated_at` moves), and a learning that keeps hurting must not look fresh for it.
    The time of the newest audit entry that is not an outcome (never later than `updated_at`); `valid_from`
    when the trail holds only outcome entries; `updated_at` when it has none."""
    if not learning.audit:
        return learning.updated_at
    for entry in reversed(learning.audit):
        if entry.action not in OUTCOME_ACTIONS:
            return min(entry.at, learning.updated_at)
    return learning.valid_from


def prompt_score(
    learning: Learning | PromptCandidate, product_text: str, category_path: Sequence[str], now: datetime
) -> float:
    """0..1: similarity to the product (0.45), helpfulness of its outcome record (0.2, `helpfulness`), votes
    (0.1), recency of its last change other than outcome scoring (0.1, `last_changed`), specificity of scope
    (0.15). Among learnings equally close to the product, one that keeps hurting sinks below ones that help.
    Deterministic for a given `now`."""
    candidate = learning if isinstance(learning, PromptCandidate) else PromptCandidate.of(learning)
    folded = normalise_text(product_text)
    return _score(candidate, folded, set(_WORD.findall(folded)), category_path, now)


def _score(
    candidate: PromptCandidate,
    folded: str,
    words: set[str],
    category_path: Sequence[str],
    now: datetime,
) -> float:
    similarity = _similarity(candidate.view, folded, words)
    votes = min(candidate.votes, 10) / 10
    age_days = max(0.0, (now - candidate.last_changed).total_seconds() / 86400)
    recency = 1 / (1 + age_days / 30)
    specificity = len(candidate.view.scope_path) / max(1, len(category_path))
    return (
        SIMILARITY_WEIGHT * similarity
        + HELPFULNESS_WEIGHT * helpfulness(candidate)
        + VOTES_WEIGHT * votes
        + RECENCY_WEIGHT * recency
        + SPECIFICITY_WEIGHT * specificity
    )


def rank_for_prompt(
    learnings: Iterable[Learning | PromptCandidate],
    product_text: str,
    category_path: Sequence[str],
    token_budget: int = DEFAULT_PROMPT_BUDGET_TOKENS,
    now: datetime | None = None,
) -> list[LearningView]:
    """The active learnings (or their candidates) whose scope is a prefix of `category_path`, best first, that
    fit in `token_budget` (estimated tokens of their text); one per directive. Deterministic for a given
    `now`; a learning and its `PromptCandidate` rank the same."""
    eligible = [item for item in _candidates(learnings) if item.view.applies_to(list(category_path))]
    if not eligible or token_budget <= 0:
        return []
    reference = now or max(item.updated_at for item in eligible)
    folded = normalise_text(product_text)
    words = set(_WORD.findall(folded))
    scored = sorted(
        eligible,
        key=lambda item: (-_score(item, folded, words, category_path, reference), item.id),
    )
    chosen: list[LearningView] = []
    keys: set[str] = set()
    spent = 0
    for item in scored:
        view = item.view
        cost = estimated_tokens(view.text)
        key = directive_key(view.directive)
        if key in keys or spent + cost > token_budget:
            continue
        keys.add(key)
        spent += cost
        chosen.append(view)
    return chosen
