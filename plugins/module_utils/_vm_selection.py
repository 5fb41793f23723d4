# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The argument specs that select VMs, shared by the modules (their docs: doc_fragments/_vm_selection.py).

Private API of azsecops.jit: names may change in any release. No Ansible import: plain argument-spec dicts.
"""

from __future__ import annotations

from typing import Any


def _vm_ref_spec(**extra_options: dict[str, Any]) -> dict[str, Any]:
    """One VM, by ``id`` or by ``name`` (with its ``resource_group`` where the module needs one): the
    suboptions and their rules, for a ``dict`` option or the elements of a ``list`` of dicts. ``extra_options``
    are the module's own suboptions (a VM entry's ``ports``)."""
    return {
        "options": {
            "name": {"type": "str"},
            "resource_group": {"type": "str"},
            "id": {"type": "str"},
            **extra_options,
        },
        "mutually_exclusive": [["name", "id"], ["id", "resource_group"]],
        "required_one_of": [["name", "id"]],
    }


def _vm_filter_spec() -> dict[str, dict[str, Any]]:
    """``virtual_machines``: only these VMs, each a name or a full ARM id (the read-only modules)."""
    return {"virtual_machines": {"type": "list", "elements": "str"}}
