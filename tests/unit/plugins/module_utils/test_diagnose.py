# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of jit_vm_info's buckets and jit_diagnose's checks (pure functions, no Azure)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from ansible_collections.azsecops.jit.plugins.module_utils._diagnose_manager import (
    _action_allowed,
    _check_allow_rules,
    _check_permissions,
    _check_request,
    _flow_source,
    _grants_for,
)
from ansible_collections.azsecops.jit.plugins.module_utils._jit_model import _VmEntry
from ansible_collections.azsecops.jit.plugins.module_utils._network_view import _VmNetwork
from ansible_collections.azsecops.jit.plugins.module_utils._reachability import _Flow
from ansible_collections.azsecops.jit.plugins.module_utils._vm_info_manager import (
    _classify,
    _deny_rule_gaps,
    _exposure,
    _Plan,
    _plan_from_pricing,
    _VmReport,
)

SUB = "/subscriptions/00000000-0000-0000-0000-000000000001"
VM = f"{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1"
POLICY = f"{SUB}/resourceGroups/rg/providers/Microsoft.Security/locations/westeurope/jitNetworkAccessPolicies/default"
NSG = f"{SUB}/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg1"
IP = "10.0.0.4"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
P2 = _Plan(True, True, "Standard/P2")
HEX = "0123456789ABCDEF0123456789ABCDEF"


def rule(name: str, priority: int, access: str, source: str = "*", port: str = "22", dest: str = IP) -> dict[str, Any]:
    return {
        "name": name,
        "properties": {
            "protocol": "*",
            "sourcePortRange": "*",
            "destinationPortRange": port,
            "sourceAddressPrefix": source,
            "destinationAddressPrefix": dest,
            "access": access,
            "priority": priority,
            "direction": "Inbound",
            "description": "MDC JIT Network Access rule for policy 'default' of VM 'vm1'." if "JIT" in name else "",
        },
    }


def nsg(*rules: dict[str, Any]) -> dict[str, Any]:
    deny_all = {"name": "DenyAllInBound", "properties": {**rule("x", 65500, "Deny", dest="*", port="*")["properties"]}}
    return {"id": NSG, "properties": {"securityRules": list(rules), "defaultSecurityRules": [deny_all]}}


def report(**kw: Any) -> _VmReport:
    net = _VmNetwork(vm_id=VM, name="vm1", private_ip=IP, nsg_ids=[("nic", NSG)], public_ip="198.51.100.4")
    base = _VmReport(vm_id=VM, name="vm1", location="westeurope", tags={}, network=net)
    for key, value in kw.items():
        setattr(base, key, value)
    return base


def policy(*requests: dict[str, Any]) -> dict[str, Any]:
    port = {
        "number": 22,
        "protocol": "*",
        "allowedSourceAddressPrefix": "203.0.113.0/24",
        "maxRequestAccessDuration": "PT3H",
    }
    return {
        "id": POLICY,
        "name": "default",
        "properties": {"virtualMachines": [{"id": VM, "ports": [port]}], "requests": list(requests)},
    }


def req(
    start: str, source: str, status: str = "Initiated", reason: str = "UserRequested", end: str = "2026-12-01T13:00:00Z"
) -> dict[str, Any]:
    port = {
        "number": 22,
        "allowedSourceAddressPrefix": source,
        "endTimeUtc": end,
        "status": status,
        "statusReason": reason,
    }
    return {
        "startTimeUtc": start,
        "requestor": "jane@contoso.example",
        "virtualMachines": [{"id": VM, "ports": [port]}],
    }


def test_plan_and_buckets() -> None:
    assert _plan_from_pricing({"properties": {"pricingTier": "Standard"}}).p2
    assert not _plan_from_pricing({"properties": {"pricingTier": "Standard", "subPlan": "P1"}}).p2
    assert _classify(report(classic=True), P2, None)[1] == "classic_vm"
    assert _classify(report(), _plan_from_pricing({"properties": {"pricingTier": "Free"}}), None)[1] == "plan_not_p2"
    no_nsg = report()
    no_nsg.network.nsg_ids = []
    assert _classify(no_nsg, P2, None)[1] == "no_nsg_or_firewall"
    no_nsg.network.firewall_id, no_nsg.network.firewall_managed = "/x/azureFirewalls/fw", True
    assert _classify(no_nsg, P2, None)[1] == "firewall_policy"
    no_nsg.network.firewall_managed = False
    assert _classify(no_nsg, P2, None) == ("not_configured", None, None)
    assert _classify(report(), P2, "northeurope")[1] == "region"
    assert _classify(report(policy=policy()), P2, "northeurope")[0] == "configured"


def test_exposure_and_deny_rule_gaps() -> None:
    open_nsg = nsg(rule("ssh-any", 300, "Allow", dest="*"))
    assert _exposure(report(nic_nsg=open_nsg), [22, 3389]) == [{"port": 22, "nsg": "nsg1", "rule": "ssh-any"}]
    deny = rule(f"MicrosoftDefenderForCloud-JITRule_-1151891693_{HEX}", 4096, "Deny")
    entry = _VmEntry.from_wire(policy()["properties"]["virtualMachines"][0])
    assert _deny_rule_gaps(report(nic_nsg=nsg(deny), entry=entry)) == []
    assert _deny_rule_gaps(report(nic_nsg=nsg(), entry=entry)) == [{"port": 22, "nsg": "nsg1", "nsg_id": NSG}]


@pytest.mark.parametrize(
    "name", [f"MicrosoftDefenderForCloud-JITRule_-1151891693_{HEX}", f"SecurityCenter-JITRule_1170687618_{HEX}"]
)
def test_deny_rules_of_both_generations_in_their_real_shape(name: str) -> None:
    entry = _VmEntry.from_wire(policy()["properties"]["virtualMachines"][0])
    assert _deny_rule_gaps(report(nic_nsg=nsg(rule(name, 4096, "Deny")), entry=entry)) == []


def test_permissions() -> None:
    least = [
        {
            "actions": [
                "Microsoft.Security/locations/jitNetworkAccessPolicies/initiate/action",
                "Microsoft.Security/locations/jitNetworkAccessPolicies/*/read",
                "Microsoft.Compute/virtualMachines/read",
                "Microsoft.Network/networkInterfaces/*/read",
                "Microsoft.Network/publicIPAddresses/read",
            ],
            "notActions": [],
        }
    ]
    assert _check_permissions(least, None).status == "ok"
    assert _action_allowed("Microsoft.Security/locations/jitNetworkAccessPolicies/read", least)
    reader = [{"actions": ["*/read"], "notActions": []}]
    finding = _check_permissions(reader, None)
    assert (finding.status, finding.cause) == ("problem", "missing_permission")
    owner_but_not = [{"actions": ["*"], "notActions": ["Microsoft.Security/*"]}]
    assert _check_permissions(owner_but_not, None).cause == "missing_permission"
    assert _check_permissions(None, "403").status == "warning"


def test_requests_expired_superseded_and_source() -> None:
    assert _check_request([], None, NOW, 22)[0].cause == "no_request"
    old = policy(req("2026-12-01T08:00:00Z", "203.0.113.7", "Revoked", "Expired", "2026-12-01T09:00:00Z"))
    assert _check_request(_grants_for(old, VM, 22), None, NOW, 22)[0].cause == "request_expired"
    # Initiated, but the end time has passed by Azure's clock: expired too.
    stale = policy(req("2026-12-01T08:00:00Z", "203.0.113.7", end="2026-12-01T09:00:00Z"))
    assert _check_request(_grants_for(stale, VM, 22), None, NOW, 22)[0].cause == "request_expired"
    two = policy(
        req("2026-12-01T11:00:00Z", "203.0.113.7", "Revoked", "NewerRequestInitiated"),
        req("2026-12-01T11:30:00Z", "203.0.113.8"),
    )
    grants = _grants_for(two, VM, 22)
    finding, grant = _check_request(grants, "203.0.113.7", NOW, 22)
    assert finding.cause == "request_superseded" and grant is not None and grant.sources == ("203.0.113.8",)
    assert _check_request(grants, "203.0.113.9", NOW, 22)[0].cause == "source_not_covered"
    assert _check_request(grants, "203.0.113.8", NOW, 22)[0].status == "ok"
    assert _flow_source(None, grant) == "203.0.113.8" and _flow_source("1.2.3.4", grant) == "1.2.3.4"


def test_allow_rules_missing_drifted_outranked() -> None:
    grants = _grants_for(policy(req("2026-12-01T11:30:00Z", "203.0.113.7")), VM, 22)
    grant = grants[0]
    flow = _Flow("203.0.113.7", IP, 22)
    allow = rule(f"SecurityCenter-JITRule-1170687618-{HEX}", 101, "Allow", "203.0.113.7")
    allow["properties"]["description"] = (
        "ASC JIT Network Access rule created by an initiation request for policy 'default' of VM 'vm1'."
    )
    assert _check_allow_rules(report(nic_nsg=nsg(allow)), grant, 22, flow).status == "ok"
    assert _check_allow_rules(report(nic_nsg=nsg()), grant, 22, flow).cause == "allow_rule_missing"
    drifted = rule(allow["name"], 101, "Allow", "203.0.113.7", dest="10.9.9.9")
    drifted["properties"]["description"] = allow["properties"]["description"]
    assert _check_allow_rules(report(nic_nsg=nsg(drifted)), grant, 22, flow).cause == "allow_rule_drifted"
    blocked = _check_allow_rules(report(nic_nsg=nsg(rule("block", 100, "Deny", dest="*"), allow)), grant, 22, flow)
    assert blocked.cause == "deny_rule_outranks" and "block" in blocked.message
    assert _check_allow_rules(report(nic_nsg=nsg(allow)), None, 22, flow).status == "skipped"
    # From a source the request does not cover, JIT's own deny rule stops the traffic: not an outranking rule.
    jit_deny = rule(f"SecurityCenter-JITRule_1170687618_{HEX}", 1000, "Deny")
    elsewhere = _Flow("198.51.100.20", IP, 22)
    assert _check_allow_rules(report(nic_nsg=nsg(allow, jit_deny)), grant, 22, elsewhere).status == "ok"
    assert NOW - timedelta(hours=1) < NOW
