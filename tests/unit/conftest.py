# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make ``ansible_collections.azsecops.jit`` importable when pytest runs from a plain checkout.

ansible-test units runs from a real ``ansible_collections/azsecops/jit`` tree, where nothing is needed.
From a plain checkout, a temporary ``<tmp>/ansible_collections/azsecops/jit`` symlink to the repository
is created at session start and ``<tmp>`` is put first on sys.path, so tests import the FQCN form.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

_REPO_ROOT = Path(__file__).resolve().parents[2]
_TEMP_DIRS: list[str] = []


def _already_importable() -> bool:
    # The checkout may already sit in ansible_collections/azsecops/jit (ansible-test, galaxy install).
    parts = _REPO_ROOT.parts
    if parts[-3:] == ("ansible_collections", "azsecops", "jit"):
        root = str(_REPO_ROOT.parents[2])
        if root not in sys.path:
            sys.path.insert(0, root)
        return True
    try:
        return importlib.util.find_spec("ansible_collections.azsecops.jit") is not None
    except (ImportError, ValueError):
        return False


def pytest_sessionstart(session: pytest.Session) -> None:
    if _already_importable():
        return
    temp_dir = tempfile.mkdtemp(prefix="azsecops-jit-units-")
    namespace = Path(temp_dir, "ansible_collections", "azsecops")
    namespace.mkdir(parents=True)
    (namespace / "jit").symlink_to(_REPO_ROOT, target_is_directory=True)
    sys.path.insert(0, temp_dir)
    _TEMP_DIRS.append(temp_dir)
    # A namespace package found before the path existed would keep its old, empty search path.
    for name in ("ansible_collections", "ansible_collections.azsecops"):
        sys.modules.pop(name, None)
    importlib.invalidate_caches()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    while _TEMP_DIRS:
        temp_dir = _TEMP_DIRS.pop()
        if temp_dir in sys.path:
            sys.path.remove(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)
