"""The local HTTP server (`cataloop serve`) against the browser on the same machine: bearer token on the
template's IAM-authorised routes, Host check (DNS rebinding), JSON-only bodies (no cross-site simple
requests), body cap, read timeout and security headers. A fake function stands in for the handlers."""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cataloop_local.emulator.cfn import load_template
from cataloop_local.emulator.http_api import HttpApiServer, Route
from cataloop_local.emulator.resources import ResourceCreator
from tests.conftest import TEMPLATE

pytestmark = pytest.mark.probe("local server")

ROUTES = [
    Route("GET", "/health", "Open"),
    Route("GET", "/kb/tree", "Kb", auth="AWS_IAM"),
    Route("POST", "/kb/import", "Kb", auth="AWS_IAM"),
    Route("PUT", "/kb/learnings/{learning_id}", "Kb", auth="AWS_IAM"),
]


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, function: str, event: Any) -> Any:
        self.calls.append((function, event))
        return {"function": function, "body": event.get("body")}


@pytest.fixture
def served() -> Iterator[tuple[HttpApiServer, Recorder]]:
    recorder = Recorder()
    server = HttpApiServer(ROUTES, recorder, read_timeout=0.5)
    server.start()
    try:
        yield server, recorder
    finally:
        server.stop()


def _request(
    server: HttpApiServer,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        raw = response.read()
        payload = (
            json.loads(raw) if response.getheader("content-type", "").startswith("application/json") else raw
        )
        return response.status, {k.lower(): v for k, v in response.getheaders()}, payload
    finally:
        connection.close()


def _json(server: HttpApiServer, **extra: str) -> dict[str, str]:
    return {"Content-Type": "application/json", **server.authorization, **extra}


def test_authorised_routes_need_the_servers_bearer_token(served: tuple[HttpApiServer, Recorder]) -> None:
    server, recorder = served

    status, headers, body = _request(server, "GET", "/kb/tree")
    assert status == 401 and body == {"message": "Unauthorized"}
    assert headers["www-authenticate"].startswith("Bearer")
    assert _request(server, "GET", "/kb/tree", headers={"Authorization": "Bearer wrong"})[0] == 401
    assert _request(server, "GET", "/kb/tree", headers={"Authorization": server.token})[0] == 401
    assert _request(server, "GET", "/kb/tree", headers={"Authorization": f"Basic {server.token}"})[0] == 401
    assert recorder.calls == []  # refused before any handler ran

    status, _, body = _request(server, "GET", "/kb/tree", headers=server.authorization)
    assert status == 200 and body["function"] == "Kb"
    status, _, body = _request(server, "GET", "/kb/tree", headers={"authorization": f"bearer {server.token}"})
    assert status == 200


def test_open_routes_need_no_token_and_each_server_has_its_own(
    served: tuple[HttpApiServer, Recorder],
) -> None:
    server, _ = served
    assert _request(server, "GET", "/health")[0] == 200
    other = HttpApiServer(ROUTES, Recorder())
    try:
        assert other.token != server.token and len(server.token) >= 32
    finally:
        other._server.server_close()


def test_the_host_must_be_the_loopback_name_and_port(served: tuple[HttpApiServer, Recorder]) -> None:
    server, recorder = served
    port = server.port
    for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1.nip.io:{port}", f"127.0.0.1:{port + 1}"):
        status, _, body = _request(server, "GET", "/health", headers={"Host": host})
        assert status == 421, host
        assert "Host" in body["message"]
    status, _, _ = _request(
        server, "GET", "/kb/tree", headers={"Host": "attacker.test", **server.authorization}
    )
    assert status == 421
    assert recorder.calls == []
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost", "127.0.0.1"):
        assert _request(server, "GET", "/health", headers={"Host": host})[0] == 200, host


def test_bodies_must_be_json_so_cross_site_simple_requests_are_refused(
    served: tuple[HttpApiServer, Recorder],
) -> None:
    server, recorder = served
    snapshot = b'{"schema_version": 1, "learnings": []}'
    for content_type in (
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ):
        headers = {"Content-Type": content_type, **server.authorization}
        status, _, body = _request(server, "POST", "/kb/import", snapshot, headers)
        assert status == 415 and "application/json" in body["message"], content_type
    # No Content-Type at all, with or without a body, and on PUT.
    assert _request(server, "POST", "/kb/import", b"", server.authorization)[0] == 415
    assert _request(server, "POST", "/kb/import", snapshot, server.authorization)[0] == 415
    assert _request(server, "PUT", "/kb/learnings/L-1", snapshot, server.authorization)[0] == 415
    assert recorder.calls == []

    status, _, body = _request(server, "POST", "/kb/import", snapshot, _json(server))
    assert status == 200 and body["body"] == snapshot.decode()
    headers = {**server.authorization, "Content-Type": "application/json; charset=utf-8"}
    assert _request(server, "PUT", "/kb/learnings/L-1", snapshot, headers)[0] == 200


def test_the_token_check_comes_before_the_media_type_check(served: tuple[HttpApiServer, Recorder]) -> None:
    server, _ = served
    status, _, _ = _request(server, "POST", "/kb/import", b"x", {"Content-Type": "text/plain"})
    assert status == 401


def test_a_body_over_the_cap_is_refused_before_it_is_read(served: tuple[HttpApiServer, Recorder]) -> None:
    server, recorder = served
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        # Only the headers are sent: the server answers from the Content-Length, without waiting for 1 MiB.
        connection.putrequest("POST", "/kb/import")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Authorization", f"Bearer {server.token}")
        connection.putheader("Content-Length", str(server.max_body_bytes + 1))
        connection.endheaders()
        response = connection.getresponse()
        assert response.status == 413
        assert response.getheader("Connection") == "close"
        assert "body limit" in json.loads(response.read())["message"]
    finally:
        connection.close()
    assert recorder.calls == []
    body = b'{"pad": "' + b"x" * 1000 + b'"}'
    assert _request(server, "POST", "/kb/import", body, _json(server))[0] == 200


def test_a_chunked_or_invalid_length_body_is_refused(served: tuple[HttpApiServer, Recorder]) -> None:
    server, _ = served
    status, _, _ = _request(
        server, "POST", "/kb/import", iter([b"{}"]), {**_json(server), "Transfer-Encoding": "chunked"}
    )
    assert status == 411
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
        raw.sendall(
            f"POST /kb/import HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Length: -5\r\n\r\n".encode()
        )
        assert raw.recv(100).startswith(b"HTTP/1.0 400")


def test_a_client_that_stops_sending_is_dropped_after_the_read_timeout(
    served: tuple[HttpApiServer, Recorder],
) -> None:
    server, recorder = served
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        request = (
            f"POST /kb/import HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {server.token}\r\nContent-Length: 100\r\n\r\n{{"
        )
        raw.sendall(request.encode())
        started = time.monotonic()
        assert raw.recv(100) == b""  # closed by the server, no answer
        assert time.monotonic() - started < 5
    assert recorder.calls == []


def test_every_response_carries_the_security_headers(served: tuple[HttpApiServer, Recorder]) -> None:
    server, _ = served
    answers = [
        _request(server, "GET", "/health"),
        _request(server, "GET", "/"),  # the console page
        _request(server, "GET", "/app.js"),
        _request(server, "GET", "/no-such-page"),
        _request(server, "GET", "/kb/tree"),
        _request(server, "GET", "/health", headers={"Host": "evil.example"}),
        _request(server, "POST", "/kb/import", b"x", {**server.authorization, "Content-Type": "text/plain"}),
    ]
    assert [status for status, _, _ in answers] == [200, 200, 200, 404, 401, 421, 415]
    for _, headers, _ in answers:
        assert "default-src 'self'" in headers["content-security-policy"]
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"


def test_route_auth_is_read_from_the_templates_http_api_events() -> None:
    template = load_template(TEMPLATE)
    routes: list[Route] = []
    creator = ResourceCreator(
        template=template,
        resources=template["Resources"],
        root=Path(TEMPLATE).parent,
        state_dir=None,
        resolver=None,  # type: ignore[arg-type]
        physical_name=str,
        resolve_resource=lambda logical, attribute: logical,
        functions=None,  # type: ignore[arg-type]
        streams=None,  # type: ignore[arg-type]
        routes=routes,
        state_machine_arns={},
    )
    for logical, spec in template["Resources"].items():
        for name, event in (spec.get("Properties", {}).get("Events") or {}).items():
            if event.get("Type") == "HttpApi":
                creator._wire_function_event(logical, logical, name, event)

    by_key = {route.route_key: route for route in routes}
    kb_routes = [route for key, route in by_key.items() if " /kb/" in key]
    assert len(kb_routes) == 12 and all(route.needs_token and route.auth == "AWS_IAM" for route in kb_routes)
    assert not by_key["GET /search"].needs_token and not by_key["GET /health"].needs_token
    assert Route("GET", "/x", "F", auth="NONE").needs_token is False
