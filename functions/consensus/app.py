"""Consensus: compare the workers per attribute after normalisation -> AGREE, DISAGREE or AUDIT."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from cataloop.domain.enrichment.attributes import schema_for
from cataloop.domain.enrichment.consensus import ConsensusSettings
from cataloop.observability import logger, metrics, tracer
from cataloop.services.enrichment import decide
from cataloop.services.workflow import ConsensusInput
from cataloop.settings import settings
from cataloop.validation import parse_as


@logger.inject_lambda_context(correlation_id_path="listing.product_id")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = parse_as(ConsensusInput, event, "Consensus state input")
    consensus = ConsensusSettings(audit_fraction=settings().audit_sample_rate)
    decision = decide(
        state.listing, schema_for(state.listing.category_path), state.runs, state.evaluation, consensus
    )
    # Rates as 0/100 per product: the metric's average over a period is the rate (the north star).
    metrics.add_metric(
        name="DisagreementRate", unit=MetricUnit.Percent, value=100 if decision.decision == "DISAGREE" else 0
    )
    metrics.add_metric(
        name="AuditRate", unit=MetricUnit.Percent, value=100 if decision.decision == "AUDIT" else 0
    )
    logger.info(
        "consensus", extra={"decision": decision.decision, "disagreed": decision.disagreed_attributes}
    )
    return decision.model_dump(mode="json")
