"""LearnApply: correct the product, downvote the culprit learnings, place new learnings (idempotent per signal)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from cataloop import wiring
from cataloop.domain.knowledge.tree import DeploymentMode
from cataloop.idempotency import idempotent_state
from cataloop.observability import logger, metrics, tracer
from cataloop.services.feedback import ApplyInput
from cataloop.services.feedback_apply import apply_feedback
from cataloop.settings import settings
from cataloop.validation import parse_as

# A seller who files the same dispute twice, or a redelivered event, is one signal: keyed on its id, the
# second run returns the first run's outcome and writes nothing.
_idempotency = idempotent_state("signal.signal_id")


@_idempotency
def _apply(state: dict[str, Any]) -> dict[str, Any]:
    payload = parse_as(ApplyInput, state, "LearnApply state input")
    config = settings()
    outcome = apply_feedback(
        payload,
        wiring.product_store(config),
        wiring.knowledge_store(config),
        DeploymentMode(config.deployment_mode),
        wiring.memory_manager_model(config),
    )
    return outcome.model_dump(mode="json")


@logger.inject_lambda_context(correlation_id_path="signal.signal_id")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    _idempotency.register_lambda_context(context)
    outcome = _apply(state=event)
    metrics.add_dimension(name="channel", value=outcome["channel"])
    metrics.add_metric(name="Corrections", unit=MetricUnit.Count, value=len(outcome["corrected"]))
    metrics.add_metric(name="LearningsCreated", unit=MetricUnit.Count, value=outcome["learnings_created"])
    metrics.add_metric(name="LearningsDownvoted", unit=MetricUnit.Count, value=len(outcome["downvoted"]))
    logger.info("feedback applied", extra={"outcome": outcome})
    return outcome
