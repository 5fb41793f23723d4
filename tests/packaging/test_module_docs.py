# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docs/collection: the module and role docs rendered by antsibull-docs (`make docs`) are what the
collection's current docs render to, and those docs pass antsibull-docs' linter (markup, references)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from conftest import BIN, REPO

RENDERED = REPO / "docs" / "collection"


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def test_rendered_docs_are_current_and_lint_clean(tmp_path: Path) -> None:
    link = tmp_path / "collections" / "ansible_collections" / "azsecops" / "jit"
    link.parent.mkdir(parents=True)
    link.symlink_to(REPO, target_is_directory=True)
    env = {
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "ANSIBLE_COLLECTIONS_PATH": str(tmp_path / "collections"),
        "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
    }
    out = tmp_path / "out"
    out.mkdir(mode=0o755)
    # The same command as `make docs`.
    render = [BIN / "antsibull-docs", "collection", "--use-current", "--squash-hierarchy", "--fail-on-error"]
    render += ["--output-format", "simplified-rst", "--no-add-antsibull-docs-version"]
    subprocess.run(
        [*render, "--dest-dir", str(out), "azsecops.jit"],
        env=env,
        check=True,
        capture_output=True,
    )
    rendered = _tree(out)
    modules = {"jit_policy_module.rst", "jit_request_module.rst", "jit_rule_facts_module.rst"}
    assert {"index.rst", *modules} <= set(rendered)
    assert _tree(RENDERED) == rendered, "docs/collection is stale: run make docs"
    lint = subprocess.run(
        [BIN / "antsibull-docs", "lint-collection-docs", "--plugin-docs", "--skip-rstcheck", str(link)],
        env=env,
        check=False,
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
