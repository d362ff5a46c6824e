"""Modelled cost of model calls: per-role prices per 1,000 tokens (config/model_prices.json).

Persist writes the modelled cost of every product into its provenance and the metric ModelledCostMicroUSD;
the evaluation reports the same figure, from the same table.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

from pydantic import BaseModel, Field

from cataloop.domain.model_calls import ModelUsage


class RolePrice(BaseModel):
    model_class: str = ""
    input_per_1k: float = Field(ge=0)
    output_per_1k: float = Field(ge=0)


class PriceTable(BaseModel):
    currency: str = "USD"
    note: str = ""
    roles: dict[str, RolePrice]

    def cost(self, role: str, usage: ModelUsage) -> float:
        """The modelled cost of one call by `role` with `usage` (0 for a role without a price)."""
        price = self.roles.get(role)
        if price is None:
            return 0.0
        return (usage.input_tokens * price.input_per_1k + usage.output_tokens * price.output_per_1k) / 1000


@lru_cache(maxsize=1)
def default_prices() -> PriceTable:
    """Modelled per-role prices shipped in cataloop/config/model_prices.json."""
    text = resources.files("cataloop").joinpath("config/model_prices.json").read_text(encoding="utf-8")
    return PriceTable.model_validate(json.loads(text))
