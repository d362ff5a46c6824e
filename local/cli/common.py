"""What every `cataloop` command shares: the project root, the state directory, the local cloud."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cataloop_eval.reports import PROJECT_ROOT, write_json

__all__ = [
    "DEFAULT_STATE",
    "PARAMETER_OVERRIDES",
    "PROJECT_ROOT",
    "events_from_file",
    "local_cloud",
    "parse_parameter_overrides",
    "printable",
    "serving",
    "write_json",
]

DEFAULT_STATE = PROJECT_ROOT / ".cataloop"
# `cataloop --parameter-overrides KEY=VALUE ...`: template parameters for every local cloud this command
# starts, over the local defaults (offline models, embedded search) - as `sam deploy` takes them.
PARAMETER_OVERRIDES: dict[str, str] = {}


def parse_parameter_overrides(items: list[str]) -> dict[str, str]:
    """`KEY=VALUE` words (also `ParameterKey=K,ParameterValue=V`) as a dict; SystemExit on a malformed one."""
    overrides: dict[str, str] = {}
    for item in items:
        if item.startswith("ParameterKey="):
            fields = dict(part.split("=", 1) for part in item.split(",") if "=" in part)
            key, value = fields.get("ParameterKey", ""), fields.get("ParameterValue")
        else:
            key, _, value = item.partition("=") if "=" in item else (item, "", None)
        if not key or value is None:
            raise SystemExit(f"--parameter-overrides: {item!r} is not KEY=VALUE")
        overrides[key] = value
    return overrides


# The local cloud of the `cataloop serve` this process is, while it runs a command handed to it (forward.py):
# `local_cloud` on its state directory gives that cloud instead of starting another.
_SERVING: list[tuple[Any, Path]] = []


@contextmanager
def serving(cloud: Any, state_dir: Path) -> Iterator[None]:
    """Within: `local_cloud(state_dir)` is `cloud`, already started, neither stopped nor saved after (the
    server saves its tables when it stops)."""
    _SERVING.append((cloud, Path(state_dir).resolve()))
    try:
        yield
    finally:
        _SERVING.pop()


@contextmanager
def local_cloud(
    state_dir: Path,
    save: bool = True,
    holder: str = "another cataloop command",
    embedding_threads: int = 2,
) -> Iterator[Any]:
    """The project's template on the local cloud with state in `state_dir`. The cloud holds the directory's
    lock until it stops: while another command (or `cataloop serve`) holds it, this one exits at once with
    who holds it rather than overwriting its tables. `holder` is how others are told about this one. A
    command embeds with both cores (`serve`, which answers requests side by side, passes 1)."""
    if _SERVING and _SERVING[-1][1] == Path(state_dir).resolve():
        yield _SERVING[-1][0]
        return
    from cataloop_local.emulator.cfn import TemplateError
    from cataloop_local.emulator.cloud import LocalCloud
    from cataloop_local.emulator.state import StateLocked

    cloud = LocalCloud(
        PROJECT_ROOT / "template.yaml",
        state_dir=state_dir,
        parameter_overrides=dict(PARAMETER_OVERRIDES),
        lock_holder=holder,
        embedding_threads=embedding_threads,
    )
    try:
        cloud.start()
    except StateLocked as error:
        raise SystemExit(f"error: {error}") from error
    except TemplateError as error:
        cloud.stop(save=False)
        raise SystemExit(f"error: {error}") from error
    try:
        yield cloud
    except BaseException:
        cloud.stop(save=False)
        raise
    cloud.stop(save=save)


# Format characters that are safe and needed to show text as written (emoji sequences, Persian/Indic shaping).
_KEPT_FORMAT = {"\u200c", "\u200d"}
_ESCAPED_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs"}
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: object, keep_newlines: bool = False) -> str:
    """`text` safe to print on a terminal: control characters (C0, DEL, C1: terminal escape sequences),
    bidirectional overrides and isolates, tag characters, zero-width and other invisible format characters,
    line/paragraph separators and lone surrogates become visible escapes (`\\x1b`, `\\u202e`,
    `\\U000e0041`). Everything else (Hangul, emoji, accents) is kept. Use it for any seller or customer text.
    """
    out: list[str] = []
    for char in str(text):
        if keep_newlines and char == "\n":
            out.append(char)
        elif (
            unicodedata.category(char) in _ESCAPED_CATEGORIES and char not in _KEPT_FORMAT
        ) or 0xE0000 <= ord(char) <= 0xE007F:  # the whole tag block, assigned or not
            out.append(_NAMED.get(char) or _escape(char))
        else:
            out.append(char)
    return "".join(out)


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def events_from_file(path: Path) -> list[dict[str, Any]]:
    """PutEvents entries from a file holding one EventBridge event, a JSON list of them, or JSON lines (the
    bus-event shape: `source`, `detail-type`, `detail`), or the AWS CLI's `put-events --entries` shape (a JSON
    list of `{Source, DetailType, Detail, EventBusName?}`, `Detail` a JSON string or an object; also
    `{"Entries": [...]}` as `--cli-input-json` takes it). `EventBusName` is dropped: the local cloud has
    the template's one bus. `Detail` comes back as an object; SystemExit naming what is wrong."""
    text = path.read_text(encoding="utf-8").strip()
    if not text:
        raise SystemExit(f"{path}: the file is empty; expected an EventBridge event as JSON")
    try:
        loaded = json.loads(text)
        if isinstance(loaded, dict) and isinstance(loaded.get("Entries"), list):
            loaded = loaded["Entries"]
        events = loaded if isinstance(loaded, list) else [loaded]
    except json.JSONDecodeError:
        try:
            events = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as error:
            raise SystemExit(f"{path}: not JSON or JSON lines ({error})") from error
    return [_entry(path, index, event) for index, event in enumerate(events)]


def _entry(path: Path, index: int, event: Any) -> dict[str, Any]:
    if isinstance(event, dict) and "source" in event and "detail-type" in event:
        source, detail_type, detail = event["source"], event["detail-type"], event.get("detail", {})
    elif isinstance(event, dict) and "Source" in event and "DetailType" in event:
        source, detail_type, detail = event["Source"], event["DetailType"], event.get("Detail", "{}")
        if isinstance(detail, str):
            try:
                detail = json.loads(detail) if detail.strip() else {}
            except json.JSONDecodeError as error:
                raise SystemExit(f"{path}: entry {index}: Detail is not JSON ({error})") from error
    else:
        raise SystemExit(
            f"{path}: event {index} needs 'source', 'detail-type' and 'detail' (an EventBridge event) "
            "or 'Source', 'DetailType' and 'Detail' (a put-events entry)"
        )
    if not isinstance(source, str) or not isinstance(detail_type, str):
        raise SystemExit(f"{path}: event {index}: source and detail-type must be strings")
    if not isinstance(detail, dict):
        raise SystemExit(f"{path}: event {index}: the detail must be a JSON object")
    return {"Source": source, "DetailType": detail_type, "Detail": detail}
