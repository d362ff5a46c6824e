"""Learnings as the learnings index sees them: the search document of a stored learning, scope keys, and
the hard filter of a similarity query (the same filter for the embedded engine and OpenSearch).

Scope matching: a learning stores the `path_key` of the root and of every prefix of its scope, plus its
exact key marked with EXACT_SCOPE_MARK. "Within a scope" (the audit console: this category and below) is
one term, the scope's key; "applies at a scope" (the memory manager, prompts: this category and its
ancestors) is any of the marked keys of the scope's prefixes. Both are keyword filters in both engines.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cataloop.domain.knowledge.learning import LearningDraft, directive_terms
from cataloop.domain.knowledge.tree import Learning, LearningStatus, path_key
from cataloop.domain.search.documents import MAX_EMBEDDING_TEXT_CHARS, LearningDocument

EXACT_SCOPE_MARK = "="
LIVE_STATUSES: tuple[str, ...] = (LearningStatus.PROPOSED.value, LearningStatus.ACTIVE.value)

ScopeReach = Literal["applies", "within", "anywhere"]


def scope_prefixes(scope_path: Sequence[str]) -> list[str]:
    """Keys of the root and every prefix of `scope_path`, then the exact key marked with '='."""
    keys = [path_key(scope_path[:depth]) for depth in range(len(scope_path) + 1)]
    return [*keys, EXACT_SCOPE_MARK + keys[-1]]


def embedding_text(learning: Learning | LearningDraft) -> str:
    """The text a learning (stored, or a draft compared with the stored ones) is embedded as: the prose, the
    scope, the attributes and the terms the directive is about, so a query naming the category or the values
    finds it."""
    return " | ".join(
        part
        for part in (
            learning.text,
            " > ".join(learning.scope_path),
            ", ".join(learning.attributes),
            ", ".join(directive_terms(learning.directive)),
        )
        if part
    )


def learning_document(learning: Learning) -> LearningDocument:
    """The search document of a stored learning (its embedding text: `embedding_text`)."""
    return LearningDocument(
        id=learning.id,
        version=learning.version,
        text=learning.text,
        kind=learning.kind,
        scope_path=list(learning.scope_path),
        scope_prefixes=scope_prefixes(learning.scope_path),
        attributes=list(learning.attributes),
        status=learning.status.value,
        votes=learning.votes,
        embedding_text=embedding_text(learning)[:MAX_EMBEDDING_TEXT_CHARS],
    )


class LearningFilter(BaseModel):
    """Hard filters of a learnings query: any of `scope_terms` among a learning's scope prefixes (empty:
    every scope) and a status among `statuses` (empty: every status)."""

    model_config = ConfigDict(frozen=True)

    scope_terms: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()

    @classmethod
    def for_scope(
        cls, scope: Sequence[str] | None, reach: ScopeReach = "applies", *, live_only: bool = True
    ) -> LearningFilter:
        """The filter for learnings that apply at `scope` (it or an ancestor), lie `within` it (it or a
        descendant), or `anywhere`; retired learnings only when `live_only` is False."""
        terms: tuple[str, ...] = ()
        if scope is not None and reach != "anywhere":
            path = list(scope)
            if reach == "within":
                terms = (path_key(path),)
            else:
                terms = tuple(EXACT_SCOPE_MARK + path_key(path[:depth]) for depth in range(len(path) + 1))
        return cls(scope_terms=terms, statuses=LIVE_STATUSES if live_only else ())

    def accepts(self, source: dict[str, Any]) -> bool:
        """True when a stored learning source passes the filter (the embedded engine's evaluation)."""
        if self.statuses and source.get("status") not in self.statuses:
            return False
        return not self.scope_terms or bool(set(self.scope_terms) & set(source.get("scope_prefixes", ())))

    def opensearch_clauses(self) -> list[dict[str, Any]]:
        """The same filter as OpenSearch `filter` clauses."""
        clauses: list[dict[str, Any]] = []
        if self.scope_terms:
            clauses.append({"terms": {"scope_prefixes": list(self.scope_terms)}})
        if self.statuses:
            clauses.append({"terms": {"status": list(self.statuses)}})
        return clauses


class SimilarLearning(BaseModel):
    """A learning found by meaning, with its cosine score in OpenSearch's scale, (1 + cos) / 2."""

    model_config = ConfigDict(frozen=True)

    id: str
    score: float
    text: str
    kind: str
    scope_path: list[str] = Field(default_factory=list)
    attributes: list[str] = Field(default_factory=list)
    status: str
    votes: int = 0
