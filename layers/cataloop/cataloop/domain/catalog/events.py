"""EventBridge envelopes of the events Cataloop consumes."""

from __future__ import annotations

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel

from cataloop.domain.catalog.listing import ProductCreatedDetail

SOURCE_CATALOG = "cataloop.catalog"


class ProductCreatedEvent(EventBridgeModel):
    """A `ProductCreated` event from the seller catalog."""

    detail: ProductCreatedDetail
