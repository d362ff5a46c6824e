"""OpenSearch index bodies: settings and mappings of the products and learnings indices, with the analysis
wiring (the nori analyzers from `korean_analyzer.nori_index_settings` merged with the prefix analyzers for
chosung and keyboard-layout fields, the keyword normalizer, and the compound analyzers of the `.joined`
sub-fields: one to index, one to search).

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
# The `.joined` sub-fields of name and keywords (see `KoreanAnalyzer.joined` / `joined_query`, the embedded
# engine's definition). Index time: the Korean index analyzer's terms plus each pair of neighbouring terms
# written together ("주방 세제" also indexes "주방세제"; a position a stopped word left empty is the filler "_":
# "주방용 세제" -> 주방_, _세제). Search time: only the pairs of a query of several words ("주방 세제" ->
# 주방세제), the word itself for a one-word query.
JOINED_ANALYZER = "korean_joined"
JOINED_TOKENIZER = "korean_joined_tokenizer"
JOINED_SHINGLE_FILTER = "korean_joined_shingle"
JOINED_SEARCH_ANALYZER = "korean_joined_search"
JOINED_SEARCH_SHINGLE_FILTER = "korean_joined_search_shingle"


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


def _joined_analysis(analysis: Mapping[str, Any], index_analyzer: str) -> dict[str, Any]:
    """The compound analyzers: the index analyzer's nori tokenizer and filters (never a synonym filter:
    shingles and synonym_graph do not mix), lowercase, then a shingle filter of two terms joined with no
    separator. The index side keeps the unigrams and the default filler token ("_", where a stopped word
    left a position empty, as `KoreanAnalyzer.joined` writes it); the search side emits only the pairs, or
    the one word of a one-word query (`output_unigrams_if_no_shingles`), as `KoreanAnalyzer.joined_query`."""
    base = analysis["analyzer"][index_analyzer]
    synonym_filters = {
        name
        for name, spec in analysis.get("filter", {}).items()
        if spec.get("type") in ("synonym", "synonym_graph")
    }
    chain = [name for name in base.get("filter", []) if name not in synonym_filters]
    if "lowercase" not in chain:
        chain.append("lowercase")
    pairs = {"type": "shingle", "min_shingle_size": 2, "max_shingle_size": 2, "token_separator": ""}
    # The shingle filter is not graph-aware: a compound kept whole beside its parts (decompound "mixed")
    # would be joined with its own parts. The compound fields read the parts only (decompound "discard"),
    # which is the path `KoreanAnalyzer.joined` joins.
    tokenizer = dict(analysis.get("tokenizer", {}).get(base["tokenizer"], {}))
    tokenizer_name = base["tokenizer"]
    tokenizers: dict[str, Any] = {}
    if tokenizer.get("decompound_mode", "discard") != "discard":
        tokenizer_name = JOINED_TOKENIZER
        tokenizers[JOINED_TOKENIZER] = {**tokenizer, "decompound_mode": "discard"}
    return {
        **({"tokenizer": tokenizers} if tokenizers else {}),
        "filter": {
            JOINED_SHINGLE_FILTER: {**pairs, "output_unigrams": True},
            JOINED_SEARCH_SHINGLE_FILTER: {
                **pairs,
                "output_unigrams": False,
                "output_unigrams_if_no_shingles": True,
            },
        },
        "analyzer": {
            JOINED_ANALYZER: {
                "type": "custom",
                "tokenizer": tokenizer_name,
                "filter": [*chain, JOINED_SHINGLE_FILTER],
            },
            JOINED_SEARCH_ANALYZER: {
                "type": "custom",
                "tokenizer": tokenizer_name,
                "filter": [*chain, JOINED_SEARCH_SHINGLE_FILTER],
            },
        },
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
    joined_sub = {
        "joined": {"type": "text", "analyzer": JOINED_ANALYZER, "search_analyzer": JOINED_SEARCH_ANALYZER}
    }
    index_settings: dict[str, Any] = {"knn": True}
    if shards is not None:
        index_settings["number_of_shards"] = shards
    if replicas is not None:
        index_settings["number_of_replicas"] = replicas
    return {
        "settings": {
            "index": index_settings,
            "analysis": merge_analysis(
                merge_analysis(analysis, _prefix_analysis()), _joined_analysis(analysis, index_analyzer)
            ),
        },
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
                    fields={
                        **english_sub,
                        **joined_sub,
                        "raw": {"type": "keyword", "normalizer": KEYWORD_NORMALIZER},
                    }
                ),
                # Already normalised by `name_key()`: matched exactly, no normalizer.
                "name_key": {"type": "keyword"},
                "description": korean_text(fields=english_sub),
                "english": {"type": "text", "analyzer": "english"},
                "keywords": korean_text(
                    fields={**joined_sub, "raw": {"type": "keyword", "normalizer": KEYWORD_NORMALIZER}}
                ),
                "name_chosung": prefix_text(),
                "name_qwerty": prefix_text(),
                "category_path": {"type": "keyword", "fields": {"text": korean_text()}},
                "category_prefixes": {"type": "keyword"},
                "is_food": {"type": "boolean"},
                "price": {"type": "double"},
                "unit": {"type": "keyword"},
                "total_content": {"type": "double"},
                "unit_price": {"type": "double"},
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
