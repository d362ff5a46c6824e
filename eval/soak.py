"""Soak: many products through the local cloud from concurrent producers; nothing may fail or get lost.

`run_soak(products, producers)` starts a fresh local cloud, then `producers` threads put ProductCreated
events for distinct OA-Mine train products (each thread its share, one event per PutEvents call, as sellers
would). The local cloud runs each execution inside PutEvents, so the producers' executions interleave on
threads: the Parallel branches, tasks and boto3 calls of several executions run at once, which is what the
per-function environment race (KeyError('STAGE') -> States.Runtime) needed.

Every figure is read back from the cloud: execution statuses from Step Functions (with the error and cause
of each failure), and from the Products table whether each sent product was persisted exactly once
(stored version 2: version 1 is the PENDING item PrepareContext writes, Persist writes version 2; a second
enrichment write would make it 3) and is no longer PENDING. `lost` counts sent products that are absent
from the table or still PENDING.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from cataloop.adapters.dynamodb_codec import from_item
from cataloop.wiring import aws_client
from cataloop_eval.extraction import read_oa_mine
from cataloop_eval.replay import submit
from cataloop_eval.reports import PROJECT_ROOT
from cataloop_local.emulator.cloud import LocalCloud

TRAIN = PROJECT_ROOT / "data" / "oa-mine" / "train.jsonl"
STATE_MACHINE = "EnrichProductStateMachine"


def soak_listings(count: int) -> list[dict[str, Any]]:
    """`count` distinct OA-Mine train listings (the file holds 1,452; ids are made unique per title)."""
    listings: dict[str, dict[str, Any]] = {}
    for record in read_oa_mine(TRAIN):
        listing = record.listing().model_dump(mode="json")
        listings.setdefault(listing["product_id"], listing)
        if len(listings) == count:
            break
    if len(listings) < count:
        raise ValueError(f"{TRAIN} has {len(listings)} distinct products; asked for {count}")
    return list(listings.values())


def run_soak(products: int = 500, producers: int = 4, state_dir: Path | None = None) -> dict[str, Any]:
    listings = soak_listings(products)
    shares = [listings[index::producers] for index in range(producers)]
    errors: list[str] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cataloop-soak-") as scratch:
        cloud = LocalCloud(PROJECT_ROOT / "template.yaml", state_dir=state_dir or Path(scratch)).start()
        try:

            def produce(share: list[dict[str, Any]]) -> None:
                for listing in share:
                    try:
                        submit(cloud, listing)
                    except Exception as error:  # a producer records what went wrong and goes on
                        errors.append(f"{listing['product_id']}: {type(error).__name__}: {error}")

            threads = [threading.Thread(target=produce, args=(share,)) for share in shares]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - started
            cloud.pump_streams()
            report = _read_back(cloud, listings)
        finally:
            cloud.stop(save=False)
    return {
        **report,
        "producers": producers,
        "producer_errors": errors[:20],
        "seconds": round(elapsed, 1),
        "products_per_second": round(products / elapsed, 2) if elapsed else None,
        "how": f"{products} distinct OA-Mine train products, {producers} producer threads putting one "
        "ProductCreated each per PutEvents call on one local cloud (offline models, embedded search); "
        "statuses from Step Functions, persistence from the Products table",
    }


def _read_back(cloud: LocalCloud, listings: list[dict[str, Any]]) -> dict[str, Any]:
    statuses: Counter[str] = Counter()
    failures: list[dict[str, Any]] = []
    for execution in cloud.executions(STATE_MACHINE):
        statuses[execution["status"]] += 1
        if execution["status"] != "SUCCEEDED":
            detail = cloud.describe_execution(execution["executionArn"])
            failures.append(
                {
                    "name": execution["name"],
                    "error": detail.get("error"),
                    "cause": str(detail.get("cause"))[:300],
                }
            )
    table = cloud.table_names()["ProductsTable"]
    client = aws_client("dynamodb", "us-east-1")
    persisted_once = 0
    lost: list[str] = []
    versions: Counter[int] = Counter()
    for listing in listings:
        item = client.get_item(
            TableName=table, Key={"product_id": {"S": listing["product_id"]}}, ConsistentRead=True
        ).get("Item")
        stored = from_item(item) if item else None
        if stored is None or stored["status"] == "PENDING":
            lost.append(listing["product_id"])
            continue
        versions[int(stored["version"])] += 1
        persisted_once += int(stored["version"]) == 2
    return {
        "sent": len(listings),
        "succeeded": statuses.get("SUCCEEDED", 0),
        "failed": sum(count for status, count in statuses.items() if status != "SUCCEEDED"),
        "persisted_once": persisted_once,
        "lost": len(lost),
        "lost_products": lost[:20],
        "executions_by_status": dict(statuses),
        "stored_versions": {str(version): count for version, count in sorted(versions.items())},
        "failures": failures[:20],
    }
