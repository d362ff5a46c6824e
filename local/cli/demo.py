"""`cataloop demo`: the main job end to end on a fresh local cloud.

1. OA-Mine train products enter as ProductCreated events (the real rule, state machine, handlers and the
   offline baseline); per tenth of the replay it prints the disagreement, supervisor and human-review
   rates, the agreed-path precision and F1 against the gold attributes, the modelled cost and the learnings
   per prompt: the north star falling as learnings accumulate.
2. The Korean mall catalog enters the same way (its learnings land in the two-level category tree) and is
   indexed through the Products stream.
3. A feedback round: seller disputes and customer reviews and returns drawn from the differences between each
   product's extraction and its gold (some true, some false on purpose, some irrelevant).
4. Example searches through the search service (Korean and English, every path); then OA-Mine test.jsonl
   scored without learnings and with the knowledge base the demo built, learning frozen.
Every number comes from what the cloud recorded (executions, tables, the index), not from the demo.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from cataloop_local.cli.common import PROJECT_ROOT, local_cloud, printable, write_json
from cataloop_local.emulator.state import LocalState, StateLocked

OA_MINE_TRAIN = PROJECT_ROOT / "data" / "oa-mine" / "train.jsonl"
# The public benchmark, scored (never replayed) at the end.
OA_MINE_TEST = PROJECT_ROOT / "data" / "oa-mine" / "test.jsonl"
KOREAN_CATALOG = PROJECT_ROOT / "data" / "korean-mall" / "products.jsonl"
DEFAULT_PRODUCTS = 200
DEFAULT_KOREAN = 120
EXAMPLE_SEARCHES = [
    (
        "exact product name (spaced differently: that product alone; its siblings from page 2)",
        {"q": "야쿠르트 라이트 65mlx10개"},
    ),
    ("keyword", {"q": "유산균"}),
    ("chosung (initial consonants)", {"q": "ㅇㅋㄹㅌ"}),
    ("chosung of two words run together", {"q": "ㄸㅁㄴㅇㄱㄹㅌ"}),
    ("Korean typed on an English keyboard", {"q": "diznfmxm"}),
    ("Hangul typo (one jamo off)", {"q": "야구르트"}),
    ("compound written with a space", {"q": "그릭 요거트"}),
    ("natural language", {"q": "다이어트에 좋은 것들"}),
    ("value intent: price per ml, g or piece", {"q": "가성비 유산균"}),
    ("bulk intent: largest total content", {"q": "대용량 요구르트"}),
    ("English words, Korean products", {"q": "greek yogurt"}),
    ("something the catalog does not sell: no results", {"q": "노트북 충전기"}),
    ("Korean word, English products", {"q": "커피"}),
    ("food intent (drink above goods)", {"q": "야쿠르트"}),
    ("goods intent", {"q": "야쿠르트 키링"}),
    ("English", {"q": "dark roast coffee"}),
    ("personal data is refused or masked", {"q": "010-1234-5678 유산균"}),
]


def _print_slices(slices: list[Any]) -> None:
    print("\nNorth star: the disagreement rate over the replay (each row is a tenth, in arrival order)")
    print(
        f"  {'tenth':>5} {'products':>8} {'disagree':>8} {'supervisor':>10} {'review':>7} {'agreed P':>8} "
        f"{'F1':>6} {'cost/product':>12} {'learnings/prompt':>16}"
    )
    for number, report in enumerate(slices, start=1):
        agreed = "n/a" if report.agreed_precision is None else f"{report.agreed_precision:.3f}"
        print(
            f"  {number:>5} {report.products:>8} {report.disagreement_rate:>8.2f} {report.supervisor_rate:>10.2f} "
            f"{report.human_review_rate:>7.2f} {agreed:>8} {report.f1 or 0:>6.3f} "
            f"{report.modelled_cost_per_product:>12.5f} {report.learnings_injected_per_product:>16.1f}"
        )
    print(
        "  agreed P: precision against gold of the values stored without the supervisor (AGREE products);\n"
        "  F1: every stored value against gold; cost: modelled USD per product (estimated tokens x role prices)."
    )


def _precision(value: float | None) -> str:
    return "n/a (no agreed product)" if value is None else f"{value:.3f}"


def _test_with_and_without(cloud: Any) -> dict[str, Any]:
    """Score OA-Mine test.jsonl with the knowledge base the demo built (frozen) and with none."""
    from cataloop import wiring
    from cataloop.domain.enrichment.consensus import ConsensusSettings
    from cataloop.services.pipeline import EnrichmentPipeline, tree_retriever
    from cataloop.settings import settings
    from cataloop_eval.extraction import read_oa_mine
    from cataloop_eval.learning import Labelled, knowledge_shape, run_labelled, summarise

    config = settings()
    store = wiring.knowledge_store(config)
    model = wiring.model_client(config)
    consensus = ConsensusSettings(audit_fraction=config.audit_sample_rate)
    test = [Labelled(r.listing(), r.gold) for r in read_oa_mine(OA_MINE_TEST)]

    def run(retrieve: Any) -> dict[str, Any]:
        pipeline = EnrichmentPipeline(model=model, retrieve=retrieve, knowledge=None, consensus=consensus)
        return summarise(run_labelled(pipeline, test))

    without = run(None)
    with_kb = run(tree_retriever(store, config.learning_token_budget))
    return {"products": len(test), "without": without, "with": with_kb, "knowledge": knowledge_shape(store)}


def _print_test(result: dict[str, Any]) -> None:
    without, with_kb = result["without"], result["with"]

    def fmt(value: Any) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    print(f"\nOA-Mine test.jsonl ({result['products']} products never replayed), learning frozen:")
    print(f"  {'':<28} {'no learnings':>12} {'knowledge base':>14}")
    for label, key in (
        ("F1", "f1"),
        ("disagreement", "disagreement_rate"),
        ("supervisor rate", "supervisor_rate"),
        ("agreed-path precision", "agreed_path_precision"),
        ("supervisor's own F1", "supervisor_f1"),
        ("learnings per prompt", "learnings_injected_per_product"),
    ):
        print(f"  {label:<28} {fmt(without[key]):>12} {fmt(with_kb[key]):>14}")
    shape = result["knowledge"]
    print(
        f"  knowledge tree: {shape['nodes']} nodes (by depth {shape['nodes_by_depth']}), learnings "
        f"{shape['learnings_by_status']}; active learnings by depth {shape['active_by_depth']}"
    )


def _korean_summary(results: list[Any], listings: list[dict[str, Any]]) -> dict[str, Any]:
    """What the Korean half of the catalog did, by half of its arrival, and the two-level tree it grew."""
    from cataloop import wiring
    from cataloop.settings import settings
    from cataloop_eval.learning import knowledge_shape

    halves = [results[: len(results) // 2], results[len(results) // 2 :]]
    rates = [sum(r.decision == "DISAGREE" for r in half) / len(half) if half else 0.0 for half in halves]
    store = wiring.knowledge_store(settings())
    tops = {listing["category_path"][0] for listing in listings if listing.get("category_path")}
    korean_learnings = [
        item
        for page in store.scan_learnings()
        for item in page
        if item.live and item.scope_path and item.scope_path[0] in tops
    ]
    by_depth: dict[str, int] = {}
    for item in korean_learnings:
        by_depth[str(len(item.scope_path))] = by_depth.get(str(len(item.scope_path)), 0) + 1
    summary = {
        "products": len(results),
        "disagreement_rate_by_half": [round(rate, 3) for rate in rates],
        "learnings": len(korean_learnings),
        "learnings_by_depth": by_depth,
        "knowledge": knowledge_shape(store),
    }
    print(
        f"  Korean catalog: {len(results)} products; disagreement {rates[0]:.2f} in the first half -> "
        f"{rates[1]:.2f} in the second; {len(korean_learnings)} live Korean learnings by depth {by_depth} "
        "(1 = top category, 2 = subcategory; `cataloop kb tree` shows them)"
    )
    return summary


def _searches(cloud: Any) -> list[dict[str, Any]]:
    from cataloop import wiring
    from cataloop.errors import InvalidInput
    from cataloop.settings import settings

    service = wiring.search_service(settings())
    shown = []
    print("\nExample searches (GET /search through the search service; the AI comment is a separate call)")
    for label, params in EXAMPLE_SEARCHES:
        try:
            response = service.search({**params, "size": 3})
        except InvalidInput as error:
            print(f"\n  [{label}] {printable(repr(params['q']))}: refused with 400 — {printable(error)}")
            shown.append({"label": label, "query": params["q"], "refused": str(error)})
            continue
        plan = response.plan
        path = "exact-name fast path" if plan.exact_match else f"{plan.mode} search"
        understood = plan.classification
        detail = ""
        if understood is not None:
            detail = f"; {understood.kind}, sort={understood.sort_intent}, food={understood.food_intent}"
        variants = printable(", ".join(f"{v.kind}->{v.text}" for v in plan.variants))
        print(
            f"\n  [{label}] {printable(repr(params['q']))}: {path}{detail}{'; variants ' + variants if variants else ''}"
            f"{'; guardrail ' + plan.guardrail.action if plan.guardrail.action != 'none' else ''}"
        )
        if plan.fallback:
            print(f"     {printable(plan.fallback)}")
        if not response.results:
            print("     no results")
        for result in response.results:
            price = f"{result.price:,.0f}" if result.price is not None else "-"
            if plan.sort in ("value", "bulk") and result.unit is not None:
                # What the sort reads: the price per unit, or the content in all.
                per_unit = f"{result.unit_price:,.1f}/{result.unit}" if result.unit_price is not None else "-"
                total = (
                    f"{result.total_content:,.0f} {result.unit}" if result.total_content is not None else "-"
                )
                price = f"{price} ({per_unit if plan.sort == 'value' else total})"
            food = {True: "food", False: "goods", None: "?"}[result.is_food]
            print(f"     {result.position}. {printable(result.name[:60]):<60} {price:>9}  {food}")
        comment = service.comment(response.comment_token) if response.comment_token else None
        if comment is not None:
            text = comment.text if len(comment.text) <= 160 else comment.text[:159] + "…"
            print(f"     AI comment ({comment.source}): {printable(text)}")
        shown.append(
            {
                "label": label,
                "query": params["q"],
                "path": path,
                "total": response.total,
                "results": [r.id for r in response.results],
                "comment": comment.text if comment is not None else None,
            }
        )
    return shown


def run_demo(args: argparse.Namespace) -> int:
    from cataloop_eval.extraction import read_oa_mine
    from cataloop_eval.korean_catalog import korean_listings
    from cataloop_eval.replay import interleave_by_category, read_result, replay, submit
    from cataloop_local.cli.feedback_round import catalog_gold, print_round, run_feedback_round

    state_dir: Path = args.state_dir
    # The demo starts from an empty cloud (the e5 vector cache stays: content-addressed, so every run reuses
    # the vectors of the same texts); its results stay for later commands.
    try:
        LocalState(state_dir).clear("cataloop demo")
    except StateLocked as error:
        raise SystemExit(f"error: {error}") from error
    started = time.perf_counter()
    size = DEFAULT_PRODUCTS if args.products is None else args.products  # 0 replays none
    records = interleave_by_category(read_oa_mine(OA_MINE_TRAIN))[:size]
    korean = korean_listings(args.korean if args.korean is not None else DEFAULT_KOREAN)
    with local_cloud(state_dir, holder="cataloop demo") as cloud:
        # Progress bars only on a terminal (disable=None): a log file gets the summaries alone.
        with tqdm(total=len(records), desc="1/4 OA-Mine ProductCreated", unit="product", disable=None) as bar:
            results, slices = replay(cloud, records, on_product=bar.update)
        _print_slices(slices)

        failed_arns = [r.execution_arn for r in results if not r.succeeded and r.execution_arn]
        failures = 0
        korean_results = []
        for listing in tqdm(korean, desc="2/4 Korean catalog ProductCreated", unit="product", disable=None):
            arn = submit(cloud, listing)
            korean_results.append(read_result(cloud, listing["product_id"], arn))
            if cloud.describe_execution(arn)["status"] != "SUCCEEDED":
                failures += 1
                failed_arns.append(arn)
        korean_summary = _korean_summary(korean_results, korean)
        failed_executions = []
        for arn in failed_arns:
            detail = cloud.describe_execution(arn)
            failed_executions.append(
                {"execution": arn, "error": detail.get("error"), "cause": (detail.get("cause") or "")[:500]}
            )
            print(
                f"  FAILED {arn.rsplit(':', 1)[-1]}: {printable(detail.get('error'))}: "
                f"{printable((detail.get('cause') or '')[:300])}"
            )
        indexed = cloud.pump_streams()

        print(
            "\n3/4 Feedback round (seller disputes, customer reviews and returns, from the gold differences)"
        )
        gold: dict[str, Any] = {record.listing().product_id: record.gold for record in records}
        gold.update(catalog_gold(KOREAN_CATALOG, [listing["product_id"] for listing in korean]))
        feedback = run_feedback_round(cloud, gold)
        print_round(feedback)

        print("\n4/4 Search")
        with cloud.as_function("ApiFunction"):  # its settings: the search log goes to the stack's bucket
            searches = _searches(cloud)
        test_scores = _test_with_and_without(cloud) if OA_MINE_TEST.exists() else None
        if test_scores is not None:
            _print_test(test_scores)

    summary = {
        "replay": {
            "products": len(results),
            "failed_executions": sum(not r.succeeded for r in results),
            "slices": [s.as_dict() for s in slices],
        },
        "korean_catalog": {**korean_summary, "failed_executions": failures},
        "stream_records_delivered_after_catalog": indexed,
        "failed_executions": failed_executions,
        "feedback": feedback,
        "searches": searches,
        "test": test_scores,
        "seconds": round(time.perf_counter() - started, 1),
        "state_dir": str(state_dir),
    }
    if slices:
        first, last = slices[0], slices[-1]
        print(
            f"\nDisagreement rate {first.disagreement_rate:.2f} in the first tenth -> "
            f"{last.disagreement_rate:.2f} in the last; agreed-path precision "
            f"{_precision(first.agreed_precision)} -> {_precision(last.agreed_precision)}."
        )
    else:
        print("\nNo OA-Mine product was replayed (--products 0): no disagreement trend to show.")
    print(
        f"Took {summary['seconds']} s. State kept in {state_dir}: try `cataloop search 유산균`, "
        "`cataloop kb tree`, `cataloop serve`."
    )
    write_json(getattr(args, "json", None), summary)
    failed = summary["replay"]["failed_executions"] + failures
    return 0 if failed == 0 else 1
