# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure just-in-time (JIT) VM access logic: durations, protocols, source prefixes, VM ids, policy merge/diff.

Every name in this file is private (``_`` prefix): it is internal API of the azsecops.jit collection,
shared by its modules, and may change in any release. Nothing here imports Ansible or an Azure SDK,
talks to the network or reads files, so the same code is unit-tested directly.

Two shapes of data meet here:

* the wire format, Azure's camelCase JSON (``maxRequestAccessDuration``, ``allowedSourceAddressPrefix``);
* user input, the modules' snake_case parameters (``max_duration``, ``allowed_source``).

Errors are raised as ``_JitValueError(field, message)``: ``field`` is the parameter path the user wrote
(``virtual_machines[0].ports[1].max_duration``) and ``message`` says what to write instead.
"""

from __future__ import annotations

import dataclasses
import email.utils
import functools
import ipaddress
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from ._arm_id import _arm_key, _format_arm_id, _name_of, _parse_arm_id

try:
    # isodate comes with every azure-mgmt-* package; guarded so that importing this file never fails.
    import isodate as _isodate

    _ISODATE_IMPORT_ERROR: str | None = None
except ImportError as _exc:  # pragma: no cover - depends on the environment
    _isodate = None
    _ISODATE_IMPORT_ERROR = str(_exc)

# datetime.UTC needs Python 3.11; the modules support 3.10.
_UTC = timezone.utc
_ANY = "*"
_MIN_DURATION = timedelta(minutes=5)
_MAX_DURATION = timedelta(hours=24)
_DEFAULT_MAX_DURATION = timedelta(hours=3)
_DEFAULT_PROTOCOL = "*"
_DEFAULT_KIND = "Basic"
_DEFAULT_POLICY_NAME = "default"
# Ports the portal proposes when enabling JIT (SSH, RDP, WinRM over HTTP and HTTPS).
_PORTAL_DEFAULT_PORTS = (22, 3389, 5985, 5986)
# Microsoft's documented limit on len(policy name) + len(VM name).
_MAX_POLICY_PLUS_VM_NAME = 56

_PROTOCOLS = {"tcp": "TCP", "udp": "UDP", "*": "*", "any": "*", "all": "*"}

_SUBSCRIPTION_RE = re.compile(r"[0-9A-Fa-f]{8}-(?:[0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}")
_RESOURCE_GROUP_RE = re.compile(r"[-\w._()]{1,90}")
_VM_NAME_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
_SHORT_DURATION_RE = re.compile(r"(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?", re.IGNORECASE)
_TIME_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?"
)
_CAMEL_ACRONYM_RE = re.compile(r"([A-Z]+)([A-Z][a-z])")
_CAMEL_RE = re.compile(r"([a-z0-9])([A-Z])")

_VM_ID_FORM = "/subscriptions/<guid>/resourceGroups/<rg>/providers/Microsoft.Compute/virtualMachines/<name>"


class _JitValueError(ValueError):
    """A value the user (or Azure) gave that JIT cannot accept.

    ``field`` is the parameter path, ``message`` says what is wrong and how to fix it; ``str()`` joins them.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


def _join(field: str, sub: str) -> str:
    """Path of a sub-field; ``sub`` may be ``[i]`` or a key."""
    if not field:
        return sub.lstrip(".")
    return f"{field}{sub}" if sub.startswith("[") else f"{field}.{sub}"


# ---------------------------------------------------------------------------------------------------
# Durations
# ---------------------------------------------------------------------------------------------------


def _parse_duration(value: object, field: str = "max_duration") -> timedelta:
    """Parse "3h", "90m", "1d", "1h30m" or ISO 8601 ("PT3H", "PT180M", "P1D", "PT1H30M").

    JIT works in whole minutes, so seconds are refused, and bare numbers are refused because users
    read them differently (minutes? hours?). Bounds are checked separately (``_check_duration_bounds``).
    """
    if isinstance(value, timedelta):
        result = value
        text = _short_duration(value) if value >= timedelta(0) else str(value)
    elif isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _JitValueError(
            field, f"{value!r} is not a duration; write it like '3h', '90m', '1h30m' or ISO 8601 'PT3H'"
        )
    elif isinstance(value, (int, float)) or value.strip().isdigit():
        number = str(value).strip()
        raise _JitValueError(
            field,
            f"{number} has no unit; write '{number}m' for minutes or '{number}h' for hours "
            f"(or ISO 8601 like 'PT{number}M')",
        )
    else:
        text = value.strip()
        if not text:
            raise _JitValueError(field, "is empty; write a duration like '3h', '90m' or 'PT3H'")
        if text[0] in "Pp-+":
            result = _parse_iso_duration(text, field)
        else:
            result = _parse_short_duration(text, field)
    if result <= timedelta(0):
        raise _JitValueError(field, f"{text} is not a positive duration; use at least 5m (PT5M)")
    if result % timedelta(minutes=1):
        raise _JitValueError(field, f"{text} is not a whole number of minutes; JIT durations have minute granularity")
    return result


def _parse_short_duration(text: str, field: str) -> timedelta:
    match = _SHORT_DURATION_RE.fullmatch(text)
    if match is None or not any(match.groups()):
        if re.fullmatch(r"[\d\sdhms]+", text, re.IGNORECASE) and "s" in text.lower():
            raise _JitValueError(
                field,
                f"{text}: seconds are not supported, JIT durations are whole minutes; use e.g. '5m' or '1h30m'",
            )
        raise _JitValueError(
            field,
            f"{text!r} is not a duration; write it like '3h', '90m', '1d', '1h30m' or ISO 8601 'PT3H'",
        )
    days, hours, minutes = (int(group) if group else 0 for group in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes)


def _parse_iso_duration(text: str, field: str) -> timedelta:
    if _isodate is None:
        raise _JitValueError(
            field,
            f"reading the ISO 8601 duration {text} needs the Python package isodate "
            f"({_ISODATE_IMPORT_ERROR}); install it or write the short form like '3h'",
        )
    # A bare "P"/"PT" parses as zero in isodate; it is a typo, not a duration.
    if not re.search(r"\d", text):
        raise _JitValueError(field, f"{text!r} is not an ISO 8601 duration; write e.g. 'PT3H' or 'PT90M'")
    try:
        parsed = _isodate.parse_duration(text.upper())
    except (ValueError, TypeError):
        raise _JitValueError(
            field, f"{text!r} is not an ISO 8601 duration; write e.g. 'PT3H', 'PT1H30M' or 'P1D'"
        ) from None
    if isinstance(parsed, _isodate.Duration):
        if parsed.years or parsed.months:
            raise _JitValueError(
                field,
                f"{text}: months and years are not allowed (their length varies and JIT allows at most "
                "24h); use hours or minutes, e.g. 'PT24H'",
            )
        parsed = parsed.tdelta
    return parsed


def _format_duration(td: timedelta) -> str:
    """Canonical ISO 8601 as Azure writes it: "PT3H", "PT1H30M", "PT24H" (one day), "PT5M"."""
    if td < timedelta(0):
        raise ValueError(f"cannot format a negative duration: {td}")
    total = td // timedelta(seconds=1)
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    text = "PT"
    if hours:
        text += f"{hours}H"
    if minutes:
        text += f"{minutes}M"
    if seconds:
        text += f"{seconds}S"
    return text if text != "PT" else "PT0M"


def _short_duration(td: timedelta) -> str:
    """The short form users write ("25h", "1h30m", "5m"), for messages."""
    total_minutes = td // timedelta(minutes=1)
    hours, minutes = divmod(total_minutes, 60)
    if hours and minutes:
        return f"{hours}h{minutes}m"
    if hours:
        return f"{hours}h"
    return f"{minutes}m"


def _check_duration_bounds(
    td: timedelta,
    field: str,
    low: timedelta = _MIN_DURATION,
    high: timedelta = _MAX_DURATION,
    *,
    limit_owner: str = "Azure",
) -> timedelta:
    """Return ``td`` if ``low <= td <= high``; ``limit_owner`` names who sets the limit in the message."""
    if td > high:
        raise _JitValueError(
            field,
            f"{_short_duration(td)} is above the {_short_duration(high)} maximum {limit_owner} allows; "
            f"use at most {_short_duration(high)} (or {_format_duration(high)})",
        )
    if td < low:
        raise _JitValueError(
            field,
            f"{_short_duration(td)} is below the {_short_duration(low)} minimum {limit_owner} allows; "
            f"use at least {_short_duration(low)} (or {_format_duration(low)})",
        )
    return td


# ---------------------------------------------------------------------------------------------------
# Protocols, ports, source prefixes
# ---------------------------------------------------------------------------------------------------


def _normalize_protocol(value: object, field: str = "protocol") -> str:
    """Protocol in any case (tcp, udp, any or *) -> the wire value TCP, UDP or * (None means any)."""
    if value is None:
        return _DEFAULT_PROTOCOL
    if isinstance(value, str):
        wire = _PROTOCOLS.get(value.strip().lower())
        if wire is not None:
            return wire
    raise _JitValueError(field, f"{value!r} is not a protocol; use tcp, udp or any ('*')")


def _check_port_number(value: object, field: str = "number") -> int:
    if value is None:
        raise _JitValueError(field, "is required; give the port number, e.g. 22")
    number: object = value
    if isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    if isinstance(number, bool) or not isinstance(number, int):
        raise _JitValueError(field, f"{value!r} is not a port number; use an integer between 1 and 65535")
    if number == 0:
        raise _JitValueError(
            field, "port 0 is not a usable port (nothing can listen on it); use a port between 1 and 65535"
        )
    if not 1 <= number <= 65535:
        raise _JitValueError(field, f"{number} is not a port number; use an integer between 1 and 65535")
    return number


def _normalize_prefix(value: object, field: str) -> str:
    """One source: "*" (also "any"), an IPv4/IPv6 address, or a CIDR prefix without host bits."""
    if not isinstance(value, str):
        raise _JitValueError(field, f"{value!r} is not an address; use an IP address, a CIDR prefix or '*'")
    text = value.strip()
    canonical = _canonical_prefix(text)
    if canonical is not None:
        return canonical
    if "/" in text:
        try:
            loose = ipaddress.ip_network(text, strict=False)
        except ValueError:
            pass
        else:
            address = text.split("/", 1)[0]
            raise _JitValueError(
                field,
                f"{text} has host bits set; did you mean {loose}? (or {address} alone for that one address)",
            )
    raise _JitValueError(field, f"{text!r} is not an IPv4/IPv6 address, a CIDR prefix (e.g. 203.0.113.0/24) or '*'")


@functools.lru_cache(maxsize=4096)
def _canonical_prefix(text: str) -> str | None:
    """The canonical form of a valid source, or None. Cached: a policy repeats the same few prefixes."""
    if text == _ANY or text.lower() == "any":
        return _ANY
    try:
        if "/" in text:
            return str(ipaddress.ip_network(text, strict=True))
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


@functools.lru_cache(maxsize=4096)
def _prefix_key(prefix: str) -> str:
    """Comparison key: "10.0.0.5" and "10.0.0.5/32" are the same source."""
    if prefix == _ANY:
        return _ANY
    try:
        return str(ipaddress.ip_network(prefix.strip(), strict=False))
    except ValueError:
        return prefix.strip().lower()


def _normalize_prefixes(value: str | Sequence[str] | None, field: str = "allowed_source") -> tuple[str, ...]:
    """User input -> de-duplicated tuple in the given order; None -> ("*",).

    A string may hold several prefixes separated by commas. An empty list is refused rather than read
    as "any": an empty templated variable must not open a port to the whole Internet.
    """
    if value is None:
        return (_ANY,)
    if isinstance(value, str):
        items: list[object] = list(value.split(","))
        paths = [field] * len(items)
    elif isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        items = list(value)
        paths = [f"{field}[{i}]" for i in range(len(items))]
    else:
        raise _JitValueError(field, f"{value!r} is not an address or a list of addresses")
    if not items:
        raise _JitValueError(
            field,
            "is an empty list, which would allow nobody; omit it (or use '*') to allow any source, "
            "or list the addresses that may connect",
        )
    result: list[str] = []
    keys: set[str] = set()
    for item, path in zip(items, paths, strict=True):
        prefix = _normalize_prefix(item, path)
        key = _prefix_key(prefix)
        if key not in keys:
            keys.add(key)
            result.append(prefix)
    if _ANY in result and len(result) > 1:
        raise _JitValueError(
            field,
            "'*' (any source) cannot be combined with other prefixes because it already allows every "
            "address; use '*' alone or list only specific addresses",
        )
    return tuple(result)


def _prefixes_to_wire(prefixes: Sequence[str]) -> dict[str, Any]:
    """One prefix -> allowedSourceAddressPrefix, several -> allowedSourceAddressPrefixes (mutually exclusive)."""
    items = list(prefixes) or [_ANY]
    if len(items) == 1:
        return {"allowedSourceAddressPrefix": items[0]}
    return {"allowedSourceAddressPrefixes": items}


def _prefixes_from_wire(data: Mapping[str, Any]) -> tuple[str, ...]:
    """Either wire field -> tuple; neither -> ("*",). Unparsable values are kept (Azure wrote them)."""
    plural = data.get("allowedSourceAddressPrefixes")
    single = data.get("allowedSourceAddressPrefix")
    if plural:
        raw = [plural] if isinstance(plural, str) else list(plural)
    elif single:
        raw = [single]
    else:
        return (_ANY,)
    result: list[str] = []
    keys: set[str] = set()
    for item in raw:
        try:
            prefix = _normalize_prefix(item, "")
        except _JitValueError:
            prefix = str(item).strip()
        key = _prefix_key(prefix)
        if key not in keys:
            keys.add(key)
            result.append(prefix)
    return tuple(result)


def _is_subset(requested: str | Sequence[str], allowed: str | Sequence[str]) -> bool:
    """True if every requested source lies inside one of the allowed ones ("*" allowed contains everything).

    Each requested prefix must fit inside a single allowed prefix: 10.0.0.0/24 is not inside 10.0.0.0/25 +
    10.0.0.128/25. Whether Azure joins adjacent allowed prefixes is not recorded, and this pre-check must
    never be looser than Azure's (tests/contract/jit.yml, source_subsets). IPv4 and IPv6 never contain each
    other; a requested "*" only fits an allowed "*".
    """
    requested_items = [requested] if isinstance(requested, str) else list(requested)
    allowed_items = [allowed] if isinstance(allowed, str) else list(allowed)
    if any(item.strip() == _ANY for item in allowed_items):
        return True
    if any(item.strip() == _ANY for item in requested_items):
        return False
    by_version: dict[int, list[Any]] = {4: [], 6: []}
    for item in allowed_items:
        try:
            network = ipaddress.ip_network(item.strip(), strict=False)
        except ValueError:
            continue
        by_version[network.version].append(network)
    for item in requested_items:
        try:
            network = ipaddress.ip_network(item.strip(), strict=False)
        except ValueError:
            return False
        if not any(network.subnet_of(candidate) for candidate in by_version[network.version]):
            return False
    return True


# ---------------------------------------------------------------------------------------------------
# Port rules and VM entries
# ---------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class _PortRule:
    """One port of a VM in a JIT policy. Equality is semantic (PT3H == PT180M, tcp == TCP, 1 prefix == [1])."""

    number: int
    protocol: str = _DEFAULT_PROTOCOL
    sources: tuple[str, ...] = (_ANY,)
    max_duration: timedelta = _DEFAULT_MAX_DURATION

    def __post_init__(self) -> None:
        # Callers may pass a list; a tuple keeps the rule hashable.
        object.__setattr__(self, "sources", tuple(self.sources))

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | int | str, field: str = "ports[0]") -> _PortRule:
        """Module parameters (number, protocol="any", allowed_source="*", max_duration="3h"); a bare int is a number."""
        if not isinstance(params, Mapping):
            params = {"number": params}
        number = _check_port_number(params.get("number"), _join(field, "number"))
        protocol_value = params.get("protocol")
        protocol = _normalize_protocol("any" if protocol_value is None else protocol_value, _join(field, "protocol"))
        sources = _normalize_prefixes(params.get("allowed_source"), _join(field, "allowed_source"))
        duration_value = params.get("max_duration")
        duration_field = _join(field, "max_duration")
        duration = _check_duration_bounds(
            _parse_duration(_DEFAULT_MAX_DURATION if duration_value is None else duration_value, duration_field),
            duration_field,
        )
        return cls(number=number, protocol=protocol, sources=sources, max_duration=duration)

    @classmethod
    def from_wire(cls, data: Mapping[str, Any], field: str = "ports[0]") -> _PortRule:
        """Azure JSON; lenient about what Azure may hold, strict only where a value is unusable."""
        try:
            number = int(data["number"])
        except (KeyError, TypeError, ValueError):
            raise _JitValueError(
                _join(field, "number"), f"Azure returned no usable port number: {data.get('number')!r}"
            ) from None
        raw_protocol = data.get("protocol")
        try:
            protocol = _normalize_protocol(raw_protocol)
        except _JitValueError:
            protocol = str(raw_protocol).upper()
        duration = _parse_duration(data.get("maxRequestAccessDuration"), _join(field, "maxRequestAccessDuration"))
        return cls(number=number, protocol=protocol, sources=_prefixes_from_wire(data), max_duration=duration)

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"number": self.number, "protocol": self.protocol}
        wire.update(_prefixes_to_wire(self.sources))
        wire["maxRequestAccessDuration"] = _format_duration(self.max_duration)
        return wire

    def to_result(self) -> dict[str, Any]:
        """snake_case for module results and diffs."""
        return {
            "number": self.number,
            "protocol": self.protocol,
            "allowed_source": list(self.sources),
            "max_duration": _format_duration(self.max_duration),
        }

    def semantic_key(self) -> tuple[Any, ...]:
        return (
            self.number,
            self.protocol.upper(),
            frozenset(_prefix_key(prefix) for prefix in self.sources),
            self.max_duration,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _PortRule):
            return NotImplemented
        return self.semantic_key() == other.semantic_key()

    def __hash__(self) -> int:
        return hash(self.semantic_key())

    def changes_to(self, new: _PortRule) -> list[str]:
        """Human description of what differs from ``self`` (old) to ``new``."""
        changes: list[str] = []
        if self.protocol.upper() != new.protocol.upper():
            changes.append(f"protocol {self.protocol} -> {new.protocol}")
        if {_prefix_key(p) for p in self.sources} != {_prefix_key(p) for p in new.sources}:
            changes.append(f"allowed_source {','.join(self.sources)} -> {','.join(new.sources)}")
        if self.max_duration != new.max_duration:
            changes.append(
                f"max_duration {_format_duration(self.max_duration)} -> {_format_duration(new.max_duration)}"
            )
        return changes


def _ports_from_params(items: object, field: str = "ports") -> tuple[_PortRule, ...]:
    """A VM's port list from module parameters; a number listed twice is an error naming both positions."""
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Sequence):
        raise _JitValueError(field, "must be a list of ports, e.g. [{number: 22}, {number: 3389}]")
    rules: list[_PortRule] = []
    seen: dict[int, int] = {}
    for index, item in enumerate(items):
        path = f"{field}[{index}]"
        rule = _PortRule.from_params(item, path)
        if rule.number in seen:
            raise _JitValueError(
                path,
                f"port {rule.number} is listed twice ({field}[{seen[rule.number]}] and {path}); "
                "list each port once per VM",
            )
        seen[rule.number] = index
        rules.append(rule)
    return tuple(rules)


@dataclasses.dataclass(frozen=True, eq=False)
class _VmEntry:
    """One VM of a JIT policy: ``id`` as given or returned, ``ports`` sorted by number.

    Equality is semantic: ids compare case-insensitively, ports as _PortRule; ``public_ip_address``
    (set by Azure for VMs behind a firewall) is not part of it.
    """

    id: str
    ports: tuple[_PortRule, ...] = ()
    public_ip_address: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "ports", tuple(sorted(self.ports, key=lambda rule: (rule.number, rule.protocol))))

    @property
    def key(self) -> str:
        return _arm_key(self.id)

    @property
    def name(self) -> str:
        return _name_of(self.id)

    @classmethod
    def from_wire(cls, data: Mapping[str, Any], field: str = "virtualMachines[0]") -> _VmEntry:
        vm_id = data.get("id")
        if not isinstance(vm_id, str) or not vm_id:
            raise _JitValueError(_join(field, "id"), "Azure returned a VM entry without an id")
        ports = data.get("ports") or []
        return cls(
            id=vm_id,
            ports=tuple(_PortRule.from_wire(port, f"{field}.ports[{i}]") for i, port in enumerate(ports)),
            public_ip_address=data.get("publicIpAddress") or None,
        )

    @classmethod
    def from_params(
        cls,
        params: Mapping[str, Any],
        field: str = "virtual_machines[0]",
        *,
        subscription_id: str | None = None,
        resource_group: str | None = None,
        require_ports: bool = True,
        policy_name: str | None = None,
    ) -> _VmEntry:
        """A VM from module parameters: ``id``, or ``name`` with ``resource_group`` (and ``subscription_id``).

        ``subscription_id``/``resource_group`` are the module-level defaults. With ``require_ports``
        False (state absent) ports may be omitted. ``policy_name`` enables the 56-character check.
        """
        vm_id = params.get("id")
        name = params.get("name")
        if vm_id and name:
            raise _JitValueError(field, "give either id or name (with resource_group), not both")
        if vm_id:
            _sub, _rg, name = _parse_vm_id(vm_id, _join(field, "id"))
            full_id = vm_id.strip()
        elif name:
            rg = params.get("resource_group") or resource_group
            sub = params.get("subscription_id") or subscription_id
            if not rg:
                raise _JitValueError(
                    field,
                    f"VM {name!r} needs resource_group (on the entry or on the task), or give its full id",
                )
            if not sub:
                raise _JitValueError(field, f"VM {name!r} needs a subscription id, or give its full id")
            full_id = _vm_id(sub, rg, name, field)
        else:
            raise _JitValueError(field, "needs id (the VM's ARM id) or name with resource_group")
        if policy_name is not None:
            _check_name_length(policy_name, name, field)
        raw_ports = params.get("ports")
        if raw_ports is None:
            if require_ports:
                raise _JitValueError(_join(field, "ports"), "is required; list the ports, e.g. [{number: 22}]")
            ports: tuple[_PortRule, ...] = ()
        else:
            ports = _ports_from_params(raw_ports, _join(field, "ports"))
            if not ports and require_ports:
                raise _JitValueError(
                    _join(field, "ports"),
                    "is empty; a VM needs at least one port (to take the VM out of the policy use state: absent)",
                )
        public_ip = params.get("public_ip_address")
        return cls(id=full_id, ports=ports, public_ip_address=public_ip or None)

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"id": self.id, "ports": [port.to_wire() for port in self.ports]}
        if self.public_ip_address:
            wire["publicIpAddress"] = self.public_ip_address
        return wire

    def to_result(self, include_public_ip: bool = False) -> dict[str, Any]:
        result: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "ports": [port.to_result() for port in self.ports],
        }
        if include_public_ip and self.public_ip_address:
            result["public_ip_address"] = self.public_ip_address
        return result

    def semantic_key(self) -> tuple[Any, ...]:
        return (self.key, self.ports)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _VmEntry):
            return NotImplemented
        return self.semantic_key() == other.semantic_key()

    def __hash__(self) -> int:
        return hash(self.semantic_key())


# ---------------------------------------------------------------------------------------------------
# VM references and names
# ---------------------------------------------------------------------------------------------------


def _check_subscription_id(value: object, field: str = "subscription_id") -> str:
    if not isinstance(value, str) or not _SUBSCRIPTION_RE.fullmatch(value.strip()):
        raise _JitValueError(
            field,
            f"{value!r} is not a subscription id; use its GUID, e.g. 00000000-0000-0000-0000-000000000000",
        )
    return value.strip()


def _check_resource_group(value: object, field: str = "resource_group") -> str:
    if not isinstance(value, str) or not _RESOURCE_GROUP_RE.fullmatch(value) or value.endswith("."):
        raise _JitValueError(
            field,
            f"{value!r} is not a resource group name; use 1-90 letters, digits, '-', '_', '.', '(' or ')', "
            "not ending with '.'",
        )
    return value


def _check_vm_name(value: object, field: str = "name") -> str:
    if (
        not isinstance(value, str)
        or not _VM_NAME_RE.fullmatch(value)
        or value.startswith("_")
        or value.endswith((".", "-"))
    ):
        raise _JitValueError(
            field,
            f"{value!r} is not a VM name; use 1-64 letters, digits, '.', '_' or '-', not starting with '_' "
            "nor ending with '.' or '-'",
        )
    return value


def _check_policy_name(value: object, field: str = "name") -> str:
    """Azure documents no pattern; refuse what would break the URL or the 56-character rule on its own."""
    if not isinstance(value, str) or not value.strip():
        raise _JitValueError(field, "is empty; use a policy name such as 'default'")
    if any(char in value for char in "/\\?#%") or any(ord(char) < 32 for char in value):
        raise _JitValueError(field, f"{value!r} contains characters not allowed in a name ('/', '\\', '?', '#', '%')")
    if len(value) >= _MAX_POLICY_PLUS_VM_NAME:
        raise _JitValueError(
            field,
            f"{value!r} is {len(value)} characters; policy name plus VM name must not exceed "
            f"{_MAX_POLICY_PLUS_VM_NAME}, so use a short name such as 'default'",
        )
    return value


def _check_name_length(policy: str, vm: str, field: str = "virtual_machines") -> None:
    """Microsoft's rule: len(policy name) + len(VM name) <= 56."""
    total = len(policy) + len(vm)
    if total > _MAX_POLICY_PLUS_VM_NAME:
        raise _JitValueError(
            field,
            f"policy name {policy!r} ({len(policy)} characters) plus VM name {vm!r} ({len(vm)}) make {total}; "
            f"JIT allows at most {_MAX_POLICY_PLUS_VM_NAME} in total, so use a shorter policy name "
            "(e.g. 'default')",
        )


def _classic_vm_error(field: str, vm_id: str) -> _JitValueError:
    return _JitValueError(
        field,
        f"{vm_id} is a classic VM (Microsoft.ClassicCompute); classic VMs are not supported by JIT, "
        "only Azure Resource Manager VMs (Microsoft.Compute/virtualMachines); migrate the VM to ARM first",
    )


def _parse_vm_id(vm_id: object, field: str = "id") -> tuple[str, str, str]:
    """ARM VM id -> (subscription, resource_group, name); provider and type match case-insensitively."""
    if not isinstance(vm_id, str):
        raise _JitValueError(field, f"{vm_id!r} is not a VM id; expected {_VM_ID_FORM}")
    text = vm_id.strip()
    parsed = _parse_arm_id(text)
    if parsed is None or not parsed.resource_group or len(parsed.types) != 1 or text.endswith("//"):
        if "/microsoft.classiccompute/" in text.lower():
            raise _classic_vm_error(field, text)
        raise _JitValueError(field, f"{text!r} is not a VM id; expected {_VM_ID_FORM}")
    if parsed.namespace.lower() == "microsoft.classiccompute":
        raise _classic_vm_error(field, text)
    if not parsed.is_type("Microsoft.Compute/virtualMachines"):
        raise _JitValueError(field, f"{text} is a {parsed.resource_type} id, not a VM id; expected {_VM_ID_FORM}")
    subscription = _check_subscription_id(parsed.subscription, field)
    resource_group = _check_resource_group(parsed.resource_group, field)
    name = _check_vm_name(parsed.name, field)
    return subscription, resource_group, name


def _vm_id(subscription: str, resource_group: str, name: str, field: str = "virtual_machines") -> str:
    """Build (and validate) the ARM id of a VM."""
    subscription = _check_subscription_id(subscription, field)
    resource_group = _check_resource_group(resource_group, field)
    name = _check_vm_name(name, field)
    return _format_arm_id(subscription, resource_group, "Microsoft.Compute", ("virtualMachines", name))


def _vm_entries(value: object) -> object:
    """`virtual_machines` as users write it: VM entries, or VM names (a list of strings, or one string of
    comma-separated names, which is what an AWX survey's text field sends) become entries by name.

    Anything else is returned unchanged for the argument spec to judge.
    """
    if isinstance(value, str):
        names = [name.strip() for name in value.split(",")]
        return [{"name": name} for name in names if name]
    if isinstance(value, list):
        return [{"name": item.strip()} if isinstance(item, str) else item for item in value]
    return value


# ---------------------------------------------------------------------------------------------------
# Policy merge and diff
# ---------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _PolicyPlan:
    """What jit_policy must do.

    ``vms`` is the complete ``virtualMachines`` list to PUT (a PUT replaces the whole list);
    ``changed``/``actions`` come from a semantic comparison; ``delete_policy`` asks for a DELETE instead
    of the PUT; ``before``/``after`` are for Ansible's diff ({} means "no policy"); ``kind`` goes in the body.
    """

    vms: list[dict[str, Any]]
    changed: bool
    actions: list[str]
    delete_policy: bool
    before: dict[str, Any]
    after: dict[str, Any]
    kind: str = _DEFAULT_KIND


def _diff_entry(raw: Mapping[str, Any]) -> dict[str, Any]:
    try:
        return _VmEntry.from_wire(raw).to_result()
    except _JitValueError:
        # Whatever Azure holds must still show in the diff, even if we cannot read it.
        vm_id = str(raw.get("id", ""))
        return {"id": vm_id, "name": _name_of(vm_id), "ports": _snake(raw.get("ports") or [])}


def _diff_view(vms: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    entries = sorted((_diff_entry(raw) for raw in vms), key=lambda entry: _arm_key(entry["id"]))
    return {"virtual_machines": entries}


def _vm_update_actions(have: _VmEntry, want: _VmEntry) -> list[str]:
    old = {port.number: port for port in have.ports}
    new = {port.number: port for port in want.ports}
    actions: list[str] = []
    for number in sorted(set(old) | set(new)):
        if number not in old:
            actions.append(f"add port {number} to VM {want.name}")
        elif number not in new:
            actions.append(f"remove port {number} from VM {want.name}")
        elif old[number] != new[number]:
            actions.append(f"update VM {want.name}: port {number} {', '.join(old[number].changes_to(new[number]))}")
    if not actions:
        # Only possible when Azure holds the same port number twice; say something rather than nothing.
        actions.append(f"update VM {want.name}: replace its port list")
    return actions


def _plan_policy(
    existing_vms: Sequence[Mapping[str, Any]] | None,
    desired: Sequence[_VmEntry],
    *,
    state: str = "present",
    purge: bool = False,
    existing_kind: str | None = None,
    kind: str | None = None,
    field: str = "virtual_machines",
) -> _PolicyPlan:
    """Merge the desired VMs into a policy's ``virtualMachines`` (wire dicts as read).

    ``existing_vms`` None means the policy does not exist ([] means it exists and is empty).

    * state present: each listed VM replaces its existing entry (keeping Azure's ``publicIpAddress`` if
      the desired entry has none) or is appended; its port list is authoritative, like the portal's
      edit of a VM: ports are not merged, so a port dropped from the task is removed (merging would make
      removing a port impossible). Unlisted VMs are kept verbatim, unknown fields included, unless
      ``purge``.
    * state absent: listed VMs are removed (only their ids matter), unlisted ones kept; with no VM listed
      the whole policy goes.

    ``requests`` and read-only fields are never compared. ``kind`` (None = keep) may change the policy kind.
    """
    if state not in ("present", "absent"):
        raise ValueError(f"state must be 'present' or 'absent', not {state!r}")
    existed = existing_vms is not None
    existing = list(existing_vms or [])
    result_kind = kind or existing_kind or _DEFAULT_KIND

    wanted: dict[str, tuple[int, _VmEntry]] = {}
    for index, vm in enumerate(desired):
        if vm.key in wanted:
            first = wanted[vm.key][0]
            raise _JitValueError(
                f"{field}[{index}]",
                f"VM {vm.name} is listed twice ({field}[{first}] and {field}[{index}]); list each VM once "
                "with all its ports",
            )
        wanted[vm.key] = (index, vm)

    before = _diff_view(existing) if existed else {}

    if state == "absent" and not wanted:
        actions = [f"remove VM {_name_of(str(raw.get('id', '')))}" for raw in existing]
        if existed:
            actions.append("delete policy")
        return _PolicyPlan(
            vms=[],
            changed=existed,
            actions=actions,
            delete_policy=existed,
            before=before,
            after={},
            kind=result_kind,
        )

    actions = []
    vms: list[dict[str, Any]] = []
    handled: set[str] = set()
    for raw in existing:
        key = _arm_key(str(raw.get("id", "")))
        found = wanted.get(key)
        if found is None:
            if purge and state == "present":
                actions.append(f"remove VM {_name_of(str(raw.get('id', '')))}")
            else:
                vms.append(dict(raw))
            continue
        want = found[1]
        if key in handled:
            actions.append(f"remove duplicate entry of VM {want.name}")
            continue
        handled.add(key)
        if state == "absent":
            actions.append(f"remove VM {want.name}")
            continue
        reason = ""
        try:
            have: _VmEntry | None = _VmEntry.from_wire(raw)
        except _JitValueError as exc:
            have = None
            reason = exc.message
        if have is not None and have == want:
            vms.append(dict(raw))
            continue
        wire = want.to_wire()
        if not want.public_ip_address and raw.get("publicIpAddress"):
            wire["publicIpAddress"] = raw["publicIpAddress"]
        vms.append(wire)
        if have is None:
            actions.append(f"update VM {want.name}: replace the entry Azure returned ({reason})")
        else:
            actions.extend(_vm_update_actions(have, want))

    if state == "present":
        for key, (_index, want) in wanted.items():
            if key not in handled:
                vms.append(want.to_wire())
                actions.append(f"add VM {want.name}")

    if existed and kind and existing_kind and kind.lower() != existing_kind.lower():
        actions.append(f"update policy kind {existing_kind} -> {kind}")

    # Deleting is only ever the consequence of removing VMs, never of a plain "present" with nothing listed.
    delete_policy = existed and not vms and (state == "absent" or purge)
    if delete_policy:
        actions.append("delete policy")
    changed = bool(actions)
    if delete_policy or (not existed and not vms):
        after: dict[str, Any] = {}
    else:
        after = _diff_view(vms)
    return _PolicyPlan(
        vms=vms,
        changed=changed,
        actions=actions,
        delete_policy=delete_policy,
        before=before,
        after=after,
        kind=result_kind,
    )


def _policy_body(
    vms: Sequence[Mapping[str, Any]],
    *,
    kind: str = _DEFAULT_KIND,
    requests: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """PUT body of a policy. ``requests`` is the log Azure keeps: send back what was read, or nothing."""
    properties: dict[str, Any] = {"virtualMachines": list(vms)}
    if requests is not None:
        properties["requests"] = list(requests)
    return {"kind": kind, "properties": properties}


# ---------------------------------------------------------------------------------------------------
# Results and times
# ---------------------------------------------------------------------------------------------------


def _snake_key(key: str) -> str:
    return _CAMEL_RE.sub(r"\1_\2", _CAMEL_ACRONYM_RE.sub(r"\1_\2", key)).lower()


def _snake(obj: Any, keep: Sequence[str] = ("tags",)) -> Any:
    """camelCase keys -> snake_case, recursively; values are untouched and so are the keys under ``keep``
    (tag names are user data)."""
    if isinstance(obj, Mapping):
        result: dict[Any, Any] = {}
        for key, value in obj.items():
            new_key = _snake_key(key) if isinstance(key, str) else key
            result[new_key] = value if new_key in keep else _snake(value, keep)
        return result
    if isinstance(obj, (list, tuple)):
        return [_snake(item, keep) for item in obj]
    return obj


def _parse_time(value: object, field: str = "time") -> datetime:
    """Azure times ("2018-05-17T08:06:45.5691611Z", any fraction, Z or offset) or an HTTP Date header
    ("Sun, 22 Nov 2026 17:37:11 GMT") -> aware datetime. Times without a zone are UTC, as Azure means them."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=_UTC)
    if not isinstance(value, str):
        raise _JitValueError(field, f"{value!r} is not a time")
    text = value.strip()
    match = _TIME_RE.fullmatch(text)
    if match is not None:
        year, month, day, hour, minute, second, fraction, zone = match.groups()
        # Python keeps microseconds; Azure writes 100 ns ticks (7 digits): truncate.
        micro = int((fraction or "0")[:6].ljust(6, "0"))
        if zone is None or zone in ("Z", "z"):
            tz = _UTC
        else:
            digits = zone[1:].replace(":", "")
            offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
            tz = timezone(-offset if zone[0] == "-" else offset)
        try:
            return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro, tzinfo=tz)
        except ValueError as exc:
            raise _JitValueError(field, f"{text!r} is not a valid time: {exc}") from None
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        raise _JitValueError(field, f"{text!r} is not a time; expected ISO 8601 like 2026-11-22T17:37:11Z") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=_UTC)


def _format_time(dt: datetime) -> str:
    """UTC ISO 8601 with "Z", as Azure expects ("2026-11-22T17:37:11Z", microseconds when present)."""
    aware = dt if dt.tzinfo is not None else dt.replace(tzinfo=_UTC)
    utc = aware.astimezone(_UTC)
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds" if utc.microsecond else "seconds") + "Z"
