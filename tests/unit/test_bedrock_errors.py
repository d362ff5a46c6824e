"""One table maps Bedrock failures to Cataloop errors, for the model, guardrail and embedding adapters alike."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from botocore.stub import Stubber

from cataloop.adapters.bedrock_embeddings import TitanEmbedder
from cataloop.adapters.bedrock_errors import RETRYABLE_ERROR_CODES, bedrock_errors, map_client_error
from cataloop.adapters.bedrock_guardrail import BedrockGuardrail
from cataloop.errors import ModelError, RetryableModelError


def _client_error(code: str, message: str = "the message") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "Converse")


@pytest.mark.parametrize("code", sorted(RETRYABLE_ERROR_CODES))
def test_throttles_and_transient_faults_are_retryable(code: str) -> None:
    error = map_client_error(_client_error(code), "m1 (generator)")
    assert isinstance(error, RetryableModelError)
    assert str(error) == f"m1 (generator) failed with {code}: the message"


@pytest.mark.parametrize(
    "code", ["ValidationException", "AccessDeniedException", "ResourceNotFoundException"]
)
def test_other_codes_are_model_errors_with_the_callers_hint(code: str) -> None:
    error = map_client_error(_client_error(code), "m1 (generator)", {code: "do this"})
    assert type(error) is ModelError
    assert str(error) == f"m1 (generator) failed with {code}: the message; do this"
    assert str(map_client_error(_client_error(code), "x")) == f"x failed with {code}: the message"


def test_a_client_error_without_a_code_is_a_model_error() -> None:
    error = map_client_error(ClientError({}, "Converse"), "x")
    assert type(error) is ModelError and "Unknown" in str(error)


@pytest.mark.parametrize(
    "failure",
    [
        EndpointConnectionError(endpoint_url="https://bedrock"),
        ReadTimeoutError(endpoint_url="https://bedrock"),
    ],
)
def test_an_unreachable_service_is_retryable(failure: Exception) -> None:
    expected = pytest.raises(RetryableModelError, match="guardrail g:1 could not be reached")
    with expected as raised, bedrock_errors("guardrail g:1"):
        raise failure
    assert raised.value.__cause__ is failure


def test_other_exceptions_pass_through() -> None:
    with pytest.raises(KeyError), bedrock_errors("x"):
        raise KeyError("not a Bedrock failure")


@pytest.fixture
def runtime() -> Any:
    return boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.mark.parametrize("code", ["ModelTimeoutException", "ServiceUnavailableException"])
def test_guardrail_and_embeddings_share_the_models_table(runtime: Any, code: str) -> None:
    with Stubber(runtime) as stub:
        stub.add_client_error("apply_guardrail", service_error_code=code, http_status_code=503)
        stub.add_client_error("invoke_model", service_error_code=code, http_status_code=503)
        with pytest.raises(RetryableModelError, match=f"guardrail gr7abc:2 failed with {code}"):
            BedrockGuardrail(runtime, "gr7abc", "2").check("질문", "INPUT")
        with pytest.raises(RetryableModelError, match=f"embedding failed with {code}"):
            TitanEmbedder(runtime).embed(["상품"], "passage")
