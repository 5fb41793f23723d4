"""Microsoft.Authorization (role definitions, assignments at every scope, permissions) and ARM's 403."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.security.models import (
    JitNetworkAccessPolicy,
    JitNetworkAccessPolicyInitiatePort,
    JitNetworkAccessPolicyInitiateRequest,
    JitNetworkAccessPolicyInitiateVirtualMachine,
    JitNetworkAccessPolicyVirtualMachine,
    JitNetworkAccessPortRule,
)
from conftest import DEMO_READER, DEMO_REQUESTER, NETWORK_API, Env, error_of

AUTH_API = "2022-04-01"
BUILTINS = {
    "Owner": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    "Contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "Reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
    "Security Admin": "fb1c8493-542b-48eb-b624-b4c8fea62acd",
    "Security Reader": "39bc4728-0917-49c7-9d2c-d95423bc2eb4",
    "Network Contributor": "4d97b98b-1d4f-4787-a291-c67834d212e7",
    "Virtual Machine Contributor": "9980e02c-c2be-4d73-94e8-173b1dc7cf3c",
}
LOC = "westeurope"


def new_principal(env: Env, name: str) -> tuple[str, str, str]:
    made = env.control("POST", "principals", {"display_name": name}).json()
    return made["client_id"], made["secret"], made["object_id"]


def assign(env: Env, scope: str, role: str, object_id: str, name: str | None = None) -> Any:
    path = f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name or uuid.uuid4()}"
    definitions = f"/subscriptions/{env.sub}/providers/Microsoft.Authorization/roleDefinitions"
    body = {
        "properties": {
            "roleDefinitionId": f"{definitions}/{BUILTINS[role]}",
            "principalId": object_id,
            "principalType": "ServicePrincipal",
        }
    }
    return env.arm("PUT", path, AUTH_API, body)


def nsg_path(env: Env, rg: str, name: str) -> str:
    return f"{env.rg_id(rg)}/providers/Microsoft.Network/networkSecurityGroups/{name}"


def policy_path(env: Env, rg: str = "rg-app") -> str:
    return f"{env.rg_id(rg)}/providers/Microsoft.Security/locations/{LOC}/jitNetworkAccessPolicies/default"


def enable_web(env: Env) -> str:
    web = env.vm_id("rg-app", "vm-web-01")
    rule = JitNetworkAccessPortRule(
        number=22, protocol="*", allowed_source_address_prefix="*", max_request_access_duration="PT3H"
    )
    body = JitNetworkAccessPolicy(
        kind="Basic", virtual_machines=[JitNetworkAccessPolicyVirtualMachine(id=web, ports=[rule])]
    )
    env.security().jit_network_access_policies.create_or_update("rg-app", LOC, "default", body)
    return web


def initiate_body(vm: str) -> JitNetworkAccessPolicyInitiateRequest:
    end = datetime.now(timezone.utc) + timedelta(hours=1)
    port = JitNetworkAccessPolicyInitiatePort(number=22, end_time_utc=end, allowed_source_address_prefix="203.0.113.9")
    return JitNetworkAccessPolicyInitiateRequest(
        virtual_machines=[JitNetworkAccessPolicyInitiateVirtualMachine(id=vm, ports=[port])]
    )


def assert_denied(error: HttpResponseError, principal: tuple[str, ...], action: str, scope: str) -> None:
    assert error.status_code == 403
    assert error.error.code == "AuthorizationFailed"
    # ARM names a service principal by its object id, so the id appears twice.
    assert error.error.message == (
        f"The client '{principal[2]}' with object id '{principal[2]}' does not have authorization to perform action"
        f" '{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, please refresh"
        " your credentials."
    )


# -- role definitions --------------------------------------------------------------------------------------


def test_builtin_role_definitions(env: Env) -> None:
    roles = env.arm_list(f"/subscriptions/{env.sub}/providers/Microsoft.Authorization/roleDefinitions", AUTH_API)
    builtin = {r["properties"]["roleName"]: r["name"] for r in roles if r["properties"]["type"] == "BuiltInRole"}
    assert builtin == BUILTINS
    owner = env.arm(
        "GET",
        f"/subscriptions/{env.sub}/providers/Microsoft.Authorization/roleDefinitions/{BUILTINS['Owner']}",
        AUTH_API,
    )
    body = owner.json()
    assert (
        body["id"] == f"/subscriptions/{env.sub}/providers/Microsoft.Authorization/roleDefinitions/{BUILTINS['Owner']}"
    )
    assert body["properties"]["permissions"][0]["actions"] == ["*"]
    reader = env.arm(
        "GET",
        f"/subscriptions/{env.sub}/providers/Microsoft.Authorization/roleDefinitions",
        AUTH_API,
        params={"$filter": "roleName eq 'Reader'"},
    ).json()["value"]
    assert [r["name"] for r in reader] == [BUILTINS["Reader"]]
    missing = env.arm(
        "GET", f"/subscriptions/{env.sub}/providers/Microsoft.Authorization/roleDefinitions/{uuid.uuid4()}", AUTH_API
    )
    assert (missing.status_code, error_of(missing)["code"]) == (404, "RoleDefinitionDoesNotExist")


def test_custom_role_definition(env: Env) -> None:
    guid = str(uuid.uuid4())
    path = f"/subscriptions/{env.sub}/providers/Microsoft.Authorization/roleDefinitions/{guid}"
    body = {
        "properties": {
            "roleName": "NSG reader",
            "permissions": [{"actions": ["Microsoft.Network/networkSecurityGroups/read"]}],
        }
    }
    created = env.arm("PUT", path, AUTH_API, body)
    assert created.status_code == 201
    assert created.json()["properties"]["type"] == "CustomRole"
    assert created.json()["properties"]["assignableScopes"] == [f"/subscriptions/{env.sub}"]
    assert env.arm("PUT", path, AUTH_API, body).status_code == 200
    names = [
        r["properties"]["roleName"]
        for r in env.arm_list(f"/subscriptions/{env.sub}/providers/Microsoft.Authorization/roleDefinitions", AUTH_API)
    ]
    assert "NSG reader" in names and "JIT Requester (least privilege)" in names
    builtin = env.arm(
        "PUT",
        f"/subscriptions/{env.sub}/providers/Microsoft.Authorization/roleDefinitions/{BUILTINS['Reader']}",
        AUTH_API,
        body,
    )
    assert builtin.status_code == 409


# -- role assignments at every scope -----------------------------------------------------------------------------


def test_assignment_lifecycle(env: Env) -> None:
    _, _, oid = new_principal(env, "lifecycle")
    name = str(uuid.uuid4())
    scope = env.rg_id("rg-app")
    created = assign(env, scope, "Reader", oid, name)
    assert created.status_code == 201
    body = created.json()
    assert body["id"] == f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"
    assert body["type"] == "Microsoft.Authorization/roleAssignments"
    assert body["properties"]["scope"] == scope and body["properties"]["principalId"] == oid
    assert assign(env, scope, "Reader", oid, name).status_code == 200
    path = body["id"]
    assert env.arm("GET", path, AUTH_API).json()["name"] == name
    mine = env.arm(
        "GET",
        f"{scope}/providers/Microsoft.Authorization/roleAssignments",
        AUTH_API,
        params={"$filter": f"principalId eq '{oid}'"},
    ).json()["value"]
    assert [a["name"] for a in mine] == [name]
    deleted = env.arm("DELETE", path, AUTH_API)
    assert deleted.status_code == 200 and deleted.json()["name"] == name
    assert env.arm("DELETE", path, AUTH_API).status_code == 204
    assert env.arm("GET", path, AUTH_API).status_code == 404


def test_assignment_errors(env: Env) -> None:
    _, _, oid = new_principal(env, "errors")
    bad_name = env.arm(
        "PUT", f"{env.rg_id('rg-app')}/providers/Microsoft.Authorization/roleAssignments/not-a-guid", AUTH_API, {}
    )
    assert error_of(bad_name)["code"] == "InvalidRoleAssignmentId"
    unknown_principal = assign(env, env.rg_id("rg-app"), "Reader", str(uuid.uuid4()))
    assert (unknown_principal.status_code, error_of(unknown_principal)["code"]) == (400, "PrincipalNotFound")
    bad_scope = assign(env, env.rg_id("rg-nope"), "Reader", oid)
    assert (bad_scope.status_code, error_of(bad_scope)["code"]) == (400, "InvalidScope")


def test_scopes_of_assignments_decide_access(env: Env) -> None:
    rg_reader = new_principal(env, "rg-reader")
    assert assign(env, env.rg_id("rg-app"), "Reader", rg_reader[2]).status_code == 201
    nsg_reader = new_principal(env, "nsg-reader")
    assert assign(env, nsg_path(env, "rg-data", "nsg-snet-db"), "Reader", nsg_reader[2]).status_code == 201
    sub_reader = new_principal(env, "sub-reader")
    assert assign(env, f"/subscriptions/{env.sub}", "Reader", sub_reader[2]).status_code == 201

    assert env.arm("GET", nsg_path(env, "rg-app", "nsg-web-01"), NETWORK_API, principal=rg_reader).status_code == 200
    denied = env.arm("GET", nsg_path(env, "rg-data", "nsg-snet-db"), NETWORK_API, principal=rg_reader)
    assert denied.status_code == 403
    assert env.arm("GET", nsg_path(env, "rg-data", "nsg-snet-db"), NETWORK_API, principal=nsg_reader).status_code == 200
    assert env.arm("GET", nsg_path(env, "rg-app", "nsg-web-01"), NETWORK_API, principal=nsg_reader).status_code == 403
    for nsg in (("rg-app", "nsg-web-01"), ("rg-data", "nsg-snet-db")):
        assert env.arm("GET", nsg_path(env, *nsg), NETWORK_API, principal=sub_reader).status_code == 200


def test_permissions(env: Env) -> None:
    requester = env.arm(
        "GET",
        f"{env.rg_id('rg-app')}/providers/Microsoft.Authorization/permissions",
        AUTH_API,
        principal=DEMO_REQUESTER,
    )
    assert requester.status_code == 200
    actions = requester.json()["value"][0]["actions"]
    assert "Microsoft.Security/locations/jitNetworkAccessPolicies/initiate/action" in actions
    assert requester.json()["value"][0].keys() == {"actions", "notActions", "dataActions", "notDataActions"}
    reader = env.arm(
        "GET",
        f"/subscriptions/{env.sub}/providers/Microsoft.Authorization/permissions",
        AUTH_API,
        principal=DEMO_READER,
    )
    assert reader.json()["value"][0]["actions"] == ["*/read"]
    nobody = new_principal(env, "nobody")
    assert (
        env.arm(
            "GET", f"{env.rg_id('rg-app')}/providers/Microsoft.Authorization/permissions", AUTH_API, principal=nobody
        ).json()["value"]
        == []
    )


# -- denials of the demo world's principals ----------------------------------------------------------------------


def test_reader_can_read_but_not_initiate_or_write(env: Env) -> None:
    web = enable_web(env)
    reader = env.security(DEMO_READER).jit_network_access_policies
    assert reader.get("rg-app", LOC, "default").virtual_machines[0].id == web
    assert env.network(DEMO_READER).network_security_groups.get("rg-app", "nsg-web-01").name == "nsg-web-01"
    with pytest.raises(HttpResponseError) as caught:
        reader.initiate("rg-app", LOC, "default", initiate_body(web))
    assert_denied(
        caught.value,
        DEMO_READER,
        "Microsoft.Security/locations/jitNetworkAccessPolicies/initiate/action",
        policy_path(env),
    )
    with pytest.raises(HttpResponseError) as delete:
        reader.delete("rg-app", LOC, "default")
    assert_denied(
        delete.value, DEMO_READER, "Microsoft.Security/locations/jitNetworkAccessPolicies/delete", policy_path(env)
    )


def test_least_privilege_requester(env: Env) -> None:
    web = enable_web(env)
    requester = env.security(DEMO_REQUESTER).jit_network_access_policies
    record = requester.initiate("rg-app", LOC, "default", initiate_body(web))
    # Recorded: a service principal's requests carry an empty requestor (a user's carry the UPN).
    assert record.requestor == ""
    assert [p.name for p in requester.list()] == ["default"]
    assert requester.get("rg-app", LOC, "default").requests[0].requestor == ""
    net = env.network(DEMO_REQUESTER)
    assert net.network_interfaces.get("rg-app", "nic-web-01").name == "nic-web-01"
    assert net.public_ip_addresses.get("rg-app", "pip-web-01").ip_address
    assert env.arm("GET", web, "2024-07-01", principal=DEMO_REQUESTER).status_code == 200
    with pytest.raises(HttpResponseError) as write:
        requester.create_or_update("rg-app", LOC, "default", requester.get("rg-app", LOC, "default"))
    assert_denied(
        write.value, DEMO_REQUESTER, "Microsoft.Security/locations/jitNetworkAccessPolicies/write", policy_path(env)
    )
    with pytest.raises(HttpResponseError) as nsg:
        net.network_security_groups.get("rg-app", "nsg-web-01")
    assert_denied(
        nsg.value, DEMO_REQUESTER, "Microsoft.Network/networkSecurityGroups/read", nsg_path(env, "rg-app", "nsg-web-01")
    )


def test_denials_are_in_the_request_log(env: Env) -> None:
    env.control("DELETE", "requests")
    env.arm("GET", nsg_path(env, "rg-app", "nsg-web-01"), NETWORK_API, principal=DEMO_REQUESTER)
    (entry,) = env.request_log()
    assert (entry["method"], entry["status"], entry["principal"]) == ("GET", 403, DEMO_REQUESTER[2])
    assert entry["principal_name"] == "jit-demo-requester"
