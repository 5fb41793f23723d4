# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Packaging tests: what users install (the collection tarball, the emulator's wheel, the EE context)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def tarball(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The collection tarball, built from this checkout the way a maintainer builds it."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [BIN / "ansible-galaxy", "collection", "build", "--output-path", str(out)],
        cwd=REPO,
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
