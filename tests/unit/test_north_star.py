"""The north-star metrics of `GET /kb/metrics` (`cataloop.services.north_star`) and the product report of
`GET /kb/products/{id}` (`cataloop.services.product_view`), on stored products built here."""

from __future__ import annotations

from typing import Any

import pytest

from cataloop.domain.catalog.stored import StoredProduct
from cataloop.errors import InvalidInput
from cataloop.services.north_star import north_star, stored_products
from cataloop.services.product_view import show_product


def _attribute(value: str) -> dict[str, Any]:
    return {"value": value, "normalised": value, "unit": None, "evidence": None, "confidence": 0.8}


def _product(
    product_id: str,
    decision: str | None,
    *,
    created_at: str = "2026-11-20T10:00:00.000+00:00",
    category: str = "Coffee",
    supervised: bool = False,
    cost: float | None = 0.002,
    workers: tuple[dict[str, str], ...] = ({"Brand": "Acme"}, {"Brand": "Acme"}),
    final: dict[str, str] | None = None,
) -> StoredProduct:
    provenance: dict[str, Any] | None = None
    enrichment: dict[str, Any] | None = None
    if decision is not None:
        provenance = {
            "decision": decision,
            "workers": [
                {"role": f"w{i}", "extraction": {"attributes": {k: _attribute(v) for k, v in w.items()}}}
                for i, w in enumerate(workers)
            ],
            "supervisor": {"model_id": "sup", "reason": "r"} if supervised else None,
            "modelled_cost": cost,
        }
        values = final if final is not None else dict(workers[0])
        enrichment = {"attributes": {k: _attribute(v) for k, v in values.items()}}
    return StoredProduct.model_validate(
        {
            "product_id": product_id,
            "version": 2 if decision else 1,
            "status": "ENRICHED" if decision else "PENDING",
            "listing": {
                "product_id": product_id,
                "title": f"title {product_id}",
                "category_path": [category, "x"],
            },
            "source_event_id": "e-1",
            "created_at": created_at,
            "updated_at": created_at,
            "enrichment": enrichment,
            "provenance": provenance,
        }
    )


CATALOG = [
    _product("p-1", "AGREE", created_at="2026-11-20T10:00:00.000+00:00"),
    _product("p-2", "DISAGREE", created_at="2026-11-20T11:00:00.000+00:00", supervised=True, cost=0.004),
    # AUDIT: both workers read Brand=Acme and Size=1 kg; the supervisor kept Brand and changed Size
    _product(
        "p-3",
        "AUDIT",
        created_at="2026-11-21T09:00:00.000+00:00",
        category="Tea",
        supervised=True,
        workers=({"Brand": "Acme", "Size": "1 kg"}, {"Brand": "ACME", "Size": "1 kg"}),
        final={"Brand": "Acme", "Size": "2 kg"},
    ),
    _product("p-4", "DISAGREE", created_at="2026-11-21T10:00:00.000+00:00", supervised=True, cost=None),
    _product("p-5", None, created_at="2026-11-19T10:00:00.000+00:00"),  # not decided yet: not counted
]


def test_overall_rates_follow_the_definitions() -> None:
    metrics = north_star(CATALOG, batch_size=2)
    overall = metrics.overall
    assert overall.products == 4 and metrics.undecided_products == 1
    assert overall.disagreement_rate == 0.5  # p-2, p-4
    assert overall.supervisor_rate == 0.75  # p-2, p-3 (audit), p-4
    assert overall.agreed_path_precision == 0.5 and overall.audited_values == 2  # Brand kept, Size changed
    assert overall.cost_per_product == pytest.approx((0.002 + 0.004 + 0.002) / 3, abs=1e-6)  # p-4 has no cost
    assert metrics.currency == "USD"


def test_series_per_batch_is_in_processing_order() -> None:
    shuffled = [CATALOG[3], CATALOG[0], CATALOG[2], CATALOG[1]]
    series = north_star(shuffled, batch_size=3).series
    assert [point.label for point in series] == ["1-3", "4"]
    assert [(point.first_product_id, point.last_product_id) for point in series] == [
        ("p-1", "p-3"),
        ("p-4", "p-4"),
    ]
    assert series[0].disagreement_rate == 0.3333 and series[1].disagreement_rate == 1.0
    assert len(north_star(CATALOG, batch_size=1).series) == 4


def test_series_per_day_and_top_categories() -> None:
    metrics = north_star(CATALOG, group="day", top_categories=1)
    assert [(p.label, p.products) for p in metrics.series] == [("2026-11-20", 2), ("2026-11-21", 2)]
    assert metrics.series[0].agreed_path_precision is None  # no AUDIT product that day: unknown, not 0
    assert [(c.category, c.products) for c in metrics.by_category] == [("Coffee", 3)]
    both = north_star(CATALOG).by_category
    assert [(c.category, c.products, c.disagreement_rate) for c in both] == [
        ("Coffee", 3, 0.6667),
        ("Tea", 1, 0.0),
    ]


def test_no_decided_product_gives_empty_series_and_no_rates() -> None:
    metrics = north_star([CATALOG[4]])
    assert metrics.series == [] and metrics.by_category == []
    assert metrics.overall.products == 0 and metrics.overall.disagreement_rate is None


@pytest.mark.parametrize(
    "kwargs", [{"group": "week"}, {"batch_size": 0}, {"batch_size": 10_001}, {"top_categories": 0}]
)
def test_parameters_out_of_range_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        north_star(CATALOG, **kwargs)


def test_stored_products_flattens_scan_pages() -> None:
    assert [p.product_id for p in stored_products([CATALOG[:2], CATALOG[2:3]])] == ["p-1", "p-2", "p-3"]


class _Products:
    def get(self, product_id: str) -> StoredProduct | None:
        return {p.product_id: p for p in CATALOG}.get(product_id)


class _Knowledge:
    def get_learning(self, learning_id: str) -> None:
        return None


def test_show_product_reports_a_stored_product_and_none_for_an_unknown_id() -> None:
    report = show_product(_Products(), _Knowledge(), "p-2")
    assert report is not None
    assert report["decision"] == "DISAGREE" and report["modelled_cost"] == 0.004
    assert report["attributes"]["Brand"]["value"] == "Acme" and report["history"] is None
    assert show_product(_Products(), _Knowledge(), "nope") is None
