"""A realistic round of seller and customer feedback for the demo: signals go onto the bus as real events would.

`plan_feedback(products, gold)` derives the signals from the DIFFERENCES between each replayed product's stored
extraction and its gold attributes (deterministically: every choice is a hash of the product id, no random
state):

- a product with a wrong or missing value for an attribute the gold has is reported by its seller for
  SELLER_SHARE (~60%) of such products: one dispute per wrong attribute (at most MAX_DISPUTES), claiming the
  gold value, the evidence quoting where the listing states it when it does;
- by CORROBORATING_REPORTERS distinct customers for CUSTOMER_SHARE (~30%) of them: returns and negative
  reviews naming the attribute and the gold value ('Pack size should be "Pack of 2"'; quantities first, then
  values the page leaves out, as customers notice them), so the corroboration rule (the listing states it, or
  enough independent customers say it) can accept them; the rest go unreported, as in life;
- FALSE claims on purpose for FALSE_SHARE (~15%) of all products, on an attribute extracted right that the
  listing states: a seller disputing a count or quantity with a value the listing contradicts, or a single
  customer claiming a wrong value;
- irrelevant signals (late-delivery returns) for IRRELEVANT_SHARE (~25%) of the products.

`run_feedback_round(cloud, gold)` reads the products back from the Products table, puts the planned events on
the bus one by one (each starts a LearnFromFeedback execution that runs to its end before PutEvents returns),
delivers the streams and summarises per channel. Every number comes from what the cloud recorded - the
executions' outputs, the Products table (the corrections each execution wrote, compared with the gold) and the
Knowledge table before and after the round (learnings created, supported, downvoted, retired, and the
helpful/harmful counters when learnings carry them) - not from this module's own bookkeeping; `planned` only
says what was sent.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import boto3

from cataloop_local.emulator.cloud import LocalCloud
from cataloop_local.emulator.resources import REGION

STATE_MACHINE = "LearnFromFeedbackStateMachine"
FEEDBACK_CHANNELS = ("seller_feedback", "customer_feedback")
SELLER_SHARE = 0.60
CUSTOMER_SHARE = 0.30
FALSE_SHARE = 0.15
IRRELEVANT_SHARE = 0.25
MAX_DISPUTES = 2
DEFAULT_MAX_SIGNALS = 150
COUNTS = (
    "signals",
    "relevant",
    "corrected",
    "corrected_as_gold",
    "rejected",
    "sent_to_review",
    "learnings_created",
    "learnings_supported",
    "learnings_downvoted",
    "learnings_retired",
    "failed",
)

Intent = Literal["true_claim", "false_claim", "irrelevant"]
GoldValues = Mapping[str, Any]


@dataclass(frozen=True)
class PlannedSignal:
    """One event to put on the bus (PutEvents entry) and why it was planned."""

    product_id: str
    channel: str
    intent: Intent
    attribute: str | None
    entry: dict[str, Any]


# ------------------------------------------------------------------------------------------------ planning


def _unit(product_id: str, salt: str) -> float:
    """A stable number in [0, 1) for (product, purpose): sha256, no random state."""
    return int(hashlib.sha256(f"{salt}:{product_id}".encode()).hexdigest()[:12], 16) / float(16**12)


def gold_values(raw: Any) -> list[str]:
    """Gold surfaces of one attribute as strings: a list or a single value; booleans as 'true'/'false',
    numbers as written, None as nothing."""
    items = raw if isinstance(raw, list | tuple) else [raw]
    values: list[str] = []
    for item in items:
        if item is None:
            continue
        text = ("true" if item else "false") if isinstance(item, bool) else str(item).strip()
        if text:
            values.append(text)
    return values


def _extracted(stored: Mapping[str, Any]) -> dict[str, str]:
    attributes = (stored.get("enrichment") or {}).get("attributes") or {}
    return {
        name: str(value["value"])
        for name, value in attributes.items()
        if isinstance(value, Mapping) and value.get("value") is not None
    }


def differences(stored: Mapping[str, Any], gold: GoldValues) -> list[tuple[Any, str | None, str]]:
    """(spec, extracted value or None, gold value) for every attribute of the product's schema whose gold
    value the extraction misses or gets wrong, in schema order."""
    from cataloop.domain.enrichment.attributes import schema_for
    from cataloop.domain.feedback.triage import same_value

    schema = schema_for(list(stored["listing"]["category_path"]))
    extracted = _extracted(stored)
    found = []
    for spec in schema.attributes:
        values = gold_values(gold.get(spec.name))
        if not values:
            continue
        current = extracted.get(spec.name)
        if current is None or not any(same_value(current, value, spec) for value in values):
            found.append((spec, current, values[0]))
    return found


def _entry(source: str, detail_type: str, detail: dict[str, Any]) -> dict[str, Any]:
    return {"Source": source, "DetailType": detail_type, "Detail": detail}


def _dispute(
    stored: Mapping[str, Any], spec: Any, claimed: str, evidence: str, number: int, intent: Intent
) -> PlannedSignal:
    listing = stored["listing"]
    product_id = stored["product_id"]
    detail = {
        "dispute_id": f"D-{product_id}-{number}"[:128],
        "product_id": product_id,
        "seller_id": listing.get("seller_id") or "seller-unknown",
        "attribute": spec.name,
        "claimed_value": claimed,
        "evidence": evidence[:2000],
    }
    return PlannedSignal(
        product_id,
        "seller_feedback",
        intent,
        spec.name,
        _entry("cataloop.seller", "SellerDisputeFiled", detail),
    )


def _customer(
    product_id: str, spec: Any, text: str, number: int, customer: str, intent: Intent, review: bool
) -> PlannedSignal:
    if review:
        detail: dict[str, Any] = {
            "review_id": f"RV-{product_id}-{number}"[:128],
            "product_id": product_id,
            "customer_id": customer,
            "rating": 2,
            "text": text,
        }
        entry = _entry("cataloop.customer", "NegativeReviewPosted", detail)
    else:
        detail = {
            "return_id": f"RT-{product_id}-{number}"[:128],
            "product_id": product_id,
            "order_id": f"O-{product_id}-{number}"[:128],
            "customer_id": customer,
            "reason_code": "NOT_AS_DESCRIBED",
            "text": text,
        }
        entry = _entry("cataloop.customer", "ProductReturned", detail)
    return PlannedSignal(product_id, "customer_feedback", intent, spec.name, entry)


def _evidence(listing: Any, spec: Any, value: str) -> str:
    from cataloop.domain.feedback.corrections import locate_value

    located = locate_value(listing, value, spec)
    if located is None:
        return f"Our product data says the {spec.name} is {value}; the listing does not spell it out."
    surface, span = located
    return f'The listing states it: "{surface}" in the {span.field}.'


def _claim_text(spec: Any, value: str, extracted: str | None, review: bool) -> str:
    shown = f', not "{extracted}"' if extracted is not None else ", and the page does not show it"
    if review:
        return f'Not as described: the {spec.name} is "{value}"{shown}.'
    return f'Returned it. The {spec.name} should be "{value}"{shown}.'


def _false_value(
    spec: Any, extracted: str, listing: Any, pool: Mapping[str, Sequence[str]], key: str
) -> str | None:
    """A value for `spec` the listing contradicts (it states `extracted`, right by the gold, and not this)."""
    from cataloop.domain.enrichment.normalisation import format_decimal, normalise_text, parse_number
    from cataloop.domain.feedback.corrections import listing_contradicts
    from cataloop.domain.feedback.triage import Suspect

    candidates: list[str] = []
    if spec.kind in ("count", "quantity"):
        number = re.search(r"\d+(?:[.,]\d+)?", extracted)
        if number is not None:
            try:
                amount = parse_number(number.group(0))
            except ValueError:
                amount = None
            if amount is not None:
                changed = amount + 1 if spec.kind == "count" else amount * 2
                candidates.append(
                    extracted[: number.start()] + format_decimal(Decimal(changed)) + extracted[number.end() :]
                )
    else:
        others = sorted(
            {v for v in pool.get(spec.name, ()) if normalise_text(v) != normalise_text(extracted)}
        )
        if others:
            start = int(_unit(key, "false-value") * len(others))
            candidates.extend(others[start:] + others[:start])
    for candidate in candidates[:20]:
        suspect = Suspect(attribute=spec.name, extracted=extracted, claimed=candidate, reason="planned")
        if listing_contradicts(listing, suspect, spec) is not None:
            return candidate
    return None


def _false_claim(
    stored: Mapping[str, Any], gold: GoldValues, pool: Mapping[str, Sequence[str]]
) -> PlannedSignal | None:
    """A seller disputing a count or quantity extracted right with a value the listing contradicts, or a
    single customer claiming a wrong value for an attribute extracted right (counts and quantities first)."""
    from cataloop.domain.catalog.listing import ProductListing
    from cataloop.domain.enrichment.attributes import schema_for
    from cataloop.domain.feedback.corrections import locate_value
    from cataloop.domain.feedback.triage import same_value

    product_id = stored["product_id"]
    listing = ProductListing.model_validate(stored["listing"])
    schema = schema_for(list(listing.category_path))
    extracted = _extracted(stored)
    choices: list[tuple[Any, str, str]] = []
    for spec in sorted(schema.attributes, key=lambda s: s.kind not in ("count", "quantity")):
        current = extracted.get(spec.name)
        values = gold_values(gold.get(spec.name))
        if current is None or not any(same_value(current, v, spec) for v in values):
            continue
        if locate_value(listing, current, spec) is None:
            continue
        wrong = _false_value(spec, current, listing, pool, product_id)
        if wrong is not None:
            choices.append((spec, current, wrong))
    if not choices:
        return None
    quantities = [choice for choice in choices if choice[0].kind in ("count", "quantity")]
    if quantities and _unit(product_id, "false-who") < 0.5:
        spec, _current, wrong = quantities[0]
        return _dispute(stored, spec, wrong, "Our warehouse data says so.", 9, "false_claim")
    spec, current, wrong = choices[0]
    customer = f"c-{hashlib.sha256(product_id.encode()).hexdigest()[:8]}-x"
    text = f'The {spec.name} is "{wrong}", not "{current}" as the page says.'
    return _customer(product_id, spec, text, 9, customer, "false_claim", review=True)


def plan_feedback(
    products: Sequence[Mapping[str, Any]], gold: Mapping[str, GoldValues]
) -> list[PlannedSignal]:
    """The signals a seller and customers would send about these stored products (see the module
    docstring). Deterministic: the same products and gold give the same signals in the same order."""
    from cataloop.domain.catalog.listing import ProductListing
    from cataloop.domain.feedback.corrections import CORROBORATING_REPORTERS

    categories = {str(p["product_id"]): tuple(p["listing"]["category_path"]) for p in products}
    pools: dict[tuple[str, ...], dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for product_id, values in gold.items():
        for name, raw in values.items():
            pools[categories.get(product_id, ())][name].extend(gold_values(raw))
    planned: list[PlannedSignal] = []
    for stored in products:
        product_id = str(stored["product_id"])
        if not stored.get("enrichment") or product_id not in gold:
            continue
        listing = ProductListing.model_validate(stored["listing"])
        found = differences(stored, gold[product_id])
        reported = _unit(product_id, "reported")
        if found and reported < SELLER_SHARE:
            for number, (spec, _current, value) in enumerate(found[:MAX_DISPUTES], start=1):
                evidence = _evidence(listing, spec, value)
                planned.append(_dispute(stored, spec, value, evidence, number, "true_claim"))
        elif found and reported < SELLER_SHARE + CUSTOMER_SHARE:
            # Customers notice quantities first, then what the page leaves out, then the rest.
            ranked = sorted(found, key=lambda d: (d[0].kind not in ("count", "quantity"), d[1] is not None))
            spec, current, value = ranked[0]
            digest = hashlib.sha256(product_id.encode()).hexdigest()[:8]
            for number in range(1, CORROBORATING_REPORTERS + 1):
                review = number % 2 == 1
                text = _claim_text(spec, value, current, review)
                planned.append(
                    _customer(product_id, spec, text, number, f"c-{digest}-{number}", "true_claim", review)
                )
        if _unit(product_id, "false") < FALSE_SHARE:
            false = _false_claim(stored, gold[product_id], pools[categories[product_id]])
            if false is not None:
                planned.append(false)
        if _unit(product_id, "late") < IRRELEVANT_SHARE:
            detail = {
                "return_id": f"RL-{product_id}"[:128],
                "product_id": product_id,
                "order_id": f"O-{product_id}-late"[:128],
                "reason_code": "LATE_DELIVERY",
                "text": "Arrived a week after the promised date.",
            }
            entry = _entry("cataloop.customer", "ProductReturned", detail)
            planned.append(PlannedSignal(product_id, "customer_feedback", "irrelevant", None, entry))
    return planned


def catalog_gold(path: Path, product_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """product id -> the "gold" object of a `{"product": ..., "gold": ...}` JSON-lines catalog (the Korean
    mall catalog), for the given ids, in the order given."""
    wanted = list(product_ids)
    found: dict[str, dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            product_id = str(row.get("product", {}).get("product_id"))
            if product_id in wanted and isinstance(row.get("gold"), dict):
                found[product_id] = row["gold"]
    return {product_id: found[product_id] for product_id in wanted if product_id in found}


def capped(planned: Sequence[PlannedSignal], max_signals: int) -> list[PlannedSignal]:
    """At most `max_signals`, whole products at a time (a customer claim is never cut from its corroboration),
    the products taken in a fixed order by the hash of their id so every catalog of the round is sampled; the
    signals keep their planned order."""
    by_product: dict[str, list[PlannedSignal]] = {}
    for signal in planned:
        by_product.setdefault(signal.product_id, []).append(signal)
    chosen: set[str] = set()
    total = 0
    for product_id in sorted(by_product, key=lambda pid: _unit(pid, "order")):
        if total + len(by_product[product_id]) <= max_signals:
            chosen.add(product_id)
            total += len(by_product[product_id])
    return [signal for signal in planned if signal.product_id in chosen]


# ------------------------------------------------------------------------------------------------ the round


def _scan(client: Any, table: str) -> Iterable[dict[str, Any]]:
    from cataloop.adapters.dynamodb_codec import from_item

    for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        for item in page["Items"]:
            yield from_item(item)


def _learnings(cloud: LocalCloud) -> dict[str, dict[str, Any]]:
    """Every learning item of the Knowledge table, by id (raw, so fields added later read as they are)."""
    client = boto3.client("dynamodb", region_name=REGION)
    table = cloud.table_names()["KnowledgeTable"]
    return {str(item["id"]): item for item in _scan(client, table) if item.get("entity") == "learning"}


def _stored(cloud: LocalCloud, product_ids: Iterable[str]) -> list[dict[str, Any]]:
    from cataloop.adapters.dynamodb_codec import from_item

    client = boto3.client("dynamodb", region_name=REGION)
    table = cloud.table_names()["ProductsTable"]
    found = []
    for product_id in product_ids:
        item = client.get_item(
            TableName=table, Key={"product_id": {"S": product_id}}, ConsistentRead=True
        ).get("Item")
        if item is not None:
            found.append(from_item(item))
    return found


def run_feedback_round(
    cloud: LocalCloud, gold: Mapping[str, GoldValues], max_signals: int = DEFAULT_MAX_SIGNALS
) -> dict[str, Any]:
    """Send the planned feedback about the products of `gold` (product id -> attribute -> gold value or
    values) and summarise per channel what the cloud recorded (see the module docstring)."""
    stored = _stored(cloud, gold)
    every = plan_feedback(stored, gold)
    planned = capped(every, max_signals)
    before_executions = {execution["executionArn"] for execution in cloud.executions(STATE_MACHINE)}
    before_learnings = _learnings(cloud)
    for signal in planned:
        cloud.put_events([signal.entry])  # runs the execution to its end before returning
    cloud.pump_streams()  # corrected versions reach the search index, as the stream would deliver them
    summary = _summary(cloud, before_executions, before_learnings, gold)
    summary["planned"] = dict(Counter(f"{s.channel}:{s.intent}" for s in planned))
    summary["products"] = {
        "replayed": len(stored),
        "with_differences": sum(
            1 for item in stored if item["product_id"] in gold and differences(item, gold[item["product_id"]])
        ),
        "reported": len({s.product_id for s in planned}),
        "left_out_by_the_cap": len({s.product_id for s in every}) - len({s.product_id for s in planned}),
    }
    return summary


def _summary(
    cloud: LocalCloud,
    before_executions: set[str],
    before_learnings: Mapping[str, Mapping[str, Any]],
    gold: Mapping[str, GoldValues],
) -> dict[str, Any]:
    counts: dict[str, Counter[str]] = {channel: Counter() for channel in FEEDBACK_CHANNELS}
    supported: dict[str, set[str]] = {channel: set() for channel in FEEDBACK_CHANNELS}
    executions: set[str] = set()
    failures: list[dict[str, Any]] = []
    for execution in cloud.executions(STATE_MACHINE):
        arn = execution["executionArn"]
        if arn in before_executions:
            continue
        executions.add(arn)
        detail = cloud.describe_execution(arn)
        if detail["status"] != "SUCCEEDED":
            source = json.loads(detail["input"]).get("source", "")
            channel = "seller_feedback" if source == "cataloop.seller" else "customer_feedback"
            counts[channel]["signals"] += 1
            counts[channel]["failed"] += 1
            failures.append(
                {"name": detail["name"], "error": detail.get("error"), "cause": detail.get("cause")}
            )
            continue
        output = json.loads(detail["output"])
        channel = output["channel"]
        counts[channel]["signals"] += 1
        if not output["relevant"]:
            continue
        counts[channel]["relevant"] += 1
        outcome = output["outcome"]
        counts[channel]["rejected"] += len(outcome.get("rejected") or [])
        counts[channel]["sent_to_review"] += int(outcome["needs_review"])
        for placed in outcome.get("placed") or []:
            if placed["action"] in ("merge", "noop") and placed.get("support_count"):
                supported[channel].update(i for i in placed["learning_ids"] if i)
    _count_corrections(cloud, executions, gold, counts)
    after_learnings = _learnings(cloud)
    outcomes = _count_learnings(before_learnings, after_learnings, supported, counts)
    by_channel = {channel: {key: counts[channel][key] for key in COUNTS} for channel in FEEDBACK_CHANNELS}
    totals = {key: sum(by_channel[channel][key] for channel in FEEDBACK_CHANNELS) for key in COUNTS}
    live = Counter(
        str(item.get("source_channel"))
        for item in after_learnings.values()
        if item.get("source_channel") in FEEDBACK_CHANNELS and item.get("status") != "retired"
    )
    return {
        **totals,
        "by_channel": by_channel,
        "feedback_learnings_in_knowledge_base": {channel: live[channel] for channel in FEEDBACK_CHANNELS},
        "learning_outcomes": outcomes,
        "failures": failures[:10],
    }


def _count_corrections(
    cloud: LocalCloud,
    executions: set[str],
    gold: Mapping[str, GoldValues],
    counts: Mapping[str, Counter[str]],
) -> None:
    """Corrections the round's executions wrote (the products' feedback history), and how many are the gold."""
    from cataloop.domain.enrichment.attributes import schema_for
    from cataloop.domain.feedback.triage import same_value

    for stored in _stored(cloud, gold):
        schema = schema_for(list(stored["listing"]["category_path"]))
        for entry in (stored.get("provenance") or {}).get("feedback") or []:
            channel = entry.get("channel")
            if entry.get("execution_id") not in executions or channel not in counts:
                continue
            for name, change in (entry.get("corrected") or {}).items():
                counts[channel]["corrected"] += 1
                spec = schema.get(name)
                values = gold_values(gold[stored["product_id"]].get(name))
                new = change.get("new")
                if spec is not None and new is not None and any(same_value(new, v, spec) for v in values):
                    counts[channel]["corrected_as_gold"] += 1


def _audit_keys(item: Mapping[str, Any]) -> set[tuple[str, str, str, str]]:
    return {
        (str(e.get("at")), str(e.get("actor")), str(e.get("action")), str(e.get("reason")))
        for e in item.get("audit") or []
        if isinstance(e, Mapping)
    }


def _count_learnings(
    before: Mapping[str, Mapping[str, Any]],
    after: Mapping[str, Mapping[str, Any]],
    supported: Mapping[str, set[str]],
    counts: Mapping[str, Counter[str]],
) -> dict[str, int]:
    """Created, supported, downvoted and retired learnings per channel, from the Knowledge table before and
    after the round; and the change of the helpful/harmful counters (0 where learnings do not carry them)."""
    outcomes = {"helpful": 0, "harmful": 0}
    for learning_id, item in after.items():
        old = before.get(learning_id)
        if old is None:
            source = str(item.get("source_channel"))
            if source in counts:
                counts[source]["learnings_created"] += 1
            for channel in counts:  # created in the round, then supported by later signals
                if learning_id in supported[channel] and int(item.get("support_count", 1)) > 1:
                    counts[channel]["learnings_supported"] += 1
            continue
        outcomes["helpful"] += int(item.get("helpful", 0) or 0) - int(old.get("helpful", 0) or 0)
        outcomes["harmful"] += int(item.get("harmful", 0) or 0) - int(old.get("harmful", 0) or 0)
        new_entries = _audit_keys(item) - _audit_keys(old)
        for channel in counts:
            if learning_id in supported[channel] and int(item.get("support_count", 1)) > int(
                old.get("support_count", 1)
            ):
                counts[channel]["learnings_supported"] += 1
            voted = any(actor == f"feedback:{channel}" for _, actor, _, _ in new_entries)
            fewer_votes = int(item.get("votes", 0) or 0) < int(old.get("votes", 0) or 0)
            harmed = int(item.get("harmful", 0) or 0) > int(old.get("harmful", 0) or 0)
            if voted and (fewer_votes or harmed):
                counts[channel]["learnings_downvoted"] += 1
                if item.get("status") == "retired" and old.get("status") != "retired":
                    counts[channel]["learnings_retired"] += 1
    return outcomes


def print_round(summary: Mapping[str, Any]) -> None:
    """The round's numbers per channel, as the demo prints them."""
    for channel, numbers in summary["by_channel"].items():
        print(
            f"  {channel:<18} signals {numbers['signals']}, relevant {numbers['relevant']}, "
            f"corrected {numbers['corrected']} ({numbers['corrected_as_gold']} as the gold), "
            f"rejected {numbers['rejected']}, sent to review {numbers['sent_to_review']}; learnings: "
            f"created {numbers['learnings_created']}, supported {numbers['learnings_supported']}, "
            f"downvoted {numbers['learnings_downvoted']}, retired {numbers['learnings_retired']}"
            + (f"; FAILED {numbers['failed']}" if numbers["failed"] else "")
        )
    planned = ", ".join(f"{key} {value}" for key, value in sorted(summary.get("planned", {}).items()))
    products = summary.get("products") or {}
    if products:
        print(
            f"  products: {products['replayed']} replayed, {products['with_differences']} differ from the gold, "
            f"{products['reported']} got feedback ({products['left_out_by_the_cap']} left out by the signal cap)"
        )
    print(f"  sent: {planned or 'nothing'}")
    outcomes = summary.get("learning_outcomes") or {}
    if outcomes.get("helpful") or outcomes.get("harmful"):
        print(
            f"  learning outcomes during the round: helpful +{outcomes['helpful']}, harmful +{outcomes['harmful']}"
        )
    print(
        f"  live feedback learnings in the knowledge base: {summary['feedback_learnings_in_knowledge_base']}"
    )
