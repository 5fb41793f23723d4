"""Microsoft.Authorization: role definitions, role assignments at any scope, and permissions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import rbac
from ..arm import Context, Response, page
from ..errors import ArmError
from ..names import GUID_RE

if TYPE_CHECKING:
    from ..server import Emulator

_VERSIONS = ("2015-07-01", "2018-01-01-preview", "2020-04-01-preview", "2022-04-01", "2022-05-01-preview")


def _scope(ctx: Context) -> str:
    scope = ctx.params.get("scope", "")
    return "/" + scope.strip("/") if scope else "/"


def _scoped(scope: str, tail: str) -> str:
    return ("" if scope == "/" else scope.rstrip("/")) + tail


def _check_scope(ctx: Context, scope: str) -> None:
    """A scope must exist: '/', a subscription, a resource group or a resource."""
    if scope == "/":
        return
    if not ctx.tx.exists(scope):
        raise ArmError(
            400,
            "InvalidScope",
            f"The scope '{scope}' is not valid: no subscription, resource group or resource has that id.",
        )


def _builtin_for_scope(role: dict[str, Any], scope: str) -> dict[str, Any]:
    sub = next(iter(p for p in scope.split("/") if GUID_RE.match(p)), None)
    prefix = f"/subscriptions/{sub}" if sub else ""
    return {**role, "id": f"{prefix}/providers/Microsoft.Authorization/roleDefinitions/{role['name']}"}


def register(emulator: Emulator) -> None:
    reg = emulator.registry

    def get_definition(ctx: Context) -> Response:
        scope = _scope(ctx)
        name = ctx.params["name"]
        role = rbac.role_definition_for(ctx.tx, name)
        if role is None:
            raise ArmError(
                404, "RoleDefinitionDoesNotExist", f"The specified role definition with ID '{name}' does not exist."
            )
        if role["properties"].get("type") == "BuiltInRole":
            role = _builtin_for_scope(role, scope)
        return Response(200, role)

    def list_definitions(ctx: Context) -> Response:
        scope = _scope(ctx)
        roles = [_builtin_for_scope(r, scope) for r in rbac.builtin_roles()]
        roles += [
            r
            for r in ctx.tx.list_all_type(rbac.ROLE_DEFINITION_TYPE)
            if any(
                rbac.scope_covers(s, scope) or rbac.scope_covers(scope, s) for s in r["properties"]["assignableScopes"]
            )
        ]
        wanted = ctx.query.get("$filter", "")
        if "roleName eq" in wanted:
            name = wanted.split("roleName eq", 1)[1].strip().strip("'")
            roles = [r for r in roles if r["properties"]["roleName"].lower() == name.lower()]
        return page(ctx, roles)

    def put_definition(ctx: Context) -> Response:
        scope = _scope(ctx)
        _check_scope(ctx, scope)
        name = ctx.params["name"]
        if not GUID_RE.match(name):
            raise ArmError(
                400, "InvalidRoleDefinitionId", f"The role definition ID '{name}' is not valid; it must be a GUID."
            )
        if rbac.builtin_by_name(name) is not None:
            raise ArmError(
                409, "RoleDefinitionWithSameNameExists", "A built-in role with this ID exists and cannot be changed."
            )
        props = ctx.require_body().get("properties") or {}
        role_name = props.get("roleName")
        perms = props.get("permissions")
        if not role_name or not isinstance(perms, list) or not perms:
            raise ArmError(
                400,
                "InvalidRoleDefinition",
                "A role definition needs properties.roleName and a non-empty properties.permissions list.",
            )
        scopes = props.get("assignableScopes") or [scope]
        body: dict[str, Any] = {
            "id": _scoped(scope, f"/providers/Microsoft.Authorization/roleDefinitions/{name}"),
            "name": name,
            "type": rbac.ROLE_DEFINITION_TYPE,
            "properties": {
                "roleName": role_name,
                "type": "CustomRole",
                "description": props.get("description", ""),
                "assignableScopes": scopes,
                "permissions": [
                    {
                        "actions": list(p.get("actions", [])),
                        "notActions": list(p.get("notActions", [])),
                        "dataActions": list(p.get("dataActions", [])),
                        "notDataActions": list(p.get("notDataActions", [])),
                    }
                    for p in perms
                ],
                "createdOn": ctx.now.isoformat().replace("+00:00", "Z"),
                "updatedOn": ctx.now.isoformat().replace("+00:00", "Z"),
            },
        }
        created = ctx.tx.put(body["id"], rbac.ROLE_DEFINITION_TYPE, scope, body)
        return Response(201 if created else 200, body)

    def put_assignment(ctx: Context) -> Response:
        scope = _scope(ctx)
        _check_scope(ctx, scope)
        name = ctx.params["name"]
        if not GUID_RE.match(name):
            raise ArmError(
                400,
                "InvalidRoleAssignmentId",
                f"The role assignment ID '{name}' is not valid. The role assignment ID must be a GUID.",
            )
        props = ctx.require_body().get("properties") or {}
        role_id = props.get("roleDefinitionId")
        principal_id = props.get("principalId")
        if not role_id or not principal_id:
            raise ArmError(
                400, "InvalidRoleAssignment", "properties.roleDefinitionId and properties.principalId are required."
            )
        role = rbac.role_definition_for(ctx.tx, role_id)
        if role is None:
            raise ArmError(
                400, "RoleDefinitionDoesNotExist", f"The specified role definition with ID '{role_id}' does not exist."
            )
        if ctx.tx.principal_by_object(principal_id) is None:
            raise ArmError(
                400,
                "PrincipalNotFound",
                f"Principal {principal_id.replace('-', '')} does not exist in the directory"
                f" {emulator.ident['tenant_id']}.",
            )
        rid = _scoped(scope, f"/providers/Microsoft.Authorization/roleAssignments/{name}")
        existing = ctx.tx.get(rid)
        if existing is not None and existing["properties"]["principalId"].lower() != principal_id.lower():
            raise ArmError(
                409,
                "RoleAssignmentUpdateNotPermitted",
                "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.",
            )
        body = {
            "id": rid,
            "name": name,
            "type": rbac.ROLE_ASSIGNMENT_TYPE,
            "properties": {
                "roleDefinitionId": _role_id_at(role, scope),
                "principalId": principal_id,
                "principalType": props.get("principalType", "ServicePrincipal"),
                "scope": scope,
                "createdOn": ctx.now.isoformat().replace("+00:00", "Z"),
                "updatedOn": ctx.now.isoformat().replace("+00:00", "Z"),
            },
        }
        created = ctx.tx.put(rid, rbac.ROLE_ASSIGNMENT_TYPE, scope, body)
        return Response(201 if created else 200, body)

    def get_assignment(ctx: Context) -> Response:
        rid = _scoped(_scope(ctx), f"/providers/Microsoft.Authorization/roleAssignments/{ctx.params['name']}")
        body = ctx.tx.get(rid)
        if body is None:
            raise ArmError(404, "RoleAssignmentNotFound", f"The role assignment '{ctx.params['name']}' is not found.")
        return Response(200, body)

    def delete_assignment(ctx: Context) -> Response:
        rid = _scoped(_scope(ctx), f"/providers/Microsoft.Authorization/roleAssignments/{ctx.params['name']}")
        body = ctx.tx.get(rid)
        if body is None:
            return Response(204)
        ctx.tx.delete(rid)
        return Response(200, body)

    def list_assignments(ctx: Context) -> Response:
        scope = _scope(ctx)
        items = [
            a
            for a in ctx.tx.list_all_type(rbac.ROLE_ASSIGNMENT_TYPE)
            if rbac.scope_covers(a["properties"]["scope"], scope) or rbac.scope_covers(scope, a["properties"]["scope"])
        ]
        flt = ctx.query.get("$filter", "")
        if "principalId eq" in flt:
            pid = flt.split("principalId eq", 1)[1].strip().strip("'").lower()
            items = [a for a in items if a["properties"]["principalId"].lower() == pid]
        return page(ctx, items)

    def permissions(ctx: Context) -> Response:
        # Every signed-in caller may read its own permissions, as in ARM.
        scope = _scope(ctx)
        object_id = ctx.principal["object_id"] if ctx.principal else ""
        return page(ctx, rbac.permissions_at(ctx.tx, object_id, scope))

    auth = "providers/Microsoft.Authorization"
    any_scope = ("/<path:scope>/", "/")
    for prefix in any_scope:
        reg.add(
            "GET",
            f"{prefix}{auth}/roleDefinitions/<name>",
            get_definition,
            action="Microsoft.Authorization/roleDefinitions/read",
            scope=_scope,
            api_versions=_VERSIONS,
        )
        reg.add(
            "GET",
            f"{prefix}{auth}/roleDefinitions",
            list_definitions,
            action="Microsoft.Authorization/roleDefinitions/read",
            scope=_scope,
            api_versions=_VERSIONS,
        )
        reg.add(
            "PUT",
            f"{prefix}{auth}/roleDefinitions/<name>",
            put_definition,
            action="Microsoft.Authorization/roleDefinitions/write",
            scope=_scope,
            api_versions=_VERSIONS,
        )
        reg.add(
            "PUT",
            f"{prefix}{auth}/roleAssignments/<name>",
            put_assignment,
            action="Microsoft.Authorization/roleAssignments/write",
            scope=_scope,
            api_versions=_VERSIONS,
        )
        reg.add(
            "GET",
            f"{prefix}{auth}/roleAssignments/<name>",
            get_assignment,
            action="Microsoft.Authorization/roleAssignments/read",
            scope=_scope,
            api_versions=_VERSIONS,
        )
        reg.add(
            "DELETE",
            f"{prefix}{auth}/roleAssignments/<name>",
            delete_assignment,
            action="Microsoft.Authorization/roleAssignments/delete",
            scope=_scope,
            api_versions=_VERSIONS,
        )
        reg.add(
            "GET",
            f"{prefix}{auth}/roleAssignments",
            list_assignments,
            action="Microsoft.Authorization/roleAssignments/read",
            scope=_scope,
            api_versions=_VERSIONS,
        )
        reg.add("GET", f"{prefix}{auth}/permissions", permissions, action="", scope=_scope, api_versions=_VERSIONS)


def _role_id_at(role: dict[str, Any], scope: str) -> str:
    if role["properties"].get("type") == "BuiltInRole":
        return _builtin_for_scope(role, scope)["id"]
    return role["id"]
