"""The search log on local disk: one JSON Lines file per UTC day under a directory, for an embedded run that
has no bucket (SEARCH_LOG_BUCKET unset). The local cloud writes to its stack's bucket on moto (SearchLogS3)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from cataloop.domain.search.log import SearchLogRecord, parse_jsonl, to_jsonl

FILE_PREFIX = "search-log-"


class SearchLogFiles:
    """Appends records to `<directory>/search-log-YYYY-MM-DD.jsonl` and reads them back."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self._lock = threading.Lock()

    def path_for(self, day: str) -> Path:
        return self.directory / f"{FILE_PREFIX}{day}.jsonl"

    def write(self, records: Iterable[SearchLogRecord]) -> list[Path]:
        """Append records to their day's file (one write per day); returns the files written."""
        by_day: dict[str, list[SearchLogRecord]] = {}
        for record in records:
            by_day.setdefault(record.day, []).append(record)
        written = []
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            for day, batch in sorted(by_day.items()):
                path = self.path_for(day)
                with path.open("a", encoding="utf-8") as handle:
                    handle.write(to_jsonl(batch))
                written.append(path)
        return written

    def days(self) -> list[str]:
        """The days that have a log file, oldest first."""
        if not self.directory.is_dir():
            return []
        return sorted(
            path.name.removeprefix(FILE_PREFIX).removesuffix(".jsonl")
            for path in self.directory.glob(f"{FILE_PREFIX}*.jsonl")
        )

    def read(self, days: Iterable[str] | None = None) -> Iterator[SearchLogRecord]:
        """Records of the given days (all days when None), oldest day first."""
        for day in sorted(days) if days is not None else self.days():
            path = self.path_for(day)
            if path.is_file():
                yield from parse_jsonl(path.read_text(encoding="utf-8"), source=str(path))
