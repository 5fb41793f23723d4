"""JIT policy validation and the access-request lifecycle, as pure functions (no HTTP, no storage).

Bodies are ARM wire JSON (plain dicts, camelCase); functions return new bodies and never mutate inputs.

Error codes (all raised as ``ArmError``):

- 400 ``InvalidSubscriptionId``: ARM's own code and message for a malformed subscription id.
- 400 ``InvalidResourceGroup``: ARM's own code for a bad resource group name (characters, length, final '.').
- 400 ``InvalidResourceName``: a policy name ARM would not accept as a resource name.
- 400 ``InvalidInput``: any structural problem in a policy PUT body (missing field, wrong type, port out of
  range, unknown protocol, bad prefix, both prefix fields, duplicates, the 56-character name rule). The
  service documents no finer codes, so one generic code with a precise message and ``target`` is honest.
- 400 ``InvalidDuration``: a duration that is not ISO 8601, uses years/months, or (for a policy)
  ``maxRequestAccessDuration`` outside PT5M..P1D. A distinct code because it is the one mistake users
  make most and tools can match on it.
- 400 ``ClassicVmNotSupported``: a ``Microsoft.ClassicCompute`` VM; the portal shows it as its own
  "Classic VM" unsupported reason, so it gets its own code too.
- 400 ``InvalidInitiateInput``: every problem in an initiate body (including durations, sources outside
  the policy and VMs/ports not in the policy). It is the one code the real service is known to return
  for initiate input (Azure/azure-rest-api-specs#43491).
"""

from __future__ import annotations

import copy
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import isodate

from .errors import ArmError
from .names import validate_resource_group, validate_subscription_id

_UTC = timezone.utc
MIN_MAX_DURATION = timedelta(minutes=5)
MAX_MAX_DURATION = timedelta(days=1)
MAX_COMBINED_NAME_LENGTH = 56
PROTOCOLS = ("TCP", "UDP", "*")
READ_ONLY_FIELDS = ("id", "name", "type", "location")

_GUID = r"[0-9A-Fa-f]{8}-(?:[0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}"
_VM_ID_RE = re.compile(
    rf"^/subscriptions/{_GUID}/resourceGroups/[-\w\._\(\)]+/providers/Microsoft\.Compute/virtualMachines/(?P<name>[^/]+)$",
    re.IGNORECASE,
)
_CLASSIC_VM_RE = re.compile(r"/providers/Microsoft\.ClassicCompute/virtualMachines/", re.IGNORECASE)
# ARM rejects these in resource names.
_BAD_NAME_CHARS = re.compile(r"[<>%&:\\?/#*\x00-\x1f]")
_TIME_RE = re.compile(
    r"^(?P<base>\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2})?)"
    r"(?:\.(?P<frac>\d+))?"
    r"(?P<tz>[Zz]|[+-]\d{2}:?\d{2})?$"
)


def _invalid(message: str, target: str | None = None, code: str = "InvalidInput") -> ArmError:
    return ArmError(400, code, message, target=target)


# --- durations and times ----------------------------------------------------------------------------


def parse_duration(value: Any, field: str, *, code: str = "InvalidDuration") -> timedelta:
    """An ISO 8601 duration as a timedelta; years and months are rejected (their length is not fixed)."""
    if not isinstance(value, str) or not value.strip():
        raise _invalid(f"'{field}' must be an ISO 8601 duration such as 'PT3H', got {value!r}.", field, code)
    text = value.strip()
    try:
        # isodate takes 'P', 'PT' and 'P1DT' as zero/valid; ISO 8601 needs a component after each designator.
        if not any(c.isdigit() for c in text) or text.upper().endswith("T"):
            raise ValueError(text)
        parsed = isodate.parse_duration(text)
    except (isodate.ISO8601Error, ValueError, TypeError, OverflowError):
        raise _invalid(
            f"'{field}' must be an ISO 8601 duration such as 'PT3H' or 'PT30M', got '{value}'.", field, code
        ) from None
    if isinstance(parsed, isodate.Duration):
        if parsed.years or parsed.months:
            raise _invalid(
                f"'{field}' must not use years or months ('{value}'); use days, hours or minutes such as 'PT3H'.",
                field,
                code,
            )
        parsed = parsed.tdelta
    return parsed


def format_duration(value: timedelta) -> str:
    return isodate.duration_isoformat(value)


def _as_utc(value: datetime) -> datetime:
    # Naive datetimes are taken as UTC: every time in this API is UTC.
    return value.replace(tzinfo=_UTC) if value.tzinfo is None else value.astimezone(_UTC)


def format_time(value: datetime) -> str:
    """Azure's date-time text: UTC, 7 fractional digits, 'Z' (e.g. 2018-05-17T08:06:45.5691611Z)."""
    utc = _as_utc(value)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond:06d}0Z"


def parse_time(value: Any, field: str, *, code: str = "InvalidInput") -> datetime:
    """An ISO 8601 date-time ('Z', an offset, or none = UTC; any number of fractional digits) in UTC."""
    match = _TIME_RE.match(value) if isinstance(value, str) else None
    if match is None:
        raise _invalid(
            f"'{field}' must be an ISO 8601 UTC date-time such as '2018-05-17T09:06:45.5691611Z', got {value!r}.",
            field,
            code,
        )
    # datetime holds microseconds only: the 7th digit (100 ns) cannot be kept.
    frac = (match["frac"] or "")[:6].ljust(6, "0")
    tz = (match["tz"] or "+00:00").upper().replace("Z", "+00:00")
    if ":" not in tz:
        tz = f"{tz[:3]}:{tz[3:]}"
    try:
        parsed = datetime.fromisoformat(f"{match['base'].replace(' ', 'T').replace('t', 'T')}.{frac}{tz}")
    except ValueError:
        raise _invalid(f"'{field}' is not a valid date-time: '{value}'.", field, code) from None
    return parsed.astimezone(_UTC)


def _echo_time(value: str, parsed: datetime) -> str:
    """format_time of a client-given time, keeping its 7th fractional digit so the echo is exact."""
    match = _TIME_RE.match(value)
    frac = (match["frac"] or "") if match else ""
    text = format_time(parsed)
    return text[:-2] + frac[6] + "Z" if len(frac) >= 7 else text


# --- names ------------------------------------------------------------------------------------------


def validate_names(subscription_id: str, resource_group: str, policy_name: str) -> None:
    """The URL segments of a JIT policy, checked as ARM checks them."""
    validate_subscription_id(subscription_id)
    validate_resource_group(resource_group)
    _validate_policy_name(policy_name)


def _validate_policy_name(name: str) -> None:
    if not isinstance(name, str) or not name or name != name.strip() or name.endswith("."):
        raise ArmError(
            400,
            "InvalidResourceName",
            f"The JIT network access policy name '{name}' is invalid: it must be non-empty, "
            "must not start or end with a space and must not end with a period.",
        )
    if _BAD_NAME_CHARS.search(name):
        raise ArmError(
            400,
            "InvalidResourceName",
            f"The JIT network access policy name '{name}' contains characters ARM does not allow "
            "in a resource name (< > % & : \\ ? / # * or control characters).",
        )


# --- prefixes ---------------------------------------------------------------------------------------

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _parse_prefix(prefix: str) -> _Network | None:
    """'*' -> None; an address -> its /32 or /128; a CIDR (strict: no host bits) -> the network.

    Raises ValueError for anything else.
    """
    if prefix == "*":
        return None
    if not isinstance(prefix, str) or "%" in prefix or prefix != prefix.strip():
        raise ValueError(prefix)
    address, sep, length = prefix.partition("/")
    if sep:
        # ipaddress would take a netmask ('/255.0.0.0'); Azure wants a prefix length.
        if not length.isdigit():
            raise ValueError(prefix)
        return ipaddress.ip_network(prefix, strict=True)
    return ipaddress.ip_network(ipaddress.ip_address(address))


def _check_prefix(prefix: Any, target: str, code: str) -> str:
    if isinstance(prefix, str):
        try:
            _parse_prefix(prefix)
            return prefix
        except ValueError:
            pass
    raise _invalid(
        f"'{target}' must be an IPv4/IPv6 address, a CIDR without host bits (e.g. '192.168.0.0/16') or '*', "
        f"got {prefix!r}.",
        target,
        code,
    )


def _contains(allowed: str, requested: _Network | None) -> bool:
    if allowed == "*":
        return True
    if requested is None:
        return False  # a requested '*' fits only inside an allowed '*'
    try:
        network = _parse_prefix(allowed)
    except ValueError:
        return False
    # subnet_of needs both networks of one IP version; another version is never a subset.
    if isinstance(requested, ipaddress.IPv4Network) and isinstance(network, ipaddress.IPv4Network):
        return requested.subnet_of(network)
    if isinstance(requested, ipaddress.IPv6Network) and isinstance(network, ipaddress.IPv6Network):
        return requested.subnet_of(network)
    return False


def is_subset(requested_prefixes: Iterable[str], allowed_prefixes: Iterable[str]) -> bool:
    """True when every requested prefix lies inside at least one allowed prefix ('*' = everything).

    An unparsable requested prefix is never a subset; an unparsable allowed prefix contains nothing.
    """
    allowed = list(allowed_prefixes)
    for prefix in requested_prefixes:
        try:
            requested = _parse_prefix(prefix)
        except ValueError:
            return False
        if not any(_contains(a, requested) for a in allowed):
            return False
    return True


def _prefix_fields(item: Mapping[str, Any], path: str, code: str) -> tuple[str, list[str]] | None:
    """(field used, prefixes) from allowedSourceAddressPrefix(es); None when neither is set.

    Both set is an error.
    """
    single = item.get("allowedSourceAddressPrefix")
    plural = item.get("allowedSourceAddressPrefixes")
    if single is not None and plural is not None:
        raise _invalid(
            "Only one of fields 'allowedSourceAddressPrefix' and 'allowedSourceAddressPrefixes' can be set.",
            path,
            code,
        )
    if single is not None:
        return "allowedSourceAddressPrefix", [_check_prefix(single, f"{path}.allowedSourceAddressPrefix", code)]
    if plural is None:
        return None
    target = f"{path}.allowedSourceAddressPrefixes"
    if not isinstance(plural, list) or not plural:
        raise _invalid(f"'{target}' must be a non-empty list of address prefixes.", target, code)
    return "allowedSourceAddressPrefixes", [_check_prefix(p, f"{target}[{i}]", code) for i, p in enumerate(plural)]


def port_allowed_prefixes(port: Mapping[str, Any]) -> list[str]:
    """The allowed source prefixes of a policy port rule (either field)."""
    plural = port.get("allowedSourceAddressPrefixes")
    if isinstance(plural, list) and plural:
        return [str(p) for p in plural]
    single = port.get("allowedSourceAddressPrefix")
    return [str(single)] if single is not None else []


# --- policy validation ------------------------------------------------------------------------------


def _require(container: Mapping[str, Any], key: str, path: str) -> Any:
    if container.get(key) is None:
        raise _invalid(f"'{path}' is required.", path)
    return container[key]


def _require_list(container: Mapping[str, Any], key: str, path: str, *, non_empty: bool = False) -> list[Any]:
    value = _require(container, key, path)
    if not isinstance(value, list):
        raise _invalid(f"'{path}' must be a list.", path)
    if non_empty and not value:
        raise _invalid(f"'{path}' must contain at least one item.", path)
    return value


def _require_object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _invalid(f"'{path}' must be an object.", path)
    return value


def _port_number(value: Any, path: str, code: str = "InvalidInput") -> int:
    # bool is an int subclass; JSON true is not a port.
    if value is None:
        raise _invalid(f"'{path}' is required.", path, code)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 65535:
        raise _invalid(f"'{path}' must be an integer from 0 to 65535, got {value!r}.", path, code)
    return value


def vm_name_from_id(vm_id: str) -> str:
    return vm_id.rstrip("/").rsplit("/", 1)[-1]


def _validate_vm_id(vm_id: Any, path: str) -> str:
    if not isinstance(vm_id, str) or not vm_id:
        raise _invalid(f"'{path}' is required and must be a virtual machine resource id.", path)
    if _CLASSIC_VM_RE.search(vm_id):
        raise _invalid(
            f"Classic VM is not supported: '{vm_id}' is a Microsoft.ClassicCompute virtual machine; "
            "JIT supports only VMs deployed through Azure Resource Manager (Microsoft.Compute).",
            path,
            "ClassicVmNotSupported",
        )
    if not _VM_ID_RE.match(vm_id):
        raise _invalid(
            f"'{path}' must be a virtual machine resource id like '/subscriptions/<subscription guid>/"
            f"resourceGroups/<group>/providers/Microsoft.Compute/virtualMachines/<name>', got '{vm_id}'.",
            path,
        )
    return vm_id


def _validate_policy_port(port: Any, path: str) -> dict[str, Any]:
    port = dict(_require_object(port, path))
    _port_number(port.get("number"), f"{path}.number")
    protocol = port.get("protocol")
    normalised = protocol.strip().upper() if isinstance(protocol, str) else None
    if normalised not in PROTOCOLS:
        target = f"{path}.protocol"
        raise _invalid(f"'{target}' must be one of 'TCP', 'UDP' or '*', got {protocol!r}.", target)
    if _prefix_fields(port, path, "InvalidInput") is None:
        raise _invalid(
            f"'{path}' must set one of 'allowedSourceAddressPrefix' and 'allowedSourceAddressPrefixes' "
            "('*' allows any source).",
            path,
        )
    _validate_max_duration(port.get("maxRequestAccessDuration"), f"{path}.maxRequestAccessDuration")
    return _in_model_order(port)


# The service deserialises a port rule into its model and serialises it back: values come back as sent
# ("TCP" stays "TCP", the singular prefix field stays singular), keys in the model's order.
_PORT_KEY_ORDER = (
    "number",
    "protocol",
    "allowedSourceAddressPrefix",
    "allowedSourceAddressPrefixes",
    "maxRequestAccessDuration",
)


def _in_model_order(port: Mapping[str, Any]) -> dict[str, Any]:
    ordered = {k: port[k] for k in _PORT_KEY_ORDER if k in port}
    ordered.update({k: v for k, v in port.items() if k not in ordered})
    return ordered


def protocol_of(port: Mapping[str, Any]) -> str:
    """A policy port's protocol as 'TCP', 'UDP' or '*', however the client spelled it."""
    text = str(port.get("protocol", "*")).strip().upper()
    return text if text in PROTOCOLS else "*"


def _validate_max_duration(value: Any, target: str) -> None:
    if value is None:
        raise _invalid(f"'{target}' is required (ISO 8601, from PT5M to P1D).", target)
    duration = parse_duration(value, target)
    if not MIN_MAX_DURATION <= duration <= MAX_MAX_DURATION:
        raise _invalid(
            f"'{target}' must be from PT5M (5 minutes) to P1D (1 day), got '{value}'.",
            target,
            "InvalidDuration",
        )


def _validate_policy_vm(vm: Any, path: str, policy_name: str | None) -> dict[str, Any]:
    vm = dict(_require_object(vm, path))
    vm_id = _validate_vm_id(vm.get("id"), f"{path}.id")
    vm_name = vm_name_from_id(vm_id)
    if policy_name is not None and len(policy_name) + len(vm_name) > MAX_COMBINED_NAME_LENGTH:
        raise _invalid(
            f"The policy name '{policy_name}' ({len(policy_name)} characters) and the VM name '{vm_name}' "
            f"({len(vm_name)} characters) together must not exceed {MAX_COMBINED_NAME_LENGTH} characters.",
            f"{path}.id",
        )
    ports = _require_list(vm, "ports", f"{path}.ports", non_empty=True)
    checked: list[dict[str, Any]] = []
    seen: set[int] = set()
    for index, port in enumerate(ports):
        port_path = f"{path}.ports[{index}]"
        normalised = _validate_policy_port(port, port_path)
        if normalised["number"] in seen:
            raise _invalid(
                f"Port {normalised['number']} appears more than once for VM '{vm_id}'.", f"{port_path}.number"
            )
        seen.add(normalised["number"])
        checked.append(normalised)
    vm["ports"] = checked
    if vm.get("publicIpAddress") is not None and not isinstance(vm["publicIpAddress"], str):
        raise _invalid(f"'{path}.publicIpAddress' must be a string.", f"{path}.publicIpAddress")
    return vm


def _validate_request(request: Any, path: str) -> None:
    """A stored request log entry: checked so later expiry/supersede logic can rely on its shape."""
    request = _require_object(request, path)
    parse_time(_require(request, "startTimeUtc", f"{path}.startTimeUtc"), f"{path}.startTimeUtc")
    if not isinstance(_require(request, "requestor", f"{path}.requestor"), str):
        raise _invalid(f"'{path}.requestor' must be a string.", f"{path}.requestor")
    for v_index, vm in enumerate(_require_list(request, "virtualMachines", f"{path}.virtualMachines")):
        vm_path = f"{path}.virtualMachines[{v_index}]"
        vm = _require_object(vm, vm_path)
        if not isinstance(_require(vm, "id", f"{vm_path}.id"), str):
            raise _invalid(f"'{vm_path}.id' must be a string.", f"{vm_path}.id")
        for p_index, port in enumerate(_require_list(vm, "ports", f"{vm_path}.ports")):
            port_path = f"{vm_path}.ports[{p_index}]"
            port = _require_object(port, port_path)
            _port_number(port.get("number"), f"{port_path}.number")
            parse_time(_require(port, "endTimeUtc", f"{port_path}.endTimeUtc"), f"{port_path}.endTimeUtc")
            for key in ("status", "statusReason"):
                if not isinstance(_require(port, key, f"{port_path}.{key}"), str):
                    raise _invalid(f"'{port_path}.{key}' must be a string.", f"{port_path}.{key}")
            _prefix_fields(port, port_path, "InvalidInput")


def validate_policy(body: Any, policy_name: str | None = None) -> dict[str, Any]:
    """A normalised copy of a policy PUT body, or ArmError 400.

    Read-only fields (id, name, type, location, properties.provisioningState, properties.appendMode) are
    dropped: the server sets them. Port rules keep the values sent (a protocol 'tcp' stays 'tcp'), in the
    model's key order. policy_name enables the rule that the policy
    name and each VM name together are at most 56 characters.
    """
    body = _require_object(body, "body")
    properties = _require_object(_require(body, "properties", "properties"), "properties")
    vms = _require_list(properties, "virtualMachines", "properties.virtualMachines")
    checked: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for index, vm in enumerate(vms):
        path = f"properties.virtualMachines[{index}]"
        normalised = _validate_policy_vm(vm, path, policy_name)
        key = normalised["id"].lower()
        if key in seen:
            raise _invalid(
                f"VM '{normalised['id']}' appears more than once (also at properties.virtualMachines[{seen[key]}]).",
                f"{path}.id",
            )
        seen[key] = index
        checked.append(normalised)
    requests = properties.get("requests")
    if requests is not None:
        if not isinstance(requests, list):
            raise _invalid("'properties.requests' must be a list.", "properties.requests")
        for index, request in enumerate(requests):
            _validate_request(request, f"properties.requests[{index}]")
    if body.get("kind") is not None and not isinstance(body["kind"], str):
        raise _invalid("'kind' must be a string.", "kind")

    result = {k: copy.deepcopy(v) for k, v in body.items() if k not in READ_ONLY_FIELDS}
    new_props = {k: copy.deepcopy(v) for k, v in properties.items() if k not in ("provisioningState", "appendMode")}
    new_props["virtualMachines"] = copy.deepcopy(checked)
    result["properties"] = new_props
    return result


# --- initiate ---------------------------------------------------------------------------------------


def _initiate_error(message: str, target: str | None = None) -> ArmError:
    return ArmError(400, "InvalidInitiateInput", message, target=target)


def not_subset_message(policy_id: str) -> str:
    """Azure's message for an initiate outside the policy (as users report it, word for word)."""
    return (
        f"The given access request is not a subset of policy '{policy_id}'. "
        "Please make sure that the access request is within the allowed policy properties."
    )


def _not_subset(policy_id: str, detail: str, target: str | None = None) -> ArmError:
    # Azure's message names no field; which one is outside the policy goes into `details`, which clients
    # that show only the message ignore.
    return ArmError(
        400,
        "InvalidInitiateInput",
        not_subset_message(policy_id),
        target=target,
        details=[{"code": "InvalidInitiateInput", "message": detail, "target": target}],
    )


def _policy_vms(policy: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    vms = (policy.get("properties") or {}).get("virtualMachines") or []
    return {str(vm.get("id", "")).lower(): vm for vm in vms if isinstance(vm, Mapping)}


def _request_end(port: Mapping[str, Any], path: str, now: datetime) -> tuple[datetime, str, str]:
    """(end time, its text for the record, the requested window as shown in messages)."""
    end_text = port.get("endTimeUtc")
    duration = port.get("duration")
    if (end_text is None) == (duration is None):
        raise _initiate_error("Only one of fields 'EndTimeUtc' and 'Duration' can be set.", path)
    if duration is not None:
        end = now + parse_duration(duration, f"{path}.duration", code="InvalidInitiateInput")
        return end, format_time(end), str(duration)
    end = parse_time(end_text, f"{path}.endTimeUtc", code="InvalidInitiateInput")
    return end, _echo_time(str(end_text), end), format_duration(end - now)  # parse_time took only a str


def _caller_prefix(caller_ip: str) -> str:
    """The caller's address as a prefix; an IPv4-mapped IPv6 address (dual-stack sockets) becomes IPv4."""
    try:
        address = ipaddress.ip_address(caller_ip)
    except ValueError:
        return caller_ip
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped or address)


def _plan_port(
    port: Any, path: str, vm_id: str, policy_port: Mapping[str, Any], *, now: datetime, caller_ip: str | None
) -> tuple[dict[str, Any], datetime, list[str]]:
    number = port["number"]
    end, end_text, window = _request_end(port, path, now)
    if end <= now:
        raise _initiate_error(
            f"The requested access for port {number} of VM '{vm_id}' must end in the future "
            f"(ends {format_time(end)}, now is {format_time(now)}).",
            path,
        )
    max_text = str(policy_port.get("maxRequestAccessDuration"))
    maximum = parse_duration(max_text, "maxRequestAccessDuration", code="InvalidInitiateInput")
    if end - now > maximum:
        raise _initiate_error(
            f"The requested access for port {number} of VM '{vm_id}' is '{window}', longer than the maximum "
            f"'{max_text}' the policy allows for this port.",
            path,
        )
    fields = _prefix_fields(port, path, "InvalidInitiateInput")
    if fields is None:
        if not caller_ip:
            raise _initiate_error(f"No source address was given for port {number} and the caller IP is unknown.", path)
        fields = ("allowedSourceAddressPrefix", [_caller_prefix(caller_ip)])
    field, sources = fields
    return (
        {
            "number": number,
            field: sources[0] if field == "allowedSourceAddressPrefix" else list(sources),
            "endTimeUtc": end_text,
            "status": "Initiated",
            "statusReason": "UserRequested",
        },
        end,
        sources,
    )


def _plan_vm(
    vm: Any, path: str, policy: Mapping[str, Any], *, now: datetime, caller_ip: str | None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    policy_id = str(policy.get("id", ""))
    if not isinstance(vm, Mapping):
        raise _initiate_error(f"'{path}' must be an object.", path)
    vm_id = vm.get("id")
    if not isinstance(vm_id, str) or not vm_id:
        raise _initiate_error(f"'{path}.id' is required.", f"{path}.id")
    policy_vm = _policy_vms(policy).get(vm_id.lower())
    if policy_vm is None:
        raise _not_subset(policy_id, f"Virtual machine '{vm_id}' is not in the policy.", f"{path}.id")
    stored_id = str(policy_vm["id"])
    ports = vm.get("ports")
    if not isinstance(ports, list) or not ports:
        raise _initiate_error(f"'{path}.ports' is required and must list at least one port.", f"{path}.ports")
    policy_ports = {p.get("number"): p for p in policy_vm.get("ports") or [] if isinstance(p, Mapping)}
    record_ports: list[dict[str, Any]] = []
    grants: list[dict[str, Any]] = []
    for index, port in enumerate(ports):
        port_path = f"{path}.ports[{index}]"
        if not isinstance(port, Mapping):
            raise _initiate_error(f"'{port_path}' must be an object.", port_path)
        number = _port_number(port.get("number"), f"{port_path}.number", "InvalidInitiateInput")
        if any(r["number"] == number for r in record_ports):
            raise _initiate_error(f"Port {number} of VM '{vm_id}' is requested more than once.", port_path)
        policy_port = policy_ports.get(number)
        if policy_port is None:
            raise _not_subset(policy_id, f"Port {number} of VM '{vm_id}' is not in the policy.", port_path)
        record, end, sources = _plan_port(port, port_path, vm_id, policy_port, now=now, caller_ip=caller_ip)
        allowed = port_allowed_prefixes(policy_port)
        if not is_subset(sources, allowed):
            raise _not_subset(
                policy_id,
                f"Source '{', '.join(sources)}' for port {number} of VM '{vm_id}' is not within the allowed "
                f"source '{', '.join(allowed)}'.",
                port_path,
            )
        record_ports.append(record)
        protocol = protocol_of(policy_port)
        grants.append({"vm_id": stored_id, "number": number, "protocol": protocol, "sources": sources, "end_time": end})
    return {"id": stored_id, "ports": record_ports}, grants


def plan_initiate(
    policy: Mapping[str, Any],
    initiate_body: Any,
    *,
    now: datetime,
    caller_ip: str | None,
    requestor: str,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Validate an initiate body against the stored policy: (JitNetworkAccessRequest record, grants).

    grants: one {"vm_id", "number", "protocol", "sources", "end_time"} per requested VM port. VM ids
    in both come from the policy (its casing). A port without a source gets [caller_ip] ("My IP").
    """
    now = _as_utc(now)
    if not isinstance(initiate_body, Mapping):
        raise _initiate_error("The request body must be a JSON object.")
    vms = initiate_body.get("virtualMachines")
    if not isinstance(vms, list) or not vms:
        raise _initiate_error("'virtualMachines' is required and must list at least one VM.", "virtualMachines")
    justification = initiate_body.get("justification")
    if justification is not None and not isinstance(justification, str):
        raise _initiate_error("'justification' must be a string.", "justification")
    record_vms: list[dict[str, Any]] = []
    grants: list[dict[str, Any]] = []
    for index, vm in enumerate(vms):
        record_vm, vm_grants = _plan_vm(vm, f"virtualMachines[{index}]", policy, now=now, caller_ip=caller_ip)
        if any(r["id"].lower() == record_vm["id"].lower() for r in record_vms):
            raise _initiate_error(f"VM '{record_vm['id']}' is requested more than once.", f"virtualMachines[{index}]")
        record_vms.append(record_vm)
        grants.extend(vm_grants)
    record: dict[str, Any] = {
        "virtualMachines": record_vms,
        "startTimeUtc": format_time(now),
        "requestor": requestor,
    }
    if justification is not None:
        record["justification"] = justification
    return record, grants


# --- request lifecycle ------------------------------------------------------------------------------


def _requests(policy: dict[str, Any]) -> list[dict[str, Any]]:
    props = policy.setdefault("properties", {})
    requests = props.get("requests")
    if not isinstance(requests, list):
        requests = props["requests"] = []
    return requests


def _request_port_entries(
    policy: dict[str, Any],
) -> Iterable[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """(request, vm entry, port entry) for every port of every logged request."""
    for request in _requests(policy):
        if not isinstance(request, dict):
            continue
        for vm in request.get("virtualMachines") or []:
            if not isinstance(vm, dict):
                continue
            for port in vm.get("ports") or []:
                if isinstance(port, dict):
                    yield request, vm, port


def _port_entries(policy: dict[str, Any]) -> Iterable[tuple[dict[str, Any], dict[str, Any]]]:
    """(vm entry, port entry) for every port of every logged request."""
    for _request, vm, port in _request_port_entries(policy):
        yield vm, port


def _is_initiated(port: Mapping[str, Any]) -> bool:
    return str(port.get("status", "")).lower() == "initiated"


def _update_ports(
    policy: Mapping[str, Any],
    change: Callable[[Mapping[str, Any], Mapping[str, Any], Mapping[str, Any]], dict[str, Any] | None],
) -> dict[str, Any]:
    """A new policy body where every logged request port for which change(request, vm, port) returns fields
    gets them, in a copy of its request. Requests that do not change are shared with the input, which is
    never mutated: a policy with a long request log costs one copy of the entries that change, not of the log.
    """
    new = dict(policy)
    props = dict(new.get("properties") or {})
    new["properties"] = props
    requests = props.get("requests")
    if not isinstance(requests, list):
        props["requests"] = []
        return new
    out: list[Any] = []
    for request in requests:
        replaced: dict[str, Any] | None = None
        if isinstance(request, dict):
            for v_index, vm in enumerate(request.get("virtualMachines") or []):
                if not isinstance(vm, dict):
                    continue
                for p_index, port in enumerate(vm.get("ports") or []):
                    fields = change(request, vm, port) if isinstance(port, dict) else None
                    if fields:
                        if replaced is None:
                            replaced = copy.deepcopy(request)
                        replaced["virtualMachines"][v_index]["ports"][p_index].update(fields)
        out.append(request if replaced is None else replaced)
    props["requests"] = out
    return new


def supersede(policy: Mapping[str, Any], request_record: Mapping[str, Any]) -> dict[str, Any]:
    """A new policy body with request_record appended to properties.requests.

    Older Initiated entries for the record's VM+ports become Revoked / NewerRequestInitiated.
    """
    opened = {
        (str(vm.get("id", "")).lower(), port.get("number"))
        for vm in request_record.get("virtualMachines") or []
        for port in vm.get("ports") or []
    }

    def revoke(request: Mapping[str, Any], vm: Mapping[str, Any], port: Mapping[str, Any]) -> dict[str, Any] | None:
        if _is_initiated(port) and (str(vm.get("id", "")).lower(), port.get("number")) in opened:
            return {"status": "Revoked", "statusReason": "NewerRequestInitiated"}
        return None

    new = _update_ports(policy, revoke)
    new["properties"]["requests"].append(copy.deepcopy(dict(request_record)))
    return new


def expire(
    policy: Mapping[str, Any], now: datetime, only: set[tuple[str, str, int]] | None = None
) -> tuple[dict[str, Any], list[tuple[str, int]]]:
    """A new policy body where Initiated ports whose endTimeUtc <= now are Revoked/Expired, and the
    (vm_id, port) pairs that expired (unique, in log order).

    only: when given, just the entries of these (request startTimeUtc, lower-cased VM id, port number)
    may expire; every other entry is left as it is.
    """
    now = _as_utc(now)
    expired: list[tuple[str, int]] = []

    def end(request: Mapping[str, Any], vm: Mapping[str, Any], port: Mapping[str, Any]) -> dict[str, Any] | None:
        if not _is_initiated(port):
            return None
        key = (str(request.get("startTimeUtc", "")), str(vm.get("id", "")).lower(), port.get("number"))
        if only is not None and key not in only:
            return None
        try:
            end_time = parse_time(port.get("endTimeUtc"), "endTimeUtc")
        except ArmError:
            return None  # an unreadable end time cannot be judged; leave the entry alone
        if end_time > now:
            return None
        pair = (str(vm.get("id", "")), int(port["number"]))  # every stored port has its number
        if pair not in expired:
            expired.append(pair)
        return {"status": "Revoked", "statusReason": "Expired"}

    return _update_ports(policy, end), expired


def remove_vm_ports_diff(
    old_policy: Mapping[str, Any] | None, new_policy: Mapping[str, Any] | None
) -> dict[str, dict[str, Any]]:
    """Per VM id (lower-cased) in either policy: what a PUT changes.

    {"id": VM id (new policy's casing when present), "removed": [port numbers], "added": [new port dicts],
    "kept": [new port dicts], "changed": [numbers of kept ports whose definition differs]}.
    A None policy counts as empty (create or delete).
    """
    old_vms = _policy_vms(old_policy or {})
    new_vms = _policy_vms(new_policy or {})
    diff: dict[str, dict[str, Any]] = {}
    for key in [*new_vms, *(k for k in old_vms if k not in new_vms)]:
        old_ports = {p.get("number"): p for p in (old_vms.get(key) or {}).get("ports") or []}
        new_ports = {p.get("number"): p for p in (new_vms.get(key) or {}).get("ports") or []}
        vm = new_vms.get(key) or old_vms[key]
        diff[key] = {
            "id": str(vm.get("id", "")),
            "removed": [n for n in old_ports if n not in new_ports],
            "added": [copy.deepcopy(p) for n, p in new_ports.items() if n not in old_ports],
            "kept": [copy.deepcopy(p) for n, p in new_ports.items() if n in old_ports],
            "changed": [n for n, p in new_ports.items() if n in old_ports and old_ports[n] != p],
        }
    return diff
