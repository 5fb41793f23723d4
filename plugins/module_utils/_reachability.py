# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Would an NSG path let a packet through? NSG rule evaluation, default rules and service tags (pure).

Private API of azsecops.jit. No Ansible, no SDK, no I/O: NSGs are ARM wire JSON (camelCase dicts).

How Azure evaluates (https://learn.microsoft.com/azure/virtual-network/network-security-group-how-it-works):
inbound traffic meets the subnet's NSG, then the NIC's; in each NSG the rules, the six default rules
included, are processed by priority, lowest number first, and the first match decides; traffic passes
only if every NSG on the path allows it; a level without an NSG lets everything through. This is what
Network Watcher's IP flow verify answers, and what jit_diagnose falls back to where no watcher exists.

Service tags (https://learn.microsoft.com/azure/virtual-network/service-tags-overview): ``VirtualNetwork`` is
the VM's virtual network address space plus the host address 168.63.129.16; ``AzureLoadBalancer`` is
168.63.129.16; ``Internet`` is any address outside the virtual network that is not private (RFC 1918),
shared (RFC 6598), loopback or link-local. Other tags and application security groups are not evaluated:
a rule using one is reported as not matching.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

_HOST_ADDRESS = ipaddress.ip_address("168.63.129.16")
_NOT_INTERNET = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16")
)
_ANY_ADDRESS = frozenset({"*", "any", "0.0.0.0/0", "internet"})
_MANAGEMENT_PORTS = (22, 3389, 5985, 5986)
# The source port IP flow verify is asked about (an ephemeral port, as a client uses).
_CLIENT_PORT = 50000


@dataclasses.dataclass(frozen=True)
class _Flow:
    """One inbound packet: from ``source`` (``source_port``) to ``destination``:``port`` over ``protocol``."""

    source: str
    destination: str
    port: int
    protocol: str = "TCP"
    source_port: int = _CLIENT_PORT


@dataclasses.dataclass(frozen=True)
class _Hit:
    """The rule that decided in one NSG."""

    nsg_id: str
    access: str  # Allow | Deny
    name: str  # the rule's name; "" when no rule matched (an NSG without its default rules)
    default: bool  # a default security rule
    priority: int | None
    scope: str  # "subnet" | "nic"

    @property
    def rule_name(self) -> str:
        """As IP flow verify names it: ``securityRules/<name>`` or ``defaultSecurityRules/<name>``."""
        if not self.name:
            return ""
        return ("defaultSecurityRules/" if self.default else "securityRules/") + self.name


@dataclasses.dataclass(frozen=True)
class _PathVerdict:
    access: str
    decided_by: _Hit | None  # the first Deny, else the last Allow; None when no NSG is on the path
    hits: tuple[_Hit, ...]

    @property
    def allowed(self) -> bool:
        return self.access == "Allow"


def _values(props: Mapping[str, Any], single: str, plural: str) -> list[str]:
    many = [str(v).strip() for v in props.get(plural) or [] if str(v).strip()]
    if many:
        return many
    one = props.get(single)
    return [str(one).strip()] if one not in (None, "") else []


def _port_in(specs: Iterable[str], port: int) -> bool:
    for spec in specs:
        if spec == "*":
            return True
        low, _sep, high = spec.partition("-")
        if low.strip().isdigit() and (high.strip().isdigit() or not high):
            if int(low) <= port <= int(high or low):
                return True
    return False


def _network(prefix: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(prefix, strict=False)
    except ValueError:
        return None


def _in_virtual_network(address: ipaddress.IPv4Address | ipaddress.IPv6Address, vnet: Sequence[str]) -> bool:
    if address == _HOST_ADDRESS:
        return True
    return any(net is not None and address in net for net in (_network(p) for p in vnet))


def _address_in(specs: Iterable[str], address: str, vnet: Sequence[str]) -> bool:
    ip = ipaddress.ip_address(address)
    inside = _in_virtual_network(ip, vnet)
    for spec in specs:
        word = spec.lower()
        if word in ("*", "any", "0.0.0.0/0"):
            return True
        if word == "virtualnetwork":
            if inside:
                return True
        elif word == "azureloadbalancer":
            if ip == _HOST_ADDRESS:
                return True
        elif word == "internet":
            if not inside and not any(ip in net for net in _NOT_INTERNET):
                return True
        else:
            net = _network(spec)
            if net is not None and ip in net:
                return True
    return False


def _matches(props: Mapping[str, Any], flow: _Flow, vnet: Sequence[str]) -> bool:
    if str(props.get("direction") or "").lower() != "inbound":
        return False
    protocol = str(props.get("protocol") or "*")
    if protocol != "*" and protocol.lower() != flow.protocol.lower():
        return False
    return (
        _port_in(_values(props, "destinationPortRange", "destinationPortRanges"), flow.port)
        and _port_in(_values(props, "sourcePortRange", "sourcePortRanges"), flow.source_port)
        and _address_in(_values(props, "sourceAddressPrefix", "sourceAddressPrefixes"), flow.source, vnet)
        and _address_in(
            _values(props, "destinationAddressPrefix", "destinationAddressPrefixes"), flow.destination, vnet
        )
    )


def _ordered_rules(nsg: Mapping[str, Any]) -> list[tuple[bool, Mapping[str, Any]]]:
    """(is default, rule) of an NSG, by priority: the user's rules (100-4096) sort before the defaults."""
    props = nsg.get("properties") or {}
    rules = [(False, r) for r in props.get("securityRules") or [] if isinstance(r, Mapping)]
    rules += [(True, r) for r in props.get("defaultSecurityRules") or [] if isinstance(r, Mapping)]
    return sorted(rules, key=lambda item: _priority_of(item[1]))


def _priority_of(rule: Mapping[str, Any]) -> int:
    value = (rule.get("properties") or {}).get("priority")
    return value if isinstance(value, int) and not isinstance(value, bool) else 65535


def _evaluate_nsg(nsg: Mapping[str, Any], flow: _Flow, vnet: Sequence[str], scope: str) -> _Hit:
    for default, rule in _ordered_rules(nsg):
        props = rule.get("properties") or {}
        if _matches(props, flow, vnet):
            return _Hit(
                nsg_id=str(nsg.get("id") or ""),
                access=str(props.get("access") or ""),
                name=str(rule.get("name") or ""),
                default=default,
                priority=_priority_of(rule),
                scope=scope,
            )
    return _Hit(str(nsg.get("id") or ""), "Deny", "", True, None, scope)


def _evaluate_path(
    subnet_nsg: Mapping[str, Any] | None,
    nic_nsg: Mapping[str, Any] | None,
    flow: _Flow,
    vnet: Sequence[str],
) -> _PathVerdict:
    """Inbound: the subnet's NSG, then the NIC's (one NSG on both levels counts once); the first Deny decides."""
    if subnet_nsg is not None and nic_nsg is not None and _same(subnet_nsg.get("id"), nic_nsg.get("id")):
        subnet_nsg = None
    hits: list[_Hit] = []
    for scope, nsg in (("subnet", subnet_nsg), ("nic", nic_nsg)):
        if nsg is None:
            continue
        hit = _evaluate_nsg(nsg, flow, vnet, scope)
        hits.append(hit)
        if hit.access != "Allow":
            return _PathVerdict("Deny", hit, tuple(hits))
    return _PathVerdict("Allow", hits[-1] if hits else None, tuple(hits))


def _same(a: object, b: object) -> bool:
    return isinstance(a, str) and isinstance(b, str) and a.rstrip("/").lower() == b.rstrip("/").lower()


# ---------------------------------------------------------------------------------------------------
# Exposure: which ports do the NSGs leave open to the whole Internet?
# ---------------------------------------------------------------------------------------------------


def _internet_wide(props: Mapping[str, Any]) -> bool:
    """The rule's source is the whole Internet (``*``, ``Any``, ``0.0.0.0/0`` or ``Internet``)."""
    return any(s.lower() in _ANY_ADDRESS for s in _values(props, "sourceAddressPrefix", "sourceAddressPrefixes"))


def _open_to_internet(
    nsgs: Sequence[Mapping[str, Any]], destination: str, port: int, skip: Iterable[str] = ()
) -> str | None:
    """The allow rule that opens ``port`` of ``destination`` to any Internet source through every NSG, or None.

    Only rules whose source is the whole Internet count (a rule for some prefixes restricts, it does not
    expose); rules named in ``skip`` (JIT's own allow rules: access through JIT is not exposure) are ignored.
    The NSGs are given in evaluation order (subnet, then NIC).
    """
    skipped = {name.lower() for name in skip}
    opened_by: str | None = None
    for nsg in nsgs:
        decided = None
        for _default, rule in _ordered_rules(nsg):
            props = rule.get("properties") or {}
            if str(rule.get("name") or "").lower() in skipped or not _internet_wide(props):
                continue
            if str(props.get("direction") or "").lower() != "inbound":
                continue
            protocol = str(props.get("protocol") or "*")
            if protocol not in ("*",) and protocol.lower() != "tcp":
                continue
            if not _port_in(_values(props, "destinationPortRange", "destinationPortRanges"), port):
                continue
            if not _address_in(
                _values(props, "destinationAddressPrefix", "destinationAddressPrefixes"), destination, []
            ) and not _destination_is_tag(props):
                continue
            decided = (str(props.get("access") or ""), str(rule.get("name") or ""))
            break
        if decided is None or decided[0] != "Allow":
            return None
        opened_by = decided[1]
    return opened_by


def _destination_is_tag(props: Mapping[str, Any]) -> bool:
    """A destination of ``VirtualNetwork`` always covers the VM's own address."""
    return any(
        d.lower() == "virtualnetwork" for d in _values(props, "destinationAddressPrefix", "destinationAddressPrefixes")
    )


def _management_ports(extra: Iterable[int] = ()) -> list[int]:
    return sorted(set(_MANAGEMENT_PORTS) | {int(p) for p in extra})
