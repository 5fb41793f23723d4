# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""JIT rules on network security groups and Azure Firewalls: recognise them, read them, judge them (pure).

Private API of azsecops.jit: every name may change in any release. Nothing here imports Ansible or an
Azure SDK or does I/O; it works on ARM wire JSON (camelCase dicts) and on the small dataclasses below,
so every decision is unit-tested directly.

Which names are JIT's, in both generations (``SecurityCenter-JITRule`` before May 2023,
``MicrosoftDefenderForCloud-JITRule`` since), is decided in `_rule_names`. A rule whose name merely
*starts* with a JIT prefix without JIT's shape is a look-alike: JIT did not create it and will never
remove it, yet it looks like JIT's to whoever reads the NSG. Look-alikes are reported with kind
``unknown`` and state ``orphaned`` so that a pipeline failing on orphaned rules catches a hand-made rule
disguised as JIT's.

States of a JIT rule, the checklist of seed 000 automated:

* ``active``: it matches what its policy (deny rules) or its live request (allow and DNAT rules) says.
* ``expired``: an allow or DNAT rule whose request ended (status Revoked, or ``endTimeUtc`` passed by
  Azure's clock) but which is still there.
* ``orphaned``: nothing stands behind it: its VM does not exist or is not behind this NSG/firewall, the
  VM is in no JIT policy, the port is not in the policy, no request opened the port, or the name is a
  look-alike.
* ``drifted``: its port, protocol, source, destination (must be the VM's private IP) or access differ
  from the policy (deny: access Deny, source any, the policy port's protocol) or from the request
  (allow: access Allow, the request's sources; DNAT: the mapped port, the private IP and the port).

* ``shadowed``: a deny rule that matches its policy, but an Allow rule JIT did not write comes first on the
  same NSG (lower priority number) and lets the port in (NSG rules are evaluated by priority and the first
  match wins, https://learn.microsoft.com/azure/virtual-network/network-security-groups-overview#security-rules),
  so the port is open whatever JIT says.

Every verdict carries ``reasons``: what differs, in words.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from ._jit_model import _JitValueError, _parse_time, _prefix_key, _prefixes_from_wire, _vm_key, _vm_name
from ._rule_names import (
    _ALLOW,
    _DENY,
    _UNKNOWN,
    _firewall_naming,
    _jit_rule_kind,
    _jit_rule_naming,
    _lookalike_reason,
    _parse_description,
)

_ANY = "*"
_ANY_WORDS = frozenset({"*", "any"})
_MAX_PORT = 65535

_ACTIVE = "active"
_EXPIRED = "expired"
_ORPHANED = "orphaned"
_DRIFTED = "drifted"
_SHADOWED = "shadowed"
_STATES = (_ACTIVE, _EXPIRED, _ORPHANED, _DRIFTED, _SHADOWED)

_DNAT = "dnat"

# What Azure Firewall classic NAT rules list for a policy protocol.
_FIREWALL_PROTOCOLS = {"TCP": ("TCP",), "UDP": ("UDP",), "*": ("TCP", "UDP")}


# ---------------------------------------------------------------------------------------------------
# Ports and prefixes as NSG rules write them
# ---------------------------------------------------------------------------------------------------


def _port_range(spec: object) -> tuple[int, int] | None:
    """``"*"`` -> (0, 65535), ``"22"`` -> (22, 22), ``"20-25"`` -> (20, 25); anything else -> None."""
    text = str(spec).strip()
    if text == _ANY:
        return 0, _MAX_PORT
    low, sep, high = text.partition("-")
    low, high = low.strip(), high.strip()
    if not low.isdigit() or (sep and not high.isdigit()) or not low.isascii() or not high.isascii():
        return None
    first, last = int(low), int(high) if sep else int(low)
    if first > last or last > _MAX_PORT:
        return None
    return first, last


def _ports_cover(specs: Iterable[str], port: int) -> bool:
    """True when one of the port specs ("*", "22", "20-25") includes ``port``."""
    for spec in specs:
        bounds = _port_range(spec)
        if bounds is not None and bounds[0] <= port <= bounds[1]:
            return True
    return False


def _single_port(specs: Sequence[str]) -> int | None:
    """The port when the specs name exactly one port ("22" or "22-22"), else None."""
    if len(specs) != 1:
        return None
    bounds = _port_range(specs[0])
    if bounds is None or bounds[0] != bounds[1]:
        return None
    return bounds[0]


def _field_values(props: Mapping[str, Any], single: str, plural: str) -> tuple[str, ...]:
    """A rule field written singular or plural: the plural list when non-empty, else the singular value.

    Azure returns the unused one as ``[]`` or leaves it out; either way the other one counts.
    """
    many = props.get(plural)
    if isinstance(many, str) and many.strip():
        many = [many]
    if isinstance(many, (list, tuple)) and many:
        return tuple(str(item).strip() for item in many if str(item).strip())
    one = props.get(single)
    if one is None or str(one).strip() == "":
        return ()
    return (str(one).strip(),)


def _source_key(prefix: str) -> str:
    """Comparison key of an address prefix: "*"/"Any" -> "*", "10.0.0.4" == "10.0.0.4/32"."""
    if prefix.strip().lower() in _ANY_WORDS:
        return _ANY
    return _prefix_key(prefix)


def _same_prefixes(have: Iterable[str], want: Iterable[str]) -> bool:
    return {_source_key(p) for p in have} == {_source_key(p) for p in want}


def _protocol_key(protocol: object) -> str:
    """ "Tcp"/"TCP"/"tcp" -> "TCP", "*"/"Any" -> "*"; other protocols upper-cased."""
    text = str(protocol or "").strip()
    return _ANY if text.lower() in _ANY_WORDS or text.lower() == "all" else text.upper()


def _say_protocol(protocol: str) -> str:
    return "any (*)" if _protocol_key(protocol) == _ANY else protocol


def _listing(values: Sequence[str]) -> str:
    """'is X' for one value, 'are X, Y' for several, 'is empty' for none."""
    if not values:
        return "is empty"
    if len(values) == 1:
        return f"is {values[0]}"
    return f"are {', '.join(values)}"


def _say_prefixes(values: Sequence[str]) -> str:
    shown = ["any (*)" if _source_key(v) == _ANY else v for v in values]
    return ", ".join(shown) if shown else "none"


# ---------------------------------------------------------------------------------------------------
# Reading rules
# ---------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _NsgRule:
    """One NSG security rule as far as JIT cares, read from singular or plural fields."""

    name: str
    kind: str | None
    naming: str | None = None  # current / legacy (see _rule_names); None for a look-alike
    id: str = ""
    priority: int | None = None
    direction: str = ""
    access: str = ""
    protocol: str = ""
    ports: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    destinations: tuple[str, ...] = ()
    description: str = ""
    policy_name: str | None = None
    vm_name: str | None = None
    for_request: bool | None = None


@dataclasses.dataclass(frozen=True)
class _DnatRule:
    """One NAT rule of an Azure Firewall (classic rules) that JIT wrote or that looks like JIT's."""

    name: str
    kind: str  # "dnat" or "unknown"
    naming: str | None = None  # current (MDC-JIT) / legacy (ASC-JIT); None for a look-alike
    collection: str = ""
    priority: int | None = None
    protocols: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    destinations: tuple[str, ...] = ()
    ports: tuple[str, ...] = ()
    translated_address: str | None = None
    translated_port: str | None = None
    description: str = ""
    policy_name: str | None = None
    vm_name: str | None = None

    @property
    def protocol(self) -> str:
        """One word for the rule's protocols: TCP, UDP, "*" for both, else the list joined."""
        keys = sorted({_protocol_key(p) for p in self.protocols})
        if keys == ["TCP", "UDP"] or _ANY in keys:
            return _ANY
        return ",".join(keys)


def _priority(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _read_nsg_rule(rule: Mapping[str, Any]) -> _NsgRule:
    """An NSG rule (wire JSON, ``properties`` nested or flat) -> _NsgRule."""
    props = rule.get("properties")
    if not isinstance(props, Mapping):
        props = rule
    name = str(rule.get("name") or "")
    description = str(props.get("description") or "")
    policy, vm, for_request = _parse_description(description)
    return _NsgRule(
        name=name,
        kind=_jit_rule_kind(name),
        naming=_jit_rule_naming(name),
        id=str(rule.get("id") or ""),
        priority=_priority(props.get("priority")),
        direction=str(props.get("direction") or ""),
        access=str(props.get("access") or ""),
        protocol=str(props.get("protocol") or ""),
        ports=_field_values(props, "destinationPortRange", "destinationPortRanges"),
        sources=_field_values(props, "sourceAddressPrefix", "sourceAddressPrefixes"),
        destinations=_field_values(props, "destinationAddressPrefix", "destinationAddressPrefixes"),
        description=description,
        policy_name=policy,
        vm_name=vm,
        for_request=for_request,
    )


def _nsg_jit_rules(nsg: Mapping[str, Any]) -> list[_NsgRule]:
    """The JIT rules (and look-alikes) among an NSG's ``securityRules``; default rules are never JIT's."""
    rules = (nsg.get("properties") or {}).get("securityRules") or []
    read = [_read_nsg_rule(rule) for rule in rules if isinstance(rule, Mapping)]
    return [rule for rule in read if rule.kind is not None]


def _nsg_open_rules(nsg: Mapping[str, Any]) -> list[_NsgRule]:
    """The inbound Allow rules of an NSG that JIT did not write (hand-made, look-alikes included).

    Default rules (priority 65000 and up) come after every JIT deny rule (at most 4096) and are left out.
    A rule aimed at application security groups carries ``"asg"`` as a destination: which VMs the group
    holds is not read, so such a rule is taken to reach the VM.
    """
    found = []
    for raw in (nsg.get("properties") or {}).get("securityRules") or []:
        if not isinstance(raw, Mapping):
            continue
        rule = _read_nsg_rule(raw)
        if rule.kind in (_DENY, _ALLOW) or rule.access.lower() != "allow" or rule.direction.lower() != "inbound":
            continue
        nested = raw.get("properties")
        props: Mapping[str, Any] = nested if isinstance(nested, Mapping) else raw
        if props.get("destinationApplicationSecurityGroups"):
            rule = dataclasses.replace(rule, destinations=(*rule.destinations, "asg"))
        found.append(rule)
    return found


def _reaches(rule: _NsgRule, private_ip: str | None) -> bool:
    """True when the rule's destinations include the VM's private IP (or may: ``*``, VirtualNetwork, an ASG)."""
    for destination in rule.destinations:
        text = destination.strip()
        if text.lower() in ("*", "any", "virtualnetwork", "asg"):
            return True
        if private_ip is None:
            continue
        try:
            if ipaddress.ip_address(private_ip) in ipaddress.ip_network(text, strict=False):
                return True
        except ValueError:
            continue
    return False


def _lets_in(rule: _NsgRule, port: int, protocol: str | None, private_ip: str | None) -> bool:
    """True when an Allow rule admits ``port`` of the VM for (part of) the deny rule's protocol."""
    mine = _protocol_key(rule.protocol)
    theirs = _protocol_key(protocol or _ANY)
    if mine not in ("TCP", "UDP", _ANY) or not (mine == _ANY or theirs == _ANY or mine == theirs):
        return False
    return _ports_cover(rule.ports, port) and _reaches(rule, private_ip)


def _shadowing_rule(
    deny: _NsgRule, port: int, protocol: str | None, private_ip: str | None, open_rules: Sequence[_NsgRule]
) -> _NsgRule | None:
    """The first Allow rule evaluated before ``deny`` that lets the port in, or None."""
    if deny.priority is None:
        return None
    earlier = [r for r in open_rules if r.priority is not None and r.priority < deny.priority]
    for rule in sorted(earlier, key=lambda r: r.priority or 0):
        if _lets_in(rule, port, protocol, private_ip):
            return rule
    return None


def _shadow_reason(rule: _NsgRule, port: int) -> str:
    return (
        f"rule {rule.name} (priority {rule.priority}, Allow from {_say_prefixes(list(rule.sources))}) lets port {port} "
        "in before this deny rule: JIT does not protect the port until that rule is removed or moved after it"
    )


def _strings(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value.strip(),) if value.strip() else ()
    if isinstance(value, (list, tuple)):
        return tuple(str(item).strip() for item in value if str(item).strip())
    return ()


def _firewall_jit_rules(firewall: Mapping[str, Any]) -> list[_DnatRule]:
    """The JIT DNAT rules of a firewall: every rule of a JIT collection (``MDC-JIT...``, before May 2023
    ``ASC-JIT...``) and rules elsewhere named like JIT's.

    A rule outside JIT's collections whose name only looks like JIT's is returned with kind ``unknown``.
    The generation is the rule's own (``MDC-JIT``/``ASC-JIT`` or an NSG-style JIT name), else the collection's.
    """
    found: list[_DnatRule] = []
    for collection in (firewall.get("properties") or {}).get("natRuleCollections") or []:
        if not isinstance(collection, Mapping):
            continue
        cprops = collection.get("properties") or {}
        cname = str(collection.get("name") or "")
        collection_naming = _firewall_naming(cname)
        for rule in cprops.get("rules") or []:
            if not isinstance(rule, Mapping):
                continue
            name = str(rule.get("name") or "")
            kind = _jit_rule_kind(name)
            own_naming = _firewall_naming(name) or _jit_rule_naming(name)
            if kind is None and collection_naming is None and own_naming is None:
                continue
            policy, vm, _for_request = _parse_description(rule.get("description"))
            translated_port = rule.get("translatedPort")
            jit = collection_naming is not None or own_naming is not None
            found.append(
                _DnatRule(
                    name=name,
                    kind=_DNAT if jit else _UNKNOWN,
                    naming=(own_naming or collection_naming) if jit else None,
                    collection=cname,
                    priority=_priority(cprops.get("priority")),
                    protocols=_strings(rule.get("protocols")),
                    sources=_strings(rule.get("sourceAddresses")),
                    destinations=_strings(rule.get("destinationAddresses")),
                    ports=_strings(rule.get("destinationPorts")),
                    translated_address=str(rule["translatedAddress"]) if rule.get("translatedAddress") else None,
                    translated_port=None if translated_port in (None, "") else str(translated_port),
                    description=str(rule.get("description") or ""),
                    policy_name=policy,
                    vm_name=vm,
                )
            )
    return found


# ---------------------------------------------------------------------------------------------------
# Requests: one grant per VM port of a logged request
# ---------------------------------------------------------------------------------------------------


def _time_or_none(value: object) -> datetime | None:
    if not value:
        return None
    try:
        return _parse_time(str(value))
    except _JitValueError:
        return None


@dataclasses.dataclass(frozen=True)
class _Grant:
    """One VM port of one logged JIT request (a row of the policy's ``requests``)."""

    policy_id: str
    policy_name: str
    vm_id: str
    number: int
    sources: tuple[str, ...]
    status: str
    status_reason: str = ""
    start_text: str = ""
    end_text: str = ""
    requestor: str = ""
    justification: str | None = None
    mapped_port: int | None = None
    sequence: int = 0  # position in the log: later requests have higher numbers

    @property
    def vm_key(self) -> str:
        return _vm_key(self.vm_id)

    @property
    def start(self) -> datetime | None:
        return _time_or_none(self.start_text)

    @property
    def end(self) -> datetime | None:
        return _time_or_none(self.end_text)

    def ended(self, now: datetime) -> bool:
        """Revoked (or any status but Initiated), or its end time has come by Azure's clock."""
        if self.status.lower() != "initiated":
            return True
        end = self.end
        return end is not None and end <= now

    def seconds_left(self, now: datetime) -> int:
        end = self.end
        if self.ended(now) or end is None:
            return 0
        return max(0, int((end - now).total_seconds()))

    def ended_reason(self, now: datetime) -> str:
        when = f"request of {self.start_text}" if self.start_text else "request"
        who = f" by {self.requestor}" if self.requestor else ""
        if self.status.lower() != "initiated":
            why = f"{self.status}/{self.status_reason}" if self.status_reason else self.status
            return f"its {when}{who} ended ({why}) but the rule is still there"
        return (
            f"its {when}{who} ended at {self.end_text} (Azure's clock says {_show_time(now)}) "
            "but the rule is still there"
        )


def _show_time(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _grants_from_policy(policy: Mapping[str, Any]) -> list[_Grant]:
    """Every VM port of every request in a policy's log, oldest first. Unreadable entries are skipped."""
    policy_id = str(policy.get("id") or "")
    policy_name = str(policy.get("name") or "")
    grants: list[_Grant] = []
    requests = (policy.get("properties") or {}).get("requests") or []
    sequence = 0
    for request in requests:
        if not isinstance(request, Mapping):
            continue
        sequence += 1
        for vm in request.get("virtualMachines") or []:
            if not isinstance(vm, Mapping) or not isinstance(vm.get("id"), str):
                continue
            for port in vm.get("ports") or []:
                if not isinstance(port, Mapping):
                    continue
                try:
                    number = int(port["number"])
                except (KeyError, TypeError, ValueError):
                    continue
                mapped = port.get("mappedPort")
                grants.append(
                    _Grant(
                        policy_id=policy_id,
                        policy_name=policy_name,
                        vm_id=vm["id"],
                        number=number,
                        sources=_prefixes_from_wire(port),
                        status=str(port.get("status") or ""),
                        status_reason=str(port.get("statusReason") or ""),
                        start_text=str(request.get("startTimeUtc") or ""),
                        end_text=str(port.get("endTimeUtc") or ""),
                        requestor=str(request.get("requestor") or ""),
                        justification=request.get("justification"),
                        mapped_port=_priority(mapped),
                        sequence=sequence,
                    )
                )
    return grants


def _request_row(grant: _Grant, now: datetime, protocol: str | None = None) -> dict[str, Any]:
    """A grant as a ``requests`` row of jit_rule_facts (snake_case, times as Azure wrote them)."""
    row: dict[str, Any] = {
        "policy": {"name": grant.policy_name, "id": grant.policy_id},
        "vm": {"name": _vm_name(grant.vm_id), "id": grant.vm_id},
        "port": grant.number,
        "protocol": protocol,
        "status": grant.status,
        "status_reason": grant.status_reason,
        "requestor": grant.requestor,
        "justification": grant.justification,
        "start_time_utc": grant.start_text,
        "end_time_utc": grant.end_text,
        "seconds_left": grant.seconds_left(now),
        "active": not grant.ended(now),
        "allowed_source": list(grant.sources),
    }
    if grant.mapped_port is not None:
        row["mapped_port"] = grant.mapped_port
    return row


# ---------------------------------------------------------------------------------------------------
# What stands behind the rules: VMs, their path, policy ports and requests
# ---------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _VmTarget:
    """A VM as jit_rule_facts knows it.

    ``exists`` False: listed in a policy but gone from Azure. ``path_known`` False: its NICs/subnets were
    not read, so whether an NSG is on its path cannot be judged. ``nsgs`` are ``_vm_key``-style keys of
    the NSGs on its path, ``firewall`` the key of the Azure Firewall in front of it. ``ports`` maps each
    policy port to its protocol (TCP, UDP or "*"); an empty ``policy_id`` means the VM is in no policy.
    """

    id: str
    name: str = ""
    exists: bool = True
    path_known: bool = True
    private_ip: str | None = None
    nsgs: tuple[str, ...] = ()
    firewall: str | None = None
    firewall_ip: str | None = None
    policy_id: str | None = None
    policy_name: str | None = None
    ports: tuple[tuple[int, str], ...] = ()
    grants: tuple[_Grant, ...] = ()

    @property
    def key(self) -> str:
        return _vm_key(self.id)

    @property
    def display_name(self) -> str:
        return self.name or _vm_name(self.id)

    @property
    def resource_group(self) -> str:
        parts = self.id.split("/")
        return parts[4].lower() if len(parts) > 4 else ""

    def protocol_of(self, number: int) -> str | None:
        for port, protocol in self.ports:
            if port == number:
                return protocol
        return None


@dataclasses.dataclass
class _Verdict:
    """The judgement of one rule."""

    rule: _NsgRule | _DnatRule
    container_id: str
    vm: _VmTarget | None
    grant: _Grant | None
    state: str
    reasons: list[str]
    port: int | None = None  # the policy or requested port the rule stands for, when paired
    shadowed_by: _NsgRule | None = None  # the Allow rule that admits the port first (deny rules)


@dataclasses.dataclass(frozen=True)
class _Missing:
    """A rule JIT should have written on an NSG or firewall but that is not there."""

    kind: str  # deny / allow / dnat
    container_id: str
    vm: _VmTarget
    port: int
    grant: _Grant | None
    reason: str


def _rg_of(resource_id: str) -> str:
    parts = resource_id.split("/")
    return parts[4].lower() if len(parts) > 4 else ""


def _name_of(resource_id: str) -> str:
    return resource_id.rstrip("/").rsplit("/", 1)[-1]


def _attribute(
    vm_name: str | None,
    addresses: Sequence[str],
    container_key: str,
    on_path: Sequence[_VmTarget],
    known: Sequence[_VmTarget],
    what: str,
) -> tuple[_VmTarget | None, str | None]:
    """The VM a rule belongs to, and why it is orphaned (None when it is not).

    The VM named in the description wins; without a description the rule's destination (or translated
    address) is matched against the private IPs of the VMs behind the NSG or firewall.
    """
    if vm_name:
        lowered = vm_name.lower()
        for vm in on_path:
            if vm.display_name.lower() == lowered:
                return vm, None
        named = [vm for vm in known if vm.display_name.lower() == lowered]
        named.sort(key=lambda vm: (not vm.exists, vm.resource_group != _rg_of(container_key)))
        if named:
            vm = named[0]
            if not vm.exists:
                where = f" (policy '{vm.policy_name}' still lists it)" if vm.policy_name else ""
                return vm, f"VM {vm.display_name} no longer exists{where}"
            if vm.path_known:
                return vm, f"VM {vm.display_name} is not behind this {what} (it is not on the VM's NIC or subnet)"
            return vm, None
        return None, f"VM '{vm_name}' named in the rule's description does not exist (among the VMs read)"
    keys = {_source_key(address) for address in addresses}
    matches = [vm for vm in on_path if vm.private_ip and _source_key(vm.private_ip) in keys]
    if len(matches) == 1:
        return matches[0], None
    return None, f"the rule's description names no VM and its destination matches no VM behind this {what}"


def _no_policy_reason(vm: _VmTarget, rule_policy: str | None) -> str:
    named = f" (the rule's description names policy '{rule_policy}')" if rule_policy else ""
    return f"VM {vm.display_name} is in no JIT policy{named}"


def _pair_by_port(
    items: Sequence[tuple[int, int | None]], wanted: Sequence[int]
) -> tuple[dict[int, int], dict[int, int], list[int]]:
    """Pair rules (index, single port or None) with wanted port numbers.

    Returns (exact pairs index -> port, drifted pairs index -> port, ports left unpaired). Exact matches
    go first; a rule left over takes a port left over (its port was edited); the rest stay unpaired.
    """
    free = sorted(set(wanted))
    exact: dict[int, int] = {}
    for index, port in items:
        if port is not None and port in free:
            exact[index] = port
            free.remove(port)
    drifted: dict[int, int] = {}
    for index, _port in items:
        if index not in exact and free:
            drifted[index] = free.pop(0)
    return exact, drifted, free


# ---------------------------------------------------------------------------------------------------
# Drift checks
# ---------------------------------------------------------------------------------------------------


def _port_reason(ports: Sequence[str], number: int, whose: str) -> str | None:
    if _single_port(ports) == number:
        return None
    label = "destination port" if len(ports) == 1 else "destination ports"
    return f"{label} {_listing(list(ports))}, not {whose} {number}"


def _source_reason(have: Sequence[str], want: Sequence[str], whose: str) -> str | None:
    if _same_prefixes(have, want):
        return None
    verb = "sources are" if len(have) > 1 else "source is"
    owner = f"{whose} " if whose else ""
    return f"{verb} {_say_prefixes(have)}, not {owner}{_say_prefixes(want)}"


def _destination_reason(destinations: Sequence[str], vm: _VmTarget, label: str = "destination") -> str | None:
    if not vm.private_ip:
        return None
    if _same_prefixes(destinations, [vm.private_ip]) and len(destinations) == 1:
        return None
    shown = ["any (*)" if _source_key(d) == _ANY else d for d in destinations]
    return f"{label} {_listing(shown)}, not the VM's private IP {vm.private_ip}"


def _nsg_rule_reasons(
    rule: _NsgRule,
    vm: _VmTarget,
    *,
    number: int,
    protocol: str | None,
    access: str,
    sources: Sequence[str],
    whose: str,
    source_whose: str,
) -> list[str]:
    """What differs between an NSG rule and what JIT writes (seed 000's order: port, protocol, source,
    destination, action; then direction)."""
    reasons: list[str] = []
    port_reason = _port_reason(rule.ports, number, whose)
    if port_reason:
        reasons.append(port_reason)
    if protocol is not None and _protocol_key(rule.protocol) != _protocol_key(protocol):
        reasons.append(
            f"protocol is {_say_protocol(rule.protocol) or 'empty'}, not the policy's {_say_protocol(protocol)}"
        )
    source = _source_reason(rule.sources, sources, source_whose)
    if source:
        reasons.append(source)
    destination = _destination_reason(rule.destinations, vm)
    if destination:
        reasons.append(destination)
    if rule.access.lower() != access.lower():
        reasons.append(f"access is {rule.access or 'empty'}, not {access}")
    if rule.direction.lower() != "inbound":
        reasons.append(f"direction is {rule.direction or 'empty'}, not Inbound")
    return reasons


def _deny_reasons(rule: _NsgRule, vm: _VmTarget, number: int) -> list[str]:
    """A deny rule against the policy: access Deny, source any, destination the private IP, the port and
    its protocol."""
    return _nsg_rule_reasons(
        rule,
        vm,
        number=number,
        protocol=vm.protocol_of(number),
        access="Deny",
        sources=[_ANY],
        whose="the policy's port",
        source_whose="",
    )


def _allow_reasons(rule: _NsgRule, vm: _VmTarget, grant: _Grant) -> list[str]:
    """An allow rule against its request: access Allow, the request's sources, destination the private IP,
    the requested port and the policy port's protocol."""
    return _nsg_rule_reasons(
        rule,
        vm,
        number=grant.number,
        protocol=vm.protocol_of(grant.number),
        access="Allow",
        sources=grant.sources,
        whose="the requested port",
        source_whose="the request's",
    )


def _dnat_reasons(rule: _DnatRule, vm: _VmTarget, grant: _Grant, firewall_ip: str | None) -> list[str]:
    """A DNAT rule against its request: sources, firewall IP : mapped port -> private IP : port, protocol."""
    reasons: list[str] = []
    if grant.mapped_port is not None and _single_port(rule.ports) != grant.mapped_port:
        reasons.append(
            f"destination port {_listing(list(rule.ports))}, not the request's mapped port {grant.mapped_port}"
        )
    protocol = vm.protocol_of(grant.number)
    if protocol is not None:
        want = _FIREWALL_PROTOCOLS.get(_protocol_key(protocol))
        if want is not None and {_protocol_key(p) for p in rule.protocols} != set(want):
            reasons.append(
                f"protocols are {', '.join(rule.protocols) or 'empty'}, not {', '.join(want)} "
                f"(the policy's {_say_protocol(protocol)})"
            )
    source = _source_reason(rule.sources, grant.sources, "the request's")
    if source:
        reasons.append(source)
    if firewall_ip and not (len(rule.destinations) == 1 and _same_prefixes(rule.destinations, [firewall_ip])):
        reasons.append(f"destination {_listing(list(rule.destinations))}, not the firewall's public IP {firewall_ip}")
    if vm.private_ip and _source_key(rule.translated_address or "") != _source_key(vm.private_ip):
        reasons.append(
            f"translated address is {rule.translated_address or 'empty'}, not the VM's private IP {vm.private_ip}"
        )
    if str(rule.translated_port or "").strip() != str(grant.number):
        reasons.append(f"translated port is {rule.translated_port or 'empty'}, not the requested port {grant.number}")
    return reasons


def _best_grant(candidates: Sequence[_Grant], sources: Sequence[str], now: datetime) -> _Grant | None:
    """The request a rule belongs to: same sources first, then a live one, then the latest."""
    if not candidates:
        return None
    return max(
        candidates,
        key=lambda g: (_same_prefixes(g.sources, sources), not g.ended(now), g.sequence),
    )


def _grant_verdict(
    rule: _NsgRule | _DnatRule,
    container_id: str,
    vm: _VmTarget,
    grant: _Grant,
    drift: list[str],
    now: datetime,
) -> _Verdict:
    if grant.ended(now):
        return _Verdict(rule, container_id, vm, grant, _EXPIRED, [grant.ended_reason(now), *drift], grant.number)
    return _Verdict(rule, container_id, vm, grant, _DRIFTED if drift else _ACTIVE, drift, grant.number)


# ---------------------------------------------------------------------------------------------------
# Judging an NSG and a firewall
# ---------------------------------------------------------------------------------------------------


def _judge_nsg(
    nsg_id: str,
    rules: Sequence[_NsgRule],
    vms: Sequence[_VmTarget],
    now: datetime,
    open_rules: Sequence[_NsgRule] = (),
) -> tuple[list[_Verdict], list[_Missing]]:
    """Judge the JIT rules of one NSG, and list the JIT rules it lacks.

    ``vms`` are every VM known (those behind the NSG have its key in ``nsgs``); ``now`` is Azure's clock.
    Deny rules are held against the policy ports of their VM, allow rules against the VM's requests.
    Missing: a policy port of a VM behind the NSG without its deny rule, a live request without its allow
    rule (seed 000: "If no JIT rule exists, check the user permissions and the Activity Log").
    """
    key = _vm_key(nsg_id)
    on_path = [vm for vm in vms if vm.exists and key in vm.nsgs]
    verdicts: dict[int, _Verdict] = {}
    by_vm: dict[str, list[tuple[int, _NsgRule]]] = {}
    owners: dict[str, _VmTarget] = {}
    for index, rule in enumerate(rules):
        vm, orphan = _attribute(rule.vm_name, rule.destinations, key, on_path, vms, "NSG")
        if rule.kind == _UNKNOWN:
            verdicts[index] = _Verdict(rule, nsg_id, vm, None, _ORPHANED, [_lookalike_reason(rule.name)])
            continue
        if vm is None or orphan:
            verdicts[index] = _Verdict(rule, nsg_id, vm, None, _ORPHANED, [orphan or "no VM behind it"])
            continue
        if not vm.policy_id:
            verdicts[index] = _Verdict(rule, nsg_id, vm, None, _ORPHANED, [_no_policy_reason(vm, rule.policy_name)])
            continue
        by_vm.setdefault(vm.key, []).append((index, rule))
        owners[vm.key] = vm

    missing: list[_Missing] = []
    for vm_key, items in by_vm.items():
        vm = owners[vm_key]
        deny = [(i, r) for i, r in items if r.kind == _DENY]
        allow = [(i, r) for i, r in items if r.kind == _ALLOW]
        verdicts.update(_judge_deny(nsg_id, vm, deny, open_rules))
        verdicts.update(_judge_allow(nsg_id, vm, allow, now))
    for vm in on_path:
        if not vm.policy_id:
            continue
        items = by_vm.get(vm.key, [])
        paired_ports = {verdicts[i].port for i, r in items if r.kind == _DENY}
        for number, _protocol in vm.ports:
            if number not in paired_ports:
                missing.append(
                    _Missing(
                        _DENY, nsg_id, vm, number, None, f"no JIT deny rule for port {number} of VM {vm.display_name}"
                    )
                )
        taken = {id(verdicts[i].grant) for i, r in items if r.kind == _ALLOW and verdicts[i].grant is not None}
        for grant in _live_grants(vm, now):
            if id(grant) not in taken:
                missing.append(
                    _Missing(
                        _ALLOW,
                        nsg_id,
                        vm,
                        grant.number,
                        grant,
                        f"no JIT allow rule for the live request of port {grant.number} of VM {vm.display_name}",
                    )
                )
    return [verdicts[i] for i in sorted(verdicts)], missing


def _live_grants(vm: _VmTarget, now: datetime) -> list[_Grant]:
    """The newest live grant of each port of the VM."""
    live: dict[int, _Grant] = {}
    for grant in vm.grants:
        if not grant.ended(now) and (grant.number not in live or grant.sequence > live[grant.number].sequence):
            live[grant.number] = grant
    return [live[number] for number in sorted(live)]


def _judge_deny(
    nsg_id: str, vm: _VmTarget, items: Sequence[tuple[int, _NsgRule]], open_rules: Sequence[_NsgRule] = ()
) -> dict[int, _Verdict]:
    wanted = [number for number, _protocol in vm.ports]
    exact, drifted, _free = _pair_by_port([(i, _single_port(r.ports)) for i, r in items], wanted)
    verdicts: dict[int, _Verdict] = {}
    for index, rule in items:
        number = exact.get(index, drifted.get(index))
        if number is None:
            ports = ", ".join(str(n) for n in sorted(wanted)) or "none"
            verdict = _Verdict(
                rule,
                nsg_id,
                vm,
                None,
                _ORPHANED,
                [
                    f"port {', '.join(rule.ports) or 'none'} is not a JIT port of VM {vm.display_name} in policy "
                    f"'{vm.policy_name}' (its ports: {ports})"
                ],
            )
        else:
            reasons = _deny_reasons(rule, vm, number)
            verdict = _Verdict(rule, nsg_id, vm, None, _DRIFTED if reasons else _ACTIVE, reasons, number)
            shadow = _shadowing_rule(rule, number, vm.protocol_of(number), vm.private_ip, open_rules)
            if shadow is not None:
                verdict.shadowed_by = shadow
                verdict.reasons = [*reasons, _shadow_reason(shadow, number)]
                if not reasons:
                    verdict.state = _SHADOWED
        verdicts[index] = verdict
    return verdicts


def _judge_allow(
    nsg_id: str, vm: _VmTarget, items: Sequence[tuple[int, _NsgRule]], now: datetime
) -> dict[int, _Verdict]:
    verdicts: dict[int, _Verdict] = {}
    taken: set[int] = set()
    leftovers: list[tuple[int, _NsgRule]] = []
    for index, rule in items:
        port = _single_port(rule.ports)
        candidates = [g for g in vm.grants if port is not None and g.number == port]
        grant = _best_grant(candidates, rule.sources, now)
        if grant is None:
            leftovers.append((index, rule))
            continue
        taken.add(id(grant))
        verdicts[index] = _grant_verdict(rule, nsg_id, vm, grant, _allow_reasons(rule, vm, grant), now)
    free = [g for g in _live_grants(vm, now) if id(g) not in taken]
    for index, rule in leftovers:
        if free:
            grant = free.pop(0)
            verdicts[index] = _grant_verdict(rule, nsg_id, vm, grant, _allow_reasons(rule, vm, grant), now)
            continue
        verdicts[index] = _Verdict(
            rule,
            nsg_id,
            vm,
            None,
            _ORPHANED,
            [
                f"no request of policy '{vm.policy_name}' opened port {', '.join(rule.ports) or 'none'} "
                f"of VM {vm.display_name}"
            ],
        )
    return verdicts


def _judge_firewall(
    firewall_id: str,
    rules: Sequence[_DnatRule],
    vms: Sequence[_VmTarget],
    now: datetime,
    public_ip: str | None = None,
) -> tuple[list[_Verdict], list[_Missing]]:
    """Judge the JIT DNAT rules of one Azure Firewall, and list the DNAT rules live requests lack.

    A DNAT rule belongs to the request whose ``mappedPort`` is its destination port (else the request of
    its translated port); it must carry the request's sources, forward the firewall's public IP and the
    mapped port to the VM's private IP and the requested port.
    """
    key = _vm_key(firewall_id)
    behind = [vm for vm in vms if vm.exists and vm.firewall == key]
    verdicts: list[_Verdict] = []
    taken: set[int] = set()
    for rule in rules:
        vm, orphan = _attribute(rule.vm_name, [rule.translated_address or ""], key, behind, vms, "firewall")
        if rule.kind == _UNKNOWN:
            verdicts.append(_Verdict(rule, firewall_id, vm, None, _ORPHANED, [_lookalike_reason(rule.name)]))
            continue
        if vm is None or orphan:
            verdicts.append(_Verdict(rule, firewall_id, vm, None, _ORPHANED, [orphan or "no VM behind it"]))
            continue
        if not vm.policy_id:
            verdicts.append(_Verdict(rule, firewall_id, vm, None, _ORPHANED, [_no_policy_reason(vm, rule.policy_name)]))
            continue
        mapped = _single_port(rule.ports)
        candidates = [g for g in vm.grants if mapped is not None and g.mapped_port == mapped]
        if not candidates:
            translated = _single_port([rule.translated_port or ""])
            candidates = [g for g in vm.grants if translated is not None and g.number == translated]
        if not candidates:
            candidates = [g for g in _live_grants(vm, now) if id(g) not in taken and g.mapped_port is not None]
        grant = _best_grant(candidates, rule.sources, now)
        if grant is None:
            verdicts.append(
                _Verdict(
                    rule,
                    firewall_id,
                    vm,
                    None,
                    _ORPHANED,
                    [
                        f"no request of policy '{vm.policy_name}' opened port {rule.translated_port or 'none'} "
                        f"of VM {vm.display_name}"
                    ],
                )
            )
            continue
        taken.add(id(grant))
        verdicts.append(
            _grant_verdict(
                rule, firewall_id, vm, grant, _dnat_reasons(rule, vm, grant, public_ip or vm.firewall_ip), now
            )
        )
    missing: list[_Missing] = []
    for vm in behind:
        if not vm.policy_id:
            continue
        for grant in _live_grants(vm, now):
            if grant.mapped_port is not None and id(grant) not in taken:
                missing.append(
                    _Missing(
                        _DNAT,
                        firewall_id,
                        vm,
                        grant.number,
                        grant,
                        f"no JIT DNAT rule for mapped port {grant.mapped_port} of the live request of port "
                        f"{grant.number} of VM {vm.display_name}",
                    )
                )
    return verdicts, missing


# ---------------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------------


def _ref(resource_id: str | None, name: str | None = None) -> dict[str, str] | None:
    if not resource_id:
        return None
    return {"name": name or _name_of(resource_id), "id": resource_id}


def _verdict_result(verdict: _Verdict, scope: str | None, container_name: str | None = None) -> dict[str, Any]:
    """A judged rule as a ``rules`` entry of jit_rule_facts."""
    rule = verdict.rule
    vm = verdict.vm
    grant = verdict.grant
    result: dict[str, Any] = {"name": rule.name, "kind": rule.kind, "naming": rule.naming}
    if isinstance(rule, _DnatRule):
        firewall = _ref(verdict.container_id, container_name)
        if firewall is not None:
            firewall["nat_rule_collection"] = rule.collection
        result.update(
            nsg=None,
            firewall=firewall,
            scope="firewall",
            priority=rule.priority,
            direction=None,
            protocol=rule.protocol,
            ports=list(rule.ports),
            sources=list(rule.sources),
            destinations=list(rule.destinations),
            access="Dnat",
            translated_address=rule.translated_address,
            translated_port=rule.translated_port,
        )
    else:
        result.update(
            nsg=_ref(verdict.container_id, container_name),
            firewall=None,
            scope=scope,
            priority=rule.priority,
            direction=rule.direction or None,
            protocol=rule.protocol,
            ports=list(rule.ports),
            sources=list(rule.sources),
            destinations=list(rule.destinations),
            access=rule.access,
            translated_address=None,
            translated_port=None,
        )
    result["description"] = rule.description
    result["vm"] = _ref(vm.id, vm.display_name) if vm is not None else None
    result["policy"] = _ref(vm.policy_id, vm.policy_name) if vm is not None and vm.policy_id else None
    result["request"] = (
        {
            "start_time_utc": grant.start_text,
            "end_time_utc": grant.end_text,
            "requestor": grant.requestor,
            "status": grant.status,
            "status_reason": grant.status_reason,
        }
        if grant is not None
        else None
    )
    result["state"] = verdict.state
    result["reasons"] = list(verdict.reasons)
    shadow = verdict.shadowed_by
    result["shadowed_by"] = (
        {"name": shadow.name, "priority": shadow.priority, "sources": list(shadow.sources), "id": shadow.id or None}
        if shadow is not None
        else None
    )
    return result


def _missing_result(missing: _Missing, scope: str | None) -> dict[str, Any]:
    """A rule JIT should have written, as a ``missing`` entry of jit_rule_facts."""
    container = _ref(missing.container_id)
    return {
        "kind": missing.kind,
        "nsg": container if missing.kind != _DNAT else None,
        "firewall": container if missing.kind == _DNAT else None,
        "scope": "firewall" if missing.kind == _DNAT else scope,
        "vm": _ref(missing.vm.id, missing.vm.display_name),
        "policy": _ref(missing.vm.policy_id, missing.vm.policy_name),
        "port": missing.port,
        "request": (
            {"start_time_utc": missing.grant.start_text, "requestor": missing.grant.requestor}
            if missing.grant is not None
            else None
        ),
        "reason": missing.reason,
    }
