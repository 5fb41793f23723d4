"""The Activity Log: every write and action, succeeded or failed, in Azure's EventData shape, filtered and paged."""

from __future__ import annotations

from typing import Any

from conftest import DEMO_REQUESTER, NETWORK_API, Env

EVENTS = "/providers/Microsoft.Insights/eventtypes/management/values"
API = "2015-04-01"
JIT = "2020-01-01"


def events(env: Env, filter_: str, *, principal: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    client = env.network(principal)
    from azure.core.rest import HttpRequest

    items: list[dict[str, Any]] = []
    request = HttpRequest(
        "GET", f"{env.url}/subscriptions/{env.sub}{EVENTS}", params={"api-version": API, "$filter": filter_}
    )
    while True:
        response = client._client.send_request(request)
        response.read()
        assert response.status_code == 200, response.text()
        page = response.json()
        items.extend(page["value"])
        if not page.get("nextLink"):
            return items
        request = HttpRequest("GET", page["nextLink"])


def since(env: Env) -> str:
    return env.control("GET", "clock").json()["now"]


def policy_path(env: Env, rg: str = "rg-app") -> str:
    return f"{env.rg_id(rg)}/providers/Microsoft.Security/locations/westeurope/jitNetworkAccessPolicies/default"


def policy_body(env: Env, vm: str = "vm-web-01") -> dict[str, Any]:
    port = {
        "number": 22,
        "protocol": "*",
        "allowedSourceAddressPrefix": "203.0.113.0/24",
        "maxRequestAccessDuration": "PT3H",
    }
    return {"kind": "Basic", "properties": {"virtualMachines": [{"id": env.vm_id("rg-app", vm), "ports": [port]}]}}


def test_writes_and_failures_are_recorded_in_azure_shape(env: Env) -> None:
    start = since(env)
    assert env.arm("PUT", policy_path(env), JIT, policy_body(env)).status_code == 200
    initiate = {
        "virtualMachines": [{"id": env.vm_id("rg-app", "vm-web-01"), "ports": [{"number": 3389, "duration": "PT1H"}]}]
    }
    refused = env.arm("POST", policy_path(env) + "/initiate", JIT, initiate)
    assert refused.status_code == 400
    denied = env.arm("PUT", policy_path(env), JIT, policy_body(env), principal=DEMO_REQUESTER)
    assert denied.status_code == 403
    found = events(env, f"eventTimestamp ge '{start}' and resourceGroupName eq 'rg-app'")
    # Newest first; reads (the GETs above) are not recorded.
    assert [(e["operationName"]["value"], e["status"]["value"], e["subStatus"]["value"]) for e in found] == [
        ("Microsoft.Security/locations/jitNetworkAccessPolicies/write", "Failed", "Forbidden"),
        ("Microsoft.Security/locations/jitNetworkAccessPolicies/initiate/action", "Failed", "BadRequest"),
        ("Microsoft.Security/locations/jitNetworkAccessPolicies/write", "Succeeded", "OK"),
    ]
    forbidden, bad, ok = found
    assert forbidden["caller"] == DEMO_REQUESTER[2]
    assert forbidden["level"] == "Error" and ok["level"] == "Informational"
    assert "AuthorizationFailed" in forbidden["properties"]["statusMessage"]
    assert (
        "not a subset" in bad["properties"]["statusMessage"]
        or "InvalidInitiateInput" in bad["properties"]["statusMessage"]
    )
    assert bad["resourceId"] == policy_path(env)  # an action is recorded on the resource it acts on
    assert ok["authorization"] == {
        "action": "Microsoft.Security/locations/jitNetworkAccessPolicies/write",
        "scope": policy_path(env),
    }
    assert ok["id"].startswith(policy_path(env) + "/events/" + ok["eventDataId"] + "/ticks/")
    for key in (
        "claims",
        "correlationId",
        "eventName",
        "category",
        "httpRequest",
        "resourceProviderName",
        "resourceType",
        "eventTimestamp",
        "submissionTimestamp",
        "subscriptionId",
        "tenantId",
        "operationId",
    ):
        assert key in ok, key
    assert ok["eventName"]["value"] == "EndRequest" and ok["httpRequest"]["method"] == "PUT"


def test_filters_time_resource_and_paging(env: Env) -> None:
    env.settings(page_size=2)
    start = since(env)
    nsg = f"{env.rg_id('rg-data')}/providers/Microsoft.Network/networkSecurityGroups/nsg-snet-db"
    for i in range(3):
        rule = {
            "properties": {
                "protocol": "Tcp",
                "sourcePortRange": "*",
                "destinationPortRange": str(1000 + i),
                "sourceAddressPrefix": "*",
                "destinationAddressPrefix": "*",
                "access": "Allow",
                "priority": 200 + i,
                "direction": "Inbound",
            }
        }
        assert env.arm("PUT", f"{nsg}/securityRules/r{i}", NETWORK_API, rule).status_code in (200, 201)
    assert env.arm("PUT", policy_path(env), JIT, policy_body(env)).status_code == 200
    in_data = events(env, f"eventTimestamp ge '{start}' and resourceGroupName eq 'rg-data'")
    assert len(in_data) == 3  # read across two pages
    one = events(env, f"eventTimestamp ge '{start}' and resourceUri eq '{nsg}/securityRules/r1'")
    assert [e["resourceId"] for e in one] == [f"{nsg}/securityRules/r1"]
    later = env.advance("PT1H")
    assert events(env, f"eventTimestamp ge '{later}'") == []
    assert len(events(env, f"eventTimestamp ge '{start}' and eventTimestamp le '{later}'")) == 4


def test_filter_must_have_a_start_time_and_readers_may_read(env: Env) -> None:
    bad = env.arm("GET", f"/subscriptions/{env.sub}{EVENTS}", API, params={"$filter": "resourceGroupName eq 'rg-app'"})
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "BadRequest")
    # The least-privilege JIT requester role has no Microsoft.Insights read action.
    denied = env.arm(
        "GET",
        f"/subscriptions/{env.sub}{EVENTS}",
        API,
        params={"$filter": "eventTimestamp ge '2020-01-01'"},
        principal=DEMO_REQUESTER,
    )
    assert (denied.status_code, denied.json()["error"]["code"]) == (403, "AuthorizationFailed")
