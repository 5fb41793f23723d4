"""JIT rule naming, placement and removal on NSGs and Azure Firewalls (classic rules), as pure functions.

Every function takes ARM wire JSON (plain dicts, camelCase) and returns a NEW body; inputs are never
mutated. Nothing here does I/O: the network provider loads and stores the resources around these calls.

Rule names have the shapes real NSGs hold (exports people published): deny rules
``<prefix>_<signed 32-bit int>_<32 upper-case hex>``, allow rules ``<prefix>-<int>-<32 upper-case hex>``, a
VM's deny and allow rules sharing the int. Two generations exist (Defender for Cloud release notes, May 2023,
"Revised JIT (Just-In-Time) rule naming conventions",
https://learn.microsoft.com/azure/defender-for-cloud/release-notes-archive): ``current`` writes the prefix
``MicrosoftDefenderForCloud-JITRule``, descriptions ``MDC JIT Network Access rule ...`` and firewall
collections ``MDC-JIT-...``; ``legacy`` (older subscriptions) ``SecurityCenter-JITRule``, ``ASC ...`` and
``ASC-JIT-...``. The emulator derives names deterministically (the int from the CRC-32 of policy and VM id,
the hex from the MD5 of policy, VM, port and purpose) so that it finds its own deny rules again, in either
generation, without keeping a side table.

Errors: 409 ``NoFreePriority`` when an NSG has no free inbound priority where the rule must go, 409
``NoFreePort`` when a firewall has no free DNAT port left, 400 ``FirewallPolicyNotSupported`` for a
firewall managed by a Firewall Policy (seed 004 covers classic rules only), 400 ``InvalidInput`` for a
grant without a source.
"""

from __future__ import annotations

import copy
import hashlib
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from .errors import ArmError

CURRENT = "current"
LEGACY = "legacy"
NAMINGS = (CURRENT, LEGACY)
_PREFIX = {CURRENT: "MicrosoftDefenderForCloud-JITRule", LEGACY: "SecurityCenter-JITRule"}
_WORD = {CURRENT: "MDC", LEGACY: "ASC"}
JIT_RULE_PREFIX = _PREFIX[CURRENT]
RULE_TYPE = "Microsoft.Network/networkSecurityGroups/securityRules"
MIN_PRIORITY = 100
MAX_PRIORITY = 4096
DENY_BASE_PRIORITY = 1000  # the first priority for a deny rule that must follow existing rules for its port
DNAT_FIRST_PORT = 50000
DNAT_COLLECTION_PRIORITY = 100

_PREFIXES_RE = "(?:MicrosoftDefenderForCloud|SecurityCenter)-JITRule"
# The int is a signed 32-bit decimal as an int renders (no leading zero, no "-0"); checked in jit_rule_kind.
_INT_RE = "(-?(?:0|[1-9][0-9]{0,9}))"
_DENY_RE = re.compile(rf"{_PREFIXES_RE}_{_INT_RE}_[0-9A-F]{{32}}", re.ASCII)
_ALLOW_RE = re.compile(rf"{_PREFIXES_RE}-{_INT_RE}-[0-9A-F]{{32}}", re.ASCII)
_ASC_COLLECTION_RE = re.compile(r"(?:MDC|ASC)-JIT-[0-9]+")

# Plural fields Azure returns as [] when the singular one is used.
_PLURAL_FIELDS = (
    "sourcePortRanges",
    "destinationPortRanges",
    "sourceAddressPrefixes",
    "destinationAddressPrefixes",
)
_NSG_PROTOCOLS = {"TCP": "Tcp", "UDP": "Udp", "*": "*"}
_FIREWALL_PROTOCOLS = {"TCP": ["TCP"], "UDP": ["UDP"], "*": ["TCP", "UDP"]}

RuleKind = Literal["deny", "allow"]


# --- names and descriptions -------------------------------------------------------------------------


def jit_rule_kind(name: object) -> RuleKind | None:
    """'deny' or 'allow' for a JIT rule name, None for a name JIT did not create (look-alikes included).

    The same shapes as the collection's checker (the rule_names cases of tests/contract/jit.yml).
    """
    if not isinstance(name, str):
        return None
    kinds: tuple[tuple[RuleKind, re.Pattern[str]], ...] = (("deny", _DENY_RE), ("allow", _ALLOW_RE))
    for kind, pattern in kinds:
        match = pattern.fullmatch(name)
        if match is not None:
            text = match.group(1)
            return kind if text != "-0" and -(2**31) <= int(text) < 2**31 else None
    return None


def is_jit_rule(name: object) -> bool:
    return jit_rule_kind(name) is not None


def _digits(key: str) -> str:
    return str(zlib.crc32(key.lower().encode("utf-8")))


def _vm_int(policy_id: str, vm_id: str) -> int:
    """The signed 32-bit int a VM's JIT rules share (real names carry negative ones too)."""
    value = zlib.crc32(f"{policy_id.lower()}|{vm_id.lower()}".encode())
    return value - 2**32 if value >= 2**31 else value


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest().upper()


def naming_of(name: str) -> str:
    """The generation a JIT rule name (or firewall collection) was written in."""
    return LEGACY if name.startswith((_PREFIX[LEGACY], "ASC-")) else CURRENT


def check_naming(naming: Any) -> str:
    if naming not in NAMINGS:
        raise ArmError(400, "InvalidRuleNaming", f"rule naming must be one of {list(NAMINGS)}, got {naming!r}.")
    return str(naming)


def deny_rule_name(policy_id: str, vm_id: str, port: int, naming: str = CURRENT) -> str:
    """The deterministic deny rule name for one (policy, VM, port): ``<prefix>_<int>_<HEX>``."""
    policy = policy_id.lower()
    digest = _md5(f"{policy}|{vm_id.lower()}|{port}|deny")
    return f"{_PREFIX[naming]}_{_vm_int(policy_id, vm_id)}_{digest}"


def deny_rule_names(policy_id: str, vm_id: str, port: int) -> set[str]:
    """The deny rule names of one (policy, VM, port) in every generation (to find or remove it)."""
    return {deny_rule_name(policy_id, vm_id, port, naming) for naming in NAMINGS}


def allow_rule_name(policy_id: str, vm_id: str, port: int, request_key: str, naming: str = CURRENT) -> str:
    """The allow rule name for one (policy, VM, port) of one request: ``<prefix>-<int>-<HEX>``, the int shared
    with the VM's deny rule (request_key is unique per request)."""
    policy = policy_id.lower()
    digest = _md5(f"{policy}|{vm_id.lower()}|{port}|{request_key}|allow")
    return f"{_PREFIX[naming]}-{_vm_int(policy_id, vm_id)}-{digest}"


def deny_description(policy_name: str, vm_name: str, naming: str = CURRENT) -> str:
    return f"{_WORD[naming]} JIT Network Access rule for policy '{policy_name}' of VM '{vm_name}'."


def allow_description(policy_name: str, vm_name: str, naming: str = CURRENT) -> str:
    return (
        f"{_WORD[naming]} JIT Network Access rule created by an initiation request for policy '{policy_name}'"
        f" of VM '{vm_name}'."
    )


# --- reading rules ----------------------------------------------------------------------------------


def _rule_props(rule: Mapping[str, Any]) -> Mapping[str, Any]:
    props = rule.get("properties")
    return props if isinstance(props, Mapping) else {}


def _is_inbound(rule: Mapping[str, Any]) -> bool:
    return str(_rule_props(rule).get("direction", "")).lower() == "inbound"


def _priority(rule: Mapping[str, Any]) -> int | None:
    value = _rule_props(rule).get("priority")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _same_name(a: Any, b: str) -> bool:
    # ARM resource names compare case-insensitively.
    return isinstance(a, str) and a.lower() == b.lower()


def rule_port_specs(rule_properties: Mapping[str, Any]) -> list[str]:
    """The destination port specs of a rule: the plural list when non-empty, else the singular field."""
    plural = rule_properties.get("destinationPortRanges")
    if isinstance(plural, list) and plural:
        return [str(spec).strip() for spec in plural]
    single = rule_properties.get("destinationPortRange")
    if single is None or str(single).strip() == "":
        return []
    return [str(single).strip()]


def _spec_covers(spec: str, port: int) -> bool:
    if spec == "*":
        return True
    low, sep, high = spec.partition("-")
    try:
        first, last = (int(low), int(high)) if sep else (int(spec), int(spec))
    except ValueError:
        # A malformed spec matches nothing rather than breaking placement.
        return False
    # Azure refuses to store a port above 65535 (tests/contract/jit.yml, port_specs): such a spec covers nothing.
    return 0 <= first <= last <= 65535 and first <= port <= last


def port_covered(rule_properties: Mapping[str, Any], port: int) -> bool:
    """True when the rule's destination ports ("*", "22", "20-25", or the plural list) include port."""
    return any(_spec_covers(spec, port) for spec in rule_port_specs(rule_properties))


def _security_rules(nsg: Mapping[str, Any]) -> list[dict[str, Any]]:
    rules = (nsg.get("properties") or {}).get("securityRules")
    return rules if isinstance(rules, list) else []


def _with_rules(nsg: Mapping[str, Any], rules: list[dict[str, Any]]) -> dict[str, Any]:
    """A deep copy of nsg whose securityRules are the given list (taken as is, not copied again)."""
    new: dict[str, Any] = {}
    for key, value in nsg.items():
        if key == "properties" and isinstance(value, Mapping):
            new[key] = {k: (rules if k == "securityRules" else copy.deepcopy(v)) for k, v in value.items()}
            new[key].setdefault("securityRules", rules)
        else:
            new[key] = copy.deepcopy(value)
    if not isinstance(new.get("properties"), dict):
        new["properties"] = {"securityRules": rules}
    return new


def _used_inbound_priorities(rules: Iterable[Mapping[str, Any]]) -> set[int]:
    return {p for rule in rules if _is_inbound(rule) and (p := _priority(rule)) is not None}


def _first_free(used: set[int], low: int, high: int) -> int | None:
    """The lowest priority in [low, high] not in used."""
    for candidate in range(max(low, MIN_PRIORITY), min(high, MAX_PRIORITY) + 1):
        if candidate not in used:
            return candidate
    return None


def _nsg_label(nsg: Mapping[str, Any]) -> str:
    return str(nsg.get("name") or nsg.get("id") or "<unnamed>")


def _no_free_priority(nsg: Mapping[str, Any], port: int, low: int, high: int) -> ArmError:
    return ArmError(
        409,
        "NoFreePriority",
        f"Network security group '{_nsg_label(nsg)}' has no free inbound priority between {low} and {high} "
        f"for the JIT rule of port {port}; free a priority in that range or remove a rule.",
        target=str(nsg.get("id") or ""),
    )


def _normalise_protocol(protocol: Any) -> str:
    text = str(protocol).strip()
    return "*" if text == "*" else text.upper()


def _nsg_protocol(protocol: Any) -> str:
    return _NSG_PROTOCOLS.get(_normalise_protocol(protocol), str(protocol))


def _port_number(port: Any) -> int:
    """A port given as an int or as a policy port dict."""
    if isinstance(port, Mapping):
        return int(port["number"])
    return int(port)


# --- building rules ---------------------------------------------------------------------------------


def _rule(nsg: Mapping[str, Any], name: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "id": f"{nsg.get('id', '')}/securityRules/{name}",
        "type": RULE_TYPE,
        "properties": properties,
    }


def _rule_properties(
    *,
    description: str,
    protocol: Any,
    sources: list[str],
    private_ip: str,
    port: int,
    access: str,
    priority: int,
) -> dict[str, Any]:
    props: dict[str, Any] = {
        "provisioningState": "Succeeded",
        "description": description,
        "protocol": _nsg_protocol(protocol),
        "sourcePortRange": "*",
        "destinationPortRange": str(port),
    }
    # One source uses the singular field, several the plural one, as Azure does.
    if len(sources) == 1:
        props["sourceAddressPrefix"] = sources[0]
    props["destinationAddressPrefix"] = private_ip
    props.update({"access": access, "priority": priority, "direction": "Inbound"})
    props.update({field: [] for field in _PLURAL_FIELDS})
    if len(sources) > 1:
        props["sourceAddressPrefixes"] = list(sources)
    return props


def _refresh(rule: Mapping[str, Any], properties: dict[str, Any]) -> dict[str, Any]:
    """The existing rule with our content but its own name, id and priority (kept rules never move)."""
    new = copy.deepcopy(dict(rule))
    props = dict(_rule_props(rule))
    for field in ("sourceAddressPrefix", "sourceAddressPrefixes"):
        props.pop(field, None)
    props.update(properties)
    props["priority"] = _rule_props(rule).get("priority", properties["priority"])
    new["properties"] = props
    return new


def _deny_floor(rules: Iterable[Mapping[str, Any]], port: int) -> int | None:
    """Where a new deny rule goes: after every non-JIT inbound rule for the port, so existing rules keep
    precedence (from 1000 up, as real NSGs show 1000, 1001, 1399, 2410...), or None when no rule covers the
    port: then from 4096 down (4096, 4095, ... in real NSGs)."""
    covering = [
        p
        for rule in rules
        if _is_inbound(rule)
        and not is_jit_rule(rule.get("name"))
        and port_covered(_rule_props(rule), port)
        and (p := _priority(rule)) is not None
    ]
    if not covering:
        return None
    return max([DENY_BASE_PRIORITY, *(p + 1 for p in covering)])


def apply_deny_rules(
    nsg: Mapping[str, Any],
    *,
    policy_id: str,
    policy_name: str,
    vm_id: str,
    vm_name: str,
    private_ip: str,
    ports: list[Mapping[str, Any]],
    naming: str = CURRENT,
) -> dict[str, Any]:
    """A new NSG body with exactly one inbound Deny rule per policy port of this (policy, VM).

    Kept ports keep their rule name and priority; rules of ports no longer in the policy are removed;
    every other rule is left untouched and in place. New rules are appended.
    """
    return apply_deny_rules_for_vms(
        nsg,
        policy_id=policy_id,
        policy_name=policy_name,
        vms=[{"vm_id": vm_id, "vm_name": vm_name, "private_ip": private_ip, "ports": ports}],
        naming=naming,
    )


class _FreePriorities:
    """The inbound priorities in use, handing out the first free one at or above a floor.

    Priorities are only ever added while one body is built, so a cursor per floor never has to go back:
    placing n rules costs O(n) instead of O(n^2).
    """

    def __init__(self, used: set[int]) -> None:
        self.used = used
        self._cursor: dict[int, int] = {}

    def take_from_top(self) -> int | None:
        """The highest free priority at or below 4096 (the next deny rule of an NSG with no rule for its port)."""
        candidate = min(MAX_PRIORITY, self._cursor.get(-1, MAX_PRIORITY))
        while candidate in self.used and candidate >= MIN_PRIORITY:
            candidate -= 1
        if candidate < MIN_PRIORITY:
            return None
        self._cursor[-1] = candidate - 1
        self.used.add(candidate)
        return candidate

    def take(self, low: int, high: int) -> int | None:
        candidate = max(low, MIN_PRIORITY, self._cursor.get(low, low))
        while candidate in self.used:
            candidate += 1
        if candidate > min(high, MAX_PRIORITY):
            return None
        self._cursor[low] = candidate + 1
        self.used.add(candidate)
        return candidate


def apply_deny_rules_for_vms(
    nsg: Mapping[str, Any],
    *,
    policy_id: str,
    policy_name: str,
    vms: Sequence[Mapping[str, Any]],
    naming: str = CURRENT,
) -> dict[str, Any]:
    """apply_deny_rules for several VMs of one policy in one pass over the NSG (what a policy PUT does).

    vms: {"vm_id", "vm_name", "private_ip", "ports"} each. The result is one inbound Deny rule per policy port
    of each VM: rules of kept ports stay where they are with their priority and name (their content refreshed,
    in their own generation), rules of ports gone from the policy are removed, other rules are untouched, and
    new rules (named in `naming`'s generation) are appended in VM order, each at the first free priority from
    1000 that comes after every non-JIT inbound rule for its port, or, when no rule covers the port, at the
    highest free one from 4096 down.
    """
    wanted: dict[str, dict[int, Mapping[str, Any]]] = {}
    by_vm: dict[str, Mapping[str, Any]] = {}
    for vm in vms:
        key = str(vm["vm_id"]).lower()
        by_vm[key] = vm
        ports = wanted.setdefault(key, {})
        for port in vm["ports"]:
            ports.setdefault(_port_number(port), port)

    rules = _security_rules(nsg)
    # Which deny rule belongs to which (VM, port): names are derived from (policy, VM, port), so it is enough
    # to compute the names of these VMs for the ports that appear in JIT deny rules or in the policy.
    rule_ports = {
        int(spec)
        for rule in rules
        if jit_rule_kind(rule.get("name")) == "deny"
        for spec in rule_port_specs(_rule_props(rule))
        if spec.isdigit()
    }
    owners: dict[str, tuple[str, int]] = {}
    for key, ports in wanted.items():
        for number in rule_ports | set(ports):
            for name in deny_rule_names(policy_id, key, number):
                owners[name.lower()] = (key, number)

    def content(key: str, number: int, priority: int, generation: str = naming) -> dict[str, Any]:
        vm = by_vm[key]
        return _rule_properties(
            description=deny_description(policy_name, str(vm["vm_name"]), generation),
            protocol=wanted[key][number].get("protocol", "*"),
            sources=["*"],
            private_ip=str(vm["private_ip"]),
            port=number,
            access="Deny",
            priority=priority,
        )

    result: list[dict[str, Any]] = []
    present: set[tuple[str, int]] = set()
    for rule in rules:
        owner = owners.get(str(rule.get("name", "")).lower())
        if owner is not None and str(owner[1]) not in rule_port_specs(_rule_props(rule)):
            owner = None  # the name of one of ours on a rule for another port: not ours after all
        if owner is None:
            result.append(copy.deepcopy(rule))
        elif owner[1] in wanted[owner[0]] and owner not in present:
            present.add(owner)
            generation = naming_of(str(rule.get("name", "")))
            result.append(
                _refresh(rule, content(owner[0], owner[1], _priority(rule) or DENY_BASE_PRIORITY, generation))
            )
        # else: a port gone from the policy (or a duplicate): dropped.

    floors: dict[int, int | None] = {}
    free = _FreePriorities(_used_inbound_priorities(result))
    for key, ports in wanted.items():
        for number in ports:
            if (key, number) in present:
                continue
            if number not in floors:
                floors[number] = _deny_floor(rules, number)
            floor = floors[number]
            priority = free.take_from_top() if floor is None else free.take(floor, MAX_PRIORITY)
            if priority is None:
                raise _no_free_priority(nsg, number, floor or MIN_PRIORITY, MAX_PRIORITY)
            name = deny_rule_name(policy_id, key, number, naming)
            result.append(_rule(nsg, name, content(key, number, priority)))
    return _with_rules(nsg, result)


def remove_vm_rules(nsg: Mapping[str, Any], *, policy_id: str, vm_id: str, ports: Iterable[Any]) -> dict[str, Any]:
    """A new NSG body without the deny rules of this (policy, VM) for the given ports (ints or port dicts)."""
    names = [name for port in ports for name in deny_rule_names(policy_id, vm_id, _port_number(port))]
    return remove_rules(nsg, names)


def remove_rules(nsg: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """A new NSG body without exactly the named rules (case-insensitive); nothing else changes."""
    doomed = {name.lower() for name in names}
    kept = [copy.deepcopy(r) for r in _security_rules(nsg) if str(r.get("name", "")).lower() not in doomed]
    return _with_rules(nsg, kept)


def _sources(grant: Mapping[str, Any]) -> list[str]:
    sources = [str(s) for s in grant.get("sources") or []]
    if not sources:
        raise ArmError(400, "InvalidInput", f"The grant for port {grant.get('number')} has no source address prefix.")
    return sources


def add_allow_rules(
    nsg: Mapping[str, Any],
    *,
    policy_id: str,
    policy_name: str,
    vm_id: str,
    vm_name: str,
    private_ip: str,
    grants: list[Mapping[str, Any]],
    request_key: str,
    naming: str = CURRENT,
) -> tuple[dict[str, Any], list[str]]:
    """A new NSG body with one inbound Allow rule per grant, placed before this VM's deny rule for the port.

    Returns the body and the names of the rules created (in grant order). A grant whose rule already
    exists (same request) updates it in place and keeps its priority.
    """
    rules = [copy.deepcopy(r) for r in _security_rules(nsg)]
    names: list[str] = []
    description = allow_description(policy_name, vm_name, naming)
    for grant in grants:
        port = int(grant["number"])
        name = allow_rule_name(policy_id, vm_id, port, request_key, naming)
        deny_names = {n.lower() for n in deny_rule_names(policy_id, vm_id, port)}
        deny = next((r for r in rules if str(r.get("name", "")).lower() in deny_names and _is_inbound(r)), None)
        ceiling = (_priority(deny) or MAX_PRIORITY + 1) - 1 if deny is not None else MAX_PRIORITY
        existing = next((i for i, r in enumerate(rules) if _same_name(r.get("name"), name)), None)
        others = rules if existing is None else rules[:existing] + rules[existing + 1 :]
        priority = _first_free(_used_inbound_priorities(others), MIN_PRIORITY, ceiling)
        if priority is None:
            raise _no_free_priority(nsg, port, MIN_PRIORITY, ceiling)
        props = _rule_properties(
            description=description,
            protocol=grant.get("protocol", "*"),
            sources=_sources(grant),
            private_ip=private_ip,
            port=port,
            access="Allow",
            priority=priority,
        )
        if existing is None:
            rules.append(_rule(nsg, name, props))
        else:
            # Keep the old priority when it still sits before the deny rule, so a replay does not move it.
            old = _priority(rules[existing])
            if old is not None and old <= ceiling and old not in _used_inbound_priorities(others):
                props["priority"] = old
            rules[existing] = {**rules[existing], "properties": props}
        names.append(name)
    return _with_rules(nsg, rules), names


# --- Azure Firewall (classic rules, seed 004) -------------------------------------------------------


def _nat_collections(firewall: Mapping[str, Any]) -> list[dict[str, Any]]:
    collections = (firewall.get("properties") or {}).get("natRuleCollections")
    return collections if isinstance(collections, list) else []


def _collection_rules(collection: Mapping[str, Any]) -> list[dict[str, Any]]:
    rules = (collection.get("properties") or {}).get("rules")
    return rules if isinstance(rules, list) else []


def _used_dnat_ports(firewall: Mapping[str, Any]) -> set[int]:
    used: set[int] = set()
    for collection in _nat_collections(firewall):
        for rule in _collection_rules(collection):
            for spec in rule.get("destinationPorts") or []:
                low, sep, high = str(spec).strip().partition("-")
                try:
                    used.update(range(int(low), int(high if sep else low) + 1))
                except ValueError:
                    continue
    return used


def _firewall_key(firewall: Mapping[str, Any]) -> str:
    return str(firewall.get("id") or firewall.get("name") or "")


def add_dnat_rule(
    firewall: Mapping[str, Any],
    *,
    policy_name: str,
    vm_name: str,
    vm_private_ip: str,
    port: int,
    protocol: str,
    sources: list[str],
    firewall_public_ip: str,
    request_key: str,
    naming: str = CURRENT,
) -> tuple[dict[str, Any], str, int]:
    """A new firewall body with a DNAT rule firewall_public_ip:mapped_port -> vm_private_ip:port.

    The rule ("MDC-JIT-<int>-<HEX>", or "ASC-JIT-..." in the legacy naming) goes into JIT's collection
    ("MDC-JIT-<digits>" / "ASC-JIT-<digits>", priority 100, created when missing; an existing one of either
    generation is used).
    mapped_port is the first port >= 50000 that no NAT rule of the firewall uses. Returns
    (new firewall, rule name, mapped_port).
    """
    props = firewall.get("properties") or {}
    if props.get("firewallPolicy"):
        raise ArmError(
            400,
            "FirewallPolicyNotSupported",
            f"Azure Firewall '{firewall.get('name', _firewall_key(firewall))}' is managed by a "
            "Firewall Policy (Firewall Manager); JIT supports only firewalls with classic rules.",
        )
    if not sources:
        raise ArmError(400, "InvalidInput", f"The DNAT rule for port {port} needs at least one source address.")
    used = _used_dnat_ports(firewall)
    mapped_port = next((p for p in range(DNAT_FIRST_PORT, 65536) if p not in used), None)
    if mapped_port is None:
        raise ArmError(
            409,
            "NoFreePort",
            f"Azure Firewall '{firewall.get('name', _firewall_key(firewall))}' has no free port from "
            f"{DNAT_FIRST_PORT} to 65535 for a JIT DNAT rule.",
        )
    key = _firewall_key(firewall).lower()
    digest = _md5(f"{key}|{policy_name.lower()}|{vm_name.lower()}|{port}|{request_key}|dnat")
    name = f"{_WORD[naming]}-JIT-{_digits(key)}-{digest}"
    rule = {
        "name": name,
        "description": allow_description(policy_name, vm_name, naming),
        "sourceAddresses": list(sources),
        "destinationAddresses": [firewall_public_ip],
        "destinationPorts": [str(mapped_port)],
        "protocols": list(_FIREWALL_PROTOCOLS.get(_normalise_protocol(protocol), [str(protocol).upper()])),
        "translatedAddress": vm_private_ip,
        "translatedPort": str(port),
    }
    new = copy.deepcopy(dict(firewall))
    new_props = new.setdefault("properties", {})
    collections = new_props.setdefault("natRuleCollections", [])
    collection = next((c for c in collections if _ASC_COLLECTION_RE.fullmatch(str(c.get("name", "")))), None)
    if collection is None:
        collection = _asc_collection(firewall, collections, key, naming)
        collections.append(collection)
    collection.setdefault("properties", {}).setdefault("rules", []).append(rule)
    return new, name, mapped_port


def _asc_collection(
    firewall: Mapping[str, Any], collections: list[dict[str, Any]], key: str, naming: str = CURRENT
) -> dict[str, Any]:
    # Priority 100 is the highest a collection can have; step past it only if another collection holds it.
    taken = {(c.get("properties") or {}).get("priority") for c in collections}
    priority = next(p for p in range(DNAT_COLLECTION_PRIORITY, 65001) if p not in taken)
    name = f"{_WORD[naming]}-JIT-{_digits(key)}"
    collection: dict[str, Any] = {"name": name}
    if firewall.get("id"):
        collection["id"] = f"{firewall['id']}/natRuleCollections/{name}"
    collection["properties"] = {"priority": priority, "action": {"type": "Dnat"}, "rules": []}
    return collection


def remove_dnat_rules(firewall: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """A new firewall body without the named NAT rules; an ASC collection left empty is dropped."""
    doomed = {name.lower() for name in names}
    new = copy.deepcopy(dict(firewall))
    collections = _nat_collections(new)
    if not collections:
        return new
    kept: list[dict[str, Any]] = []
    for collection in collections:
        rules = _collection_rules(collection)
        remaining = [r for r in rules if str(r.get("name", "")).lower() not in doomed]
        if len(remaining) != len(rules):
            collection["properties"]["rules"] = remaining
        if not remaining and _ASC_COLLECTION_RE.fullmatch(str(collection.get("name", ""))):
            continue
        kept.append(collection)
    new["properties"]["natRuleCollections"] = kept
    return new
