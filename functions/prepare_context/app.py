"""PrepareContext state: validate the ProductCreated event, store the raw product PENDING."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from cataloop import wiring
from cataloop.domain.catalog.events import ProductCreatedEvent
from cataloop.domain.feedback.signals import ListingUpdatedEvent
from cataloop.domain.knowledge.learning import LearningView
from cataloop.errors import InvalidInput
from cataloop.observability import logger, metrics, tracer
from cataloop.services.intake import prepare_context, revise_listing
from cataloop.services.knowledge_base import retrieve_for_prompt
from cataloop.settings import settings
from cataloop.validation import parse_as


@logger.inject_lambda_context(correlation_id_path="id")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    listing_update = isinstance(event, dict) and event.get("detail-type") == "ListingUpdated"
    try:
        if listing_update:
            update = parse_as(ListingUpdatedEvent, event, "ListingUpdated event")
        else:
            command = parse_as(ProductCreatedEvent, event, "ProductCreated event")
    except InvalidInput:
        metrics.add_metric(name="ProductsRejected", unit=MetricUnit.Count, value=1)
        raise
    config = settings()
    knowledge = wiring.knowledge_store(config)

    def retrieve(category_path: list[str], text: str) -> list[LearningView]:
        return retrieve_for_prompt(knowledge, category_path, text, budget=config.learning_token_budget)

    store = wiring.product_store(config)
    if listing_update:
        result = revise_listing(update, store, retrieve)
        outcome = "ListingsRevised" if result["enrich"] else "ListingUpdatesSkipped"
    else:
        result = prepare_context(command, store, retrieve)
        outcome = (
            "ProductsAccepted"
            if result["created"]
            else "ProductsTakenOver"
            if result["taken_over"]
            else "ProductsRedelivered"
        )
    metrics.add_metric(name=outcome, unit=MetricUnit.Count, value=1)
    logger.info(
        "product accepted",
        extra={
            "product_id": result["product_id"],
            "new_item": result["created"],
            "taken_over": result["taken_over"],
            "enrich": result["enrich"],
            "learnings": [item["id"] for item in result["learnings"]],
        },
    )
    return result
