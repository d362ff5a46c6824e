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

The persistence layer writes through the process's one DynamoDB client (`wiring.aws_client`), the one the
stores use, so a function does not build a second client at import. A Powertools persistence layer keeps
the configuration of the first function it serves, so there is one per key: in Lambda that is one per
process; the local cloud, which runs every function in one process, gets one per function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from cataloop import wiring
from cataloop.settings import settings

F = TypeVar("F", bound=Callable[..., Any])


@lru_cache(maxsize=16)
def persistence_layer(table: str, region: str, event_key_jmespath: str) -> DynamoDBPersistenceLayer:
    """The persistence layer for steps keyed on `event_key_jmespath` (one per process and key)."""
    return DynamoDBPersistenceLayer(table_name=table, boto3_client=wiring.aws_client("dynamodb", region))


@dataclass(frozen=True)
class IdempotentState:
    """Makes a step function idempotent on its `state` keyword argument (see the module docstring)."""

    config: IdempotencyConfig
    persistence: DynamoDBPersistenceLayer

    def __call__(self, function: F) -> F:
        decorated: F = idempotent_function(
            function, data_keyword_argument="state", persistence_store=self.persistence, config=self.config
        )
        return decorated

    def register_lambda_context(self, context: LambdaContext) -> None:
        """Call first in the handler: lets an in-progress record expire with the invocation's timeout."""
        self.config.register_lambda_context(context)


def idempotent_state(event_key_jmespath: str) -> IdempotentState:
    """Idempotency keyed on `event_key_jmespath` over the state, stored in the configured idempotency table."""
    config = settings()
    return IdempotentState(
        IdempotencyConfig(event_key_jmespath=event_key_jmespath, raise_on_no_idempotency_key=True),
        persistence_layer(config.idempotency_table, config.region, event_key_jmespath),
    )
