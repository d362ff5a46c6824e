"""ModelClient over the Bedrock Converse API: structured output through one forced tool.

The tool's input schema is generated from the pydantic output model and made strict; the answer is
validated again here, because a model may still return input that breaks the schema. One corrective
turn is allowed (the validation error goes back as an error tool result), then the call fails.
"""

from __future__ import annotations

import copy
import re
import time
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cataloop.adapters.bedrock_errors import bedrock_errors
from cataloop.domain.model_calls import ModelRequest, ModelResponse, ModelRole, ModelUsage, OutputT
from cataloop.errors import ModelError
from cataloop.validation import describe_validation_error

# What to change when Converse refuses a request (appended to the ModelError's message).
_FIX_HINTS = {
    "AccessDeniedException": "check the role's bedrock:InvokeModel permission and that model access is enabled",
    "ResourceNotFoundException": "check the configured model id (or inference profile id) for this role",
    "ValidationException": "the request was rejected as invalid; check the model id, maxTokens and tool schema",
}

_TOOL_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")
_METADATA_UNSAFE = re.compile(r"[^a-zA-Z0-9 :_@$#=/+,.-]")


class ConverseClient(Protocol):
    """The part of a boto3 `bedrock-runtime` client this adapter uses."""

    def converse(self, **kwargs: Any) -> dict[str, Any]: ...


class GuardrailConfig(BaseModel):
    """A Bedrock guardrail applied by Converse to the prompt and the answer."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    identifier: str = Field(min_length=1, max_length=2048)
    version: str = Field(pattern=r"^([1-9][0-9]{0,7}|DRAFT)$")
    trace: Literal["enabled", "disabled", "enabled_full"] = "disabled"


def make_bedrock_runtime_client(
    region: str, *, max_attempts: int = 4, read_timeout: float = 90.0, connect_timeout: float = 5.0
) -> Any:
    """A boto3 `bedrock-runtime` client with adaptive client-side retries (rate limiting on throttles).

    `max_attempts` counts the first call too. Keep `read_timeout * max_attempts` below the Lambda timeout;
    the state machine retries beyond that.
    """
    import boto3
    from botocore.config import Config

    config = Config(
        region_name=region,
        # botocore's `max_attempts` counts retries only; `total_max_attempts` is unambiguous.
        retries={"mode": "adaptive", "total_max_attempts": max_attempts},
        read_timeout=read_timeout,
        connect_timeout=connect_timeout,
    )
    return boto3.client("bedrock-runtime", config=config)


def strict_tool_schema(output_model: type[BaseModel]) -> dict[str, Any]:
    """JSON schema for a tool's input: refs inlined, `additionalProperties: false` on every record object.

    Self-referencing models cannot be inlined; their `$defs` are kept (Converse passes them through).
    """
    schema = output_model.model_json_schema(mode="validation")
    definitions: dict[str, Any] = schema.pop("$defs", {})
    recursive = False

    def resolve(node: Any, expanding: tuple[str, ...]) -> Any:
        nonlocal recursive
        if isinstance(node, list):
            return [resolve(item, expanding) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref.removeprefix("#/$defs/")
            if name in expanding:
                recursive = True
                return dict(node)
            target = resolve(copy.deepcopy(definitions[name]), (*expanding, name))
            siblings = {key: resolve(value, expanding) for key, value in node.items() if key != "$ref"}
            return {**target, **siblings}
        resolved = {key: resolve(value, expanding) for key, value in node.items()}
        return _close_object(resolved)

    result: dict[str, Any] = resolve(schema, ())
    if recursive:
        result["$defs"] = {name: resolve(copy.deepcopy(body), (name,)) for name, body in definitions.items()}
    return result


def _close_object(node: dict[str, Any]) -> dict[str, Any]:
    # A record (fixed properties) must reject unknown keys; a map (`dict[str, X]`, whose
    # additionalProperties is a schema) keeps its value schema.
    if node.get("type") != "object":
        return node
    additional = node.get("additionalProperties")
    if additional is None or additional is True:
        node["additionalProperties"] = False
    return node


def tool_name_for(output_model: type[BaseModel]) -> str:
    """Converse tool name (`[a-zA-Z0-9_-]{1,64}`) derived from the output model's class name."""
    name = _TOOL_NAME_UNSAFE.sub("_", f"record_{output_model.__name__}")
    return name[:64]


class BedrockModelClient:
    """ModelClient over Bedrock Converse: one forced tool per call, output validated with pydantic.

    `model_ids` maps each role to a model or inference-profile id (e.g. `us.anthropic.claude-...`).
    `strict_tool_use` sets the tool's `strict` flag, which only some models support. `tag_invocations`
    adds `requestMetadata` (role, prompt version) for invocation logs; it needs a recent botocore.
    """

    def __init__(
        self,
        client: ConverseClient,
        model_ids: dict[ModelRole, str],
        guardrail: GuardrailConfig | None = None,
        *,
        temperature: float | None = 0.0,
        strict_tool_use: bool = False,
        tag_invocations: bool = False,
    ) -> None:
        blank = sorted(role for role, model_id in model_ids.items() if not model_id.strip())
        if blank:
            raise ValueError(f"model id is empty for role(s) {blank}; set a Bedrock model id for each role")
        self._client = client
        self._model_ids = dict(model_ids)
        self._guardrail = guardrail
        self._temperature = temperature
        self._strict_tool_use = strict_tool_use
        self._tag_invocations = tag_invocations
        self._schemas: dict[type[BaseModel], dict[str, Any]] = {}

    def model_id_for(self, role: ModelRole) -> str:
        """The configured model id for `role`; ModelError if none is configured."""
        try:
            return self._model_ids[role]
        except KeyError:
            configured = ", ".join(sorted(self._model_ids)) or "none"
            raise ModelError(
                f"no Bedrock model id configured for role '{role}' (configured: {configured}); "
                "add it to the model configuration"
            ) from None

    def invoke(self, request: ModelRequest, output_model: type[OutputT]) -> ModelResponse[OutputT]:
        """Call the role's model and return its tool input validated as `output_model`.

        Raises RetryableModelError for throttling/transient faults and ModelError for everything else.
        """
        model_id = self.model_id_for(request.role)
        tool_name = tool_name_for(output_model)
        base_request = self._base_request(model_id, request, output_model, tool_name)
        messages: list[dict[str, Any]] = [{"role": "user", "content": [{"text": request.prompt.user}]}]
        usage = ModelUsage()
        last_error = ""
        for attempt in (1, 2):
            response = self._converse({**base_request, "messages": messages}, model_id, request.role)
            usage = _add_usage(usage, response)
            message = response["output"]["message"]
            tool_use = _find_tool_use(message, tool_name)
            stop_reason = response.get("stopReason")
            if stop_reason == "max_tokens":
                raise ModelError(
                    f"{model_id} ({request.role}) stopped at maxTokens={request.max_output_tokens} before "
                    f"finishing the {tool_name} answer; raise max_output_tokens or shorten the prompt"
                )
            if stop_reason in ("guardrail_intervened", "content_filtered"):
                raise ModelError(f"{model_id} ({request.role}) answer was blocked ({stop_reason})")
            if tool_use is None:
                raise ModelError(
                    f"{model_id} ({request.role}) answered without calling the {tool_name} tool "
                    f"(stopReason={stop_reason}); the model may not support forced tool choice"
                )
            try:
                output = output_model.model_validate(tool_use.get("input"))
            except ValidationError as error:
                last_error = describe_validation_error(error, limit=12)
                if attempt == 2:
                    break
                correction = (
                    f"The input does not match the {tool_name} schema: {last_error}. "
                    f"Call {tool_name} again with corrected input."
                )
                messages = [*messages, message, _error_tool_result(tool_use["toolUseId"], correction)]
                continue
            return ModelResponse[output_model](model_id=model_id, output=output, usage=usage)  # type: ignore[valid-type]
        raise ModelError(
            f"{model_id} ({request.role}) returned {tool_name} input that failed {output_model.__name__} "
            f"validation twice; last errors: {last_error}"
        )

    def _base_request(
        self, model_id: str, request: ModelRequest, output_model: type[BaseModel], tool_name: str
    ) -> dict[str, Any]:
        schema = self._schemas.get(output_model)
        if schema is None:
            schema = self._schemas[output_model] = strict_tool_schema(output_model)
        description = (output_model.__doc__ or "").strip() or f"Record the {output_model.__name__} result."
        tool_spec: dict[str, Any] = {
            "name": tool_name,
            "description": description,
            "inputSchema": {"json": schema},
        }
        if self._strict_tool_use:
            tool_spec["strict"] = True
        inference: dict[str, Any] = {"maxTokens": request.max_output_tokens}
        if self._temperature is not None:
            inference["temperature"] = self._temperature
        body: dict[str, Any] = {
            "modelId": model_id,
            "system": [{"text": request.prompt.system}],
            "inferenceConfig": inference,
            "toolConfig": {"tools": [{"toolSpec": tool_spec}], "toolChoice": {"tool": {"name": tool_name}}},
        }
        if self._tag_invocations:
            template = f"{request.prompt.template_id}@{request.prompt.template_version}"
            # Lets invocation logs be broken down per role and prompt version.
            body["requestMetadata"] = {
                "role": request.role,
                "template": _METADATA_UNSAFE.sub("_", template)[:256],
            }
        if self._guardrail is not None:
            body["guardrailConfig"] = {
                "guardrailIdentifier": self._guardrail.identifier,
                "guardrailVersion": self._guardrail.version,
                "trace": self._guardrail.trace,
            }
        return body

    def _converse(self, body: dict[str, Any], model_id: str, role: ModelRole) -> dict[str, Any]:
        started = time.perf_counter()
        with bedrock_errors(f"{model_id} ({role})", _FIX_HINTS):
            response = self._client.converse(**body)
        # Converse reports the model's own latency; fall back to wall-clock when it is absent.
        response.setdefault("metrics", {}).setdefault("latencyMs", (time.perf_counter() - started) * 1000)
        return response


def _error_tool_result(tool_use_id: str, text: str) -> dict[str, Any]:
    # Sent as the user's turn right after the assistant's toolUse, as Converse requires.
    return {
        "role": "user",
        "content": [
            {"toolResult": {"toolUseId": tool_use_id, "content": [{"text": text}], "status": "error"}}
        ],
    }


def _find_tool_use(message: dict[str, Any], tool_name: str) -> dict[str, Any] | None:
    for block in message.get("content", []):
        tool_use = block.get("toolUse")
        if tool_use is not None and tool_use.get("name") == tool_name:
            return dict(tool_use)
    return None


def _add_usage(total: ModelUsage, response: dict[str, Any]) -> ModelUsage:
    usage = response.get("usage", {})
    return ModelUsage(
        input_tokens=total.input_tokens + int(usage.get("inputTokens", 0)),
        output_tokens=total.output_tokens + int(usage.get("outputTokens", 0)),
        latency_ms=total.latency_ms + float(response.get("metrics", {}).get("latencyMs", 0.0)),
    )
