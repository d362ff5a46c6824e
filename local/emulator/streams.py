"""DynamoDB Streams -> Lambda with the real event-source-mapping semantics, in-process.

moto's own mappings deliver inside the write, one record at a time, without retries or bisection, and
records read through `get_records` lack `eventSourceARN` and carry datetimes. This poller reads the
streams through the public API and delivers Lambda-format batches honouring BatchSize,
ReportBatchItemFailures, MaximumRetryAttempts, BisectBatchOnFunctionError and the on-failure destination.
Delivery happens when `pump()` is called (after a command, in tests) or from `serve`'s background loop.
"""

from __future__ import annotations

import base64
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cataloop.wiring import aws_client
from cataloop_local.emulator.lambdas import FunctionError

KEEP_OUTCOMES = 1000


@dataclass
class StreamMapping:
    """One `Type: DynamoDB` event of a function in the template."""

    function: str
    stream_arn: str
    batch_size: int = 100
    maximum_retry_attempts: int = -1
    bisect_on_error: bool = False
    report_item_failures: bool = False
    on_failure_arn: str | None = None
    enabled: bool = True
    _iterators: dict[str, str] = field(default_factory=dict)
    _consumed: int = 0  # highest sequence number delivered (to the function or its failure destination)


@dataclass
class BatchOutcome:
    mapping: str
    records: int
    invocations: int
    dead_lettered: int


def to_lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A record as `get_records` returns it -> the record Lambda hands to the function."""
    dynamodb = dict(record["dynamodb"])
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        created = created.replace(tzinfo=created.tzinfo or UTC)
        dynamodb["ApproximateCreationDateTime"] = int(created.timestamp())
    for image in ("Keys", "NewImage", "OldImage"):
        if image in dynamodb:
            dynamodb[image] = _binary_as_base64(dynamodb[image])
    return {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": record.get("awsRegion", "us-east-1"),
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }


def _binary_as_base64(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: (
                base64.b64encode(item).decode()
                if key == "B" and isinstance(item, bytes)
                else [base64.b64encode(b).decode() for b in item]
                if key == "BS"
                else _binary_as_base64(item)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_binary_as_base64(item) for item in value]
    return value


class StreamPoller:
    """Polls every mapped stream and delivers batches to the mapped functions."""

    def __init__(self, region: str, invoke: Callable[[str, Any], Any], function_arn: Callable[[str], str]):
        self.region = region
        self.mappings: list[StreamMapping] = []
        self._invoke = invoke
        self._function_arn = function_arn
        # The last KEEP_OUTCOMES batches (oldest first): bounded, as a long `cataloop serve` delivers forever.
        self.outcomes: deque[BatchOutcome] = deque(maxlen=KEEP_OUTCOMES)

    def add(self, mapping: StreamMapping) -> None:
        self.mappings.append(mapping)

    def start_at_latest(self) -> None:
        """Position every mapping after the records already in the stream (used after a state restore)."""
        client = aws_client("dynamodbstreams", self.region)
        for mapping in self.mappings:
            for shard in client.describe_stream(StreamArn=mapping.stream_arn)["StreamDescription"]["Shards"]:
                mapping._iterators[shard["ShardId"]] = client.get_shard_iterator(
                    StreamArn=mapping.stream_arn, ShardId=shard["ShardId"], ShardIteratorType="LATEST"
                )["ShardIterator"]

    def consumed(self) -> dict[str, int]:
        """Per stream, the sequence number up to which every mapping on it has finished."""
        by_stream: dict[str, int] = {}
        for mapping in self.mappings:
            current = by_stream.get(mapping.stream_arn)
            by_stream[mapping.stream_arn] = (
                mapping._consumed if current is None else min(current, mapping._consumed)
            )
        return {arn: sequence for arn, sequence in by_stream.items() if sequence > 0}

    def pump(self, max_rounds: int = 1000) -> int:
        """Deliver everything pending, including records written by the functions themselves.
        Returns the number of records delivered."""
        delivered = 0
        for _ in range(max_rounds):
            round_total = sum(self._poll(mapping) for mapping in self.mappings if mapping.enabled)
            delivered += round_total
            if round_total == 0:
                return delivered
        raise RuntimeError(f"streams still had records after {max_rounds} rounds: a write loop?")

    def _poll(self, mapping: StreamMapping) -> int:
        client = aws_client("dynamodbstreams", self.region)
        shards = client.describe_stream(StreamArn=mapping.stream_arn)["StreamDescription"]["Shards"]
        total = 0
        for shard in shards:
            shard_id = shard["ShardId"]
            iterator = (
                mapping._iterators.get(shard_id)
                or client.get_shard_iterator(
                    StreamArn=mapping.stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            )
            while True:
                response = client.get_records(ShardIterator=iterator, Limit=mapping.batch_size)
                iterator = response["NextShardIterator"]
                mapping._iterators[shard_id] = iterator
                records = [to_lambda_record(r, mapping.stream_arn) for r in response["Records"]]
                if not records:
                    break
                total += len(records)
                self._deliver(mapping, shard_id, records)
                mapping._consumed = max(mapping._consumed, int(records[-1]["dynamodb"]["SequenceNumber"]))
        return total

    def _deliver(self, mapping: StreamMapping, shard_id: str, records: list[dict[str, Any]]) -> None:
        outcome = BatchOutcome(mapping.function, len(records), 0, 0)
        self.outcomes.append(outcome)
        self._process(mapping, shard_id, records, outcome)

    def _process(
        self, mapping: StreamMapping, shard_id: str, batch: list[dict[str, Any]], outcome: BatchOutcome
    ) -> None:
        attempts = 0
        while batch:
            attempts += 1
            outcome.invocations += 1
            failed_from = self._invoke_batch(mapping, batch)
            if failed_from is None:
                return
            # Records before the first reported failure are checkpointed, as Lambda does.
            batch = batch[failed_from:]
            if mapping.bisect_on_error and len(batch) > 1:
                middle = len(batch) // 2
                self._process(mapping, shard_id, batch[:middle], outcome)
                self._process(mapping, shard_id, batch[middle:], outcome)
                return
            retries_left = mapping.maximum_retry_attempts < 0 or attempts <= mapping.maximum_retry_attempts
            if not retries_left:
                self._send_to_failure_destination(mapping, shard_id, batch, attempts)
                outcome.dead_lettered += len(batch)
                return

    def _invoke_batch(self, mapping: StreamMapping, batch: list[dict[str, Any]]) -> int | None:
        """Index of the first record to retry, or None when the whole batch succeeded."""
        try:
            response = self._invoke(mapping.function, {"Records": batch})
        except FunctionError:
            return 0
        if not mapping.report_item_failures or not isinstance(response, dict):
            return None
        failures = response.get("batchItemFailures") or []
        if not failures:
            return None
        sequence = {r["dynamodb"]["SequenceNumber"]: index for index, r in enumerate(batch)}
        indexes = [sequence.get(str(f.get("itemIdentifier"))) for f in failures]
        if any(index is None for index in indexes):
            return 0  # an unknown identifier fails the whole batch, as in Lambda
        return min(index for index in indexes if index is not None)

    def _send_to_failure_destination(
        self, mapping: StreamMapping, shard_id: str, batch: list[dict[str, Any]], attempts: int
    ) -> None:
        if not mapping.on_failure_arn:
            return
        first, last = batch[0]["dynamodb"], batch[-1]["dynamodb"]
        message = {
            "requestContext": {
                "requestId": batch[0]["eventID"],
                "functionArn": self._function_arn(mapping.function),
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": attempts,
            },
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(),
            "DDBStreamBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": first["SequenceNumber"],
                "endSequenceNumber": last["SequenceNumber"],
                "approximateArrivalOfFirstRecord": first.get("ApproximateCreationDateTime"),
                "approximateArrivalOfLastRecord": last.get("ApproximateCreationDateTime"),
                "batchSize": len(batch),
                "streamArn": mapping.stream_arn,
            },
        }
        sqs = aws_client("sqs", self.region)
        url = sqs.get_queue_url(QueueName=mapping.on_failure_arn.split(":")[5])["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(message, default=str, ensure_ascii=False))
