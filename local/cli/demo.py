"""`cataloop demo`: the main job end to end on a fresh local cloud.

1. OA-Mine train products enter as ProductCreated events (the real rule, state machine, handlers and the
   offline baseline); per tenth of the replay it prints the disagreement, supervisor and human-review
   rates and P/R/F1 against the gold attributes — the north star falling as learnings accumulate.
2. The Korean mall catalog enters the same way and is indexed through the Products stream.
3. A feedback round: seller disputes and customer returns against enriched products.
4. Example searches through the search service (Korean and English, every path).
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
DEFAULT_PRODUCTS = 200
DEFAULT_KOREAN = 120
EXAMPLE_SEARCHES = [
    ("exact product name", {"q": "야쿠르트 라이트 65ml x 5개"}),
    ("keyword", {"q": "유산균"}),
    ("chosung (initial consonants)", {"q": "ㅇㅋㄹㅌ"}),
    ("Korean typed on an English keyboard", {"q": "diznfmxm"}),
    ("natural language", {"q": "다이어트에 좋은 것들"}),
    ("sort intent", {"q": "저렴한 유산균"}),
    ("food intent (drink above goods)", {"q": "야쿠르트"}),
    ("goods intent", {"q": "야쿠르트 키링"}),
    ("English", {"q": "dark roast coffee"}),
    ("personal data is refused or masked", {"q": "010-1234-5678 유산균"}),
]


def _print_slices(slices: list[Any]) -> None:
    print("\nNorth star: the disagreement rate over the replay (each row is a tenth, in arrival order)")
    print(
        f"  {'slice':>5} {'products':>8} {'disagree':>8} {'supervisor':>10} {'review':>7} {'P':>6} {'R':>6} {'F1':>6} {'learnings/prompt':>16}"
    )
    for number, report in enumerate(slices, start=1):
        print(
            f"  {number:>5} {report.products:>8} {report.disagreement_rate:>8.2f} {report.supervisor_rate:>10.2f} "
            f"{report.human_review_rate:>7.2f} {report.precision or 0:>6.3f} {report.recall or 0:>6.3f} "
            f"{report.f1 or 0:>6.3f} {report.learnings_injected_per_product:>16.1f}"
        )


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
        for result in response.results:
            price = f"{result.price:,.0f}" if result.price is not None else "-"
            food = {True: "food", False: "goods", None: "?"}[result.is_food]
            print(f"     {result.position}. {printable(result.name[:60]):<60} {price:>9}  {food}")
        comment = service.comment(response.comment_token) if response.comment_token else None
        if comment is not None:
            print(f"     AI comment ({comment.source}): {printable(comment.text[:160])}")
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
    from cataloop_eval.replay import interleave_by_category, replay, submit
    from cataloop_local.cli.feedback_round import run_feedback_round

    state_dir: Path = args.state_dir
    try:  # the demo starts from an empty cloud; its results stay for later commands
        LocalState(state_dir).clear("cataloop demo")
    except StateLocked as error:
        raise SystemExit(f"error: {error}") from error
    started = time.perf_counter()
    records = interleave_by_category(read_oa_mine(OA_MINE_TRAIN))[: args.products or DEFAULT_PRODUCTS]
    korean = korean_listings(args.korean if args.korean is not None else DEFAULT_KOREAN)
    with local_cloud(state_dir, holder="cataloop demo") as cloud:
        with tqdm(total=len(records), desc="1/4 OA-Mine ProductCreated", unit="product") as bar:
            results, slices = replay(cloud, records, on_product=bar.update)
        _print_slices(slices)

        failed_arns = [r.execution_arn for r in results if not r.succeeded and r.execution_arn]
        failures = 0
        for listing in tqdm(korean, desc="2/4 Korean catalog ProductCreated", unit="product"):
            arn = submit(cloud, listing)
            if cloud.describe_execution(arn)["status"] != "SUCCEEDED":
                failures += 1
                failed_arns.append(arn)
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

        print("\n3/4 Feedback round (seller disputes, customer returns)")
        feedback = run_feedback_round(cloud, [r.product_id for r in results[:40]])
        for channel, counts in feedback["by_channel"].items():
            print(
                f"  {channel:<18} "
                + ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in counts.items())
            )
        print(
            f"  live feedback learnings in the knowledge base: {feedback['feedback_learnings_in_knowledge_base']}"
        )

        print("\n4/4 Search")
        searches = _searches(cloud)

    summary = {
        "replay": {
            "products": len(results),
            "failed_executions": sum(not r.succeeded for r in results),
            "slices": [s.as_dict() for s in slices],
        },
        "korean_catalog": {"products": len(korean), "failed_executions": failures},
        "stream_records_delivered_after_catalog": indexed,
        "failed_executions": failed_executions,
        "feedback": feedback,
        "searches": searches,
        "seconds": round(time.perf_counter() - started, 1),
        "state_dir": str(state_dir),
    }
    first, last = slices[0], slices[-1]
    print(
        f"\nDisagreement rate {first.disagreement_rate:.2f} in the first tenth -> {last.disagreement_rate:.2f} in the last; "
        f"F1 {first.f1 or 0:.3f} -> {last.f1 or 0:.3f}."
    )
    print(
        f"Took {summary['seconds']} s. State kept in {state_dir}: try `cataloop search 유산균`, "
        "`cataloop kb tree`, `cataloop serve`."
    )
    write_json(getattr(args, "json", None), summary)
    failed = summary["replay"]["failed_executions"] + failures
    return 0 if failed == 0 else 1
