"""`printable`: seller and customer text shown by the CLI cannot drive the terminal or hide itself."""

from __future__ import annotations

import pytest

from cataloop_local.cli.common import printable

pytestmark = pytest.mark.probe("terminal output")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b]0;owned\x07Yakult", "\\x1b]0;owned\\x07Yakult"),  # OSC title change + BEL
        ("\x1b[2J\x1b[31mred", "\\x1b[2J\\x1b[31mred"),  # CSI clear screen, colour
        ("a\x9bb", "a\\x9bb"),  # C1 CSI
        ("price\rFREE", "price\\rFREE"),  # carriage return overprinting
        ("one\ntwo\tx\x00\x7f", "one\\ntwo\\tx\\x00\\x7f"),
        ("\u202egnp.exe", "\\u202egnp.exe"),  # right-to-left override
        ("\u2066x\u2069 \u200e\u200f\u061c", "\\u2066x\\u2069 \\u200e\\u200f\\u061c"),  # isolates and marks
        ("hid\u200bden\ufeff", "hid\\u200bden\\ufeff"),  # zero-width space, BOM
        ("tag\U000e0041\U000e007f", "tag\\U000e0041\\U000e007f"),  # tag characters (hidden prompt text)
        ("line\u2028sep\u2029", "line\\u2028sep\\u2029"),
    ],
)
def test_control_bidi_and_tag_characters_become_visible_escapes(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_ordinary_text_is_unchanged() -> None:
    for text in (
        "야쿠르트 라이트 65ml x 5개",
        "ㅇㅋㄹㅌ",
        "Café crème",
        "👨‍👩‍👧 family pack",
        "مرحبا",
        "₩1,900",
    ):
        assert printable(text) == text


def test_newlines_can_be_kept_for_multi_line_output_and_other_values_are_stringified() -> None:
    assert printable("a\nb\x1b", keep_newlines=True) == "a\nb\\x1b"
    assert printable(None) == "None" and printable(ValueError("bad\x07")) == "bad\\x07"


def test_a_missing_file_or_a_refused_input_is_an_error_line_not_a_traceback(monkeypatch) -> None:
    import pytest

    import cataloop_local.cli.main as cli
    from cataloop.errors import InvalidInput

    def missing(args: object) -> int:
        open("/nonexistent/snapshot.json", encoding="utf-8")  # noqa: SIM115
        return 0

    monkeypatch.setattr(cli, "cmd_reset", missing)
    with pytest.raises(SystemExit, match=r"^error: No such file or directory: /nonexistent/snapshot.json$"):
        cli.main(["reset"])

    def refused(args: object) -> int:
        raise InvalidInput("the snapshot has no learnings list")

    monkeypatch.setattr(cli, "cmd_reset", refused)
    with pytest.raises(SystemExit, match=r"^error: the snapshot has no learnings list$"):
        cli.main(["reset"])


def test_output_to_a_reader_that_left_is_dropped_without_an_error() -> None:
    """`cataloop search X | head`: after the pipe closes the command goes on (and saves) quietly."""
    from cataloop_local.cli.main import _ReaderMayLeave

    class Pipe:
        def __init__(self) -> None:
            self.written: list[str] = []
            self.closed = False

        def write(self, text: str) -> int:
            if self.closed:
                raise BrokenPipeError(32, "Broken pipe")
            self.written.append(text)
            return len(text)

        def flush(self) -> None:
            if self.closed:
                raise BrokenPipeError(32, "Broken pipe")

    pipe = Pipe()
    out = _ReaderMayLeave(pipe)
    assert out.write("first\n") == 6
    pipe.closed = True
    assert out.write("second\n") == 7
    out.flush()
    assert out.write("third\n") == 6
    assert pipe.written == ["first\n"]


class _Timer:
    def __init__(self, interval: float, function: object) -> None:
        self.interval, self.function, self.daemon, self.started = interval, function, False, False

    def start(self) -> None:
        self.started = True


@pytest.mark.parametrize(
    ("outcome", "status", "stderr"),
    [
        (0, 0, ""),
        (2, 2, ""),
        (SystemExit("error: no such product"), 1, "error: no such product\n"),
        (SystemExit(None), 0, ""),
    ],
)
def test_the_console_script_leaves_with_the_commands_status_after_flushing(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    outcome: object,
    status: int,
    stderr: str,
) -> None:
    """`run()` (the `cataloop` script) skips the interpreter's teardown: it flushes the streams and the log
    files, then ends the process with what `main()` returned or the exit it raised, as Python would."""
    import gc
    import logging

    from cataloop_local.cli import main as cli

    class Left(Exception):
        pass

    def leave(code: int) -> None:
        raise Left(code)

    def command() -> int:
        print("the command's output")
        if isinstance(outcome, BaseException):
            raise outcome
        return int(outcome)  # type: ignore[call-overload]

    shut: list[bool] = []
    monkeypatch.setattr(cli, "main", command)
    monkeypatch.setattr(cli.os, "_exit", leave)
    monkeypatch.setattr(logging, "shutdown", lambda: shut.append(True))
    timers: list[_Timer] = []
    monkeypatch.setattr(
        cli.threading,
        "Timer",
        lambda interval, function: timers.append(_Timer(interval, function)) or timers[-1],
    )
    collecting_during: list[bool] = []
    monkeypatch.setattr(cli, "main", lambda: collecting_during.append(gc.isenabled()) or command())
    thresholds = gc.get_threshold()
    try:
        with pytest.raises(Left) as left:
            cli.run()
    finally:
        gc.set_threshold(*thresholds)
        gc.enable()
    # The collector is off while the command runs, and a daemon timer turns it on after a while.
    assert collecting_during == [False]
    assert [(timer.interval, timer.function, timer.daemon, timer.started) for timer in timers] == [
        (cli.COLLECT_GARBAGE_AFTER_SECONDS, gc.enable, True, True)
    ]
    assert left.value.args == (status,)
    assert shut == [True]
    captured = capsys.readouterr()
    assert captured.out == "the command's output\n" and captured.err == stderr


def test_an_error_that_escapes_the_command_ends_as_python_ends_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    from cataloop_local.cli import main as cli

    def command() -> int:
        raise RuntimeError("a bug")

    monkeypatch.setattr(cli, "main", command)
    monkeypatch.setattr(cli.os, "_exit", lambda code: pytest.fail("left without the traceback"))
    monkeypatch.setattr(cli.threading, "Timer", lambda interval, function: _Timer(interval, function))
    thresholds = gc.get_threshold()
    try:
        with pytest.raises(RuntimeError, match="a bug"):
            cli.run()
    finally:
        gc.set_threshold(*thresholds)
        gc.enable()
