# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_vm_selection: the VM argument specs, validated the way AnsibleModule validates them."""

from __future__ import annotations

from typing import Any

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.azsecops.jit.plugins.module_utils._vm_selection import _vm_filter_spec, _vm_ref_spec


def errors(spec: dict[str, Any], params: dict[str, Any]) -> list[str]:
    return [str(e) for e in ArgumentSpecValidator(spec).validate(params).errors]


def test_a_vm_entry_is_an_id_or_a_name() -> None:
    spec = {"virtual_machines": {"type": "list", "elements": "dict", **_vm_ref_spec(ports={"type": "list"})}}
    assert errors(spec, {"virtual_machines": [{"name": "vm", "resource_group": "rg", "ports": [22]}]}) == []
    assert errors(spec, {"virtual_machines": [{"id": "/subscriptions/s/x"}]}) == []
    assert any(
        "mutually exclusive: name|id" in e for e in errors(spec, {"virtual_machines": [{"name": "a", "id": "b"}]})
    )
    assert any(
        "mutually exclusive: id|resource_group" in e
        for e in errors(spec, {"virtual_machines": [{"id": "b", "resource_group": "rg"}]})
    )
    assert any("one of the following is required: name, id" in e for e in errors(spec, {"virtual_machines": [{}]}))
    assert any("nmae" in e for e in errors(spec, {"virtual_machines": [{"nmae": "vm"}]}))


def test_extra_options_do_not_leak_between_specs() -> None:
    with_ports = _vm_ref_spec(ports={"type": "list"})
    plain = _vm_ref_spec()
    assert set(with_ports["options"]) == {"name", "resource_group", "id", "ports"}
    assert set(plain["options"]) == {"name", "resource_group", "id"}
    plain["mutually_exclusive"].append(["x", "y"])
    assert _vm_ref_spec()["mutually_exclusive"] == [["name", "id"], ["id", "resource_group"]]


def test_the_vm_filter_is_a_list_of_names_or_ids() -> None:
    spec = _vm_filter_spec()
    result = ArgumentSpecValidator(spec).validate({"virtual_machines": ["vm-1", "/subscriptions/s/x"]})
    assert result.errors.errors == []
    assert result.validated_parameters["virtual_machines"] == ["vm-1", "/subscriptions/s/x"]
    assert errors(spec, {"virtual_machines": {"a": 1}}) != []
