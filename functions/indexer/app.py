"""Indexer: Products and Knowledge stream batches -> the product and learnings indexes (one bulk call per
index and batch, external versions, partial batch failures). The stream adapter turns records into domain
changes, routed by the table in their `eventSourceARN`; the indexing service writes them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from cataloop import wiring
from cataloop.adapters.dynamodb_streams import decode_stream_event
from cataloop.observability import logger, metrics, tracer
from cataloop.services.indexing import IndexBatchResult, index_learning_changes, index_product_changes
from cataloop.settings import settings

if TYPE_CHECKING:  # a TypedDict: importing Powertools' batch package at run time costs every cold start
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse


def index_event(event: dict[str, Any]) -> IndexBatchResult:
    """Decode a stream event and apply its changes, each index's in stream order."""
    config = settings()
    changes = decode_stream_event(
        event, products_table=config.products_table, knowledge_table=config.knowledge_table
    )
    result = IndexBatchResult(ignored=changes.ignored)
    if changes.products:
        index = wiring.search_index(config)
        result.absorb(index_product_changes(changes.products, index, wiring.product_store(config)))
    if changes.learnings:
        result.absorb(index_learning_changes(changes.learnings, wiring.learning_index(config)))
    return result


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    result = index_event(event)
    for name, value in (
        ("DocumentsIndexed", result.indexed),
        ("DocumentsDeleted", result.deleted),
        ("StaleChangesSkipped", result.stale),
        ("RecordsNotIndexable", result.ignored),
        ("RecordsToRetry", len(result.failed_sequence_numbers)),
    ):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    for problem in result.rejected:
        logger.error("stream record cannot be indexed", extra={"problem": problem})
    return result.response()
