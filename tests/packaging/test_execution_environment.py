# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The execution environment: docs/ee/execution-environment.yml (ansible-builder 3) makes a build context,
and that context's own galaxy and introspection steps, run here without a container, install the tarball
and resolve the collection's Python requirements to exactly requirements.txt."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml
from conftest import BIN, REPO


def _requirements(text: str) -> list[str]:
    return sorted(line.split("#")[0].strip() for line in text.splitlines() if line.split("#")[0].strip())


def test_ansible_builder_context_installs_the_tarball_with_requirements_txt(tarball: Path, tmp_path: Path) -> None:
    definition = yaml.safe_load((REPO / "docs/ee/execution-environment.yml").read_text())
    assert definition["version"] == 3
    # The tarball variant of docs/execution-environment.md: the file goes into the context, the galaxy
    # stage installs it from there.
    definition["additional_build_files"] = [{"src": str(tarball), "dest": "collections"}]
    (tmp_path / "execution-environment.yml").write_text(yaml.safe_dump(definition))
    (tmp_path / "requirements.yml").write_text(
        yaml.safe_dump({"collections": [{"name": f"collections/{tarball.name}", "type": "file"}]})
    )
    subprocess.run(
        [BIN / "ansible-builder", "create", "--file", "execution-environment.yml", "--context", "context"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    context = tmp_path / "context"
    build = context / "_build"
    containerfile = next(p for p in (context / "Containerfile", context / "Dockerfile") if p.exists()).read_text()
    assert 'ARG PYCMD="/usr/bin/python3.12"' in containerfile
    assert "ansible-galaxy collection install" in containerfile
    assert (build / "collections" / tarball.name).is_file()

    # The galaxy stage (WORKDIR /build: ansible-galaxy collection install -r requirements.yml), offline.
    collections = tmp_path / "usr-share-ansible-collections"
    subprocess.run(
        [
            BIN / "ansible-galaxy",
            "collection",
            "install",
            "--offline",
            "-r",
            "requirements.yml",
            "-p",
            str(collections),
        ],
        cwd=build,
        check=True,
        capture_output=True,
        env={"PATH": str(BIN), "HOME": str(tmp_path)},
    )
    # The builder stage: introspect.py reads meta/execution-environment.yml of every installed collection.
    written, system = tmp_path / "requirements.txt", tmp_path / "bindep.txt"
    introspect = [sys.executable, build / "scripts/introspect.py", "introspect", str(collections)]
    subprocess.run(
        [*introspect, f"--write-pip={written}", f"--write-bindep={system}"],
        check=True,
        capture_output=True,
    )
    assert "# from collection azsecops.jit" in written.read_text()
    assert _requirements(written.read_text()) == _requirements((REPO / "requirements.txt").read_text())
    assert not system.exists()  # no system packages needed (meta/execution-environment.yml)
