"""Generator worker (a Parallel branch of EnrichProduct): extract attributes with one small model."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from cataloop import wiring
from cataloop.domain.enrichment.attributes import schema_for
from cataloop.observability import logger, metrics, tracer
from cataloop.services.enrichment import generate
from cataloop.services.workflow import GenerateInput
from cataloop.settings import settings
from cataloop.validation import parse_as


@logger.inject_lambda_context(correlation_id_path="listing.product_id")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = parse_as(GenerateInput, event, "Generate state input")
    run = generate(
        state.role,
        state.listing,
        state.learnings,
        schema_for(state.listing.category_path),
        wiring.model_client(settings()),
    )
    metrics.add_dimension(name="role", value=state.role)
    metrics.add_metric(name="InputTokens", unit=MetricUnit.Count, value=run.call.usage.input_tokens)
    metrics.add_metric(name="OutputTokens", unit=MetricUnit.Count, value=run.call.usage.output_tokens)
    return run.model_dump(mode="json")
