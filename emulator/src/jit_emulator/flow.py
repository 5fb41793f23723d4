"""NSG evaluation of one packet, as Network Watcher's IP flow verify answers it (plain functions).

How Azure evaluates NSGs (https://learn.microsoft.com/azure/virtual-network/network-security-group-how-it-works):
inbound traffic meets the subnet's NSG first, then the NIC's; outbound the NIC's first, then the subnet's.
In each NSG the rules (the user's and the six default rules) are processed in priority order, lowest number
first, and the first rule that matches decides; the packet passes only when every NSG on the way allows it.
A level without an NSG lets everything through.

Service tags (https://learn.microsoft.com/azure/virtual-network/service-tags-overview): `VirtualNetwork` is the
address space of the VM's virtual network plus 168.63.129.16 (the host's virtual IP); `AzureLoadBalancer` is
168.63.129.16; `Internet` is every address outside the virtual network that is not private (RFC 1918),
shared (RFC 6598), loopback or link-local. Other tags match nothing here (a documented choice of the emulator).

The collection evaluates the same rules in its own code (plugins/module_utils/_reachability.py); a property
test holds both to the same answers.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

HOST_VIP = ipaddress.ip_address("168.63.129.16")
# Not on the Internet: RFC 1918 private space, shared address space (RFC 6598), loopback and link-local.
# (The documentation ranges the emulator hands out as public IPs are Internet addresses here.)
NOT_INTERNET = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16")
)


@dataclass(frozen=True)
class Packet:
    direction: str  # Inbound | Outbound
    protocol: str  # TCP | UDP
    local_ip: str  # the VM's address
    local_port: int
    remote_ip: str
    remote_port: int


@dataclass(frozen=True)
class Verdict:
    access: str  # Allow | Deny
    rule_name: str | None  # "securityRules/<name>" or "defaultSecurityRules/<name>"
    nsg_id: str | None


def _values(props: dict[str, Any], single: str, plural: str) -> list[str]:
    many = [str(v) for v in props.get(plural) or []]
    one = props.get(single)
    return many if many else ([str(one)] if one not in (None, "") else [])


def _port_matches(specs: Iterable[str], port: int) -> bool:
    for spec in specs:
        text = spec.strip()
        if text == "*":
            return True
        low, _, high = text.partition("-")
        try:
            if int(low) <= port <= int(high or low):
                return True
        except ValueError:
            continue
    return False


def _address_matches(specs: Iterable[str], address: str, vnet_prefixes: Sequence[str]) -> bool:
    ip = ipaddress.ip_address(address)
    in_vnet = ip == HOST_VIP or any(_in(ip, p) for p in vnet_prefixes)
    for spec in specs:
        text = spec.strip()
        lowered = text.lower()
        if lowered in ("*", "any", "0.0.0.0/0"):
            return True
        if lowered == "virtualnetwork":
            if in_vnet:
                return True
            continue
        if lowered == "azureloadbalancer":
            if ip == HOST_VIP:
                return True
            continue
        if lowered == "internet":
            if not in_vnet and not any(ip in net for net in NOT_INTERNET):
                return True
            continue
        if _in(ip, text):
            return True
    return False


def _in(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, prefix: str) -> bool:
    try:
        return ip in ipaddress.ip_network(prefix, strict=False)
    except ValueError:
        return False


def _protocol_matches(rule_protocol: str, protocol: str) -> bool:
    return rule_protocol == "*" or rule_protocol.lower() == protocol.lower()


def rule_matches(rule: dict[str, Any], packet: Packet, vnet_prefixes: Sequence[str]) -> bool:
    props = rule.get("properties") or {}
    if str(props.get("direction", "")).lower() != packet.direction.lower():
        return False
    if not _protocol_matches(str(props.get("protocol", "*")), packet.protocol):
        return False
    if packet.direction.lower() == "inbound":
        src_ip, src_port, dst_ip, dst_port = packet.remote_ip, packet.remote_port, packet.local_ip, packet.local_port
    else:
        src_ip, src_port, dst_ip, dst_port = packet.local_ip, packet.local_port, packet.remote_ip, packet.remote_port
    return (
        _port_matches(_values(props, "sourcePortRange", "sourcePortRanges"), src_port)
        and _port_matches(_values(props, "destinationPortRange", "destinationPortRanges"), dst_port)
        and _address_matches(_values(props, "sourceAddressPrefix", "sourceAddressPrefixes"), src_ip, vnet_prefixes)
        and _address_matches(
            _values(props, "destinationAddressPrefix", "destinationAddressPrefixes"), dst_ip, vnet_prefixes
        )
    )


def evaluate_nsg(nsg: dict[str, Any], packet: Packet, vnet_prefixes: Sequence[str]) -> Verdict:
    """The first matching rule of one NSG, in priority order (user rules and default rules together)."""
    props = nsg.get("properties") or {}
    rules = [("securityRules", r) for r in props.get("securityRules") or []]
    rules += [("defaultSecurityRules", r) for r in props.get("defaultSecurityRules") or []]
    rules.sort(key=lambda item: int((item[1].get("properties") or {}).get("priority", 65535)))
    for kind, rule in rules:
        if rule_matches(rule, packet, vnet_prefixes):
            access = str(rule["properties"]["access"])
            return Verdict(access, f"{kind}/{rule['name']}", nsg.get("id"))
    # Every NSG holds DenyAllInBound/DenyAllOutBound; an NSG stripped of them denies by the same token.
    return Verdict("Deny", None, nsg.get("id"))


def evaluate_path(
    subnet_nsg: dict[str, Any] | None,
    nic_nsg: dict[str, Any] | None,
    packet: Packet,
    vnet_prefixes: Sequence[str],
) -> Verdict:
    """Subnet then NIC NSG for inbound traffic (NIC then subnet outbound); the first Deny decides."""
    order = [subnet_nsg, nic_nsg] if packet.direction.lower() == "inbound" else [nic_nsg, subnet_nsg]
    last = Verdict("Allow", None, None)
    for nsg in order:
        if nsg is None:
            continue
        verdict = evaluate_nsg(nsg, packet, vnet_prefixes)
        if verdict.access != "Allow":
            return verdict
        last = verdict
    return last
