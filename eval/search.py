"""`cataloop eval search`: nDCG@10, MRR, recall@50 and the zero-result rate of five retrieval methods on
graded query sets.

Methods, all over the same index (the real Korean analyzer and synonyms, real e5-small vectors):
- `bm25`: the keyword plan (text, chosung and keyboard clauses) on tantivy BM25, engine order;
- `vector`: k-NN only (a hybrid plan whose lexical weight is 0: k-NN order, lexical-only hits trail at 0);
- `hybrid_min_max`: BM25 + k-NN, min-max normalised, arithmetic mean (the OpenSearch pipeline default);
- `hybrid_rrf`: BM25 + k-NN fused by reciprocal rank;
- `search_service`: the full `SearchService` (exact-name fast path, guardrail, chosung/keyboard variants,
  classification that picks keyword or hybrid min-max, ranking rules) as `GET /search` runs it.

Products are indexed straight from the catalogs with `product_document(listing, None, 1)` (no enrichment:
the workflow is not run), so the numbers are the search stack's own, before enrichment adds attributes.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cataloop_eval.reports import PROJECT_ROOT, write_json

EVAL_DEPTH = 50  # recall@50 needs the first 50 results; nDCG@10 and MRR read from the same list
KOREAN_QUERIES = PROJECT_ROOT / "data" / "korean-mall" / "queries.jsonl"
ENGLISH_QUERIES = PROJECT_ROOT / "data" / "oa-mine-queries" / "derived.jsonl"
OA_MINE_TRAIN = PROJECT_ROOT / "data" / "oa-mine" / "train.jsonl"
METHODS = ("bm25", "vector", "hybrid_min_max", "hybrid_rrf", "search_service")
METRICS = ("ndcg@10", "mrr", "recall@50", "zero_result_rate")
COMMENT_SECRET = "search-eval-tokens-are-never-read"

QueryVector = Sequence[float]
MethodRun = Callable[[str, QueryVector], tuple[list[str], int]]
"""(query text, its e5 query vector) -> (ranked ids, total result count)."""


class GradedQuery(BaseModel):
    """One line of a graded query file: the query and its graded product ids (0-3)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    qid: str = Field(min_length=1)
    query: str = Field(min_length=1, max_length=200)
    relevant: dict[str, int]


def read_graded_queries(path: Path) -> list[GradedQuery]:
    """Queries of a JSONL file; ValueError names the first line that is not `{qid, query, relevant}`."""
    queries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                queries.append(GradedQuery.model_validate_json(line))
            except ValidationError as error:
                raise ValueError(
                    f"{path}:{number} is not a graded query {{qid, query, relevant}}: {error}"
                ) from None
    return queries


def method_runners(index: Any, service: Any) -> dict[str, MethodRun]:
    """One runner per method over a `EmbeddedSearchIndex` and a `SearchService` built on that index."""
    from cataloop.domain.search.plan import Combination, build_search_plan

    def keyword(text: str, vector: QueryVector) -> tuple[list[str], int]:
        plan = build_search_plan(text, size=EVAL_DEPTH, in_catalog=index.in_catalog)
        page = index.search(plan)
        return [hit.id for hit in page.hits], page.total

    def hybrid(combination: Combination, lexical_weight: float) -> MethodRun:
        def run(text: str, vector: QueryVector) -> tuple[list[str], int]:
            plan = build_search_plan(
                text,
                mode="hybrid",
                size=EVAL_DEPTH,
                in_catalog=index.in_catalog,
                lexical_weight=lexical_weight,
                vector_weight=1.0,
                normalization="min_max",
                combination=combination,
            )
            page = index.search(plan, vector)
            return [hit.id for hit in page.hits], page.total

        return run

    def full_service(text: str, vector: QueryVector) -> tuple[list[str], int]:
        from cataloop.errors import InvalidInput

        try:
            response = service.search({"q": text, "size": EVAL_DEPTH})
        except InvalidInput:  # refused by the guardrail: the shopper sees no result
            return [], 0
        return [item.id for item in response.results], response.total

    return {
        "bm25": keyword,
        "vector": hybrid("arithmetic_mean", 0.0),
        "hybrid_min_max": hybrid("arithmetic_mean", 1.0),
        "hybrid_rrf": hybrid("rrf", 1.0),
        "search_service": full_service,
    }


def evaluate_methods(
    runners: dict[str, MethodRun], queries: Sequence[GradedQuery], vectors: Sequence[QueryVector]
) -> dict[str, dict[str, float]]:
    """The metric table `{method: {"ndcg@10", "mrr", "recall@50", "zero_result_rate"}}` over `queries`
    (`vectors[i]` is the query vector of `queries[i]`)."""
    from cataloop_eval.relevance import JudgedRun, evaluate

    if len(vectors) != len(queries):
        raise ValueError(f"got {len(vectors)} query vectors for {len(queries)} queries; give one each")
    table: dict[str, dict[str, float]] = {}
    for method, run in runners.items():
        judged = []
        for query, vector in zip(queries, vectors, strict=True):
            ranked, total = run(query.query, vector)
            judged.append(
                JudgedRun(query_id=query.qid, ranked=ranked, judgements=query.relevant, result_count=total)
            )
        summary = evaluate(judged)
        table[method] = {
            "ndcg@10": round(summary.ndcg_at_10, 4),
            "mrr": round(summary.mrr, 4),
            "recall@50": round(summary.recall_at_50, 4),
            "zero_result_rate": round(summary.zero_result_rate, 4),
        }
    return table


def build_eval_index(
    listings: Sequence[Any], analyzer: Any, embedder: Any, synonyms: Sequence[str] = ()
) -> Any:
    """An in-memory `EmbeddedSearchIndex` of `listings` (ProductListing), bundles indexed with their
    components' names as the indexer does; passage vectors come from `embedder`."""
    from cataloop.adapters.embedded_search import EmbeddedSearchIndex
    from cataloop.domain.search.documents import product_document

    by_id = {listing.product_id: listing for listing in listings}
    documents = [
        product_document(listing, None, 1, [by_id[child] for child in listing.child_ids if child in by_id])
        for listing in listings
    ]
    index = EmbeddedSearchIndex(None, analyzer, embedder, embedder.dimension, synonyms=synonyms)
    index.ensure_index()
    index.bulk_upsert(documents)
    return index


def build_eval_service(index: Any, embedder: Any) -> Any:
    """The search service as the API builds it (`wiring.build_search_service`), with the offline guardrail
    and without the log, comments and product store."""
    from cataloop.adapters.offline_guardrail import OfflineGuardrail
    from cataloop.wiring import build_search_service

    return build_search_service(
        index=index, embedder=embedder, guardrail=OfflineGuardrail(), token_secret=COMMENT_SECRET
    )


def _catalogs() -> dict[str, tuple[list[Any], Path]]:
    from cataloop.domain.catalog.listing import ProductListing
    from cataloop_eval.extraction import read_oa_mine
    from cataloop_eval.korean_catalog import korean_listings

    korean = [ProductListing.model_validate(item) for item in korean_listings()]
    english = list({r.listing().product_id: r.listing() for r in read_oa_mine(OA_MINE_TRAIN)}.values())
    return {"oa-mine-derived-en": (english, ENGLISH_QUERIES), "korean-mall": (korean, KOREAN_QUERIES)}


def run_search_eval(state_dir: Path) -> dict[str, Any]:
    """Index each catalog, run every method on its graded queries and return the report (see module doc)."""
    from cataloop import wiring
    from cataloop.adapters.e5_embeddings import E5Embedder
    from cataloop.settings import Settings

    config = Settings(data_dir=str(state_dir))  # the embedded engine's settings; no cloud runs here
    analyzer = wiring.korean_analyzer(config)
    synonyms = wiring.dictionaries(config).search_time_rules()
    embedder = E5Embedder(cache_dir=state_dir / "embeddings")
    started = time.perf_counter()
    sets: dict[str, Any] = {}
    details: dict[str, Any] = {}
    for name, (listings, queries_path) in _catalogs().items():
        set_started = time.perf_counter()
        queries = read_graded_queries(queries_path)
        index = build_eval_index(listings, analyzer, embedder, synonyms)
        indexed = time.perf_counter() - set_started
        try:
            service = build_eval_service(index, embedder)
            vectors = embedder.embed([query.query for query in queries], "query")
            sets[name] = evaluate_methods(method_runners(index, service), queries, vectors)
        finally:
            index.close()
        details[name] = {
            "products": len(listings),
            "queries": len(queries),
            "query_file": str(queries_path.relative_to(PROJECT_ROOT)),
            "index_seconds": round(indexed, 1),
            "seconds": round(time.perf_counter() - set_started, 1),
        }
        print(f"  {name}: {len(listings)} products, {len(queries)} queries, {details[name]['seconds']} s")
    return {
        "sets": sets,
        "set_details": details,
        "methods": {
            "bm25": "keyword plan on tantivy BM25 (mecab-ko analysis + search-time synonyms and typo rules), engine order",
            "vector": "e5-small k-NN only (hybrid plan, lexical weight 0), cosine order",
            "hybrid_min_max": "BM25 + k-NN, min-max normalised, arithmetic mean 0.5/0.5",
            "hybrid_rrf": "BM25 + k-NN, reciprocal rank fusion (k=60)",
            "search_service": "full SearchService: fast path, guardrail, variants, classifier-chosen "
            "keyword or hybrid min-max, ranking rules",
        },
        "notes": [
            "products indexed directly with product_document(listing, None, 1): no enrichment workflow run, "
            "so no extracted attributes or is_food flags; bundles carry their components' names",
            "each set has its own in-memory index of its own catalog (OA-Mine train titles / Korean demo)",
            "oa-mine-derived-en queries and grades are DERIVED from OA-Mine train gold attributes "
            "(data/oa-mine-queries/README.md), not hand-judged; korean-mall queries are hand-graded",
            "the guardrail is the offline word list; the query classifier uses e5 few-shot examples",
            f"metrics from the first {EVAL_DEPTH} results; relevant = grade >= 1; nDCG gain 2^grade - 1",
        ],
        "seconds": round(time.perf_counter() - started, 1),
    }


def print_relevance_table(sets: dict[str, dict[str, dict[str, float]]]) -> None:
    """The metric table, one block per query set."""
    for name, table in sets.items():
        print(f"\n{name}")
        print(f"  {'method':<16}" + "".join(f"{metric:>18}" for metric in METRICS))
        for method, row in table.items():
            print(f"  {method:<16}" + "".join(f"{row[metric]:>18.3f}" for metric in METRICS))


def cmd_eval_search(args: argparse.Namespace) -> int:
    report = run_search_eval(Path(args.state_dir))
    print_relevance_table(report["sets"])
    print(f"\n({report['seconds']} s; products indexed without the enrichment workflow)")
    write_json(args.json, report)
    return 0


def add_search_eval_parser(sub: Any) -> None:
    """Register `eval search` on the `eval` sub-command parsers."""
    search = sub.add_parser(
        "search", help="nDCG@10, MRR, recall@50, zero-result rate: BM25, vector, hybrid, full search"
    )
    search.add_argument("--json", metavar="PATH")
    search.set_defaults(handler=cmd_eval_search)
