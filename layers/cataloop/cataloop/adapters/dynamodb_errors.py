"""DynamoDB error codes -> retryable or not: the one mapping used by every DynamoDB adapter.

Throttling and server-side (5xx) errors become `RetryableStoreError`, which the state machines retry with
backoff and jitter (Step Functions matches the class name). Everything else (a failed condition, a
validation error) stays the botocore `ClientError` the adapter interprets itself.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from cataloop.errors import RetryableStoreError

RETRYABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionInProgressException",
    }
)
# Cancellation reasons of a TransactionCanceledException that a retry of the same transaction can fix.
RETRYABLE_CANCELLATION_REASONS = frozenset({"ThrottlingError", "ProvisionedThroughputExceeded"})


def retryable_store_error(error: ClientError) -> RetryableStoreError | None:
    """The retryable error `error` stands for, or None when retrying the same request will not help."""
    response = error.response
    code = str(response.get("Error", {}).get("Code", ""))
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    operation = getattr(error, "operation_name", "call")
    if code in RETRYABLE_CODES or status >= 500:
        return RetryableStoreError(f"DynamoDB {operation}: {code or status} (transient; retry with backoff)")
    if code == "TransactionCanceledException":
        reasons = {str(r.get("Code")) for r in response.get("CancellationReasons", []) if r}
        if reasons & RETRYABLE_CANCELLATION_REASONS:
            return RetryableStoreError(
                f"DynamoDB {operation}: transaction cancelled by {', '.join(sorted(reasons - {'None'}))}"
                " (transient; retry with backoff)"
            )
    return None


class RetryableErrors:
    """A DynamoDB client whose calls raise `RetryableStoreError` for throttling and 5xx errors; any other
    `ClientError` passes through unchanged for the adapter to interpret."""

    def __init__(self, client: Any):
        self._client = client

    @property
    def wrapped(self) -> Any:
        return self._client

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute) or name.startswith("_") or name in ("get_paginator", "get_waiter"):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return attribute(*args, **kwargs)
            except ClientError as error:
                mapped = retryable_store_error(error)
                if mapped is not None:
                    raise mapped from error
                raise

        return call
