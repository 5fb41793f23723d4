# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs azsecops.jit.jit_policy with `virtual_machines` given as VM names accepted (a list of names, or one
comma-separated string as an AWX survey sends it), which the module's argument spec (a list of dicts)
would refuse with Ansible's generic "dictionary requested"."""

from __future__ import annotations

from typing import Any

from ansible.plugins.action import ActionBase
from ansible_collections.azsecops.jit.plugins.module_utils._jit_model import _vm_entries


class ActionModule(ActionBase):
    def run(self, tmp: Any = None, task_vars: Any = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        if "virtual_machines" in args:
            args["virtual_machines"] = _vm_entries(args["virtual_machines"])
        result.update(
            self._execute_module(module_name="azsecops.jit.jit_policy", module_args=args, task_vars=task_vars)
        )
        return result
