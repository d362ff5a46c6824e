"""Local state across runs: tables are saved to `.cataloop/tables/*.json`, the objects of the stack's S3 buckets
to `.cataloop/s3/<bucket logical id>/<key>`, and both are restored at start.

Items are stored in DynamoDB's own JSON (the low-level client's AttributeValue shapes), a table's file being
a JSON array with one item per line. A restore puts them straight into moto's tables and a save reads them
straight out (`moto_patches.load_items`/`dump_lines`): through boto3 both paths spent most of their time
serialising requests and responses for moto to parse again (9 of 26 profiled seconds of `cataloop kb tree`
on the demo's state went into the restore alone). An item keeps its saved line until something reads it,
and a save writes the unread ones' lines back verbatim. Files are written to a temporary name and renamed,
so a crash mid-save never leaves a half-written table behind.

A bucket's objects are files named by their keys (the search log reads as `.cataloop/s3/SearchLogStore/
search-log/dt=YYYY-MM-DD/*.jsonl`), listed with their ETag and content type in the bucket's `index.json`,
which is written last: a restore puts exactly the objects the index names. A save rewrites only the objects
whose ETag changed. Only current versions are kept (a versioned bucket restarts with one version per key).

`clear()` (what `cataloop demo` and `cataloop reset` run) keeps `embeddings/` (`KEPT_BY_DEFAULT`): the e5 vector
cache is keyed by a hash of the model and the text, so a vector kept from an earlier run is the vector this
run would compute, and keeping it saves re-embedding the demo's text on every demo (issue 15 measured about
35 s for a default demo), and `definitions/`: the state machines' parsed definitions, keyed by a hash of moto's
version and the definition (`moto_patches._parsed_from_disk`), which spares each command that starts an
execution the ANTLR parse. `clear(everything=True)` (`cataloop reset --all`) deletes both.

The local cloud restores the tables at its first DynamoDB call (`LocalCloud._restore_tables`, deferred with
`moto_patches.defer_until_called`): until then no table can have been written, so a save leaves every file
as it is. A save rewrites only the tables written since they were restored or last saved (`versions`, from
`moto_patches.table_version`): scanning every table through moto at every stop cost 16 s of a default demo
(issue 15); a command that wrote nothing now saves in milliseconds.

One writer at a time: a local cloud holds `LocalState.lock()` (an exclusive `flock` on `.cataloop/.lock`) from
start to stop, so a second command on the same directory fails at once with who holds it, instead of
restoring stale tables and overwriting the first one's on exit. The kernel releases a `flock` when its
process ends, so a crashed command leaves no stale lock.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
from pathlib import Path, PurePosixPath
from typing import Any

from cataloop.wiring import aws_client
from cataloop_local.emulator import moto_patches

REGION = "us-east-1"
LOCK_FILE = ".lock"
BUCKET_INDEX = "index.json"
# Objects whose key is no safe relative path (empty or `.`/`..` segments, a trailing `/`, the index's own
# name, a key that is also another key's folder) are kept under this folder, named by the key's hash.
OTHER_KEYS = ".keys"
SERVE = "cataloop serve"
# What `clear()` keeps unless asked for everything: content-addressed caches, safe to reuse in a new state.
DEFINITIONS = "definitions"
KEPT_BY_DEFAULT = ("embeddings", DEFINITIONS)
# How a saved table writes a binary value: {"__b64__": "<base64>"} (JSON has no bytes).
BINARY_KEY = "__b64__"


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
        self.buckets_dir = self.directory / "s3"
        # Each table's version (logical id -> opaque token) when its file last matched its content.
        self._saved_versions: dict[str, object] = {}

    def lock(self, holder: str = "another cataloop command") -> StateLock:
        """The directory's writer lock (not yet acquired): `with state.lock("cataloop demo"): ...`."""
        return StateLock(self.directory, holder)

    def save(self, tables: dict[str, str], versions: dict[str, object] | None = None) -> None:
        """Scan each table (logical id -> physical name) into its file.

        `versions` (logical id -> a token that changes whenever the table is written, read *before* the save
        starts) skips a table whose token is the one recorded when its file was last restored or saved, and
        whose file is still there: its content is what the file holds. Without it every table is scanned."""
        self.tables_dir.mkdir(parents=True, exist_ok=True)
        for logical, name in tables.items():
            target = self.tables_dir / f"{logical}.json"
            version = (versions or {}).get(logical)
            if version is not None and self._saved_versions.get(logical) == version and target.is_file():
                continue
            lines = moto_patches.dump_lines(name, _item_line)
            temporary = target.with_suffix(".json.tmp")
            temporary.write_text(_array_text(lines), encoding="utf-8")
            os.replace(temporary, target)
            if version is not None:
                self._saved_versions[logical] = version

    def mark_saved(self, versions: dict[str, object]) -> None:
        """Record the tables' versions as matching their files (right after a restore)."""
        self._saved_versions.update(versions)

    def restore(self, tables: dict[str, str]) -> bool:
        """Load saved items into the (new, empty) tables. Returns True when anything was restored."""
        client = aws_client("dynamodb", REGION)  # for the few items moto must parse itself
        restored = False
        for logical, name in tables.items():
            path = self.tables_dir / f"{logical}.json"
            if not path.is_file():
                continue
            text = path.read_text(encoding="utf-8")
            lines: list[str] | None = None
            if f'"{BINARY_KEY}"' not in text:  # no binary value anywhere (the usual case): all go straight in
                items, lines = _items_and_lines(text)
                through_api = []
            else:
                items = _decode(json.loads(text))
                through_api = [item for item in items if _has_binary(item)]
                items = [item for item in items if not _has_binary(item)]
            moto_patches.load_items(name, items, lines)
            for start in range(0, len(through_api), 25):
                requests = [{"PutRequest": {"Item": item}} for item in through_api[start : start + 25]]
                pending: dict[str, Any] = {name: requests}
                while pending:
                    pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            restored = restored or bool(items)
        return restored

    def save_buckets(
        self, buckets: dict[str, str], unrestored: set[str] | frozenset[str] = frozenset()
    ) -> None:
        """Write each bucket's (logical id -> physical name) current objects under `s3/<logical id>/`.
        `unrestored` names the `BUCKET/GROUP`s whose saved objects were never put back (no request reached
        them): their files and index entries stay as they are."""
        client = aws_client("s3", REGION)
        for logical, name in buckets.items():
            directory = self.buckets_dir / logical
            directory.mkdir(parents=True, exist_ok=True)
            saved = _read_index(directory)
            kept = {
                key: entry
                for key, entry in saved.items()
                if f"{name}/{moto_patches.s3_object_group(key)}" in unrestored
            }
            previous = {key: entry for key, entry in saved.items() if key not in kept}
            listed: dict[str, str] = {}
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
                listed.update((item["Key"], item.get("ETag", "")) for item in page.get("Contents", []))
            files = _object_files(listed)
            # Files of objects deleted (or renamed to another file) since the last save go first, so that a
            # key that became another key's folder frees its name.
            for key, entry in previous.items():
                if files.get(key) != entry.get("file"):
                    _remove_file(directory, entry.get("file", ""))
            index: dict[str, dict[str, str]] = dict(kept)
            for key, etag in sorted(listed.items()):
                known = previous.get(key)
                target = directory / files[key]
                if (
                    known
                    and known.get("etag") == etag
                    and known.get("file") == files[key]
                    and target.is_file()
                ):
                    index[key] = known
                    continue
                response = client.get_object(Bucket=name, Key=key)
                target.parent.mkdir(parents=True, exist_ok=True)
                temporary = target.with_name(target.name + ".tmp")
                temporary.write_bytes(response["Body"].read())
                os.replace(temporary, target)
                index[key] = {"file": files[key], "etag": etag}
                if response.get("ContentType"):
                    index[key]["content_type"] = response["ContentType"]
            temporary_index = directory / (BUCKET_INDEX + ".tmp")
            ordered = dict(sorted(index.items()))
            temporary_index.write_text(json.dumps(ordered, ensure_ascii=False, indent=1), encoding="utf-8")
            os.replace(temporary_index, directory / BUCKET_INDEX)

    def saved_object_groups(self, logical: str) -> set[str]:
        """The groups (`moto_patches.s3_object_group`) of the objects saved for bucket `logical`."""
        return {moto_patches.s3_object_group(key) for key in _read_index(self.buckets_dir / logical)}

    def restore_buckets(self, buckets: dict[str, str], group: str | None = None) -> int:
        """Put the saved objects (only those of `group`, when given) back into the (new, empty) buckets;
        returns how many were restored."""
        client = aws_client("s3", REGION)
        restored = 0
        for logical, name in buckets.items():
            directory = self.buckets_dir / logical
            for key, entry in _read_index(directory).items():
                if group is not None and moto_patches.s3_object_group(key) != group:
                    continue
                path = directory / str(entry.get("file", ""))
                if directory.resolve() not in path.resolve().parents or not path.is_file():
                    continue  # removed by hand: the object is gone, as it would be in S3
                arguments: dict[str, Any] = {"Bucket": name, "Key": key, "Body": path.read_bytes()}
                if entry.get("content_type"):
                    arguments["ContentType"] = entry["content_type"]
                client.put_object(**arguments)
                restored += 1
        return restored

    def clear(self, holder: str = "cataloop reset", *, everything: bool = False) -> None:
        """Delete the state, except the caches in `KEPT_BY_DEFAULT` (the e5 vector cache: content-addressed,
        so safe to keep) unless `everything`; refused (StateLocked) while a local cloud holds the directory."""
        if not self.directory.exists():
            return
        kept = () if everything else KEPT_BY_DEFAULT
        with self.lock(holder):
            self._saved_versions.clear()
            for entry in self.directory.iterdir():
                # The lock others would take (removing it would let two holders coexist), and the kept caches.
                if entry.name == LOCK_FILE or entry.name in kept:
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()


def _read_index(directory: Path) -> dict[str, dict[str, str]]:
    path = directory / BUCKET_INDEX
    if not path.is_file():
        return {}
    loaded = json.loads(path.read_text(encoding="utf-8"))
    return loaded if isinstance(loaded, dict) else {}


def _remove_file(directory: Path, relative: str) -> None:
    """Remove a saved object's file and the folders it leaves empty (never outside `directory`)."""
    if not relative:
        return
    path = directory / relative
    if directory.resolve() not in path.resolve().parents:
        return
    with contextlib.suppress(OSError):
        path.unlink()
    parent = path.parent
    while parent != directory and directory in parent.parents:
        try:
            parent.rmdir()  # only an empty one
        except OSError:
            break
        parent = parent.parent


def _object_files(keys: dict[str, str]) -> dict[str, str]:
    """Each key's file, relative to its bucket's directory: the key itself when it is a plain relative path
    that no other key uses as a folder, else `.keys/<sha256 of the key>`."""
    folders = {str(parent) for key in keys for parent in PurePosixPath(key).parents}
    files = {}
    for key in keys:
        parts = key.split("/")
        plain = (
            all(part not in ("", ".", "..") and not part.endswith(".tmp") for part in parts)
            and parts[0] not in (BUCKET_INDEX, OTHER_KEYS, BUCKET_INDEX + ".tmp")
            and "\x00" not in key
            and "\\" not in key
            and key not in folders
        )
        files[key] = key if plain else f"{OTHER_KEYS}/{hashlib.sha256(key.encode()).hexdigest()}"
    return files


def _has_binary(value: Any) -> bool:
    if isinstance(value, dict):
        return "B" in value or "BS" in value or any(_has_binary(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_binary(item) for item in value)
    return False


def _item_line(item: dict[str, Any]) -> str:
    """One item as a line of its table's file (JSON text holds no raw newline)."""
    return json.dumps(item, ensure_ascii=False, default=_encode)


def _array_text(lines: list[str]) -> str:
    """A table's file: a JSON array with one item per line, so that a restore keeps each item's text and a
    save writes the items nothing read back as they were (`json.dumps` of the demo's products took 0.1 s)."""
    return "[\n" + ",\n".join(lines) + "\n]\n" if lines else "[]\n"


def _items_and_lines(text: str) -> tuple[list[dict[str, Any]], list[str] | None]:
    """The items of a table's file, and each one's line when the file has the one-per-line form
    `_array_text` writes (else None: an older file, or one edited by hand, is read as any JSON array)."""
    if text.startswith("[\n") and text.endswith("\n]\n"):
        lines = [line.removesuffix(",") for line in text[2:-3].split("\n")]
        try:
            items = [json.loads(line) for line in lines]
        except ValueError:
            pass
        else:
            if all(isinstance(item, dict) for item in items):
                return items, lines
    items = json.loads(text)
    return items, None


def _encode(value: Any) -> Any:
    """`json.dumps`'s fallback for what JSON cannot hold: bytes (binary attribute values)."""
    if isinstance(value, bytes):
        return {BINARY_KEY: base64.b64encode(value).decode()}
    raise TypeError(f"{type(value).__name__} cannot be saved as JSON")


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {BINARY_KEY}:
            return base64.b64decode(value[BINARY_KEY])
        return {key: _decode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode(item) for item in value]
    return value
