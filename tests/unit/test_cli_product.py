"""`cataloop product show/list`, the `events put` summary and rule-miss check, `kb tree/show` formatting:
the pure parts, on stored items built here (the commands on a local cloud are in
tests/integration/test_cli_product.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cataloop.domain.catalog.stored import StoredProduct
from cataloop.domain.knowledge.tree import Influence, KnowledgeNode, Learning
from cataloop_local.cli.common import events_from_file
from cataloop_local.cli.kb import learning_lines, tree_lines
from cataloop_local.cli.main import (
    build_parser,
    closest_patterns,
    execution_lines,
    matching_rules,
)
from cataloop_local.cli.product import HISTORY_NOT_STORED, format_report, list_rows, product_report

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def _learning(learning_id: str = "L-1", **update: Any) -> Learning:
    data: dict[str, Any] = {
        "id": learning_id,
        "version": 3,
        "text": "In Coffee, 'Death Wish' is a Brand value.",
        "kind": "example",
        "scope_path": ["Coffee"],
        "attributes": ["Brand"],
        "directive": {"type": "value_lexicon", "attribute": "Brand", "values": ["Death Wish"]},
        "valid_from": NOW,
        "created_at": NOW,
        "updated_at": NOW,
        "helpful": 4,
        "harmful": 1,
        "support_count": 2,
        "provenance": {
            "product_ids": ["oa-coffee-0001"],
            "model_ids": ["offline-baseline/supervisor-reference-v1"],
            "evidence": ["Death Wish Coffee Ground Coffee"],
        },
        "audit": [{"at": NOW, "actor": "ana@cli", "action": "approve", "reason": "checked"}],
    }
    data.update(update)
    return Learning.model_validate(data)


class _Knowledge:
    def __init__(self, *learnings: Learning) -> None:
        self.learnings = {learning.id: learning for learning in learnings}

    def get_learning(self, learning_id: str) -> Learning | None:
        return self.learnings.get(learning_id)


def _stored(**update: Any) -> StoredProduct:
    data: dict[str, Any] = {
        "product_id": "oa-coffee-0001",
        "version": 3,
        "status": "ENRICHED",
        "listing": {
            "product_id": "oa-coffee-0001",
            "title": "Death Wish Coffee Ground Coffee, 16 oz (Pack of 2)",
            "category_path": ["Coffee"],
        },
        "source_event_id": "event-1",
        "created_at": "2026-11-22T09:00:00+00:00",
        "updated_at": "2026-11-22T09:01:00+00:00",
        "enrichment": {
            "attributes": {
                "Brand": {
                    "value": "Death Wish",
                    "normalised": "death wish",
                    "confidence": 0.9,
                    "evidence": {"field": "title", "start": 0, "end": 10, "text": "Death Wish"},
                },
                "Net content": {"value": "16 oz", "normalised": "16 oz", "unit": "oz", "confidence": 0.7},
            }
        },
        "provenance": {
            "decision": "DISAGREE",
            "disagreed_attributes": ["Brand"],
            "consensus_reasons": ["Brand: values differ after normalisation"],
            "workers": [
                {
                    "role": "generator",
                    "model_id": "gen-a",
                    "extraction": {"attributes": {"Brand": {"value": "Death Wish Coffee"}}},
                },
                {"role": "generator_b", "model_id": "gen-b", "extraction": {"attributes": {}}},
            ],
            "evaluator": {
                "model_id": "eval",
                "verdicts": [{"attribute": "Brand", "verdict": "wrong", "reason": "too long"}],
            },
            "supervisor": {
                "model_id": "sup",
                "reason": "brand from the catalog",
                "confidence": 0.8,
                "unresolved": [],
                "needs_review": False,
            },
            "learnings_injected": [{"id": "L-1", "version": 2}, {"id": "L-gone", "version": 1}],
            "learnings_used": ["L-1"],
            "feedback": [
                {
                    "signal_id": "SellerDisputeFiled:D-1",
                    "kind": "SellerDisputeFiled",
                    "channel": "seller_feedback",
                    "at": "2026-11-22T09:01:00+00:00",
                    "corrected": {"Brand": {"old": "Death Wish Coffee", "new": "Death Wish"}},
                }
            ],
        },
    }
    data.update(update)
    return StoredProduct.model_validate(data)


# ------------------------------------------------------------------------------------------ product show


def test_product_show_prints_every_part_of_what_happened() -> None:
    report = product_report(_stored(), _Knowledge(_learning()))
    text = "\n".join(format_report(report))
    assert "oa-coffee-0001  ENRICHED  version 3" in text
    assert "decision: DISAGREE   disagreed: Brand" in text
    assert 'Brand = Death Wish (normalised death wish)  conf 0.90  evidence title[0:10] "Death Wish"' in text
    assert "Net content = 16 oz  conf 0.70" in text  # normalised equal to the value: not repeated
    assert "worker generator (gen-a): Brand=Death Wish Coffee" in text
    assert "worker generator_b (gen-b): (nothing)" in text
    assert "Brand: wrong - too long" in text
    assert "supervisor (sup): confidence 0.80, unresolved: none" in text
    assert "reason: brand from the catalog" in text
    # the learning as injected (v2) and as the store holds it now (v3, its current text)
    assert "L-1 v2 [injected+used]  now v3 proposed: In Coffee, 'Death Wish' is a Brand value." in text
    assert "L-gone v1 [injected]  (no longer in the knowledge store)" in text
    assert f"history: {HISTORY_NOT_STORED}" in text
    assert "SellerDisputeFiled:D-1: Brand: Death Wish Coffee -> Death Wish" in text
    json.dumps(report)  # --json writes it


def test_product_show_of_a_pending_product_says_it_is_not_enriched_and_the_supervisor_did_not_run() -> None:
    text = "\n".join(
        format_report(product_report(_stored(status="PENDING", enrichment=None, provenance=None), None))
    )
    assert "not enriched yet" in text
    assert "supervisor: did not run" in text
    assert "learnings (0 injected or used)" in text


def test_product_show_escapes_model_and_seller_text() -> None:
    stored = _stored()
    provenance = dict(stored.provenance or {})
    provenance["evaluator"] = {
        "model_id": "eval",
        "verdicts": [{"attribute": "Brand", "verdict": "ok", "reason": "\x1b[31mRED\u202e"}],
    }
    text = "\n".join(
        format_report(product_report(stored.model_copy(update={"provenance": provenance}), None))
    )
    assert "\x1b" not in text and "\u202e" not in text
    assert "\\x1b[31mRED\\u202e" in text


def test_product_list_filters_by_status_sorts_and_limits() -> None:
    products = [
        _stored(product_id="b", listing={"product_id": "b", "title": "B", "category_path": ["Coffee"]}),
        _stored(product_id="a", listing={"product_id": "a", "title": "A", "category_path": ["Coffee"]}),
        _stored(
            product_id="c",
            status="NEEDS_REVIEW",
            listing={"product_id": "c", "title": "C", "category_path": ["Coffee"]},
        ),
    ]
    rows, total = list_rows(products, None, 2)
    assert [row["product_id"] for row in rows] == ["a", "b"] and total == 3
    rows, total = list_rows(products, "needs_review", 10)
    assert [row["product_id"] for row in rows] == ["c"] and total == 1
    assert rows[0]["decision"] == "DISAGREE" and rows[0]["attributes"] == 2


def test_product_commands_are_registered() -> None:
    parser = build_parser()
    assert parser.parse_args(["product", "show", "x", "--json", "o.json"]).product_id == "x"
    listed = parser.parse_args(["product", "list", "--status", "enriched", "--limit", "3"])
    assert listed.status == "ENRICHED" and listed.limit == 3
    assert parser.parse_args(["kb", "tree", "--all"]).all is True


# ------------------------------------------------------------------------------------------- events put


def test_events_file_takes_the_bus_event_and_the_put_events_entries_shapes(tmp_path: Path) -> None:
    bus = tmp_path / "bus.json"
    bus.write_text(json.dumps({"source": "s", "detail-type": "T", "detail": {"a": 1}}), encoding="utf-8")
    entries = tmp_path / "entries.json"
    entries.write_text(
        json.dumps(
            [
                {"Source": "s", "DetailType": "T", "Detail": '{"a": 1}', "EventBusName": "cataloop-prod"},
                {"Source": "s", "DetailType": "U", "Detail": {"b": 2}},
            ]
        ),
        encoding="utf-8",
    )
    cli_input = tmp_path / "cli-input.json"
    cli_input.write_text(json.dumps({"Entries": [{"Source": "s", "DetailType": "T"}]}), encoding="utf-8")
    assert events_from_file(bus) == [{"Source": "s", "DetailType": "T", "Detail": {"a": 1}}]
    assert events_from_file(entries) == [
        {"Source": "s", "DetailType": "T", "Detail": {"a": 1}},
        {"Source": "s", "DetailType": "U", "Detail": {"b": 2}},
    ]
    assert events_from_file(cli_input) == [{"Source": "s", "DetailType": "T", "Detail": {}}]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[{"Source": "s", "DetailType": "T", "Detail": "{not json"}]', "Detail is not JSON"),
        ('[{"Source": "s", "DetailType": "T", "Detail": "[1]"}]', "must be a JSON object"),
        ('{"source": "s"}', "needs 'source', 'detail-type'"),
        ('{"Source": "s", "DetailType": 3}', "must be strings"),
    ],
)
def test_events_file_refuses_malformed_entries(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SystemExit, match=message):
        events_from_file(path)


RULES = [
    {"name": "created", "pattern": {"source": ["cataloop.catalog"], "detail-type": ["ProductCreated"]}},
    {
        "name": "seller",
        "pattern": {"source": ["cataloop.seller"], "detail-type": ["SellerDisputeFiled", "ListingUpdated"]},
    },
    {"name": "any-prefix", "pattern": {"source": [{"prefix": "aws."}], "detail-type": ["Scheduled Event"]}},
]


def test_a_rule_miss_is_found_with_the_closest_detail_types() -> None:
    assert matching_rules(RULES, {"Source": "cataloop.catalog", "DetailType": "ProductCreated"}) == [
        "created"
    ]
    missed = {"Source": "cataloop.catalog", "DetailType": "ProductCreatd"}
    assert matching_rules(RULES, missed) == []
    assert closest_patterns(RULES, missed)[0] == "cataloop.catalog/ProductCreated"
    # the right detail-type under the wrong source is a miss too, and the suggestion names the source
    wrong_source = {"Source": "cataloop.catalog", "DetailType": "SellerDisputeFiled"}
    assert matching_rules(RULES, wrong_source) == []
    assert closest_patterns(RULES, wrong_source)[0] == "cataloop.seller/SellerDisputeFiled"
    # a content filter on the source is not judged here: taken to match
    assert matching_rules(RULES, {"Source": "aws.events", "DetailType": "Scheduled Event"}) == ["any-prefix"]


def test_events_put_lines_for_an_enrichment_and_a_feedback_execution() -> None:
    enriched = execution_lines(
        {
            "state_machine": "EnrichProductStateMachine",
            "name": "run-1",
            "status": "SUCCEEDED",
            "output": {"decision": "DISAGREE"},
            "product": {
                "product_id": "oa-coffee-0001",
                "version": 2,
                "status": "ENRICHED",
                "decision": "DISAGREE",
                "attributes": {"Brand": "Death Wish Coffee", "Pack size": "Pack of 2"},
                "learnings_used": ["L-1"],
            },
        }
    )
    assert enriched[0].startswith("SUCCEEDED  EnrichProductStateMachine run-1")
    assert "decision DISAGREE" in enriched[1]
    assert enriched[2] == "  attributes: Brand=Death Wish Coffee, Pack size=Pack of 2"
    assert enriched[3] == "  learnings used: L-1"
    feedback = "\n".join(
        execution_lines(
            {
                "state_machine": "LearnFromFeedbackStateMachine",
                "name": "run-2",
                "status": "SUCCEEDED",
                "output": {
                    "kind": "SellerDisputeFiled",
                    "product_id": "oa-coffee-0001",
                    "relevant": True,
                    "reason": "disputes Brand",
                    "outcome": {
                        "placed": [{"action": "add", "node_path": ["Coffee"], "learning_ids": ["L-2"]}],
                        "downvoted": ["L-1"],
                        "retired": ["L-1"],
                    },
                },
                "judgements": [
                    {"attribute": "Brand", "verdict": "correct", "reason": "stated", "value": "Death Wish"}
                ],
                "corrected": {"Brand": {"old": "Death Wish Coffee", "new": "Death Wish"}},
                "learning_texts": {"L-2": "In Coffee, 'Death Wish' is a Brand value."},
            }
        )
    )
    assert "claim Brand: correct -> Death Wish (stated)" in feedback
    assert "corrected Brand: Death Wish Coffee -> Death Wish" in feedback
    assert "learning add L-2 in Coffee" in feedback
    assert "L-2: In Coffee, 'Death Wish' is a Brand value." in feedback
    assert "downvoted L-1 (retired)" in feedback


# ---------------------------------------------------------------------------------------------- kb


def test_kb_tree_lists_learnings_under_their_node_with_a_cap() -> None:
    node = KnowledgeNode(path=["Coffee"], learning_count=7)
    learnings = [_learning(f"L-{i}", support_count=i + 1) for i in range(7)]
    retired = _learning("L-old", status="retired", valid_to=NOW)
    lines = tree_lines(node, [*learnings, retired], cap=3)
    assert lines[0] == "  Coffee  [7 learnings]"
    assert lines[1].startswith("    - L-6 v3 proposed support 7 votes ")  # best supported first
    assert "+4/-1" in lines[1]
    assert lines[-1] == "    ... 4 more, 1 retired (--all shows them)"
    everything = tree_lines(node, [*learnings, retired], show_all=True, cap=3)
    assert len(everything) == 1 + 8 and any("L-old" in line and "retired" in line for line in everything)


def test_kb_show_prints_provenance_audit_and_an_influence_table() -> None:
    influence = Influence(
        learning_id="L-1", learning_version=2, product_id="oa-coffee-0001", product_version=4, at=NOW
    )
    text = "\n".join(learning_lines(_learning(), [influence]))
    assert "source products: oa-coffee-0001" in text
    assert "models: offline-baseline/supervisor-reference-v1" in text
    assert "evidence: Death Wish Coffee Ground Coffee" in text
    assert "ana@cli  approve: checked" in text
    assert "influenced 1 product versions:" in text
    row = next(line for line in text.splitlines() if line.strip().startswith("oa-coffee-0001"))
    assert row.split() == ["oa-coffee-0001", "4", "2", "2026-11-22T09:00:00+00:00"]
