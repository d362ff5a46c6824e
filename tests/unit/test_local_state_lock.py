"""One writer at a time on a state directory: a second local cloud (or `cataloop` command) on the same
`.cataloop/` is refused at once with who holds it, instead of overwriting its tables on exit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cataloop_local.emulator.cloud import LocalCloud
from cataloop_local.emulator.state import SERVE, LocalState, StateLocked
from tests.conftest import FIXTURES, ROOT

pytestmark = pytest.mark.probe("local state")

SMALL_TEMPLATE = FIXTURES / "stream_template.yaml"


def test_a_second_holder_is_refused_with_who_holds_it_until_the_first_releases(tmp_path: Path) -> None:
    state = LocalState(tmp_path / "state")
    first = state.lock("cataloop events put").acquire()
    with pytest.raises(StateLocked) as refused:
        state.lock("cataloop search").acquire()
    assert refused.value.pid == os.getpid() and refused.value.holder == "cataloop events put"
    assert f"cataloop events put is running (pid {os.getpid()})" in str(refused.value)
    assert "wait for it to finish" in str(refused.value)
    # Another directory is independent.
    with LocalState(tmp_path / "other").lock("x"):
        pass
    first.release()
    with state.lock("cataloop search") as second:
        assert second.held


def test_serve_holding_the_state_tells_others_to_use_its_http_api(tmp_path: Path) -> None:
    state = LocalState(tmp_path / "state")
    with state.lock(SERVE) as held:
        held.note(url="http://127.0.0.1:3000")
        with pytest.raises(StateLocked) as refused:
            state.lock().acquire()
    message = str(refused.value)
    assert message.startswith(f"cataloop serve is running (pid {os.getpid()})")
    assert "stop it or use its HTTP API at http://127.0.0.1:3000" in message
    assert "serve-token" in message


def test_two_local_clouds_on_one_state_directory_do_not_run_at_once(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    first = LocalCloud(SMALL_TEMPLATE, state_dir=state_dir, lock_holder="first cloud").start()
    try:
        second = LocalCloud(SMALL_TEMPLATE, state_dir=state_dir)
        with pytest.raises(StateLocked, match="first cloud is running"):
            second.start()
        second.stop(save=False)  # a refused cloud stops cleanly and releases nothing it does not hold
        assert first.state_lock is not None and first.state_lock.held
    finally:
        first.stop(save=True)
    assert first.state_lock is None
    # Stopped: the next cloud on the same directory starts (and restores what the first saved).
    again = LocalCloud(SMALL_TEMPLATE, state_dir=state_dir).start()
    again.stop(save=False)


def test_a_cli_command_exits_at_once_while_serve_holds_the_state(tmp_path: Path) -> None:
    from cataloop_local.cli.common import local_cloud

    state = LocalState(tmp_path / "state")
    with state.lock(SERVE), pytest.raises(SystemExit) as exited, local_cloud(state.directory):
        pytest.fail("the command ran while serve held the state")
    assert f"cataloop serve is running (pid {os.getpid()})" in str(exited.value.code)
    assert "use its HTTP API" in str(exited.value.code)


def test_reset_is_refused_while_the_state_is_held_and_keeps_the_lock_file(tmp_path: Path) -> None:
    state = LocalState(tmp_path / "state")
    (state.tables_dir).mkdir(parents=True)
    (state.tables_dir / "T.json").write_text("[]", encoding="utf-8")
    with state.lock(SERVE), pytest.raises(StateLocked):
        state.clear()
    assert (state.tables_dir / "T.json").exists()
    state.clear()
    assert [p.name for p in state.directory.iterdir()] == [".lock"]


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    script = textwrap.dedent(
        f"""
        import sys, time
        from cataloop_local.emulator.state import LocalState
        held = LocalState({str(state_dir)!r}).lock("crashing command").acquire()
        print("locked", flush=True)
        time.sleep(60)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "locked"
        with pytest.raises(StateLocked) as refused:
            LocalState(state_dir).lock().acquire()
        assert refused.value.pid == child.pid and refused.value.holder == "crashing command"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    with LocalState(state_dir).lock("next command") as lock:
        assert lock.held
