# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection against the one JIT contract (tests/contract/jit.yml), which jit-emulator's suite reads too."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible_collections.azsecops.jit.plugins.module_utils._jit_grants import _grants_from_policy
from ansible_collections.azsecops.jit.plugins.module_utils._jit_model import (
    _check_duration_bounds,
    _check_port_number,
    _is_subset,
    _JitValueError,
    _parse_duration,
)
from ansible_collections.azsecops.jit.plugins.module_utils._nsg_rules import _nsg_jit_rules, _ports_cover
from ansible_collections.azsecops.jit.plugins.module_utils._rule_judge import _judge_nsg, _VmTarget
from ansible_collections.azsecops.jit.plugins.module_utils._rule_names import (
    _description_naming,
    _firewall_naming,
    _jit_rule_kind,
    _jit_rule_naming,
    _parse_description,
)

CONTRACT: dict[str, Any] = yaml.safe_load(
    (Path(__file__).resolve().parents[4] / "tests" / "contract" / "jit.yml").read_text(encoding="utf-8")
)


SOURCES = ("exports", "release-notes-2023-05", "inferred", "spec", "nsg-docs", "jit-docs", "recorded-error", "stricter")


def cases(section: str) -> list[Any]:
    return [pytest.param(case, id=f"{section}[{index}]") for index, case in enumerate(CONTRACT[section])]


def test_every_case_names_its_source() -> None:
    for items in CONTRACT.values():
        if isinstance(items, list):
            for case in items:
                assert case.get("source") in SOURCES, case
                assert case["source"] not in ("inferred", "stricter") or case.get("note"), case


@pytest.mark.parametrize("case", cases("rule_names"))
def test_rule_names(case: dict[str, Any]) -> None:
    assert _jit_rule_kind(case["name"]) == case["kind"]
    assert _jit_rule_naming(case["name"]) == case["naming"]


@pytest.mark.parametrize("case", cases("descriptions"))
def test_descriptions(case: dict[str, Any]) -> None:
    assert _parse_description(case["text"]) == (case["policy"], case["vm"], case["for_request"])
    assert _description_naming(case["text"]) == case["naming"]


@pytest.mark.parametrize("case", cases("firewall_names"))
def test_firewall_names(case: dict[str, Any]) -> None:
    assert _firewall_naming(case["name"]) == case["naming"]


@pytest.mark.parametrize("case", cases("port_specs"))
def test_port_specs(case: dict[str, Any]) -> None:
    assert _ports_cover([case["spec"]], case["port"]) is case["covers"]


def accepts(check: Any) -> str:
    try:
        check()
    except _JitValueError:
        return "reject"
    return "accept"


@pytest.mark.parametrize("case", cases("port_numbers"))
def test_port_numbers(case: dict[str, Any]) -> None:
    assert accepts(lambda: _check_port_number(case["number"])) == case["collection"]
    assert case["collection"] == case["azure"] or case["collection"] == "reject"  # never looser than Azure


@pytest.mark.parametrize("case", cases("source_subsets"))
def test_source_subsets(case: dict[str, Any]) -> None:
    assert _is_subset(case["requested"], case["allowed"]) is case["subset"]


@pytest.mark.parametrize("case", cases("max_durations"))
def test_max_durations(case: dict[str, Any]) -> None:
    verdict = accepts(lambda: _check_duration_bounds(_parse_duration(case["value"]), "max_duration"))
    assert verdict == case["collection"]
    assert case["collection"] == case["azure"] or case["collection"] == "reject"  # never looser than Azure


def test_rules_the_emulator_writes_are_judged_active_by_the_collection() -> None:
    """jit-emulator's own rule writer (deny rules of a policy, allow rules of a request) against the
    collection's rule checker: every rule is recognised as JIT's and judged active."""
    emulator_nsg = pytest.importorskip("jit_emulator.nsg")
    sub = "20ff7fc3-e762-44dd-bd96-b71116dcdc23"
    rg = f"/subscriptions/{sub}/resourceGroups/rg-app"
    vm_id = f"{rg}/providers/Microsoft.Compute/virtualMachines/vm-web-01"
    policy_id = f"{rg}/providers/Microsoft.Security/locations/westeurope/jitNetworkAccessPolicies/default"
    nsg_id = f"{rg}/providers/Microsoft.Network/networkSecurityGroups/nsg-web-01"
    ports = [
        {"number": 22, "protocol": "TCP", "allowedSourceAddressPrefix": "*", "maxRequestAccessDuration": "PT3H"},
        {"number": 3389, "protocol": "*", "allowedSourceAddressPrefix": "*", "maxRequestAccessDuration": "PT3H"},
    ]
    body: dict[str, Any] = {"id": nsg_id, "name": "nsg-web-01", "properties": {"securityRules": []}}
    body = emulator_nsg.apply_deny_rules(
        body,
        policy_id=policy_id,
        policy_name="default",
        vm_id=vm_id,
        vm_name="vm-web-01",
        private_ip="10.0.0.4",
        ports=ports,
    )
    body, names = emulator_nsg.add_allow_rules(
        body,
        policy_id=policy_id,
        policy_name="default",
        vm_id=vm_id,
        vm_name="vm-web-01",
        private_ip="10.0.0.4",
        grants=[{"number": 22, "protocol": "TCP", "sources": ["203.0.113.7"]}],
        request_key="request-1",
    )
    now = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
    policy = {
        "id": policy_id,
        "name": "default",
        "properties": {
            "requests": [
                {
                    "startTimeUtc": "2026-11-22T11:30:00.0000000Z",
                    "requestor": "jane@contoso.com",
                    "virtualMachines": [
                        {
                            "id": vm_id,
                            "ports": [
                                {
                                    "number": 22,
                                    "allowedSourceAddressPrefix": "203.0.113.7",
                                    "endTimeUtc": "2026-11-22T12:30:00.0000000Z",
                                    "status": "Initiated",
                                    "statusReason": "UserRequested",
                                }
                            ],
                        }
                    ],
                }
            ]
        },
    }
    target = _VmTarget(
        id=vm_id,
        private_ip="10.0.0.4",
        nsgs=(nsg_id.lower(),),
        policy_id=policy_id,
        policy_name="default",
        ports=((22, "TCP"), (3389, "*")),
        grants=tuple(_grants_from_policy(policy)),
    )
    rules = _nsg_jit_rules(body)
    assert {r.kind for r in rules} == {"deny", "allow"} and len(rules) == 3, [r.name for r in rules]
    verdicts, missing = _judge_nsg(nsg_id, rules, [target], now)
    assert [(v.rule.name, v.state, v.reasons) for v in verdicts if v.state != "active"] == []
    assert len(verdicts) == 3 and missing == []
    assert {v.rule.name for v in verdicts if v.rule.kind == "allow"} == set(names)
