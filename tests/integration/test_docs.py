"""What users read: ansible-doc renders every module with complete docs, and the shipped playbooks parse."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.ansible import REPO, collections_path

MODULES = ("jit_policy", "jit_request", "jit_rule_facts")
PLAYBOOKS = sorted(p.name for p in (REPO / "playbooks").glob("*.yml"))
# Task keywords an EXAMPLES task may carry besides its one module.
TASK_KEYWORDS = {"name", "register", "when", "loop", "vars", "check_mode", "diff", "delegate_to", "until", "retries"}
TASK_KEYWORDS |= {
    "delay",
    "changed_when",
    "failed_when",
    "module_defaults",
    "environment",
    "no_log",
    "tags",
    "loop_control",
}


def _run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": collections_path(), "ANSIBLE_NOCOLOR": "1"}
    cmd = [str(Path(sys.executable).parent / tool), *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def docs() -> dict[str, Any]:
    run = _run("ansible-doc", "--json", *(f"azsecops.jit.{m}" for m in MODULES))
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc_renders(module: str) -> None:
    run = _run("ansible-doc", f"azsecops.jit.{module}")
    assert run.returncode == 0, run.stderr
    assert "ATTRIBUTES:" in run.stdout and "EXAMPLES:" in run.stdout and "RETURN VALUES:" in run.stdout


@pytest.mark.parametrize("module", MODULES)
def test_docs_are_complete(docs: dict[str, Any], module: str) -> None:
    entry = docs[f"azsecops.jit.{module}"]
    attributes = entry["doc"]["attributes"]
    assert {"check_mode", "diff_mode", "idempotent"} <= set(attributes)
    assert all(attributes[a]["support"] in ("full", "partial", "none", "N/A") for a in attributes)
    assert entry["return"], "RETURN is empty"
    options = entry["doc"]["options"]
    assert all(o.get("description") for o in options.values()), "an option without a description"
    examples = yaml.safe_load(entry["examples"])
    assert examples
    for task in _tasks(examples):
        modules = set(task) - TASK_KEYWORDS
        assert len(modules) == 1, f"{task.get('name')}: {modules}"
        assert next(iter(modules)).startswith(("azsecops.jit.", "ansible.builtin.")), modules  # FQCNs only


def _tasks(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tasks of a task list, with those inside block/rescue/always."""
    out: list[dict[str, Any]] = []
    for item in items:
        sections = [k for k in ("block", "rescue", "always") if k in item]
        out.extend(_tasks([t for k in sections for t in item[k]]) if sections else [item])
    return out


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_playbooks_pass_syntax_check(playbook: str) -> None:
    run = _run("ansible-playbook", "--syntax-check", "-i", "localhost,", f"azsecops.jit.{Path(playbook).stem}")
    assert run.returncode == 0, run.stdout + run.stderr
