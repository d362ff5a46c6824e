"""Model calls as values: the rendered prompt, the request, the usage and the validated response.

Every model role (workers, evaluator, supervisor, memory manager, commenter) is called with a `ModelRequest`
and answers a `ModelResponse`; the `ModelClient` port (cataloop.ports) takes and returns these.
"""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

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
