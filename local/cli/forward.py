"""Commands while `cataloop serve` runs: the command is handed to the server, which runs it on its own,
already started local cloud and sends back what it printed and its exit status.

`serve` holds the state directory's lock for as long as it runs (its tables are in memory and saved when it
stops), so a command could not start a local cloud of its own there. Before this module the command was
refused ("use its HTTP API"); now `run()` asks `forward_to_serve` first, which reads the lock file (the
holder and the server's URL that serve noted in it) and the bearer token serve wrote to `serve-token`
(mode 0600), and posts the command's words to `POST /_local/cli` on 127.0.0.1. Only Python's start and the
CLI module's light imports are paid on that path (0.16-0.17 s measured with /usr/bin/time), so a forwarded
command answers in the server's time plus that.

On the server, `run_forwarded` runs `main()` with the words, the running cloud in place of a new one
(`common.serving`), and stdout and stderr captured. Commands run one at a time, and the server's own
invocations and stream deliveries wait meanwhile (`serve`'s lock), so nothing else writes to the captured
streams. Not forwarded: the commands that replace the state or make clouds of their own (`serve`, `demo`,
`reset`, `eval`), those that need no local cloud, and a command given `--parameter-overrides` (the server's
template parameters are fixed): they keep the message that names the running server.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

# The commands a running server can run for a caller: they read or change the state through the local
# cloud (`common.local_cloud`) and nothing else.
FORWARDED = frozenset(
    {"product", "kb", "review", "search", "events", "invoke", "enrich", "reindex", "dictionary"}
)
CLI_PATH = "/_local/cli"
SERVE_HOLDER = "cataloop serve"  # state.SERVE, not imported: this module stays on the standard library
TOKEN_FILE = "serve-token"
LOCAL_URL = re.compile(r"http://127\.0\.0\.1:[0-9]{1,5}")
LOCK_FILE = ".lock"
# A forwarded command may run an execution or rebuild an index: the server answers when it is done.
TIMEOUT_SECONDS = 600.0


def split_state_dir(argv: list[str], default: Path) -> tuple[Path, list[str]]:
    """The `--state-dir` of `argv` (else `default`) and the other words."""
    state, rest = default, []
    words = iter(argv)
    for word in words:
        if word == "--state-dir":
            state = Path(next(words, ""))
        elif word.startswith("--state-dir="):
            state = Path(word.split("=", 1)[1])
        else:
            rest.append(word)
    return state, rest


def serving_at(state_dir: Path) -> tuple[str, str] | None:
    """(URL, token) of the `cataloop serve` holding `state_dir`'s lock; None when no server holds it (the
    lock is free, held by another command, or the server noted no URL yet)."""
    lock = state_dir / LOCK_FILE
    if not lock.is_file():
        return None
    with open(lock, encoding="utf-8") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # held: read who holds it
        else:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            return None  # nobody holds it
        try:
            recorded = json.loads(handle.read() or "{}")
        except ValueError:
            return None
    url = recorded.get("url") if isinstance(recorded, dict) else None
    # serve listens on 127.0.0.1 only; the token goes nowhere else, whatever the file says.
    if recorded.get("holder") != SERVE_HOLDER or not isinstance(url, str) or not LOCAL_URL.fullmatch(url):
        return None
    try:
        token = (state_dir / TOKEN_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return url, token


def forward_to_serve(argv: list[str], default_state: Path) -> int | None:
    """Run the command `argv` on the `cataloop serve` that holds its state directory, printing what the
    server's run printed; its exit status, or None when the command runs here as usual (no server holds
    the directory, or the command is not one a server runs: see the module docstring)."""
    if "--parameter-overrides" in argv or any(word.startswith("--parameter-overrides=") for word in argv):
        return None
    state_dir, words = split_state_dir(argv, default_state)
    command = next((word for word in words if not word.startswith("-")), None)
    if command not in FORWARDED or "-h" in words or "--help" in words:
        return None
    server = serving_at(state_dir)
    if server is None:
        return None
    url, token = server
    request = urllib.request.Request(
        url + CLI_PATH,
        # The caller's directory: the command's relative paths (an event file, --json) are the caller's.
        data=json.dumps({"argv": words, "cwd": os.getcwd()}).encode("utf-8"),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            answer = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError) as error:
        print(
            f"error: cataloop serve holds {state_dir} but did not run the command: {error}", file=sys.stderr
        )
        return 1
    with contextlib.suppress(BrokenPipeError):  # a reader that left early (`| head`) is not an error
        sys.stdout.write(str(answer.get("stdout", "")))
        sys.stderr.write(str(answer.get("stderr", "")))
    status = answer.get("status")
    return status if isinstance(status, int) else 1


def run_forwarded(argv: list[str], state_dir: Path, cloud: Any, cwd: str | None = None) -> dict[str, Any]:
    """On the server: run the command `argv` on `cloud` (the server's, on `state_dir`, an absolute path)
    in the caller's directory `cwd`, and return its exit status and what it printed. The caller holds the
    server's lock for the duration: nothing else of the server runs meanwhile, so changing the process's
    directory for the command's relative paths is safe."""
    from cataloop_local.cli import common
    from cataloop_local.cli.main import main
    from cataloop_local.emulator.lambdas import applied_environment

    _, words = split_state_dir(argv, state_dir)
    command = next((word for word in words if not word.startswith("-")), None)
    if command not in FORWARDED or "--parameter-overrides" in words:
        return {"status": 2, "stdout": "", "stderr": f"error: cataloop serve does not run {command!r}\n"}
    out, err = io.StringIO(), io.StringIO()
    overrides = dict(common.PARAMETER_OVERRIDES)
    status: int
    # The stack's shared variables, as a command's own cloud sets them in its thread at start (this runs on
    # one of the server's request threads).
    environment = applied_environment(cloud.shared_environment())
    if cwd is not None and not Path(cwd).is_dir():
        return {"status": 2, "stdout": "", "stderr": f"error: no directory {cwd!r} here\n"}
    with (
        environment,
        contextlib.chdir(cwd or os.getcwd()),
        common.serving(cloud, state_dir),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        try:
            status = int(main(["--state-dir", str(state_dir), *words]))
        except SystemExit as stop:
            if stop.code is None or isinstance(stop.code, int):
                status = stop.code or 0
            else:
                print(stop.code, file=sys.stderr)
                status = 1
        finally:
            common.PARAMETER_OVERRIDES.clear()
            common.PARAMETER_OVERRIDES.update(overrides)
    return {"status": status, "stdout": out.getvalue(), "stderr": err.getvalue()}
