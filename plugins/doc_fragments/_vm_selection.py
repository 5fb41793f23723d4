# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Nothing by default: use the named fragment below.
    DOCUMENTATION = r"""
options: {}
"""

    # The VM filter of the read-only modules (argument spec: module_utils._vm_selection._vm_filter_spec).
    VM_FILTER = r"""
options:
  virtual_machines:
    description:
      - Only these VMs, each a name or a full Azure Resource Manager id (ids compare case-insensitively).
      - A name matches every VM of that name in the resource groups read (see the notes for which), or anywhere
        in the subscription when no resource group is given.
      - Without it (or with an empty list), every VM in scope is reported.
    type: list
    elements: str
"""
