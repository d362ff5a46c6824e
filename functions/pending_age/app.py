"""PendingAge (every 10 minutes): publish the age of the oldest PENDING product for its alarm."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from cataloop import wiring
from cataloop.observability import logger, metrics, tracer
from cataloop.services.pending import pending_report
from cataloop.settings import settings


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = pending_report(wiring.product_store(settings()), datetime.now(UTC))
    metrics.add_metric(name="OldestPendingSeconds", unit=MetricUnit.Seconds, value=report.oldest_seconds)
    metrics.add_metric(name="PendingProducts", unit=MetricUnit.Count, value=report.pending)
    if report.pending:
        logger.info("products waiting for enrichment", extra=report.model_dump())
    return report.model_dump()
