"""The composition root builds the adapters the configuration asks for (no AWS call is made here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cataloop import wiring
from cataloop.adapters.bedrock_guardrail import BedrockGuardrail
from cataloop.adapters.bedrock_models import BedrockModelClient
from cataloop.adapters.offline_guardrail import OfflineGuardrail
from cataloop.adapters.search_log_files import SearchLogFiles
from cataloop.adapters.search_log_s3 import SearchLogS3
from cataloop.settings import Settings


@pytest.fixture(autouse=True)
def _aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    # boto3 clients are created, never called: fake credentials keep botocore from looking further.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")


def _opensearch(**values: str) -> Settings:
    """A deployed-shape configuration (the search path in AWS), built from environment variables."""
    return Settings(
        model_provider="bedrock",
        generator_model_id="g",
        generator_b_model_id="g2",
        evaluator_model_id="e",
        supervisor_model_id="s",
        search_backend="opensearch",
        opensearch_host="search-x.us-east-1.es.amazonaws.com",
        embedding_provider="bedrock",
        embedding_dimension=1024,
        **values,  # type: ignore[arg-type]
    )


def test_without_search_settings_aws_uses_the_offline_guardrail_no_log_no_commenter() -> None:
    config = _opensearch()
    assert isinstance(wiring.guardrail(config), OfflineGuardrail)
    assert wiring.search_log(config) is None
    assert wiring.commenter_model(config) is None


def test_guardrail_id_switches_to_the_bedrock_guardrail(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUARDRAIL_ID", "gr-abc123")
    monkeypatch.setenv("GUARDRAIL_VERSION", "3")
    guardrail = wiring.guardrail(_opensearch())
    assert isinstance(guardrail, BedrockGuardrail)
    assert (guardrail._identifier, guardrail._version) == ("gr-abc123", "3")


def test_search_log_bucket_switches_to_s3(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEARCH_LOG_BUCKET", "cataloop-dev-search-log")
    log = wiring.search_log(_opensearch())
    assert isinstance(log, SearchLogS3)
    assert log.bucket == "cataloop-dev-search-log"


def test_commenter_model_id_switches_to_a_bedrock_commenter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMMENTER_MODEL_ID", "us.amazon.nova-micro-v1:0")
    commenter = wiring.commenter_model(_opensearch())
    assert isinstance(commenter, BedrockModelClient)
    assert commenter._model_ids == {"commenter": "us.amazon.nova-micro-v1:0"}


def test_the_comment_secret_is_shared_by_every_instance(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMMENT_TOKEN_SECRET", "one key for every instance")
    assert wiring.comment_token_secret(_opensearch()) == b"one key for every instance"


def test_without_a_secret_aws_instances_each_make_their_own_key() -> None:
    first = wiring.comment_token_secret(_opensearch())
    assert len(first) == 32 and first != b""


def test_the_embedded_backend_keeps_its_log_and_key_under_data_dir(tmp_path: Path) -> None:
    config = Settings(data_dir=str(tmp_path))
    log = wiring.search_log(config)
    assert isinstance(log, SearchLogFiles)
    assert str(log.path_for("2026-11-26")).startswith(str(tmp_path))
    key = wiring.comment_token_secret(config)
    assert (tmp_path / "comment-token.key").read_bytes() == key
    assert wiring.comment_token_secret(config) == key  # survives a restart


def test_the_configured_secret_wins_over_the_key_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMMENT_TOKEN_SECRET", "configured")
    assert wiring.comment_token_secret(Settings(data_dir=str(tmp_path))) == b"configured"
    assert not (tmp_path / "comment-token.key").exists()


def test_the_similarity_floors_are_e5_s_unless_configured(tmp_path: Path) -> None:
    e5 = wiring.search_settings(Settings(data_dir=str(tmp_path)))
    assert (e5.min_vector_score, e5.vector_score_margin) == (0.925, 0.02)
    titan = wiring.search_settings(_opensearch())
    assert (titan.min_vector_score, titan.vector_score_margin) == (None, None)  # not calibrated for Titan
    tuned = wiring.search_settings(
        _opensearch(search_min_vector_score="0.6", search_vector_score_margin="0.1")
    )
    assert (tuned.min_vector_score, tuned.vector_score_margin) == (0.6, 0.1)
