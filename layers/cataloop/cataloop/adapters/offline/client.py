"""OfflineModelClient: a deterministic, rule-based BASELINE behind the ModelClient port. It is not an LLM.

It exists so that every flow (workflow, learning loop, evaluation) runs without network or model weights, and
so that the learning loop can be measured end to end. It never reads the prose prompt: it acts on
`request.payload` (the same inputs the prompt was rendered from) and dispatches by role to
`generators` (strategies A and B), `evaluator` and `supervisor`. See docs/offline-baseline.md.
Every role reads the learnings in its payload and changes its behaviour because of them.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TypeVar, cast

from pydantic import BaseModel, ValidationError

from cataloop.adapters.offline.common import Payload
from cataloop.adapters.offline.evaluator import evaluate
from cataloop.adapters.offline.generators import extract
from cataloop.adapters.offline.reference import Reference, reference_paths
from cataloop.adapters.offline.supervisor import Supervisor
from cataloop.domain.model_calls import ModelRequest, ModelResponse, ModelUsage
from cataloop.errors import ModelError
from cataloop.validation import describe_validation_error

OutputT = TypeVar("OutputT", bound=BaseModel)

DEFAULT_MODEL_IDS = {
    "generator": "offline-baseline/generator-a-lexicon-v1",
    "generator_b": "offline-baseline/generator-b-segments-v1",
    "evaluator": "offline-baseline/evaluator-v1",
    "supervisor": "offline-baseline/supervisor-reference-v1",
}


class OfflineModelClient:
    """Deterministic rule-based BASELINE implementing ModelClient (never an LLM; see the module docstring).

    `reference_path`: optional OA-Mine-format JSONL the simulated supervisor may consult (several, separated
    by commas), cross-fitted (see `supervisor.py`).
    Token usage is estimated as characters / 4 of the rendered prompt and of the JSON output.
    """

    def __init__(
        self,
        reference_path: str | Path | None = None,
        model_ids: dict[str, str] | None = None,
        max_learnings_per_product: int = 4,
        similar_products: int = 10,
    ) -> None:
        self.model_ids = {**DEFAULT_MODEL_IDS, **(model_ids or {})}
        self.max_learnings_per_product = max_learnings_per_product
        self.similar_products = similar_products
        self._reference = Reference.load_many(reference_paths(reference_path)) if reference_path else None

    def invoke(self, request: ModelRequest, output_model: type[OutputT]) -> ModelResponse[OutputT]:
        """Run the role named in `request.role` on `request.payload` and return `output_model`."""
        started = time.perf_counter()
        try:
            payload = Payload.model_validate(request.payload)
        except ValidationError as error:
            raise ModelError(
                f"offline model: payload for role {request.role} is malformed: "
                f"{describe_validation_error(error)}"
            ) from None
        output: BaseModel
        if request.role in ("generator", "generator_b"):
            output = extract(payload, "A" if request.role == "generator" else "B")
        elif request.role == "evaluator":
            output = evaluate(payload)
        elif request.role == "supervisor":
            output = self._supervisor().resolve(payload)
        else:
            raise ModelError(f"offline model has no behaviour for role {request.role!r}")
        if not isinstance(output, output_model):
            raise ModelError(
                f"offline model role {request.role} returns {type(output).__name__}, "
                f"but {output_model.__name__} was requested"
            )
        prompt_chars = len(request.prompt.system) + len(request.prompt.user)
        usage = ModelUsage(
            input_tokens=max(1, prompt_chars // 4),
            output_tokens=max(1, len(output.model_dump_json()) // 4),
            latency_ms=(time.perf_counter() - started) * 1000,
        )
        return ModelResponse[output_model](  # type: ignore[valid-type]
            model_id=self.model_ids.get(request.role, f"offline-baseline/{request.role}"),
            output=cast(OutputT, output),
            usage=usage,
        )

    def _supervisor(self) -> Supervisor:
        # Built per call from the current settings, so changing an attribute of the client takes effect.
        return Supervisor(
            reference=self._reference,
            model_id=self.model_ids["supervisor"],
            max_learnings_per_product=self.max_learnings_per_product,
            similar_products=self.similar_products,
        )
