"""Indexer: Products and Knowledge stream batches -> the product and learnings indexes (bulk, external
versions, partial failures). Records are routed by the table in their `eventSourceARN`."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from cataloop import wiring
from cataloop.adapters.dynamodb_codec import from_item
from cataloop.domain.catalog.listing import ProductListing
from cataloop.errors import InvalidInput
from cataloop.services.indexing import IndexBatchResult, index_learning_changes, index_product_changes
from cataloop.settings import settings

logger = Logger()
tracer = Tracer()
metrics = Metrics()


def source_table(event_source_arn: str) -> str:
    """The table name in a stream ARN: arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>."""
    parts = event_source_arn.split(":", 5)
    resource = parts[5] if len(parts) == 6 else ""
    if not resource.startswith("table/") or "/stream/" not in resource:
        raise InvalidInput(f"eventSourceARN {event_source_arn!r} is not a DynamoDB stream ARN")
    return resource.split("/", 2)[1]


def _records(event: dict[str, Any]) -> list[dict[str, Any]]:
    """Stream records with their images as plain values (Powertools parses the envelope)."""
    parsed = DynamoDBStreamEvent(event)
    records = []
    for record in parsed.records:
        raw = record.raw_event["dynamodb"]
        records.append(
            {
                "eventName": record.event_name.name if record.event_name else "",
                "eventSourceARN": record.event_source_arn or "",
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


def index_records(records: list[dict[str, Any]]) -> IndexBatchResult:
    """Route each record to the index of its table, in stream order within each table."""
    config = settings()
    by_table: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_table.setdefault(source_table(record["eventSourceARN"]), []).append(record)
    result = IndexBatchResult()
    for table, batch in by_table.items():
        if table == config.products_table:
            result.absorb(index_product_changes(batch, wiring.search_index(config), _children))
        elif table == config.knowledge_table:
            result.absorb(index_learning_changes(batch, wiring.learning_index(config)))
        else:
            # A mapping to a table this function does not know is a deployment mistake: fail loudly
            # rather than acknowledge records that were never indexed.
            raise InvalidInput(
                f"stream records from table {table!r}; the indexer handles {config.products_table!r} and "
                f"{config.knowledge_table!r} (check PRODUCTS_TABLE / KNOWLEDGE_TABLE and the event sources)"
            )
    return result


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = index_records(_records(event))
    metrics.add_metric(name="DocumentsIndexed", unit=MetricUnit.Count, value=result.indexed)
    metrics.add_metric(name="DocumentsDeleted", unit=MetricUnit.Count, value=result.deleted)
    metrics.add_metric(name="StaleChangesSkipped", unit=MetricUnit.Count, value=result.stale)
    metrics.add_metric(name="RecordsNotIndexable", unit=MetricUnit.Count, value=result.ignored)
    metrics.add_metric(
        name="RecordsToRetry", unit=MetricUnit.Count, value=len(result.failed_sequence_numbers)
    )
    for problem in result.rejected:
        logger.error("stream record cannot be indexed", extra={"problem": problem})
    return result.response()
