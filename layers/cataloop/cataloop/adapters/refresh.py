"""When a cached copy of a remote object is due to be read again: at most every `max_age` seconds.

Used by the adapters that keep a small remote object in memory (classifier examples and approved
dictionaries in S3, the catalog vocabulary in OpenSearch). Not thread-safe on its own: callers hold their
own lock around `due()` and the read it guards.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class RefreshClock:
    max_age: float
    clock: Callable[[], float] = time.monotonic
    _read_at: float | None = field(default=None, init=False)

    def due(self) -> bool:
        """True (and the read counted as done now) when never read or read `max_age` or more ago. A failed
        read counts too, so a broken object is not re-read on every call."""
        now = self.clock()
        if self._read_at is not None and now - self._read_at < self.max_age:
            return False
        self._read_at = now
        return True

    def mark_read(self) -> None:
        """A fresh copy arrived by another way (e.g. this process wrote it)."""
        self._read_at = self.clock()

    def forget(self) -> None:
        """Read again on the next `due()`."""
        self._read_at = None
