"""Ports: the small interfaces services depend on. Adapters implement them (AWS or local/offline)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

ModelRole = Literal[
    "generator", "generator_b", "evaluator", "supervisor", "memory_manager", "classifier", "commenter"
]

OutputT = TypeVar("OutputT", bound=BaseModel)


class PromptText(BaseModel):
    """A rendered prompt: what a real LLM receives. The product text is inside a delimited data block."""

    model_config = ConfigDict(frozen=True)

    template_id: str
    template_version: str
    system: str
    user: str


class ModelRequest(BaseModel):
    """One structured call. `payload` holds the same inputs the prompt was rendered from, so the offline
    baseline (which does not read prose) can act on exactly what an LLM would have been shown."""

    role: ModelRole
    prompt: PromptText
    payload: dict[str, Any] = Field(default_factory=dict)
    max_output_tokens: int = 2048


class ModelUsage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: float = 0.0


class ModelResponse(BaseModel, Generic[OutputT]):
    model_id: str
    output: OutputT
    usage: ModelUsage = Field(default_factory=ModelUsage)


class ModelClient(Protocol):
    """Structured-output model call: returns `output_model` validated, or raises ModelError."""

    def invoke(self, request: ModelRequest, output_model: type[OutputT]) -> ModelResponse[OutputT]: ...


class SearchIndex(Protocol):
    """A product index with external versioning behind an alias (OpenSearch, or the local engine)."""

    def ensure_index(self) -> str: ...

    def create_index(self) -> str: ...

    def swap_alias(self, new_index: str) -> None: ...

    def bulk_upsert(
        self, documents: Sequence[Any], vectors: Any = None, *, index: str | None = None
    ) -> Any: ...

    def bulk_delete(self, items: Sequence[tuple[str, int]], *, index: str | None = None) -> Any: ...

    def search(self, plan: Any, query_vector: Sequence[float] | None = None) -> Any: ...


class Embedder(Protocol):
    """Text embeddings. `kind` selects the query/passage convention of the model."""

    dimension: int

    def embed(self, texts: list[str], kind: Literal["query", "passage"]) -> list[list[float]]: ...
