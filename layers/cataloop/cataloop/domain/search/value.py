"""Unit pricing for value and bulk sorting: how much a product costs per ml, g or piece, and how much it
holds in all, from the enriched net content and pack count (or, when a listing was indexed without
enrichment, from the size written in its title).

"가성비 유산균" should open with the product that is cheapest per gram, not the smallest box; "대용량 세제"
with the one that holds the most. Both need the same two numbers: the content of one unit ("65ml") and
how many units the listing holds (20). Pure: no I/O.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Unit = Literal["ml", "g", "piece"]

# Unit words to (base unit, factor): liquids in ml, solids in g. Counted units (capsules, sheets, sticks)
# have no amount of their own: a listing sold by count is priced per piece.
_AMOUNT_UNITS: dict[str, tuple[Unit, float]] = {
    "ml": ("ml", 1.0),
    "l": ("ml", 1000.0),
    "g": ("g", 1.0),
    "kg": ("g", 1000.0),
    "mg": ("g", 0.001),
}
_AMOUNT = re.compile(r"(?<![\w.])(\d+(?:[.,]\d+)?)\s?(ml|l|kg|mg|g)(?![A-Za-z가-힣])", re.IGNORECASE)
# "x 20개", "×3", "20개입", "30캡슐", "10매", "3켤레": the number of units a listing holds.
_MULTIPLIER = re.compile(r"(?<![A-Za-z])[x×]\s?(\d+)(?![\d.])")
_COUNT = re.compile(r"(?<![\w.])(\d+)\s?(?:개입|개|입|캡슐|정|포|매|팩|병|봉|켤레|롤|구)(?![가-힣])")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
MAX_PACK_COUNT = 10_000


class UnitPricing(BaseModel):
    """What one listing holds and costs per unit: `total_content` in `unit` (ml, g or pieces) and
    `unit_price` = price / total_content (None without a price)."""

    model_config = ConfigDict(frozen=True)

    unit: Unit
    total_content: float = Field(gt=0)
    unit_price: float | None = Field(default=None, ge=0)


def parse_amount(text: str) -> tuple[float, Unit] | None:
    """The first amount in `text` in base units: "65ml" -> (65.0, "ml"), "1.2L" -> (1200.0, "ml"),
    "500mg" -> (0.5, "g"); None when there is none."""
    match = _AMOUNT.search(text)
    if match is None:
        return None
    unit, factor = _AMOUNT_UNITS[match.group(2).lower()]
    quantity = float(match.group(1).replace(",", ".")) * factor
    return (quantity, unit) if quantity > 0 else None


def parse_count(value: Any) -> int | None:
    """A pack count from an attribute value (20, "20", "20개", "x 20"); None when it is not a positive
    whole number within reason."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        count = int(value)
    else:
        match = _NUMBER.search(str(value))
        if match is None:
            return None
        try:
            count = int(float(match.group(0).replace(",", ".")))
        except ValueError:
            return None
    return count if 0 < count <= MAX_PACK_COUNT else None


def title_quantities(title: str) -> tuple[tuple[float, Unit] | None, int | None]:
    """(amount of one unit, pack count) as written in a title: "야쿠르트 라이트 65ml x 20개" -> ((65, ml), 20),
    "유산균 30캡슐" -> (None, 30). The fallback when a product has no enriched net content or pack count."""
    amount = parse_amount(title)
    multiplier = _MULTIPLIER.search(title)
    if multiplier is not None:
        return amount, parse_count(multiplier.group(1))
    count = _COUNT.search(title)
    return amount, parse_count(count.group(1)) if count is not None else None


def unit_pricing(
    net_content: str | None, pack_count: Any, price: float | None, *, title: str = ""
) -> UnitPricing | None:
    """Unit pricing from the enriched net content ("65ml", the content of one unit) and pack count, each
    falling back to what the title says. A listing with a pack count but no amount is priced per piece;
    None when neither is known."""
    fallback_amount, fallback_count = title_quantities(title) if title else (None, None)
    amount = (parse_amount(net_content) if net_content else None) or fallback_amount
    count = parse_count(pack_count) or fallback_count
    if amount is not None:
        quantity, unit = amount
        total = quantity * (count or 1)
    elif count is not None:
        unit, total = "piece", float(count)
    else:
        return None
    if total <= 0:
        return None
    unit_price = round(price / total, 6) if price is not None and price >= 0 else None
    return UnitPricing(unit=unit, total_content=round(total, 6), unit_price=unit_price)
