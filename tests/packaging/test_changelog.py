# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The changelog: the fragment rule (scripts/check-changelog-fragments.py) on throw-away git histories, and
CHANGELOG.rst as antsibull-changelog generates it from changelogs/changelog.yaml."""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "check-changelog-fragments.py"
BIN = Path(sys.executable).parent


def _git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t"}
    env |= {"GIT_COMMITTER_EMAIL": "t@example.com", "HOME": str(repo), "PATH": os.environ["PATH"]}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env).stdout


def _commit(repo: Path, message: str, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message)


def _check(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--repo", str(repo)], check=False, capture_output=True, text=True
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    _git(tmp_path, "init", "-q")
    _commit(tmp_path, "before the release", {"plugins/modules/m.py": "1\n"})  # older than the release: not checked
    _commit(tmp_path, "release 0.1.0", {"changelogs/changelog.yaml": "releases: {}\n"})
    return tmp_path


def test_no_change_since_the_release_passes(repo: Path) -> None:
    assert _check(repo).returncode == 0


def test_a_plugin_change_without_a_fragment_fails_naming_the_commit(repo: Path) -> None:
    _commit(repo, "with fragment", {"plugins/modules/m.py": "2\n", "changelogs/fragments/a.yml": "bugfixes: [x]\n"})
    _commit(repo, "tests only", {"tests/t.py": "1\n"})
    _commit(repo, "role tweak", {"roles/r/tasks/main.yml": "[]\n"})
    result = _check(repo)
    assert result.returncode == 1
    assert "role tweak changes roles/r/tasks/main.yml without a fragment" in result.stderr
    assert "with fragment" not in result.stderr and "tests only" not in result.stderr


def test_editing_an_existing_fragment_counts_deleting_one_does_not(repo: Path) -> None:
    _commit(repo, "feature", {"plugins/a.py": "1\n", "changelogs/fragments/a.yml": "minor_changes: [x]\n"})
    _commit(repo, "follow-up", {"plugins/a.py": "2\n", "changelogs/fragments/a.yml": "minor_changes: [y]\n"})
    assert _check(repo).returncode == 0
    (repo / "changelogs/fragments/a.yml").unlink()
    _commit(repo, "drop it", {"plugins/a.py": "3\n"})
    assert "drop it changes plugins/a.py" in _check(repo).stderr


def test_uncommitted_changes_are_checked_too(repo: Path) -> None:
    (repo / "plugins/modules/m.py").write_text("changed\n")
    assert "uncommitted changes to plugins/modules/m.py" in _check(repo).stderr
    (repo / "changelogs/fragments").mkdir(parents=True)
    (repo / "changelogs/fragments/m.yml").write_text("bugfixes: [m]\n")
    assert _check(repo).returncode == 0


def test_a_late_fragment_is_accepted_only_when_listed_and_present(repo: Path) -> None:
    _commit(repo, "forgot it", {"plugins/a.py": "1\n"})
    short = _git(repo, "log", "-1", "--format=%h").strip()
    assert _check(repo).returncode == 1
    _commit(repo, "late fragment", {"changelogs/late-fragments.txt": f"{short} changelogs/fragments/a.yml\n"})
    assert _check(repo).returncode == 1  # the listed fragment does not exist yet
    _commit(repo, "the fragment", {"changelogs/fragments/a.yml": "bugfixes: [a]\n"})
    assert _check(repo).returncode == 0


def test_a_new_release_resets_the_rule(repo: Path) -> None:
    _commit(repo, "no fragment", {"plugins/a.py": "1\n"})
    assert _check(repo).returncode == 1
    _commit(repo, "release 0.2.0", {"changelogs/changelog.yaml": "releases: {0.2.0: {}}\n"})
    assert _check(repo).returncode == 0


def test_changelog_rst_is_generated_from_changelog_yaml(tmp_path: Path) -> None:
    """CHANGELOG.rst is what `antsibull-changelog generate` makes of changelogs/ (never edited by hand)."""
    copy = tmp_path / "c"
    copy.mkdir()
    shutil.copy(REPO / "galaxy.yml", copy)
    shutil.copytree(REPO / "changelogs", copy / "changelogs", ignore=shutil.ignore_patterns(".plugin-cache.yaml"))
    subprocess.run([BIN / "antsibull-changelog", "generate"], cwd=copy, check=True, capture_output=True)
    assert filecmp.cmp(copy / "CHANGELOG.rst", REPO / "CHANGELOG.rst", shallow=False), "run: make changelog"
    subprocess.run([BIN / "antsibull-changelog", "lint"], cwd=copy, check=True, capture_output=True)
