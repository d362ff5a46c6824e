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

Besides the per-set table (`sets` -> method -> metrics) the report carries, per set:
- `per_kind`: the same metrics for each query `kind` (typo, nomatch, value, …);
- `nomatch_empty_rate`: share of `nomatch` queries (the catalog sells nothing that fits) with zero results;
- `unit_price_order`: for `value` queries, whether the first 10 results graded >= 2 come in non-decreasing
  unit price (price / gold total content), for `bulk` queries whether they come in non-increasing total
  content; 1 = ordered, else the share of correctly ordered pairs. The eval reads gold as the judge; the
  search never does;
- for korean-mall, `exact_names`: how many of the 420 titles find their own product first through the
  full service, and `exact_names_respaced` the same with " x " written "x" ("65ml x 20개" -> "65mlx20개").
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cataloop_eval.reports import PROJECT_ROOT, write_json

EVAL_DEPTH = 50  # recall@50 needs the first 50 results; nDCG@10 and MRR read from the same list
KOREAN_QUERIES = PROJECT_ROOT / "data" / "korean-mall" / "queries.jsonl"
ENGLISH_QUERIES = PROJECT_ROOT / "data" / "oa-mine-queries" / "derived.jsonl"
HARD_ENGLISH_QUERIES = PROJECT_ROOT / "data" / "oa-mine-queries" / "hard.jsonl"
CROSS_LANGUAGE_QUERIES = PROJECT_ROOT / "data" / "oa-mine-queries" / "cross_language.jsonl"
KOREAN_PRODUCTS = PROJECT_ROOT / "data" / "korean-mall" / "products.jsonl"
OA_MINE_TRAIN = PROJECT_ROOT / "data" / "oa-mine" / "train.jsonl"
METHODS = ("bm25", "vector", "hybrid_min_max", "hybrid_rrf", "search_service")
METRICS = ("ndcg@10", "mrr", "recall@50", "zero_result_rate")
COMMENT_SECRET = "search-eval-tokens-are-never-read"
ORDER_DEPTH = 10  # unit_price_order reads the first 10 results graded >= ORDER_MIN_GRADE
ORDER_MIN_GRADE = 2
PER_KIND_TABLE_METHODS = ("search_service", "bm25")

QueryVector = Sequence[float]
MethodRun = Callable[[str, QueryVector], tuple[list[str], int]]
"""(query text, its e5 query vector) -> (ranked ids, total result count)."""


class GradedQuery(BaseModel):
    """One line of a graded query file: the query and its graded product ids (0-3)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    qid: str = Field(min_length=1)
    query: str = Field(min_length=1, max_length=200)
    relevant: dict[str, int]
    kind: str = "unlabelled"
    sort: str | None = None


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


Runs = dict[str, list[tuple[list[str], int]]]
"""{method: [(ranked ids, total result count) per query, in query order]}."""


def run_methods(
    runners: dict[str, MethodRun], queries: Sequence[GradedQuery], vectors: Sequence[QueryVector]
) -> Runs:
    """Every method's results for every query, each search run once (`vectors[i]` belongs to `queries[i]`)."""
    if len(vectors) != len(queries):
        raise ValueError(f"got {len(vectors)} query vectors for {len(queries)} queries; give one each")
    return {
        method: [run(query.query, vector) for query, vector in zip(queries, vectors, strict=True)]
        for method, run in runners.items()
    }


def _metric_row(queries: Sequence[GradedQuery], results: Sequence[tuple[list[str], int]]) -> dict[str, float]:
    from cataloop_eval.relevance import JudgedRun, evaluate

    summary = evaluate(
        [
            JudgedRun(query_id=query.qid, ranked=ranked, judgements=query.relevant, result_count=total)
            for query, (ranked, total) in zip(queries, results, strict=True)
        ]
    )
    return {
        "ndcg@10": round(summary.ndcg_at_10, 4),
        "mrr": round(summary.mrr, 4),
        "recall@50": round(summary.recall_at_50, 4),
        "zero_result_rate": round(summary.zero_result_rate, 4),
    }


def evaluate_methods(
    runners: dict[str, MethodRun], queries: Sequence[GradedQuery], vectors: Sequence[QueryVector]
) -> dict[str, dict[str, float]]:
    """The metric table `{method: {"ndcg@10", "mrr", "recall@50", "zero_result_rate"}}` over `queries`
    (`vectors[i]` is the query vector of `queries[i]`)."""
    return metric_table(queries, run_methods(runners, queries, vectors))


def metric_table(queries: Sequence[GradedQuery], runs: Runs) -> dict[str, dict[str, float]]:
    """`{method: metrics}` over all `queries`; queries without a relevant judgement (`nomatch`) only count
    in the zero-result rate."""
    return {method: _metric_row(queries, results) for method, results in runs.items()}


def per_kind_table(queries: Sequence[GradedQuery], runs: Runs) -> dict[str, dict[str, dict[str, Any]]]:
    """`{kind: {method: {"queries", metrics…}}}`. A kind with no relevant judgement at all (`nomatch`) has
    None for nDCG, MRR and recall (undefined) and keeps its zero-result rate."""
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for kind in dict.fromkeys(query.kind for query in queries):
        chosen = [i for i, query in enumerate(queries) if query.kind == kind]
        kind_queries = [queries[i] for i in chosen]
        judged = any(grade >= 1 for query in kind_queries for grade in query.relevant.values())
        table[kind] = {}
        for method, results in runs.items():
            row: dict[str, Any] = {
                "queries": len(chosen),
                **_metric_row(kind_queries, [results[i] for i in chosen]),
            }
            if not judged:
                row.update({"ndcg@10": None, "mrr": None, "recall@50": None})
            table[kind][method] = row
    return table


def nomatch_empty_rates(queries: Sequence[GradedQuery], runs: Runs) -> dict[str, float] | None:
    """`{method: share of nomatch queries with zero results}`, or None when the set has no nomatch query."""
    from cataloop_eval.relevance import nomatch_empty_rate

    chosen = [i for i, query in enumerate(queries) if query.kind == "nomatch"]
    if not chosen:
        return None
    return {
        method: round(nomatch_empty_rate([results[i][1] for i in chosen]), 4)
        for method, results in runs.items()
    }


# ------------------------------------------------------------------- gold unit prices (the judge's side)

_CONTENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ml|l|kg|mg|g)\s*$", re.IGNORECASE)
_TO_BASE = {"ml": ("volume_ml", 1.0), "l": ("volume_ml", 1000.0), "g": ("mass_g", 1.0),
            "kg": ("mass_g", 1000.0), "mg": ("mass_g", 0.001)}  # fmt: skip


def parse_net_content(text: str | None) -> tuple[str, float] | None:
    """`"65ml"` -> ("volume_ml", 65.0), `"1.2L"` -> ("volume_ml", 1200.0), `"500mg"` -> ("mass_g", 0.5);
    None for anything else (null, "80매", "2000IU")."""
    match = _CONTENT.match(text or "")
    if not match:
        return None
    dimension, factor = _TO_BASE[match.group(2).lower()]
    return dimension, float(match.group(1)) * factor


class UnitGold(BaseModel):
    """What the judge knows of a product to order it: price and gold total content (one unit x pack count)."""

    model_config = ConfigDict(frozen=True)

    price: float = Field(gt=0)
    dimension: str
    total: float = Field(gt=0)

    @property
    def unit_price(self) -> float:
        return self.price / self.total


def unit_gold(price: float | None, net_content: str | None, pack_count: int | None) -> UnitGold | None:
    """Price and total content of a product from its gold net_content and pack_count; None when unknown."""
    parsed = parse_net_content(net_content)
    if parsed is None or not price or not pack_count or parsed[1] <= 0:
        return None
    return UnitGold(price=price, dimension=parsed[0], total=parsed[1] * pack_count)


def korean_unit_gold(path: Path = KOREAN_PRODUCTS) -> dict[str, UnitGold]:
    """`{product_id: UnitGold}` for the korean-mall products whose gold content parses (not bundles/goods)."""
    table: dict[str, UnitGold] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            product, gold = record["product"], record["gold"]
            found = unit_gold(product.get("price"), gold.get("net_content"), gold.get("pack_count"))
            if found is not None:
                table[product["product_id"]] = found
    return table


def order_score(
    ranked: Sequence[str], judgements: dict[str, int], gold: dict[str, UnitGold], sort: str
) -> float | None:
    """How well the first `ORDER_DEPTH` results graded >= `ORDER_MIN_GRADE` with a gold unit price follow
    `sort`: "value" = non-decreasing price per unit of content, "bulk" = non-increasing total content.
    1.0 when ordered, else the share of correctly ordered pairs (only products of the same dimension, g or
    ml, are compared); None when fewer than two comparable products come back."""
    from cataloop_eval.relevance import grouped_order_share

    if sort not in ("value", "bulk"):
        raise ValueError(f"order_score sorts by 'value' or 'bulk', not {sort!r}")
    picked = [
        gold[doc_id]
        for doc_id in dict.fromkeys(ranked)
        if judgements.get(doc_id, 0) >= ORDER_MIN_GRADE and doc_id in gold
    ][:ORDER_DEPTH]
    if sort == "value":
        return grouped_order_share([(item.dimension, item.unit_price) for item in picked])
    return grouped_order_share([(item.dimension, item.total) for item in picked], descending=True)


def unit_price_orders(
    queries: Sequence[GradedQuery], runs: Runs, gold: dict[str, UnitGold]
) -> dict[str, dict[str, dict[str, Any]]] | None:
    """`{sort: {method: {"score": mean order_score, "queries": scored, "unscored": n}}}` over the set's
    `value` and `bulk` queries (by their `sort`), or None when it has none. An unscored query returned fewer
    than two comparable graded products."""
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for sort in ("value", "bulk"):
        chosen = [i for i, query in enumerate(queries) if query.sort == sort]
        if not chosen:
            continue
        table[sort] = {}
        for method, results in runs.items():
            scores = [order_score(results[i][0], queries[i].relevant, gold, sort) for i in chosen]
            scored = [score for score in scores if score is not None]
            table[sort][method] = {
                "score": round(sum(scored) / len(scored), 4) if scored else None,
                "queries": len(scored),
                "unscored": len(scores) - len(scored),
            }
    return table or None


def respaced_title(title: str) -> str:
    """The title with the spaces around a pack multiplier removed: "65ml x 20개" -> "65mlx20개"."""
    return re.sub(r"\s+x\s+", "x", title)


def exact_name_check(run: MethodRun, listings: Sequence[Any], respace: bool = False) -> dict[str, Any]:
    """Search every listing's title with `run` (the full service) and count titles whose own product is
    result 1: `{"titles", "first", "misses": first 20 titles missed}`."""
    first, misses = 0, list[str]()
    for listing in listings:
        title = respaced_title(listing.title) if respace else listing.title
        ranked, _ = run(title, [])
        if ranked[:1] == [listing.product_id]:
            first += 1
        elif len(misses) < 20:
            misses.append(title)
    return {"titles": len(listings), "first": first, "misses": misses}


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


def _catalogs() -> dict[str, list[Any]]:
    """The indexes to build: each catalog once, and the mixed one for the cross-language set."""
    from cataloop.domain.catalog.listing import ProductListing
    from cataloop_eval.extraction import read_oa_mine
    from cataloop_eval.korean_catalog import korean_listings

    korean = [ProductListing.model_validate(item) for item in korean_listings()]
    english = list({r.listing().product_id: r.listing() for r in read_oa_mine(OA_MINE_TRAIN)}.values())
    return {"oa-mine-train": english, "korean-mall": korean, "mixed": korean + english}


# query set -> (index it runs on, query file)
QUERY_SETS: dict[str, tuple[str, Path]] = {
    "oa-mine-derived-en": ("oa-mine-train", ENGLISH_QUERIES),
    "oa-mine-hard-en": ("oa-mine-train", HARD_ENGLISH_QUERIES),
    "korean-mall": ("korean-mall", KOREAN_QUERIES),
    "cross-language": ("mixed", CROSS_LANGUAGE_QUERIES),
}


def run_search_eval(state_dir: Path) -> dict[str, Any]:
    """Index each catalog once, run every method on the graded query sets over it and return the report
    (see module doc)."""
    from cataloop import wiring
    from cataloop.adapters.e5_embeddings import E5Embedder
    from cataloop.settings import Settings

    config = Settings(data_dir=str(state_dir))  # the embedded engine's settings; no cloud runs here
    analyzer = wiring.korean_analyzer(config)
    synonyms = wiring.dictionaries(config).search_time_rules()
    embedder = E5Embedder(cache_dir=state_dir / "embeddings")
    gold = korean_unit_gold()
    started = time.perf_counter()
    sets: dict[str, Any] = {}
    details: dict[str, Any] = {}
    per_kind: dict[str, Any] = {}
    nomatch: dict[str, Any] = {}
    orders: dict[str, Any] = {}
    exact: dict[str, Any] = {}
    for index_name, listings in _catalogs().items():
        index_started = time.perf_counter()
        index = build_eval_index(listings, analyzer, embedder, synonyms)
        indexed = time.perf_counter() - index_started
        try:
            service = build_eval_service(index, embedder)
            runners = method_runners(index, service)
            for name, (on_index, queries_path) in QUERY_SETS.items():
                if on_index != index_name:
                    continue
                set_started = time.perf_counter()
                queries = read_graded_queries(queries_path)
                vectors = embedder.embed([query.query for query in queries], "query")
                runs = run_methods(runners, queries, vectors)
                sets[name] = metric_table(queries, runs)
                per_kind[name] = per_kind_table(queries, runs)
                if (rates := nomatch_empty_rates(queries, runs)) is not None:
                    nomatch[name] = rates
                if (ordered := unit_price_orders(queries, runs, gold)) is not None:
                    orders[name] = ordered
                details[name] = {
                    "products": len(listings),
                    "index": index_name,
                    "queries": len(queries),
                    "query_file": str(queries_path.relative_to(PROJECT_ROOT)),
                    "index_seconds": round(indexed, 1),
                    "seconds": round(time.perf_counter() - set_started, 1),
                }
                print(
                    f"  {name}: {len(listings)} products, {len(queries)} queries, {details[name]['seconds']} s"
                )
            if index_name == "korean-mall":
                exact["exact_names"] = exact_name_check(runners["search_service"], listings)
                exact["exact_names_respaced"] = exact_name_check(
                    runners["search_service"], listings, respace=True
                )
        finally:
            index.close()
    return {
        "sets": sets,
        "per_kind": per_kind,
        "nomatch_empty_rate": nomatch,
        "unit_price_order": orders,
        **exact,
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
            "one in-memory index per catalog (OA-Mine train titles / Korean demo), built once and shared by "
            "its query sets; cross-language runs on a mixed index of both catalogs",
            "oa-mine-derived-en queries and grades are DERIVED from OA-Mine train gold attributes "
            "(data/oa-mine-queries/README.md), not hand-judged; korean-mall, oa-mine-hard-en and "
            "cross-language queries are hand-graded",
            "the guardrail is the offline word list; the query classifier uses e5 few-shot examples",
            f"metrics from the first {EVAL_DEPTH} results; relevant = grade >= 1; nDCG gain 2^grade - 1; "
            "queries without a relevant judgement (nomatch) only count in the zero-result rate",
            f"unit_price_order: first {ORDER_DEPTH} results graded >= {ORDER_MIN_GRADE} with a gold unit "
            "price (gold net_content x pack_count); value = price per g or ml non-decreasing, bulk = total "
            "content non-increasing; 1 = ordered, else share of correctly ordered pairs",
            "exact_names: every korean-mall title searched through the full service; first = own product at "
            "rank 1; exact_names_respaced writes ' x ' as 'x'",
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


def _cell(value: Any) -> str:
    return f"{value:>9.3f}" if isinstance(value, float | int) else f"{'-':>9}"


def print_per_kind_table(report: dict[str, Any], methods: Sequence[str] = PER_KIND_TABLE_METHODS) -> None:
    """Per set and kind: nDCG@10, MRR, recall@50 and zero-result rate of `methods`, plus the nomatch empty
    rate, unit-price order and exact-name checks."""
    columns = ("ndcg@10", "mrr", "recall@50", "zero_result_rate")
    short = ("ndcg", "mrr", "rec50", "zero")
    for name, kinds in report.get("per_kind", {}).items():
        print(f"\n{name} per kind")
        header = "".join(f"{method[:6]}:{label:<5}".rjust(9) for method in methods for label in short)
        print(f"  {'kind':<18}{'n':>4}" + header)
        for kind, by_method in kinds.items():
            count = next(iter(by_method.values()))["queries"]
            cells = "".join(_cell(by_method[method][column]) for method in methods for column in columns)
            print(f"  {kind:<18}{count:>4}" + cells)
        if name in report.get("nomatch_empty_rate", {}):
            rates = report["nomatch_empty_rate"][name]
            print("  nomatch_empty_rate: " + ", ".join(f"{m} {rates[m]:.3f}" for m in methods))
        for sort, by_method in report.get("unit_price_order", {}).get(name, {}).items():
            cells = ", ".join(
                f"{m} {_cell(by_method[m]['score']).strip()} ({by_method[m]['queries']} scored)"
                for m in methods
            )
            print(f"  unit_price_order[{sort}]: {cells}")
    for key in ("exact_names", "exact_names_respaced"):
        if key in report:
            print(
                f"\n{key}: {report[key]['first']} / {report[key]['titles']} titles find their product first"
            )


def cmd_eval_search(args: argparse.Namespace) -> int:
    report = run_search_eval(Path(args.state_dir))
    print_relevance_table(report["sets"])
    print_per_kind_table(report)
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
