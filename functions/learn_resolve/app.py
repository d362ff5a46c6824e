"""LearnResolve: the supervisor judges each attribute a relevant feedback signal disputes."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from cataloop import wiring
from cataloop.observability import logger, metrics, tracer
from cataloop.services.feedback import TriageOutput, resolve_feedback
from cataloop.settings import settings
from cataloop.validation import parse_as


@logger.inject_lambda_context(correlation_id_path="signal.signal_id")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = parse_as(TriageOutput, event, "LearnResolve state input")
    config = settings()
    resolution = resolve_feedback(state, wiring.model_client(config), config.review_confidence_threshold)
    metrics.add_dimension(name="channel", value=state.signal.channel)
    metrics.add_metric(name="FeedbackSupervisorCalls", unit=MetricUnit.Count, value=1)
    metrics.add_metric(
        name="FeedbackReviewRate", unit=MetricUnit.Percent, value=100 if resolution.needs_review else 0
    )
    logger.info(
        "feedback resolved",
        extra={
            "verdicts": {j.attribute: j.verdict for j in resolution.judgements},
            "needs_review": resolution.needs_review,
        },
    )
    return resolution.model_dump(mode="json")
