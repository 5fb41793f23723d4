"""JIT rule naming, placement and removal on NSGs and classic Azure Firewalls (jit_emulator.nsg)."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jit_emulator import nsg
from jit_emulator.errors import ArmError

SUB = "20ff7fc3-e762-44dd-bd96-b71116dcdc23"
NSG_ID = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg1"
POLICY_ID = (
    f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Security/locations/westeurope/"
    "jitNetworkAccessPolicies/default"
)
VM1 = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1"
VM2 = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm2"
IP1 = "10.0.0.4"
IP2 = "10.0.0.5"
ALLOW_DESCRIPTION = "MDC JIT Network Access rule created by an initiation request for policy 'default' of VM 'vm1'."
PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)


def rule(
    name: str,
    priority: int,
    port: str | list[str] = "22",
    *,
    access: str = "Allow",
    direction: str = "Inbound",
):
    props: dict[str, Any] = {
        "protocol": "Tcp",
        "sourcePortRange": "*",
        "sourceAddressPrefix": "*",
        "destinationAddressPrefix": "*",
        "access": access,
        "priority": priority,
        "direction": direction,
        "provisioningState": "Succeeded",
    }
    if isinstance(port, list):
        props["destinationPortRanges"] = port
    else:
        props["destinationPortRange"] = port
    return {"name": name, "id": f"{NSG_ID}/securityRules/{name}", "type": nsg.RULE_TYPE, "properties": props}


def make_nsg(*rules: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": NSG_ID,
        "name": "nsg1",
        "type": "Microsoft.Network/networkSecurityGroups",
        "location": "westeurope",
        "properties": {
            "securityRules": list(rules),
            "defaultSecurityRules": [rule("AllowVnetInBound", 65000)],
        },
    }


def port(number: int, protocol: str = "*") -> dict[str, Any]:
    return {
        "number": number,
        "protocol": protocol,
        "allowedSourceAddressPrefix": "*",
        "maxRequestAccessDuration": "PT3H",
    }


def apply(body: dict[str, Any], ports: list[dict[str, Any]], vm_id: str = VM1, ip: str = IP1) -> dict[str, Any]:
    return nsg.apply_deny_rules(
        body,
        policy_id=POLICY_ID,
        policy_name="default",
        vm_id=vm_id,
        vm_name=vm_id.rsplit("/", 1)[-1],
        private_ip=ip,
        ports=ports,
    )


def allow(body: dict[str, Any], grants: list[dict[str, Any]], key: str = "k1", vm_id: str = VM1):
    return nsg.add_allow_rules(
        body,
        policy_id=POLICY_ID,
        policy_name="default",
        vm_id=vm_id,
        vm_name=vm_id.rsplit("/", 1)[-1],
        private_ip=IP1,
        grants=grants,
        request_key=key,
    )


def rules_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    return body["properties"]["securityRules"]


def by_name(body: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in rules_of(body) if r["name"] == name)


def priority_of(body: dict[str, Any], name: str) -> int:
    return by_name(body, name)["properties"]["priority"]


def deny_name(number: int, vm_id: str = VM1) -> str:
    return nsg.deny_rule_name(POLICY_ID, vm_id, number)


# --- names -------------------------------------------------------------------------------------------


# Which names are JIT's (real ones of both generations, look-alikes): tests/contract/jit.yml's rule_names, read
# by emulator/tests/test_contract.py and the collection's unit tests alike.


def test_deny_rule_name_has_the_real_shape_and_is_deterministic() -> None:
    name = nsg.deny_rule_name(POLICY_ID, VM1, 22)
    assert nsg.jit_rule_kind(name) == "deny"
    assert re.fullmatch(r"MicrosoftDefenderForCloud-JITRule_-?\d+_[0-9A-F]{32}", name)
    value = int(name.split("_")[1])
    assert -(2**31) <= value < 2**31
    assert name == nsg.deny_rule_name(POLICY_ID.upper(), VM1.lower(), 22)
    assert name != nsg.deny_rule_name(POLICY_ID, VM1, 3389)
    assert name != nsg.deny_rule_name(POLICY_ID, VM2, 22)
    legacy = nsg.deny_rule_name(POLICY_ID, VM1, 22, nsg.LEGACY)
    assert legacy == name.replace("MicrosoftDefenderForCloud-JITRule", "SecurityCenter-JITRule")
    assert nsg.deny_rule_names(POLICY_ID, VM1, 22) == {name, legacy}
    # Over many VMs the int takes both signs, as in real NSGs.
    ints = {int(nsg.deny_rule_name(POLICY_ID, f"{VM1}{i}", 22).split("_")[1]) < 0 for i in range(40)}
    assert ints == {True, False}


def test_allow_rule_name_shares_the_vms_int_and_depends_on_the_request() -> None:
    first = nsg.allow_rule_name(POLICY_ID, VM1, 22, "2024-01-01T00:00:00Z#1")
    assert nsg.jit_rule_kind(first) == "allow"
    assert re.fullmatch(r"MicrosoftDefenderForCloud-JITRule--?\d+-[0-9A-F]{32}", first)
    assert first == nsg.allow_rule_name(POLICY_ID.lower(), VM1.upper(), 22, "2024-01-01T00:00:00Z#1")
    assert first != nsg.allow_rule_name(POLICY_ID, VM1, 22, "2024-01-01T00:00:00Z#2")
    prefix = "MicrosoftDefenderForCloud-JITRule-"
    vm_int = first[len(prefix) :].rsplit("-", 1)[0]
    assert vm_int == deny_name(22).split("_")[1] == deny_name(3389).split("_")[1]
    assert vm_int != deny_name(22, VM2).split("_")[1]
    # The hex differs per rule.
    assert first.rsplit("-", 1)[1] != deny_name(22).rsplit("_", 1)[1]
    legacy = nsg.allow_rule_name(POLICY_ID, VM1, 22, "2024-01-01T00:00:00Z#1", nsg.LEGACY)
    assert legacy.startswith("SecurityCenter-JITRule-") and nsg.jit_rule_kind(legacy) == "allow"


def test_descriptions_are_exact() -> None:
    assert nsg.deny_description("default", "vm1") == "MDC JIT Network Access rule for policy 'default' of VM 'vm1'."
    assert nsg.allow_description("default", "vm1") == (
        "MDC JIT Network Access rule created by an initiation request for policy 'default' of VM 'vm1'."
    )
    assert nsg.deny_description("default", "WIN", nsg.LEGACY) == (
        "ASC JIT Network Access rule for policy 'default' of VM 'WIN'."
    )
    assert nsg.allow_description("default", "WIN", nsg.LEGACY) == (
        "ASC JIT Network Access rule created by an initiation request for policy 'default' of VM 'WIN'."
    )


@pytest.mark.parametrize(
    ("props", "number", "covered"),
    [
        ({"destinationPortRange": "*"}, 22, True),
        ({"destinationPortRange": "22"}, 22, True),
        ({"destinationPortRange": "22"}, 23, False),
        ({"destinationPortRange": "20-25"}, 20, True),
        ({"destinationPortRange": "20-25"}, 25, True),
        ({"destinationPortRange": "20-25"}, 26, False),
        ({"destinationPortRange": "", "destinationPortRanges": ["22", "3389"]}, 3389, True),
        ({"destinationPortRanges": ["80", "1000-2000"]}, 1500, True),
        ({"destinationPortRanges": ["80", "1000-2000"]}, 22, False),
        # An empty plural list falls back to the singular field, as Azure returns both.
        ({"destinationPortRange": "22", "destinationPortRanges": []}, 22, True),
        ({}, 22, False),
        ({"destinationPortRange": "ssh"}, 22, False),
    ],
)
def test_port_covered(props: dict[str, Any], number: int, covered: bool) -> None:
    assert nsg.port_covered(props, number) is covered


# --- deny rules --------------------------------------------------------------------------------------


def test_deny_rule_shape() -> None:
    body = apply(make_nsg(), [port(22, "TCP")])
    assert rules_of(body) == [
        {
            "name": deny_name(22),
            "id": f"{NSG_ID}/securityRules/{deny_name(22)}",
            "type": "Microsoft.Network/networkSecurityGroups/securityRules",
            "properties": {
                "provisioningState": "Succeeded",
                "description": "MDC JIT Network Access rule for policy 'default' of VM 'vm1'.",
                "protocol": "Tcp",
                "sourcePortRange": "*",
                "destinationPortRange": "22",
                "sourceAddressPrefix": "*",
                "destinationAddressPrefix": IP1,
                "access": "Deny",
                "priority": 4096,  # no rule for the port: from the bottom, as real NSGs show
                "direction": "Inbound",
                "sourcePortRanges": [],
                "destinationPortRanges": [],
                "sourceAddressPrefixes": [],
                "destinationAddressPrefixes": [],
            },
        }
    ]


@pytest.mark.parametrize(("protocol", "wire"), [("TCP", "Tcp"), ("UDP", "Udp"), ("*", "*"), ("tcp", "Tcp")])
def test_deny_rule_protocol_mapping(protocol: str, wire: str) -> None:
    body = apply(make_nsg(), [port(22, protocol)])
    assert by_name(body, deny_name(22))["properties"]["protocol"] == wire


def test_deny_goes_after_existing_rule_at_1000() -> None:
    body = apply(make_nsg(rule("AllowSSH", 1000)), [port(22)])
    assert priority_of(body, deny_name(22)) == 1001


def test_deny_goes_after_existing_rule_at_1500() -> None:
    body = apply(make_nsg(rule("AllowSSH", 1500)), [port(22)])
    assert priority_of(body, deny_name(22)) == 1501


def test_deny_takes_next_free_priority_after_existing_rule() -> None:
    # 1501 belongs to an unrelated inbound rule: priorities are unique per direction.
    body = apply(make_nsg(rule("AllowSSH", 1500), rule("Web", 1501, "80")), [port(22)])
    assert priority_of(body, deny_name(22)) == 1502


def test_outbound_rules_neither_cover_nor_block() -> None:
    body = apply(
        make_nsg(rule("Out", 1000, direction="Outbound"), rule("Out2", 1500, direction="Outbound")),
        [port(22)],
    )
    assert priority_of(body, deny_name(22)) == 4096  # no inbound rule for the port: from the bottom


def test_rules_for_other_ports_do_not_push_the_deny_rule() -> None:
    body = apply(make_nsg(rule("Web", 2000, "80"), rule("Low", 200, "22")), [port(22)])
    assert priority_of(body, deny_name(22)) == 1000


@pytest.mark.parametrize(
    "spec", ["*", "20-25", ["3389", "20-30"], ["22"]], ids=["star", "range", "plural-range", "plural-single"]
)
def test_covering_rules_in_every_port_form(spec: str | list[str]) -> None:
    body = apply(make_nsg(rule("Covering", 1200, spec)), [port(22)])
    assert priority_of(body, deny_name(22)) == 1201


def test_deny_rule_per_port_each_after_its_own_covering_rules() -> None:
    body = apply(make_nsg(rule("SSH", 1300, "22"), rule("RDP", 1100, "3389")), [port(22), port(3389)])
    assert priority_of(body, deny_name(22)) == 1301
    assert priority_of(body, deny_name(3389)) == 1101


def test_other_vms_and_non_jit_rules_are_untouched_byte_for_byte() -> None:
    base = make_nsg(
        rule("AllowSSH", 1000),
        {**rule("Plural", 1700, ["22", "3389"]), "etag": 'W/"abc"'},
        rule("Out", 1000, direction="Outbound"),
    )
    base["properties"]["securityRules"][0]["properties"]["sourceAddressPrefixes"] = [
        "10.1.0.0/16",
        "10.2.0.0/16",
    ]
    other_vm = apply(base, [port(22), port(3389)], vm_id=VM2, ip=IP2)
    before = {r["name"]: json.dumps(r, sort_keys=True) for r in rules_of(other_vm)}
    snapshot = copy.deepcopy(other_vm)

    after = apply(other_vm, [port(22), port(3389), port(5985)])

    assert other_vm == snapshot  # input not mutated
    for name, text in before.items():
        assert json.dumps(by_name(after, name), sort_keys=True) == text
    assert after["properties"]["defaultSecurityRules"] == base["properties"]["defaultSecurityRules"]
    assert {k: v for k, v in after.items() if k != "properties"} == {k: v for k, v in base.items() if k != "properties"}
    # The order of existing rules is preserved; new rules are appended.
    assert [r["name"] for r in rules_of(after)][: len(before)] == list(before)


def test_apply_then_remove_restores_the_original() -> None:
    base = make_nsg(rule("AllowSSH", 1000), rule("RDP", 1200, "3389"), rule("Out", 1000, direction="Outbound"))
    other_vm = apply(base, [port(22)], vm_id=VM2, ip=IP2)
    applied = apply(other_vm, [port(22), port(3389)])
    assert nsg.remove_vm_rules(applied, policy_id=POLICY_ID, vm_id=VM1, ports=[port(22), port(3389)]) == other_vm
    # Ports can be passed as plain numbers too.
    assert nsg.remove_vm_rules(applied, policy_id=POLICY_ID, vm_id=VM1, ports=[22, 3389]) == other_vm


def test_apply_is_idempotent() -> None:
    once = apply(make_nsg(rule("AllowSSH", 1000)), [port(22), port(3389)])
    assert apply(once, [port(22), port(3389)]) == once


def test_kept_ports_keep_name_and_priority_and_gone_ports_are_removed() -> None:
    first = apply(make_nsg(), [port(22), port(3389)])
    kept_priority = priority_of(first, deny_name(3389))
    # A non-JIT rule added later does not move the existing deny rule.
    later = copy.deepcopy(first)
    later["properties"]["securityRules"].append(rule("LateRDP", 3000, "3389"))

    second = apply(later, [port(3389), port(5986)])

    names = [r["name"] for r in rules_of(second)]
    assert deny_name(22) not in names
    assert priority_of(second, deny_name(3389)) == kept_priority
    assert priority_of(second, deny_name(5986)) == 4096  # freed by port 22's rule
    assert sum(1 for n in names if n == deny_name(3389)) == 1


def test_kept_rule_is_refreshed_when_the_policy_port_changes() -> None:
    first = apply(make_nsg(), [port(22, "TCP")])
    second = apply(first, [port(22, "UDP")], ip="10.0.0.9")
    props = by_name(second, deny_name(22))["properties"]
    assert (props["protocol"], props["destinationAddressPrefix"], props["priority"]) == (
        "Udp",
        "10.0.0.9",
        4096,
    )


def test_no_ports_removes_every_deny_rule_of_the_vm() -> None:
    base = make_nsg(rule("AllowSSH", 1000))
    assert apply(apply(base, [port(22), port(80)]), []) == base


def test_no_free_priority_when_a_covering_rule_sits_at_4096() -> None:
    with pytest.raises(ArmError) as info:
        apply(make_nsg(rule("Last", 4096)), [port(22)])
    err = info.value
    assert (err.status, err.code) == (409, "NoFreePriority")
    assert "nsg1" in err.message and "22" in err.message


def test_no_free_priority_when_every_priority_is_taken() -> None:
    rules = [rule(f"r{p}", p, "80") for p in range(100, 4097)]
    with pytest.raises(ArmError) as info:
        apply(make_nsg(*rules), [port(22)])
    assert info.value.code == "NoFreePriority"


def test_remove_vm_rules_touches_only_that_policy_and_vm() -> None:
    both = apply(apply(make_nsg(rule("AllowSSH", 1000)), [port(22)], vm_id=VM2, ip=IP2), [port(22)])
    removed = nsg.remove_vm_rules(both, policy_id=POLICY_ID, vm_id=VM1, ports=[22])
    assert [r["name"] for r in rules_of(removed)] == ["AllowSSH", deny_name(22, VM2)]
    other_policy = nsg.remove_vm_rules(both, policy_id=POLICY_ID + "x", vm_id=VM1, ports=[22])
    assert other_policy == both


# --- allow rules -------------------------------------------------------------------------------------


def grant(number: int, *sources: str, protocol: str = "TCP") -> dict[str, Any]:
    return {"number": number, "protocol": protocol, "sources": list(sources)}


def test_allow_rule_shape_and_first_free_priority_from_100() -> None:
    denied = apply(
        make_nsg(rule("A", 100, "80"), rule("B", 101, "443"), rule("Out", 102, direction="Outbound")),
        [port(22)],
    )
    body, names = allow(denied, [grant(22, "203.0.113.7")])
    assert len(names) == 1 and nsg.jit_rule_kind(names[0]) == "allow"
    assert names[0] == nsg.allow_rule_name(POLICY_ID, VM1, 22, "k1")
    created = by_name(body, names[0])
    assert created == {
        "name": names[0],
        "id": f"{NSG_ID}/securityRules/{names[0]}",
        "type": nsg.RULE_TYPE,
        "properties": {
            "provisioningState": "Succeeded",
            "description": ALLOW_DESCRIPTION,
            "protocol": "Tcp",
            "sourcePortRange": "*",
            "destinationPortRange": "22",
            "sourceAddressPrefix": "203.0.113.7",
            "destinationAddressPrefix": IP1,
            "access": "Allow",
            "priority": 102,
            "direction": "Inbound",
            "sourcePortRanges": [],
            "destinationPortRanges": [],
            "sourceAddressPrefixes": [],
            "destinationAddressPrefixes": [],
        },
    }


def test_allow_rule_with_several_sources_uses_the_plural_field() -> None:
    body, names = allow(apply(make_nsg(), [port(22)]), [grant(22, "10.1.0.0/16", "192.0.2.1")])
    props = by_name(body, names[0])["properties"]
    assert "sourceAddressPrefix" not in props
    assert props["sourceAddressPrefixes"] == ["10.1.0.0/16", "192.0.2.1"]


def test_allow_rules_get_distinct_priorities_below_their_deny_rules() -> None:
    denied = apply(make_nsg(rule("A", 100, "80")), [port(22), port(3389, "UDP")])
    body, names = allow(denied, [grant(22, "*"), grant(3389, "198.51.100.0/24", protocol="UDP")])
    assert [priority_of(body, n) for n in names] == [101, 102]
    assert by_name(body, names[1])["properties"]["protocol"] == "Udp"


def test_allow_without_deny_rule_takes_first_free_from_100() -> None:
    body, names = allow(make_nsg(rule("A", 100, "80")), [grant(8080, "*")])
    assert priority_of(body, names[0]) == 101


def test_allow_no_free_priority_below_the_deny_rule() -> None:
    base = make_nsg(rule("A", 100, "80"), rule("B", 101, "443"), rule("C", 102, "22"))
    denied = apply(base, [port(22)])
    # Force the deny rule right after the occupied range.
    denied["properties"]["securityRules"][-1]["properties"]["priority"] = 103
    with pytest.raises(ArmError) as info:
        allow(denied, [grant(22, "*")])
    assert (info.value.status, info.value.code) == (409, "NoFreePriority")


def test_allow_rule_replayed_for_the_same_request_is_updated_in_place() -> None:
    body, names = allow(apply(make_nsg(), [port(22)]), [grant(22, "192.0.2.1")])
    again, names_again = allow(body, [grant(22, "192.0.2.1")])
    assert names_again == names and again == body


def test_remove_rules_removes_exactly_the_named_rules_case_insensitively() -> None:
    denied = apply(make_nsg(rule("AllowSSH", 1000)), [port(22)])
    body, names = allow(denied, [grant(22, "*")])
    assert nsg.remove_rules(body, [names[0].upper()]) == denied
    assert nsg.remove_rules(body, ["does-not-exist"]) == body


def test_allow_grant_without_source_is_rejected() -> None:
    with pytest.raises(ArmError) as info:
        allow(make_nsg(), [grant(22)])
    assert info.value.status == 400


# --- firewall ----------------------------------------------------------------------------------------

FW_ID = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/azureFirewalls/fw1"


def firewall(*collections: dict[str, Any], policy: bool = False) -> dict[str, Any]:
    props: dict[str, Any] = {
        "ipConfigurations": [
            {
                "name": "cfg",
                "properties": {
                    "privateIPAddress": "10.0.1.4",
                    "publicIPAddress": {"id": "/subscriptions/x/publicIPAddresses/fw-pip"},
                    "subnet": {"id": "/subscriptions/x/subnets/AzureFirewallSubnet"},
                },
            }
        ],
        "natRuleCollections": list(collections),
        "networkRuleCollections": [],
        "applicationRuleCollections": [],
    }
    if policy:
        props["firewallPolicy"] = {"id": "/subscriptions/x/firewallPolicies/p"}
    return {"id": FW_ID, "name": "fw1", "type": "Microsoft.Network/azureFirewalls", "properties": props}


def dnat(fw: dict[str, Any], number: int = 22, protocol: str = "TCP", key: str = "k1", sources=("192.0.2.1",)):
    return nsg.add_dnat_rule(
        fw,
        policy_name="default",
        vm_name="vm1",
        vm_private_ip=IP1,
        port=number,
        protocol=protocol,
        sources=list(sources),
        firewall_public_ip="203.0.113.10",
        request_key=key,
    )


def test_dnat_rule_creates_the_asc_collection() -> None:
    fw = firewall()
    new, name, mapped = dnat(fw)
    assert fw == firewall()  # not mutated
    assert mapped == 50000 and re.fullmatch(r"MDC-JIT-\d+-[0-9A-F]{32}", name)
    [collection] = new["properties"]["natRuleCollections"]
    assert re.fullmatch(r"MDC-JIT-\d+", collection["name"])
    assert collection["properties"]["priority"] == 100
    assert collection["properties"]["action"] == {"type": "Dnat"}
    assert collection["properties"]["rules"] == [
        {
            "name": name,
            "description": ALLOW_DESCRIPTION,
            "sourceAddresses": ["192.0.2.1"],
            "destinationAddresses": ["203.0.113.10"],
            "destinationPorts": ["50000"],
            "protocols": ["TCP"],
            "translatedAddress": IP1,
            "translatedPort": "22",
        }
    ]


@pytest.mark.parametrize(("protocol", "wire"), [("TCP", ["TCP"]), ("UDP", ["UDP"]), ("*", ["TCP", "UDP"])])
def test_dnat_protocols(protocol: str, wire: list[str]) -> None:
    new, _, _ = dnat(firewall(), protocol=protocol)
    assert new["properties"]["natRuleCollections"][0]["properties"]["rules"][0]["protocols"] == wire


def test_dnat_mapped_port_skips_ports_in_use_and_reuses_the_collection() -> None:
    other = {
        "name": "Custom",
        "properties": {
            "priority": 200,
            "action": {"type": "Dnat"},
            "rules": [{"name": "web", "destinationPorts": ["50000", "50002-50003"], "translatedPort": "80"}],
        },
    }
    first, name1, mapped1 = dnat(firewall(other), 22)
    second, name2, mapped2 = dnat(first, 3389, key="k2")
    assert (mapped1, mapped2) == (50001, 50004)
    assert name1 != name2
    collections = second["properties"]["natRuleCollections"]
    assert collections[0] == other
    assert [r["name"] for r in collections[1]["properties"]["rules"]] == [name1, name2]


def test_remove_dnat_rules_drops_the_empty_asc_collection() -> None:
    other = {
        "name": "Custom",
        "properties": {"priority": 200, "action": {"type": "Dnat"}, "rules": [{"name": "web"}]},
    }
    fw = firewall(other)
    first, name1, _ = dnat(fw, 22)
    second, name2, _ = dnat(first, 3389, key="k2")
    assert nsg.remove_dnat_rules(second, [name2]) == first
    assert nsg.remove_dnat_rules(second, [name1.upper(), name2]) == fw
    assert nsg.remove_dnat_rules(fw, ["web"]) == firewall({**other, "properties": {**other["properties"], "rules": []}})


def test_dnat_on_a_policy_managed_firewall_is_rejected() -> None:
    with pytest.raises(ArmError) as info:
        dnat(firewall(policy=True))
    assert (info.value.status, info.value.code) == (400, "FirewallPolicyNotSupported")
    assert "Firewall Policy" in info.value.message


# --- properties --------------------------------------------------------------------------------------

PORT_POOL = [20, 21, 22, 23, 25, 80, 443, 3389, 5985, 5986]
port_spec = st.one_of(
    st.just("*"),
    st.sampled_from(PORT_POOL).map(str),
    st.tuples(st.integers(15, 3400), st.integers(0, 3000)).map(lambda t: f"{t[0]}-{t[0] + t[1]}"),
)


@st.composite
def non_jit_rules(draw) -> list[dict[str, Any]]:
    count = draw(st.integers(0, 14))
    inbound = draw(st.lists(st.integers(100, 4000), min_size=count, max_size=count, unique=True))
    outbound = draw(st.lists(st.integers(100, 4096), min_size=count, max_size=count, unique=True))
    rules = []
    for index in range(count):
        direction = draw(st.sampled_from(["Inbound", "Outbound"]))
        priority = inbound[index] if direction == "Inbound" else outbound[index]
        ports: str | list[str] = draw(st.one_of(port_spec, st.lists(port_spec, min_size=1, max_size=3)))
        new = rule(
            f"rule-{index}",
            priority,
            ports,
            access=draw(st.sampled_from(["Allow", "Deny"])),
            direction=direction,
        )
        props = new["properties"]
        props["protocol"] = draw(st.sampled_from(["Tcp", "Udp", "*", "Icmp"]))
        if draw(st.booleans()):
            del props["sourceAddressPrefix"]
            props["sourceAddressPrefixes"] = ["10.0.0.0/8", "192.168.0.0/16"]
        rules.append(new)
    return rules


policy_ports = st.lists(st.sampled_from(PORT_POOL), max_size=5, unique=True).flatmap(
    lambda numbers: st.tuples(*[st.sampled_from(["TCP", "UDP", "*"]) for _ in numbers]).map(
        lambda protocols: [port(n, p) for n, p in zip(numbers, protocols, strict=True)]
    )
)


@st.composite
def scenario(draw) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A random NSG (non-JIT rules plus another VM's JIT rules) and random policy ports for VM1."""
    body = make_nsg(*draw(non_jit_rules()))
    other_ports = draw(policy_ports)
    if other_ports:
        body = apply(body, other_ports, vm_id=VM2, ip=IP2)
    return body, draw(policy_ports)


def non_jit(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in rules_of(body) if not nsg.is_jit_rule(r["name"])]


def inbound_priorities(body: dict[str, Any]) -> list[int]:
    return [r["properties"]["priority"] for r in rules_of(body) if r["properties"]["direction"] == "Inbound"]


@PROPERTY_SETTINGS
@given(scenario())
def test_property_deny_rule_placement(case: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    body, ports = case
    snapshot = copy.deepcopy(body)
    applied = apply(body, ports)
    assert body == snapshot

    priorities = inbound_priorities(applied)
    assert len(priorities) == len(set(priorities))
    for p in ports:
        [deny] = [r for r in rules_of(applied) if r["name"] == deny_name(p["number"])]
        props = deny["properties"]
        assert (props["access"], props["direction"], props["destinationPortRange"]) == (
            "Deny",
            "Inbound",
            str(p["number"]),
        )
        assert props["destinationAddressPrefix"] == IP1
        assert props["priority"] >= 1000
        for other in non_jit(applied):
            if other["properties"]["direction"] == "Inbound" and nsg.port_covered(other["properties"], p["number"]):
                assert props["priority"] > other["properties"]["priority"]
    assert non_jit(applied) == non_jit(body)
    own = {deny_name(p["number"]) for p in ports}
    assert [r for r in rules_of(applied) if r["name"] not in own] == rules_of(body)


@PROPERTY_SETTINGS
@given(scenario())
def test_property_apply_is_idempotent_and_remove_restores(
    case: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    body, ports = case
    once = apply(body, ports)
    assert apply(once, ports) == once
    assert nsg.remove_vm_rules(once, policy_id=POLICY_ID, vm_id=VM1, ports=ports) == body


def crowd_low_priorities(body: dict[str, Any]) -> dict[str, Any]:
    """Occupy 100..109 with non-JIT rules and move this VM's deny rules to 110, 112, ..."""
    new = copy.deepcopy(body)
    own = {deny_name(p) for p in PORT_POOL}
    used = set(inbound_priorities(new))
    free = [p for p in range(100, 4097) if p not in used]
    for index, priority in enumerate(free[:10]):
        rules_of(new).append(rule(f"crowd-{index}", priority, "80"))
    slots = iter(free[10::2])
    for r in rules_of(new):
        if r["name"] in own:
            r["properties"]["priority"] = next(slots)
    return new


def no_room_below_deny(body: dict[str, Any], number: int) -> bool:
    deny = [r for r in rules_of(body) if r["name"] == deny_name(number)]
    if not deny:
        return False
    used = set(inbound_priorities(body))
    return all(p in used for p in range(100, deny[0]["properties"]["priority"]))


def assert_fails_for_lack_of_room(body: dict[str, Any], grants: list[dict[str, Any]], key: str) -> None:
    """Replaying the grants one by one must hit a port whose deny rule has no free priority below it."""
    for g in grants:
        if no_room_below_deny(body, g["number"]):
            return
        body, _ = allow(body, [g], key=key)
    raise AssertionError("NoFreePriority although every grant had room")


@PROPERTY_SETTINGS
@given(scenario(), policy_ports, st.sampled_from(["k1", "2024-01-01T00:00:00.0000000Z#7"]), st.booleans())
def test_property_allow_rules_precede_deny_rules(
    case: tuple[dict[str, Any], list[dict[str, Any]]], requested: list[dict[str, Any]], key: str, low: bool
) -> None:
    body, ports = case
    denied = apply(body, ports)
    if low:
        # Deny rules sitting just above a crowded low range (as in NSGs JIT found already configured).
        denied = crowd_low_priorities(denied)
    grants = [grant(p["number"], "192.0.2.1", protocol=p["protocol"]) for p in requested]
    try:
        granted, names = allow(denied, grants, key=key)
    except ArmError as err:
        assert (err.status, err.code) == (409, "NoFreePriority")
        assert_fails_for_lack_of_room(denied, grants, key)
        return

    assert len(names) == len(set(names)) == len(grants)
    priorities = inbound_priorities(granted)
    assert len(priorities) == len(set(priorities))
    for g, name in zip(grants, names, strict=True):
        rule_props = by_name(granted, name)["properties"]
        assert rule_props["access"] == "Allow" and rule_props["priority"] >= 100
        deny = [r for r in rules_of(granted) if r["name"] == deny_name(g["number"])]
        if deny:
            assert rule_props["priority"] < deny[0]["properties"]["priority"]
    assert nsg.remove_rules(granted, names) == denied


@PROPERTY_SETTINGS
@given(scenario(), policy_ports)
def test_property_reapply_with_other_ports(
    case: tuple[dict[str, Any], list[dict[str, Any]]], second: list[dict[str, Any]]
) -> None:
    body, first = case
    once = apply(body, first)
    twice = apply(once, second)
    own = {deny_name(p["number"]) for p in second}
    assert {r["name"] for r in rules_of(twice) if r["name"] in own} == own
    assert not {deny_name(p["number"]) for p in first} - own & {r["name"] for r in rules_of(twice)}
    for p in second:
        if any(q["number"] == p["number"] for q in first):
            assert priority_of(twice, deny_name(p["number"])) == priority_of(once, deny_name(p["number"]))
    priorities = inbound_priorities(twice)
    assert len(priorities) == len(set(priorities))
    assert non_jit(twice) == non_jit(body)
    assert nsg.remove_vm_rules(twice, policy_id=POLICY_ID, vm_id=VM1, ports=second) == body


def vm_entry(index: int, ports: list[dict[str, Any]]) -> dict[str, Any]:
    vm_id = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/bulk{index}"
    return {"vm_id": vm_id, "vm_name": f"bulk{index}", "private_ip": f"10.0.1.{index + 4}", "ports": ports}


@PROPERTY_SETTINGS
@given(non_jit_rules(), st.lists(policy_ports, min_size=1, max_size=5), st.lists(policy_ports, min_size=1, max_size=5))
def test_property_bulk_deny_rules_for_several_vms(
    rules: list[dict[str, Any]], first: list[list[dict[str, Any]]], second: list[list[dict[str, Any]]]
) -> None:
    """What a policy PUT does to one NSG: every VM's ports in one pass, then a second PUT with other ports."""
    body = make_nsg(*rules)
    vms = [vm_entry(i, ports) for i, ports in enumerate(first)]
    once = nsg.apply_deny_rules_for_vms(body, policy_id=POLICY_ID, policy_name="default", vms=vms)
    # On an NSG without rules of these VMs, one pass is the same as applying VM after VM.
    sequential = body
    for vm in vms:
        sequential = nsg.apply_deny_rules(sequential, policy_id=POLICY_ID, policy_name="default", **vm)
    assert once == sequential
    assert nsg.apply_deny_rules_for_vms(once, policy_id=POLICY_ID, policy_name="default", vms=vms) == once

    later = [vm_entry(i, ports) for i, ports in enumerate(second)]
    twice = nsg.apply_deny_rules_for_vms(once, policy_id=POLICY_ID, policy_name="default", vms=later)
    priorities = inbound_priorities(twice)
    assert len(priorities) == len(set(priorities))
    assert non_jit(twice) == non_jit(body)
    expected = {nsg.deny_rule_name(POLICY_ID, vm["vm_id"], p["number"]) for vm in later for p in vm["ports"]}
    # VMs of the first pass that the second one does not name keep their rules (they are other VMs).
    kept = {nsg.deny_rule_name(POLICY_ID, vm["vm_id"], p["number"]) for vm in vms[len(later) :] for p in vm["ports"]}
    assert {r["name"] for r in rules_of(twice) if nsg.is_jit_rule(r["name"])} == expected | kept
    for vm in later:
        for p in vm["ports"]:
            [deny] = [
                r for r in rules_of(twice) if r["name"] == nsg.deny_rule_name(POLICY_ID, vm["vm_id"], p["number"])
            ]
            props = deny["properties"]
            assert props["destinationAddressPrefix"] == vm["private_ip"] and props["priority"] >= 1000
            for other in non_jit(twice):
                if other["properties"]["direction"] == "Inbound" and nsg.port_covered(other["properties"], p["number"]):
                    assert props["priority"] > other["properties"]["priority"]
