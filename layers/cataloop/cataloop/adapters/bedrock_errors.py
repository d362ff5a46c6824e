"""How a failed Bedrock call becomes a Cataloop error: one table for every Bedrock adapter.

RetryableModelError means "the same request may succeed later": Step Functions matches that class name and
retries with backoff and jitter, and the HTTP API answers 503. Every other failure is a ModelError, whose
message carries the AWS error code and message (plus a hint when the caller has one for that code).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from cataloop.errors import ModelError, RetryableModelError

# Throttles and transient faults of bedrock-runtime (Converse, InvokeModel, ApplyGuardrail).
RETRYABLE_ERROR_CODES = frozenset(
    {
        "ThrottlingException",
        "ServiceUnavailableException",
        "ModelNotReadyException",
        "InternalServerException",
        "ModelTimeoutException",
    }
)


def map_client_error(
    error: ClientError, what: str, hints: Mapping[str, str] | None = None
) -> ModelError | RetryableModelError:
    """The error to raise for a ClientError from the call described by `what` (e.g. "<model id> (role)")."""
    code = error.response.get("Error", {}).get("Code", "Unknown")
    message = error.response.get("Error", {}).get("Message", str(error))
    text = f"{what} failed with {code}: {message}"
    if code in RETRYABLE_ERROR_CODES:
        return RetryableModelError(text)
    hint = (hints or {}).get(code)
    return ModelError(f"{text}; {hint}" if hint else text)


@contextmanager
def bedrock_errors(what: str, hints: Mapping[str, str] | None = None) -> Iterator[None]:
    """Run a Bedrock call, raising `map_client_error`'s error for a ClientError and RetryableModelError when
    the service could not be reached (connection or HTTP client failure)."""
    try:
        yield
    except ClientError as error:
        raise map_client_error(error, what, hints) from error
    except (BotocoreConnectionError, HTTPClientError) as error:
        raise RetryableModelError(f"{what} could not be reached: {error}") from error
