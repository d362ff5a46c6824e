"""PrepareContext state: validate the ProductCreated event, store the raw product PENDING."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from cataloop.adapters.dynamodb_products import DynamoProductStore
from cataloop.domain.events import ProductCreatedEvent
from cataloop.errors import InvalidInput
from cataloop.services.intake import prepare_context
from cataloop.settings import settings
from cataloop.validation import parse_as

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(correlation_id_path="id")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        command = parse_as(ProductCreatedEvent, event, "ProductCreated event")
    except InvalidInput:
        metrics.add_metric(name="ProductsRejected", unit=MetricUnit.Count, value=1)
        raise
    config = settings()
    store = DynamoProductStore(boto3.client("dynamodb", region_name=config.region), config.products_table)
    result = prepare_context(command, store)
    metrics.add_metric(
        name="ProductsAccepted" if result["created"] else "ProductsRedelivered",
        unit=MetricUnit.Count,
        value=1,
    )
    logger.info("product accepted", extra={"product_id": result["product_id"], "new_item": result["created"]})
    return result
