"""Knowledge reads per product against the size of the tree (issue 15, item 1).

Replays OA-Mine train products (round-robin over categories) through `EnrichmentPipeline` with the offline
model client, learning on, over `DynamoKnowledgeStore` on moto (the table as template.yaml defines it, with
its `ActiveLearnings` index). At each checkpoint it records, over the last `--window` products: items read
per product (Query ScannedCount + GetItem + BatchGetItem, the store's `items_read`), of those the items
retrieval for the prompt read (the prompt sets along the path), what retrieval would have read through the
`ActiveLearnings` index (the layout before the prompt sets) and from whole node partitions (the layout before
the index), both counted on the side, untimed, and milliseconds per product; plus the learnings stored (any
status) and active.

    python -m bench.knowledge_reads                      # 100 and 300 products (about a minute)
    python -m bench.knowledge_reads --products 100,300,1000
"""

from __future__ import annotations

import argparse
import copy
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TRAIN = ROOT / "data" / "oa-mine" / "train.jsonl"
RESULT = "knowledge_reads"
TABLE = "bench-knowledge"


def _table(client: Any) -> None:
    from cataloop_local.emulator.cfn import load_template

    properties = copy.deepcopy(
        load_template(ROOT / "template.yaml")["Resources"]["KnowledgeTable"]["Properties"]
    )
    client.create_table(
        TableName=TABLE,
        BillingMode=properties["BillingMode"],
        AttributeDefinitions=properties["AttributeDefinitions"],
        KeySchema=properties["KeySchema"],
        GlobalSecondaryIndexes=properties["GlobalSecondaryIndexes"],
    )


def _shape(store: Any) -> tuple[int, int]:
    learnings = [item for page in store.scan_learnings() for item in page]
    return len(learnings), sum(item.live and item.status.value == "active" for item in learnings)


def replay(checkpoints: Sequence[int], window: int) -> list[dict[str, Any]]:
    import boto3
    from moto import mock_aws

    from cataloop.adapters.dynamodb_knowledge import DynamoKnowledgeStore
    from cataloop.adapters.offline.client import OfflineModelClient
    from cataloop.services.knowledge_base import retrieve_for_prompt
    from cataloop.services.pipeline import EnrichmentPipeline
    from cataloop_eval.extraction import read_oa_mine
    from cataloop_eval.learning import Labelled, interleave
    from cataloop_local.emulator import moto_patches

    moto_patches.light_transaction_backups()
    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        os.environ.setdefault(name, value)
    items = interleave([Labelled(record.listing(), record.gold) for record in read_oa_mine(TRAIN)])
    total = max(checkpoints)
    points: list[dict[str, Any]] = []
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        _table(client)
        store = DynamoKnowledgeStore(client, TABLE)
        retrieval_reads: list[tuple[int, float]] = []  # (items, read units)

        def retrieve(category_path: Sequence[str], text: str) -> Any:
            before, units = store.items_read, store.read_units
            views = retrieve_for_prompt(store, list(category_path), text)
            retrieval_reads.append((store.items_read - before, store.read_units - units))
            return views

        pipeline = EnrichmentPipeline(
            model=OfflineModelClient(reference_path=str(TRAIN)), retrieve=retrieve, knowledge=store
        )
        # (read, retrieval, index, partition, ms, read units, retrieval units, index units)
        rows: list[tuple[int, int, int, int, float, float, float, float]] = []
        for number in range(1, total + 1):
            listing = items[(number - 1) % len(items)].listing
            before, units = store.items_read, store.read_units
            started = time.perf_counter()
            pipeline.run(listing, execution_id=f"bench-{number}")
            elapsed = (time.perf_counter() - started) * 1000
            read, read_units = store.items_read - before, store.read_units - units
            # what retrieval read before the prompt sets (the index) and before the index (whole node
            # partitions along the path): untimed, uncounted
            counted, counted_units = store.items_read, store.read_units
            store.active_learnings_along(listing.category_path)
            index_reads, index_units = store.items_read - counted, store.read_units - counted_units
            store.learnings_along(listing.category_path)
            partition_reads = store.items_read - counted - index_reads
            store.items_read, store.read_units = counted, counted_units
            retrieval, retrieval_units = retrieval_reads[-1] if retrieval_reads else (0, 0.0)
            rows.append(
                (
                    read,
                    retrieval,
                    index_reads,
                    partition_reads,
                    elapsed,
                    read_units,
                    retrieval_units,
                    index_units,
                )
            )
            if number in checkpoints:
                last = rows[-window:]
                learnings, active = _shape(store)
                points.append(
                    {
                        "replayed": number,
                        "learnings": learnings,
                        "active_learnings": active,
                        "items_read_per_product": round(sum(row[0] for row in last) / len(last), 2),
                        "retrieval_items_read_per_product": round(sum(row[1] for row in last) / len(last), 2),
                        "retrieval_items_read_by_index_per_product": round(
                            sum(row[2] for row in last) / len(last), 2
                        ),
                        "retrieval_items_read_by_partition_per_product": round(
                            sum(row[3] for row in last) / len(last), 2
                        ),
                        "read_units_per_product": round(sum(row[5] for row in last) / len(last), 2),
                        "retrieval_read_units_per_product": round(sum(row[6] for row in last) / len(last), 2),
                        "retrieval_read_units_by_index_per_product": round(
                            sum(row[7] for row in last) / len(last), 2
                        ),
                        "ms_per_product": round(sum(row[4] for row in last) / len(last), 2),
                        "window": len(last),
                    }
                )
                print(points[-1], flush=True)
    return points


def main(argv: Sequence[str] | None = None) -> None:
    from bench.common import write_result

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", default="100,300", help="checkpoints, comma-separated (max: replayed)")
    parser.add_argument("--window", type=int, default=50, help="products averaged before each checkpoint")
    args = parser.parse_args(argv)
    checkpoints = sorted({int(value) for value in args.products.split(",") if value.strip()})
    points = replay(checkpoints, args.window)
    write_result(
        RESULT,
        {
            "points": points,
            "how": (
                "OA-Mine train products round-robin over categories through EnrichmentPipeline "
                "(OfflineModelClient with the train set as reference, learning on, deploy_and_learn) over "
                "DynamoKnowledgeStore on moto with template.yaml's KnowledgeTable (ActiveLearnings sparse GSI). "
                "Per point, averages over the last `window` products before `replayed`: items_read = the "
                "store's items_read (Query ScannedCount + GetItem + BatchGetItem items: retrieval, placement, "
                "outcomes, and the prompt set each commit rewrites); retrieval_items_read = what "
                "retrieve_for_prompt read (prompt_candidates_along: one prompt set item per node on the path); "
                "retrieval_items_read_by_index = what it read before the prompt sets (active_learnings_along on "
                "the index) and retrieval_items_read_by_partition = before the index (learnings_along: whole "
                "node partitions), both measured on the side and excluded from time and items_read; "
                "read_units = the store's estimate of the read capacity units of the same reads (item sizes "
                "rounded up to 4 KB per item or Query page, at least one unit, halved for eventually "
                "consistent reads), for all reads, retrieval, and retrieval through the index; "
                "ms_per_product = "
                "wall time of pipeline.run, moto included. learnings = learning items stored (any status), "
                "active_learnings = the ones retrieval may use. `python -m bench.knowledge_reads --products "
                "100,300,1000`."
            ),
        },
    )


if __name__ == "__main__":
    main()
