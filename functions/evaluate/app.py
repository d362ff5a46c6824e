"""Critical evaluator: challenge the generators' extractions attribute by attribute."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from cataloop import wiring
from cataloop.domain.enrichment.attributes import schema_for
from cataloop.observability import logger, metrics, tracer
from cataloop.services.enrichment import evaluate
from cataloop.services.workflow import EvaluateInput
from cataloop.settings import settings
from cataloop.validation import parse_as


@logger.inject_lambda_context(correlation_id_path="listing.product_id")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = parse_as(EvaluateInput, event, "Evaluate state input")
    run = evaluate(
        state.listing,
        state.runs,
        state.learnings,
        schema_for(state.listing.category_path),
        wiring.model_client(settings()),
    )
    verdicts = run.report.verdicts
    if verdicts:
        # A rubber-stamp evaluator shows as an approval rate near 1 (alarm on it, as on one near 0).
        approved = sum(1 for v in verdicts if v.verdict == "ok") / len(verdicts)
        metrics.add_metric(name="EvaluatorApprovalRate", unit=MetricUnit.Percent, value=100 * approved)
    metrics.add_metric(name="InputTokens", unit=MetricUnit.Count, value=run.call.usage.input_tokens)
    return run.model_dump(mode="json")
