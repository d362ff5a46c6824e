"""OpenSearch request bodies for search: a `SearchPlan` as a `_search` body (`bool` for keyword plans,
`hybrid` lexical + k-NN for hybrid ones) and the search pipeline that fuses hybrid sub-query scores.

The pipeline applies the same normalisation and combination as `combine_sub_queries` in
`cataloop.domain.search.plan`, which the embedded engine calls directly, so both engines rank alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cataloop.adapters.opensearch_mapping import VECTOR_FIELD
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
