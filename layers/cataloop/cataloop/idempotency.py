"""Idempotent workflow steps: Powertools idempotency on the idempotency table, set up in one place.

    from cataloop.idempotency import idempotent_state

    _idempotency = idempotent_state("signal.signal_id")

    @_idempotency
    def _apply(state: dict[str, Any]) -> dict[str, Any]: ...

    def lambda_handler(event, context):
        _idempotency.register_lambda_context(context)
        return _apply(state=event)

The key is a JMESPath over the state; a state without it is an error (never silently run twice). A second
call with the same key returns the first call's result and runs nothing.

Nothing is built at import: the configuration, the persistence layer and Powertools' idempotency module are
made on first use (the handler's first invocation), so a cold start does not pay for a DynamoDB client
before it needs one. The persistence layer writes through the process's one DynamoDB client
(`wiring.aws_client`), the one the stores use, so a function never builds a second client. A Powertools
persistence layer keeps the configuration of the first function it serves, so there is one per key: in
Lambda that is one per process; the local cloud, which runs every function in one process, gets one per
function. The settings are read on first use too, under the invoking function's environment.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar, cast

from cataloop import wiring
from cataloop.settings import settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig
    from aws_lambda_powertools.utilities.typing import LambdaContext

F = TypeVar("F", bound=Callable[..., Any])


@lru_cache(maxsize=16)
def persistence_layer(table: str, region: str, event_key_jmespath: str) -> DynamoDBPersistenceLayer:
    """The persistence layer for steps keyed on `event_key_jmespath` (one per process and key)."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    return DynamoDBPersistenceLayer(table_name=table, boto3_client=wiring.aws_client("dynamodb", region))


class IdempotentState:
    """Makes a step function idempotent on its `state` keyword argument (see the module docstring)."""

    def __init__(self, event_key_jmespath: str) -> None:
        self.event_key_jmespath = event_key_jmespath
        self._lock = threading.Lock()
        self._config: IdempotencyConfig | None = None

    @property
    def config(self) -> IdempotencyConfig:
        """One configuration per step (it carries the invocation's Lambda context)."""
        with self._lock:
            if self._config is None:
                from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

                self._config = IdempotencyConfig(
                    event_key_jmespath=self.event_key_jmespath, raise_on_no_idempotency_key=True
                )
            return self._config

    @property
    def persistence(self) -> DynamoDBPersistenceLayer:
        """The persistence layer in the configured idempotency table (built on first use)."""
        config = settings()
        return persistence_layer(config.idempotency_table, config.region, self.event_key_jmespath)

    def __call__(self, function: F) -> F:
        decorated: Callable[..., Any] | None = None

        @functools.wraps(function)
        def idempotent(*args: Any, **kwargs: Any) -> Any:
            nonlocal decorated
            if decorated is None:
                from aws_lambda_powertools.utilities.idempotency import idempotent_function

                decorated = idempotent_function(
                    function,
                    data_keyword_argument="state",
                    persistence_store=self.persistence,
                    config=self.config,
                )
            return decorated(*args, **kwargs)

        return cast(F, idempotent)

    def register_lambda_context(self, context: LambdaContext) -> None:
        """Call first in the handler: lets an in-progress record expire with the invocation's timeout."""
        self.config.register_lambda_context(context)


def idempotent_state(event_key_jmespath: str) -> IdempotentState:
    """Idempotency keyed on `event_key_jmespath` over the state, stored in the configured idempotency table."""
    return IdempotentState(event_key_jmespath)
