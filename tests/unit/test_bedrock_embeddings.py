"""TitanEmbedder against botocore's Stubber with the real InvokeModel shapes."""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from cataloop.adapters.bedrock_embeddings import TITAN_V2_MODEL_ID, TitanEmbedder
from cataloop.errors import InvalidInput, ModelError, RetryableModelError


@pytest.fixture
def runtime() -> Any:
    return boto3.client(
        "bedrock-runtime", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )


def titan_answer(vector: list[float], tokens: int = 5) -> dict[str, Any]:
    payload = json.dumps(
        {"embedding": vector, "inputTextTokenCount": tokens, "embeddingsByType": {}}
    ).encode()
    return {"body": StreamingBody(io.BytesIO(payload), len(payload)), "contentType": "application/json"}


def expected_call(text: str, dimension: int, normalize: bool = True) -> dict[str, Any]:
    return {
        "modelId": TITAN_V2_MODEL_ID,
        "body": json.dumps({"inputText": text, "dimensions": dimension, "normalize": normalize}),
        "contentType": "application/json",
        "accept": "application/json",
    }


def test_one_call_per_text_in_order(runtime: Any) -> None:
    embedder = TitanEmbedder(runtime, dimension=256)
    first, second = [0.1] * 256, [0.2] * 256
    with Stubber(runtime) as stub:
        stub.add_response(
            "invoke_model", titan_answer(first, tokens=4), expected_call("위에 좋은 유산균", 256)
        )
        stub.add_response(
            "invoke_model", titan_answer(second, tokens=6), expected_call("장 건강 요구르트", 256)
        )
        vectors = embedder.embed(["위에 좋은 유산균", "장 건강 요구르트"], "passage")
        stub.assert_no_pending_responses()
    assert vectors == [first, second]
    assert embedder.input_tokens == 10


def test_normalize_flag_and_dimension_are_sent(runtime: Any) -> None:
    embedder = TitanEmbedder(runtime, dimension=512, normalize=False)
    with Stubber(runtime) as stub:
        stub.add_response(
            "invoke_model", titan_answer([0.5] * 512), expected_call("케이스", 512, normalize=False)
        )
        assert len(embedder.embed(["케이스"], "query")[0]) == 512


def test_empty_list_makes_no_call(runtime: Any) -> None:
    with Stubber(runtime) as stub:
        assert TitanEmbedder(runtime).embed([], "query") == []
        stub.assert_no_pending_responses()


@pytest.mark.parametrize("texts", [["ok", ""], ["  \n"], ["x" * 50_001]])
def test_blank_or_too_long_text_is_invalid_input_before_any_call(runtime: Any, texts: list[str]) -> None:
    with Stubber(runtime) as stub, pytest.raises(InvalidInput, match="text #"):
        TitanEmbedder(runtime).embed(texts, "passage")
        stub.assert_no_pending_responses()


def test_unsupported_dimension_is_rejected(runtime: Any) -> None:
    with pytest.raises(ValueError, match="1024, 512, 256"):
        TitanEmbedder(runtime, dimension=384)


def test_wrong_vector_length_is_a_model_error(runtime: Any) -> None:
    with Stubber(runtime) as stub:
        stub.add_response("invoke_model", titan_answer([0.1] * 1536))
        with pytest.raises(ModelError, match="returned 1536 dimensions, expected 1024"):
            TitanEmbedder(runtime).embed(["상품"], "passage")


def test_throttling_is_retryable_and_validation_is_not(runtime: Any) -> None:
    embedder = TitanEmbedder(runtime)
    with Stubber(runtime) as stub:
        stub.add_client_error("invoke_model", service_error_code="ThrottlingException", http_status_code=429)
        stub.add_client_error(
            "invoke_model",
            service_error_code="ValidationException",
            service_message="Malformed input request",
            http_status_code=400,
        )
        with pytest.raises(RetryableModelError, match="ThrottlingException"):
            embedder.embed(["상품"], "passage")
        with pytest.raises(ModelError, match="Malformed input request") as raised:
            embedder.embed(["상품"], "passage")
    assert not isinstance(raised.value, RetryableModelError)
