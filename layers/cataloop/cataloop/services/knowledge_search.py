"""Semantic retrieval over the learnings index: "which learnings say something like this?".

Used by the memory manager (is a new learning a near-duplicate of one that already lives at its scope?
`near_duplicates`, `near_duplicate_finder`) and the audit console (find learnings about a topic within a
category). The index holds retired learnings too; they are returned only when asked for.

The index is fed from the Knowledge table's stream, so it lags the store by a moment: a near-duplicate
list is a hint for `placement.decide_placement`, which merges only into a learning it reads live at the
draft's node and whose directive merges with the draft's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from cataloop.domain.knowledge.learning import LearningDraft
from cataloop.domain.knowledge.learning_search import (
    EXACT_SCOPE_MARK,
    LIVE_STATUSES,
    LearningFilter,
    ScopeReach,
    SimilarLearning,
    embedding_text,
)
from cataloop.domain.knowledge.tree import path_key
from cataloop.domain.search.documents import MAX_EMBEDDING_TEXT_CHARS
from cataloop.errors import InvalidInput
from cataloop.ports import Embedder, LearningIndex

MAX_LIMIT = 100
MAX_QUERY_CHARS = 1000
# Near-duplicates: at most this many, scoring at least this on the (1 + cos) / 2 scale (cos >= 0.88). Set on
# multilingual-e5-small, whose cosines are compressed (a Brand lexicon sharing a value with the draft scored
# 0.955, one sharing none 0.929, a unit pattern in the same category 0.909). The score only picks which
# mergeable learning a draft joins (`placement`), so a loose match costs little.
NEAR_DUPLICATE_MIN_SCORE = 0.94
NEAR_DUPLICATE_LIMIT = 5


def draft_embedding_text(draft: LearningDraft) -> str:
    """The text a draft is compared with: embedded as a stored learning is (`learning_search.embedding_text`)."""
    return embedding_text(draft)[: min(MAX_EMBEDDING_TEXT_CHARS, MAX_QUERY_CHARS)]


class KnowledgeSearch:
    """Similarity search over learnings: embeds the text as a query and asks the index for neighbours."""

    def __init__(self, index: LearningIndex, embedder: Embedder) -> None:
        self._index = index
        self._embedder = embedder

    def similar_learnings(
        self,
        text: str,
        scope: Sequence[str] | None = None,
        *,
        reach: ScopeReach = "applies",
        limit: int = 5,
        min_score: float = 0.0,
        include_retired: bool = False,
    ) -> list[SimilarLearning]:
        """Learnings nearest in meaning to `text`, best first: those that apply at `scope` (it or an
        ancestor; `reach="within"`: it or a descendant; `"anywhere"` or scope None: all), live ones only
        unless `include_retired`, scoring at least `min_score` on the (1 + cos) / 2 scale."""
        query = " ".join(text.split())
        if not query:
            raise InvalidInput("text is empty; give the learning or topic to look for")
        if len(query) > MAX_QUERY_CHARS:
            raise InvalidInput(f"text has {len(query)} characters; shorten it to at most {MAX_QUERY_CHARS}")
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}; got {limit}")
        learning_filter = LearningFilter.for_scope(scope, reach, live_only=not include_retired)
        vector = self._embedder.embed([query], "query")[0]
        hits = self._index.similar(vector, learning_filter, limit)
        return [
            SimilarLearning.model_validate({**hit.source, "id": hit.id, "score": hit.score})
            for hit in hits
            if hit.score >= min_score
        ]

    def near_duplicates(
        self,
        draft: LearningDraft,
        *,
        min_score: float = NEAR_DUPLICATE_MIN_SCORE,
        limit: int = NEAR_DUPLICATE_LIMIT,
    ) -> list[str]:
        """Ids of live learnings at exactly the draft's scope that the index finds semantically close to the
        draft (score >= `min_score`), best first, at most `limit`."""
        return near_duplicates(self._index, self._embedder, draft, min_score=min_score, limit=limit)


def near_duplicates(
    index: LearningIndex,
    embedder: Embedder,
    draft: LearningDraft,
    *,
    min_score: float = NEAR_DUPLICATE_MIN_SCORE,
    limit: int = NEAR_DUPLICATE_LIMIT,
) -> list[str]:
    """Ids of live (proposed or active) learnings whose scope is exactly the draft's and whose embedding
    scores at least `min_score` against the draft's (`draft_embedding_text`), best first, at most `limit`."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}; got {limit}")
    exact_scope = LearningFilter(
        scope_terms=(EXACT_SCOPE_MARK + path_key(draft.scope_path),), statuses=LIVE_STATUSES
    )
    vector = embedder.embed([draft_embedding_text(draft)], "query")[0]
    return [hit.id for hit in index.similar(vector, exact_scope, limit) if hit.score >= min_score]


def near_duplicate_finder(
    search: KnowledgeSearch | Callable[[], KnowledgeSearch],
    *,
    min_score: float = NEAR_DUPLICATE_MIN_SCORE,
    limit: int = NEAR_DUPLICATE_LIMIT,
) -> Callable[[LearningDraft], list[str]]:
    """The `similar` argument of `knowledge_base.place_learning`: draft -> near-duplicate ids. Give a
    KnowledgeSearch, or a function that builds one: it is then built on the first call (a handler that
    never places pays nothing) and built again on the next call if building failed."""
    built: list[KnowledgeSearch] = []
    lock = threading.Lock()

    def find(draft: LearningDraft) -> list[str]:
        with lock:
            if not built:
                built.append(search if isinstance(search, KnowledgeSearch) else search())
            current = built[0]
        return current.near_duplicates(draft, min_score=min_score, limit=limit)

    return find
