"""A small HTTP server that turns requests into API Gateway HTTP API (payload 2.0) events.

Routes come from the template's `Type: HttpApi` function events; paths may hold `{name}` parameters and
`{proxy+}`. Anything that is not a route is looked up in `local/console/` (the local console pages).

The server listens on 127.0.0.1 only, and is hardened against the browser on the same machine:
- routes the template marks `Auth: {Authorizer: AWS_IAM}` need `Authorization: Bearer <token>`, a random token
  made per server (what IAM signing is in AWS; `cataloop serve` prints it and writes `.cataloop/serve-token`);
- the Host header must name 127.0.0.1 or localhost (a DNS-rebound name gets 421);
- a request with a body, and every POST/PUT/PATCH, must be `Content-Type: application/json` (415), so a
  cross-site form or text/plain "simple request" never reaches a handler;
- bodies are capped (413) and the socket has a read timeout; every response carries CSP, nosniff and
  no-referrer headers.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import json
import mimetypes
import re
import secrets
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from cataloop_local.emulator.lambdas import FunctionError

CONSOLE_DIR = Path(__file__).parent / "console"
MAX_BODY_BYTES = 1024 * 1024
READ_TIMEOUT_SECONDS = 10.0
LOCAL_HOSTS = ("127.0.0.1", "localhost")
SECURITY_HEADERS = {
    # `img-src data:` keeps the console's empty `data:,` favicon; everything else is same-origin only.
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

Response = tuple[int, dict[str, str], bytes]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function: str
    # The route's `Auth.Authorizer` in the template (`AWS_IAM`), or None for an open route.
    auth: str | None = None

    @property
    def needs_token(self) -> bool:
        return self.auth is not None and self.auth != "NONE"

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if self.method not in ("ANY", method):
            return None
        pattern = re.sub(r"\\\{(\w+)\\\+\\\}", r"(?P<\1>.+)", re.escape(self.path))
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", pattern)
        found = re.fullmatch(pattern, path)
        return None if found is None else found.groupdict()


def build_http_event(
    route: Route,
    method: str,
    raw_path: str,
    query: str,
    headers: dict[str, str],
    body: bytes,
    path_parameters: dict[str, str],
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """The event API Gateway sends a Lambda integration with payload format version 2.0."""
    now = time.time()
    params: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        params[key] = f"{params[key]},{value}" if key in params else value
    text_body: str | None
    is_base64 = False
    if not body:
        text_body = None
    else:
        try:
            text_body = body.decode("utf-8")
        except UnicodeDecodeError:
            text_body, is_base64 = base64.b64encode(body).decode(), True
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": {key.lower(): value for key, value in headers.items()},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": headers.get("Host", "localhost"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get("User-Agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route.route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": is_base64,
    }
    if params:
        event["queryStringParameters"] = params
    if path_parameters:
        event["pathParameters"] = path_parameters
    if text_body is not None:
        event["body"] = text_body
    return event


def http_response(result: Any) -> tuple[int, dict[str, str], bytes]:
    """Interpret a handler result as API Gateway does for payload 2.0 (a non-dict body means 200 JSON)."""
    if isinstance(result, dict) and "statusCode" in result:
        headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
        body = result.get("body") or ""
        raw = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode("utf-8")
        return int(result["statusCode"]), headers, raw
    return 200, {"content-type": "application/json"}, json.dumps(result, ensure_ascii=False).encode("utf-8")


def _error(status: int, message: str, **headers: str) -> Response:
    body = json.dumps({"message": message}).encode("utf-8")
    return status, {"content-type": "application/json", **headers}, body


# Where `cataloop serve` takes a command of the CLI's (local/cli/forward.py): bearer token only.
LOCAL_CLI_PATH = "/_local/cli"


class HttpApiServer:
    """Serves the template's HTTP API routes on 127.0.0.1 by calling `invoke(function, event)`.

    `token` is what callers of authorised routes send as `Authorization: Bearer <token>`; a random one is
    made when none is given. With `local_command`, `POST /_local/cli` (authorised) runs a CLI command's
    words (in the caller's directory) through it and answers its JSON. With `guard`, route invocations and
    local commands run one at a time under it (the console's static files do not wait)."""

    def __init__(
        self,
        routes: list[Route],
        invoke: Callable[[str, Any], Any],
        port: int = 0,
        after_request: Callable[[], None] | None = None,
        token: str | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
        read_timeout: float = READ_TIMEOUT_SECONDS,
        local_command: Callable[[list[str], str | None], dict[str, Any]] | None = None,
        guard: Any = None,
    ):
        self.routes = routes
        self.token = token or secrets.token_urlsafe(32)
        self.max_body_bytes = max_body_bytes
        self.read_timeout = read_timeout
        self._invoke = invoke
        self._after_request = after_request
        self._local_command = local_command
        self._guard = guard if guard is not None else contextlib.nullcontext()
        self._server = _QuietServer(("127.0.0.1", port), self._handler_class())
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def authorization(self) -> dict[str, str]:
        """The header a caller of an authorised route sends."""
        return {"Authorization": f"Bearer {self.token}"}

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def refusal(self, method: str, target: str, headers: dict[str, str], length: int) -> Response | None:
        """Why a request is refused before its body is read (None: it may proceed). `length` is its
        Content-Length."""
        lowered = {key.lower(): value for key, value in headers.items()}
        if not self._local_host(lowered.get("host", "")):
            return _error(421, "Misdirected Request: the Host must be 127.0.0.1 or localhost")
        if length > self.max_body_bytes:
            return _error(413, f"Payload Too Large: the body limit is {self.max_body_bytes} bytes")
        path = urlsplit(target).path
        route = self._route(method, path)
        needs_token = (route is not None and route[0].needs_token) or path == LOCAL_CLI_PATH
        if needs_token and not self._authorised(lowered):
            return _error(401, "Unauthorized", **{"WWW-Authenticate": 'Bearer realm="cataloop-local"'})
        if (length > 0 or method in ("POST", "PUT", "PATCH")) and not _is_json(lowered.get("content-type")):
            return _error(415, "Unsupported Media Type: send Content-Type: application/json")
        return None

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Response:
        refused = self.refusal(method, target, headers, len(body))
        if refused is not None:
            return refused
        split = urlsplit(target)
        if split.path == LOCAL_CLI_PATH and self._local_command is not None:
            return self._run_local_command(method, body)
        found = self._route(method, split.path)
        if found is not None:
            route, params = found
            event = build_http_event(route, method, split.path, split.query, headers, body, params)
            with self._guard:
                try:
                    result = self._invoke(route.function, event)
                except FunctionError as error:
                    # API Gateway hides the error and answers 500 when the integration fails.
                    _ = error
                    return _error(500, "Internal Server Error")
                finally:
                    if self._after_request is not None:
                        self._after_request()
            return http_response(result)
        if method == "GET":
            page = _console_file(split.path)
            if page is not None:
                content_type = mimetypes.guess_type(page.name)[0] or "application/octet-stream"
                if content_type.startswith("text/") or content_type.endswith("javascript"):
                    content_type += "; charset=utf-8"
                return 200, {"content-type": content_type}, page.read_bytes()
        return _error(404, "Not Found")

    def _run_local_command(self, method: str, body: bytes) -> Response:
        if method != "POST":
            return _error(405, "Method Not Allowed: POST a command's words", Allow="POST")
        try:
            request = json.loads(body or b"{}")
            words, cwd = request.get("argv"), request.get("cwd")
        except (ValueError, AttributeError):
            words, cwd = None, None
        if not isinstance(words, list) or not all(isinstance(word, str) for word in words):
            return _error(400, 'Bad Request: send {"argv": ["command", "word", ...], "cwd": "/dir"}')
        if cwd is not None and not isinstance(cwd, str):
            return _error(400, "Bad Request: cwd is the caller's directory, a string")
        assert self._local_command is not None
        with self._guard:
            answer = self._local_command(words, cwd)
        return 200, {"content-type": "application/json"}, json.dumps(answer, ensure_ascii=False).encode()

    def _route(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            params = route.match(method, path)
            if params is not None:
                return route, params
        return None

    def _authorised(self, lowered: dict[str, str]) -> bool:
        scheme, _, credential = lowered.get("authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(credential.strip().encode(), self.token.encode())

    def _local_host(self, host: str) -> bool:
        name, _, port = host.strip().lower().partition(":")
        return name in LOCAL_HOSTS and port in ("", str(self.port))

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            # The socket timeout (BaseHTTPRequestHandler.setup): a client that stops sending is dropped.
            timeout = server.read_timeout

            def _serve(self) -> None:
                headers = dict(self.headers)
                if self.headers.get("Transfer-Encoding"):
                    self._send(_error(411, "Length Required: chunked bodies are not accepted"), close=True)
                    return
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                except ValueError:
                    length = -1
                if length < 0:
                    self._send(_error(400, "Bad Request: invalid Content-Length"), close=True)
                    return
                refused = server.refusal(self.command, self.path, headers, length)
                if refused is not None:
                    # The body is left unread: the connection closes after the answer.
                    self._send(refused, close=True)
                    return
                try:
                    body = self.rfile.read(length) if length else b""
                except TimeoutError:
                    self.close_connection = True
                    return
                if len(body) < length:  # the client closed early
                    self.close_connection = True
                    return
                self._send(server.handle(self.command, self.path, headers, body))

            def _send(self, response: Response, close: bool = False) -> None:
                status, headers, payload = response
                self.send_response(status)
                for key, value in {**headers, **SECURITY_HEADERS}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                if close:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up or stalls is routine for a local server: no traceback on the console.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


def _is_json(content_type: str | None) -> bool:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return media_type == "application/json"


def _console_file(path: str) -> Path | None:
    relative = "index.html" if path in ("", "/") else path.lstrip("/")
    candidate = (CONSOLE_DIR / relative).resolve()
    if CONSOLE_DIR.resolve() not in candidate.parents or not candidate.is_file():
        return None
    return candidate
