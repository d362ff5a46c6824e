"""LearnTriage: validate a feedback event, load the product and its provenance, decide if it is relevant."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from cataloop import wiring
from cataloop.errors import InvalidInput
from cataloop.observability import logger, metrics, tracer
from cataloop.services.feedback import read_feedback_event, triage_feedback
from cataloop.settings import settings


@logger.inject_lambda_context(correlation_id_path="id")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        signal = read_feedback_event(event)
    except InvalidInput:
        metrics.add_metric(name="FeedbackRejected", unit=MetricUnit.Count, value=1)
        raise
    # Per source channel: how much feedback arrives and how much of it points at an extraction.
    metrics.add_dimension(name="channel", value=signal.channel)
    metrics.add_metric(name="SignalsReceived", unit=MetricUnit.Count, value=1)
    result = triage_feedback(signal, wiring.product_store(settings()))
    metrics.add_metric(name="SignalsRelevant", unit=MetricUnit.Count, value=int(result.triage.relevant))
    logger.info(
        "feedback triaged",
        extra={
            "signal_id": signal.signal_id,
            "product_id": signal.product_id,
            "relevant": result.triage.relevant,
            "reason": result.triage.reason,
        },
    )
    return result.model_dump(mode="json")
