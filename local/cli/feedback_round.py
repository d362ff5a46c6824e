"""A round of seller and customer feedback for the demo: signals go onto the bus as real events would.

`run_feedback_round(cloud, products)` reads the given products back from the Products table and files, per
product, what a seller or customer would plausibly send: a seller dispute when the extracted pack count
differs from the 'Pack of N' the listing itself states, a "size runs small" return against an extracted size,
and a late-delivery return (irrelevant on purpose). The summary is computed from what the cloud recorded
(LearnFromFeedback executions and the Knowledge table), not from this module's own bookkeeping.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import boto3

from cataloop_local.emulator.cloud import LocalCloud
from cataloop_local.emulator.resources import REGION

STATE_MACHINE = "LearnFromFeedbackStateMachine"
FEEDBACK_CHANNELS = ("seller_feedback", "customer_feedback")


def _product_id(product: str | Mapping[str, Any]) -> str:
    return product if isinstance(product, str) else str(product["product_id"])


def _signals_for(stored: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The feedback entries (PutEvents shape) a seller and a customer would send about this product."""
    from cataloop.domain.enrichment.attributes import schema_for
    from cataloop.domain.enrichment.normalisation import normalise_value, parse_pack_count

    listing = stored["listing"]
    product_id = stored["product_id"]
    schema = schema_for(listing["category_path"])
    attributes = (stored.get("enrichment") or {}).get("attributes") or {}
    entries: list[dict[str, Any]] = []
    pack = schema.by_concept("pack_count")
    stated = parse_pack_count(listing["title"])
    if pack is not None and stated is not None and stated.packages:
        extracted = (attributes.get(pack.name) or {}).get("value")
        if extracted is None or normalise_value(extracted, pack.kind) != f"{stated.packages} count":
            entries.append(
                {
                    "Source": "cataloop.seller",
                    "DetailType": "SellerDisputeFiled",
                    "Detail": {
                        "dispute_id": f"D-{product_id}"[:128],
                        "product_id": product_id,
                        "seller_id": listing.get("seller_id", "unknown"),
                        "attribute": pack.name,
                        "claimed_value": str(stated.packages),
                        "evidence": f"The listing title says pack of {stated.packages}.",
                    },
                }
            )
    size = schema.by_concept("size")
    if size is not None and size.name in attributes:
        entries.append(
            {
                "Source": "cataloop.customer",
                "DetailType": "ProductReturned",
                "Detail": {
                    "return_id": f"RS-{product_id}"[:128],
                    "product_id": product_id,
                    "reason_code": "SIZE_TOO_SMALL",
                    "text": "Runs small compared with the size shown.",
                },
            }
        )
    entries.append(
        {
            "Source": "cataloop.customer",
            "DetailType": "ProductReturned",
            "Detail": {
                "return_id": f"RL-{product_id}"[:128],
                "product_id": product_id,
                "reason_code": "LATE_DELIVERY",
                "text": "Arrived a week after the promised date.",
            },
        }
    )
    return entries


def run_feedback_round(
    cloud: LocalCloud, products: Sequence[str | Mapping[str, Any]], max_signals: int = 30
) -> dict[str, Any]:
    """File disputes and returns about already-enriched `products` (ids or listings) and summarise, per
    source channel, the signals received, judged relevant, corrections, and learnings created/downvoted."""
    from cataloop.adapters.dynamodb_codec import from_item

    client = boto3.client("dynamodb", region_name=REGION)
    products_table = cloud.table_names()["ProductsTable"]
    entries: list[dict[str, Any]] = []
    for product in products:
        item = client.get_item(
            TableName=products_table, Key={"product_id": {"S": _product_id(product)}}, ConsistentRead=True
        ).get("Item")
        if item is None:
            continue
        stored = from_item(item)
        if stored.get("enrichment"):
            entries.extend(_signals_for(stored))
    entries = entries[:max_signals]
    before = {execution["executionArn"] for execution in cloud.executions(STATE_MACHINE)}
    for entry in entries:
        cloud.put_events([entry])
    cloud.pump_streams()  # corrected versions reach the search index, as the stream would deliver them
    return _summary(cloud, before)


def _summary(cloud: LocalCloud, before: set[str]) -> dict[str, Any]:
    per_channel: dict[str, Counter[str]] = defaultdict(Counter)
    failures: list[dict[str, Any]] = []
    for execution in cloud.executions(STATE_MACHINE):
        if execution["executionArn"] in before:
            continue
        detail = cloud.describe_execution(execution["executionArn"])
        if detail["status"] != "SUCCEEDED":
            source = json.loads(detail["input"]).get("source", "")
            channel = "seller_feedback" if source == "cataloop.seller" else "customer_feedback"
            per_channel[channel]["signals"] += 1
            per_channel[channel]["failed"] += 1
            failures.append(
                {"name": detail["name"], "error": detail.get("error"), "cause": detail.get("cause")}
            )
            continue
        output = json.loads(detail["output"])
        counts = per_channel[output["channel"]]
        counts["signals"] += 1
        if not output["relevant"]:
            continue
        counts["judged_relevant"] += 1
        outcome = output["outcome"]
        counts["corrections"] += len(outcome["corrected"])
        counts["learnings_created"] += outcome["learnings_created"]
        counts["learnings_downvoted"] += len(outcome["downvoted"])
        counts["sent_to_review"] += int(outcome["needs_review"])
    keys = (
        "signals",
        "judged_relevant",
        "corrections",
        "learnings_created",
        "learnings_downvoted",
        "sent_to_review",
        "failed",
    )
    by_channel = {channel: {key: per_channel[channel][key] for key in keys} for channel in FEEDBACK_CHANNELS}
    totals = {key: sum(by_channel[channel][key] for channel in FEEDBACK_CHANNELS) for key in keys}
    return {
        **totals,
        "by_channel": by_channel,
        "feedback_learnings_in_knowledge_base": _feedback_learnings(cloud),
        "failures": failures[:10],
    }


def _feedback_learnings(cloud: LocalCloud) -> dict[str, int]:
    """Live learnings per feedback channel, read from the Knowledge table."""
    from cataloop.adapters.dynamodb_codec import from_item

    client = boto3.client("dynamodb", region_name=REGION)
    table = cloud.table_names()["KnowledgeTable"]
    counts: Counter[str] = Counter()
    for page in client.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            data = from_item(item)
            channel = data.get("source_channel")
            if (
                data.get("entity") == "learning"
                and channel in FEEDBACK_CHANNELS
                and data.get("status") != "retired"
            ):
                counts[str(channel)] += 1
    return {channel: counts[channel] for channel in FEEDBACK_CHANNELS}
