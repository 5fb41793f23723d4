"""Role-based access control: role definitions, assignments and action matching.

Every ARM call is checked against the caller's role assignments whose scope is the requested
scope or one of its parents. Wildcards in actions follow ARM: `*` matches any run of
characters, case-insensitively. Where ARM's matching is not documented (does
`X/*/read` match `X/read`?), the emulator lets a `/*/` also match a single `/`, so the
least-privilege JIT role documented by Microsoft (`.../jitNetworkAccessPolicies/*/read`) can
read the policies, as it does in Azure.
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources
from typing import Any

from .store import Tx

ROLE_ASSIGNMENT_TYPE = "Microsoft.Authorization/roleAssignments"
ROLE_DEFINITION_TYPE = "Microsoft.Authorization/roleDefinitions"


@functools.lru_cache(maxsize=1)
def builtin_roles() -> tuple[dict[str, Any], ...]:
    text = resources.files("jit_emulator").joinpath("data/builtin_roles.json").read_text()
    return tuple(json.loads(text))


def builtin_by_name(name_or_guid: str) -> dict[str, Any] | None:
    wanted = name_or_guid.lower()
    for role in builtin_roles():
        if role["name"].lower() == wanted or role["properties"]["roleName"].lower() == wanted:
            return role
    return None


def role_definition_for(tx: Tx, role_definition_id: str) -> dict[str, Any] | None:
    guid = role_definition_id.rstrip("/").split("/")[-1]
    role = builtin_by_name(guid)
    if role is not None:
        return role
    for custom in tx.list_all_type(ROLE_DEFINITION_TYPE):
        if custom["name"].lower() == guid.lower():
            return custom
    return None


@functools.lru_cache(maxsize=4096)
def _pattern(action: str) -> re.Pattern[str]:
    parts = [re.escape(p) for p in action.split("*")]
    regex = ".*".join(parts)
    # "/*/" may stand for a single "/" (see the module docstring).
    regex = regex.replace("/.*/", "/(?:.*/)?")
    return re.compile(f"^{regex}$", re.IGNORECASE)


def action_matches(pattern: str, action: str) -> bool:
    return bool(_pattern(pattern).match(action))


def scope_covers(assignment_scope: str, scope: str) -> bool:
    """An assignment at `a` applies at `a` and everywhere below it."""
    a = assignment_scope.rstrip("/").lower()
    s = scope.rstrip("/").lower()
    return a == "" or s == a or s.startswith(a + "/")


def assignments_for(tx: Tx, object_id: str) -> list[dict[str, Any]]:
    oid = object_id.lower()
    return [a for a in tx.list_all_type(ROLE_ASSIGNMENT_TYPE) if a["properties"].get("principalId", "").lower() == oid]


def permissions_at(tx: Tx, object_id: str, scope: str) -> list[dict[str, Any]]:
    """The permission blocks of every role the principal holds at `scope` (ARM's permissions API)."""
    out: list[dict[str, Any]] = []
    for assignment in assignments_for(tx, object_id):
        if not scope_covers(assignment["properties"].get("scope", ""), scope):
            continue
        role = role_definition_for(tx, assignment["properties"]["roleDefinitionId"])
        if role is None:
            continue
        for perm in role["properties"].get("permissions", []):
            out.append(
                {
                    "actions": list(perm.get("actions", [])),
                    "notActions": list(perm.get("notActions", [])),
                    "dataActions": list(perm.get("dataActions", [])),
                    "notDataActions": list(perm.get("notDataActions", [])),
                }
            )
    return out


def allowed(permissions: list[dict[str, Any]], action: str) -> bool:
    for perm in permissions:
        if any(action_matches(p, action) for p in perm.get("actions", [])) and not any(
            action_matches(p, action) for p in perm.get("notActions", [])
        ):
            return True
    return False


def is_authorized(tx: Tx, object_id: str, action: str, scope: str) -> bool:
    return allowed(permissions_at(tx, object_id, scope), action)


def authorization_failed_message(principal: dict[str, str], action: str, scope: str) -> str:
    """ARM's AuthorizationFailed text. ARM names a service principal by its object id (so the id appears
    twice) and a user by its sign-in name (azure-wire-shapes.md §a.2)."""
    kind = principal.get("kind", "ServicePrincipal")
    # A user's client_id column holds its sign-in name (user_principal_name).
    client = principal["object_id"] if kind == "ServicePrincipal" else principal["client_id"]
    return (
        f"The client '{client}' with object id '{principal['object_id']}' does not have"
        f" authorization to perform action '{action}' over scope '{scope}' or the scope is invalid."
        " If access was recently granted, please refresh your credentials."
    )
