"""EventBridge envelopes of the events Cataloop consumes (plain pydantic: the domain needs no Powertools)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cataloop.domain.catalog.listing import ProductCreatedDetail

SOURCE_CATALOG = "cataloop.catalog"


class EventBridgeEnvelope(BaseModel):
    """The EventBridge envelope: the fields and aliases of Powertools' `EventBridgeModel`, declared here so the
    domain does not depend on Powertools. Each event model types `detail`."""

    model_config = ConfigDict(populate_by_name=True)

    version: str
    id: str
    source: str
    account: str
    time: datetime
    region: str
    resources: list[str]
    detail_type: str = Field(alias="detail-type")
    detail: Any
    replay_name: str | None = Field(default=None, alias="replay-name")


class ProductCreatedEvent(EventBridgeEnvelope):
    """A `ProductCreated` event from the seller catalog."""

    detail: ProductCreatedDetail
