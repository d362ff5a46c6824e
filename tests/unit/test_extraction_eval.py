import json
from pathlib import Path

import pytest

from cataloop.adapters.memory import InMemoryKnowledgeStore
from cataloop.adapters.offline.client import OfflineModelClient
from cataloop.errors import InvalidInput
from cataloop.services.pipeline import EnrichmentPipeline, tree_retriever
from cataloop_eval.extraction import holdout_split, read_oa_mine
from cataloop_eval.learning import (
    Labelled,
    flat_retriever,
    interleave,
    learning_eval,
    run_labelled,
    summarise,
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


TRAIN = Path(__file__).resolve().parents[2] / "data" / "oa-mine" / "train.jsonl"


@pytest.fixture(scope="module")
def train_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real OA-Mine train rows of two categories: enough products for the cross-fitted supervisor to
    find values supported by several other products."""
    rows = [line for line in TRAIN.read_text(encoding="utf-8").splitlines() if '"category": "Tea"' in line]
    rows += [
        line for line in TRAIN.read_text(encoding="utf-8").splitlines() if '"category": "Coffee"' in line
    ]
    path = tmp_path_factory.mktemp("oa") / "sample.jsonl"
    path.write_text("\n".join(rows[:60] + rows[-60:]) + "\n", encoding="utf-8")
    return path


def _labelled(path: Path) -> list[Labelled]:
    return [Labelled(record.listing(), record.gold) for record in read_oa_mine(path)]


def test_summary_shape_and_modelled_cost(fixture_jsonl: Path) -> None:
    pipeline = EnrichmentPipeline(
        model=OfflineModelClient(reference_path=fixture_jsonl), retrieve=None, knowledge=None
    )
    summary = summarise(run_labelled(pipeline, _labelled(fixture_jsonl)))
    assert summary["products"] == len(ROWS)
    assert 0.0 <= summary["micro"]["f1"] <= 1.0
    assert summary["tokens_per_product"]["estimated"] is True
    assert summary["tokens_per_product"]["input"] > 0
    assert summary["modelled_cost_per_product"]["amount"] > 0
    assert summary["supervisor_rate"] >= summary["disagreement_rate"]
    assert set(summary["worker_f1"]) == {"generator", "generator_b"}
    assert summary["learnings_injected_per_product"] == 0


def test_learning_on_the_fakes_teaches_the_workers(train_sample: Path) -> None:
    """Learnings the replay placed in the tree reach later prompts and change what the workers read."""
    items = _labelled(train_sample)
    store = InMemoryKnowledgeStore()
    model = OfflineModelClient(reference_path=train_sample)
    learning = EnrichmentPipeline(model=model, retrieve=tree_retriever(store), knowledge=store)
    replayed = run_labelled(learning, items + items)
    assert sum(score.learnings_proposed for score in replayed) > 0
    assert any(page for page in store.scan_learnings())
    second = replayed[len(items) :]
    assert sum(s.learnings_injected for s in second) > 0
    frozen = EnrichmentPipeline(model=model, retrieve=tree_retriever(store), knowledge=None)
    without = summarise(run_labelled(EnrichmentPipeline(model=model, retrieve=None, knowledge=None), items))
    with_tree = summarise(run_labelled(frozen, items))
    assert with_tree["disagreement_rate"] <= without["disagreement_rate"]
    assert with_tree["micro"]["recall"] >= without["micro"]["recall"]


def test_learning_eval_reports_every_figure_of_the_report(train_sample: Path) -> None:
    items = interleave(_labelled(train_sample))
    report = learning_eval(
        items[:90], items[90:], OfflineModelClient(reference_path=train_sample), InMemoryKnowledgeStore()
    )
    assert len(report["replay"]["disagreement_rate_by_slice"]) == 10
    for key in (
        "f1_with_learnings",
        "f1_without_learnings",
        "agreed_path_precision_with",
        "supervisor_rate_with",
    ):
        assert key in report["test"]
    assert {"tree_f1", "flat_f1"} <= set(report["tree_vs_flat"])
    assert report["knowledge"]["nodes"] >= 1


def test_flat_retriever_ignores_the_category_scope(train_sample: Path) -> None:
    items = _labelled(train_sample)
    store = InMemoryKnowledgeStore()
    model = OfflineModelClient(reference_path=train_sample)
    run_labelled(EnrichmentPipeline(model=model, retrieve=tree_retriever(store), knowledge=store), items)
    tea_title = "Numi Organic Tea Peppermint, 18 Count"
    tree = tree_retriever(store)(["Coffee"], tea_title)
    flat = flat_retriever(store)(["Coffee"], tea_title)
    assert all(view.scope_path in ([], ["Coffee"]) for view in tree)
    assert len(flat) >= len(tree)


def test_interleave_is_round_robin_over_categories(fixture_jsonl: Path) -> None:
    order = [item.category for item in interleave(_labelled(fixture_jsonl))]
    assert order[:3] == ["Tea", "Coffee", "Shoes"]


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
