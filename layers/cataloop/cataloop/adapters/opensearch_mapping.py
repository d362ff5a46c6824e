"""OpenSearch index bodies: settings and mappings of the products and learnings indices, with the analysis
wiring (the nori analyzers from `korean_analyzer.nori_index_settings` merged with the prefix analyzers for
chosung and keyboard-layout fields, and the keyword normalizer).

`opensearch_queries.py` builds request bodies against these fields; `opensearch_index.py` creates indices
with them.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Literal

from cataloop.adapters.korean_analyzer import INDEX_ANALYZER, SEARCH_ANALYZER
from cataloop.domain.search.documents import PREFIX_GRAM_MAX, PREFIX_GRAM_MIN
from cataloop.errors import InvalidInput

KnnEngine = Literal["lucene", "faiss"]

VECTOR_FIELD = "embedding"

PREFIX_INDEX_ANALYZER = "prefix_index"
PREFIX_SEARCH_ANALYZER = "prefix_search"
KEYWORD_NORMALIZER = "lowercase_keyword"


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
