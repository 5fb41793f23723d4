"""The emulator's clock: wall time plus an offset the control API can move.

JIT expiry and every time the API reports (startTimeUtc, endTimeUtc, the Date header) use this
clock. Access tokens do not: they are issued and checked against the wall clock, so moving the
emulator's clock never invalidates a token a client has cached.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

from .store import Store


class Clock:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        with store.read() as tx:
            self._offset = float(tx.kv_get("clock_offset", 0.0))

    @property
    def offset_seconds(self) -> float:
        return self._offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(time.time() + self._offset, tz=timezone.utc)

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._offset += delta.total_seconds()
            self._save()
        return self.now()

    def set(self, when: datetime) -> datetime:
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        with self._lock:
            self._offset = when.timestamp() - time.time()
            self._save()
        return self.now()

    def reset(self) -> None:
        with self._lock:
            self._offset = 0.0
            self._save()

    def _save(self) -> None:
        with self._store.write() as tx:
            tx.kv_set("clock_offset", self._offset)


def http_date(when: datetime) -> str:
    """RFC 7231 IMF-fixdate, as ARM's Date header."""
    return format_datetime(when.astimezone(timezone.utc), usegmt=True)
