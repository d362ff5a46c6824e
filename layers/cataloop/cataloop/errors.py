"""Errors a caller can act on. Handlers map them to Fail causes, 4xx responses or DLQ messages."""

from __future__ import annotations


class CataloopError(Exception):
    """Base class: `str(error)` is a message that says what to fix."""


class InvalidInput(CataloopError):
    """The input failed validation; the message lists the fields and what is wrong."""


class NotFound(InvalidInput):
    """The input names something that does not exist (an unknown product): an API answers 404."""


class Conflict(CataloopError):
    """A conditional write lost: the item changed since it was read."""


class ModelError(CataloopError):
    """A model call failed in a way that retrying the same request will not fix."""


class RetryableModelError(CataloopError):
    """Throttling or a transient service error: the state machine retries with backoff and jitter.
    The class name is what Step Functions matches in Retry.ErrorEquals."""


class RetryableStoreError(CataloopError):
    """A store call was throttled or hit a transient service error (DynamoDB throttling, 5xx, a transaction
    conflict): the state machine retries with backoff and jitter, like `RetryableModelError`."""
