"""Running ansible-playbook the way users do (AWX-style environment), and reading its JSON results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / ".build" / "collections"


def collections_path() -> str:
    """An ansible_collections/azsecops/jit tree pointing at this checkout."""
    link = BUILD / "ansible_collections" / "azsecops" / "jit"
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() and link.resolve() == REPO:
        return str(BUILD)
    # pytest-xdist workers race here: build the link under a private name, then rename it into place
    # (atomic), so no worker ever sees FileExistsError or a half-made tree.
    temp = link.with_name(f".jit-{os.getpid()}")
    temp.unlink(missing_ok=True)
    temp.symlink_to(REPO, target_is_directory=True)
    os.replace(temp, link)
    return str(BUILD)


def awx_env(info: dict[str, Any], client_id: str | None = None, secret: str | None = None) -> dict[str, str]:
    """The variables AWX's "Microsoft Azure Resource Manager" credential injects, plus the CA to trust."""
    return {
        "AZURE_SUBSCRIPTION_ID": info["subscription_id"],
        "AZURE_CLIENT_ID": client_id or info["client_id"],
        "AZURE_SECRET": secret or info["secret"],
        "AZURE_TENANT": info["tenant_id"],
        "AZURE_CLOUD_ENVIRONMENT": info["cloud_environment"],
        "REQUESTS_CA_BUNDLE": info["ca_bundle"],
    }


@dataclass
class PlaybookRun:
    rc: int
    stdout: str
    stderr: str
    tasks: list[dict[str, Any]] = field(default_factory=list)

    def result(self, name: str, host: str = "localhost") -> dict[str, Any]:
        for task in self.tasks:
            if task["task"]["name"] == name:
                return task["hosts"][host]
        raise KeyError(f"no task named {name!r}; tasks: {[t['task']['name'] for t in self.tasks]}")


def run_playbook(
    tasks: list[dict[str, Any]],
    env: dict[str, str],
    *,
    check: bool = False,
    diff: bool = False,
    extra_args: list[str] | None = None,
    timeout: float = 300,
) -> PlaybookRun:
    """Run the tasks on localhost in one play; results come from the json stdout callback."""
    play = [
        {
            "name": "azsecops.jit integration",
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
            "tasks": tasks,
        }
    ]
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as handle:
        yaml.safe_dump(play, handle, sort_keys=False)
        path = handle.name
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", path]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    cmd += extra_args or []
    full_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AZURE_")},
        "ANSIBLE_COLLECTIONS_PATH": collections_path(),
        "ANSIBLE_STDOUT_CALLBACK": "results_json",
        "ANSIBLE_CALLBACK_PLUGINS": str(Path(__file__).parent / "callback_plugins"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_HOST_KEY_CHECKING": "0",
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
        # jit_policy's check against other controllers waits 60s after each write by default; tests that are
        # not about concurrency check at once (tests about it set settle_time or this variable themselves).
        "AZSECOPS_JIT_SETTLE_TIME": "0",
        **env,
    }
    try:
        proc = subprocess.run(cmd, env=full_env, capture_output=True, text=True, timeout=timeout, check=False)
    finally:
        os.unlink(path)
    tasks_out: list[dict[str, Any]] = []
    # The callback prints one JSON line at the end; with -v and up, ansible-playbook prints more before it.
    last = next((line for line in reversed(proc.stdout.splitlines()) if line.startswith('{"plays"')), "")
    try:
        data = json.loads(last)
        for play_out in data.get("plays", []):
            tasks_out.extend(play_out.get("tasks", []))
    except ValueError:
        pass
    return PlaybookRun(proc.returncode, proc.stdout, proc.stderr, tasks_out)
