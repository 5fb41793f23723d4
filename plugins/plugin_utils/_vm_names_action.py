# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action plugin of the modules whose `virtual_machines` accepts VM names.

Private API of azsecops.jit (shared plugin code lives in plugins/plugin_utils, as in amazon.aws). It runs the
module with `virtual_machines` given as VM names turned into entries (a list of names, or one comma-separated
string as an AWX survey sends it), which the module's argument spec (a list of dicts) would otherwise refuse
with Ansible's generic "dictionary requested".
"""

from __future__ import annotations

from typing import Any

from ansible.plugins.action import ActionBase
from ansible_collections.azsecops.jit.plugins.module_utils._jit_model import _vm_entries


class _VmNamesAction(ActionBase):
    """Subclasses name the module they run in `_module_name` (its FQCN)."""

    _module_name = ""

    def run(self, tmp: Any = None, task_vars: Any = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        if "virtual_machines" in args:
            args["virtual_machines"] = _vm_entries(args["virtual_machines"])
        result.update(self._execute_module(module_name=self._module_name, module_args=args, task_vars=task_vars))
        return result
