# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Judging the JIT rules of an NSG or Azure Firewall against the policies and requests behind them (pure).

Private API of azsecops.jit: every name may change in any release. Nothing here imports Ansible or an
Azure SDK or does I/O; it works on ARM wire JSON (camelCase dicts) and on small dataclasses, so every
decision is unit-tested directly.

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
from collections.abc import Sequence
from datetime import datetime

from ._arm_id import _arm_key, _name_of, _rg_of
from ._jit_grants import _Grant
from ._nsg_rules import (
    _ANY,
    _DNAT,
    _DnatRule,
    _listing,
    _NsgRule,
    _protocol_key,
    _same_prefixes,
    _say_prefixes,
    _say_protocol,
    _shadow_reason,
    _shadowing_rule,
    _single_port,
    _source_key,
)
from ._rule_names import _ALLOW, _DENY, _UNKNOWN, _lookalike_reason

_ACTIVE = "active"
_EXPIRED = "expired"
_ORPHANED = "orphaned"
_DRIFTED = "drifted"
_SHADOWED = "shadowed"
_STATES = (_ACTIVE, _EXPIRED, _ORPHANED, _DRIFTED, _SHADOWED)

# What Azure Firewall classic NAT rules list for a policy protocol.
_FIREWALL_PROTOCOLS = {"TCP": ("TCP",), "UDP": ("UDP",), "*": ("TCP", "UDP")}


# ---------------------------------------------------------------------------------------------------
# What stands behind the rules: VMs, their path, policy ports and requests
# ---------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _VmTarget:
    """A VM as jit_rule_facts knows it.

    ``exists`` False: listed in a policy but gone from Azure. ``path_known`` False: its NICs/subnets were
    not read, so whether an NSG is on its path cannot be judged. ``nsgs`` are ``_arm_key``-style keys of
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
        return _arm_key(self.id)

    @property
    def display_name(self) -> str:
        return self.name or _name_of(self.id)

    @property
    def resource_group(self) -> str:
        return _rg_of(self.id).lower()

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
        named.sort(key=lambda vm: (not vm.exists, vm.resource_group != _rg_of(container_key).lower()))
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
    key = _arm_key(nsg_id)
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
    key = _arm_key(firewall_id)
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
