"""OpenSearch product index: mapping, versioned indices behind an alias, bulk writes with external
versions, the hybrid-search pipeline, and `SearchPlan` execution.

The local engine (`local_search.py`) mirrors these semantics; both rank hybrid results with the functions
in `cataloop.domain.search.plan`, which this module's pipeline body configures OpenSearch to apply.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from cataloop.adapters.korean_analyzer import INDEX_ANALYZER, SEARCH_ANALYZER
from cataloop.domain.search.documents import (
    CATEGORY_SEPARATOR,
    PREFIX_GRAM_MAX,
    PREFIX_GRAM_MIN,
    BulkFailure,
    BulkOutcome,
    ProductDocument,
    attribute_field,
    index_generation,
    index_name,
)
from cataloop.domain.search.plan import (
    RRF_RANK_CONSTANT,
    Combination,
    LexicalClause,
    Normalization,
    SearchField,
    SearchFilters,
    SearchHit,
    SearchPage,
    SearchPlan,
    SortKey,
)
from cataloop.errors import InvalidInput

if TYPE_CHECKING:
    from opensearchpy import OpenSearch

    from cataloop.ports import Embedder

KnnEngine = Literal["lucene", "faiss"]

VECTOR_FIELD = "embedding"
# Not returned with hits: the vector is large and the embedding text is only an indexing input.
SOURCE_EXCLUDES = [VECTOR_FIELD, "embedding_text"]

PREFIX_INDEX_ANALYZER = "prefix_index"
PREFIX_SEARCH_ANALYZER = "prefix_search"
KEYWORD_NORMALIZER = "lowercase_keyword"

# Logical plan fields to OpenSearch fields.
FIELD_PATHS: dict[SearchField, str] = {
    "name": "name",
    "name.en": "name.en",
    "description": "description",
    "description.en": "description.en",
    "english": "english",
    "keywords": "keywords",
    "brand": "brand",
    "category": "category_path.text",
    "child_names": "child_names",
    "attributes": "attributes_text",
    "name_chosung": "name_chosung",
    "name_qwerty": "name_qwerty",
}

SORT_CLAUSES: dict[SortKey, list[Any]] = {
    "relevance": [],
    "price_asc": [{"price": {"order": "asc", "missing": "_last"}}, {"_score": {"order": "desc"}}],
    "price_desc": [{"price": {"order": "desc", "missing": "_last"}}, {"_score": {"order": "desc"}}],
    "rating": [{"rating": {"order": "desc", "missing": "_last"}}, {"_score": {"order": "desc"}}],
    "review_count": [{"review_count": {"order": "desc"}}, {"_score": {"order": "desc"}}],
    "purchase_count": [{"purchase_count": {"order": "desc"}}, {"_score": {"order": "desc"}}],
}

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


# --- mapping ------------------------------------------------------------------------------------------


def _analyzer_names(analysis: Mapping[str, Any], index_analyzer: str, search_analyzer: str) -> None:
    defined = set(analysis.get("analyzer", {}))
    missing = [name for name in (index_analyzer, search_analyzer) if name not in defined]
    if missing:
        raise InvalidInput(
            f"analysis settings define analyzers {sorted(defined)} but not {missing}; pass the names of the "
            "nori index and search analyzers from nori_index_settings()"
        )


def _prefix_analysis() -> dict[str, Any]:
    return {
        "filter": {
            "prefix_edge_ngram": {
                "type": "edge_ngram",
                "min_gram": PREFIX_GRAM_MIN,
                "max_gram": PREFIX_GRAM_MAX,
            }
        },
        "analyzer": {
            PREFIX_INDEX_ANALYZER: {
                "type": "custom",
                "tokenizer": "whitespace",
                "filter": ["lowercase", "prefix_edge_ngram"],
            },
            PREFIX_SEARCH_ANALYZER: {"type": "custom", "tokenizer": "whitespace", "filter": ["lowercase"]},
        },
        "normalizer": {KEYWORD_NORMALIZER: {"type": "custom", "filter": ["lowercase"]}},
    }


def merge_analysis(korean: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Merge two `settings.analysis` blocks section by section; a name defined in both is an error."""
    merged: dict[str, Any] = copy.deepcopy(dict(korean))
    for section, entries in extra.items():
        target = merged.setdefault(section, {})
        clash = set(target) & set(entries)
        if clash:
            raise InvalidInput(f"analysis {section} names {sorted(clash)} are defined twice; rename one")
        target.update(copy.deepcopy(entries))
    return merged


def index_mapping(
    dimension: int,
    analysis_settings: Mapping[str, Any],
    *,
    index_analyzer: str = INDEX_ANALYZER,
    search_analyzer: str = SEARCH_ANALYZER,
    engine: KnnEngine = "lucene",
    shards: int | None = 1,
    replicas: int | None = None,
) -> dict[str, Any]:
    """The products index body (settings + mappings). `analysis_settings` is the `settings.analysis` block
    from `nori_index_settings`; its two named analyzers are used for all Korean text fields."""
    if not 1 <= dimension <= 16_000:
        raise InvalidInput(f"vector dimension {dimension} is out of range 1..16000; use the embedder's")
    analysis = dict(analysis_settings.get("analysis", analysis_settings))
    _analyzer_names(analysis, index_analyzer, search_analyzer)

    def korean_text(**extra: Any) -> dict[str, Any]:
        return {"type": "text", "analyzer": index_analyzer, "search_analyzer": search_analyzer, **extra}

    def prefix_text() -> dict[str, Any]:
        return {"type": "text", "analyzer": PREFIX_INDEX_ANALYZER, "search_analyzer": PREFIX_SEARCH_ANALYZER}

    english_sub = {"en": {"type": "text", "analyzer": "english"}}
    index_settings: dict[str, Any] = {"knn": True}
    if shards is not None:
        index_settings["number_of_shards"] = shards
    if replicas is not None:
        index_settings["number_of_replicas"] = replicas
    return {
        "settings": {"index": index_settings, "analysis": merge_analysis(analysis, _prefix_analysis())},
        "mappings": {
            "dynamic": "true",
            "dynamic_templates": [
                {
                    "enriched_attributes": {
                        "match": "attr_*",
                        "match_mapping_type": "string",
                        "mapping": {
                            "type": "keyword",
                            "normalizer": KEYWORD_NORMALIZER,
                            "ignore_above": 256,
                            "copy_to": "attributes_text",
                        },
                    }
                },
                # Any other string a future document adds is kept in _source but not indexed, so a typo
                # in a field name cannot create an analysed mapping we would then have to live with.
                {
                    "unmapped_strings": {
                        "match_mapping_type": "string",
                        "mapping": {"type": "keyword", "index": False, "doc_values": False},
                    }
                },
            ],
            "properties": {
                "id": {"type": "keyword"},
                "name": korean_text(
                    fields={**english_sub, "raw": {"type": "keyword", "normalizer": KEYWORD_NORMALIZER}}
                ),
                "description": korean_text(fields=english_sub),
                "english": {"type": "text", "analyzer": "english"},
                "keywords": korean_text(
                    fields={"raw": {"type": "keyword", "normalizer": KEYWORD_NORMALIZER}}
                ),
                "name_chosung": prefix_text(),
                "name_qwerty": prefix_text(),
                "category_path": {"type": "keyword", "fields": {"text": korean_text()}},
                "category_prefixes": {"type": "keyword"},
                "is_food": {"type": "boolean"},
                "price": {"type": "double"},
                "rating": {"type": "float"},
                "review_count": {"type": "integer"},
                "purchase_count": {"type": "integer"},
                "parent_id": {"type": "keyword"},
                "child_ids": {"type": "keyword"},
                "child_names": korean_text(),
                "brand": korean_text(fields={"raw": {"type": "keyword", "normalizer": KEYWORD_NORMALIZER}}),
                "attributes_text": korean_text(),
                "embedding_text": {"type": "text", "index": False},
                VECTOR_FIELD: {
                    "type": "knn_vector",
                    "dimension": dimension,
                    "method": {
                        "name": "hnsw",
                        "engine": engine,
                        "space_type": "cosinesimil",
                        "parameters": {"m": 16, "ef_construction": 128},
                    },
                },
            },
        },
    }


def learnings_index_mapping(
    dimension: int,
    analysis_settings: Mapping[str, Any],
    *,
    index_analyzer: str = INDEX_ANALYZER,
    search_analyzer: str = SEARCH_ANALYZER,
    engine: KnnEngine = "lucene",
) -> dict[str, Any]:
    """The learnings index body: text (Korean and English), scope filters, status, votes and a vector."""
    analysis = dict(analysis_settings.get("analysis", analysis_settings))
    _analyzer_names(analysis, index_analyzer, search_analyzer)
    return {
        "settings": {"index": {"knn": True, "number_of_shards": 1}, "analysis": analysis},
        "mappings": {
            "dynamic": "strict",
            "properties": {
                "id": {"type": "keyword"},
                "text": {
                    "type": "text",
                    "analyzer": index_analyzer,
                    "search_analyzer": search_analyzer,
                    "fields": {"en": {"type": "text", "analyzer": "english"}},
                },
                "kind": {"type": "keyword"},
                "scope_path": {"type": "keyword"},
                "scope_prefixes": {"type": "keyword"},
                "attributes": {"type": "keyword"},
                "status": {"type": "keyword"},
                "votes": {"type": "integer"},
                "embedding_text": {"type": "text", "index": False},
                VECTOR_FIELD: {
                    "type": "knn_vector",
                    "dimension": dimension,
                    "method": {"name": "hnsw", "engine": engine, "space_type": "cosinesimil"},
                },
            },
        },
    }


# --- search pipeline ----------------------------------------------------------------------------------


def search_pipeline_body(
    normalization: Normalization,
    combination: Combination,
    weights: Sequence[float],
    rank_constant: int = RRF_RANK_CONSTANT,
) -> dict[str, Any]:
    """The pipeline that fuses hybrid sub-query scores exactly as `combine_sub_queries` does locally:
    `normalization-processor` for arithmetic_mean, `score-ranker-processor` for rrf."""
    total = sum(weights)
    if total <= 0 or any(weight < 0 for weight in weights):
        raise InvalidInput("pipeline weights must be non-negative and not all zero")
    # OpenSearch requires the weights to sum to 1.
    scaled = [round(weight / total, 6) for weight in weights]
    if combination == "rrf":
        processor: dict[str, Any] = {
            "score-ranker-processor": {
                "combination": {
                    "technique": "rrf",
                    "rank_constant": rank_constant,
                    "parameters": {"weights": scaled},
                }
            }
        }
    else:
        processor = {
            "normalization-processor": {
                "normalization": {"technique": normalization},
                "combination": {"technique": "arithmetic_mean", "parameters": {"weights": scaled}},
            }
        }
    return {"description": "Cataloop hybrid search score fusion", "phase_results_processors": [processor]}


def pipeline_name(plan: SearchPlan) -> str:
    """A stable pipeline name per fusion setting, so plans with equal settings share one pipeline."""
    lexical, vector = plan.sub_query_weights()
    fusion = f"rrf-k{plan.rank_constant}" if plan.combination == "rrf" else f"{plan.normalization}-mean"
    return f"cataloop-hybrid-{fusion}-l{round(lexical * 100)}-v{round(vector * 100)}"


# --- query building -----------------------------------------------------------------------------------


def clause_query(clause: LexicalClause) -> dict[str, Any]:
    """A lexical clause as a best_fields `multi_match`."""
    fields = [
        FIELD_PATHS[item.field] if item.boost == 1.0 else f"{FIELD_PATHS[item.field]}^{item.boost:g}"
        for item in clause.fields
    ]
    body: dict[str, Any] = {
        "query": clause.text,
        "fields": fields,
        "type": "best_fields",
        "operator": clause.operator,
    }
    if clause.boost != 1.0:
        body["boost"] = clause.boost
    return {"multi_match": body}


def filter_clauses(filters: SearchFilters) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(filter, must_not) clauses for the plan's hard filters."""
    include: list[dict[str, Any]] = []
    exclude: list[dict[str, Any]] = []
    if filters.category_prefix:
        include.append({"term": {"category_prefixes": CATEGORY_SEPARATOR.join(filters.category_prefix)}})
    if filters.brands:
        include.append({"terms": {"brand.raw": list(filters.brands)}})
    if filters.is_food is not None:
        include.append({"term": {"is_food": filters.is_food}})
    price: dict[str, float] = {}
    if filters.price_min is not None:
        price["gte"] = filters.price_min
    if filters.price_max is not None:
        price["lte"] = filters.price_max
    if price:
        include.append({"range": {"price": price}})
    if filters.min_rating is not None:
        include.append({"range": {"rating": {"gte": filters.min_rating}}})
    for name, values in sorted(filters.attributes.items()):
        include.append({"terms": {attribute_field(name): list(values)}})
    if filters.exclude_ids:
        exclude.append({"ids": {"values": list(filters.exclude_ids)}})
    if filters.top_level_only:
        exclude.append({"exists": {"field": "parent_id"}})
    return include, exclude


def lexical_query(plan: SearchPlan) -> dict[str, Any]:
    """The plan's lexical side: any clause may match (scores add up), under the hard filters."""
    include, exclude = filter_clauses(plan.filters)
    query: dict[str, Any] = {
        "should": [clause_query(clause) for clause in plan.clauses],
        "minimum_should_match": 1,
    }
    if include:
        query["filter"] = include
    if exclude:
        query["must_not"] = exclude
    return {"bool": query}


def vector_query(plan: SearchPlan, query_vector: Sequence[float]) -> dict[str, Any]:
    """k-NN over the product vectors with the hard filters applied inside the search (efficient filtering)."""
    knn: dict[str, Any] = {"vector": list(query_vector), "k": plan.candidate_depth}
    include, exclude = filter_clauses(plan.filters)
    if include or exclude:
        knn["filter"] = {"bool": {"filter": include, "must_not": exclude}}
    return {"knn": {VECTOR_FIELD: knn}}


def search_body(plan: SearchPlan, query_vector: Sequence[float] | None = None) -> dict[str, Any]:
    """The `_search` body for a plan: `bool` for keyword plans, `hybrid` (lexical + k-NN) for hybrid ones."""
    body: dict[str, Any] = {
        "size": plan.size,
        "from": plan.offset,
        "track_total_hits": True,
        "_source": {"excludes": SOURCE_EXCLUDES},
    }
    if plan.mode == "hybrid":
        if query_vector is None:
            raise InvalidInput(
                "a hybrid plan needs the query vector; embed the query or plan a keyword search"
            )
        body["query"] = {
            "hybrid": {
                "pagination_depth": plan.candidate_depth,
                "queries": [lexical_query(plan), vector_query(plan, query_vector)],
            }
        }
    else:
        body["query"] = lexical_query(plan)
    if SORT_CLAUSES[plan.sort]:
        body["sort"] = SORT_CLAUSES[plan.sort]
    return body


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
    ) -> None:
        self._client = client
        self.alias = alias
        self._mapping = mapping
        self._embedder = embedder
        self._refresh = refresh
        self._pipelines: set[str] = set()

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
        response = self._client.search(index=self.alias, body=search_body(plan, query_vector), params=params)
        hits = response.get("hits", {})
        total = hits.get("total", 0)
        return SearchPage(
            hits=[
                SearchHit(id=hit["_id"], score=float(hit.get("_score") or 0.0), source=hit.get("_source", {}))
                for hit in hits.get("hits", [])
            ],
            total=total["value"] if isinstance(total, dict) else int(total),
        )


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
