"""Idempotent steps: one persistence layer per key, on the process's one DynamoDB client."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyKeyError
from moto import mock_aws

from cataloop import idempotency, wiring
from cataloop.idempotency import idempotent_state

REGION = "eu-west-3"  # a region no other test's cached client uses


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Any:
    # The two settings the module reads (the rest of Settings does not concern it).
    configured = SimpleNamespace(idempotency_table="idempotency-under-test", region=REGION)
    monkeypatch.setattr(idempotency, "settings", lambda: configured)
    with mock_aws():
        boto3.client("dynamodb", region_name=REGION).create_table(
            TableName="idempotency-under-test",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield "idempotency-under-test"


def test_a_step_runs_once_per_key_and_replays_its_result(table: str) -> None:
    runs: list[str] = []
    once = idempotent_state("signal.signal_id")

    @once
    def step(state: dict[str, Any]) -> dict[str, Any]:
        runs.append(state["signal"]["signal_id"])
        return {"run": len(runs)}

    once.register_lambda_context(SimpleNamespace(get_remaining_time_in_millis=lambda: 30_000))  # type: ignore[arg-type]
    assert step(state={"signal": {"signal_id": "s1"}}) == {"run": 1}
    assert step(state={"signal": {"signal_id": "s1"}, "other": "ignored"}) == {"run": 1}
    assert step(state={"signal": {"signal_id": "s2"}}) == {"run": 2}
    assert runs == ["s1", "s2"]
    with pytest.raises(IdempotencyKeyError):
        step(state={"signal": {}})


def test_one_persistence_layer_per_key_on_the_shared_client(table: str) -> None:
    first = idempotent_state("signal.signal_id")
    again = idempotent_state("signal.signal_id")
    other = idempotent_state("[context.event_id, context.product_id]")

    assert again.persistence is first.persistence
    # Powertools keeps the first configuration a layer serves: two keys need two layers.
    assert other.persistence is not first.persistence
    assert first.persistence.client is wiring.aws_client("dynamodb", REGION)
    assert other.persistence.client is first.persistence.client
    assert first.persistence.table_name == table
    assert first.config.raise_on_no_idempotency_key and first.config.event_key_jmespath == "signal.signal_id"


def test_nothing_is_built_at_import_only_on_first_use(table: str, monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[tuple[str, ...]] = []
    real = idempotency.persistence_layer

    def counting(*key: str) -> Any:
        built.append(key)
        return real(*key)

    monkeypatch.setattr(idempotency, "persistence_layer", counting)
    once = idempotent_state("signal.signal_id")

    @once
    def step(state: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True}

    assert built == []  # a handler module decorating its step builds no client and no persistence layer
    once.register_lambda_context(SimpleNamespace(get_remaining_time_in_millis=lambda: 30_000))  # type: ignore[arg-type]
    assert step(state={"signal": {"signal_id": "s1"}}) == {"ok": True}
    assert step(state={"signal": {"signal_id": "s1"}}) == {"ok": True}
    assert built == [(table, REGION, "signal.signal_id")]  # once, then the decorated step is kept
