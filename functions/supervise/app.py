"""Supervisor (strong model): resolve a disagreement or audit an agreement; propose learnings."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from cataloop import wiring
from cataloop.domain.enrichment.attributes import schema_for
from cataloop.observability import logger, metrics, tracer
from cataloop.services.enrichment import supervise
from cataloop.services.learning_outcomes import record_outcomes, supervision_outcomes
from cataloop.services.workflow import SuperviseInput, review_routing
from cataloop.settings import settings
from cataloop.validation import parse_as


@logger.inject_lambda_context(correlation_id_path="listing.product_id")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = parse_as(SuperviseInput, event, "Supervise state input")
    config = settings()
    run = supervise(
        state.listing,
        schema_for(state.listing.category_path),
        state.runs,
        state.evaluation,
        state.consensus,
        state.learnings,
        wiring.model_client(config),
    )
    outcome = review_routing(run, config.review_confidence_threshold)
    # A confident resolution scores the learnings the workers used (helpful / harmful; idempotent on retry).
    scored = record_outcomes(
        wiring.knowledge_store(config),
        supervision_outcomes(
            state.listing.product_id, state.consensus.decision, state.learnings, state.runs, outcome
        ),
    )
    metrics.add_metric(name="LearningsHelpful", unit=MetricUnit.Count, value=scored.helpful)
    metrics.add_metric(name="LearningsHarmful", unit=MetricUnit.Count, value=scored.harmful)
    metrics.add_metric(name="LearningsRetiredByOutcome", unit=MetricUnit.Count, value=len(scored.retired))
    metrics.add_metric(name="SupervisorCalls", unit=MetricUnit.Count, value=1)
    metrics.add_metric(
        name="HumanReviewRate", unit=MetricUnit.Percent, value=100 if outcome.needs_review else 0
    )
    metrics.add_metric(name="LearningsProposed", unit=MetricUnit.Count, value=len(run.resolution.learnings))
    return outcome.model_dump(mode="json")
