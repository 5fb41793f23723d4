# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic of access requests: validating a request against its policy, finding a grant to reuse,
and describing how to connect.

Private API of azsecops.jit. No Ansible or SDK import; wire data is ARM JSON (camelCase).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from ._arm_id import _arm_key, _name_of
from ._jit_grants import _Grant
from ._jit_model import _format_duration, _format_time, _is_subset, _JitValueError, _parse_time, _PortRule, _prefix_key
from ._nsg_rules import _firewall_jit_rules, _nsg_jit_rules, _ports_cover, _same_prefixes


@dataclasses.dataclass(frozen=True)
class _WantedPort:
    """One port the task asks for; sources None = the caller's IP as Azure sees it ("My IP")."""

    number: int
    sources: tuple[str, ...] | None = None
    duration: timedelta | None = None


@dataclasses.dataclass(frozen=True)
class _PlannedPort:
    """A validated port of the request: what to ask Azure for."""

    vm_id: str
    number: int
    protocol: str
    sources: tuple[str, ...] | None
    duration: timedelta
    max_duration: timedelta


def _sources_key(sources: Sequence[str]) -> frozenset[str]:
    return frozenset(_prefix_key(s) for s in sources)


def _policy_ports(vm_entry: Mapping[str, Any]) -> dict[int, _PortRule]:
    out: dict[int, _PortRule] = {}
    for index, port in enumerate(vm_entry.get("ports") or []):
        rule = _PortRule.from_wire(port, f"ports[{index}]")
        out.setdefault(rule.number, rule)
    return out


def _plan_vm_ports(
    vm_entry: Mapping[str, Any], wanted: Sequence[_WantedPort] | None, field: str, policy_name: str
) -> list[_PlannedPort]:
    """Check the wanted ports against the VM's policy entry; None asks for every port of the policy.

    Every problem is collected, so the user fixes them all at once; nothing is requested unless all pass.
    """
    vm_id = str(vm_entry["id"])
    name = _name_of(vm_id)
    allowed = _policy_ports(vm_entry)
    wants = list(wanted) if wanted is not None else [_WantedPort(n) for n in sorted(allowed)]
    errors: list[str] = []
    planned: list[_PlannedPort] = []
    seen: set[int] = set()
    for index, want in enumerate(wants):
        where = f"{field}.ports[{index}] (VM {name}, port {want.number})"
        if want.number in seen:
            errors.append(f"{where}: listed twice")
            continue
        seen.add(want.number)
        rule = allowed.get(want.number)
        if rule is None:
            ports = ", ".join(str(n) for n in sorted(allowed)) or "none"
            errors.append(f"{where}: port {want.number} is not in policy {policy_name} for this VM (it allows {ports})")
            continue
        duration = want.duration if want.duration is not None else rule.max_duration
        if duration > rule.max_duration:
            errors.append(
                f"{where}: duration {_format_duration(duration)} exceeds the policy's maximum "
                f"{_format_duration(rule.max_duration)} for this port"
            )
        if want.sources is not None and not _is_subset(want.sources, rule.sources):
            errors.append(
                f"{where}: allowed_source {', '.join(want.sources)} is not within the policy's allowed sources "
                f"({', '.join(rule.sources)})"
            )
        planned.append(_PlannedPort(vm_id, want.number, rule.protocol, want.sources, duration, rule.max_duration))
    if errors:
        raise _JitValueError(field, "; ".join(errors))
    return planned


# Statuses of a grant that is (or is becoming) active: the initiate answer says Initiating, the policy
# log Initiated once Azure has written the rules.
_ACTIVE_STATUSES = ("initiated", "initiating")
# How long Azure usually takes to write a grant's rules (a younger grant whose rules are not there yet is
# waited for, not renewed: renewing would revoke it).
_PROPAGATION = timedelta(minutes=5)
# Sources that mean "the whole Internet".
_ANY_SOURCES = frozenset({"*", "0.0.0.0/0", "::/0", "any", "internet"})


def _is_any_source(sources: Sequence[str] | None) -> bool:
    return any(str(s).strip().lower() in _ANY_SOURCES for s in sources or ())


def _by_start(grants: Sequence[_Grant]) -> list[_Grant]:
    """Oldest first: Azure's request log is not sorted by time; the log order breaks ties."""

    def key(grant: _Grant) -> tuple[datetime, int]:
        start = grant.start
        return (start or datetime.min.replace(tzinfo=timezone.utc), grant.sequence)

    return sorted(grants, key=key)


def _is_active(grant: _Grant, now: datetime) -> bool:
    end = grant.end
    return grant.status.lower() in _ACTIVE_STATUSES and end is not None and end > now


def _covering_grant(
    grants: Sequence[_Grant], port: _PlannedPort, now: datetime, min_remaining: timedelta
) -> _Grant | None:
    """The newest active grant for the same VM, port and sources with at least min_remaining left."""
    if port.sources is None:
        return None  # "My IP" cannot be compared: Azure alone knows which address the call came from
    wanted = _sources_key(port.sources)
    for grant in reversed(_by_start(grants)):
        if grant.vm_key != _arm_key(port.vm_id) or grant.number != port.number:
            continue
        if grant.status.lower() not in _ACTIVE_STATUSES or _sources_key(grant.sources) != wanted:
            continue
        end = grant.end
        if end is not None and end - now >= min_remaining:
            return grant
        return None  # the newest matching grant is too short; older ones are shorter still or revoked
    return None


def _superseded(grants: Sequence[_Grant], port: _PlannedPort, now: datetime) -> list[_Grant]:
    """Active grants of the same VM port that a new request would end (Azure revokes the older grant)."""
    return [
        g
        for g in _by_start(grants)
        if g.vm_key == _arm_key(port.vm_id) and g.number == port.number and _is_active(g, now)
    ]


def _is_young(grant: _Grant, now: datetime) -> bool:
    start = grant.start
    return start is not None and now - start < _PROPAGATION


def _initiate_body(ports: Sequence[_PlannedPort], now: datetime, justification: str | None) -> dict[str, Any]:
    """One initiate body for the ports of one policy.

    Each port asks for a `duration` (what the portal and the mainline Initiate example of the REST spec
    send), so the access ends exactly that long after Azure's own start time: an `endTimeUtc` computed
    from the whole-second `Date` header ended up to a second short. `now` is kept for the signature.
    """
    del now
    by_vm: dict[str, list[dict[str, Any]]] = {}
    ids: dict[str, str] = {}
    for port in ports:
        entry: dict[str, Any] = {"number": port.number, "duration": _format_duration(port.duration)}
        if port.sources is not None:
            if len(port.sources) == 1:
                entry["allowedSourceAddressPrefix"] = port.sources[0]
            else:
                entry["allowedSourceAddressPrefixes"] = list(port.sources)
        key = _arm_key(port.vm_id)
        ids.setdefault(key, port.vm_id)
        by_vm.setdefault(key, []).append(entry)
    body: dict[str, Any] = {"virtualMachines": [{"id": ids[k], "ports": v} for k, v in by_vm.items()]}
    if justification:
        body["justification"] = justification
    return body


def _recorded_request(
    requests: Sequence[Mapping[str, Any]] | None, body: Mapping[str, Any], since: datetime
) -> dict[str, Any] | None:
    """The entry of a policy's `requests` that an initiate `body` sent at or after `since` created, if any.

    Used when the connection broke after an initiate went out: the same VMs, port numbers and
    justification, started no earlier than `since` (Azure's clock, whole seconds), newest first.
    """
    wanted = {_arm_key(vm["id"]): sorted(int(p["number"]) for p in vm["ports"]) for vm in body["virtualMachines"]}
    for entry in reversed(list(requests or [])):
        try:
            started = _parse_time(entry.get("startTimeUtc"), "startTimeUtc")
        except _JitValueError:
            continue
        if started < since - timedelta(seconds=1) or entry.get("justification") != body.get("justification"):
            continue
        seen = {
            _arm_key(str(vm.get("id", ""))): sorted(int(p.get("number", -1)) for p in vm.get("ports") or [])
            for vm in entry.get("virtualMachines") or []
        }
        if seen == wanted:
            return dict(entry)
    return None


def _result_time(value: datetime) -> str:
    """Times in results: ISO 8601 UTC to the second ("2026-11-22T17:37:11Z"), one format in every module."""
    return _format_time(value.replace(microsecond=0))


_TIME_KEYS = ("startTimeUtc", "endTimeUtc")


def _with_result_times(obj: Any) -> Any:
    """A copy of Azure's JSON with its time fields (7 fractional digits) as `_result_time` writes them."""
    if isinstance(obj, Mapping):
        out = {}
        for key, value in obj.items():
            if key in _TIME_KEYS and isinstance(value, str):
                try:
                    out[key] = _result_time(_parse_time(value, key))
                    continue
                except _JitValueError:
                    pass
            out[key] = _with_result_times(value)
        return out
    if isinstance(obj, list):
        return [_with_result_times(x) for x in obj]
    return obj


def _connect_command(address: str, port: int, number: int) -> str | None:
    """A ready command line for well-known management ports."""
    if number == 22:
        return f"ssh {address}" if port == 22 else f"ssh -p {port} {address}"
    if number == 3389:
        return f"mstsc /v:{address}:{port}"
    if number in (5985, 5986):
        ssl = " -UseSSL" if number == 5986 else ""
        return f"Enter-PSSession -ComputerName {address} -Port {port}{ssl}"
    return None


def _connection(
    *,
    vm_id: str,
    number: int,
    protocol: str,
    sources: Sequence[str],
    start: datetime,
    end: datetime,
    now: datetime,
    private_ip: str | None,
    public_ip: str | None,
    firewall_ip: str | None,
    mapped_port: int | None,
    rules: Sequence[Mapping[str, str]],
    reused: bool,
) -> dict[str, Any]:
    """How to reach one VM port: firewall IP + mapped port, else the VM's public IP, else its private IP.

    When none of them could be read (a principal without network reads), address is None and via "unknown".
    """
    address: str | None
    if firewall_ip and mapped_port:
        address, port, via = firewall_ip, int(mapped_port), "firewall"
    elif public_ip:
        address, port, via = public_ip, number, "public_ip"
    elif private_ip:
        address, port, via = private_ip, number, "private_ip"
    else:
        address, port, via = None, number, "unknown"
    result: dict[str, Any] = {
        "vm": _name_of(vm_id),
        "vm_id": vm_id,
        "address": address,
        "port": port,
        "target_port": number,
        "via": via,
        "protocol": protocol,
        "private_ip": private_ip,
        "allowed_source": list(sources),
        "start_time_utc": _result_time(start),
        "end_time_utc": _result_time(end),
        "seconds_left": max(0, int((end - now).total_seconds())),
        "rules": [dict(rule) for rule in rules],
        "reused": reused,
        "command": _connect_command(address, port, number) if address else None,
    }
    if number == 3389 and address:
        result["rdp_file"] = f"full address:s:{address}:{port}\nprompt for credentials:i:1\n"
    return result


# -- finding the rules of a grant (rule reading is _nsg_rules') -----------------------------------------------


def _allow_rule_names(nsg: Mapping[str, Any], private_ip: str, number: int, sources: Sequence[str] | None) -> list[str]:
    """Names of the JIT allow rules in an NSG that open `number` on `private_ip` to exactly `sources`
    (to any source when None: "My IP" is known only to Azure)."""
    names = []
    for rule in _nsg_jit_rules(nsg):
        if rule.kind != "allow" or rule.access.lower() != "allow" or rule.direction.lower() not in ("", "inbound"):
            continue
        if private_ip not in {d.split("/")[0] for d in rule.destinations}:
            continue
        if not _ports_cover(rule.ports, number):
            continue
        if sources is not None and not _same_prefixes(rule.sources, sources):
            continue
        names.append(rule.name)
    return names


def _dnat_rule_names(firewall: Mapping[str, Any], private_ip: str, number: int, mapped_port: int | None) -> list[str]:
    """Names of the firewall's JIT DNAT rules that forward (mapped port) to `private_ip`:`number`."""
    return [
        rule.name
        for rule in _firewall_jit_rules(firewall)
        if rule.translated_address == private_ip
        and rule.translated_port == str(number)
        and (mapped_port is None or str(mapped_port) in rule.ports)
    ]
