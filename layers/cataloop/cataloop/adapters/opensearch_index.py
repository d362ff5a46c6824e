"""The OpenSearch product index adapter: versioned indices behind an alias, bulk writes with external
versions, `SearchPlan` execution through the hybrid-search pipeline, and a SigV4-signed client
(`make_opensearch_client`).

Index bodies come from `opensearch_mapping.py` and request bodies from `opensearch_queries.py`. The embedded
engine (`embedded_search.py`) mirrors these semantics; both rank hybrid results with the functions in
`cataloop.domain.search.plan`, which the pipeline body configures OpenSearch to apply.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from cataloop.adapters.opensearch_mapping import VECTOR_FIELD, KnnEngine
from cataloop.adapters.opensearch_queries import (
    best_vector_score_body,
    has_vector_floor,
    pipeline_name,
    plan_vector_score,
    search_body,
    search_pipeline_body,
)
from cataloop.adapters.opensearch_vocabulary import VOCABULARY_TTL_SECONDS, OpenSearchVocabulary
from cataloop.domain.search.documents import (
    BulkFailure,
    BulkOutcome,
    ProductDocument,
    index_generation,
    index_name,
)
from cataloop.domain.search.plan import (
    RRF_RANK_CONSTANT,
    Combination,
    Normalization,
    SearchHit,
    SearchPage,
    SearchPlan,
    vector_floor,
)
from cataloop.errors import InvalidInput

if TYPE_CHECKING:
    from opensearchpy import OpenSearch

    from cataloop.ports import Embedder

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


# --- the index ----------------------------------------------------------------------------------------


class OpenSearchIndex:
    """A product index behind an alias. Writes and searches go to the alias unless an index is named
    (a reindex fills a new generation, then `swap_alias` moves every reader at once)."""

    def __init__(
        self,
        client: OpenSearch,
        alias: str,
        *,
        mapping: Mapping[str, Any],
        embedder: Embedder | None = None,
        refresh: bool = False,
        vocabulary_ttl_seconds: float = VOCABULARY_TTL_SECONDS,
    ) -> None:
        self._client = client
        self.alias = alias
        self._mapping = mapping
        self._embedder = embedder
        self._refresh = refresh
        self._pipelines: set[str] = set()
        self.vocabulary_store = OpenSearchVocabulary(client, alias, ttl_seconds=vocabulary_ttl_seconds)
        self._in_catalog_cache: dict[str, bool] = {}
        self._in_catalog_vocabulary: object = None

    @property
    def client(self) -> OpenSearch:
        return self._client

    @property
    def mapping(self) -> Mapping[str, Any]:
        """The body each new generation is created with."""
        return self._mapping

    @property
    def knn_engine(self) -> KnnEngine:
        """The k-NN engine of the mapping's vector field (it sets the k-NN score scale)."""
        vector = self._mapping.get("mappings", {}).get("properties", {}).get(VECTOR_FIELD, {})
        engine = vector.get("method", {}).get("engine", "lucene")
        return "faiss" if engine == "faiss" else "lucene"

    # index lifecycle

    def existing_indices(self) -> list[str]:
        """Physical generations of this alias, oldest first."""
        found = self._client.indices.get(index=f"{self.alias}-v*", params={"allow_no_indices": "true"})
        return sorted(name for name in found if index_generation(self.alias, name) is not None)

    def create_index(self) -> str:
        """Create the next generation (`<alias>-v0001`, `-v0002`, ...) with the mapping; return its name."""
        generations = [index_generation(self.alias, name) or 0 for name in self.existing_indices()]
        name = index_name(self.alias, max(generations, default=0) + 1)
        self._client.indices.create(index=name, body=copy.deepcopy(dict(self._mapping)))
        return name

    def alias_targets(self) -> list[str]:
        """The indices the alias points at now (empty before the first swap)."""
        from opensearchpy.exceptions import NotFoundError

        try:
            found = self._client.indices.get_alias(name=self.alias)
        except NotFoundError:
            return []
        return sorted(found)

    def swap_alias(self, new_index: str) -> dict[str, Any]:
        """Point the alias at `new_index` only, in one atomic `_aliases` call; returns the request body."""
        actions: list[dict[str, Any]] = [
            {"remove": {"index": old, "alias": self.alias}}
            for old in self.alias_targets()
            if old != new_index
        ]
        actions.append({"add": {"index": new_index, "alias": self.alias, "is_write_index": True}})
        body = {"actions": actions}
        self._client.indices.update_aliases(body=body)
        return body

    def ensure_index(self) -> str:
        """Create the first generation and point the alias at it, unless the alias already exists."""
        targets = self.alias_targets()
        if targets:
            return targets[-1]
        name = self.create_index()
        self.swap_alias(name)
        return name

    # writes

    def bulk_upsert(
        self,
        documents: Sequence[ProductDocument],
        vectors: Sequence[Sequence[float]] | None = None,
        *,
        index: str | None = None,
    ) -> BulkOutcome:
        """Index documents with external versions (the item version). A document whose version is not
        newer than the indexed one comes back as stale, not failed. Vectors default to the embedder's."""
        if not documents:
            return BulkOutcome()
        vectors = self._vectors_for(documents, vectors)
        target = index or self.alias
        lines: list[dict[str, Any]] = []
        for document, vector in zip(documents, vectors, strict=True):
            lines.append(
                {
                    "index": {
                        "_index": target,
                        "_id": document.id,
                        "version": document.version,
                        "version_type": "external",
                    }
                }
            )
            lines.append({**document.source(), VECTOR_FIELD: list(vector)})
        return self._send_bulk(lines)

    def delete(self, doc_id: str, version: int, *, index: str | None = None) -> BulkOutcome:
        """Remove a document as of `version`, which must be newer than the indexed version (for a DynamoDB
        REMOVE pass the old image's version + 1). Deleting an absent document counts as deleted."""
        return self.bulk_delete([(doc_id, version)], index=index)

    def bulk_delete(self, items: Sequence[tuple[str, int]], *, index: str | None = None) -> BulkOutcome:
        """`delete` for many (id, version) pairs in one request."""
        if not items:
            return BulkOutcome()
        target = index or self.alias
        lines = [
            {"delete": {"_index": target, "_id": doc_id, "version": version, "version_type": "external"}}
            for doc_id, version in items
        ]
        return self._send_bulk(lines)

    def _vectors_for(
        self, documents: Sequence[ProductDocument], vectors: Sequence[Sequence[float]] | None
    ) -> Sequence[Sequence[float]]:
        if vectors is not None:
            if len(vectors) != len(documents):
                raise InvalidInput(
                    f"got {len(vectors)} vectors for {len(documents)} documents; give one each"
                )
            return vectors
        if self._embedder is None:
            raise InvalidInput("no vectors given and no embedder configured; pass vectors= or an embedder")
        return self._embedder.embed([document.embedding_text for document in documents], "passage")

    def _send_bulk(self, lines: list[dict[str, Any]]) -> BulkOutcome:
        params = {"refresh": "true"} if self._refresh else None
        response = self._client.bulk(body=lines, params=params)
        return bulk_outcome(response)

    # catalog vocabulary (see `opensearch_vocabulary.py`)

    def vocabulary(self) -> Mapping[str, int]:
        """The catalog terms stored by the last reindex and the indexer since (read through a TTL cache);
        empty before the first reindex, and search then skips variant resolution."""
        return MappingProxyType(self.vocabulary_store.load())

    def in_catalog(self, text: str) -> bool:
        """True when every term of `text`, analysed as the index analyses names (or else as English), is
        in the catalog vocabulary: the check a keyboard-layout variant must pass before the planner uses it.
        A text whose words are vocabulary terms as typed needs no `_analyze` call; answers are cached."""
        vocabulary = self.vocabulary_store.load()
        if not vocabulary or not text.strip():
            return False
        words = text.lower().split()
        if all(word in vocabulary for word in words):
            return True
        if vocabulary is not self._in_catalog_vocabulary:  # a newer vocabulary was loaded
            self._in_catalog_cache.clear()
            self._in_catalog_vocabulary = vocabulary
        if text not in self._in_catalog_cache:
            if len(self._in_catalog_cache) >= 4096:
                self._in_catalog_cache.clear()
            korean, english = self.vocabulary_store.analyse_text(self.alias, text)
            self._in_catalog_cache[text] = any(
                terms and all(term in vocabulary for term in terms) for terms in (korean, english)
            )
        return self._in_catalog_cache[text]

    def catalog_terms(
        self, documents: Sequence[ProductDocument], *, index: str | None = None
    ) -> dict[str, int]:
        """Vocabulary term counts of `documents`, analysed by `index` (default the alias)."""
        return self.vocabulary_store.terms(documents, index or self.alias)

    def replace_vocabulary(self, terms: Mapping[str, int], *, generation: str) -> None:
        """Store `terms` as the whole catalog vocabulary (after a reindex into `generation`)."""
        self.vocabulary_store.replace(terms, generation=generation)
        self._in_catalog_cache.clear()

    def extend_vocabulary(self, terms: Mapping[str, int]) -> None:
        """Add new terms to the stored vocabulary (the stream indexer)."""
        if self.vocabulary_store.extend(terms) is not None:
            self._in_catalog_cache.clear()

    # search pipeline and search

    def ensure_search_pipeline(
        self,
        name: str,
        normalization: Normalization,
        combination: Combination,
        weights: Sequence[float],
        rank_constant: int = RRF_RANK_CONSTANT,
    ) -> dict[str, Any]:
        """Create or replace the named hybrid pipeline (PUT is idempotent); returns the body sent."""
        body = search_pipeline_body(normalization, combination, weights, rank_constant)
        self._client.search_pipeline.put(id=name, body=body)
        self._pipelines.add(name)
        return body

    def search(self, plan: SearchPlan, query_vector: Sequence[float] | None = None) -> SearchPage:
        """Run a plan against the alias. Hybrid plans use (and on first use create) their pipeline."""
        params: dict[str, Any] | None = None
        if plan.mode == "hybrid":
            if query_vector is None and self._embedder is not None:
                query_vector = self._embedder.embed([plan.query], "query")[0]
            name = pipeline_name(plan)
            if name not in self._pipelines:
                self.ensure_search_pipeline(
                    name, plan.normalization, plan.combination, plan.sub_query_weights(), plan.rank_constant
                )
            params = {"search_pipeline": name}
        floor = self._vector_floor(plan, query_vector)
        body = search_body(plan, query_vector, vector_floor=floor, knn_engine=self.knn_engine)
        response = self._client.search(index=self.alias, body=body, params=params)
        hits = response.get("hits", {})
        total = hits.get("total", 0)
        return SearchPage(
            hits=[
                SearchHit(id=hit["_id"], score=float(hit.get("_score") or 0.0), source=hit.get("_source", {}))
                for hit in hits.get("hits", [])
            ],
            total=total["value"] if isinstance(total, dict) else int(total),
        )

    def _vector_floor(self, plan: SearchPlan, query_vector: Sequence[float] | None) -> float | None:
        """The plan's k-NN similarity floor on the plan's scale, None for the plain top-k k-NN sub-query. A
        floor relative to the best k-NN score first asks for that score (a k-NN-only request); when no
        product has a vector under the filters it finds nothing, and the plain query is the same."""
        if not has_vector_floor(plan):
            return None
        best: float | None = None
        if plan.vector_score_margin is not None:
            response = self._client.search(index=self.alias, body=best_vector_score_body(plan, query_vector))
            top = response.get("hits", {}).get("hits", [])
            if top and top[0].get("_score") is not None:
                best = plan_vector_score(float(top[0]["_score"]), self.knn_engine)
            elif plan.min_vector_score is None:
                return None
        return vector_floor(best, plan.min_vector_score, plan.vector_score_margin)


def bulk_outcome(response: Mapping[str, Any]) -> BulkOutcome:
    """Classify a `_bulk` response: applied, stale (409 version conflict) or failed (retryable or not)."""
    outcome = BulkOutcome()
    for item in response.get("items", []):
        (action, result), *_ = item.items()
        doc_id = str(result.get("_id", ""))
        status = int(result.get("status", 0))
        if 200 <= status < 300 or (action == "delete" and status == 404):
            if action == "delete":
                outcome.deleted += 1
            else:
                outcome.indexed += 1
        elif status == 409:
            outcome.stale_skipped.append(doc_id)
        else:
            error = result.get("error", {})
            reason = error.get("reason", str(error)) if isinstance(error, dict) else str(error)
            outcome.failed.append(
                BulkFailure(id=doc_id, status=status, reason=reason, retryable=status in RETRYABLE_STATUSES)
            )
    return outcome


# --- client -------------------------------------------------------------------------------------------


def signed_headers_only(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers worth signing: `host` and `x-amz-*`. Signing hop-by-hop headers (Connection,
    Content-Length, Accept-Encoding) breaks when a proxy rewrites them, which is what made opensearch-py
    3.2.0's signer fail against OpenSearch Serverless (opensearch-py issue #1047)."""
    return {
        key: value
        for key, value in headers.items()
        if key.lower() == "host" or key.lower().startswith("x-amz-")
    }


def payload_sha256(body: bytes | str | None) -> str:
    """Hex SHA-256 of the request body (of b"" when there is none), for X-Amz-Content-SHA256."""
    if body is None:
        data = b""
    elif isinstance(body, str):
        data = body.encode("utf-8")
    else:
        data = bytes(body)
    return hashlib.sha256(data).hexdigest()


def _signer_auth_class() -> type:
    from opensearchpy import RequestsAWSV4SignerAuth

    class BodyHashSigV4Auth(RequestsAWSV4SignerAuth):
        """SigV4 for `requests` that signs only host and x-amz-* headers and always sends the payload hash
        (required by `aoss`, accepted by `es`)."""

        def _sign_request(self, prepared_request: Any) -> Any:
            headers = signed_headers_only(prepared_request.headers)
            headers["X-Amz-Content-SHA256"] = payload_sha256(prepared_request.body)
            signed = self.signer.sign(
                method=prepared_request.method,
                url=prepared_request.url,
                body=prepared_request.body,
                headers=headers,
            )
            prepared_request.headers.update(signed)
            return prepared_request

    return BodyHashSigV4Auth


def sigv4_auth(credentials: Any, region: str, service: Literal["es", "aoss"] = "es") -> Any:
    """A `requests` auth object that SigV4-signs OpenSearch requests for `es` (domains) or `aoss`."""
    return _signer_auth_class()(credentials, region, service)


def make_opensearch_client(
    host: str,
    region: str,
    service: Literal["es", "aoss"] = "es",
    *,
    credentials: Any = None,
    timeout: float = 10.0,
    pool_maxsize: int = 10,
) -> OpenSearch:
    """An OpenSearch client for `host` (a bare host name or an https URL) signed with SigV4. Credentials
    default to the boto3 chain (the Lambda role)."""
    from opensearchpy import OpenSearch, RequestsHttpConnection

    if service not in ("es", "aoss"):
        raise InvalidInput(f"service must be 'es' (managed domain) or 'aoss' (serverless), not {service!r}")
    hostname = re.sub(r"^https?://", "", host).rstrip("/")
    if not hostname:
        raise InvalidInput("OpenSearch host is empty; set it to the domain or collection endpoint")
    if credentials is None:
        import boto3

        credentials = boto3.Session().get_credentials()
        if credentials is None:
            raise InvalidInput("no AWS credentials found for SigV4; run with a role or set AWS credentials")
    return OpenSearch(
        hosts=[{"host": hostname, "port": 443}],
        http_auth=sigv4_auth(credentials, region, service),
        use_ssl=True,
        verify_certs=True,
        connection_class=RequestsHttpConnection,
        timeout=timeout,
        pool_maxsize=pool_maxsize,
        http_compress=False,
    )
