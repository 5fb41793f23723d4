# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the pure JIT rule logic: names, fields, ports, requests, and every state and drift reason."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from ansible_collections.azsecops.jit.plugins.module_utils._jit_grants import _Grant, _grants_from_policy, _request_row
from ansible_collections.azsecops.jit.plugins.module_utils._nsg_rules import (
    _field_values,
    _firewall_jit_rules,
    _nsg_jit_rules,
    _port_range,
    _ports_cover,
    _read_nsg_rule,
    _single_port,
)
from ansible_collections.azsecops.jit.plugins.module_utils._rule_judge import _judge_firewall, _judge_nsg, _VmTarget
from ansible_collections.azsecops.jit.plugins.module_utils._rule_names import _jit_rule_kind, _parse_description
from ansible_collections.azsecops.jit.plugins.module_utils._rule_results import _missing_result, _verdict_result

UTC = timezone.utc
SUB = "11111111-2222-3333-4444-555555555555"
HEX = "0123456789ABCDEF0123456789ABCDEF"
DENY_NAME = f"MicrosoftDefenderForCloud-JITRule_-1234567_{HEX}"
ALLOW_NAME = f"MicrosoftDefenderForCloud-JITRule--1234567-{HEX}"
NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)
POLICY_ID = (
    f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Security/locations/westeurope"
    "/jitNetworkAccessPolicies/default"
)
NSG_ID = f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Network/networkSecurityGroups/nsg-web-01"
FW_ID = f"/subscriptions/{SUB}/resourceGroups/rg-data/providers/Microsoft.Network/azureFirewalls/fw-hub"


def vm_id(name: str, rg: str = "rg-app") -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}"


def deny_description(vm: str = "vm-web-01", policy: str = "default") -> str:
    return f"ASC JIT Network Access rule for policy '{policy}' of VM '{vm}'."


def allow_description(vm: str = "vm-web-01", policy: str = "default") -> str:
    return f"ASC JIT Network Access rule created by an initiation request for policy '{policy}' of VM '{vm}'."


def nsg_rule(
    name: str = DENY_NAME,
    *,
    port: str = "22",
    source: str = "*",
    destination: str = "10.0.0.4",
    access: str = "Deny",
    protocol: str = "Tcp",
    priority: int = 1000,
    direction: str = "Inbound",
    description: str | None = None,
    **plural: Any,
) -> dict[str, Any]:
    """An NSG security rule as Azure returns it: singular fields used, plural ones [] (unless given)."""
    props: dict[str, Any] = {
        "protocol": protocol,
        "sourcePortRange": "*",
        "destinationPortRange": port,
        "sourceAddressPrefix": source,
        "destinationAddressPrefix": destination,
        "access": access,
        "priority": priority,
        "direction": direction,
        "sourcePortRanges": [],
        "destinationPortRanges": [],
        "sourceAddressPrefixes": [],
        "destinationAddressPrefixes": [],
    }
    if description is None:
        description = deny_description() if access == "Deny" else allow_description()
    if description:
        props["description"] = description
    for key, value in plural.items():
        singular = key[:-2] if key.endswith("es") and key.startswith(("source", "destination")) else key[:-1]
        props[singular] = ""
        props[key] = value
    return {"name": name, "id": f"{NSG_ID}/securityRules/{name}", "properties": props}


def read(*rules: dict[str, Any]) -> list:
    return _nsg_jit_rules({"properties": {"securityRules": list(rules)}})


def grant(
    number: int = 22,
    *,
    sources: tuple[str, ...] = ("203.0.113.7",),
    status: str = "Initiated",
    reason: str = "UserRequested",
    end: datetime = NOW + timedelta(hours=1),
    sequence: int = 1,
    mapped_port: int | None = None,
    vm: str = "vm-web-01",
) -> _Grant:
    return _Grant(
        policy_id=POLICY_ID,
        policy_name="default",
        vm_id=vm_id(vm),
        number=number,
        sources=sources,
        status=status,
        status_reason=reason,
        start_text="2026-11-22T11:00:00.0000000Z",
        end_text=end.strftime("%Y-%m-%dT%H:%M:%S.0000000Z"),
        requestor="jane@contoso.com",
        justification="CHG-1",
        mapped_port=mapped_port,
        sequence=sequence,
    )


def target(
    name: str = "vm-web-01",
    *,
    ip: str | None = "10.0.0.4",
    nsgs: tuple[str, ...] = (NSG_ID.lower(),),
    ports: tuple[tuple[int, str], ...] = ((22, "TCP"),),
    grants: tuple[_Grant, ...] = (),
    policy: bool = True,
    exists: bool = True,
    path_known: bool = True,
    firewall: str | None = None,
    firewall_ip: str | None = None,
) -> _VmTarget:
    return _VmTarget(
        id=vm_id(name),
        name=name,
        exists=exists,
        path_known=path_known,
        private_ip=ip,
        nsgs=nsgs,
        firewall=firewall,
        firewall_ip=firewall_ip,
        policy_id=POLICY_ID if policy else None,
        policy_name="default" if policy else None,
        ports=ports if policy else (),
        grants=grants,
    )


def judge(rules: list[dict[str, Any]], vms: list[_VmTarget], now: datetime = NOW):
    verdicts, missing = _judge_nsg(NSG_ID, read(*rules), vms, now)
    return verdicts, missing


def one(rules: list[dict[str, Any]], vms: list[_VmTarget], now: datetime = NOW):
    verdicts, _missing = judge(rules, vms, now)
    assert len(verdicts) == 1
    return verdicts[0]


# ---------------------------------------------------------------------------------------------------
# Names and descriptions
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [None, 42, ["SecurityCenter-JITRule"]])
def test_rule_kind_of_a_non_string_is_none(name: object) -> None:
    # Real names and look-alikes are the contract's (tests/contract/jit.yml, test_jit_contract.py).
    assert _jit_rule_kind(name) is None


def test_descriptions_of_both_kinds_are_parsed() -> None:
    assert _parse_description(deny_description("vm-web-01", "default")) == ("default", "vm-web-01", False)
    assert _parse_description(allow_description("vm-both-01", "team-a")) == ("team-a", "vm-both-01", True)
    assert _parse_description("asc jit network access rule for policy 'p' of vm 'v'") == ("p", "v", False)
    assert _parse_description("hand-written") == (None, None, None)
    assert _parse_description(None) == (None, None, None)


# ---------------------------------------------------------------------------------------------------
# Ports and fields
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("*", (0, 65535)),
        ("22", (22, 22)),
        (" 3389 ", (3389, 3389)),
        ("20-25", (20, 25)),
        ("22-22", (22, 22)),
        ("25-20", None),
        ("70000", None),
        ("1-70000", None),
        ("ssh", None),
        ("", None),
        ("-5", None),
    ],
)
def test_port_range(spec: str, expected: tuple[int, int] | None) -> None:
    assert _port_range(spec) == expected


def test_ports_cover_and_single_port() -> None:
    assert _ports_cover(["20-25"], 22)
    assert _ports_cover(["80", "*"], 3389)
    assert not _ports_cover(["20-21", "23"], 22)
    assert not _ports_cover(["junk"], 22)
    assert _single_port(["22"]) == 22
    assert _single_port(["22-22"]) == 22
    assert _single_port(["20-25"]) is None
    assert _single_port(["*"]) is None
    assert _single_port(["22", "23"]) is None
    assert _single_port([]) is None


def test_field_values_singular_or_plural() -> None:
    # Azure's shape: the unused plural is [].
    assert _field_values(
        {"destinationPortRange": "22", "destinationPortRanges": []}, "destinationPortRange", "destinationPortRanges"
    ) == ("22",)
    # The plural wins when set (the singular is then absent or empty).
    props = {"destinationPortRange": "", "destinationPortRanges": ["22", "3389-3390"]}
    assert _field_values(props, "destinationPortRange", "destinationPortRanges") == ("22", "3389-3390")
    assert _field_values({"sourceAddressPrefixes": "10.0.0.0/8"}, "sourceAddressPrefix", "sourceAddressPrefixes") == (
        "10.0.0.0/8",
    )
    assert _field_values({}, "sourceAddressPrefix", "sourceAddressPrefixes") == ()


def test_read_rule_with_plural_fields() -> None:
    rule = nsg_rule(
        destinationPortRanges=["22", "2222"],
        sourceAddressPrefixes=["10.0.0.0/8", "192.168.0.0/16"],
        destinationAddressPrefixes=["10.0.0.4"],
    )
    parsed = _read_nsg_rule(rule)
    assert parsed.kind == "deny"
    assert parsed.ports == ("22", "2222")
    assert parsed.sources == ("10.0.0.0/8", "192.168.0.0/16")
    assert parsed.destinations == ("10.0.0.4",)
    assert (parsed.policy_name, parsed.vm_name, parsed.for_request) == ("default", "vm-web-01", False)
    assert parsed.priority == 1000


def test_read_rule_without_properties_envelope() -> None:
    flat = {"name": ALLOW_NAME, "destinationPortRange": "3389", "sourceAddressPrefix": "1.2.3.4", "access": "Allow"}
    parsed = _read_nsg_rule(flat)
    assert (parsed.kind, parsed.ports, parsed.sources, parsed.access) == ("allow", ("3389",), ("1.2.3.4",), "Allow")


def test_only_jit_named_rules_are_read_from_an_nsg() -> None:
    nsg = {
        "properties": {
            "securityRules": [
                nsg_rule(DENY_NAME),
                nsg_rule("allow-https", access="Allow"),
                nsg_rule("SecurityCenter-JITRule-allow-ssh", access="Allow"),
            ],
            "defaultSecurityRules": [nsg_rule(f"SecurityCenter-JITRule-1-{HEX}")],
        }
    }
    assert [(r.name, r.kind) for r in _nsg_jit_rules(nsg)] == [
        (DENY_NAME, "deny"),
        ("SecurityCenter-JITRule-allow-ssh", "unknown"),
    ]


# ---------------------------------------------------------------------------------------------------
# Requests
# ---------------------------------------------------------------------------------------------------


def policy_with_requests() -> dict[str, Any]:
    return {
        "id": POLICY_ID,
        "name": "default",
        "properties": {
            "virtualMachines": [],
            "requests": [
                {
                    "startTimeUtc": "2026-11-22T10:00:00.0000000Z",
                    "requestor": "old@contoso.com",
                    "virtualMachines": [
                        {
                            "id": vm_id("vm-web-01"),
                            "ports": [
                                {
                                    "number": 22,
                                    "endTimeUtc": "2026-11-22T13:00:00.0000000Z",
                                    "status": "Revoked",
                                    "statusReason": "NewerRequestInitiated",
                                    "allowedSourceAddressPrefix": "198.51.100.1",
                                }
                            ],
                        }
                    ],
                },
                {
                    "startTimeUtc": "2026-11-22T11:00:00.0000000Z",
                    "requestor": "jane@contoso.com",
                    "justification": "CHG-1",
                    "virtualMachines": [
                        {
                            "id": vm_id("vm-web-01"),
                            "ports": [
                                {
                                    "number": 22,
                                    "endTimeUtc": "2026-11-22T12:30:00.0000000Z",
                                    "status": "Initiated",
                                    "statusReason": "UserRequested",
                                    "allowedSourceAddressPrefixes": ["203.0.113.7", "203.0.113.8"],
                                    "mappedPort": 50001,
                                },
                                {"number": "junk"},
                            ],
                        }
                    ],
                },
            ],
        },
    }


def test_grants_and_request_rows_by_azures_clock() -> None:
    old, new = _grants_from_policy(policy_with_requests())
    assert (old.sequence, new.sequence) == (1, 2)
    assert old.ended(NOW) and old.seconds_left(NOW) == 0
    assert not new.ended(NOW)
    assert new.seconds_left(NOW) == 1800
    row = _request_row(new, NOW, "TCP")
    assert row == {
        "policy": {"name": "default", "id": POLICY_ID},
        "vm": {"name": "vm-web-01", "id": vm_id("vm-web-01")},
        "port": 22,
        "protocol": "TCP",
        "status": "Initiated",
        "status_reason": "UserRequested",
        "requestor": "jane@contoso.com",
        "justification": "CHG-1",
        "start_time_utc": "2026-11-22T11:00:00.0000000Z",
        "end_time_utc": "2026-11-22T12:30:00.0000000Z",
        "seconds_left": 1800,
        "active": True,
        "allowed_source": ["203.0.113.7", "203.0.113.8"],
        "mapped_port": 50001,
    }
    assert "mapped_port" not in _request_row(old, NOW)
    # Still Initiated, but Azure's clock has passed the end time: ended.
    later = datetime(2026, 11, 22, 12, 30, tzinfo=UTC)
    assert new.ended(later)
    assert _request_row(new, later)["seconds_left"] == 0
    assert _request_row(new, later)["active"] is False


# ---------------------------------------------------------------------------------------------------
# Deny rules
# ---------------------------------------------------------------------------------------------------


def test_deny_rule_as_jit_writes_it_is_active() -> None:
    verdict = one([nsg_rule()], [target()])
    assert (verdict.state, verdict.reasons, verdict.port) == ("active", [], 22)
    assert verdict.vm is not None and verdict.vm.name == "vm-web-01"


def test_deny_rule_with_plural_fields_and_any_protocol_is_active() -> None:
    rule = nsg_rule(protocol="*", destinationPortRanges=["22"], destinationAddressPrefixes=["10.0.0.4/32"])
    verdict = one([rule], [target(ports=((22, "*"),))])
    assert (verdict.state, verdict.reasons) == ("active", [])


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"port": "2222"}, "destination port is 2222, not the policy's port 22"),
        ({"port": "20-25"}, "destination port is 20-25, not the policy's port 22"),
        ({"port": "*"}, "destination port is *, not the policy's port 22"),
        ({"protocol": "Udp"}, "protocol is Udp, not the policy's TCP"),
        ({"source": "10.0.0.0/8"}, "source is 10.0.0.0/8, not any (*)"),
        ({"destination": "10.0.0.9"}, "destination is 10.0.0.9, not the VM's private IP 10.0.0.4"),
        ({"destination": "*"}, "destination is any (*), not the VM's private IP 10.0.0.4"),
        ({"access": "Allow", "description": deny_description()}, "access is Allow, not Deny"),
        ({"direction": "Outbound"}, "direction is Outbound, not Inbound"),
    ],
)
def test_deny_rule_drift_reasons(change: dict[str, Any], reason: str) -> None:
    verdict = one([nsg_rule(**change)], [target()])
    assert verdict.state == "drifted"
    assert verdict.reasons == [reason]
    assert verdict.vm is not None and verdict.vm.name == "vm-web-01"


def test_deny_rule_with_plural_sources_drifts_with_every_source_named() -> None:
    verdict = one([nsg_rule(sourceAddressPrefixes=["10.0.0.0/8", "192.168.0.0/16"])], [target()])
    assert verdict.reasons == ["sources are 10.0.0.0/8, 192.168.0.0/16, not any (*)"]


def test_several_drift_reasons_in_the_checklist_order() -> None:
    rule = nsg_rule(port="2222", protocol="Udp", source="1.2.3.4", destination="10.0.0.9")
    verdict = one([rule], [target()])
    assert verdict.reasons == [
        "destination port is 2222, not the policy's port 22",
        "protocol is Udp, not the policy's TCP",
        "source is 1.2.3.4, not any (*)",
        "destination is 10.0.0.9, not the VM's private IP 10.0.0.4",
    ]


def test_destination_is_not_checked_when_the_private_ip_is_unknown() -> None:
    verdict = one([nsg_rule(destination="10.9.9.9")], [target(ip=None)])
    assert verdict.state == "active"


def test_deny_rule_for_a_port_not_in_the_policy_is_orphaned_when_the_port_has_its_rule() -> None:
    rules = [nsg_rule(priority=1000), nsg_rule(f"SecurityCenter-JITRule_1_{'A' * 32}", port="3389", priority=1001)]
    verdicts, missing = judge(rules, [target()])
    assert [v.state for v in verdicts] == ["active", "orphaned"]
    assert verdicts[1].reasons == ["port 3389 is not a JIT port of VM vm-web-01 in policy 'default' (its ports: 22)"]
    assert missing == []


def test_missing_deny_rule_is_reported() -> None:
    vm = target(ports=((22, "TCP"), (3389, "TCP")))
    verdicts, missing = judge([nsg_rule()], [vm])
    assert [v.state for v in verdicts] == ["active"]
    assert [(m.kind, m.port, m.reason) for m in missing] == [
        ("deny", 3389, "no JIT deny rule for port 3389 of VM vm-web-01")
    ]
    assert _missing_result(missing[0], "nic")["nsg"] == {"name": "nsg-web-01", "id": NSG_ID}


# ---------------------------------------------------------------------------------------------------
# Orphaned rules
# ---------------------------------------------------------------------------------------------------


def test_rule_naming_a_vm_that_does_not_exist_is_orphaned() -> None:
    verdict = one([nsg_rule(description=deny_description("vm-ghost"), destination="10.0.0.99")], [target()])
    assert verdict.state == "orphaned"
    assert verdict.vm is None
    assert verdict.reasons == ["VM 'vm-ghost' named in the rule's description does not exist (among the VMs read)"]


def test_rule_of_a_deleted_vm_still_in_the_policy_is_orphaned() -> None:
    ghost = target("vm-gone", exists=False, nsgs=(), ip=None)
    verdict = one([nsg_rule(description=deny_description("vm-gone"))], [target(), ghost])
    assert verdict.state == "orphaned"
    assert verdict.vm is ghost
    assert verdict.reasons == ["VM vm-gone no longer exists (policy 'default' still lists it)"]


def test_rule_of_a_vm_not_behind_this_nsg_is_orphaned() -> None:
    other = target("vm-other", nsgs=("/some/other/nsg",), ip="10.0.0.7")
    verdict = one([nsg_rule(description=deny_description("vm-other"), destination="10.0.0.7")], [target(), other])
    assert verdict.state == "orphaned"
    assert verdict.reasons == ["VM vm-other is not behind this NSG (it is not on the VM's NIC or subnet)"]


def test_rule_of_a_vm_whose_path_was_not_read_is_judged_not_orphaned() -> None:
    other = target("vm-other", nsgs=(), path_known=False, ip="10.0.0.7")
    verdict = one([nsg_rule(description=deny_description("vm-other"), destination="10.0.0.7")], [other])
    assert verdict.state == "active"


def test_rule_of_a_vm_in_no_policy_is_orphaned() -> None:
    verdict = one([nsg_rule()], [target(policy=False)])
    assert verdict.state == "orphaned"
    assert verdict.reasons == ["VM vm-web-01 is in no JIT policy (the rule's description names policy 'default')"]
    assert _verdict_result(verdict, "nic")["policy"] is None


def test_without_description_the_vm_is_found_by_destination() -> None:
    verdict = one([nsg_rule(description="")], [target("vm-a", ip="10.0.0.5"), target()])
    assert verdict.state == "active"
    assert verdict.vm is not None and verdict.vm.name == "vm-web-01"
    orphan = one([nsg_rule(description="", destination="10.0.0.99")], [target()])
    assert orphan.state == "orphaned"
    assert orphan.vm is None
    assert orphan.reasons == ["the rule's description names no VM and its destination matches no VM behind this NSG"]


def test_lookalike_name_is_kind_unknown_and_orphaned() -> None:
    verdict = one([nsg_rule("SecurityCenter-JITRule-allow-ssh", access="Allow", source="*")], [target()])
    assert verdict.rule.kind == "unknown"
    assert verdict.state == "orphaned"
    assert "does not follow JIT's naming" in verdict.reasons[0]
    assert "will never remove it" in verdict.reasons[0]
    assert verdict.vm is not None and verdict.vm.name == "vm-web-01"


# ---------------------------------------------------------------------------------------------------
# Allow rules
# ---------------------------------------------------------------------------------------------------


def allow_rule(**change: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"source": "203.0.113.7", "access": "Allow", "priority": 100}
    values.update(change)
    return nsg_rule(ALLOW_NAME, **values)


def test_allow_rule_of_a_live_request_is_active_and_tied_to_it() -> None:
    live = grant()
    verdict = one([allow_rule()], [target(grants=(live,))])
    assert (verdict.state, verdict.reasons, verdict.grant) == ("active", [], live)
    result = _verdict_result(verdict, "nic", "nsg-web-01")
    assert result["request"] == {
        "start_time_utc": "2026-11-22T11:00:00.0000000Z",
        "end_time_utc": "2026-11-22T13:00:00.0000000Z",
        "requestor": "jane@contoso.com",
        "status": "Initiated",
        "status_reason": "UserRequested",
    }
    assert result["kind"] == "allow"
    assert result["nsg"] == {"name": "nsg-web-01", "id": NSG_ID}
    assert result["firewall"] is None
    assert result["scope"] == "nic"
    assert result["ports"] == ["22"]
    assert result["sources"] == ["203.0.113.7"]
    assert result["destinations"] == ["10.0.0.4"]
    assert result["vm"] == {"name": "vm-web-01", "id": vm_id("vm-web-01")}
    assert result["policy"] == {"name": "default", "id": POLICY_ID}


def test_allow_rule_expiry_is_judged_by_the_given_clock() -> None:
    live = grant(end=datetime(2026, 11, 22, 12, 30, tzinfo=UTC))
    vm = target(grants=(live,))
    assert one([allow_rule()], [vm], now=datetime(2026, 11, 22, 12, 29, 59, tzinfo=UTC)).state == "active"
    verdict = one([allow_rule()], [vm], now=datetime(2026, 11, 22, 12, 30, tzinfo=UTC))
    assert verdict.state == "expired"
    assert verdict.reasons == [
        "its request of 2026-11-22T11:00:00.0000000Z by jane@contoso.com ended at 2026-11-22T12:30:00.0000000Z "
        "(Azure's clock says 2026-11-22T12:30:00Z) but the rule is still there"
    ]


def test_allow_rule_of_a_revoked_request_is_expired() -> None:
    revoked = grant(status="Revoked", reason="Expired")
    verdict = one([allow_rule()], [target(grants=(revoked,))])
    assert verdict.state == "expired"
    assert verdict.reasons == [
        "its request of 2026-11-22T11:00:00.0000000Z by jane@contoso.com ended (Revoked/Expired) but the rule is "
        "still there"
    ]


def test_expired_and_drifted_rule_says_both() -> None:
    revoked = grant(status="Revoked", reason="Expired")
    verdict = one([allow_rule(destination="10.0.0.9")], [target(grants=(revoked,))])
    assert verdict.state == "expired"
    assert verdict.reasons[1] == "destination is 10.0.0.9, not the VM's private IP 10.0.0.4"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"source": "198.51.100.9"}, "source is 198.51.100.9, not the request's 203.0.113.7"),
        ({"source": "*"}, "source is any (*), not the request's 203.0.113.7"),
        ({"port": "2222"}, "destination port is 2222, not the requested port 22"),
        ({"protocol": "Udp"}, "protocol is Udp, not the policy's TCP"),
        ({"destination": "10.0.0.9"}, "destination is 10.0.0.9, not the VM's private IP 10.0.0.4"),
        ({"access": "Deny"}, "access is Deny, not Allow"),
    ],
)
def test_allow_rule_drift_reasons(change: dict[str, Any], reason: str) -> None:
    verdict = one([allow_rule(**change)], [target(grants=(grant(),))])
    assert verdict.state == "drifted"
    assert verdict.reasons == [reason]


def test_allow_rule_sources_compare_as_sets_and_addresses_as_hosts() -> None:
    live = grant(sources=("203.0.113.7", "203.0.113.8"))
    rule = allow_rule(sourceAddressPrefixes=["203.0.113.8/32", "203.0.113.7"])
    assert one([rule], [target(grants=(live,))]).state == "active"


def test_allow_rule_without_any_request_is_orphaned() -> None:
    verdict = one([allow_rule()], [target()])
    assert verdict.state == "orphaned"
    assert verdict.reasons == ["no request of policy 'default' opened port 22 of VM vm-web-01"]


def test_allow_rule_pairs_with_the_request_of_its_sources() -> None:
    old = grant(sources=("198.51.100.1",), status="Revoked", reason="NewerRequestInitiated", sequence=1)
    new = grant(sources=("203.0.113.7",), sequence=2)
    vm = target(grants=(old, new))
    rules = [allow_rule(source="198.51.100.1"), allow_rule(source="203.0.113.7", priority=101), nsg_rule()]
    verdicts, missing = judge(rules, [vm])
    assert [(v.state, v.grant) for v in verdicts] == [("expired", old), ("active", new), ("active", None)]
    assert missing == []


def test_missing_allow_rule_of_a_live_request_is_reported() -> None:
    vm = target(grants=(grant(),))
    verdicts, missing = judge([nsg_rule()], [vm])
    assert [v.state for v in verdicts] == ["active"]
    assert [(m.kind, m.port) for m in missing] == [("allow", 22)]
    assert missing[0].reason == "no JIT allow rule for the live request of port 22 of VM vm-web-01"
    # An ended request needs no rule.
    _verdicts, none_missing = judge([nsg_rule()], [target(grants=(grant(status="Revoked", reason="Expired"),))])
    assert none_missing == []


# ---------------------------------------------------------------------------------------------------
# Azure Firewall DNAT rules
# ---------------------------------------------------------------------------------------------------


def firewall(*rules: dict[str, Any], collection: str = "ASC-JIT-42") -> dict[str, Any]:
    return {
        "id": FW_ID,
        "name": "fw-hub",
        "properties": {
            "natRuleCollections": [
                {"name": collection, "properties": {"priority": 100, "action": {"type": "Dnat"}, "rules": list(rules)}},
                {
                    "name": "corp-nat",
                    "properties": {
                        "priority": 200,
                        "rules": [{"name": "web", "destinationPorts": ["443"], "translatedAddress": "10.20.1.9"}],
                    },
                },
            ]
        },
    }


def dnat(**change: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "name": f"SecurityCenter-JITRule-99-{HEX}",
        "description": allow_description("vm-fw-01"),
        "sourceAddresses": ["203.0.113.7"],
        "destinationAddresses": ["198.51.100.2"],
        "destinationPorts": ["50000"],
        "protocols": ["TCP"],
        "translatedAddress": "10.20.1.4",
        "translatedPort": "22",
    }
    rule.update(change)
    return rule


def fw_target(*grants: _Grant, **kwargs: Any) -> _VmTarget:
    return target(
        "vm-fw-01",
        ip="10.20.1.4",
        nsgs=(),
        firewall=FW_ID.lower(),
        firewall_ip="198.51.100.2",
        grants=grants,
        **kwargs,
    )


def test_firewall_rules_are_read_from_the_asc_collection_and_by_name() -> None:
    body = firewall(dnat(), dnat(name="hand-made-in-asc"))
    body["properties"]["natRuleCollections"][1]["properties"]["rules"].append(dnat(name="SecurityCenter-JITRule-x"))
    rules = _firewall_jit_rules(body)
    assert [(r.name, r.kind, r.collection) for r in rules] == [
        (f"SecurityCenter-JITRule-99-{HEX}", "dnat", "ASC-JIT-42"),
        ("hand-made-in-asc", "dnat", "ASC-JIT-42"),
        ("SecurityCenter-JITRule-x", "unknown", "corp-nat"),
    ]
    assert rules[0].protocol == "TCP"
    assert _firewall_jit_rules(firewall(dnat(protocols=["TCP", "UDP"])))[0].protocol == "*"


def test_dnat_rule_of_a_live_request_is_active() -> None:
    live = grant(mapped_port=50000, vm="vm-fw-01")
    verdicts, missing = _judge_firewall(FW_ID, _firewall_jit_rules(firewall(dnat())), [fw_target(live)], NOW)
    assert [(v.state, v.reasons, v.grant) for v in verdicts] == [("active", [], live)]
    assert missing == []
    result = _verdict_result(verdicts[0], None, "fw-hub")
    assert result["kind"] == "dnat"
    assert result["scope"] == "firewall"
    assert result["nsg"] is None
    assert result["firewall"] == {"name": "fw-hub", "id": FW_ID, "nat_rule_collection": "ASC-JIT-42"}
    assert result["ports"] == ["50000"]
    assert result["destinations"] == ["198.51.100.2"]
    assert (result["translated_address"], result["translated_port"]) == ("10.20.1.4", "22")
    assert result["access"] == "Dnat"
    assert result["priority"] == 100


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"translatedAddress": "10.20.1.9"}, "translated address is 10.20.1.9, not the VM's private IP 10.20.1.4"),
        ({"translatedPort": "2222"}, "translated port is 2222, not the requested port 22"),
        ({"sourceAddresses": ["*"]}, "source is any (*), not the request's 203.0.113.7"),
        (
            {"destinationAddresses": ["198.51.100.3"]},
            "destination is 198.51.100.3, not the firewall's public IP 198.51.100.2",
        ),
        ({"protocols": ["UDP"]}, "protocols are UDP, not TCP (the policy's TCP)"),
    ],
)
def test_dnat_rule_drift_reasons(change: dict[str, Any], reason: str) -> None:
    live = grant(mapped_port=50000, vm="vm-fw-01")
    verdicts, _missing = _judge_firewall(FW_ID, _firewall_jit_rules(firewall(dnat(**change))), [fw_target(live)], NOW)
    assert [(v.state, v.reasons) for v in verdicts] == [("drifted", [reason])]


def test_dnat_rule_on_another_mapped_port_drifts_against_the_live_request() -> None:
    live = grant(mapped_port=50000, vm="vm-fw-01")
    rules = _firewall_jit_rules(firewall(dnat(destinationPorts=["50001"], translatedPort="3389")))
    verdicts, _missing = _judge_firewall(FW_ID, rules, [fw_target(live)], NOW)
    assert verdicts[0].state == "drifted"
    assert verdicts[0].reasons == [
        "destination port is 50001, not the request's mapped port 50000",
        "translated port is 3389, not the requested port 22",
    ]


def test_dnat_rule_expired_orphaned_and_missing() -> None:
    ended = grant(mapped_port=50000, vm="vm-fw-01", status="Revoked", reason="Expired")
    verdicts, missing = _judge_firewall(FW_ID, _firewall_jit_rules(firewall(dnat())), [fw_target(ended)], NOW)
    assert verdicts[0].state == "expired"
    assert missing == []

    verdicts, _missing = _judge_firewall(FW_ID, _firewall_jit_rules(firewall(dnat())), [fw_target()], NOW)
    assert (verdicts[0].state, verdicts[0].reasons) == (
        "orphaned",
        ["no request of policy 'default' opened port 22 of VM vm-fw-01"],
    )

    live = grant(mapped_port=50000, vm="vm-fw-01")
    verdicts, missing = _judge_firewall(FW_ID, [], [fw_target(live)], NOW)
    assert verdicts == []
    assert [(m.kind, m.port) for m in missing] == [("dnat", 22)]
    assert "mapped port 50000" in missing[0].reason
    assert _missing_result(missing[0], None)["firewall"] == {"name": "fw-hub", "id": FW_ID}
    assert _missing_result(missing[0], None)["scope"] == "firewall"


def test_dnat_rule_of_a_vm_not_behind_the_firewall_is_orphaned() -> None:
    elsewhere = fw_target(grant(mapped_port=50000, vm="vm-fw-01"))
    elsewhere = _VmTarget(**{**elsewhere.__dict__, "firewall": "/other/firewall"})
    verdicts, missing = _judge_firewall(FW_ID, _firewall_jit_rules(firewall(dnat())), [elsewhere], NOW)
    assert verdicts[0].state == "orphaned"
    assert verdicts[0].reasons == ["VM vm-fw-01 is not behind this firewall (it is not on the VM's NIC or subnet)"]
    assert missing == []


# ---------------------------------------------------------------------------------------------------
# Shadowing: an earlier Allow rule of the same NSG lets the port in
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("allow", "shadowed"),
    [
        ({"priority": 300, "source": "Internet", "destination": "*"}, True),
        ({"priority": 300, "source": "*", "destination": "10.0.0.4"}, True),
        ({"priority": 300, "source": "*", "destination": "10.0.0.0/24"}, True),
        ({"priority": 300, "source": "*", "destination": "VirtualNetwork"}, True),
        ({"priority": 300, "source": "*", "destination": "10.0.1.0/24"}, False),  # another subnet
        ({"priority": 300, "source": "*", "destination": "*", "port": "3389"}, False),  # another port
        ({"priority": 300, "source": "*", "destination": "*", "port": "20-30"}, True),
        ({"priority": 300, "source": "*", "destination": "*", "protocol": "Udp"}, False),  # the deny is TCP
        ({"priority": 300, "source": "*", "destination": "*", "protocol": "Icmp"}, False),
        ({"priority": 4000, "source": "*", "destination": "*"}, False),  # after the deny rule
        ({"priority": 300, "source": "*", "destination": "*", "access": "Deny"}, False),
        ({"priority": 300, "source": "*", "destination": "*", "direction": "Outbound"}, False),
        # A hand-made rule named like JIT's is not JIT's: it opens the port like any other.
        ({"priority": 300, "source": "*", "destination": "*", "name": "SecurityCenter-JITRule-ssh-open"}, True),
        # Aimed at an application security group: members are not read, so it is taken to reach the VM.
        ({"priority": 300, "source": "*", "destination": "", "asg": True}, True),
    ],
)
def test_an_earlier_allow_rule_shadows_the_deny_rule(allow: dict[str, Any], shadowed: bool) -> None:
    from ansible_collections.azsecops.jit.plugins.module_utils._deny_rules import _judge_port, _read_nsg
    from ansible_collections.azsecops.jit.plugins.module_utils._nsg_rules import _nsg_open_rules

    deny = nsg_rule(DENY_NAME, port="22", priority=1000, access="Deny", source="*", destination="10.0.0.4")
    other = open_rule(allow)
    nsg = {"id": NSG_ID, "name": "nsg-web-01", "properties": {"securityRules": [other, deny]}}
    verdicts, _missing = _judge_nsg(NSG_ID, _nsg_jit_rules(nsg), [web_target()], NOW, _nsg_open_rules(nsg))
    [verdict] = [v for v in verdicts if v.rule.name == DENY_NAME]  # a look-alike gets its own (unknown) verdict
    assert verdict.state == ("shadowed" if shadowed else "active"), verdict.reasons
    assert (verdict.shadowed_by is not None) is shadowed
    # jit_policy's onboarding check reads the same NSG the same way (one rule for both modules).
    present, shadows = _judge_port(_read_nsg(nsg), "10.0.0.4", 22, "TCP")
    assert present is True
    assert [s.rule for s in shadows] == ([other["name"]] if shadowed else [])
    assert all(s.to_asg is bool(allow.get("asg")) and s.deny_priority == 1000 for s in shadows)


def open_rule(allow: dict[str, Any]) -> dict[str, Any]:
    """A hand-made security rule from a short spec (Allow, inbound, TCP, port 22 unless said)."""
    props: dict[str, Any] = {
        "priority": allow["priority"],
        "direction": allow.get("direction", "Inbound"),
        "access": allow.get("access", "Allow"),
        "protocol": allow.get("protocol", "Tcp"),
        "destinationPortRange": allow.get("port", "22"),
        "sourceAddressPrefix": allow["source"],
        "destinationAddressPrefix": allow["destination"],
    }
    if allow.get("asg"):
        props["destinationApplicationSecurityGroups"] = [{"id": f"{NSG_ID.rsplit('/', 2)[0]}/asg-web"}]
    return {"name": allow.get("name", "hand-made"), "properties": props}


def web_target() -> _VmTarget:
    return _VmTarget(
        id=vm_id("vm-web-01"),
        private_ip="10.0.0.4",
        nsgs=(NSG_ID.lower(),),
        policy_id=POLICY_ID,
        policy_name="default",
        ports=((22, "TCP"),),
    )


def test_every_rule_ahead_is_listed_and_the_first_decides() -> None:
    from ansible_collections.azsecops.jit.plugins.module_utils._deny_rules import _judge_port, _read_nsg
    from ansible_collections.azsecops.jit.plugins.module_utils._nsg_rules import _nsg_open_rules

    deny = nsg_rule(DENY_NAME, port="22", priority=1000, access="Deny", source="*", destination="10.0.0.4")
    later = open_rule({"priority": 500, "source": "Internet", "destination": "*", "name": "allow-ssh-internet"})
    first = open_rule({"priority": 200, "source": "10.1.0.0/16", "destination": "10.0.0.4", "name": "allow-ssh-hub"})
    after = open_rule({"priority": 2000, "source": "*", "destination": "*", "name": "allow-after-jit"})
    nsg = {"id": NSG_ID, "name": "nsg-web-01", "properties": {"securityRules": [later, deny, after, first]}}
    present, shadows = _judge_port(_read_nsg(nsg), "10.0.0.4", 22, "TCP")
    assert present is True
    assert [(s.rule, s.priority, s.sources) for s in shadows] == [
        ("allow-ssh-hub", 200, ("10.1.0.0/16",)),
        ("allow-ssh-internet", 500, ("Internet",)),
    ]
    [verdict], _missing = _judge_nsg(NSG_ID, _nsg_jit_rules(nsg), [web_target()], NOW, _nsg_open_rules(nsg))
    assert verdict.shadowed_by is not None and verdict.shadowed_by.name == "allow-ssh-hub"


def test_before_onboarding_every_allow_rule_for_the_port_comes_first() -> None:
    # No deny rule yet: Azure places it after the rules already there for the port, so each of them wins.
    from ansible_collections.azsecops.jit.plugins.module_utils._deny_rules import _judge_port, _read_nsg

    high = open_rule({"priority": 4000, "source": "*", "destination": "*", "name": "allow-ssh-late"})
    rdp = open_rule({"priority": 100, "source": "*", "destination": "*", "port": "3389", "name": "allow-rdp"})
    nsg = {"id": NSG_ID, "name": "nsg-web-01", "properties": {"securityRules": [high, rdp]}}
    present, shadows = _judge_port(_read_nsg(nsg), "10.0.0.4", 22, "TCP")
    assert present is False
    assert [(s.rule, s.deny_priority) for s in shadows] == [("allow-ssh-late", None)]
