"""Redrive: an EnrichProduct execution ended FAILED/TIMED_OUT/ABORTED -> re-send its product (at most N
times) or dead-letter it with the cause."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from cataloop import wiring
from cataloop.adapters.aws_redrive import (
    EventBridgeCatalogEvents,
    SqsDeadLetters,
    StepFunctionsExecutionInputs,
)
from cataloop.observability import logger, metrics, tracer
from cataloop.services.redrive import ExecutionStatusDetail, redrive_execution
from cataloop.settings import settings
from cataloop.validation import parse_as


@logger.inject_lambda_context(correlation_id_path="detail.executionArn")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    status = parse_as(ExecutionStatusDetail, event.get("detail"), "execution status change detail")
    config = settings()
    outcome = redrive_execution(
        status,
        StepFunctionsExecutionInputs(wiring.aws_client("stepfunctions", config.region)),
        wiring.product_store(config),
        EventBridgeCatalogEvents(wiring.aws_client("events", config.region), config.event_bus_name),
        SqsDeadLetters(wiring.aws_client("sqs", config.region), config.redrive_dead_letter_queue_url),
    )
    logger.info("redrive", extra=outcome.model_dump())
    metrics.add_metric(name=f"Redrive_{outcome.action}", unit=MetricUnit.Count, value=1)
    return outcome.model_dump()
