"""The comment-token key comes from the stack's Secrets Manager secret when COMMENT_TOKEN_SECRET_ARN is set
(read through Powertools parameters, cached), else from COMMENT_TOKEN_SECRET as before (moto stands in for
Secrets Manager)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from cataloop import wiring
from cataloop.settings import ConfigurationError, Settings


@pytest.fixture
def secretsmanager(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        monkeypatch.setenv(name, value)
    parameters.clear_caches()
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")
    parameters.clear_caches()


def _settings(**values: Any) -> Settings:
    # A DATA_DIR only to satisfy the embedded backend: with a secret or a key configured it is never read.
    return Settings(data_dir="unused-data-dir", **values)


def test_the_secret_arn_wins_over_the_configured_key(secretsmanager: Any) -> None:
    arn = secretsmanager.create_secret(Name="comment-key", SecretString="from secrets manager")["ARN"]
    config = _settings(comment_token_secret_arn=arn, comment_token_secret="from the parameter")
    assert wiring.comment_secret_source(config) == "secrets_manager"
    assert wiring.comment_token_secret(config) == b"from secrets manager"


def test_without_an_arn_the_configured_key_is_used_and_secrets_manager_is_not_called(
    secretsmanager: Any,
) -> None:
    config = _settings(comment_token_secret="from the parameter")
    assert wiring.comment_secret_source(config) == "configured"
    assert wiring.comment_token_secret(config) == b"from the parameter"


def test_the_secret_is_cached_for_its_max_age(secretsmanager: Any) -> None:
    arn = secretsmanager.create_secret(Name="comment-key", SecretString="first")["ARN"]
    config = _settings(comment_token_secret_arn=arn)
    assert wiring.comment_token_secret(config) == b"first"
    secretsmanager.put_secret_value(SecretId=arn, SecretString="rotated")
    assert wiring.comment_token_secret(config) == b"first"  # within SECRET_MAX_AGE_SECONDS
    assert wiring.SECRET_MAX_AGE_SECONDS == 300
    parameters.clear_caches()
    assert wiring.comment_token_secret(config) == b"rotated"


def test_an_unreadable_secret_names_the_permission(secretsmanager: Any) -> None:
    missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:absent-AbCdEf"
    with pytest.raises(ConfigurationError, match="secretsmanager:GetSecretValue"):
        wiring.comment_token_secret(_settings(comment_token_secret_arn=missing))


def test_the_search_service_is_built_per_secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Two configurations that differ only by the secret's ARN get two services (two keys)."""
    built: list[bytes] = []

    def build(**kwargs: Any) -> object:
        built.append(kwargs["token_secret"])
        return object()

    monkeypatch.setattr(wiring, "build_search_service", build)
    monkeypatch.setattr(wiring, "search_index", lambda settings: None)
    monkeypatch.setattr(wiring, "embedder", lambda settings: None)
    monkeypatch.setattr(wiring, "product_store", lambda settings: None)
    monkeypatch.setattr(
        wiring, "comment_token_secret", lambda settings: settings.comment_token_secret_arn.encode()
    )
    monkeypatch.setattr(wiring, "_search_services", {})
    base = {"search_backend": "embedded", "data_dir": str(tmp_path)}
    first = wiring.search_service(Settings(comment_token_secret_arn="arn:one", **base))
    second = wiring.search_service(Settings(comment_token_secret_arn="arn:two", **base))
    assert first is not second and built == [b"arn:one", b"arn:two"]
