"""jit-emulator against the one JIT contract (tests/contract/jit.yml), which the collection's unit tests read too.

The emulator answers as Azure does (column ``azure``); the collection may only be stricter.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from jit_emulator import jit, nsg
from jit_emulator.errors import ArmError

CONTRACT: dict[str, Any] = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "tests" / "contract" / "jit.yml").read_text(encoding="utf-8")
)
SUB = "20ff7fc3-e762-44dd-bd96-b71116dcdc23"
VM = f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/vm-web-01"


def cases(section: str) -> list[Any]:
    return [pytest.param(case, id=f"{section}[{index}]") for index, case in enumerate(CONTRACT[section])]


def policy_put(**port: Any) -> str:
    """'accept' or 'reject' for a policy PUT body holding one VM with this port rule."""
    rule = {"number": 22, "protocol": "TCP", "allowedSourceAddressPrefix": "*", "maxRequestAccessDuration": "PT3H"}
    rule.update(port)
    try:
        jit.validate_policy({"properties": {"virtualMachines": [{"id": VM, "ports": [rule]}]}}, "default")
    except ArmError as exc:
        assert exc.status == 400
        return "reject"
    return "accept"


@pytest.mark.parametrize("case", cases("rule_names"))
def test_rule_names(case: dict[str, Any]) -> None:
    """The emulator knows JIT's rules (to keep, replace and remove them) by the shapes the collection reads;
    a look-alike (kind unknown) is any other rule to it."""
    kind = case["kind"] if case["kind"] in ("deny", "allow") else None
    assert nsg.jit_rule_kind(case["name"]) == kind
    if kind is not None:
        assert nsg.naming_of(case["name"]) == case["naming"]


@pytest.mark.parametrize("case", [c for c in cases("descriptions") if c.values[0]["naming"] is not None])
def test_descriptions_are_written_as_recorded(case: dict[str, Any]) -> None:
    write = nsg.allow_description if case["for_request"] else nsg.deny_description
    assert write(case["policy"], case["vm"], case["naming"]) == case["text"]


@pytest.mark.parametrize("case", cases("port_specs"))
def test_port_specs(case: dict[str, Any]) -> None:
    assert nsg.port_covered({"destinationPortRange": case["spec"]}, case["port"]) is case["covers"]


@pytest.mark.parametrize("case", cases("port_numbers"))
def test_port_numbers(case: dict[str, Any]) -> None:
    assert policy_put(number=case["number"]) == case["azure"]


@pytest.mark.parametrize("case", cases("source_subsets"))
def test_source_subsets(case: dict[str, Any]) -> None:
    assert jit.is_subset(case["requested"], case["allowed"]) is case["subset"]


@pytest.mark.parametrize("case", cases("max_durations"))
def test_max_durations(case: dict[str, Any]) -> None:
    assert policy_put(maxRequestAccessDuration=case["value"]) == case["azure"]
