"""What every `cataloop` command shares: the project root, the state directory, the local cloud."""

from __future__ import annotations

import json
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


@contextmanager
def local_cloud(state_dir: Path, save: bool = True) -> Iterator[Any]:
    """The project's template on the local cloud with state in `state_dir`."""
    from cataloop_local.emulator.cfn import TemplateError
    from cataloop_local.emulator.cloud import LocalCloud

    cloud = LocalCloud(
        PROJECT_ROOT / "template.yaml", state_dir=state_dir, parameter_overrides=dict(PARAMETER_OVERRIDES)
    )
    try:
        cloud.start()
    except TemplateError as error:
        cloud.stop(save=False)
        raise SystemExit(f"error: {error}") from error
    try:
        yield cloud
    except BaseException:
        cloud.stop(save=False)
        raise
    cloud.stop(save=save)


def events_from_file(path: Path) -> list[dict[str, Any]]:
    """PutEvents entries from a file holding one EventBridge event, a JSON list of them, or JSON lines."""
    text = path.read_text(encoding="utf-8").strip()
    if not text:
        raise SystemExit(f"{path}: the file is empty; expected an EventBridge event as JSON")
    try:
        loaded = json.loads(text)
        events = loaded if isinstance(loaded, list) else [loaded]
    except json.JSONDecodeError:
        try:
            events = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as error:
            raise SystemExit(f"{path}: not JSON or JSON lines ({error})") from error
    entries = []
    for index, event in enumerate(events):
        if not isinstance(event, dict) or "detail-type" not in event or "source" not in event:
            raise SystemExit(f"{path}: event {index} needs 'source', 'detail-type' and 'detail'")
        entries.append(
            {"Source": event["source"], "DetailType": event["detail-type"], "Detail": event.get("detail", {})}
        )
    return entries
