"""In-process Lambda: every function of the template runs its Python handler in this process.

moto would run a Lambda in Docker. moto's callers of the Lambda API (`lambda.invoke`, an EventBridge target)
go through one method, `moto.awslambda.models.LambdaFunction.invoke`; routing that method to the registry
below makes every caller work, and an exception comes back as a function error (`X-Amz-Function-Error:
Unhandled` with `errorType`/`errorMessage`) so Retry/Catch in the ASL apply. Step Functions' Lambda tasks
get `TaskLambdaClient` instead, which gives the same answer without a boto3 client per task and a trip
through moto's Lambda service.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib.util
import io
import json
import os
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

Handler = Callable[[Any, Any], Any]
# Invocations the registry remembers (the most recent ones, events included): tests and
# scripts/capture_events.py read them; a long `cataloop serve` must not grow with every event it ever ran.
KEEP_INVOCATIONS = 1000


@dataclass
class LambdaContext:
    """The attributes and method of the real Lambda context that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    timeout_seconds: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    _deadline: float = 0.0

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class LocalFunction:
    """One function of the template: where its code is and how it is configured."""

    logical_id: str
    name: str
    arn: str
    code_dir: Path
    handler: str
    environment: dict[str, str]
    timeout: int = 30
    memory: int = 512
    log: FunctionLog = field(default_factory=lambda: FunctionLog())
    _module: ModuleType | None = None

    def load(self) -> Handler:
        module_file, _, function = self.handler.rpartition(".")
        if self._module is None:
            path = self.code_dir / (module_file.replace(".", "/") + ".py")
            if not path.is_file():
                raise FileNotFoundError(f"{self.logical_id}: handler file {path} does not exist")
            module_name = f"cataloop_function_{self.logical_id}"
            spec = importlib.util.spec_from_file_location(module_name, path)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {path}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            # Loggers created at import bind to stdout: bind them to this function's log, as in Lambda.
            with applied_environment(self.environment), function_output(self.log):
                spec.loader.exec_module(module)
            self._module = module
        handler = getattr(self._module, function, None)
        if handler is None:
            raise AttributeError(f"{self.logical_id}: {self.handler} has no function {function!r}")
        return handler  # type: ignore[no-any-return]


class FunctionLog(io.TextIOBase):
    """What a function prints (Powertools logs and EMF metrics): kept in memory and, when a path is set,
    appended to a file, like the function's CloudWatch log group."""

    def __init__(self, path: Path | None = None, keep: int = 20000):
        self.path = path
        self.lines: list[str] = []
        self._keep = keep
        self._partial = ""

    def write(self, text: str) -> int:
        self._partial += text
        *complete, self._partial = self._partial.split("\n")
        if complete:
            self.lines.extend(complete)
            del self.lines[: -self._keep]
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as handle:
                    handle.write("\n".join(complete) + "\n")
        return len(text)

    def writable(self) -> bool:
        return True

    def json_lines(self) -> list[dict[str, Any]]:
        """The lines that are JSON objects (structured logs and EMF metric blobs)."""
        found = []
        for line in self.lines:
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    found.append(json.loads(line))
        return found


class _LogRouter(io.TextIOBase):
    """The stdout every function sees. Powertools loggers with the same service name are one logging.Logger
    per process; a Lambda process holds one function, this one holds all of them, so writes go to the log
    of the function that is running now rather than to whichever function created the logger first."""

    def __init__(self) -> None:
        self.current: contextvars.ContextVar[FunctionLog | None] = contextvars.ContextVar(
            "function_log", default=None
        )

    def write(self, text: str) -> int:
        log = self.current.get()
        return log.write(text) if log is not None else sys.__stdout__.write(text)

    def writable(self) -> bool:
        return True


LOG_ROUTER = _LogRouter()


@contextmanager
def function_output(log: FunctionLog) -> Iterator[None]:
    token = LOG_ROUTER.current.set(log)
    try:
        with contextlib.redirect_stdout(LOG_ROUTER):
            yield
    finally:
        LOG_ROUTER.current.reset(token)


class FunctionEnvironment(MutableMapping[str, str]):
    """`os.environ` as each function sees it: the process environment with the variables of the function
    running in the current thread (a context variable) laid over it.

    A Lambda process runs one function; this process runs all of them, on several threads (moto runs
    Parallel branches and tasks on threads). Setting and restoring each function's variables in the shared
    `os.environ` around an invoke raced with other threads: botocore's `os.environ.copy()` saw a key
    vanish (KeyError('STAGE') -> States.Runtime, about 1% of executions). Here nothing is mutated per
    invoke: each thread reads its own function's variables, and writes go to the process environment.
    """

    def __init__(self, base: MutableMapping[str, str]) -> None:
        self.base = base
        self.overlay: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar(
            "function_environment", default=None
        )

    def __getitem__(self, key: str) -> str:
        overlay = self.overlay.get()
        if overlay is not None and key in overlay:
            return overlay[key]
        return self.base[key]

    def __setitem__(self, key: str, value: str) -> None:
        self.base[key] = value

    def __delitem__(self, key: str) -> None:
        del self.base[key]

    def __iter__(self) -> Iterator[str]:
        overlay = self.overlay.get()
        keys = dict.fromkeys(self.base)
        if overlay is not None:
            keys.update(dict.fromkeys(overlay))
        return iter(list(keys))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def copy(self) -> dict[str, str]:
        return dict(self.items())

    def __repr__(self) -> str:
        return f"FunctionEnvironment({self.copy()!r})"


def install_function_environments() -> FunctionEnvironment:
    """Make `os.environ` a FunctionEnvironment (once per process) and return it."""
    if not isinstance(os.environ, FunctionEnvironment):
        os.environ = FunctionEnvironment(os.environ)  # type: ignore[assignment]  # noqa: B003 (wraps, keeps it)
    return os.environ  # type: ignore[return-value]


@contextmanager
def applied_environment(variables: Mapping[str, str]) -> Iterator[None]:
    """A function's environment variables, seen by this thread only, for the duration of a call."""
    environment = install_function_environments()
    token = environment.overlay.set({key: str(value) for key, value in variables.items()})
    try:
        yield
    finally:
        environment.overlay.reset(token)


class FunctionError(Exception):
    """A handler raised: carries the payload Lambda would return with X-Amz-Function-Error."""

    def __init__(self, payload: dict[str, Any]):
        super().__init__(payload.get("errorMessage", ""))
        self.payload = payload


@dataclass
class Invocation:
    function: str
    request_id: str
    event: Any
    ok: bool
    duration_ms: float
    error_type: str | None = None


class FunctionRegistry:
    """Functions by name and ARN; runs handlers in-process and keeps a log of the last `keep_invocations`
    invocations (oldest first)."""

    def __init__(self, keep_invocations: int = KEEP_INVOCATIONS) -> None:
        self._by_name: dict[str, LocalFunction] = {}
        self._by_logical_id: dict[str, LocalFunction] = {}
        self.invocations: deque[Invocation] = deque(maxlen=keep_invocations)
        self._lock = threading.RLock()

    def register(self, function: LocalFunction) -> None:
        self._by_name[function.name] = function
        self._by_logical_id[function.logical_id] = function

    def get(self, name_or_arn_or_logical_id: str) -> LocalFunction:
        key = name_or_arn_or_logical_id
        if key.startswith("arn:"):
            key = key.split(":")[6]
        function = self._by_name.get(key) or self._by_logical_id.get(key)
        if function is None:
            known = ", ".join(sorted(self._by_logical_id))
            raise KeyError(f"no function {name_or_arn_or_logical_id!r}; known: {known}")
        return function

    @property
    def functions(self) -> list[LocalFunction]:
        return list(self._by_logical_id.values())

    def invoke(self, name: str, event: Any) -> Any:
        """Run the handler with a fresh context; raise FunctionError with Lambda's error payload."""
        function = self.get(name)
        context = LambdaContext(
            function_name=function.name,
            memory_limit_in_mb=function.memory,
            invoked_function_arn=function.arn,
            timeout_seconds=function.timeout,
        )
        started = time.perf_counter()
        # One invocation at a time: handlers share module state (clients, caches) in this process.
        with self._lock, applied_environment(function.environment), function_output(function.log):
            try:
                result = function.load()(event, context)
            except Exception as error:
                elapsed = (time.perf_counter() - started) * 1000
                self.invocations.append(
                    Invocation(
                        function.logical_id,
                        context.aws_request_id,
                        event,
                        False,
                        elapsed,
                        type(error).__name__,
                    )
                )
                raise FunctionError(
                    {
                        "errorType": type(error).__name__,
                        "errorMessage": str(error),
                        "requestId": context.aws_request_id,
                        "stackTrace": traceback.format_exception(error)[-5:],
                    }
                ) from error
        elapsed = (time.perf_counter() - started) * 1000
        self.invocations.append(Invocation(function.logical_id, context.aws_request_id, event, True, elapsed))
        return result


_active_registry: FunctionRegistry | None = None
_patched = False


def route_moto_invocations(registry: FunctionRegistry | None) -> None:
    """Send every moto Lambda invoke to `registry` (None detaches). moto is patched by `patch_moto_invoke`,
    once per process, when the first function is created in moto (resources.py defers that)."""
    global _active_registry
    _active_registry = registry


class TaskLambdaClient:
    """The Lambda client a Step Functions task gets here: `invoke` runs the handler through the registry and
    answers as the Lambda API does (botocore's Invoke output: StatusCode, ExecutedVersion, a streaming
    Payload, and FunctionError `Unhandled` with Lambda's error payload when the handler raised; an unknown
    function is a ResourceNotFoundException). moto's own path answers the same
    (tests/unit/test_task_lambda_client.py compares both) but makes a new boto3 client per task and a trip
    through moto's Lambda service."""

    def invoke(self, **parameters: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError
        from botocore.response import StreamingBody

        if _active_registry is None:
            raise RuntimeError("no local function registry is attached to moto")
        name = str(parameters["FunctionName"])
        body = parameters.get("Payload")
        raw = body.read() if hasattr(body, "read") else body
        event = json.loads(raw) if raw else {}
        request_id = str(uuid.uuid4())
        try:
            _active_registry.get(name)
        except KeyError:
            error = {"Code": "ResourceNotFoundException", "Message": f"Function not found: {name}"}
            metadata = {"HTTPStatusCode": 404, "RequestId": request_id}
            raise ClientError({"Error": error, "ResponseMetadata": metadata}, "Invoke") from None
        response: dict[str, Any] = {"StatusCode": 200, "ExecutedVersion": "$LATEST"}
        try:
            payload = json.dumps(_active_registry.invoke(name, event), default=str, ensure_ascii=False)
        except FunctionError as error:
            response["FunctionError"] = "Unhandled"
            payload = json.dumps(error.payload, ensure_ascii=False)
        if parameters.get("InvocationType", "RequestResponse") != "RequestResponse":
            response["StatusCode"] = 202
            payload = ""
        data = payload.encode("utf-8")
        response["Payload"] = StreamingBody(io.BytesIO(data), len(data))
        response["ResponseMetadata"] = {"HTTPStatusCode": response["StatusCode"], "RequestId": request_id}
        return response


def route_task_invocations() -> None:
    """Step Functions tasks that invoke a function get `TaskLambdaClient` (once per process; every other
    service's client stays moto's)."""
    global _tasks_routed
    if _tasks_routed:
        return
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    original = lambda_eval_utils.boto_client_for
    client = TaskLambdaClient()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        if service == "lambda":
            return client
        return original(region=region, service=service, state_credentials=state_credentials)

    lambda_eval_utils.boto_client_for = boto_client_for
    _tasks_routed = True


_tasks_routed = False


def patch_moto_invoke() -> None:
    global _patched
    if _patched:
        return
    from moto.awslambda.models import LambdaFunction

    def invoke(self: Any, body: str, request_headers: Any, response_headers: Any) -> str | bytes:
        if _active_registry is None:
            raise RuntimeError("no local function registry is attached to moto")
        event = json.loads(body) if body else {}
        try:
            result = _active_registry.invoke(self.function_name, event)
            payload = json.dumps(result, default=str, ensure_ascii=False)
        except FunctionError as error:
            response_headers["x-amz-function-error"] = "Unhandled"
            payload = json.dumps(error.payload, ensure_ascii=False)
        if request_headers.get("x-amz-invocation-type", "RequestResponse") == "RequestResponse":
            return payload.encode("utf-8")
        return payload

    LambdaFunction.invoke = invoke  # type: ignore[method-assign]
    _patched = True
