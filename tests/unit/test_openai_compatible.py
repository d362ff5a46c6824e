"""OpenAICompatibleClient against a real HTTP server on 127.0.0.1 speaking the chat-completions protocol.

The server answers from a script of recorded-shape replies (an Ollama / llama.cpp `chat.completion` with id,
object, created, model, choices and usage, and their real error bodies) and records every request, so the
tests see what goes over the wire: path, headers, messages, response_format. Backoff sleeps are recorded,
not slept; the slowest test waits for its 0.2 s read timeout.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import BaseModel, Field

from cataloop import wiring
from cataloop.adapters.openai_compatible import (
    OpenAICompatibleClient,
    parse_json_answer,
    schema_name_for,
)
from cataloop.domain.model_calls import ModelRequest, PromptText
from cataloop.errors import ModelError, RetryableModelError
from cataloop.settings import ConfigurationError, Settings, environment_variables
from cataloop_local.emulator.cfn import check_parameter_overrides, load_template
from cataloop_local.emulator.cloud import local_parameters
from tests.conftest import TEMPLATE

MODEL = "qwen2.5:3b"


class Attribute(BaseModel):
    name: str
    value: str
    confidence: float = Field(ge=0, le=1)


class Extraction(BaseModel):
    """Attributes read from the product listing."""

    attributes: list[Attribute]
    category: str | None = None


GOOD = {"attributes": [{"name": "pack_count", "value": "30", "confidence": 0.9}], "category": "건강식품"}
OUT_OF_RANGE = {"attributes": [{"name": "pack_count", "value": "30", "confidence": 7}]}


# ------------------------------------------------------------------ the server


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


def completion(
    content: str | None,
    *,
    finish_reason: str = "stop",
    usage: dict[str, int] | None = None,
    model: str = MODEL,
) -> Reply:
    """A chat.completion as Ollama's /v1/chat/completions returns it (llama.cpp and vLLM add fields)."""
    body: dict[str, Any] = {
        "id": "chatcmpl-427",
        "object": "chat.completion",
        "created": 1733313530,
        "model": model,
        "system_fingerprint": "fp_ollama",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": finish_reason,
            }
        ],
    }
    body["usage"] = usage or {"prompt_tokens": 412, "completion_tokens": 58, "total_tokens": 470}
    return Reply(body=body)


def no_usage(content: str) -> Reply:
    reply = completion(content)
    del reply.body["usage"]
    return reply


def error(status: int, message: str, **headers: str) -> Reply:
    """An error body in the OpenAI shape, which Ollama, llama.cpp and vLLM all use."""
    return Reply(
        status=status,
        body={"error": {"code": status, "message": message, "type": "invalid_request_error"}},
        headers=headers,
    )


class ChatServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ChatHandler)
        self.replies: deque[Reply] = deque()
        self.requests: list[Recorded] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def script(self, *replies: Reply) -> None:
        self.replies.extend(replies)


class ChatHandler(BaseHTTPRequestHandler):
    server: ChatServer
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length))
        self.server.requests.append(Recorded(self.path, dict(self.headers.items()), body))
        reply = self.server.replies.popleft() if self.server.replies else error(500, "no scripted reply")
        if reply.delay:
            time.sleep(reply.delay)
        data = json.dumps(reply.body, ensure_ascii=False).encode("utf-8")
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client gave up (the timeout test)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ChatServer]:
    chat = ChatServer()
    thread = threading.Thread(target=chat.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield chat
    finally:
        chat.shutdown()
        chat.server_close()


class RecordingSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def make_client(server: ChatServer, **options: Any) -> OpenAICompatibleClient:
    options.setdefault("sleep", RecordingSleep())
    return OpenAICompatibleClient(
        server.base_url,
        {"generator": MODEL, "generator_b": "llama3.2:3b", "evaluator": MODEL, "supervisor": MODEL},
        **options,
    )


def make_request(role: str = "generator", max_tokens: int = 1024) -> ModelRequest:
    prompt = PromptText(
        template_id="generator",
        template_version="2",
        system="You extract product attributes. Answer only by calling the tool with the Extraction schema.",
        user="Read this listing.\n<product_data>\n프로바이오틱스 유산균 30포 위 건강\n</product_data>",
    )
    return ModelRequest(role=role, prompt=prompt, max_output_tokens=max_tokens)  # type: ignore[arg-type]


# ------------------------------------------------------------------ structured output


def test_valid_structured_output(server: ChatServer) -> None:
    server.script(completion(json.dumps(GOOD, ensure_ascii=False)))
    response = make_client(server).invoke(make_request(), Extraction)

    assert response.output == Extraction.model_validate(GOOD)
    assert response.model_id == MODEL
    assert (response.usage.input_tokens, response.usage.output_tokens) == (412, 58)
    assert response.usage.latency_ms > 0
    [sent] = server.requests
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["Content-Type"] == "application/json"
    assert "Authorization" not in sent.headers
    body = sent.body
    assert body["model"] == MODEL and body["stream"] is False
    assert body["max_tokens"] == 1024 and body["temperature"] == 0.0
    assert [message["role"] for message in body["messages"]] == ["system", "user"]
    assert body["messages"][0]["content"].startswith("You extract product attributes.")
    assert '"confidence"' in body["messages"][0]["content"]  # the schema is shown to the model too
    assert body["messages"][1]["content"] == make_request().prompt.user
    assert body["response_format"]["type"] == "json_schema"
    json_schema = body["response_format"]["json_schema"]
    assert (json_schema["name"], json_schema["strict"]) == ("Extraction", True)
    assert json_schema["schema"]["required"] == ["attributes"]
    assert json_schema["schema"]["additionalProperties"] is False
    assert (
        json_schema["schema"]["properties"]["attributes"]["items"]["properties"]["confidence"]["maximum"] == 1
    )


@pytest.mark.parametrize(
    "content",
    [
        "```json\n" + json.dumps(GOOD) + "\n```",
        "```\n" + json.dumps(GOOD) + "\n```",
        "Here is the JSON:\n```JSON\n" + json.dumps(GOOD, indent=2) + "\n```\n",
        "<think>\nThe listing says 30 packs.\n</think>\n" + json.dumps(GOOD),
    ],
    ids=["json-fence", "bare-fence", "prose-then-fence", "think-block"],
)
def test_fenced_json_is_read(server: ChatServer, content: str) -> None:
    server.script(completion(content))
    assert make_client(server).invoke(make_request(), Extraction).output == Extraction.model_validate(GOOD)
    assert len(server.requests) == 1


def test_a_fence_inside_a_json_string_is_left_alone() -> None:
    value = {"note": "use ```code``` here"}
    assert parse_json_answer(json.dumps(value)) == value


def test_malformed_json_is_repaired_on_the_retry(server: ChatServer) -> None:
    bad = '{"attributes": [{"name": "pack_count", "value": "30", "confidence": 0.9}'
    server.script(completion(bad), completion(json.dumps(GOOD)))
    response = make_client(server).invoke(make_request(), Extraction)

    assert response.output == Extraction.model_validate(GOOD)
    assert (response.usage.input_tokens, response.usage.output_tokens) == (824, 116)  # both calls
    first, second = server.requests
    messages = second.body["messages"]
    assert messages[:2] == first.body["messages"]
    assert messages[2] == {"role": "assistant", "content": bad}
    assert messages[3]["role"] == "user"
    assert "not valid JSON" in messages[3]["content"] and "Extraction" in messages[3]["content"]


def test_an_invalid_answer_is_repaired_with_the_validation_errors(server: ChatServer) -> None:
    server.script(completion(json.dumps(OUT_OF_RANGE)), completion(json.dumps(GOOD)))
    response = make_client(server).invoke(make_request(), Extraction)

    assert response.output.attributes[0].confidence == 0.9
    repair = server.requests[1].body["messages"][3]["content"]
    assert "attributes.0.confidence" in repair and "less than or equal to 1" in repair


def test_malformed_twice_is_a_model_error(server: ChatServer) -> None:
    server.script(completion("I think the pack count is 30."), completion('{"attributes": "thirty"}'))
    with pytest.raises(ModelError, match=r"failed Extraction validation twice; last errors: attributes"):
        make_client(server).invoke(make_request(), Extraction)
    assert len(server.requests) == 2


def test_an_answer_cut_at_max_tokens_is_a_model_error_without_repair(server: ChatServer) -> None:
    server.script(completion('{"attributes": [{"name": "pack', finish_reason="length"))
    with pytest.raises(ModelError, match=r"stopped at max_tokens=64"):
        make_client(server).invoke(make_request(max_tokens=64), Extraction)
    assert len(server.requests) == 1


def test_missing_usage_is_estimated_from_characters(server: ChatServer) -> None:
    content = json.dumps(GOOD)
    server.script(no_usage(content))
    response = make_client(server).invoke(make_request(), Extraction)

    sent = server.requests[0].body["messages"]
    assert response.usage.input_tokens == sum(len(message["content"]) for message in sent) // 4
    assert response.usage.output_tokens == len(content) // 4


# ------------------------------------------------------------------ json_schema fallback


def test_a_server_refusing_json_schema_is_asked_for_json_object_from_then_on(server: ChatServer) -> None:
    # llama.cpp's server before json_schema support answers this 400.
    refusal = 'response_format type must be one of "text" or "json_object", but got: json_schema'
    server.script(error(400, refusal), completion(json.dumps(GOOD)), completion(json.dumps(GOOD)))
    client = make_client(server)

    assert client.invoke(make_request(), Extraction).output == Extraction.model_validate(GOOD)
    assert client.json_schema_supported is False
    client.invoke(make_request("evaluator"), Extraction)

    formats = [request.body["response_format"] for request in server.requests]
    assert formats[0]["type"] == "json_schema"
    assert formats[1:] == [{"type": "json_object"}, {"type": "json_object"}]  # remembered: no second 400
    assert '"confidence"' in server.requests[1].body["messages"][0]["content"]


def test_another_400_is_a_model_error_without_fallback(server: ChatServer) -> None:
    server.script(error(400, "the prompt has 9000 tokens, more than the context size 8192"))
    client = make_client(server)
    with pytest.raises(ModelError, match=r"HTTP 400: the prompt has 9000 tokens"):
        client.invoke(make_request(), Extraction)
    assert client.json_schema_supported is True
    assert len(server.requests) == 1


def test_an_unknown_model_names_the_fix(server: ChatServer) -> None:
    server.script(error(404, f'model "{MODEL}" not found, try pulling it first'))
    with pytest.raises(ModelError, match=r"HTTP 404: model .* not found.*ollama pull"):
        make_client(server).invoke(make_request(), Extraction)


# ------------------------------------------------------------------ transport: retries and timeouts


def test_429_then_success_is_retried_honouring_retry_after(server: ChatServer) -> None:
    server.script(error(429, "rate limited", **{"Retry-After": "2"}), completion(json.dumps(GOOD)))
    sleep = RecordingSleep()
    response = make_client(server, sleep=sleep).invoke(make_request(), Extraction)

    assert response.output == Extraction.model_validate(GOOD)
    assert len(server.requests) == 2
    assert sleep.delays == [2.0]


def test_5xx_then_success_is_retried_with_backoff(server: ChatServer) -> None:
    server.script(error(500, "llama runner process has terminated"), error(503, "loading model"))
    server.script(completion(json.dumps(GOOD)))
    sleep = RecordingSleep()
    response = make_client(server, sleep=sleep, backoff_seconds=0.4).invoke(make_request(), Extraction)

    assert response.output == Extraction.model_validate(GOOD)
    assert len(server.requests) == 3
    first, second = sleep.delays
    assert 0.2 <= first <= 0.4 and 0.4 <= second <= 0.8  # exponential, with jitter


def test_5xx_every_time_is_retryable_after_bounded_attempts(server: ChatServer) -> None:
    server.script(*(error(503, "server busy") for _ in range(3)))
    with pytest.raises(RetryableModelError, match=r"answered HTTP 503: server busy \(after 3 attempts\)"):
        make_client(server).invoke(make_request(), Extraction)
    assert len(server.requests) == 3


def test_a_read_timeout_is_retryable_and_not_retried_in_process(server: ChatServer) -> None:
    server.script(Reply(body=completion(json.dumps(GOOD)).body, delay=0.8))
    client = make_client(server, read_timeout=0.2)
    started = time.monotonic()
    with pytest.raises(RetryableModelError, match=r"did not answer within 0.2 s.*OPENAI_TIMEOUT_SECONDS"):
        client.invoke(make_request(), Extraction)
    assert time.monotonic() - started < 0.7  # neither the slow answer awaited nor retried
    assert len(server.requests) == 1


def test_a_server_that_is_not_running_is_retryable() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleep = RecordingSleep()
    client = OpenAICompatibleClient(f"http://127.0.0.1:{port}/v1", {"generator": MODEL}, sleep=sleep)
    with pytest.raises(RetryableModelError, match=r"could not be reached .*is the server running"):
        client.invoke(make_request(), Extraction)
    assert len(sleep.delays) == 2  # three attempts


def test_an_answer_that_is_not_a_chat_completion_is_a_model_error(server: ChatServer) -> None:
    server.script(Reply(body={"message": {"role": "assistant", "content": "{}"}, "done": True}))
    with pytest.raises(ModelError, match=r"not a chat completion"):
        make_client(server).invoke(make_request(), Extraction)


# ------------------------------------------------------------------ configuration of the client


def test_the_api_key_is_sent_only_when_set(server: ChatServer) -> None:
    server.script(completion(json.dumps(GOOD)), completion(json.dumps(GOOD)))
    make_client(server, api_key="sk-local-123").invoke(make_request(), Extraction)
    make_client(server).invoke(make_request(), Extraction)

    with_key, without_key = server.requests
    assert with_key.headers["Authorization"] == "Bearer sk-local-123"
    assert "Authorization" not in without_key.headers


def test_each_role_uses_its_model_and_an_unknown_role_names_itself(server: ChatServer) -> None:
    server.script(completion(json.dumps(GOOD), model="llama3.2:3b"))
    client = make_client(server)
    assert client.invoke(make_request("generator_b"), Extraction).model_id == "llama3.2:3b"
    assert server.requests[0].body["model"] == "llama3.2:3b"

    with pytest.raises(ModelError, match=r"no model name configured for role 'commenter'.*generator_b"):
        client.invoke(make_request("commenter"), Extraction)
    assert len(server.requests) == 1  # nothing sent for the unknown role


def test_a_base_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="not an http"):
        OpenAICompatibleClient("localhost:11434/v1", {"generator": MODEL})


def test_schema_names_are_safe() -> None:
    assert schema_name_for(Extraction) == "Extraction"


# ------------------------------------------------------------------ settings, wiring and the template


def _configure(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    monkeypatch.setenv("DATA_DIR", "/tmp/cataloop-test")
    for name, value in values.items():
        monkeypatch.setenv(environment_variables()[name], value)


def test_settings_openai_compatible_builds_this_client(monkeypatch: pytest.MonkeyPatch) -> None:
    _configure(
        monkeypatch,
        model_provider="openai-compatible",
        openai_base_url="http://127.0.0.1:11434/v1",
        openai_api_key="sk-local",
        openai_timeout_seconds="90",
        generator_model_id="qwen2.5:3b",
        generator_b_model_id="llama3.2:3b",
        evaluator_model_id="qwen2.5:7b",
        supervisor_model_id="qwen2.5:14b",
    )
    config = Settings.from_environment()
    assert "sk-local" not in repr(config)

    client = wiring.model_client(config)
    assert isinstance(client, OpenAICompatibleClient)
    assert client.base_url == "http://127.0.0.1:11434/v1"
    assert client.model_id_for("supervisor") == "qwen2.5:14b"
    assert client.model_id_for("generator_b") == "llama3.2:3b"
    assert (client._api_key, client._read_timeout) == ("sk-local", 90.0)
    assert wiring.model_client(config) is client  # one per configuration: it remembers the fallback


@pytest.mark.parametrize(
    "values, message",
    [
        ({}, "MODEL_PROVIDER=openai-compatible needs OPENAI_BASE_URL"),
        ({"openai_base_url": "localhost:11434"}, "OPENAI_BASE_URL='localhost:11434' is not an http(s) URL"),
        (
            {"openai_base_url": "http://127.0.0.1:11434/v1", "supervisor_model_id": ""},
            "MODEL_PROVIDER=openai-compatible needs SUPERVISOR_MODEL_ID",
        ),
    ],
)
def test_settings_openai_compatible_without_what_it_needs_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, values: dict[str, str], message: str
) -> None:
    ids = {
        f"{role}_model_id": "qwen2.5:3b" for role in ("generator", "generator_b", "evaluator", "supervisor")
    }
    _configure(monkeypatch, model_provider="openai-compatible", **{**ids, **values})
    with pytest.raises(ConfigurationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Settings.from_environment()


def test_the_template_and_the_local_cloud_take_openai_compatible() -> None:
    template = load_template(TEMPLATE)
    overrides = {
        "ModelProvider": "openai-compatible",
        "OpenAIBaseUrl": "http://127.0.0.1:11434/v1",
        "OpenAIApiKey": "",
        "GeneratorModelId": "qwen2.5:3b",
    }
    # The local cloud's defaults, then the caller's overrides, as LocalCloud.start merges them.
    local = local_parameters(TEMPLATE.parent / ".cataloop")
    merged = check_parameter_overrides(template, {**local, **overrides})
    assert merged["ModelProvider"] == "openai-compatible"
    assert merged["MemoryManagerModelId"] == ""  # no Bedrock memory manager on the local cloud
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["OPENAI_BASE_URL"] == {"Ref": "OpenAIBaseUrl"}
    assert variables["OPENAI_API_KEY"] == {"Ref": "OpenAIApiKey"}
    assert template["Parameters"]["OpenAIApiKey"]["NoEcho"] is True
