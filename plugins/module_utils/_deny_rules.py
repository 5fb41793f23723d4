# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Is a VM's JIT protection really there? Missing deny rules, and allow rules that let a JIT port in first.

Private API of azsecops.jit, used by jit_policy. Pure: NSG bodies (ARM wire JSON) in, findings out.
Rule reading is `_nsg_rules`'s and JIT rule recognition `_rule_names`'; this file only judges one VM's
ports against them.

NSG rules are evaluated by priority, lowest number first, and the first match decides
(https://learn.microsoft.com/azure/virtual-network/network-security-group-how-it-works), so an inbound
Allow rule for a JIT port with a lower number than JIT's deny rule opens the port whatever JIT says.
Azure places a new deny rule after the rules already there for the port, so before onboarding any such
Allow rule will come first.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

from ._nsg_rules import _NsgRule, _ports_cover, _read_nsg_rule

_ANY_DESTINATIONS = frozenset({"*", "any", "virtualnetwork"})


@dataclasses.dataclass(frozen=True)
class _Shadow:
    """An Allow rule that lets a JIT port in ahead of (or instead of) JIT's deny rule."""

    nsg_name: str
    rule: str
    priority: int | None
    sources: tuple[str, ...]
    deny_priority: int | None


def _inbound(rule: _NsgRule) -> bool:
    return rule.direction.lower() in ("", "inbound")


def _protocols_meet(a: str, b: str) -> bool:
    a, b = a.strip().lower(), b.strip().lower()
    return a in ("*", "any", "") or b in ("*", "any", "") or a == b


def _reaches(destinations: Sequence[str], private_ip: str) -> bool:
    """Whether a rule's destinations include the VM's private IP (service tags other than VirtualNetwork and
    application security groups are not judged: only clear matches are reported)."""
    try:
        address = ipaddress.ip_address(private_ip)
    except ValueError:
        return False
    for item in destinations:
        text = item.strip()
        if text.lower() in _ANY_DESTINATIONS:
            return True
        try:
            if address in ipaddress.ip_network(text, strict=False):
                return True
        except ValueError:
            continue
    return False


def _all_rules(nsg: Mapping[str, Any]) -> list[_NsgRule]:
    rules = (nsg.get("properties") or {}).get("securityRules") or []
    return [_read_nsg_rule(rule) for rule in rules if isinstance(rule, Mapping)]


def _deny_rule(rules: Sequence[_NsgRule], private_ip: str, number: int) -> _NsgRule | None:
    """JIT's deny rule for this VM port, if the NSG holds it."""
    for rule in rules:
        if rule.kind != "deny" or rule.access.lower() != "deny" or not _inbound(rule):
            continue
        if _reaches(rule.destinations, private_ip) and _ports_cover(rule.ports, number):
            return rule
    return None


def _judge_port(nsg: Mapping[str, Any], private_ip: str, number: int, protocol: str) -> tuple[bool, list[_Shadow]]:
    """(deny rule present, Allow rules that come first) for one VM port in one NSG."""
    rules = _all_rules(nsg)
    deny = _deny_rule(rules, private_ip, number)
    limit = deny.priority if deny is not None else None
    shadows = []
    for rule in rules:
        if rule.kind is not None or rule.access.lower() != "allow" or not _inbound(rule):
            continue  # JIT's own allow rules are grants, not holes
        if limit is not None and (rule.priority is None or rule.priority >= limit):
            continue
        if not _protocols_meet(rule.protocol, protocol) or not _ports_cover(rule.ports, number):
            continue
        if not _reaches(rule.destinations, private_ip):
            continue
        shadows.append(
            _Shadow(
                nsg_name=str(nsg.get("name") or ""),
                rule=rule.name,
                priority=rule.priority,
                sources=rule.sources,
                deny_priority=limit,
            )
        )
    return deny is not None, shadows
