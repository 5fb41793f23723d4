"""Microsoft.Resources (subscriptions, resource groups) and the ARM request checks every route shares."""

from __future__ import annotations

import base64
import json

import requests
from azure.core.polling import LROPoller
from azure.core.rest import HttpRequest
from azure.mgmt.core.polling.arm_polling import ARMPolling
from conftest import COMPUTE_API, DEMO_READER, Env, error_of

RG_API = "2021-04-01"
SUB_API = "2022-12-01"


def test_get_subscription(env: Env) -> None:
    response = env.arm("GET", f"/subscriptions/{env.sub}", SUB_API)
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == f"/subscriptions/{env.sub}"
    assert body["subscriptionId"] == env.sub
    assert body["tenantId"] == env.tenant
    assert body["state"] == "Enabled"
    assert body["authorizationSource"] == "RoleBased"
    assert set(body["subscriptionPolicies"]) == {"locationPlacementId", "quotaId", "spendingLimit"}
    assert "name" not in body and "type" not in body


def test_list_subscriptions_shows_those_the_caller_has_a_role_on(env: Env) -> None:
    owner = env.arm("GET", "/subscriptions", SUB_API).json()
    assert [s["subscriptionId"] for s in owner["value"]] == [env.sub]
    reader = env.arm("GET", "/subscriptions", SUB_API, principal=DEMO_READER).json()
    assert [s["subscriptionId"] for s in reader["value"]] == [env.sub]
    nobody = env.control("POST", "principals", {"display_name": "no-roles"}).json()
    empty = env.arm("GET", "/subscriptions", SUB_API, principal=(nobody["client_id"], nobody["secret"])).json()
    assert empty["value"] == []


def test_list_tenants(env: Env) -> None:
    tenants = env.arm("GET", "/tenants", SUB_API).json()["value"]
    assert [(t["id"], t["tenantId"], t["tenantCategory"]) for t in tenants] == [
        (f"/tenants/{env.tenant}", env.tenant, "Home")
    ]


def test_unknown_and_malformed_subscriptions(env: Env) -> None:
    missing = env.arm("GET", "/subscriptions/00000000-0000-0000-0000-000000000000", SUB_API)
    assert missing.status_code == 404
    assert error_of(missing) == {
        "code": "SubscriptionNotFound",
        "message": "The subscription '00000000-0000-0000-0000-000000000000' could not be found.",
    }
    malformed = env.arm("GET", "/subscriptions/not-a-guid/resourceGroups", RG_API)
    assert malformed.status_code == 400
    assert error_of(malformed) == {
        "code": "InvalidSubscriptionId",
        "message": "The provided subscription identifier 'not-a-guid' is malformed or invalid.",
    }


def test_resource_group_lifecycle(env: Env) -> None:
    path = f"/subscriptions/{env.sub}/resourcegroups/rg-new"
    created = env.arm("PUT", path, RG_API, {"location": "West Europe", "tags": {"team": "sec"}})
    assert created.status_code == 201
    body = created.json()
    assert body == {
        "id": f"/subscriptions/{env.sub}/resourceGroups/rg-new",
        "name": "rg-new",
        "type": "Microsoft.Resources/resourceGroups",
        "location": "westeurope",
        "properties": {"provisioningState": "Succeeded"},
        "tags": {"team": "sec"},
    }
    updated = env.arm("PUT", path, RG_API, {"location": "westeurope"})
    assert updated.status_code == 200
    assert "tags" not in updated.json()
    assert env.arm("GET", path, RG_API).json()["name"] == "rg-new"
    moved = env.arm("PUT", path, RG_API, {"location": "eastus"})
    assert moved.status_code == 409
    assert error_of(moved)["code"] == "InvalidResourceGroupLocation"
    deleted = env.arm("DELETE", path, RG_API)
    assert (deleted.status_code, deleted.text(), deleted.headers["Retry-After"]) == (202, "", "1")
    operation = deleted.headers["Location"]
    assert operation.startswith(f"{env.url}/subscriptions/{env.sub}/operationresults/")
    job = operation.split("/operationresults/")[1].split("?")[0]
    assert json.loads(base64.urlsafe_b64decode(job + "=" * (-len(job) % 4))) == {
        "jobId": "RESOURCEGROUPDELETIONJOB-RG-NEW-WESTEUROPE",
        "jobLocation": "westeurope",
    }
    polled = env.arm("GET", operation.removeprefix(env.url).split("?")[0], RG_API)
    assert (polled.status_code, polled.text()) == (200, "")
    unknown = env.arm("GET", f"/subscriptions/{env.sub}/operationresults/bm90LWEtam9i", RG_API)
    assert (unknown.status_code, error_of(unknown)["code"]) == (404, "OperationNotFound")
    gone = env.arm("GET", path, RG_API)
    assert gone.status_code == 404
    assert error_of(gone) == {"code": "ResourceGroupNotFound", "message": "Resource group 'rg-new' could not be found."}
    assert env.arm("DELETE", path, RG_API).status_code == 404


def test_resource_group_needs_a_location(env: Env) -> None:
    response = env.arm("PUT", f"/subscriptions/{env.sub}/resourceGroups/rg-x", RG_API, {"tags": {}})
    assert response.status_code == 400
    assert error_of(response)["code"] == "LocationRequired"


def test_bad_resource_group_name_is_invalid_resource_group(env: Env) -> None:
    response = env.arm("PUT", f"/subscriptions/{env.sub}/resourceGroups/bad rg!", RG_API, {"location": "westeurope"})
    assert response.status_code == 400
    assert error_of(response) == {
        "code": "InvalidResourceGroup",
        "message": "The provided resource group name 'bad rg!' has these invalid characters: ' !'. The name can only"
        " be a letter, digit, '-', '.', '(', ')' or '_'.",
    }
    too_long = env.arm("GET", f"/subscriptions/{env.sub}/resourceGroups/{'a' * 91}", RG_API)
    assert too_long.status_code == 400
    assert error_of(too_long)["code"] == "InvalidResourceGroup"
    trailing_dot = env.arm("PUT", f"/subscriptions/{env.sub}/resourceGroups/rg.", RG_API, {"location": "westeurope"})
    assert error_of(trailing_dot)["code"] == "InvalidResourceGroup"


def test_list_resource_groups(env: Env) -> None:
    response = env.arm("GET", f"/subscriptions/{env.sub}/resourceGroups", RG_API)
    assert response.status_code == 200
    assert [g["name"] for g in response.json()["value"]] == ["rg-app", "rg-data", "rg-edge", "NetworkWatcherRG"]


def test_deleting_a_resource_group_deletes_its_resources(env: Env) -> None:
    vm = env.vm_id("rg-data", "vm-db-01")
    assert env.arm("GET", vm, COMPUTE_API).status_code == 200
    # Through azure-core's ARM poller, as azure-mgmt-resource's begin_delete drives it: 202, Location, done.
    client = env.network()._client
    request = HttpRequest("DELETE", env.url + env.rg_id("rg-data"), params={"api-version": RG_API})
    initial = client._pipeline.run(request)
    poller = LROPoller(client, initial, lambda response: None, ARMPolling(timeout=0))
    poller.result(timeout=30)
    assert poller.status() == "Succeeded"
    assert [(e["method"], e["status"]) for e in env.request_log()[-2:]] == [("DELETE", 202), ("GET", 200)]
    assert env.arm("GET", vm, COMPUTE_API).status_code == 404
    nsgs = env.network().network_security_groups.list_all()
    assert {n.name for n in nsgs} == {"nsg-snet-web", "nsg-web-01", "nsg-both-01", "nsg-ssh-open", "nsg-north"}


def test_api_version_is_required_and_checked(env: Env) -> None:
    missing = env.arm("GET", f"/subscriptions/{env.sub}/resourceGroups", None)
    assert missing.status_code == 400
    assert error_of(missing) == {
        "code": "MissingApiVersionParameter",
        "message": "The api-version query parameter (?api-version=) is required for all requests.",
    }
    wrong = env.arm("GET", f"/subscriptions/{env.sub}/providers/Microsoft.Security/locations", "2020-01-01")
    assert wrong.status_code == 400
    error = error_of(wrong)
    assert error["code"] == "InvalidApiVersionParameter"
    assert "'2015-06-01-preview'" in error["message"]
    garbage = env.arm("GET", f"/subscriptions/{env.sub}/resourceGroups", "latest")
    assert error_of(garbage)["code"] == "InvalidApiVersionParameter"


def test_unknown_route_and_method(env: Env) -> None:
    unknown = env.arm("GET", f"/subscriptions/{env.sub}/providers/Microsoft.Nothing/things", RG_API)
    assert unknown.status_code == 404
    assert error_of(unknown)["code"] == "NotFound"
    method = env.arm("PATCH", f"/subscriptions/{env.sub}/resourceGroups/rg-app", RG_API, {})
    assert method.status_code == 405
    assert error_of(method)["code"] == "MethodNotAllowed"


def test_invalid_json_body(env: Env) -> None:
    token = env.credential().get_token(env.url + "/.default").token
    response = requests.put(
        f"{env.url}/subscriptions/{env.sub}/resourceGroups/rg-x?api-version={RG_API}",
        data=b"{not json",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        verify=env.ca,
        timeout=10,
    )
    assert response.status_code == 400
    assert error_of(response)["code"] == "InvalidRequestContent"


def test_paths_match_case_insensitively(env: Env) -> None:
    response = env.arm("GET", f"/SUBSCRIPTIONS/{env.sub}/RESOURCEGROUPS/RG-APP", RG_API)
    assert response.status_code == 200
    assert response.json()["id"] == env.rg_id("rg-app")
