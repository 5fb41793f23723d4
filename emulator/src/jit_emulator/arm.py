"""ARM request framework: routes, the per-request context, paging and id helpers.

Providers register handlers on a `Registry`; the server matches a request to a route (literal
segments case-insensitively, as ARM does; the most specific template wins), checks the api-version,
authorises the action on the scope, and calls the handler inside one store transaction.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, MapAdapter, RequestRedirect, Rule

from .errors import ArmError
from .names import validate_resource_group, validate_subscription_id
from .store import Tx

_API_VERSION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview|-beta|-alpha)?$")


@dataclass
class Context:
    """Everything a handler may use while serving one request."""

    tx: Tx
    now: datetime
    base_url: str
    settings: dict[str, Any]
    principal: dict[str, str] | None
    caller_ip: str
    method: str
    path: str
    params: dict[str, str]
    query: dict[str, str]
    body: Any
    api_version: str | None
    app: Any = None
    # The request's If-Match header (ARM's optimistic concurrency on etags), None when not sent.
    if_match: str | None = None

    def require_body(self) -> dict[str, Any]:
        if not isinstance(self.body, dict):
            raise ArmError(
                400,
                "InvalidRequestContent",
                "The request content was invalid and could not be deserialized: a JSON object is required.",
            )
        return self.body


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Context], Response]


@dataclass
class Route:
    method: str
    template: str
    handler: Handler
    action: Callable[[Context], str]
    scope: Callable[[Context], str]
    api_versions: tuple[str, ...] | None
    write: bool
    endpoint: str = ""


def _static(value: str) -> Callable[[Context], str]:
    return lambda ctx: value


_VARIABLE_RE = re.compile(r"^<(?:(?P<converter>path):)?(?P<name>\w+)>$")


def _lower_template(template: str) -> str:
    """The template with its literal segments lower-cased (variables untouched)."""
    return "/".join(seg if _VARIABLE_RE.match(seg) else seg.lower() for seg in template.split("/"))


def _segments(path: str) -> list[str]:
    return path.strip("/").split("/") if path.strip("/") else []


def _original_values(template: str, path: str) -> dict[str, str]:
    """The variables of a matched template, cut from the request path in its own casing.

    werkzeug matches the lower-cased path (ARM's literal segments are case-insensitive); the
    values it returns are lower-cased too, so they are taken again from the original path by
    segment position. A `<path:...>` variable takes every segment the literals leave over.
    """
    parts = _segments(path)
    template_parts = _segments(template)
    values: dict[str, str] = {}
    index = 0
    for seg in template_parts:
        found = _VARIABLE_RE.match(seg)
        if found is None:
            index += 1
        elif found["converter"] == "path":
            width = len(parts) - (len(template_parts) - 1)
            values[found["name"]] = "/".join(parts[index : index + width])
            index += width
        else:
            values[found["name"]] = parts[index]
            index += 1
    return values


class Registry:
    """The route table, on werkzeug's router. Templates name variables `<name>` (one segment) or
    `<path:name>` (several). ARM matches literal segments case-insensitively; variables keep the
    casing of the request.
    """

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self._map = Map(strict_slashes=False, merge_slashes=False)
        self._adapter: MapAdapter | None = None

    def add(
        self,
        method: str,
        template: str,
        handler: Handler,
        *,
        action: str | Callable[[Context], str],
        scope: Callable[[Context], str] | None = None,
        api_versions: tuple[str, ...] | None = None,
        write: bool | None = None,
    ) -> None:
        endpoint = f"{method} {template}"
        route = Route(
            method=method,
            template=template,
            handler=handler,
            action=_static(action) if isinstance(action, str) else action,
            scope=scope or (lambda ctx: ctx.path),
            api_versions=api_versions,
            write=(method != "GET") if write is None else write,
            endpoint=endpoint,
        )
        self.routes[endpoint] = route
        self._map.add(Rule(_lower_template(template), endpoint=endpoint, methods=[method]))
        self._adapter = None

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        if self._adapter is None:
            self._adapter = self._map.bind("emulator", "/")
        try:
            endpoint, _values = self._adapter.match(path.lower(), method=method)
        except MethodNotAllowed as exc:
            raise ArmError(
                405,
                "MethodNotAllowed",
                f"The requested resource does not support http method '{method}'.",
            ) from exc
        except (NotFound, RequestRedirect) as exc:
            message = f"No HTTP resource was found that matches the request URI '{path}'."
            raise ArmError(404, "NotFound", message) from exc
        route = self.routes[str(endpoint)]
        return route, _original_values(route.template, path)


def check_api_version(route: Route, api_version: str | None) -> None:
    if not api_version:
        raise ArmError(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )
    if route.api_versions is None:
        if not _API_VERSION_RE.match(api_version):
            raise ArmError(
                400,
                "InvalidApiVersionParameter",
                f"The api-version '{api_version}' is invalid."
                " The supported versions are dates in the form 'YYYY-MM-DD'.",
            )
        return
    if api_version not in route.api_versions:
        supported = ",".join(route.api_versions)
        raise ArmError(
            400,
            "InvalidApiVersionParameter",
            f"The api-version '{api_version}' is invalid. The supported versions are '{supported}'.",
        )


# -- headers every ARM answer carries --------------------------------------------------------------------

# What ARM reports as the quota left in the current hour. The emulator does not count: the values are the
# full quotas real answers show (writes 1199, deletes 14999, reads 11999; Microsoft.Security's own
# resource-requests 749 on reads and 249 on writes), so a client reading them never backs off.
_QUOTA = {
    "writes": "1199",
    "deletes": "14999",
    "reads": "11999",
    "resource-requests-read": "749",
    "resource-requests-write": "249",
}


def arm_headers(method: str, path: str, region: str, now: datetime, correlation: str | None) -> dict[str, str]:
    """The headers ARM adds to every answer (recorded on real JIT, pricing and Network answers).

    - `x-ms-correlation-request-id`: the client's own when it sent one, else a new GUID.
    - `x-ms-request-id`: the provider's id; Microsoft.Security answers JIT calls with an empty one today
      (Defender for Cloud's PowerShell test recordings of 2022 and 2023); a JIT list is ARM fan-out, whose
      request id is the correlation id.
    - `x-ms-routing-request-id`: `<REGION>:<yyyymmddTHHMMSSZ>:<correlation id>`.
    - the remaining-quota header by verb: `-writes` for PUT/POST/PATCH, `-deletes` for DELETE, `-reads` for a
      GET; Microsoft.Security reports `-resource-requests` instead on its GETs, and on every pricing call.
    """
    lowered = path.lower().rstrip("/")
    correlation = correlation or str(uuid.uuid4())
    request_id = str(uuid.uuid4())
    if "/providers/microsoft.security/" in lowered:
        if "/jitnetworkaccesspolicies" in lowered:
            request_id = correlation if lowered.endswith("/jitnetworkaccesspolicies") else ""
            quota = _quota_for_verb(method, security_read=True)
        else:
            quota = (
                "resource-requests",
                _QUOTA["resource-requests-read" if method == "GET" else "resource-requests-write"],
            )
    else:
        quota = _quota_for_verb(method, security_read=False)
    return {
        "Cache-Control": "no-cache",
        "Pragma": "no-cache",
        "Expires": "-1",
        "x-ms-request-id": request_id,
        "x-ms-correlation-request-id": correlation,
        "x-ms-routing-request-id": f"{region.replace(' ', '').upper()}:{now:%Y%m%dT%H%M%SZ}:{correlation}",
        f"x-ms-ratelimit-remaining-subscription-{quota[0]}": quota[1],
    }


def _quota_for_verb(method: str, *, security_read: bool) -> tuple[str, str]:
    if method == "DELETE":
        return "deletes", _QUOTA["deletes"]
    if method in ("GET", "HEAD"):
        return ("resource-requests", _QUOTA["resource-requests-read"]) if security_read else ("reads", _QUOTA["reads"])
    return "writes", _QUOTA["writes"]


# -- ids ----------------------------------------------------------------------------------------------


def subscription_id(sub: str) -> str:
    return f"/subscriptions/{sub}"


def rg_id(sub: str, rg: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}"


def resource_id(sub: str, rg: str, namespace: str, type_path: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{namespace}/{type_path}/{name}"


def parse_id(rid: str) -> dict[str, str]:
    """Split an ARM id into subscription, resource_group, namespace, type, name (lower-case keys)."""
    parts = rid.strip("/").split("/")
    out: dict[str, str] = {}
    lowered = [p.lower() for p in parts]
    if len(parts) >= 2 and lowered[0] == "subscriptions":
        out["subscription"] = parts[1]
    if len(parts) >= 4 and lowered[2] == "resourcegroups":
        out["resource_group"] = parts[3]
    if "providers" in lowered:
        i = lowered.index("providers")
        if len(parts) > i + 1:
            out["namespace"] = parts[i + 1]
            rest = parts[i + 2 :]
            out["type"] = "/".join(rest[0::2])
            if len(rest) >= 2:
                out["name"] = rest[-1] if len(rest) % 2 == 0 else ""
    return out


def name_of(rid: str) -> str:
    return rid.rstrip("/").split("/")[-1]


def same_id(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and a.rstrip("/").lower() == b.rstrip("/").lower()  # type: ignore[union-attr]


def new_guid() -> str:
    return str(uuid.uuid4())


def etag() -> str:
    return f'W/"{uuid.uuid4()}"'


# -- validation shared by every resource-group scoped route ---------------------------------------------


def check_subscription(ctx: Context, sub: str) -> dict[str, Any]:
    validate_subscription_id(sub)
    body = ctx.tx.get(subscription_id(sub))
    if body is None:
        raise ArmError(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")
    return body


def check_rg_name(rg: str) -> None:
    validate_resource_group(rg)


def check_rg(ctx: Context, sub: str, rg: str) -> dict[str, Any]:
    check_subscription(ctx, sub)
    check_rg_name(rg)
    body = ctx.tx.get(rg_id(sub, rg))
    if body is None:
        raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.")
    return body


def resource_not_found(type_label: str, name: str, rg: str) -> ArmError:
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{type_label}/{name}' under resource group '{rg}' was not found."
        " For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    )


# -- paging ---------------------------------------------------------------------------------------------


def page(
    ctx: Context,
    items: Sequence[Any],
    *,
    value_key: str = "value",
    transform: Callable[[Any], Any] | None = None,
) -> Response:
    """One page of a list, with ARM's `nextLink` carrying a `$skipToken` offset.

    `transform` (decoding, computed back-references) is applied to the items of this page only, so a
    list of n items read page by page costs O(n) transforms, not O(n^2).
    """
    size = max(1, int(ctx.settings.get("page_size", 10)))
    token = ctx.query.get("$skiptoken") or "0"
    try:
        start = max(0, int(token))
    except ValueError as exc:
        raise ArmError(400, "InvalidSkipToken", f"The skip token '{token}' is invalid.") from exc
    chunk = list(items[start : start + size])
    if transform is not None:
        chunk = [transform(item) for item in chunk]
    body: dict[str, Any] = {value_key: chunk}
    if start + size < len(items):
        query = {k: v for k, v in ctx.query.items() if k.lower() != "$skiptoken"}
        query["$skipToken"] = str(start + size)
        body["nextLink"] = f"{ctx.base_url}{quote(ctx.path)}?{urlencode(query)}"
    return Response(200, body)
