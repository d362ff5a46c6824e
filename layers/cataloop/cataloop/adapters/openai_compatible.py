"""ModelClient over an OpenAI-compatible chat endpoint: Ollama, llama.cpp's server, vLLM, LM Studio.

One call is `POST {base_url}/chat/completions` (base_url like `http://localhost:11434/v1`) with the role's
model name and the prompt's system and user messages. Structured output is asked for with `response_format`
`json_schema` (the output model's schema, refs inlined and objects closed as for Bedrock's strict tool); a
server that answers 400 saying it does not take `json_schema` is asked for `json_object` from then on
(remembered per client). The schema is also in the system message, so the model sees what to write in
either mode. The answer (`choices[0].message.content`) is parsed as JSON (a ```json fence or a leading
`<think>` block is dropped) and validated with pydantic; one corrective turn sends the bad answer and what is
wrong back, then the call fails with ModelError (as the Bedrock adapter does).

Transport is the standard library (`http.client`: separate connect and read timeouts, no proxy). Connection
failures, 408, 429 and 5xx are retried here with exponential backoff (bounded attempts, a short Retry-After
honoured), then raised as RetryableModelError so the state machine retries later. A read timeout is raised
as RetryableModelError at once: retrying a slow model in-process would outlast the Lambda timeout. Any
other refusal is a ModelError with the server's message and a hint.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import random
import re
import ssl
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from cataloop.adapters.bedrock_models import strict_tool_schema
from cataloop.domain.model_calls import ModelRequest, ModelResponse, ModelUsage, OutputT
from cataloop.errors import ModelError, RetryableModelError
from cataloop.validation import describe_validation_error

logger = logging.getLogger(__name__)

# Statuses where the same request may succeed later (overloaded, rate limited, restarting).
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

# What to change when the server refuses a request (appended to the ModelError's message).
_STATUS_HINTS = {
    401: "check OPENAI_API_KEY (parameter OpenAIApiKey)",
    403: "check OPENAI_API_KEY (parameter OpenAIApiKey) and that the key may use this model",
    404: "check OPENAI_BASE_URL (it usually ends in /v1) and this role's model name "
    "(for Ollama: `ollama pull <model>`)",
    413: "the request is too large for the server; shorten the prompt or raise the server's limits",
}

_SCHEMA_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")
_FENCE = re.compile(r"```[ \t]*(?:json)?[ \t]*\n?(.*?)```", re.DOTALL | re.IGNORECASE)
_THINKING = re.compile(r"^\s*<think>.*?</think>", re.DOTALL)


class _Unreachable(Exception):
    """The server could not be reached or dropped the connection (retryable)."""


class _Refused(Exception):
    """The server answered a non-retryable error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message

    @property
    def rejects_json_schema(self) -> bool:
        # llama.cpp, vLLM, LM Studio and proxies word it differently; all name the field or the type.
        text = self.message.lower()
        return self.status in (400, 422) and ("json_schema" in text or "response_format" in text)


def schema_name_for(output_model: type[BaseModel]) -> str:
    """`response_format.json_schema.name` (`[a-zA-Z0-9_-]{1,64}`) from the output model's class name."""
    return _SCHEMA_NAME_UNSAFE.sub("_", output_model.__name__)[:64] or "answer"


def parse_json_answer(content: str) -> Any:
    """The JSON value of a model's answer: a leading `<think>...</think>` block and a Markdown code fence
    around the object (with or without prose before it) are dropped. Raises ValueError when it is not JSON."""
    text = _THINKING.sub("", content, count=1).strip()
    if not text.startswith(("{", "[")):
        fenced = _FENCE.search(text)
        if fenced is not None:
            text = fenced.group(1).strip()
    if not text:
        raise ValueError("the answer is empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"the answer is not valid JSON ({error})") from error


def repair_instruction(schema_name: str, problem: str) -> str:
    """The corrective user turn after an unusable answer."""
    return (
        f"Your previous answer does not match the {schema_name} schema: {problem}. "
        f"Answer again with only the corrected JSON object for the {schema_name} schema, and no other text."
    )


class OpenAICompatibleClient:
    """ModelClient over `POST {base_url}/chat/completions`, output validated with pydantic.

    `model_ids` maps each role to the server's model name (e.g. `qwen2.5:3b` for Ollama); blank names are
    left out, and a role without a name raises ModelError naming it. `api_key`, when set, is sent as
    `Authorization: Bearer`. `read_timeout` bounds the wait for an answer (local models are slow: keep it
    below the Lambda timeout); `max_attempts` counts the first try of one HTTP call.
    """

    def __init__(
        self,
        base_url: str,
        model_ids: Mapping[str, str],
        *,
        api_key: str = "",
        read_timeout: float = 60.0,
        connect_timeout: float = 5.0,
        max_attempts: int = 3,
        backoff_seconds: float = 0.5,
        max_backoff_seconds: float = 8.0,
        temperature: float | None = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        url = urllib.parse.urlsplit(base_url.strip())
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(
                f"base url {base_url!r} is not an http(s) URL; expected e.g. http://127.0.0.1:11434/v1"
            )
        if max_attempts < 1:
            raise ValueError("max_attempts counts the first try and must be at least 1")
        self.base_url = base_url.strip().rstrip("/")
        self._scheme = url.scheme
        self._host = url.hostname
        self._port = url.port
        self._path = url.path.rstrip("/") + "/chat/completions"
        self._model_ids = {role: name.strip() for role, name in model_ids.items() if name.strip()}
        self._api_key = api_key
        self._read_timeout = read_timeout
        self._connect_timeout = connect_timeout
        self._max_attempts = max_attempts
        self._backoff = backoff_seconds
        self._max_backoff = max_backoff_seconds
        self._temperature = temperature
        self._sleep = sleep
        self._schemas: dict[type[BaseModel], dict[str, Any]] = {}
        # Cleared for good the first time the server refuses `json_schema` (then `json_object` is asked for).
        self.json_schema_supported = True

    def model_id_for(self, role: str) -> str:
        """The configured model name for `role`; ModelError if none is configured."""
        try:
            return self._model_ids[role]
        except KeyError:
            configured = ", ".join(sorted(self._model_ids)) or "none"
            raise ModelError(
                f"no model name configured for role '{role}' at {self.base_url} (configured: {configured}); "
                "set its *_MODEL_ID (template parameter *ModelId) to a model the server serves"
            ) from None

    def invoke(self, request: ModelRequest, output_model: type[OutputT]) -> ModelResponse[OutputT]:
        """Call the role's model and return its answer validated as `output_model`.

        Raises RetryableModelError for connection failures, timeouts, 429 and 5xx, ModelError otherwise.
        """
        model = self.model_id_for(request.role)
        what = f"{model} ({request.role}) at {self.base_url}"
        schema_name = schema_name_for(output_model)
        schema = self._schema(output_model)
        messages: list[dict[str, str]] = [
            {"role": "system", "content": _system_message(request.prompt.system, schema_name, schema)},
            {"role": "user", "content": request.prompt.user},
        ]
        usage = ModelUsage()
        problem = ""
        for attempt in (1, 2):
            completion, latency_ms = self._complete(model, messages, request, schema_name, schema, what)
            content, finish_reason, refusal = _read_choice(completion, what)
            usage = _add_usage(usage, completion, messages, content, latency_ms)
            if finish_reason == "length":
                raise ModelError(
                    f"{what} stopped at max_tokens={request.max_output_tokens} before finishing the "
                    f"{schema_name} answer; raise max_output_tokens or shorten the prompt"
                )
            if finish_reason == "content_filter" or refusal:
                raise ModelError(f"{what} answer was blocked ({refusal or finish_reason})")
            try:
                output = output_model.model_validate(parse_json_answer(content))
            except ValueError as error:  # invalid JSON, or a ValidationError (a ValueError too)
                problem = (
                    describe_validation_error(error, limit=12)
                    if isinstance(error, ValidationError)
                    else str(error)
                )
                if attempt == 2:
                    break
                messages = [
                    *messages,
                    {"role": "assistant", "content": content},
                    {"role": "user", "content": repair_instruction(schema_name, problem)},
                ]
                continue
            # The server's own name for the model that answered (vLLM/OpenAI may resolve an alias).
            answered_by = completion.get("model")
            model_id = answered_by if isinstance(answered_by, str) and answered_by.strip() else model
            return ModelResponse[output_model](model_id=model_id, output=output, usage=usage)  # type: ignore[valid-type]
        raise ModelError(
            f"{what} returned an answer that failed {output_model.__name__} validation twice; "
            f"last errors: {problem}"
        )

    # ------------------------------------------------------------------ one completion

    def _schema(self, output_model: type[BaseModel]) -> dict[str, Any]:
        schema = self._schemas.get(output_model)
        if schema is None:
            # output_model.model_json_schema() with refs inlined and `additionalProperties: false` on every
            # record object: what `strict: true` means on servers that enforce it.
            schema = self._schemas[output_model] = strict_tool_schema(output_model)
        return schema

    def _complete(
        self,
        model: str,
        messages: list[dict[str, str]],
        request: ModelRequest,
        schema_name: str,
        schema: dict[str, Any],
        what: str,
    ) -> tuple[dict[str, Any], float]:
        body: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "max_tokens": request.max_output_tokens,
            "stream": False,
        }
        if self._temperature is not None:
            body["temperature"] = self._temperature
        if self.json_schema_supported:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": schema_name, "schema": schema, "strict": True},
            }
            try:
                return self._post(body, what)
            except _Refused as refused:
                if not refused.rejects_json_schema:
                    raise _model_error(what, refused) from None
                logger.warning(
                    "%s does not take response_format json_schema (%s); asking for json_object from now on",
                    self.base_url,
                    refused.message,
                )
                self.json_schema_supported = False
        body["response_format"] = {"type": "json_object"}
        try:
            return self._post(body, what)
        except _Refused as refused:
            raise _model_error(what, refused) from None

    def _post(self, body: dict[str, Any], what: str) -> tuple[dict[str, Any], float]:
        """One chat completion and its wall-clock latency in ms, retrying transient failures."""
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        problem = ""
        for attempt in range(1, self._max_attempts + 1):
            retry_after: str | None = None
            started = time.perf_counter()
            try:
                status, raw, retry_after = self._send(payload, headers)
            except _Unreachable as error:
                problem = f"could not be reached ({error}); is the server running?"
            except TimeoutError as error:
                raise RetryableModelError(
                    f"{what} did not answer within {self._read_timeout:g} s; a slow local model needs a "
                    "longer OPENAI_TIMEOUT_SECONDS (keep it below the function's timeout)"
                ) from error
            else:
                latency_ms = (time.perf_counter() - started) * 1000
                if status == 200:
                    return _decode_completion(raw, what), latency_ms
                message = _error_message(raw)
                if status not in RETRYABLE_STATUSES:
                    raise _Refused(status, message)
                problem = f"answered HTTP {status}: {message}"
            if attempt < self._max_attempts:
                self._sleep(self._delay(attempt, retry_after))
        raise RetryableModelError(f"{what} {problem} (after {self._max_attempts} attempts)")

    def _send(self, payload: bytes, headers: dict[str, str]) -> tuple[int, bytes, str | None]:
        connection: http.client.HTTPConnection
        if self._scheme == "https":
            connection = http.client.HTTPSConnection(
                self._host,
                self._port,
                timeout=self._connect_timeout,
                context=ssl.create_default_context(),
            )
        else:
            connection = http.client.HTTPConnection(self._host, self._port, timeout=self._connect_timeout)
        try:
            try:
                connection.connect()
            except OSError as error:  # refused, unknown host, TLS failure, connect timeout
                raise _Unreachable(str(error) or type(error).__name__) from error
            connection.sock.settimeout(self._read_timeout)
            try:
                connection.request("POST", self._path, body=payload, headers=headers)
                response = connection.getresponse()
                raw = response.read()
            except TimeoutError:
                raise
            except (OSError, http.client.HTTPException) as error:  # reset, dropped mid-answer
                raise _Unreachable(str(error) or type(error).__name__) from error
            return response.status, raw, response.getheader("Retry-After")
        finally:
            connection.close()

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        delay = min(self._max_backoff, self._backoff * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
        if retry_after is not None:
            with contextlib.suppress(ValueError):  # an HTTP date: keep the backoff
                delay = max(delay, min(float(retry_after), self._max_backoff))
        return delay


def _system_message(system: str, schema_name: str, schema: dict[str, Any]) -> str:
    # The prompts are written for a forced tool call; here the JSON object stands for the tool's input.
    return (
        f"{system}\n\nThere is no tool to call here: answer with one JSON object (no prose, no code fence) "
        f"that is the input the {schema_name} tool would take, matching this JSON schema:\n"
        f"{json.dumps(schema, ensure_ascii=False)}"
    )


def _decode_completion(raw: bytes, what: str) -> dict[str, Any]:
    try:
        completion = json.loads(raw)
    except ValueError:
        completion = None
    if not isinstance(completion, dict) or not isinstance(completion.get("choices"), list):
        raise ModelError(f"{what} answered something that is not a chat completion: {_excerpt(raw)}")
    if not completion["choices"]:
        raise ModelError(f"{what} answered a chat completion without choices")
    return completion


def _read_choice(completion: dict[str, Any], what: str) -> tuple[str, str | None, str | None]:
    """(content, finish_reason, refusal) of the first choice."""
    choice = completion["choices"][0]
    if not isinstance(choice, dict):
        raise ModelError(f"{what} answered a malformed choice: {choice!r:.200}")
    message = choice.get("message") or {}
    content = message.get("content")
    if isinstance(content, list):  # content parts
        content = "".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    refusal = message.get("refusal")
    return (
        content if isinstance(content, str) else "",
        choice.get("finish_reason"),
        refusal if isinstance(refusal, str) and refusal else None,
    )


def _add_usage(
    total: ModelUsage,
    completion: dict[str, Any],
    messages: list[dict[str, str]],
    content: str,
    latency_ms: float,
) -> ModelUsage:
    usage = completion.get("usage") or {}
    prompt_tokens = usage.get("prompt_tokens") if isinstance(usage, dict) else None
    completion_tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
    # Some servers (older llama.cpp builds, proxies) report no usage: estimate ~4 characters per token,
    # a rough count that keeps cost and token metrics from reading zero. Reported counts are used as they are.
    if not isinstance(prompt_tokens, int):
        prompt_tokens = sum(len(message["content"]) for message in messages) // 4
    if not isinstance(completion_tokens, int):
        completion_tokens = len(content) // 4
    return ModelUsage(
        input_tokens=total.input_tokens + prompt_tokens,
        output_tokens=total.output_tokens + completion_tokens,
        latency_ms=total.latency_ms + latency_ms,
    )


def _error_message(raw: bytes) -> str:
    """The message of an error body: OpenAI `{"error": {"message"}}`, Ollama/llama.cpp `{"error": "..."}`,
    FastAPI `{"detail": ...}`, or the text itself."""
    try:
        body = json.loads(raw)
    except ValueError:
        return _excerpt(raw)
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:500]
        for value in (error, body.get("message"), body.get("detail")):
            if value:
                return (value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))[:500]
    return _excerpt(raw)


def _excerpt(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace").strip()
    return (text[:300] + "...") if len(text) > 300 else (text or "(empty body)")


def _model_error(what: str, refused: _Refused) -> ModelError:
    hint = _STATUS_HINTS.get(refused.status)
    text = f"{what} refused the request with HTTP {refused.status}: {refused.message}"
    return ModelError(f"{text}; {hint}" if hint else text)
