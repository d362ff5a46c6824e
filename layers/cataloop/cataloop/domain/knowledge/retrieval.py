"""Which learnings a worker prompt shows: the active learnings in the product's category path, ranked by
similarity to the product, votes, recency and specificity, within a token budget. Pure logic only."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from datetime import datetime

from cataloop.domain.enrichment.normalisation import normalise_text
from cataloop.domain.knowledge.learning import LearningView, directive_terms
from cataloop.domain.knowledge.tree import Learning, LearningStatus

DEFAULT_PROMPT_BUDGET_TOKENS = 400
CHARS_PER_TOKEN = 4
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
