# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Is a VM's JIT protection really there? Missing deny rules, and allow rules that let a JIT port in first.

Private API of azsecops.jit, used by jit_policy. Pure: NSG bodies (ARM wire JSON) in, findings out.
Rule reading, and which Allow rules let a port in, are `_nsg_rules`'s (jit_rule_facts judges with the same
functions); this file only applies them to one VM port before a policy write.

NSG rules are evaluated by priority, lowest number first, and the first match decides
(https://learn.microsoft.com/azure/virtual-network/network-security-group-how-it-works), so an inbound
Allow rule for a JIT port with a lower number than JIT's deny rule opens the port whatever JIT says.
Azure places a new deny rule after the rules already there for the port, so before onboarding any such
Allow rule will come first.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from ._nsg_rules import (
    _ASG,
    _nsg_jit_rules,
    _nsg_open_rules,
    _NsgRule,
    _ports_cover,
    _reaches,
    _rules_letting_in,
)


@dataclasses.dataclass(frozen=True)
class _Shadow:
    """An Allow rule that lets a JIT port in ahead of (or instead of) JIT's deny rule."""

    rule: str
    priority: int | None
    sources: tuple[str, ...]
    deny_priority: int | None
    # Aimed at an application security group: its members are not read, so the VM may be one of them.
    to_asg: bool = False


@dataclasses.dataclass(frozen=True)
class _NsgReading:
    """One NSG's rules read once, then judged for every VM port on it."""

    jit_rules: list[_NsgRule]
    open_rules: list[_NsgRule]


def _read_nsg(nsg: Mapping[str, Any]) -> _NsgReading:
    return _NsgReading(_nsg_jit_rules(nsg), _nsg_open_rules(nsg))


def _deny_rule(rules: Sequence[_NsgRule], private_ip: str, number: int) -> _NsgRule | None:
    """JIT's deny rule for this VM port, if the NSG holds it."""
    for rule in rules:
        if rule.kind != "deny" or rule.access.lower() != "deny" or rule.direction.lower() not in ("", "inbound"):
            continue
        if _reaches(rule, private_ip) and _ports_cover(rule.ports, number):
            return rule
    return None


def _judge_port(nsg: _NsgReading, private_ip: str, number: int, protocol: str) -> tuple[bool, list[_Shadow]]:
    """(deny rule present, every Allow rule that comes first, in evaluation order) for one VM port in one NSG.

    The first of them is the rule jit_rule_facts names when it reports the deny rule ``shadowed``.
    """
    deny = _deny_rule(nsg.jit_rules, private_ip, number)
    limit = deny.priority if deny is not None else None
    if deny is not None and limit is None:
        return True, []  # a deny rule without a priority cannot be ordered against the others
    shadows = [
        _Shadow(
            rule=rule.name,
            priority=rule.priority,
            sources=rule.sources,
            deny_priority=limit,
            to_asg=_ASG in rule.destinations,
        )
        for rule in _rules_letting_in(number, protocol, private_ip, nsg.open_rules, limit)
    ]
    return deny is not None, shadows
