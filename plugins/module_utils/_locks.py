# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Serialising read-modify-write of one JIT policy on the host that runs the module.

A policy PUT replaces the whole VM list, so two forks (or two playbook runs) changing the same
policy at once would lose one another's entries. An exclusive file lock per policy id makes their
read-modify-write cycles take turns; the module still re-reads after writing to catch writers
that are not on this host.

Private API of azsecops.jit. No Ansible import.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager


class _LockTimeout(Exception):
    pass


def _lock_dir() -> str:
    path = os.path.join(tempfile.gettempdir(), f"azsecops-jit-locks-{os.getuid()}")
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


@contextmanager
def _policy_lock(key: str, timeout: float) -> Iterator[float]:
    """Hold the lock for `key` (a policy id, compared case-insensitively); yields the seconds waited."""
    digest = hashlib.sha256(key.lower().encode()).hexdigest()[:32]
    path = os.path.join(_lock_dir(), digest + ".lock")
    start = time.monotonic()
    handle = open(path, "a+")
    try:
        delay = 0.05
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() - start > timeout:
                    raise _LockTimeout(
                        f"another task kept the lock of {key} for more than {timeout:.0f}s ({path})"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
        yield time.monotonic() - start
    finally:
        handle.close()
