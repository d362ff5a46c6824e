"""Persist: the enriched product as a new item version with provenance (idempotent per event+product)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from cataloop import wiring
from cataloop.domain.enrichment.pricing import default_prices
from cataloop.idempotency import idempotent_state
from cataloop.observability import logger, metrics, tracer
from cataloop.services.knowledge_base import record_influence
from cataloop.services.workflow import PersistInput, persist_enrichment
from cataloop.settings import settings
from cataloop.validation import parse_as

# A redelivered ProductCreated starts a second execution; keyed on (event, product) it writes no second version.
_idempotency = idempotent_state("[context.event_id, context.product_id]")


@_idempotency
def _persist(state: dict[str, Any]) -> dict[str, Any]:
    payload = parse_as(PersistInput, state, "Persist state input")
    config = settings()
    result = persist_enrichment(payload, wiring.product_store(config), default_prices())
    if result["stale"]:
        logger.info("stale run: a newer version exists, nothing written", extra={"reason": result["reason"]})
        return result
    # Which learnings shaped this version: one query away for an auditor tracing a wrong attribute.
    record_influence(
        wiring.knowledge_store(config),
        payload.context.learnings,
        result["product_id"],
        result["version"],
        payload.execution_id or None,
    )
    return result


@logger.inject_lambda_context(correlation_id_path="context.product_id")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    _idempotency.register_lambda_context(context)
    result = _persist(state=event)
    if result["stale"]:
        metrics.add_metric(name="StaleRunsEnded", unit=MetricUnit.Count, value=1)
        return result
    metrics.add_metric(name="ProductsEnriched", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="TokensPerProduct", unit=MetricUnit.Count, value=result["tokens"])
    # Modelled from the price table in config/model_prices.json, in micro-dollars per product.
    metrics.add_metric(
        name="ModelledCostMicroUSD", unit=MetricUnit.Count, value=round(result["modelled_cost"] * 1e6)
    )
    return result
