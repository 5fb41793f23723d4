# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action plugins of jit_policy and jit_request: VM names become entries, then their own module runs."""

from __future__ import annotations

from typing import Any
from unittest.mock import MagicMock

import pytest
from ansible.plugins.action import ActionBase
from ansible_collections.azsecops.jit.plugins.action import jit_policy, jit_request


def run_action(module: Any, args: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Run the action with ActionBase.run and _execute_module replaced; return the module calls made."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(ActionBase, "run", lambda self, tmp=None, task_vars=None: {"from_base": True})
    task = MagicMock()
    task.args = args
    action = module.ActionModule(task, MagicMock(), MagicMock(), loader=None, templar=None, shared_loader_obj=None)

    def execute_module(**kwargs: Any) -> dict[str, Any]:
        calls.append(kwargs)
        return {"changed": False, "ran": kwargs["module_name"]}

    monkeypatch.setattr(action, "_execute_module", execute_module)
    result = action.run(task_vars={"x": 1})
    assert result == {"from_base": True, "changed": False, "ran": calls[0]["module_name"]}
    return calls


@pytest.mark.parametrize(
    ("module", "name"), [(jit_policy, "azsecops.jit.jit_policy"), (jit_request, "azsecops.jit.jit_request")]
)
def test_names_become_entries_and_the_plugins_own_module_runs(
    module: Any, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = {"resource_group": "rg-app", "virtual_machines": "vm-web-01, vm-web-02"}
    calls = run_action(module, args, monkeypatch)
    assert calls == [
        {
            "module_name": name,
            "module_args": {
                "resource_group": "rg-app",
                "virtual_machines": [{"name": "vm-web-01"}, {"name": "vm-web-02"}],
            },
            "task_vars": {"x": 1},
        }
    ]
    assert args["virtual_machines"] == "vm-web-01, vm-web-02"  # the task's own args are left alone


def test_entries_and_absent_virtual_machines_pass_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    entries = [{"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm"}, "vm-2"]
    calls = run_action(jit_request, {"virtual_machines": entries}, monkeypatch)
    assert calls[0]["module_args"]["virtual_machines"] == [entries[0], {"name": "vm-2"}]
    calls = run_action(jit_policy, {"resource_group": "rg", "state": "absent"}, monkeypatch)
    assert calls[0]["module_args"] == {"resource_group": "rg", "state": "absent"}
