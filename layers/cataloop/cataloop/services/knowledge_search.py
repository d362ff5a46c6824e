"""Semantic retrieval over the learnings index: "which learnings say something like this?".

Used by the memory manager (is a new learning a near-duplicate of one that already applies here?) and the
audit console (find learnings about a topic within a category). The index holds retired learnings too;
they are returned only when asked for.
"""

from __future__ import annotations

from collections.abc import Sequence

from cataloop.domain.knowledge.learning_search import LearningFilter, ScopeReach, SimilarLearning
from cataloop.errors import InvalidInput
from cataloop.ports import Embedder, LearningIndex

MAX_LIMIT = 100
MAX_QUERY_CHARS = 1000


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
