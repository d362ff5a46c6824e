"""`cataloop product show` and `cataloop events put` on the local cloud: the sample product of
events/product_created.json is enriched, and both commands say what happened to it (decision, attributes);
a feedback event prints its verdict; an event no rule matches exits non-zero with a suggestion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cataloop_local.cli.common import events_from_file
from cataloop_local.cli.main import execution_lines, execution_outcome, main
from cataloop_local.cli.product import format_report, product_report
from cataloop_local.emulator.cloud import LocalCloud
from tests.conftest import ROOT

pytestmark = pytest.mark.integration

EVENTS = ROOT / "events"
PRODUCT_ID = "oa-coffee-0001"


def _new_executions(cloud: LocalCloud, before: set[str]) -> list[str]:
    return [
        "\n".join(execution_lines(execution_outcome(cloud, logical, cloud.describe_execution(arn))))
        for logical in cloud.state_machine_arns
        for arn in (e["executionArn"] for e in cloud.executions(logical))
        if arn not in before
    ]


def _arns(cloud: LocalCloud) -> set[str]:
    return {e["executionArn"] for logical in cloud.state_machine_arns for e in cloud.executions(logical)}


def test_the_sample_product_shows_its_decision_and_attributes(cloud: LocalCloud) -> None:
    from cataloop import wiring

    before = _arns(cloud)
    cloud.put_events(events_from_file(EVENTS / "product_created.json"))
    cloud.pump_streams()
    [enrichment] = _new_executions(cloud, before)
    stored = wiring.product_store(cloud.settings()).get(PRODUCT_ID)
    assert stored is not None and stored.provenance is not None
    decision = stored.provenance["decision"]
    assert f"decision {decision}" in enrichment
    assert "Brand=" in enrichment

    shown = "\n".join(format_report(product_report(stored, wiring.knowledge_store(cloud.settings()))))
    assert f"decision: {decision}" in shown
    assert f"Brand = {stored.enrichment['attributes']['Brand']['value']}" in shown
    assert "history: not stored" in shown

    before = _arns(cloud)
    cloud.put_events(events_from_file(EVENTS / "seller_dispute_filed.json"))
    cloud.pump_streams()
    [feedback] = _new_executions(cloud, before)
    assert "SellerDisputeFiled on oa-coffee-0001: relevant" in feedback
    assert "claim Brand: correct -> Death Wish" in feedback
    assert "corrected Brand: Death Wish Coffee -> Death Wish" in feedback


def test_the_commands_on_a_state_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = ["--state-dir", str(tmp_path / "state")]

    assert main([*state, "product", "show", PRODUCT_ID]) == 1
    assert "cataloop demo" in capsys.readouterr().out  # empty state: the hint

    assert main([*state, "events", "put", str(EVENTS / "product_created.json")]) == 0
    put = capsys.readouterr().out
    assert "SUCCEEDED  EnrichProductStateMachine" in put and "decision " in put and "Brand=" in put

    out = tmp_path / "product.json"
    assert main([*state, "product", "show", PRODUCT_ID, "--json", str(out)]) == 0
    shown = capsys.readouterr().out
    report = json.loads(out.read_text(encoding="utf-8"))
    assert f"decision: {report['decision']}" in shown
    assert f"Brand = {report['attributes']['Brand']['value']}" in shown

    assert main([*state, "product", "show", "no-such-product"]) == 1
    assert "cataloop product list" in capsys.readouterr().out
    assert main([*state, "product", "list"]) == 0
    assert PRODUCT_ID in capsys.readouterr().out

    # Off a terminal (captured here, as in a log or a pipe) a rebuild prints its summary, no progress bar.
    assert main([*state, "reindex"]) == 0
    rebuilt = capsys.readouterr()
    assert "products: 1 documents from 1 items" in rebuilt.out and "alias swapped" in rebuilt.out
    assert "reindex products" not in rebuilt.err and "it/s" not in rebuilt.err and "item/s" not in rebuilt.err

    # the AWS CLI's put-events shape, with a detail-type no rule matches
    missed = tmp_path / "entries.json"
    missed.write_text(
        json.dumps(
            [
                {
                    "Source": "cataloop.catalog",
                    "DetailType": "ProductCreatd",
                    "Detail": json.dumps({"product": {"product_id": "x"}}),
                    "EventBusName": "cataloop-prod",
                }
            ]
        ),
        encoding="utf-8",
    )
    assert main([*state, "events", "put", str(missed)]) != 0
    printed = capsys.readouterr()
    assert "no rule matches" in printed.err
    assert "did you mean: cataloop.catalog/ProductCreated" in printed.err
