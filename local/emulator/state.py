"""Local state across runs: tables are saved to `.cataloop/tables/*.json` and restored at start.

Items are stored in DynamoDB's own JSON (the low-level client's AttributeValue shapes), so a restore is
a byte-faithful `BatchWriteItem`. Files are written to a temporary name and renamed, so a crash mid-save
never leaves a half-written table behind.

One writer at a time: a local cloud holds `LocalState.lock()` (an exclusive `flock` on `.cataloop/.lock`) from
start to stop, so a second command on the same directory fails at once with who holds it, instead of
restoring stale tables and overwriting the first one's on exit. The kernel releases a `flock` when its
process ends, so a crashed command leaves no stale lock.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import shutil
from pathlib import Path
from typing import Any

import boto3

REGION = "us-east-1"
LOCK_FILE = ".lock"
SERVE = "cataloop serve"


class StateLocked(RuntimeError):
    """Another process (or another local cloud in this one) holds the state directory."""

    def __init__(self, directory: Path, holder: str, pid: int | None, url: str | None = None):
        self.directory, self.holder, self.pid = directory, holder, pid
        running = f"{holder} is running" + (f" (pid {pid})" if pid is not None else "")
        if holder == SERVE:
            api = f"its HTTP API at {url}" if url else "its HTTP API"
            advice = f"stop it or use {api} (bearer token in {directory / 'serve-token'})"
        else:
            advice = "wait for it to finish"
        super().__init__(f"{running} on {directory}; {advice}")


class StateLock:
    """An exclusive `flock` on `<state dir>/.lock`, held until `release()` (or the process ends). The file
    records who holds it (pid and a label) for the message another command shows."""

    def __init__(self, directory: Path, holder: str):
        self.directory = Path(directory)
        self.holder = holder
        self._file: Any = None

    @property
    def held(self) -> bool:
        return self._file is not None

    def acquire(self) -> StateLock:
        if self._file is not None:
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        handle = open(self.directory / LOCK_FILE, "a+", encoding="utf-8")  # noqa: SIM115 - held open
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            recorded = handle.read()
            handle.close()
            raise _locked_error(self.directory, recorded) from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "holder": self.holder}, ensure_ascii=False))
        handle.flush()
        self._file = handle
        return self

    def note(self, **details: str) -> None:
        """Add details (e.g. the server's url) to what a refused command is told."""
        if self._file is None:
            return
        self._file.seek(0)
        recorded = json.loads(self._file.read() or "{}")
        self._file.seek(0)
        self._file.truncate()
        self._file.write(json.dumps({**recorded, **details}, ensure_ascii=False))
        self._file.flush()

    def release(self) -> None:
        handle, self._file = self._file, None
        if handle is None:
            return
        with contextlib.suppress(OSError):
            handle.seek(0)
            handle.truncate()
            handle.flush()
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        handle.close()

    def __enter__(self) -> StateLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _locked_error(directory: Path, recorded: str) -> StateLocked:
    try:
        info = json.loads(recorded)
        holder = str(info.get("holder") or "another cataloop command")
        return StateLocked(directory, holder, int(info["pid"]), info.get("url"))
    except (ValueError, KeyError, TypeError, AttributeError):
        return StateLocked(directory, "another cataloop command", None)


class LocalState:
    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.tables_dir = self.directory / "tables"

    def lock(self, holder: str = "another cataloop command") -> StateLock:
        """The directory's writer lock (not yet acquired): `with state.lock("cataloop demo"): ...`."""
        return StateLock(self.directory, holder)

    def save(self, tables: dict[str, str]) -> None:
        """Scan each table (logical id -> physical name) into its file."""
        self.tables_dir.mkdir(parents=True, exist_ok=True)
        client = boto3.client("dynamodb", region_name=REGION)
        for logical, name in tables.items():
            items: list[dict[str, Any]] = []
            for page in client.get_paginator("scan").paginate(TableName=name):
                items.extend(page["Items"])
            target = self.tables_dir / f"{logical}.json"
            temporary = target.with_suffix(".json.tmp")
            temporary.write_text(json.dumps(_encode(items), ensure_ascii=False), encoding="utf-8")
            os.replace(temporary, target)

    def restore(self, tables: dict[str, str]) -> bool:
        """Load saved items into the (new, empty) tables. Returns True when anything was restored."""
        client = boto3.client("dynamodb", region_name=REGION)
        restored = False
        for logical, name in tables.items():
            path = self.tables_dir / f"{logical}.json"
            if not path.is_file():
                continue
            items = _decode(json.loads(path.read_text(encoding="utf-8")))
            for start in range(0, len(items), 25):
                requests = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
                pending: dict[str, Any] = {name: requests}
                while pending:
                    pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            restored = restored or bool(items)
        return restored

    def clear(self, holder: str = "cataloop reset") -> None:
        """Delete the state; refused (StateLocked) while a local cloud holds the directory."""
        if not self.directory.exists():
            return
        with self.lock(holder):
            for entry in self.directory.iterdir():
                if entry.name == LOCK_FILE:
                    continue  # the lock others would take: removing it would let two holders coexist
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()


def _encode(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"__b64__": base64.b64encode(value).decode()}
    if isinstance(value, dict):
        return {key: _encode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_encode(item) for item in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__b64__"}:
            return base64.b64decode(value["__b64__"])
        return {key: _decode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode(item) for item in value]
    return value
