"""Approved analyzer dictionaries as versioned objects in the stack's bucket, read with a TTL cache.

Layout under `dictionaries/` in the bucket (DICTIONARY_BUCKET: the search-log bucket):
  v0001/user_dictionary.txt, v0001/synonyms.txt, v0001/typos.txt, ...   each version a full copy of every file
  current.json                                                          the pointer to the version in force
Without a pointer the files shipped in the package are in force (version 0, "base"). An approval writes the
new version's files with If-None-Match (a version is never overwritten) and then the pointer, last, with
If-Match on the ETag of the pointer it started from (If-None-Match for the first): of two concurrent
approvals one wins and the other gets `Conflict`.

Readers (the search and indexer functions) re-read the pointer at most every `max_age_seconds`; a missing
bucket, an unreadable or malformed pointer or file keeps the last good version (the shipped one until a
version was read) and logs why; after a failed read the next attempt waits a full `max_age_seconds` too.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cataloop.adapters.dictionary_files import BASE_VERSION, DictionaryFiles, DictionaryRules
from cataloop.adapters.refresh import RefreshClock
from cataloop.errors import CataloopError, Conflict, InvalidInput

logger = logging.getLogger(__name__)

PREFIX = "dictionaries/"
POINTER = "current.json"
DEFAULT_MAX_AGE_SECONDS = 300.0
# A dictionary file larger than this is refused (the shipped ones are a few KB).
MAX_OBJECT_BYTES = 2_000_000
_VERSION_NAME = re.compile(r"^v(\d{4,})$")
_FILE_NAME = re.compile(r"^[a-z0-9_]{1,64}$")
_LOST_WRITE = {"PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey", "412", "409"}


@dataclass(frozen=True)
class DictionaryVersion:
    """One version of the dictionaries: its name ("base" or vNNNN), number (0: shipped), {file: raw lines}
    and the ETag of the pointer it was read from (None: no pointer, the shipped files)."""

    name: str
    number: int
    files: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    etag: str | None = None


def version_name(number: int) -> str:
    return f"v{number:04d}"


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class DictionaryS3(DictionaryRules):
    """The dictionaries in force in `bucket` (`fallback`: the shipped files, version 0)."""

    def __init__(
        self,
        bucket: str,
        *,
        client: Any,
        fallback: DictionaryFiles,
        prefix: str = PREFIX,
        max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self._client = client
        self._fallback = fallback
        self._refresh_clock = RefreshClock(max_age_seconds, clock)
        self._lock = threading.Lock()
        self._current = self._shipped()
        self.last_error: str | None = None

    @property
    def pointer_key(self) -> str:
        return f"{self.prefix}{POINTER}"

    def where(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    # ------------------------------------------------------------------ reading (the DictionaryStore port)
    def current(self) -> DictionaryVersion:
        """The version in force, re-read at most every `max_age_seconds` (the last good one on failure)."""
        with self._lock:
            if self._refresh_clock.due():
                self._refresh()
            return self._current

    def version(self) -> str:
        return self.current().name

    def files(self) -> Mapping[str, tuple[str, ...]]:
        return self.current().files

    def raw_lines(self, name: str) -> list[str]:
        return list(self.current().files.get(name, ()))

    def forget(self) -> None:
        """Read the pointer again on the next use (after an approval in this process)."""
        with self._lock:
            self._refresh_clock.forget()

    def _refresh(self) -> None:
        try:
            read = self._read(known_etag=self._current.etag)
        except (ClientError, BotoCoreError, OSError, CataloopError) as error:
            self.last_error = str(error)
            logger.warning(
                "dictionaries in %s not used, keeping the last good version (%s): %s",
                self.where(),
                self._current.name,
                error,
            )
            return
        self.last_error = None
        if read is None:  # the pointer has not changed
            return
        if read.name != self._current.name:
            logger.info("dictionaries %s in force (from %s)", read.name, self.where())
        self._current = read

    def read_current(self) -> DictionaryVersion:
        """The version the pointer names, read now (no cache): the base of an approval. The shipped files when
        there is no pointer; InvalidInput for a malformed pointer or version, ClientError/BotoCoreError when
        S3 cannot be read."""
        read = self._read(known_etag=None)
        return read if read is not None else self._current

    def _read(self, known_etag: str | None) -> DictionaryVersion | None:
        """The version the pointer names (None when its ETag is `known_etag`: unchanged)."""
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=self.pointer_key)
        except ClientError as error:
            if _error_code(error) in ("NoSuchKey", "404"):
                return self._shipped()
            raise
        etag = response.get("ETag")
        if known_etag is not None and etag == known_etag:
            response["Body"].close()
            return None
        pointer = self._json(self._body(response, self.pointer_key), self.pointer_key)
        name = pointer.get("version")
        files = pointer.get("files")
        match = _VERSION_NAME.match(name) if isinstance(name, str) else None
        if match is None:
            raise InvalidInput(f"{self.pointer_key}: 'version' must be a name like v0001, not {name!r}")
        if (
            not isinstance(files, list)
            or not files
            or not all(isinstance(f, str) and _FILE_NAME.match(f) for f in files)
        ):
            raise InvalidInput(
                f"{self.pointer_key}: 'files' must list the version's file names (a-z, 0-9, _)"
            )
        contents = {}
        for file in files:
            key = f"{self.prefix}{name}/{file}.txt"
            response = self._client.get_object(Bucket=self.bucket, Key=key)
            contents[file] = tuple(self._body(response, key).splitlines())
        return DictionaryVersion(match.group(0), int(match.group(1)), contents, etag)

    def _shipped(self) -> DictionaryVersion:
        files = {name: tuple(lines) for name, lines in self._fallback.files().items()}
        return DictionaryVersion(BASE_VERSION, 0, files, None)

    @staticmethod
    def _body(response: Mapping[str, Any], key: str) -> str:
        if int(response.get("ContentLength") or 0) > MAX_OBJECT_BYTES:
            response["Body"].close()
            raise InvalidInput(f"{key} is larger than {MAX_OBJECT_BYTES} bytes")
        try:
            return str(response["Body"].read().decode("utf-8"))
        except UnicodeDecodeError as error:
            raise InvalidInput(f"{key} is not UTF-8 ({error})") from error

    @staticmethod
    def _json(text: str, key: str) -> dict[str, Any]:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise InvalidInput(f"{key} is not JSON ({error})") from error
        if not isinstance(data, dict):
            raise InvalidInput(f"{key} is not a JSON object")
        return data

    # ------------------------------------------------------------------ approving
    def write_version(
        self,
        base: DictionaryVersion,
        changed: Mapping[str, Sequence[str]],
        *,
        approved_by: str,
        approved_at: datetime,
    ) -> str:
        """Write version N+1 (N: the newest written, even if never put in force): `base`'s files with
        `changed` ({name: lines}) replaced, then point `current.json` at it if the pointer is still the one
        `base` was read from. Returns the version's name; Conflict when another approval won."""
        number = max(base.number, self._highest_written()) + 1
        name = version_name(number)
        files = {
            **{key: list(lines) for key, lines in base.files.items()},
            **{k: list(v) for k, v in changed.items()},
        }
        for file in files:
            if not _FILE_NAME.match(file):
                raise InvalidInput(f"dictionary file name {file!r}: use a-z, 0-9 and _ only")
        # Sorted: the first file decides between two approvals of the same number.
        for file in sorted(files):
            body = "\n".join(files[file]) + "\n" if files[file] else ""
            try:
                self._client.put_object(
                    Bucket=self.bucket,
                    Key=f"{self.prefix}{name}/{file}.txt",
                    Body=body.encode("utf-8"),
                    ContentType="text/plain; charset=utf-8",
                    IfNoneMatch="*",
                )
            except ClientError as error:
                if _error_code(error) in _LOST_WRITE:
                    raise Conflict(
                        f"dictionary version {name} was written meanwhile by another approval; "
                        "review and approve again"
                    ) from error
                raise
        pointer = {
            "version": name,
            "files": sorted(files),
            "previous": base.name,
            "approved_by": approved_by,
            "approved_at": approved_at.isoformat(),
        }
        condition = {"IfMatch": base.etag} if base.etag else {"IfNoneMatch": "*"}
        try:
            self._client.put_object(
                Bucket=self.bucket,
                Key=self.pointer_key,
                Body=json.dumps(pointer, ensure_ascii=False, indent=1).encode("utf-8"),
                ContentType="application/json",
                **condition,
            )
        except ClientError as error:
            if _error_code(error) in _LOST_WRITE:
                raise Conflict(
                    f"another approval changed the dictionary in force meanwhile (this one started from "
                    f"{base.name}); {name} was written but is not in force: review and approve again"
                ) from error
            raise
        self.forget()
        return name

    def _highest_written(self) -> int:
        """The highest version number with objects under the prefix (0: none)."""
        highest = 0
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix, Delimiter="/"):
            for common in page.get("CommonPrefixes", []) or []:
                match = _VERSION_NAME.match(str(common.get("Prefix", ""))[len(self.prefix) :].rstrip("/"))
                if match:
                    highest = max(highest, int(match.group(1)))
        return highest
