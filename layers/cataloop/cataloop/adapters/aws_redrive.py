"""The AWS side of the redrive path: execution inputs (Step Functions DescribeExecution), catalog events
(EventBridge PutEvents) and the redrive dead-letter queue (SQS). Low-level boto3 clients."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from cataloop.errors import CataloopError, RetryableStoreError


class StepFunctionsExecutionInputs:
    """The `ExecutionInputs` port on Step Functions."""

    def __init__(self, client: Any):
        self._client = client

    def input_of(self, execution_arn: str) -> dict[str, Any] | None:
        try:
            described = self._client.describe_execution(executionArn=execution_arn)
        except ClientError as error:
            if error.response["Error"]["Code"] in ("ExecutionDoesNotExist", "InvalidArn"):
                return None
            raise
        try:
            data = json.loads(described.get("input") or "null")
        except ValueError:
            return None
        return data if isinstance(data, dict) else None


class EventBridgeCatalogEvents:
    """The `CatalogEvents` port on one EventBridge bus."""

    def __init__(self, client: Any, bus_name: str):
        self._client = client
        self._bus = bus_name

    def put(self, source: str, detail_type: str, detail: dict[str, Any]) -> str:
        entry = {
            "EventBusName": self._bus,
            "Source": source,
            "DetailType": detail_type,
            "Detail": json.dumps(detail, ensure_ascii=False),
        }
        result = self._client.put_events(Entries=[entry])["Entries"][0]
        if "EventId" not in result:
            raise RetryableStoreError(
                f"PutEvents refused the {detail_type} entry: {result.get('ErrorCode')} {result.get('ErrorMessage')}"
            )
        return str(result["EventId"])


class SqsDeadLetters:
    """The `DeadLetters` port on one SQS queue; the cause is also a message attribute."""

    def __init__(self, client: Any, queue_url: str):
        if not queue_url:
            raise CataloopError("no dead-letter queue URL configured (REDRIVE_DEAD_LETTER_QUEUE_URL)")
        self._client = client
        self._url = queue_url

    def send(self, body: dict[str, Any], cause: str) -> None:
        self._client.send_message(
            QueueUrl=self._url,
            MessageBody=json.dumps({**body, "dead_letter_cause": cause}, ensure_ascii=False, default=str),
            MessageAttributes={"CAUSE": {"DataType": "String", "StringValue": cause[:1000] or "-"}},
        )
