# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs azsecops.jit.jit_policy with `virtual_machines` given as VM names accepted (see _VmNamesAction)."""

from __future__ import annotations

from ansible_collections.azsecops.jit.plugins.plugin_utils._vm_names_action import _VmNamesAction


class ActionModule(_VmNamesAction):
    _module_name = "azsecops.jit.jit_policy"
