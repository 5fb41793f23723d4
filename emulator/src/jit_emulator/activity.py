"""The Activity Log: one event per ARM write or action, succeeded or failed, and its `$filter`.

Events have the `EventData` shape of Microsoft.Insights 2015-04-01 (azure-rest-api-specs,
specification/monitor/resource-manager/Microsoft.Insights/stable/2015-04-01/activityLogs_API.json and its
example GetActivityLogsFiltered.json): `authorization`, `caller`, `claims`, `correlationId`, `eventDataId`,
`eventName`, `category`, `httpRequest`, `id`, `level`, `operationId`, `operationName`, `properties`,
`resourceGroupName`, `resourceProviderName`, `resourceType`, `resourceId`, `status`, `subStatus`,
`eventTimestamp`, `submissionTimestamp`, `subscriptionId`, `tenantId`.

Choices (written in emulator/README.md): one `EndRequest` event per call (Azure also writes a `Started`
event for long-running writes); reads are not recorded (Azure's Administrative category records writes,
deletes and actions only); the caller of a service principal is its object id, of a user the sign-in name.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timezone
from http import HTTPStatus
from typing import Any

from .arm import parse_id
from .errors import ArmError

EVENT_TYPE = "Microsoft.Insights/eventtypes/management/values"
_WRITES = ("PUT", "POST", "PATCH", "DELETE")
_CLAUSE_RE = re.compile(r"^\s*(\w+)\s+(eq|ge|le|gt|lt)\s+'([^']*)'\s*$", re.IGNORECASE)
_EPOCH = datetime(1, 1, 1, tzinfo=timezone.utc)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def _status_text(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.replace(" ", "")
    except ValueError:
        return str(status)


def event(
    *,
    now: datetime,
    tenant_id: str,
    method: str,
    path: str,
    action: str,
    status: int,
    principal: dict[str, str],
    caller_ip: str,
    error: dict[str, Any] | None,
) -> dict[str, Any] | None:
    """The EventData of one ARM call, or None for calls the Activity Log does not record."""
    if method.upper() not in _WRITES or status == 0:
        return None
    parts = parse_id(path)
    sub = parts.get("subscription")
    if not sub:
        return None
    resource_id = path.rstrip("/")
    # An action (POST …/initiate, …/ipFlowVerify) is recorded on the resource it acts on.
    if method.upper() == "POST" and action.lower().endswith("/action"):
        resource_id = resource_id.rsplit("/", 1)[0]
    provider = parts.get("namespace") or "Microsoft.Resources"
    rtype = f"{provider}/{parts['type']}" if parts.get("type") else "Microsoft.Resources/resourceGroups"
    data_id = str(uuid.uuid4())
    correlation = str(uuid.uuid4())
    ticks = int((now - _EPOCH).total_seconds() * 10_000_000)
    succeeded = 200 <= status < 300
    is_user = principal.get("kind") == "User"
    caller = principal["client_id"] if is_user else principal["object_id"]
    properties: dict[str, Any] = {
        "statusCode": _status_text(status),
        "serviceRequestId": str(uuid.uuid4()),
        "eventCategory": "Administrative",
        "entity": resource_id,
        "message": action,
        "hierarchy": f"{tenant_id}/{sub}",
    }
    if error is not None:
        properties["statusMessage"] = json.dumps(error)
    return {
        "authorization": {"action": action, "scope": resource_id},
        "caller": caller,
        "channels": "Operation",
        "claims": {
            "aud": "https://management.core.windows.net/",
            "appid": principal["client_id"] if not is_user else "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
            "http://schemas.microsoft.com/identity/claims/objectidentifier": principal["object_id"],
            "http://schemas.microsoft.com/identity/claims/tenantid": tenant_id,
            "name": principal.get("display_name", ""),
        },
        "correlationId": correlation,
        "description": "",
        "eventDataId": data_id,
        "eventName": {"value": "EndRequest", "localizedValue": "End request"},
        "category": {"value": "Administrative", "localizedValue": "Administrative"},
        "httpRequest": {"clientRequestId": str(uuid.uuid4()), "clientIpAddress": caller_ip, "method": method.upper()},
        "id": f"{resource_id}/events/{data_id}/ticks/{ticks}",
        "level": "Informational" if succeeded else "Error",
        "resourceGroupName": parts.get("resource_group", ""),
        "resourceProviderName": {"value": provider, "localizedValue": provider},
        "resourceId": resource_id,
        "resourceType": {"value": rtype, "localizedValue": rtype},
        "operationId": correlation,
        "operationName": {"value": action, "localizedValue": action},
        "properties": properties,
        "status": {
            "value": "Succeeded" if succeeded else "Failed",
            "localizedValue": "Succeeded" if succeeded else "Failed",
        },
        "subStatus": {
            "value": _status_text(status),
            "localizedValue": f"{HTTPStatus(status).phrase} (HTTP Status Code: {status})"
            if status in HTTPStatus._value2member_map_
            else str(status),
        },
        "eventTimestamp": _iso(now),
        "submissionTimestamp": _iso(now),
        "subscriptionId": sub,
        "tenantId": tenant_id,
    }


def _bad_filter(message: str) -> ArmError:
    return ArmError(400, "BadRequest", message)


def parse_filter(text: str | None) -> list[tuple[str, str, str]]:
    """`$filter` as (field, operator, value) clauses joined by `and` (the only conjunction Azure accepts)."""
    if not text or not text.strip():
        raise _bad_filter(
            "The $filter query parameter is required and must contain a start time, for example"
            " $filter=eventTimestamp ge '2026-01-01T00:00:00Z'."
        )
    clauses = []
    for part in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        found = _CLAUSE_RE.match(part)
        if found is None:
            raise _bad_filter(f"The $filter clause '{part.strip()}' is not supported.")
        clauses.append((found[1].lower(), found[2].lower(), found[3]))
    if not any(f == "eventtimestamp" and op in ("ge", "gt") for f, op, _ in clauses):
        raise _bad_filter("The $filter must contain a start time: eventTimestamp ge '<ISO 8601 time>'.")
    return clauses


def _time(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise _bad_filter(f"'{value}' is not an ISO 8601 time.") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def matches(item: dict[str, Any], clauses: list[tuple[str, str, str]]) -> bool:
    for field, op, value in clauses:
        if field == "eventtimestamp":
            stamp = _time(item["eventTimestamp"])
            bound = _time(value)
            ok = {
                "ge": stamp >= bound,
                "gt": stamp > bound,
                "le": stamp <= bound,
                "lt": stamp < bound,
                "eq": stamp == bound,
            }[op]
        elif op != "eq":
            raise _bad_filter(f"The $filter field '{field}' supports 'eq' only.")
        elif field == "resourcegroupname":
            ok = item["resourceGroupName"].lower() == value.lower()
        elif field == "resourceuri":
            ok = item["resourceId"].lower() == value.rstrip("/").lower()
        elif field == "resourceprovider":
            ok = item["resourceProviderName"]["value"].lower() == value.lower()
        elif field == "correlationid":
            ok = item["correlationId"].lower() == value.lower()
        else:
            raise _bad_filter(
                f"The $filter field '{field}' is not supported; use eventTimestamp, resourceGroupName,"
                " resourceUri, resourceProvider or correlationId."
            )
        if not ok:
            return False
    return True
