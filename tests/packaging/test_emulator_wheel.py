# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""jit-emulator installable on its own: its sdist and wheel build (the wheel from the sdist, so the sdist is
complete), the wheel installs into a fresh venv, and its `jit-emulator` console script serves ARM."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

from conftest import REPO
from support.emulator import EmulatorProcess


def test_the_emulator_wheel_installs_alone_and_serves(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    # `python -m build` makes the sdist, then the wheel from that sdist (in an isolated build env).
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(dist), str(REPO / "emulator")], check=True, capture_output=True
    )
    (sdist,) = dist.glob("jit_emulator-*.tar.gz")
    (wheel,) = dist.glob("jit_emulator-*-py3-none-any.whl")
    with tarfile.open(sdist) as tar:
        assert any(n.endswith("/LICENSE") for n in tar.getnames())
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        assert "jit-emulator = jit_emulator.cli:main" in whl.read(entry_points).decode()
    assert {"jit_emulator/worlds/demo.yml", "jit_emulator/cli.py"} <= names
    assert any(n.startswith("jit_emulator/data/") and n.endswith(".json") for n in names)

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    pip = [str(env_dir / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, str(wheel)], check=True, capture_output=True)
    script = env_dir / "bin" / "jit-emulator"
    version = subprocess.run([str(script), "--version"], check=True, capture_output=True, text=True).stdout
    assert version.split()[-1] == wheel.name.split("-")[1]

    emu = EmulatorProcess(state=str(tmp_path / "state.sqlite"), world="demo", command=[str(script)])
    try:
        assert emu.url.startswith("https://127.0.0.1:")
        sub = emu.info["subscription_id"]
        groups = emu.arm("GET", f"/subscriptions/{sub}/resourcegroups", "2021-04-01")
        assert "rg-app" in {g["name"] for g in groups["value"]}
    finally:
        emu.stop()
