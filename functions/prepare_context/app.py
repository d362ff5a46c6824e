"""PrepareContext state: validate the ProductCreated event, store the raw product PENDING."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from cataloop import wiring
from cataloop.domain.catalog.events import ProductCreatedEvent
from cataloop.domain.knowledge.learning import LearningView
from cataloop.errors import InvalidInput
from cataloop.observability import logger, metrics, tracer
from cataloop.services.intake import prepare_context
from cataloop.services.knowledge_base import retrieve_for_prompt
from cataloop.settings import settings
from cataloop.validation import parse_as


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
    knowledge = wiring.knowledge_store(config)

    def retrieve(category_path: list[str], text: str) -> list[LearningView]:
        return retrieve_for_prompt(knowledge, category_path, text, budget=config.learning_token_budget)

    result = prepare_context(command, wiring.product_store(config), retrieve)
    metrics.add_metric(
        name="ProductsAccepted" if result["created"] else "ProductsRedelivered",
        unit=MetricUnit.Count,
        value=1,
    )
    logger.info(
        "product accepted",
        extra={
            "product_id": result["product_id"],
            "new_item": result["created"],
            "learnings": [item["id"] for item in result["learnings"]],
        },
    )
    return result
