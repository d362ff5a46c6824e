"""The OpenSearch learnings index: its own alias and mapping (`learnings_index_mapping`), bulk writes with
external versions, and filtered k-NN for "learnings similar to this text".

Index lifecycle (generations, alias swap) is the product index's, reused through `OpenSearchIndex`;
only the document type and the query differ.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from cataloop.adapters.opensearch_index import OpenSearchIndex, bulk_outcome
from cataloop.adapters.opensearch_mapping import VECTOR_FIELD
from cataloop.adapters.opensearch_queries import SOURCE_EXCLUDES
from cataloop.domain.knowledge.learning_search import LearningFilter
from cataloop.domain.search.documents import BulkOutcome, LearningDocument
from cataloop.domain.search.plan import SearchHit
from cataloop.errors import InvalidInput

if TYPE_CHECKING:
    from opensearchpy import OpenSearch

    from cataloop.ports import Embedder


def similar_learnings_body(
    query_vector: Sequence[float], learning_filter: LearningFilter, k: int
) -> dict[str, Any]:
    """The `_search` body: k-NN with the filter applied inside the graph search (efficient filtering), so
    `k` results come back even when the filter is selective."""
    if k < 1:
        raise InvalidInput(f"k must be at least 1; got {k}")
    knn: dict[str, Any] = {"vector": list(query_vector), "k": k}
    clauses = learning_filter.opensearch_clauses()
    if clauses:
        knn["filter"] = {"bool": {"filter": clauses}}
    return {"size": k, "_source": {"excludes": SOURCE_EXCLUDES}, "query": {"knn": {VECTOR_FIELD: knn}}}


class OpenSearchLearningIndex:
    """Learnings behind their own alias (default `learnings`); the API of `EmbeddedLearningIndex`."""

    def __init__(
        self,
        client: OpenSearch,
        alias: str,
        *,
        mapping: Mapping[str, Any],
        embedder: Embedder | None = None,
        refresh: bool = False,
    ) -> None:
        self._client = client
        self._indices = OpenSearchIndex(client, alias, mapping=mapping, embedder=None, refresh=refresh)
        self.alias = alias
        self._embedder = embedder
        self._refresh = refresh

    @property
    def mapping(self) -> Mapping[str, Any]:
        """The body each new generation is created with."""
        return self._indices.mapping

    def existing_indices(self) -> list[str]:
        return self._indices.existing_indices()

    def alias_targets(self) -> list[str]:
        return self._indices.alias_targets()

    def create_index(self) -> str:
        return self._indices.create_index()

    def swap_alias(self, new_index: str) -> None:
        self._indices.swap_alias(new_index)

    def ensure_index(self) -> str:
        return self._indices.ensure_index()

    def bulk_upsert(
        self,
        documents: Sequence[LearningDocument],
        vectors: Sequence[Sequence[float]] | None = None,
        *,
        index: str | None = None,
    ) -> BulkOutcome:
        """Index learnings with external versions (the item version); older ones come back stale."""
        if not documents:
            return BulkOutcome()
        if vectors is None:
            if self._embedder is None:
                raise InvalidInput(
                    "no vectors given and no embedder configured; pass vectors= or an embedder"
                )
            vectors = self._embedder.embed([d.embedding_text or d.text for d in documents], "passage")
        if len(vectors) != len(documents):
            raise InvalidInput(f"got {len(vectors)} vectors for {len(documents)} documents; give one each")
        target = index or self.alias
        lines: list[dict[str, Any]] = []
        for document, vector in zip(documents, vectors, strict=True):
            action = {
                "_index": target,
                "_id": document.id,
                "version": document.version,
                "version_type": "external",
            }
            lines.append({"index": action})
            lines.append({**document.source(), VECTOR_FIELD: list(vector)})
        return self._send(lines)

    def bulk_delete(self, items: Sequence[tuple[str, int]], *, index: str | None = None) -> BulkOutcome:
        """Delete (id, version) pairs with external versions."""
        return self._indices.bulk_delete(items, index=index)

    def _send(self, lines: list[dict[str, Any]]) -> BulkOutcome:
        params = {"refresh": "true"} if self._refresh else None
        return bulk_outcome(self._client.bulk(body=lines, params=params))

    def similar(
        self, query_vector: Sequence[float], learning_filter: LearningFilter, k: int = 10
    ) -> list[SearchHit]:
        """The `k` learnings nearest to `query_vector` that pass the filter, best first."""
        body = similar_learnings_body(query_vector, learning_filter, k)
        response = self._client.search(index=self.alias, body=body)
        return [
            SearchHit(id=hit["_id"], score=float(hit.get("_score") or 0.0), source=hit.get("_source", {}))
            for hit in response.get("hits", {}).get("hits", [])
        ]
