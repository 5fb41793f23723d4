# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection tarball: exactly what users need (galaxy.yml's build_ignore says why each thing is left
out), installed from the file into a clean collections path, its shipped playbooks run against jit-emulator."""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from pathlib import Path

from conftest import BIN, JUNK, git_files
from support.ansible import awx_env
from support.emulator import EmulatorProcess

# What the tarball carries besides MANIFEST.json and FILES.json (galaxy.yml explains the choice).
SHIPPED_DIRS = ("plugins/", "roles/", "playbooks/", "meta/", "docs/")
SHIPPED_FILES = {
    "README.md",
    "COPYING",
    "CHANGELOG.rst",
    "requirements.txt",
    "bindep.txt",
    "changelogs/changelog.yaml",
    "changelogs/config.yaml",
}
NOT_SHIPPED = ("docs/development.md", "docs/collection/")


def _expected() -> set[str]:
    """The files git knows that the tarball must hold."""
    return {
        f for f in git_files() if (f in SHIPPED_FILES or f.startswith(SHIPPED_DIRS)) and not f.startswith(NOT_SHIPPED)
    }


def test_the_tarball_holds_what_users_need_and_nothing_else(tarball: Path) -> None:
    with tarfile.open(tarball) as tar:
        files = {m.name for m in tar.getmembers() if m.isfile()}
        manifest = json.load(tar.extractfile("MANIFEST.json"))  # type: ignore[arg-type]
    assert files - {"MANIFEST.json", "FILES.json"} == _expected()
    for needed in (
        "plugins/modules/jit_policy.py",
        "plugins/modules/jit_request.py",
        "plugins/modules/jit_rule_facts.py",
        "meta/runtime.yml",
        "meta/execution-environment.yml",
        "requirements.txt",
        "changelogs/changelog.yaml",
        "CHANGELOG.rst",
        "playbooks/onboard.yml",
    ):
        assert needed in files
    # Never a key, a CA or an emulator state (`make demo` leaves them in .demo/), a cache or a test.
    assert not files & set(JUNK)
    assert not [
        f for f in files if f.endswith((".pem", ".sqlite", ".pyc")) or f.startswith(("tests/", ".", "emulator/"))
    ]
    info = manifest["collection_info"]
    assert (info["namespace"], info["name"]) == ("azsecops", "jit")
    assert tarball.name == f"azsecops-jit-{info['version']}.tar.gz"


def test_the_installed_tarball_runs_its_playbooks_against_the_emulator(installed: Path, tmp_path: Path) -> None:
    root = installed / "ansible_collections" / "azsecops" / "jit"
    assert (root / "MANIFEST.json").is_file() and not (root / "tests").exists()
    emu = EmulatorProcess(state=str(tmp_path / "state.sqlite"), world="demo")
    try:
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path),
            # Only the installed copy: no checkout, no ~/.ansible/collections, no site-packages collections.
            "ANSIBLE_COLLECTIONS_PATH": str(installed),
            "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
            **awx_env(emu.info),
        }
        playbook = [BIN / "ansible-playbook", "-e", "jit_resource_group=rg-app"]
        onboard = subprocess.run(
            [*playbook, "azsecops.jit.onboard", "-e", '{"jit_vms": ["vm-web-01"]}'],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert onboard.returncode == 0, onboard.stdout + onboard.stderr
        puts = [r for r in emu.writes() if "jitNetworkAccessPolicies" in r["path"]]
        assert [r["method"] for r in puts] == ["PUT"]
        report_dir = tmp_path / "jit-report"
        report = subprocess.run(
            [*playbook, "azsecops.jit.report", "-e", f"jit_report_dir={report_dir}"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert report.returncode == 0, report.stdout + report.stderr
        assert "vm-web-01" in (report_dir / "jit-report.json").read_text()
        # The collection that ran is the installed one, and the only one ansible sees.
        listed = subprocess.run(
            [BIN / "ansible-galaxy", "collection", "list", "azsecops.jit", "--format", "json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert list(json.loads(listed.stdout)) == [str(installed / "ansible_collections")]
    finally:
        emu.stop()
