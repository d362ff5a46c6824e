"""DynamoDB stream events (Lambda's event source mapping) -> domain change events for the indexes.

Powertools' `DynamoDBStreamEvent` parses the envelope and deserialises keys and images; each record is
routed by the table in its `eventSourceARN`: Products records become `ProductChanged`, Knowledge records
of learning items become `LearningChanged`, other Knowledge items (nodes, locators, influence, audit) are
counted as ignored. The stores' own decoders (`product_from_image`, `learning_from_image`) read the images,
so the key scheme and item encoding stay in the store adapters.

A record that cannot be read becomes a change with a `problem`, in its place in the stream order, so the
indexer reports it (and every later record) for retry instead of dropping it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecord,
    DynamoDBRecordEventName,
    StreamRecord,
)

from cataloop.adapters.dynamodb_knowledge_items import is_learning_key, learning_from_image, learning_id_of
from cataloop.adapters.dynamodb_products import product_from_image
from cataloop.domain.search.changes import LearningChanged, ProductChanged
from cataloop.errors import InvalidInput

MAX_PROBLEM_CHARS = 500


@dataclass
class StreamChanges:
    """The changes of one stream batch, per index, each list in stream order; `ignored` counts Knowledge
    records of items that are not learnings."""

    products: list[ProductChanged] = field(default_factory=list)
    learnings: list[LearningChanged] = field(default_factory=list)
    ignored: int = 0


def source_table(event_source_arn: str) -> str:
    """The table name in a stream ARN: arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>."""
    parts = event_source_arn.split(":", 5)
    resource = parts[5] if len(parts) == 6 else ""
    if not resource.startswith("table/") or "/stream/" not in resource:
        raise InvalidInput(f"eventSourceARN {event_source_arn!r} is not a DynamoDB stream ARN")
    return resource.split("/", 2)[1]


def decode_stream_event(
    event: Mapping[str, Any], *, products_table: str, knowledge_table: str
) -> StreamChanges:
    """The domain changes in a Lambda DynamoDB stream event. A record from any other table raises
    `InvalidInput`: a mapping to a table the indexer does not know is a deployment mistake, and failing
    loudly beats acknowledging records that were never indexed."""
    changes = StreamChanges()
    for record in DynamoDBStreamEvent(dict(event)).records:
        table = source_table(record.event_source_arn or "")
        if table == products_table:
            changes.products.append(product_change(record))
        elif table == knowledge_table:
            learning = learning_change(record)
            if learning is None:
                changes.ignored += 1
            else:
                changes.learnings.append(learning)
        else:
            raise InvalidInput(
                f"stream records from table {table!r}; the indexer handles {products_table!r} and "
                f"{knowledge_table!r} (check PRODUCTS_TABLE / KNOWLEDGE_TABLE and the event sources)"
            )
    return changes


def _problem(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"[:MAX_PROBLEM_CHARS]


def _stream_record(record: DynamoDBRecord) -> tuple[StreamRecord, str]:
    stream = record.dynamodb
    if stream is None or not stream.sequence_number:
        raise InvalidInput(f"stream record {record.event_id!r} has no dynamodb.SequenceNumber")
    return stream, str(stream.sequence_number)


def _deletion_version(old_image: Mapping[str, Any]) -> int:
    """The version a deletion carries: the deleted item's + 1 (1 when the stream has no old image)."""
    return int(old_image.get("version", 0)) + 1


def product_change(record: DynamoDBRecord) -> ProductChanged:
    """One Products stream record -> its change (`problem` set when the record cannot be read)."""
    stream, sequence = _stream_record(record)
    product_id = "?"
    try:
        product_id = str(stream.keys.get("product_id", "?"))
        if record.event_name is DynamoDBRecordEventName.REMOVE:
            return ProductChanged(
                product_id=product_id,
                version=_deletion_version(stream.old_image),
                deleted=True,
                sequence_number=sequence,
            )
        product = product_from_image(stream.new_image)
        return ProductChanged(
            product_id=product.product_id, version=product.version, product=product, sequence_number=sequence
        )
    except (InvalidInput, TypeError, ValueError, KeyError) as error:
        return ProductChanged(
            product_id=product_id, version=0, sequence_number=sequence, problem=_problem(error)
        )


def learning_change(record: DynamoDBRecord) -> LearningChanged | None:
    """One Knowledge stream record -> its change, or None when the item is not a learning."""
    stream, sequence = _stream_record(record)
    try:
        keys = stream.keys
    except (TypeError, ValueError) as error:  # keys that do not deserialise: nothing says what it was
        return LearningChanged(learning_id="?", version=0, sequence_number=sequence, problem=_problem(error))
    if not is_learning_key(keys):
        return None
    learning_id = learning_id_of(keys) or "?"
    try:
        if record.event_name is DynamoDBRecordEventName.REMOVE:
            return LearningChanged(
                learning_id=learning_id,
                version=_deletion_version(stream.old_image),
                deleted=True,
                sequence_number=sequence,
            )
        learning = learning_from_image(keys, stream.new_image)
        if learning is None:  # cannot happen for a learning key; kept so a decoder change fails loudly
            raise InvalidInput(f"learning {learning_id}: the store did not decode its own item")
        return LearningChanged(
            learning_id=learning.id, version=learning.version, learning=learning, sequence_number=sequence
        )
    except (InvalidInput, TypeError, ValueError, KeyError) as error:
        return LearningChanged(
            learning_id=learning_id, version=0, sequence_number=sequence, problem=_problem(error)
        )
