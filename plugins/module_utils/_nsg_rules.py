# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""JIT rules on network security groups and Azure Firewalls: the vocabulary (ports, prefixes, protocols as
rules write them) and reading rules into small typed records (pure).

Private API of azsecops.jit: every name may change in any release. Nothing here imports Ansible or an
Azure SDK or does I/O; it works on ARM wire JSON (camelCase dicts) and on small dataclasses, so every
decision is unit-tested directly.

Which names are JIT's, in both generations (``SecurityCenter-JITRule`` before May 2023,
``MicrosoftDefenderForCloud-JITRule`` since), is decided in `_rule_names`. A rule whose name merely
*starts* with a JIT prefix without JIT's shape is a look-alike: JIT did not create it and will never
remove it, yet it looks like JIT's to whoever reads the NSG. Look-alikes are reported with kind
``unknown`` and state ``orphaned`` so that a pipeline failing on orphaned rules catches a hand-made rule
disguised as JIT's.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ._jit_model import _prefix_key
from ._rule_names import _ALLOW, _DENY, _UNKNOWN, _firewall_naming, _jit_rule_kind, _jit_rule_naming, _parse_description

_ANY = "*"
_ANY_WORDS = frozenset({"*", "any"})
_MAX_PORT = 65535

_DNAT = "dnat"


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


# The destination _nsg_open_rules gives a rule aimed at application security groups (not an address prefix).
_ASG = "asg"


def _nsg_open_rules(nsg: Mapping[str, Any]) -> list[_NsgRule]:
    """The inbound Allow rules of an NSG that JIT did not write (hand-made, look-alikes included).

    Default rules (priority 65000 and up) come after every JIT deny rule (at most 4096) and are left out.
    A rule aimed at application security groups carries ``_ASG`` as a destination: which VMs the group
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
            rule = dataclasses.replace(rule, destinations=(*rule.destinations, _ASG))
        found.append(rule)
    return found


def _reaches(rule: _NsgRule, private_ip: str | None) -> bool:
    """True when the rule's destinations include the VM's private IP (or may: ``*``, VirtualNetwork, an ASG)."""
    for destination in rule.destinations:
        text = destination.strip()
        if text.lower() in ("*", "any", "virtualnetwork", _ASG):
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


def _rules_letting_in(
    port: int, protocol: str | None, private_ip: str | None, open_rules: Sequence[_NsgRule], before: int | None
) -> list[_NsgRule]:
    """The Allow rules of ``open_rules`` that let the port in, in evaluation order (lowest priority first).

    With ``before``, only those evaluated before that priority; without it (no deny rule yet), all of them:
    Azure places a new deny rule after the rules already there for the port.
    """
    ordered = sorted((r for r in open_rules if r.priority is not None), key=lambda r: r.priority or 0)
    return [
        rule
        for rule in ordered
        if (before is None or (rule.priority or 0) < before) and _lets_in(rule, port, protocol, private_ip)
    ]


def _shadowing_rule(
    deny: _NsgRule, port: int, protocol: str | None, private_ip: str | None, open_rules: Sequence[_NsgRule]
) -> _NsgRule | None:
    """The first Allow rule evaluated before ``deny`` that lets the port in (the one that decides), or None."""
    if deny.priority is None:
        return None
    rules = _rules_letting_in(port, protocol, private_ip, open_rules, deny.priority)
    return rules[0] if rules else None


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
