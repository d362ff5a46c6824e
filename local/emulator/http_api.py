"""A small HTTP server that turns requests into API Gateway HTTP API (payload 2.0) events.

Routes come from the template's `Type: HttpApi` function events; paths may hold `{name}` parameters and
`{proxy+}`. Anything that is not a route is looked up in `local/console/` (the local console pages).
"""

from __future__ import annotations

import base64
import json
import mimetypes
import re
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


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function: str

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
    return 200, {"content-type": "application/json"}, json.dumps(result).encode("utf-8")


class HttpApiServer:
    """Serves the template's HTTP API routes on 127.0.0.1 by calling `invoke(function, event)`."""

    def __init__(
        self,
        routes: list[Route],
        invoke: Callable[[str, Any], Any],
        port: int = 0,
        after_request: Callable[[], None] | None = None,
    ):
        self.routes = routes
        self._invoke = invoke
        self._after_request = after_request
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        split = urlsplit(target)
        for route in self.routes:
            params = route.match(method, split.path)
            if params is not None:
                event = build_http_event(route, method, split.path, split.query, headers, body, params)
                try:
                    result = self._invoke(route.function, event)
                except FunctionError as error:
                    # API Gateway hides the error and answers 500 when the integration fails.
                    _ = error
                    return 500, {"content-type": "application/json"}, b'{"message":"Internal Server Error"}'
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
        return 404, {"content-type": "application/json"}, b'{"message":"Not Found"}'

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, headers, payload = server.handle(self.command, self.path, dict(self.headers), body)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler


def _console_file(path: str) -> Path | None:
    relative = "index.html" if path in ("", "/") else path.lstrip("/")
    candidate = (CONSOLE_DIR / relative).resolve()
    if CONSOLE_DIR.resolve() not in candidate.parents or not candidate.is_file():
        return None
    return candidate
