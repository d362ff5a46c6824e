"""OpenSearch request bodies for search: a `SearchPlan` as a `_search` body (`bool` for keyword plans,
`hybrid` lexical + k-NN for hybrid ones) and the search pipeline that fuses hybrid sub-query scores.

The pipeline applies the same normalisation and combination as `combine_sub_queries` in
`cataloop.domain.search.plan`, which the embedded engine calls directly, so both engines rank alike.

k-NN similarity floors (`SearchPlan.min_vector_score`, `vector_score_margin`) make the hybrid query's k-NN
sub-query a `dis_max` of a radial k-NN search (`min_score` instead of `k`, OpenSearch 2.14+) and a
`script_score` giving every lexical match its k-NN score (the k-NN plugin's Painless `cosineSimilarity`, on
the engine's score scale): products only the vectors find must pass the floor, lexical matches keep their
similarity, as `EmbeddedSearchIndex._hybrid` does. The floor itself comes from
`cataloop.domain.search.plan.vector_floor`, after a k-NN-only request (`best_vector_score_body`) when the
floor is relative to the best k-NN score.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cataloop.adapters.opensearch_mapping import VECTOR_FIELD, KnnEngine
from cataloop.domain.search.documents import CATEGORY_SEPARATOR, attribute_field
from cataloop.domain.search.plan import (
    RRF_RANK_CONSTANT,
    Combination,
    LexicalClause,
    Normalization,
    SearchField,
    SearchFilters,
    SearchPlan,
    SortKey,
)
from cataloop.errors import InvalidInput

# Not returned with hits: the vector is large and the embedding text is only an indexing input.
SOURCE_EXCLUDES = [VECTOR_FIELD, "embedding_text"]

# Logical plan fields to OpenSearch fields.
FIELD_PATHS: dict[SearchField, str] = {
    "name": "name",
    "name.en": "name.en",
    "name.joined": "name.joined",
    "keywords.joined": "keywords.joined",
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
    # A keyword field (no analyzer, no normalizer): a match on it is one exact term lookup.
    "name_key": "name_key",
}

SORT_CLAUSES: dict[SortKey, list[Any]] = {
    "relevance": [],
    "price_asc": [{"price": {"order": "asc", "missing": "_last"}}, {"_score": {"order": "desc"}}],
    "price_desc": [{"price": {"order": "desc", "missing": "_last"}}, {"_score": {"order": "desc"}}],
    "rating": [{"rating": {"order": "desc", "missing": "_last"}}, {"_score": {"order": "desc"}}],
    "review_count": [{"review_count": {"order": "desc"}}, {"_score": {"order": "desc"}}],
    "purchase_count": [{"purchase_count": {"order": "desc"}}, {"_score": {"order": "desc"}}],
    # `unmapped_type`: a generation created before unit pricing has no such field; it sorts as all missing
    # there instead of failing the search until the next reindex.
    "unit_price_asc": [
        {"unit_price": {"order": "asc", "missing": "_last", "unmapped_type": "double"}},
        {"_score": {"order": "desc"}},
    ],
    "total_content_desc": [
        {"total_content": {"order": "desc", "missing": "_last", "unmapped_type": "double"}},
        {"_score": {"order": "desc"}},
    ],
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


def vector_query(
    plan: SearchPlan, query_vector: Sequence[float], min_score: float | None = None
) -> dict[str, Any]:
    """k-NN over the product vectors with the hard filters applied inside the search (efficient filtering):
    the `candidate_depth` nearest, or with `min_score` (on the engine's score scale) a radial search for
    every vector scoring at least that."""
    knn: dict[str, Any] = {"vector": list(query_vector)}
    if min_score is None:
        knn["k"] = plan.candidate_depth
    else:
        knn["min_score"] = min_score
    include, exclude = filter_clauses(plan.filters)
    if include or exclude:
        knn["filter"] = {"bool": {"filter": include, "must_not": exclude}}
    return {"knn": {VECTOR_FIELD: knn}}


def _require_vector(query_vector: Sequence[float] | None) -> Sequence[float]:
    if query_vector is None:
        raise InvalidInput("a hybrid plan needs the query vector; embed the query or plan a keyword search")
    return query_vector


def has_vector_floor(plan: SearchPlan) -> bool:
    """True when the plan's k-NN side has a similarity floor (absolute or relative to the best score)."""
    return plan.mode == "hybrid" and (
        plan.min_vector_score is not None or plan.vector_score_margin is not None
    )


def best_vector_score_body(plan: SearchPlan, query_vector: Sequence[float] | None) -> dict[str, Any]:
    """A k-NN-only request for the best k-NN score of the plan's query under its hard filters (the k-NN
    sub-query of `search_body` without a floor, one hit, no source): what `vector_score_margin` is
    relative to."""
    return {
        "size": 1,
        "track_total_hits": False,
        "_source": False,
        "query": vector_query(plan, _require_vector(query_vector)),
    }


# The plan's k-NN scores are cosine similarity as (1 + cos) / 2, which is what the Lucene engine scores a
# `cosinesimil` field; Faiss scores it 1 / (1 + d) with d = 1 - cos, i.e. 1 / (2 - cos).


def engine_vector_score(plan_score: float, engine: KnnEngine = "lucene") -> float:
    """A plan-scale k-NN score ((1 + cos) / 2) on `engine`'s `cosinesimil` score scale."""
    if engine == "faiss":
        return 1.0 / (3.0 - 2.0 * plan_score)
    return plan_score


def plan_vector_score(engine_score: float, engine: KnnEngine = "lucene") -> float:
    """`engine`'s `cosinesimil` k-NN score on the plan's scale ((1 + cos) / 2); inverse of the above."""
    if engine == "faiss":
        return (3.0 - 1.0 / engine_score) / 2.0
    return engine_score


_COSINE = "cosineSimilarity(params.query_value, doc[params.field])"
# A document's k-NN score computed by a script, on the same scale as the engine's k-NN query scores it.
SIMILARITY_SCRIPTS: dict[KnnEngine, str] = {
    "lucene": f"(1.0 + {_COSINE}) / 2.0",
    "faiss": f"1.0 / (2.0 - {_COSINE})",
}


def lexical_similarity_query(
    plan: SearchPlan, query_vector: Sequence[float], engine: KnnEngine = "lucene"
) -> dict[str, Any]:
    """Every product the plan's lexical side matches (under its hard filters), scored by its k-NN score."""
    return {
        "script_score": {
            "query": {"bool": {"filter": [lexical_query(plan)]}},
            "script": {
                "source": SIMILARITY_SCRIPTS[engine],
                "params": {"field": VECTOR_FIELD, "query_value": list(query_vector)},
            },
        }
    }


def floored_vector_query(
    plan: SearchPlan, query_vector: Sequence[float], floor: float, engine: KnnEngine = "lucene"
) -> dict[str, Any]:
    """The k-NN side under a similarity floor (`floor`, on the plan's scale): the products scoring at least
    the floor (a radial search; the plain top `candidate_depth` when the floor lets every score through)
    plus every lexical match with its k-NN score; a product in both scores the same in each."""
    min_score = engine_vector_score(floor, engine) if floor > 0 else None
    return {
        "dis_max": {
            "queries": [
                vector_query(plan, query_vector, min_score),
                lexical_similarity_query(plan, query_vector, engine),
            ]
        }
    }


def search_body(
    plan: SearchPlan,
    query_vector: Sequence[float] | None = None,
    *,
    vector_floor: float | None = None,
    knn_engine: KnnEngine = "lucene",
) -> dict[str, Any]:
    """The `_search` body for a plan: `bool` for keyword plans, `hybrid` (lexical + k-NN) for hybrid ones.
    `vector_floor` (the plan's `vector_floor`, on the plan's scale) makes the k-NN sub-query the
    `floored_vector_query` of `knn_engine`; the hybrid `pagination_depth` still caps how many hits it
    contributes."""
    body: dict[str, Any] = {
        "size": plan.size,
        "from": plan.offset,
        "track_total_hits": True,
        "_source": {"excludes": SOURCE_EXCLUDES},
    }
    if plan.mode == "hybrid":
        vector = _require_vector(query_vector)
        knn = (
            vector_query(plan, vector)
            if vector_floor is None
            else floored_vector_query(plan, vector, vector_floor, knn_engine)
        )
        body["query"] = {
            "hybrid": {"pagination_depth": plan.candidate_depth, "queries": [lexical_query(plan), knn]}
        }
    else:
        body["query"] = lexical_query(plan)
    if SORT_CLAUSES[plan.sort]:
        body["sort"] = SORT_CLAUSES[plan.sort]
    return body
