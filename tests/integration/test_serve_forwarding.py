"""While `cataloop serve` holds a state directory, the CLI's commands on it run on the server's cloud
(local/cli/forward.py): what they print and their exit status come back; commands that would replace the
state, and callers without the token, are refused."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cataloop_local.cli.forward import forward_to_serve, serving_at
from cataloop_local.cli.main import main, serving_state
from tests.conftest import ROOT

pytestmark = pytest.mark.integration

EVENTS = ROOT / "events"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, Any]]:
    state = tmp_path / "state"
    with serving_state(state) as (_, server, _):
        yield state, server


def _post(server: Any, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        server.url + "/_local/cli",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **headers},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_commands_on_a_served_state_run_on_the_server(
    served: tuple[Path, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    state, server = served
    assert serving_at(state) == (server.url, server.token)
    put = ["--state-dir", str(state), "events", "put", str(EVENTS / "product_created.json")]
    assert forward_to_serve(put, state) == 0
    printed = capsys.readouterr()
    assert "SUCCEEDED  EnrichProductStateMachine" in printed.out and "Brand=" in printed.out

    assert forward_to_serve(["--state-dir", str(state), "product", "show", "oa-coffee-0001"], state) == 0
    assert "decision: " in capsys.readouterr().out
    # A usage error comes back with argparse's status and message.
    assert forward_to_serve(["--state-dir", str(state), "product", "shw"], state) == 2
    assert "invalid choice: 'shw'" in capsys.readouterr().err
    # What a command writes as --json lands where the caller asked (the server shares the file system).
    report = state.parent / "product.json"
    shown = ["--state-dir", str(state), "product", "show", "oa-coffee-0001", "--json", str(report)]
    assert forward_to_serve(shown, state) == 0
    assert json.loads(report.read_text(encoding="utf-8"))["product_id"] == "oa-coffee-0001"


def test_a_forwarded_command_reads_and_writes_paths_relative_to_its_callers_directory(
    served: tuple[Path, Any], tmp_path: Path
) -> None:
    """The caller sends its directory; the server (here the same process, whose directory stays another)
    runs the command there."""
    _, server = served
    caller = tmp_path / "elsewhere"
    caller.mkdir()
    (caller / "event.json").write_text((EVENTS / "product_created.json").read_text("utf-8"), "utf-8")
    assert Path.cwd() != caller
    words = ["events", "put", "event.json", "--json", "put.json"]
    status, answer = _post(server, {"argv": words, "cwd": str(caller)}, server.authorization)
    assert status == 200 and answer["status"] == 0, answer["stderr"]
    assert (
        json.loads((caller / "put.json").read_text(encoding="utf-8"))["executions"][0]["status"]
        == "SUCCEEDED"
    )
    assert not (Path.cwd() / "put.json").exists()


def test_commands_that_replace_the_state_are_not_forwarded_and_are_refused(
    served: tuple[Path, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    state, _ = served
    for words in (["reset"], ["demo"], ["serve"], ["eval", "extraction"], ["doctor"]):
        assert forward_to_serve(["--state-dir", str(state), *words], state) is None
    overridden = ["--state-dir", str(state), "--parameter-overrides", "Stage=x", "kb", "tree"]
    assert forward_to_serve(overridden, state) is None
    # Run here as usual, `reset` finds the lock and names the server.
    with pytest.raises(SystemExit, match="cataloop serve is running"):
        main(["--state-dir", str(state), "reset"])


def test_the_command_route_needs_the_servers_token(served: tuple[Path, Any]) -> None:
    _, server = served

    assert _post(server, {"argv": ["kb", "tree"]}, {})[0] == 401
    assert _post(server, {"argv": ["kb", "tree"]}, {"Authorization": "Bearer wrong"})[0] == 401
    assert _post(server, {"argv": "kb tree"}, server.authorization)[0] == 400
    assert _post(server, {"argv": ["kb", "tree"], "cwd": 3}, server.authorization)[0] == 400
    status, answer = _post(server, {"argv": ["serve"]}, server.authorization)
    assert status == 200 and answer["status"] == 2 and "does not run 'serve'" in answer["stderr"]
    status, answer = _post(server, {"argv": ["kb", "tree"]}, server.authorization)
    assert status == 200 and answer["status"] == 0


def test_no_server_no_forwarding(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert serving_at(state) is None  # no lock file
    state.mkdir()
    (state / ".lock").write_text(json.dumps({"pid": 1, "holder": "cataloop serve", "url": "x"}), "utf-8")
    assert serving_at(state) is None  # a lock file nobody holds
    assert forward_to_serve(["--state-dir", str(state), "kb", "tree"], state) is None


def test_only_a_server_on_127_0_0_1_gets_the_token(tmp_path: Path) -> None:
    from cataloop_local.emulator.state import SERVE, StateLock

    state = tmp_path / "state"
    with StateLock(state, "cataloop demo"):
        assert serving_at(state) is None  # another command holds it: it says so itself
    (state / "serve-token").write_text("secret\n", encoding="utf-8")
    for url, found in (
        ("http://127.0.0.1:3000", ("http://127.0.0.1:3000", "secret")),
        ("http://example.com:3000", None),
        ("http://127.0.0.1:3000@example.com", None),
    ):
        with StateLock(state, SERVE) as lock:
            lock.note(url=url)
            assert serving_at(state) == found


def test_the_state_directory_comes_out_of_the_words() -> None:
    from cataloop_local.cli.forward import split_state_dir

    default = Path("/default")
    assert split_state_dir(["kb", "tree"], default) == (default, ["kb", "tree"])
    assert split_state_dir(["--state-dir", "/s", "kb"], default) == (Path("/s"), ["kb"])
    assert split_state_dir(["kb", "--state-dir=/s"], default) == (Path("/s"), ["kb"])
