"""`cataloop demo`: the main job end to end on a fresh local cloud.

Products from the shipped catalogs enter as ProductCreated events on the bus, exactly as a seller's
would; the rule starts EnrichProduct for each; the Products stream reaches its mapped functions. The
summary is computed from what the cloud recorded (executions, tables, function logs), not from the demo's
own bookkeeping.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
from tqdm import tqdm

from .cli import PROJECT_ROOT, _write_json, local_cloud
from .state import LocalState

OA_MINE_TRAIN = PROJECT_ROOT / "data" / "oa-mine" / "train.jsonl"
DEFAULT_PRODUCTS = 120


def _oa_mine_listings(limit: int) -> list[dict[str, Any]]:
    from cataloop.services.extraction_eval import read_oa_mine

    records = read_oa_mine(OA_MINE_TRAIN)
    # Interleave categories so every slice of the replay sees every category.
    by_category: dict[str, list[Any]] = {}
    for record in records:
        by_category.setdefault(record.category, []).append(record)
    ordered = [r for group in zip(*by_category.values(), strict=False) for r in group]
    return [record.listing().model_dump(mode="json", exclude_none=True) for record in ordered[:limit]]


def product_created(listing: dict[str, Any]) -> dict[str, Any]:
    return {"Source": "cataloop.catalog", "DetailType": "ProductCreated", "Detail": {"product": listing}}


def run_demo(args: argparse.Namespace) -> int:
    state_dir: Path = args.state_dir
    LocalState(state_dir).clear()  # the demo starts from an empty cloud; its results stay for later commands
    limit = args.products or DEFAULT_PRODUCTS
    started = time.perf_counter()
    with local_cloud(state_dir) as cloud:
        listings = _oa_mine_listings(limit)
        for listing in tqdm(listings, desc="ProductCreated", unit="product"):
            cloud.put_events([product_created(listing)])
        delivered = cloud.pump_streams()

        statuses: Counter[str] = Counter()
        failures: list[dict[str, Any]] = []
        for execution in cloud.executions("EnrichProductStateMachine"):
            detail = cloud.describe_execution(execution["executionArn"])
            statuses[detail["status"]] += 1
            if detail["status"] != "SUCCEEDED":
                failures.append(
                    {"name": detail["name"], "error": detail.get("error"), "cause": detail.get("cause")}
                )
        table = cloud.table_names()["ProductsTable"]
        items = boto3.client("dynamodb", region_name="us-east-1").scan(TableName=table)["Items"]
        product_status = Counter(item["status"]["S"] for item in items)

    summary = {
        "products_submitted": len(listings),
        "executions": dict(statuses),
        "products_by_status": dict(product_status),
        "stream_records_delivered": delivered,
        "failures": failures[:10],
        "seconds": round(time.perf_counter() - started, 2),
        "state_dir": str(state_dir),
    }
    print()
    print("Cataloop demo")
    print(f"  products submitted      {summary['products_submitted']}")
    print(f"  executions              {json.dumps(summary['executions'])}")
    print(f"  products by status      {json.dumps(summary['products_by_status'])}")
    print(f"  stream records indexed  {delivered}")
    print(f"  took                    {summary['seconds']} s; state kept in {state_dir}")
    _write_json(getattr(args, "json", None), summary)
    return 0 if not failures else 1
