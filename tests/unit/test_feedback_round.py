"""The demo's feedback round plan (signals from the gold differences) and the `cataloop review` command line."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cataloop.domain.catalog.listing import ProductListing
from cataloop.domain.enrichment.attributes import schema_for
from cataloop.domain.feedback.corrections import CORROBORATING_REPORTERS, listing_contradicts
from cataloop.domain.feedback.triage import Suspect, named_claims, same_value
from cataloop.services.feedback import read_feedback_event
from cataloop_local.cli.feedback_round import (
    CUSTOMER_SHARE,
    FALSE_SHARE,
    SELLER_SHARE,
    capped,
    differences,
    gold_values,
    plan_feedback,
)
from cataloop_local.cli.main import build_parser
from cataloop_local.cli.review import parse_decisions

VITAMIN = schema_for(["Vitamin"])
ENVELOPE = {
    "version": "0",
    "account": "1",
    "time": "2026-11-26T10:00:00Z",
    "region": "us-east-1",
    "resources": [],
}


def _stored(number: int, extracted: dict[str, str]) -> dict[str, Any]:
    """A product as the Products table holds it: 'Brand N Vitamin C, 100 Softgels, Pack of K'."""
    packs = number % 4 + 2
    return {
        "product_id": f"vit-{number}",
        "version": 2,
        "status": "ENRICHED",
        "listing": {
            "product_id": f"vit-{number}",
            "title": f"Brand{number} Vitamin C 500 mg, 100 Softgels, Pack of {packs}",
            "category_path": ["Vitamin"],
            "seller_id": "s-1",
        },
        "enrichment": {"attributes": {name: {"value": value} for name, value in extracted.items()}},
    }


def _catalog(size: int = 300) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Products whose extraction misses or gets wrong the pack size every other time, with their gold."""
    products, gold = [], {}
    for number in range(size):
        packs = number % 4 + 2
        extracted = {
            "Brand": f"Brand{number}",
            "Net content": "100 Softgels",
            "Pack size": f"Pack of {packs}",
        }
        if number % 2 == 0:
            extracted["Pack size"] = "100 Softgels"  # the classic misread: the unit count as the pack size
        if number % 6 == 1:
            del extracted["Brand"]  # a value the workers missed
        products.append(_stored(number, extracted))
        gold[f"vit-{number}"] = {
            "Brand": [f"Brand{number}"],
            "Net content": ["100 Softgels"],
            "Pack size": [f"Pack of {packs}"],
        }
    return products, gold


def _event(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        **ENVELOPE,
        "id": "e-1",
        "source": entry["Source"],
        "detail-type": entry["DetailType"],
        "detail": entry["Detail"],
    }


def test_gold_values_reads_every_form_the_catalogs_use() -> None:
    assert gold_values(["Pack of 2", ""]) == ["Pack of 2"]
    assert gold_values("65ml") == ["65ml"]
    assert gold_values(5) == ["5"] and gold_values(False) == ["false"] and gold_values(None) == []


def test_differences_are_the_wrong_or_missing_gold_attributes() -> None:
    products, gold = _catalog(6)
    found = {
        p["product_id"]: [(s.name, cur, g) for s, cur, g in differences(p, gold[p["product_id"]])]
        for p in products
    }
    assert found["vit-0"] == [("Pack size", "100 Softgels", "Pack of 2")]
    assert found["vit-1"] == [("Brand", None, "Brand1")]
    assert found["vit-3"] == []


def test_the_plan_is_deterministic_and_independent_of_the_order_of_products() -> None:
    products, gold = _catalog(60)
    first = plan_feedback(products, gold)
    assert first == plan_feedback(products, gold)
    reversed_plan = plan_feedback(list(reversed(products)), gold)
    key = lambda s: json.dumps(s.entry, sort_keys=True)  # noqa: E731
    assert sorted(first, key=key) == sorted(reversed_plan, key=key)


def test_true_claims_are_the_gold_values_sellers_for_most_customers_corroborated_for_some() -> None:
    products, gold = _catalog()
    plan = plan_feedback(products, gold)
    with_differences = {p["product_id"] for p in products if differences(p, gold[p["product_id"]])}
    sellers = {s.product_id for s in plan if s.intent == "true_claim" and s.channel == "seller_feedback"}
    customers = {s.product_id for s in plan if s.intent == "true_claim" and s.channel == "customer_feedback"}
    assert sellers <= with_differences and customers <= with_differences and not sellers & customers
    assert abs(len(sellers) / len(with_differences) - SELLER_SHARE) < 0.12
    assert abs(len(customers) / len(with_differences) - CUSTOMER_SHARE) < 0.12
    for signal in plan:
        if signal.intent != "true_claim":
            continue
        detail = signal.entry["Detail"]
        expected = gold[signal.product_id][signal.attribute][0]
        if signal.channel == "seller_feedback":
            assert detail["claimed_value"] == expected
            if signal.attribute == "Pack size":  # the listing states it: the evidence quotes it
                assert f'"Pack of {int(signal.product_id.split("-")[1]) % 4 + 2}"' in detail["evidence"]
        else:
            # The system reads exactly the gold value from the customer's words.
            assert named_claims(detail["text"], VITAMIN) == {signal.attribute: expected}
        read_feedback_event(_event(signal.entry))  # valid PutEvents input for the real event models
    for product_id in customers:
        reporters = {
            s.entry["Detail"]["customer_id"]
            for s in plan
            if s.product_id == product_id and s.intent == "true_claim"
        }
        assert len(reporters) == CORROBORATING_REPORTERS


def test_false_claims_contradict_the_listing_and_come_from_one_voice() -> None:
    products, gold = _catalog()
    plan = plan_feedback(products, gold)
    false = [s for s in plan if s.intent == "false_claim"]
    assert abs(len({s.product_id for s in false}) / len(products) - FALSE_SHARE) < 0.07
    assert {s.channel for s in false} == {"seller_feedback", "customer_feedback"}
    by_id = {p["product_id"]: p for p in products}
    for signal in false:
        stored = by_id[signal.product_id]
        listing = ProductListing.model_validate(stored["listing"])
        spec = VITAMIN.get(signal.attribute or "")
        assert spec is not None
        extracted = stored["enrichment"]["attributes"][spec.name]["value"]
        assert any(
            same_value(extracted, v, spec) for v in gold[signal.product_id][spec.name]
        )  # extracted right
        detail = signal.entry["Detail"]
        claimed = detail.get("claimed_value") or named_claims(detail["text"], VITAMIN)[spec.name]
        assert not any(same_value(claimed, v, spec) for v in gold[signal.product_id][spec.name])
        suspect = Suspect(attribute=spec.name, extracted=extracted, claimed=claimed, reason="test")
        assert listing_contradicts(listing, suspect, spec) is not None
        if signal.channel == "customer_feedback":
            assert signal.entry["DetailType"] == "NegativeReviewPosted"
            assert (
                sum(1 for s in plan if s.product_id == signal.product_id and s.intent == "false_claim") == 1
            )
        read_feedback_event(_event(signal.entry))


def test_irrelevant_signals_are_late_deliveries() -> None:
    products, gold = _catalog(80)
    late = [s for s in plan_feedback(products, gold) if s.intent == "irrelevant"]
    assert late and {s.entry["Detail"]["reason_code"] for s in late} == {"LATE_DELIVERY"}


def test_products_without_gold_or_enrichment_get_no_signals() -> None:
    products, gold = _catalog(20)
    products[0]["enrichment"] = None
    del gold["vit-2"]
    planned = {s.product_id for s in plan_feedback(products, gold)}
    assert "vit-0" not in planned and "vit-2" not in planned


def test_the_cap_keeps_whole_products_from_across_the_round() -> None:
    products, gold = _catalog(120)
    plan = plan_feedback(products, gold)
    kept = capped(plan, 40)
    assert 30 < len(kept) <= 40 and kept == [s for s in plan if s in kept]  # planned order kept
    for product_id in {s.product_id for s in kept}:
        assert [s for s in kept if s.product_id == product_id] == [
            s for s in plan if s.product_id == product_id
        ]
    numbers = sorted(int(s.product_id.split("-")[1]) for s in kept)
    assert numbers[0] < 30 and numbers[-1] > 90  # not just the first products
    assert capped(plan, 10_000) == plan


# ------------------------------------------------------------------------------------------ review CLI


def test_review_decisions_are_attribute_value_words() -> None:
    assert parse_decisions(["Pack size=Pack of 2", "Brand=", "Model name=A=B"]) == {
        "Pack size": "Pack of 2",
        "Brand": None,
        "Model name": "A=B",
    }


@pytest.mark.parametrize(
    "words, message",
    [(["Brand"], "not ATTRIBUTE=VALUE"), (["=x"], "not ATTRIBUTE=VALUE"), (["a=1", "a=2"], "twice")],
)
def test_a_malformed_decision_word_is_refused(words: list[str], message: str) -> None:
    with pytest.raises(SystemExit, match=message):
        parse_decisions(words)


def test_the_review_commands_parse() -> None:
    parser = build_parser()
    decide = parser.parse_args(
        ["review", "decide", "oa-1", "Pack size=Pack of 2", "Brand=X", "--reviewer", "ana"]
    )
    assert (decide.review_command, decide.product_id, decide.reviewer) == ("decide", "oa-1", "ana")
    assert decide.decisions == ["Pack size=Pack of 2", "Brand=X"] and callable(decide.handler)
    listed = parser.parse_args(["review", "list", "--json", "out.json"])
    assert listed.review_command == "list" and listed.json == "out.json"
    with pytest.raises(SystemExit):
        parser.parse_args(["review", "decide", "oa-1"])  # at least one decision
