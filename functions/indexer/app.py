"""Indexer: Products stream batches -> the search index (bulk, external versions, partial failures)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent
from aws_lambda_powertools.utilities.typing import LambdaContext
from cataloop import wiring
from cataloop.adapters.dynamodb_codec import from_item
from cataloop.domain.products import ProductListing
from cataloop.services.indexing import index_product_changes
from cataloop.settings import settings

logger = Logger()
tracer = Tracer()
metrics = Metrics()


def _records(event: dict[str, Any]) -> list[dict[str, Any]]:
    """Stream records with their images as plain values (Powertools parses the envelope)."""
    parsed = DynamoDBStreamEvent(event)
    records = []
    for record in parsed.records:
        raw = record.raw_event["dynamodb"]
        records.append(
            {
                "eventName": record.event_name.name if record.event_name else "",
                "dynamodb": {
                    "SequenceNumber": raw["SequenceNumber"],
                    "Keys": from_item(raw.get("Keys", {})),
                    "NewImage": from_item(raw["NewImage"]) if "NewImage" in raw else None,
                    "OldImage": from_item(raw["OldImage"]) if "OldImage" in raw else None,
                },
            }
        )
    return records


def _children(child_ids: list[str]) -> list[ProductListing]:
    config = settings()
    client = wiring.aws_client("dynamodb", config.region)
    keys = [{"product_id": {"S": child}} for child in dict.fromkeys(child_ids)][:100]
    response = client.batch_get_item(RequestItems={config.products_table: {"Keys": keys}})
    items = response.get("Responses", {}).get(config.products_table, [])
    return [ProductListing.model_validate(from_item(item)["listing"]) for item in items]


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    index = wiring.search_index(settings())
    result = index_product_changes(_records(event), index, _children)
    metrics.add_metric(name="DocumentsIndexed", unit=MetricUnit.Count, value=result.indexed)
    metrics.add_metric(name="DocumentsDeleted", unit=MetricUnit.Count, value=result.deleted)
    metrics.add_metric(name="StaleChangesSkipped", unit=MetricUnit.Count, value=result.stale)
    metrics.add_metric(
        name="RecordsToRetry", unit=MetricUnit.Count, value=len(result.failed_sequence_numbers)
    )
    for problem in result.rejected:
        logger.error("stream record cannot be indexed", extra={"problem": problem})
    return result.response()
