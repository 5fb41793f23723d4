# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_arm_id: ARM resource ids parsed, formatted and compared case-insensitively."""

from __future__ import annotations

import pytest
from ansible_collections.azsecops.jit.plugins.module_utils._arm_id import (
    _arm_key,
    _ArmId,
    _child_of,
    _format_arm_id,
    _name_of,
    _parse_arm_id,
    _rg_of,
    _same_arm_id,
)

SUB = "00000000-0000-0000-0000-000000000001"
VM = f"/subscriptions/{SUB}/resourceGroups/RG-App/providers/Microsoft.Compute/virtualMachines/vm-1"
POLICY = (
    f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Security/locations/westeurope"
    "/jitNetworkAccessPolicies/default"
)
SUBNET = f"/subscriptions/{SUB}/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet/subnets/sn1"


def test_parse_a_vm_id() -> None:
    parsed = _parse_arm_id(VM)
    assert parsed == _ArmId(SUB, "RG-App", "Microsoft.Compute", ("virtualMachines",), ("vm-1",))
    assert parsed.name == "vm-1"
    assert parsed.resource_type == "Microsoft.Compute/virtualMachines"
    assert parsed.is_type("microsoft.compute/VIRTUALMACHINES")
    assert not parsed.is_type("Microsoft.ClassicCompute/virtualMachines")


def test_parse_nested_ids_keeps_every_type_name_pair() -> None:
    policy = _parse_arm_id(POLICY)
    assert policy is not None
    assert policy.types == ("locations", "jitNetworkAccessPolicies")
    assert policy.names == ("westeurope", "default")
    assert policy.child("LOCATIONS") == "westeurope"
    assert policy.child("subnets") is None
    subnet = _parse_arm_id(SUBNET)
    assert subnet is not None
    assert subnet.resource_type == "Microsoft.Network/virtualNetworks/subnets"
    assert subnet.name == "sn1"


def test_parse_scopes_without_a_resource() -> None:
    assert _parse_arm_id(f"/subscriptions/{SUB}") == _ArmId(SUB)
    assert _parse_arm_id(f"/subscriptions/{SUB}/resourceGroups/rg/") == _ArmId(SUB, "rg")
    assert _parse_arm_id(f"/subscriptions/{SUB}/resourceGroups/rg").name == "rg"


def test_segment_words_match_in_any_case_and_parts_keep_theirs() -> None:
    parsed = _parse_arm_id(f"/SUBSCRIPTIONS/{SUB}/resourcegroups/Rg/PROVIDERS/microsoft.compute/VirtualMachines/VM")
    assert parsed == _ArmId(SUB, "Rg", "microsoft.compute", ("VirtualMachines",), ("VM",))


@pytest.mark.parametrize(
    "text",
    [
        None,
        42,
        "",
        "vm-1",
        "subscriptions/x/resourceGroups/rg",  # no leading slash
        "/subscriptions/",
        "/subscriptions/x/resourceGroups",
        "/subscriptions/x/resourceGroups//providers/Microsoft.Compute/virtualMachines/vm",
        "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines",  # a collection
        "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm/extensions",
        "/subscriptions/x/resourceGroups/rg/virtualMachines/vm",  # no providers segment
        "/tenants/x/providers/Microsoft.Compute/virtualMachines/vm",
    ],
)
def test_not_an_id(text: object) -> None:
    assert _parse_arm_id(text) is None


def test_format_round_trips() -> None:
    for text in (VM, POLICY, SUBNET, f"/subscriptions/{SUB}", f"/subscriptions/{SUB}/resourceGroups/rg"):
        parsed = _parse_arm_id(text)
        assert parsed is not None
        assert parsed.format() == text
    assert (
        _format_arm_id(
            SUB, "rg-app", "Microsoft.Security", ("locations", "westeurope"), ("jitNetworkAccessPolicies", "default")
        )
        == POLICY
    )
    assert _format_arm_id(SUB) == f"/subscriptions/{SUB}"


def test_compare_case_insensitively() -> None:
    upper = VM.upper() + "/"
    assert _same_arm_id(VM, upper)
    assert _arm_key(upper) == VM.lower()
    assert _parse_arm_id(VM).key == _parse_arm_id(upper).key  # type: ignore[union-attr]
    assert not _same_arm_id(VM, VM.replace("vm-1", "vm-2"))
    assert _arm_key(None) == ""
    assert _arm_key("  /x/ ") == "/x"


def test_small_readers() -> None:
    assert _rg_of(VM) == "RG-App"
    assert _rg_of(POLICY.upper()) == "RG-APP"
    assert _rg_of(f"/subscriptions/{SUB}/providers/Microsoft.Security/pricings/VirtualMachines") == ""
    assert _rg_of(None) == ""
    assert _name_of(VM + "/") == "vm-1"
    assert _name_of(None) == ""
    assert _child_of(POLICY, "locations") == "westeurope"
    assert _child_of(VM, "locations") == ""
    assert _child_of("not an id", "locations") == ""


def test_the_id_is_immutable() -> None:
    parsed = _parse_arm_id(VM)
    with pytest.raises(AttributeError):
        parsed.resource_group = "other"  # type: ignore[misc,union-attr]
