import json
from pathlib import Path

import pytest

from cataloop.adapters.offline.client import OfflineModelClient
from cataloop.errors import InvalidInput
from cataloop_eval.extraction import (
    LearningMemory,
    holdout_split,
    learning_curve,
    read_oa_mine,
    run_extraction_eval,
    run_pipeline,
)

ROWS = [
    (
        "Numi Organic Tea Breakfast Blend, 100 Count Box of Tea Bags, Black Tea",
        "Tea",
        {
            "Brand": "Numi",
            "Specialty": "Organic Tea",
            "Flavor": "Breakfast Blend",
            "Net content": "100 Count Box",
            "Item form": "Tea Bags",
            "Tea variety": "Black Tea",
        },
    ),
    (
        "Numi Organic Tea Jasmine Green, 18 Count Box of Tea Bags (Pack of 6)",
        "Tea",
        {
            "Brand": "Numi",
            "Specialty": "Organic Tea",
            "Flavor": "Jasmine",
            "Net content": "18 Count Box",
            "Item form": "Tea Bags",
            "Pack size": "Pack of 6",
            "Tea variety": "Green",
        },
    ),
    (
        "Twinings of London Earl Grey Tea Bags, 20 Count (Pack of 6)",
        "Tea",
        {
            "Brand": "Twinings of London",
            "Flavor": "Earl Grey",
            "Item form": "Tea Bags",
            "Net content": "20 Count",
            "Pack size": "Pack of 6",
        },
    ),
    (
        "Twinings of London English Breakfast Tea K-Cup Pods, 24 Count",
        "Tea",
        {
            "Brand": "Twinings of London",
            "Flavor": "English Breakfast",
            "Item form": "K-Cup Pods",
            "Net content": "24 Count",
        },
    ),
    (
        "Death Wish Coffee Company Organic Dark Roast Ground Coffee, 16 Ounce",
        "Coffee",
        {
            "Brand": "Death Wish Coffee Company",
            "Specialty": "Organic",
            "Roast type": "Dark Roast",
            "Item form": "Ground Coffee",
            "Net content": "16 Ounce",
        },
    ),
    (
        "Death Wish Coffee Company Whole Bean Coffee, 5 lb",
        "Coffee",
        {"Brand": "Death Wish Coffee Company", "Item form": "Whole Bean Coffee", "Net content": "5 lb"},
    ),
    (
        "Death Wish Coffee Company Medium Roast Ground Coffee, 14 Ounce (Pack of 2)",
        "Coffee",
        {
            "Brand": "Death Wish Coffee Company",
            "Roast type": "Medium Roast",
            "Item form": "Ground Coffee",
            "Net content": "14 Ounce",
            "Pack size": "Pack of 2",
        },
    ),
    (
        "Holy Land Market Unisex Leather Biblical Sandals, Brown, 9 M US",
        "Shoes",
        {
            "Brand": "Holy Land Market",
            "Gender": "Unisex",
            "Material": "Leather",
            "Shoe type": "Biblical Sandals",
            "Color": "Brown",
            "Size": "9 M US",
        },
    ),
    (
        "Holy Land Market Men's Leather Sandals, Black, 10 M US",
        "Shoes",
        {
            "Brand": "Holy Land Market",
            "Gender": "Men's",
            "Material": "Leather",
            "Shoe type": "Sandals",
            "Color": "Black",
            "Size": "10 M US",
        },
    ),
]


@pytest.fixture
def fixture_jsonl(tmp_path: Path) -> Path:
    path = tmp_path / "oa_mine_small.jsonl"
    lines = [
        json.dumps(
            {"input": title, "category": category, "target_scores": {a: {v: 1} for a, v in gold.items()}}
        )
        for title, category, gold in ROWS
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_summary_shape_and_modelled_cost(fixture_jsonl: Path) -> None:
    summary = run_extraction_eval(fixture_jsonl, OfflineModelClient(reference_path=fixture_jsonl))
    for key in (
        "products",
        "micro",
        "per_attribute",
        "disagreement_rate",
        "supervisor_rate",
        "tokens_per_product",
        "modelled_cost_per_product",
    ):
        assert key in summary
    assert summary["products"] == len(ROWS)
    assert 0.0 <= summary["micro"]["f1"] <= 1.0
    assert summary["tokens_per_product"]["estimated"] is True
    assert summary["tokens_per_product"]["input"] > 0
    assert summary["modelled_cost_per_product"]["amount"] > 0
    assert summary["supervisor_rate"] >= summary["disagreement_rate"]
    assert "Brand" in summary["per_attribute"]


def test_learnings_fed_back_lower_disagreement_and_raise_f1(fixture_jsonl: Path, tmp_path: Path) -> None:
    records = read_oa_mine(fixture_jsonl)
    train = [records[i] for i in (0, 2, 4, 5, 7)]
    holdout = [records[i] for i in (1, 3, 6, 8)]
    reference = tmp_path / "reference.jsonl"
    reference.write_text("".join(r.model_dump_json() + "\n" for r in train), encoding="utf-8")
    result = learning_curve(train, holdout, OfflineModelClient(reference_path=reference))
    assert result["replay"]["learnings_total"] > 0
    without, with_learnings = result["holdout_without_learnings"], result["holdout_with_learnings"]
    assert with_learnings["disagreement_rate"] < without["disagreement_rate"]
    assert with_learnings["micro"]["f1"] > without["micro"]["f1"]


def test_memory_deduplicates_and_retrieves_by_scope_and_title(fixture_jsonl: Path) -> None:
    records = read_oa_mine(fixture_jsonl)
    outcome = run_pipeline(records, OfflineModelClient(reference_path=fixture_jsonl))
    memory = LearningMemory(outcome.learnings + outcome.learnings)
    assert len(memory.views) == len(outcome.learnings)
    tea = memory.retrieve(["Tea"], "Numi Organic Tea Peppermint")
    assert tea and all(view.scope_path == ["Tea"] for view in tea)
    assert all(
        view.scope_path == ["Coffee"] for view in memory.retrieve(["Coffee"], "Numi Organic Tea Peppermint")
    )
    assert memory.retrieve(["Tea"], "Unrelated words only") == []


def test_learning_curve_reports_three_runs(fixture_jsonl: Path) -> None:
    records = read_oa_mine(fixture_jsonl)
    train, holdout = records[:6], records[6:]
    result = learning_curve(train, holdout, OfflineModelClient(reference_path=fixture_jsonl))
    assert set(result) == {"replay", "holdout_without_learnings", "holdout_with_learnings"}
    assert result["holdout_with_learnings"]["learnings_written"] == 0
    assert len(result["replay"]["disagreement_rate_by_tenth"]) == 6


def test_holdout_split_is_stable_and_disjoint(fixture_jsonl: Path) -> None:
    records = read_oa_mine(fixture_jsonl)
    train, holdout = holdout_split(records)
    assert holdout_split(records) == (train, holdout)
    assert len(train) + len(holdout) == len(records)
    assert not {r.input for r in train} & {r.input for r in holdout}


def test_bad_line_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"input": "ok", "category": "Tea"}\n{"title": "missing input"}\n', encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"bad.jsonl:2"):
        read_oa_mine(path)
