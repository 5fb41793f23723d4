# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fail when a change to plugins/ or roles/ comes without a changelog fragment.

The rule (docs/development.md, "Changelog and versioning"): every commit since the last release that
touches plugins/ or roles/ adds or edits a file in changelogs/fragments/. The last release is the last
commit that changed changelogs/changelog.yaml (only `antsibull-changelog release` writes it), so the
check needs no remote and no merge base: it works the same on a clean clone of main in CI, on a branch,
and before committing (uncommitted changes are checked as one more change). It needs the history back
to that commit: a shallow clone must be deepened (`git fetch --unshallow`).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

RELEASES = "changelogs/changelog.yaml"
FRAGMENTS = "changelogs/fragments/"
WATCHED = ("plugins/", "roles/")
# Commits that reached main with their fragment in the next commit (history on main is never rewritten):
# "<abbreviated hash> <fragment path>" per line; the fragment must exist or have been released since.
LATE = "changelogs/late-fragments.txt"


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def _verdict(paths: dict[str, str]) -> tuple[list[str], bool]:
    """(watched paths changed, whether a fragment was added or edited) for {path: git status letter}."""
    watched = sorted(p for p in paths if p.startswith(WATCHED))
    fragment = any(
        p.startswith(FRAGMENTS) and p.endswith((".yml", ".yaml")) and status != "D" for p, status in paths.items()
    )
    return watched, fragment


def _commit_paths(repo: Path, commit: str) -> dict[str, str]:
    out = _git(repo, "diff-tree", "--no-commit-id", "--no-renames", "--name-status", "-r", "--root", commit)
    return {line.split("\t", 1)[1]: line[0] for line in out.splitlines() if "\t" in line}


def _worktree_paths(repo: Path) -> dict[str, str]:
    out = _git(repo, "status", "--porcelain", "--no-renames", "--untracked-files=all")
    paths: dict[str, str] = {}
    for line in out.splitlines():
        status, path = line[:2], line[3:]
        paths[path] = "D" if "D" in status else "M"
    return paths


def _late(repo: Path) -> list[str]:
    """Abbreviated hashes of commits whose fragment came in a later commit (see LATE)."""
    path = repo / LATE
    if not path.is_file():
        return []
    hashes = []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("#", 1)[0].split()
        if len(parts) == 2 and len(parts[0]) >= 7 and (repo / parts[1]).is_file():
            hashes.append(parts[0])
    return hashes


def problems(repo: Path) -> list[str]:
    base = _git(repo, "log", "-1", "--format=%H", "--", RELEASES).strip()
    if not base:
        if _git(repo, "rev-parse", "--is-shallow-repository").strip() == "true":
            return [f"shallow clone: no commit changing {RELEASES} in reach; run `git fetch --unshallow`"]
        return [f"no release recorded: {RELEASES} is not in the history"]
    found = []
    late = _late(repo)
    for commit in _git(repo, "rev-list", "--no-merges", "--reverse", f"{base}..HEAD").split():
        watched, fragment = _verdict(_commit_paths(repo, commit))
        if watched and not fragment and not any(commit.startswith(short) for short in late):
            subject = _git(repo, "log", "-1", "--format=%h %s", commit).strip()
            found.append(f"commit {subject[:100]} changes {', '.join(watched[:3])} without a fragment")
    watched, fragment = _verdict(_worktree_paths(repo))
    if watched and not fragment:
        found.append(f"uncommitted changes to {', '.join(watched[:3])} without a fragment")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[1])
    found = problems(parser.parse_args().repo)
    for problem in found:
        print(f"changelog: {problem}", file=sys.stderr)
    if found:
        print(
            f"changelog: add {FRAGMENTS}<short-name>.yml (sections: changelogs/config.yaml; `trivial` for a change"
            " users cannot see) in the same commit; see docs/development.md",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
