"""The north star over the stored products (`GET /kb/metrics`): disagreement rate, supervisor rate, an
estimate of agreed-path precision and modelled cost per product, overall, over time and by top category.

Everything is computed from what the Products table holds (each product's current version and its
`provenance`), so it describes the catalog as it is now; a product re-enriched after a listing update counts
once, with its latest enrichment. Definitions (the same as `eval/learning.py`, measured without gold):

- a product counts once it is decided (its provenance has a Consensus `decision`);
- disagreement rate: decided products whose decision is DISAGREE;
- supervisor rate: decided products the supervisor saw (DISAGREE, plus the AUDIT sample of agreed ones);
- agreed-path precision (estimate): on AUDIT products, the share of the values every worker agreed on that
  the supervisor kept (the final value equals the agreed one after text normalisation); None when no AUDIT
  product with agreed values is stored. Production has no gold, so this is the audit agreement of the
  evaluation, its estimate of agreed-path precision;
- cost per product: the mean `modelled_cost` (per-role prices times tokens, config/model_prices.json).

Over time is "in processing order": products sorted by `created_at` (when the listing entered the pipeline),
then id, grouped per batch of `batch_size` products or per UTC day.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cataloop.domain.catalog.stored import StoredProduct
from cataloop.domain.enrichment.normalisation import normalise_text
from cataloop.domain.enrichment.pricing import default_prices
from cataloop.errors import InvalidInput

Grouping = Literal["batch", "day"]
DEFAULT_BATCH_SIZE = 50
MAX_BATCH_SIZE = 10_000
DEFAULT_TOP_CATEGORIES = 5
MAX_TOP_CATEGORIES = 50
NO_CATEGORY = "(none)"


class Rates(BaseModel):
    """The north-star numbers of a set of decided products (rates in [0, 1]; None when not measurable)."""

    model_config = ConfigDict(frozen=True)

    products: int = Field(ge=0, description="decided products")
    disagreement_rate: float | None = None
    supervisor_rate: float | None = None
    agreed_path_precision: float | None = Field(
        default=None, description="estimate from the AUDIT sample; None when no audited agreed value"
    )
    audited_values: int = Field(default=0, ge=0, description="agreed values the estimate is based on")
    cost_per_product: float | None = None


class SeriesPoint(Rates):
    """One point of the series: a batch of products in processing order, or a UTC day."""

    label: str
    first_product_id: str
    last_product_id: str


class CategoryRates(Rates):
    category: str


class NorthStar(BaseModel):
    model_config = ConfigDict(frozen=True)

    group: Grouping
    batch_size: int
    currency: str = "USD"
    overall: Rates
    series: list[SeriesPoint]
    by_category: list[CategoryRates]
    undecided_products: int = Field(ge=0, description="stored products without a decision yet (not counted)")


class _Decided(BaseModel):
    """What the north star needs of one decided product."""

    model_config = ConfigDict(frozen=True)

    product_id: str
    created_at: str
    category: str
    decision: str
    supervised: bool
    cost: float | None
    agreed_kept: int
    agreed_total: int


def _text(value: Any) -> str:
    if isinstance(value, Mapping):
        value = value.get("normalised") or value.get("value")
    return normalise_text(str(value)) if value is not None else ""


def _agreed_values(workers: Sequence[Any]) -> dict[str, str]:
    """The attributes every worker read with the same (normalised) value."""
    extractions = [
        (worker.get("extraction") or {}).get("attributes") or {}
        for worker in workers
        if isinstance(worker, Mapping)
    ]
    if len(extractions) < 2:
        return {}
    agreed: dict[str, str] = {}
    for name in extractions[0]:
        values = {_text(attributes.get(name)) for attributes in extractions}
        if len(values) == 1 and "" not in values:
            agreed[name] = values.pop()
    return agreed


def _decided(product: StoredProduct) -> _Decided | None:
    provenance = product.provenance or {}
    decision = provenance.get("decision")
    if not decision:
        return None
    cost = provenance.get("modelled_cost")
    kept = total = 0
    if decision == "AUDIT" and provenance.get("supervisor"):
        final = (product.enrichment or {}).get("attributes") or {}
        for name, value in _agreed_values(provenance.get("workers") or []).items():
            total += 1
            kept += _text(final.get(name)) == value
    path = product.listing.category_path
    return _Decided(
        product_id=product.product_id,
        created_at=product.created_at,
        category=str(path[0]) if path else NO_CATEGORY,
        decision=str(decision),
        supervised=bool(provenance.get("supervisor")),
        cost=float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) else None,
        agreed_kept=kept,
        agreed_total=total,
    )


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _rates(items: Sequence[_Decided]) -> dict[str, Any]:
    costs = [item.cost for item in items if item.cost is not None]
    kept = sum(item.agreed_kept for item in items)
    audited = sum(item.agreed_total for item in items)
    return {
        "products": len(items),
        "disagreement_rate": _ratio(sum(item.decision == "DISAGREE" for item in items), len(items)),
        "supervisor_rate": _ratio(sum(item.supervised for item in items), len(items)),
        "agreed_path_precision": _ratio(kept, audited),
        "audited_values": audited,
        "cost_per_product": round(sum(costs) / len(costs), 6) if costs else None,
    }


def _groups(items: Sequence[_Decided], group: Grouping, batch_size: int) -> list[tuple[str, list[_Decided]]]:
    if group == "day":
        days: dict[str, list[_Decided]] = {}
        for item in items:
            days.setdefault(item.created_at[:10], []).append(item)
        return list(days.items())
    groups = []
    for start in range(0, len(items), batch_size):
        batch = list(items[start : start + batch_size])
        label = str(start + 1) if len(batch) == 1 else f"{start + 1}-{start + len(batch)}"
        groups.append((label, batch))
    return groups


def north_star(
    products: Iterable[StoredProduct],
    group: str = "batch",
    batch_size: int = DEFAULT_BATCH_SIZE,
    top_categories: int = DEFAULT_TOP_CATEGORIES,
) -> NorthStar:
    """The north star of `products`: overall, a series (per batch of `batch_size` products in processing
    order, or per UTC day) and the `top_categories` top-level categories with the most decided products.
    InvalidInput when a parameter is out of range."""
    if group not in ("batch", "day"):
        raise InvalidInput(f"group must be 'batch' or 'day', not {group!r}")
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise InvalidInput(f"batch size must be between 1 and {MAX_BATCH_SIZE}, not {batch_size}")
    if not 1 <= top_categories <= MAX_TOP_CATEGORIES:
        raise InvalidInput(f"top must be between 1 and {MAX_TOP_CATEGORIES}, not {top_categories}")
    decided: list[_Decided] = []
    undecided = 0
    for product in products:
        item = _decided(product)
        if item is None:
            undecided += 1
        else:
            decided.append(item)
    decided.sort(key=lambda item: (item.created_at, item.product_id))
    series = [
        SeriesPoint(
            label=label,
            first_product_id=members[0].product_id,
            last_product_id=members[-1].product_id,
            **_rates(members),
        )
        for label, members in _groups(decided, "day" if group == "day" else "batch", batch_size)
    ]
    categories: dict[str, list[_Decided]] = {}
    for item in decided:
        categories.setdefault(item.category, []).append(item)
    top = sorted(categories.items(), key=lambda entry: (-len(entry[1]), entry[0]))[:top_categories]
    return NorthStar(
        group="day" if group == "day" else "batch",
        batch_size=batch_size,
        currency=default_prices().currency,
        overall=Rates(**_rates(decided)),
        series=series,
        by_category=[CategoryRates(category=name, **_rates(members)) for name, members in top],
        undecided_products=undecided,
    )


def stored_products(pages: Iterable[Sequence[StoredProduct]]) -> Iterable[StoredProduct]:
    """The products of `ProductStore.scan()`'s pages, one by one."""
    for page in pages:
        yield from page
