"""What every `cataloop` command shares: the project root, the state directory, the local cloud."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cataloop_eval.reports import PROJECT_ROOT, write_json

__all__ = ["DEFAULT_STATE", "PROJECT_ROOT", "events_from_file", "local_cloud", "write_json"]

DEFAULT_STATE = PROJECT_ROOT / ".cataloop"


@contextmanager
def local_cloud(state_dir: Path, save: bool = True) -> Iterator[Any]:
    """The project's template on the local cloud with state in `state_dir`."""
    from cataloop_local.emulator.cloud import LocalCloud

    cloud = LocalCloud(PROJECT_ROOT / "template.yaml", state_dir=state_dir)
    cloud.start()
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
