# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's NSG evaluation: examples, exposure, and a property test against the emulator's IP flow verify.

The collection and the emulator implement the evaluation separately (the collection never imports the
emulator); hypothesis holds them to the same verdict and the same deciding rule over random rule sets.
The emulator's `flow` module is what its IP flow verify answers with (emulator/tests/test_network_watcher.py
drives that over HTTPS through the network SDK's begin_verify_ip_flow); jit_diagnose's integration tests
compare the two on live grants.
"""

from __future__ import annotations

from typing import Any

import pytest
from ansible_collections.azsecops.jit.plugins.module_utils._reachability import (
    _evaluate_path,
    _Flow,
    _management_ports,
    _open_to_internet,
)
from hypothesis import given, settings
from hypothesis import strategies as st

flow_mod = pytest.importorskip("jit_emulator.flow")
network = pytest.importorskip("jit_emulator.providers.network")

VNET = ["10.10.0.0/16"]
VM_IP = "10.10.1.4"
NSG = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/"


def rule(name: str, priority: int, access: str = "Allow", **props: Any) -> dict[str, Any]:
    base = {
        "protocol": "Tcp",
        "sourcePortRange": "*",
        "destinationPortRange": "22",
        "sourceAddressPrefix": "*",
        "destinationAddressPrefix": "*",
        "access": access,
        "priority": priority,
        "direction": "Inbound",
    }
    base.update(props)
    return {"name": name, "properties": base}


def nsg(name: str, *rules: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": NSG + name,
        "properties": {"securityRules": list(rules), "defaultSecurityRules": network.default_rules(NSG + name)},
    }


def test_default_rules_and_tags() -> None:
    empty = nsg("a")
    internet = _evaluate_path(None, empty, _Flow("203.0.113.7", VM_IP, 22), VNET)
    assert (internet.access, internet.decided_by.rule_name) == ("Deny", "defaultSecurityRules/DenyAllInBound")
    vnet = _evaluate_path(None, empty, _Flow("10.10.9.9", VM_IP, 22), VNET)
    assert (vnet.access, vnet.decided_by.rule_name) == ("Allow", "defaultSecurityRules/AllowVnetInBound")
    # A private address outside the VNet is neither VirtualNetwork nor Internet.
    web = nsg("w", rule("https", 200, sourceAddressPrefix="Internet", destinationPortRange="443"))
    assert _evaluate_path(None, web, _Flow("192.168.1.1", VM_IP, 443), VNET).access == "Deny"
    assert _evaluate_path(None, web, _Flow("198.51.100.1", VM_IP, 443), VNET).access == "Allow"
    # No NSG at all lets everything through.
    assert _evaluate_path(None, None, _Flow("198.51.100.1", VM_IP, 22), VNET).decided_by is None


def test_subnet_first_then_nic_and_first_deny_decides() -> None:
    subnet = nsg("s", rule("block", 150, "Deny", sourceAddressPrefix="203.0.113.0/24"))
    nic = nsg("n", rule("ssh", 100))
    verdict = _evaluate_path(subnet, nic, _Flow("203.0.113.7", VM_IP, 22), VNET)
    assert (verdict.access, verdict.decided_by.scope, verdict.decided_by.name) == ("Deny", "subnet", "block")
    other = _evaluate_path(subnet, nic, _Flow("198.51.100.7", VM_IP, 22), VNET)
    assert other.access == "Deny" and other.decided_by.rule_name == "defaultSecurityRules/DenyAllInBound"
    both = nsg("s2", rule("ssh-subnet", 300))
    allowed = _evaluate_path(both, nic, _Flow("198.51.100.7", VM_IP, 22), VNET)
    assert (allowed.access, allowed.decided_by.scope, [h.scope for h in allowed.hits]) == (
        "Allow",
        "nic",
        ["subnet", "nic"],
    )


def test_exposure_counts_whole_internet_rules_only() -> None:
    open_ssh = nsg("o", rule("ssh-any", 300))
    assert _open_to_internet([open_ssh], VM_IP, 22) == "ssh-any"
    assert _open_to_internet([open_ssh], VM_IP, 3389) is None
    restricted = nsg("r", rule("ssh-office", 300, sourceAddressPrefix="203.0.113.0/24"))
    assert _open_to_internet([restricted], VM_IP, 22) is None
    # A deny of the whole Internet before the allow closes it; JIT's own allow rules are not exposure.
    closed = nsg("c", rule("deny-any", 200, "Deny"), rule("ssh-any", 300))
    assert _open_to_internet([closed], VM_IP, 22) is None
    assert _open_to_internet([open_ssh], VM_IP, 22, skip=["ssh-any"]) is None
    # Both NSGs of the path must open the port.
    assert _open_to_internet([nsg("empty"), open_ssh], VM_IP, 22) is None
    assert _management_ports([8022, 22]) == [22, 3389, 5985, 5986, 8022]


# -- the property: collection == emulator -------------------------------------------------------------------

PREFIXES = st.sampled_from(
    [
        "*",
        "Internet",
        "VirtualNetwork",
        "AzureLoadBalancer",
        "203.0.113.0/24",
        "203.0.113.7",
        "198.51.100.0/25",
        "10.10.0.0/16",
        "10.10.1.0/24",
        "10.10.1.4",
        "192.168.0.0/16",
        "0.0.0.0/0",
        "Any",
        "Storage",
    ]
)
PORTS = st.sampled_from(["*", "22", "3389", "20-30", "3000-4000", "443", "5985-5986", "1-65535", "23"])
SOURCES = st.sampled_from(
    [
        "203.0.113.7",
        "203.0.113.200",
        "198.51.100.9",
        "10.10.1.20",
        "10.20.0.5",
        "192.168.4.4",
        "168.63.129.16",
        "8.8.8.8",
    ]
)


@st.composite
def rule_sets(draw: Any, name: str) -> dict[str, Any] | None:
    if draw(st.booleans()) and draw(st.booleans()):
        return None  # no NSG on this level
    priorities = draw(st.lists(st.integers(100, 4096), max_size=6, unique=True))
    rules = []
    for i, priority in enumerate(priorities):
        props: dict[str, Any] = {
            "protocol": draw(st.sampled_from(["*", "Tcp", "Udp"])),
            "access": draw(st.sampled_from(["Allow", "Deny"])),
            "direction": draw(st.sampled_from(["Inbound", "Inbound", "Outbound"])),
            "priority": priority,
            "sourcePortRange": draw(st.sampled_from(["*", "*", "1024-65535", "80"])),
        }
        for single, plural, values in (
            ("sourceAddressPrefix", "sourceAddressPrefixes", PREFIXES),
            (
                "destinationAddressPrefix",
                "destinationAddressPrefixes",
                st.sampled_from(["*", "10.10.1.4", "VirtualNetwork", "10.10.2.0/24", "Internet"]),
            ),
            ("destinationPortRange", "destinationPortRanges", PORTS),
        ):
            if draw(st.booleans()):
                props[single] = draw(values)
            else:
                props[plural] = draw(st.lists(values, min_size=1, max_size=3))
        rules.append({"name": f"{name}-r{i}", "properties": props})
    return nsg(name, *rules)


@settings(max_examples=400, deadline=None)
@given(
    subnet=rule_sets("subnet"),
    nic=rule_sets("nic"),
    source=SOURCES,
    port=st.sampled_from([22, 23, 443, 3389, 5985, 5986, 3500]),
    protocol=st.sampled_from(["TCP", "UDP"]),
)
def test_collection_agrees_with_emulator_ip_flow_verify(
    subnet: dict[str, Any] | None, nic: dict[str, Any] | None, source: str, port: int, protocol: str
) -> None:
    ours = _evaluate_path(subnet, nic, _Flow(source, VM_IP, port, protocol), VNET)
    packet = flow_mod.Packet("Inbound", protocol, VM_IP, port, source, 50000)
    theirs = flow_mod.evaluate_path(subnet, nic, packet, VNET)
    assert ours.access == theirs.access
    assert (ours.decided_by.rule_name if ours.decided_by else "") == (theirs.rule_name or "")
