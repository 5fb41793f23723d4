"""Resource-group scoped resource types with ARM's usual CRUD and list routes.

A provider describes a type once (`Kind`) with hooks for what is special about it; the
routes, status codes, 404s and paging are the same for every type, as they are in ARM.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..arm import Context, Registry, Response, check_rg, check_subscription, page, resource_id, resource_not_found
from ..errors import ArmError
from . import _operations

Prepare = Callable[[Context, str, str, dict[str, Any], "dict[str, Any] | None"], dict[str, Any]]
Decorate = Callable[[Context, dict[str, Any]], dict[str, Any]]
Hook = Callable[[Context, dict[str, Any]], None]

_NAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?$")


@dataclass
class Kind:
    namespace: str
    type_path: str
    prepare: Prepare
    api_versions: tuple[str, ...] | None = None
    decorate: Decorate | None = None
    before_delete: Hook | None = None
    after_put: Hook | None = None
    create_status: int = 201
    # Writes answered as ARM's asynchronous operations (Microsoft.Network): see _operations.py.
    asynchronous: bool = False
    name_re: re.Pattern[str] = _NAME_RE
    name_rule: str = (
        "1-80 characters: letters, digits, '_', '.', '-'; start with a letter or digit; end with a letter, digit or '_'"
    )

    @property
    def full_type(self) -> str:
        return f"{self.namespace}/{self.type_path}"

    def action(self, verb: str) -> str:
        return f"{self.full_type}/{verb}"


def read_body(ctx: Context, kind: Kind, body: dict[str, Any]) -> dict[str, Any]:
    return kind.decorate(ctx, body) if kind.decorate else body


def get_resource(ctx: Context, kind: Kind, sub: str, rg: str, name: str) -> dict[str, Any]:
    body = ctx.tx.get(resource_id(sub, rg, kind.namespace, kind.type_path, name))
    if body is None:
        check_rg(ctx, sub, rg)
        raise resource_not_found(kind.full_type, name, rg)
    return body


def save(ctx: Context, kind: Kind, body: dict[str, Any]) -> bool:
    """Store a prepared body (providers call this for server-side writes too)."""
    rg_part = body["id"].split("/providers/")[0]
    created = ctx.tx.put(body["id"], kind.full_type, rg_part, body)
    if kind.after_put:
        kind.after_put(ctx, body)
    return created


def register_kind(registry: Registry, kind: Kind) -> None:
    base = f"/subscriptions/<sub>/resourceGroups/<rg>/providers/{kind.namespace}/{kind.type_path}"

    def put(ctx: Context) -> Response:
        sub, rg, name = ctx.params["sub"], ctx.params["rg"], ctx.params["name"]
        check_rg(ctx, sub, rg)
        if not kind.name_re.match(name):
            raise ArmError(
                400,
                "InvalidResourceName",
                f"Resource name {name} is invalid. The name can be {kind.name_rule}.",
            )
        rid = resource_id(sub, rg, kind.namespace, kind.type_path, name)
        existing = ctx.tx.get(rid)
        check_if_match(ctx, rid, existing)
        body = kind.prepare(ctx, rid, name, ctx.require_body(), existing)
        created = save(ctx, kind, body)
        status = kind.create_status if created else 200
        if kind.asynchronous:
            return Response(
                status, updating(read_body(ctx, kind, body)), _operations.started(ctx, kind.namespace, body["location"])
            )
        return Response(status, read_body(ctx, kind, body))

    def get(ctx: Context) -> Response:
        body = get_resource(ctx, kind, ctx.params["sub"], ctx.params["rg"], ctx.params["name"])
        return Response(200, read_body(ctx, kind, body))

    def delete(ctx: Context) -> Response:
        sub, rg, name = ctx.params["sub"], ctx.params["rg"], ctx.params["name"]
        check_rg(ctx, sub, rg)
        rid = resource_id(sub, rg, kind.namespace, kind.type_path, name)
        body = ctx.tx.get(rid)
        check_if_match(ctx, rid, body)
        if body is None:
            return Response(204)
        if kind.before_delete:
            kind.before_delete(ctx, body)
        ctx.tx.delete(body["id"])
        if kind.asynchronous:
            return Response(202, None, _operations.started(ctx, kind.namespace, body["location"], delete=True))
        return Response(200)

    def list_rg(ctx: Context) -> Response:
        sub, rg = ctx.params["sub"], ctx.params["rg"]
        check_rg(ctx, sub, rg)
        texts = ctx.tx.list_type_text(kind.full_type, sub, rg)
        return page(ctx, texts, transform=lambda text: read_body(ctx, kind, json.loads(text)))

    def list_sub(ctx: Context) -> Response:
        sub = ctx.params["sub"]
        check_subscription(ctx, sub)
        texts = ctx.tx.list_type_text(kind.full_type, sub)
        return page(ctx, texts, transform=lambda text: read_body(ctx, kind, json.loads(text)))

    versions = kind.api_versions
    registry.add("PUT", f"{base}/<name>", put, action=kind.action("write"), api_versions=versions)
    registry.add("GET", f"{base}/<name>", get, action=kind.action("read"), api_versions=versions)
    registry.add("DELETE", f"{base}/<name>", delete, action=kind.action("delete"), api_versions=versions)
    registry.add(
        "GET",
        base,
        list_rg,
        action=kind.action("read"),
        scope=lambda ctx: f"/subscriptions/{ctx.params['sub']}/resourceGroups/{ctx.params['rg']}",
        api_versions=versions,
    )
    registry.add(
        "GET",
        f"/subscriptions/<sub>/providers/{kind.namespace}/{kind.type_path}",
        list_sub,
        action=kind.action("read"),
        scope=lambda ctx: f"/subscriptions/{ctx.params['sub']}",
        api_versions=versions,
    )


def updating(body: dict[str, Any]) -> dict[str, Any]:
    """A write's answer while its operation runs: the body with `provisioningState: Updating` (recorded on
    Network PUTs; a GET once the operation is over says Succeeded)."""
    out = copy.deepcopy(body)
    if isinstance(out.get("properties"), dict) and "provisioningState" in out["properties"]:
        out["properties"]["provisioningState"] = "Updating"
    return out


def check_if_match(ctx: Context, rid: str, current: dict[str, Any] | None) -> None:
    """ARM's optimistic concurrency: with If-Match, the write happens only if the resource's etag is the
    one given ('*': any existing resource); otherwise 412 PreconditionFailed and nothing changes."""
    wanted = ctx.if_match
    if wanted is None:
        return
    have = (current or {}).get("etag")
    if current is not None and (wanted.strip() == "*" or wanted.strip() == have):
        return
    raise ArmError(
        412,
        "PreconditionFailed",
        f"The condition If-Match: {wanted} was not met for resource '{rid}'"
        + (f" (its etag is {have})." if have else " (it does not exist)."),
    )


def require_location(body: dict[str, Any]) -> str:
    location = body.get("location")
    if not isinstance(location, str) or not location.strip():
        raise ArmError(
            400,
            "LocationRequired",
            "The location property is required for this definition.",
        )
    return location.replace(" ", "").lower()


def base_body(rid: str, name: str, full_type: str, body: dict[str, Any], location: str | None) -> dict[str, Any]:
    """The read-only envelope ARM fills in, whatever the client sent."""
    out: dict[str, Any] = {"name": name, "id": rid, "type": full_type}
    if location is not None:
        out["location"] = location
    if isinstance(body.get("tags"), dict):
        out["tags"] = body["tags"]
    return out


def ref_id(value: Any) -> str | None:
    """`{"id": "..."}` -> the id, or None."""
    if isinstance(value, dict) and isinstance(value.get("id"), str) and value["id"]:
        return value["id"]
    return None


def require_ref(ctx: Context, referrer: str, target: str | None) -> None:
    if target and not ctx.tx.exists(target):
        raise ArmError(
            400,
            "InvalidResourceReference",
            f"Resource {target} referenced by resource {referrer} was not found. Please make sure that the"
            " referenced resource exists, and that both resources are in the same region.",
        )
