"""`cataloop eval extraction|learning`: the offline baseline's numbers on OA-Mine.

- extraction: the enrichment services over a JSONL in the OA-Mine format, no learnings (the baseline).
- learning: the north star. Replay train.jsonl through the local cloud (learnings written and placed by the
  real workflow), then score test.jsonl with the learned knowledge base and with an empty one, learning
  frozen so test labels never reach the knowledge base. The supervisor's reference set is always
  train.jsonl: test gold is only used for scoring.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from cataloop_local.cli.common import PARAMETER_OVERRIDES, PROJECT_ROOT, write_json

TRAIN = PROJECT_ROOT / "data" / "oa-mine" / "train.jsonl"
SHARED_TEST = PROJECT_ROOT.parent / "shared" / "data" / "oa-mine" / "test.jsonl"
SUMMARY_KEYS = (
    "products",
    "micro",
    "per_attribute",
    "disagreement_rate",
    "supervisor_rate",
    "tokens_per_product",
    "modelled_cost_per_product",
)


def _offline_model() -> Any:
    from cataloop.adapters.offline.client import OfflineModelClient

    return OfflineModelClient(reference_path=TRAIN)


def cmd_eval_extraction(args: argparse.Namespace) -> int:
    from cataloop_eval.extraction import EvalSettings, read_oa_mine, run_pipeline

    records = read_oa_mine(args.dataset)
    started = time.perf_counter()
    baseline = EvalSettings(collect_learnings=False, use_learnings=False)
    outcome = run_pipeline(records, _offline_model(), settings=baseline)
    summary = {key: outcome.summary[key] for key in SUMMARY_KEYS}
    summary.update(
        {
            "dataset": str(args.dataset),
            "human_review_rate": outcome.summary["human_review_rate"],
            "evaluator_approval_rate": outcome.summary["evaluator_approval_rate"],
            "model": "offline deterministic baseline (docs/offline-baseline.md); supervisor reference set: OA-Mine train",
            "seconds": round(time.perf_counter() - started, 1),
        }
    )
    micro = summary["micro"]
    print(f"{summary['products']} products from {args.dataset}")
    print(f"  micro P/R/F1         {micro['precision']:.3f} / {micro['recall']:.3f} / {micro['f1']:.3f}")
    print(f"  disagreement rate    {summary['disagreement_rate']:.3f}")
    print(f"  supervisor rate      {summary['supervisor_rate']:.3f}")
    print(f"  human review rate    {summary['human_review_rate']:.3f}")
    tokens = summary["tokens_per_product"]
    print(f"  tokens per product   {tokens['input']:.0f} in / {tokens['output']:.0f} out (estimated)")
    print(f"  modelled cost        {summary['modelled_cost_per_product']['amount']:.5f} USD per product")
    write_json(args.json, summary)
    return 0


class KnowledgeBaseMemory:
    """Learning retrieval from the knowledge base, frozen (nothing is added), in LearningMemory's shape."""

    def __init__(self, store: Any, budget: int) -> None:
        self._store = store
        self._budget = budget
        self.views: list[Any] = []

    def retrieve(self, category_path: Sequence[str], title: str, limit: int = 30) -> list[Any]:
        from cataloop.services.knowledge_base import retrieve_for_prompt

        return retrieve_for_prompt(self._store, list(category_path), title, budget=self._budget)[:limit]

    def add(self, draft: Any) -> None:
        return None


def _learning_counts(table: str) -> dict[str, Any]:
    import boto3

    from cataloop.adapters.dynamodb_codec import from_item

    client = boto3.client("dynamodb", region_name="us-east-1")
    status: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    channels: Counter[str] = Counter()
    for page in client.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            data = from_item(item)
            if data.get("entity") != "learning":
                continue
            status[data["status"]] += 1
            if data["status"] == "active":
                kinds[data.get("kind", "?")] += 1
                channels[data.get("source_channel", "?")] += 1
    return {
        "active": status["active"],
        "proposed": status["proposed"],
        "retired": status["retired"],
        "by_kind": dict(kinds),
        "by_source_channel": dict(channels),
    }


def cmd_eval_learning(args: argparse.Namespace) -> int:
    from cataloop import wiring
    from cataloop.settings import settings
    from cataloop_eval.extraction import EvalSettings, read_oa_mine, run_pipeline
    from cataloop_eval.replay import interleave_by_category, replay
    from cataloop_local.emulator.cloud import LocalCloud

    train = read_oa_mine(args.train)
    test = read_oa_mine(args.test)
    order = train if args.file_order else interleave_by_category(train)
    if args.limit:
        order = order[: args.limit]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cataloop-eval-") as state:
        cloud = LocalCloud(
            PROJECT_ROOT / "template.yaml",
            state_dir=Path(state),
            parameter_overrides=dict(PARAMETER_OVERRIDES),
        ).start()
        try:
            with tqdm(total=len(order), desc="replay train", unit="product") as bar:
                results, slices = replay(cloud, order, on_product=bar.update)
            replay_seconds = time.perf_counter() - started
            learnings = _learning_counts(cloud.table_names()["KnowledgeTable"])
            config = settings()
            store = wiring.knowledge_store(config)
            model = _offline_model()
            frozen = EvalSettings(collect_learnings=False)
            print("scoring test.jsonl without and with the learned knowledge base ...")
            without = run_pipeline(test, model, settings=frozen.model_copy(update={"use_learnings": False}))
            with_kb = run_pipeline(
                test, model, settings=frozen, memory=KnowledgeBaseMemory(store, config.learning_token_budget)
            )  # type: ignore[arg-type]
        finally:
            cloud.stop(save=False)
    failed = sum(not r.succeeded for r in results)
    report = {
        "replay": {
            "products": len(results),
            "order": "file order"
            if args.file_order
            else "round-robin over categories, file order within each",
            "disagreement_rate_by_slice": [round(s.disagreement_rate, 4) for s in slices],
            "supervisor_rate": round(sum(r.supervised for r in results) / len(results), 4),
            "human_review_rate": round(sum(r.human_review for r in results) / len(results), 4),
            "learnings_injected_per_product_by_slice": [
                round(s.learnings_injected_per_product, 2) for s in slices
            ],
            "failed_executions": failed,
            "seconds": round(replay_seconds, 1),
        },
        "learnings": learnings,
        "test": {
            "products": len(test),
            "f1_without_learnings": round(without.summary["micro"]["f1"], 4),
            "f1_with_learnings": round(with_kb.summary["micro"]["f1"], 4),
            "disagreement_rate_without": round(without.summary["disagreement_rate"], 4),
            "disagreement_rate_with": round(with_kb.summary["disagreement_rate"], 4),
            "supervisor_rate_without": round(without.summary["supervisor_rate"], 4),
            "supervisor_rate_with": round(with_kb.summary["supervisor_rate"], 4),
            "modelled_cost_per_product_without": round(
                without.summary["modelled_cost_per_product"]["amount"], 6
            ),
            "modelled_cost_per_product_with": round(
                with_kb.summary["modelled_cost_per_product"]["amount"], 6
            ),
        },
        "seconds": round(time.perf_counter() - started, 1),
    }
    print("\nReplay (through the local cloud): disagreement rate by tenth of the replay")
    print("  " + "  ".join(f"{rate:.2f}" for rate in report["replay"]["disagreement_rate_by_slice"]))
    print(
        f"  supervisor rate {report['replay']['supervisor_rate']:.3f}, human review rate "
        f"{report['replay']['human_review_rate']:.3f}, failed executions {failed}"
    )
    print(
        f"Knowledge base: {learnings['active']} active, {learnings['proposed']} proposed, {learnings['retired']} retired"
    )
    t = report["test"]
    print(
        f"test.jsonl ({t['products']}): F1 {t['f1_without_learnings']:.3f} -> {t['f1_with_learnings']:.3f}, "
        f"disagreement {t['disagreement_rate_without']:.3f} -> {t['disagreement_rate_with']:.3f}"
    )
    write_json(args.json, report)
    return 0 if failed == 0 else 1


def add_eval_parser(commands: Any) -> None:
    evaluate = commands.add_parser("eval", help="measure the offline baseline on OA-Mine")
    sub = evaluate.add_subparsers(dest="eval_command", required=True)
    extraction = sub.add_parser(
        "extraction", help="extraction P/R/F1, disagreement, tokens and cost on a JSONL"
    )
    extraction.add_argument(
        "--dataset", type=Path, default=SHARED_TEST, help="OA-Mine-format JSONL (default: shared test.jsonl)"
    )
    extraction.add_argument("--json", metavar="PATH")
    extraction.set_defaults(handler=cmd_eval_extraction)
    learning = sub.add_parser(
        "learning", help="replay train through the local cloud, then score test with/without learnings"
    )
    learning.add_argument("--train", type=Path, default=TRAIN)
    learning.add_argument("--test", type=Path, default=SHARED_TEST)
    learning.add_argument("--limit", type=int, default=None, help="replay only the first N train products")
    learning.add_argument(
        "--file-order", action="store_true", help="replay in file order (grouped by category)"
    )
    learning.add_argument("--json", metavar="PATH")
    learning.set_defaults(handler=cmd_eval_learning)

    from cataloop_eval.search import add_search_eval_parser

    add_search_eval_parser(sub)
