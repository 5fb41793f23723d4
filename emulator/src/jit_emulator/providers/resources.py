"""Microsoft.Resources: subscriptions and resource groups."""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any

from .. import rbac
from ..arm import Context, Response, check_rg_name, check_subscription, page, rg_id
from ..errors import ArmError
from ..names import validate_subscription_id
from ._generic import require_location

if TYPE_CHECKING:
    from ..server import Emulator

SUBSCRIPTION_TYPE = "Microsoft.Resources/subscriptions"
RG_TYPE = "Microsoft.Resources/resourceGroups"


def _subscription_body(sub: str, display_name: str, tenant_id: str, state: str = "Enabled") -> dict[str, Any]:
    return {
        "id": f"/subscriptions/{sub}",
        "authorizationSource": "RoleBased",
        "managedByTenants": [],
        "subscriptionId": sub,
        "tenantId": tenant_id,
        "displayName": display_name,
        "state": state,
        "subscriptionPolicies": {
            "locationPlacementId": "Public_2014-09-01",
            "quotaId": "PayAsYouGo_2014-09-01",
            "spendingLimit": "Off",
        },
    }


def register(emulator: Emulator) -> None:
    reg = emulator.registry

    def put_subscription(ctx: Context) -> Response:
        # Not an ARM operation (subscriptions are created by billing); worlds use it to declare one.
        sub = ctx.params["sub"]
        validate_subscription_id(sub)
        body = ctx.require_body()
        # The tenant is filled in on every read: it is the emulator's, whenever it was created.
        stored = _subscription_body(sub, str(body.get("displayName", sub)), "", str(body.get("state", "Enabled")))
        created = ctx.tx.put(stored["id"], SUBSCRIPTION_TYPE, "", stored)
        return Response(201 if created else 200, _with_tenant(stored, emulator))

    def get_subscription(ctx: Context) -> Response:
        return Response(200, _with_tenant(check_subscription(ctx, ctx.params["sub"]), emulator))

    def list_subscriptions(ctx: Context) -> Response:
        items = [_with_tenant(s, emulator) for s in ctx.tx.list_all_type(SUBSCRIPTION_TYPE)]
        if ctx.principal is not None:
            mine = rbac.assignments_for(ctx.tx, ctx.principal["object_id"])
            items = [s for s in items if any(_related(a["properties"].get("scope", ""), s["id"]) for a in mine)]
        return page(ctx, items)

    def put_rg(ctx: Context) -> Response:
        sub, rg = ctx.params["sub"], ctx.params["rg"]
        check_subscription(ctx, sub)
        check_rg_name(rg)
        body = ctx.require_body()
        location = require_location(body)
        existing = ctx.tx.get(rg_id(sub, rg))
        if existing is not None and existing["location"] != location:
            raise ArmError(
                409,
                "InvalidResourceGroupLocation",
                f"Invalid resource group location '{location}'. The Resource group already exists in location"
                f" '{existing['location']}'.",
            )
        stored: dict[str, Any] = {
            "id": rg_id(sub, existing["name"] if existing else rg),
            "name": existing["name"] if existing else rg,
            "type": "Microsoft.Resources/resourceGroups",
            "location": location,
            "properties": {"provisioningState": "Succeeded"},
        }
        if isinstance(body.get("tags"), dict):
            stored["tags"] = body["tags"]
        created = ctx.tx.put(stored["id"], RG_TYPE, f"/subscriptions/{sub}", stored)
        return Response(201 if created else 200, stored)

    def get_rg(ctx: Context) -> Response:
        sub, rg = ctx.params["sub"], ctx.params["rg"]
        check_subscription(ctx, sub)
        check_rg_name(rg)
        body = ctx.tx.get(rg_id(sub, rg))
        if body is None:
            raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.")
        return Response(200, body)

    def delete_rg(ctx: Context) -> Response:
        sub, rg = ctx.params["sub"], ctx.params["rg"]
        check_subscription(ctx, sub)
        check_rg_name(rg)
        body = ctx.tx.get(rg_id(sub, rg))
        if body is None:
            raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.")
        # Deleting a resource group deletes everything in it. ARM answers 202 and finishes in the
        # background; here the work is done before the answer, so the operation result is already 200.
        ctx.tx.delete_rg_contents(sub, rg)
        ctx.tx.delete(body["id"])
        token = _deletion_job(body["name"], body["location"])
        location = f"{ctx.base_url}/subscriptions/{sub}/operationresults/{token}?api-version={ctx.api_version}"
        return Response(202, None, {"Location": location, "Retry-After": "1"})

    def get_operation_result(ctx: Context) -> Response:
        check_subscription(ctx, ctx.params["sub"])
        if _job_of(ctx.params["operation"]) is None:
            raise ArmError(404, "OperationNotFound", f"The operation '{ctx.params['operation']}' could not be found.")
        return Response(200)

    def list_rgs(ctx: Context) -> Response:
        sub = ctx.params["sub"]
        check_subscription(ctx, sub)
        return page(ctx, ctx.tx.list_type(RG_TYPE, sub))

    def list_tenants(ctx: Context) -> Response:
        # The emulator has one tenant; every signed-in caller belongs to it (the Azure CLI asks at sign-in).
        tid = emulator.ident["tenant_id"]
        return page(
            ctx,
            [
                {
                    "id": f"/tenants/{tid}",
                    "tenantId": tid,
                    "tenantCategory": "Home",
                    "displayName": "jit-emulator",
                    "defaultDomain": "jitemulator.onmicrosoft.com",
                    "domains": ["jitemulator.onmicrosoft.com"],
                    "tenantType": "AAD",
                }
            ],
        )

    reg.add("GET", "/tenants", list_tenants, action="", scope=lambda ctx: "/")
    sub_scope = lambda ctx: f"/subscriptions/{ctx.params['sub']}"
    rg_scope = lambda ctx: rg_id(ctx.params["sub"], ctx.params["rg"])
    reg.add(
        "PUT",
        "/subscriptions/<sub>",
        put_subscription,
        action="Microsoft.Resources/subscriptions/write",
        scope=sub_scope,
    )
    reg.add(
        "GET",
        "/subscriptions/<sub>",
        get_subscription,
        action="Microsoft.Resources/subscriptions/read",
        scope=sub_scope,
    )
    reg.add("GET", "/subscriptions", list_subscriptions, action="", scope=lambda ctx: "/")
    base = "/subscriptions/<sub>/resourceGroups/<rg>"
    reg.add("PUT", base, put_rg, action="Microsoft.Resources/subscriptions/resourceGroups/write", scope=rg_scope)
    reg.add("GET", base, get_rg, action="Microsoft.Resources/subscriptions/resourceGroups/read", scope=rg_scope)
    reg.add("DELETE", base, delete_rg, action="Microsoft.Resources/subscriptions/resourceGroups/delete", scope=rg_scope)
    # Any caller who can see the subscription may poll; ARM checks no action for operation results.
    reg.add(
        "GET", "/subscriptions/<sub>/operationresults/<operation>", get_operation_result, action="", scope=sub_scope
    )
    reg.add(
        "GET",
        "/subscriptions/<sub>/resourceGroups",
        list_rgs,
        action="Microsoft.Resources/subscriptions/resourceGroups/read",
        scope=sub_scope,
    )


def _with_tenant(body: dict[str, Any], emulator: Emulator) -> dict[str, Any]:
    return {**body, "tenantId": emulator.ident["tenant_id"]}


def _related(assignment_scope: str, sub_id: str) -> bool:
    a = assignment_scope.rstrip("/").lower()
    s = sub_id.lower()
    return a == "" or a == s or a.startswith(s + "/")


def _deletion_job(rg: str, location: str) -> str:
    """ARM's operation id for a resource group deletion: base64url JSON naming the job and its region."""
    job = {"jobId": f"RESOURCEGROUPDELETIONJOB-{rg.upper()}-{location.upper()}", "jobLocation": location}
    return base64.urlsafe_b64encode(json.dumps(job, separators=(",", ":")).encode()).decode().rstrip("=")


def _job_of(token: str) -> dict[str, Any] | None:
    try:
        job = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return job if isinstance(job, dict) and str(job.get("jobId", "")).startswith("RESOURCEGROUPDELETIONJOB-") else None
