# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Packaging tests: what users install (the collection tarball, the emulator's wheel, the EE context)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


# What a used working tree holds besides the files git knows: `make demo`'s state and CA, caches, test output.
JUNK = (
    ".demo/state.sqlite",
    ".demo/state.sqlite.ca.pem",
    ".hypothesis/constants/0",
    ".venv/bin/python",
    "plugins/modules/__pycache__/jit_policy.cpython-311.pyc",
    "tests/output/.tmp/x",
    "emulator/src/jit_emulator.egg-info/PKG-INFO",
)


def git_files() -> list[str]:
    """The files git knows in this checkout: tracked, or new and not ignored."""
    out = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout
    return [f for f in out.splitlines() if (REPO / f).is_file()]


@pytest.fixture(scope="session")
def tarball(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The collection tarball, built with `ansible-galaxy collection build` from a copy of this checkout
    that also holds a used working tree's leftovers (JUNK), which build_ignore must keep out."""
    src = tmp_path_factory.mktemp("src")
    for name in [*git_files(), *JUNK]:
        target = src / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (REPO / name).is_file() and name not in JUNK:
            shutil.copy2(REPO / name, target)
        else:
            target.write_text("left behind\n")
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [BIN / "ansible-galaxy", "collection", "build", "--output-path", str(out)],
        cwd=src,
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("azsecops-jit-*.tar.gz")
    return built


@pytest.fixture(scope="session")
def installed(tarball: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean collections path with the tarball installed from the file (no Galaxy server is asked)."""
    path = tmp_path_factory.mktemp("collections")
    subprocess.run(
        [BIN / "ansible-galaxy", "collection", "install", "--offline", "-p", str(path), str(tarball)],
        check=True,
        capture_output=True,
        env={"PATH": str(BIN), "HOME": str(path), "ANSIBLE_GALAXY_SERVER": "http://127.0.0.1:9"},
    )
    return path
