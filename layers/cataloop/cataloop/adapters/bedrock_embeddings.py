"""Embedder over Amazon Titan Text Embeddings V2 (InvokeModel, one text per call as the model requires)."""

from __future__ import annotations

import json
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cataloop.adapters.bedrock_errors import bedrock_errors
from cataloop.errors import InvalidInput, ModelError

TITAN_V2_MODEL_ID = "amazon.titan-embed-text-v2:0"
TITAN_V2_DIMENSIONS = (1024, 512, 256)
# Titan v2 accepts up to 8,192 tokens or 50,000 characters per text.
TITAN_V2_MAX_CHARS = 50_000


class InvokeModelClient(Protocol):
    """The part of a boto3 `bedrock-runtime` client this adapter uses."""

    def invoke_model(self, **kwargs: Any) -> dict[str, Any]: ...


class _TitanEmbeddingBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    embedding: list[float] = Field(min_length=1)
    input_text_token_count: int = Field(default=0, alias="inputTextTokenCount")


class TitanEmbedder:
    """Embedder for Titan v2. Titan has no query/passage prefixes, so `kind` does not change the vector."""

    def __init__(
        self,
        client: InvokeModelClient,
        model_id: str = TITAN_V2_MODEL_ID,
        dimension: int = 1024,
        normalize: bool = True,
    ) -> None:
        if dimension not in TITAN_V2_DIMENSIONS:
            raise ValueError(f"Titan v2 dimension must be one of {TITAN_V2_DIMENSIONS}, not {dimension}")
        self._client = client
        self.model_id = model_id
        self.dimension = dimension
        self._normalize = normalize
        self.input_tokens = 0
        """Tokens sent so far (Titan bills per input token)."""

    def embed(self, texts: list[str], kind: Literal["query", "passage"]) -> list[list[float]]:
        """One vector of length `dimension` per text, in order; blank or over-long text is InvalidInput."""
        if kind not in ("query", "passage"):
            raise InvalidInput(f"embedding kind must be 'query' or 'passage', not {kind!r}")
        for index, text in enumerate(texts):
            if not text.strip():
                raise InvalidInput(f"text #{index} is empty; Titan cannot embed blank text, drop it first")
            if len(text) > TITAN_V2_MAX_CHARS:
                raise InvalidInput(
                    f"text #{index} has {len(text)} characters; Titan v2 accepts at most "
                    f"{TITAN_V2_MAX_CHARS}, truncate it first"
                )
        return [self._embed_one(text) for text in texts]

    def _embed_one(self, text: str) -> list[float]:
        body = json.dumps({"inputText": text, "dimensions": self.dimension, "normalize": self._normalize})
        with bedrock_errors(f"{self.model_id} embedding"):
            response = self._client.invoke_model(
                modelId=self.model_id, body=body, contentType="application/json", accept="application/json"
            )
        try:
            parsed = _TitanEmbeddingBody.model_validate_json(response["body"].read())
        except ValidationError as error:
            raise ModelError(f"{self.model_id} returned an unreadable embedding body: {error}") from error
        if len(parsed.embedding) != self.dimension:
            raise ModelError(
                f"{self.model_id} returned {len(parsed.embedding)} dimensions, expected {self.dimension}; "
                "check that the model id is a Titan v2 embedding model"
            )
        self.input_tokens += parsed.input_text_token_count
        return parsed.embedding
