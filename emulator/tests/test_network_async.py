"""Microsoft.Network writes are asynchronous, as ARM answers them (201/200 + Azure-AsyncOperation + Retry-After,
DELETE 202 + Location), and the real SDK's pollers complete against them; NSG etags and If-Match.

`make integration-oldest` runs this file again with the oldest supported azure-mgmt-network (25.0.0).
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from azure.core.polling import LROPoller
from azure.core.rest import HttpRequest, HttpResponse
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.network.models import NetworkSecurityGroup, SecurityRule
from conftest import NETWORK_API, Env, error_of

LOCATION = "westeurope"
RG = "rg-async"


@pytest.fixture
def net(env: Env) -> NetworkManagementClient:
    response = env.arm("PUT", env.rg_id(RG), "2021-04-01", {"location": LOCATION})
    assert response.status_code == 201
    return env.network()


def nsg_path(env: Env, name: str = "nsg-a") -> str:
    return f"{env.rg_id(RG)}/providers/Microsoft.Network/networkSecurityGroups/{name}"


def rule_json(priority: int = 200, port: str = "3389") -> dict[str, Any]:
    return {
        "properties": {
            "protocol": "TCP",
            "sourcePortRange": "*",
            "destinationPortRange": port,
            "sourceAddressPrefix": "*",
            "destinationAddressPrefix": "*",
            "access": "Allow",
            "priority": priority,
            "direction": "Inbound",
        }
    }


def rule(priority: int = 200, port: str = "3389") -> SecurityRule:
    return SecurityRule(
        protocol="TCP",  # Network spells it Tcp in its answers
        source_port_range="*",
        destination_port_range=port,
        source_address_prefix="*",
        destination_address_prefix="*",
        access="Allow",
        priority=priority,
        direction="Inbound",
    )


def send(env: Env, method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> HttpResponse:
    """A raw call through the SDK pipeline; `url` may carry its own query (operation URLs do)."""
    params = {} if "api-version=" in url else {"api-version": NETWORK_API}
    full = url if url.startswith("https://") else env.url + url
    request = HttpRequest(method, full, params=params, json=body, headers=headers or {})
    response = env.network()._client.send_request(request)
    response.read()
    return response


def operation_url_re(env: Env) -> re.Pattern[str]:
    return re.compile(
        rf"^{re.escape(env.url)}/subscriptions/{env.sub}/providers/Microsoft\.Network/locations/{LOCATION}"
        rf"/operations/[A-Za-z0-9_-]+\?api-version={NETWORK_API}$"
    )


def test_nsg_put_answers_201_then_200_updating_with_an_operation_to_poll(
    env: Env, net: NetworkManagementClient
) -> None:
    env.settings(network_operation_seconds=30)
    created = send(env, "PUT", nsg_path(env), {"location": LOCATION})
    assert created.status_code == 201
    assert created.json()["properties"]["provisioningState"] == "Updating"
    operation = created.headers["Azure-AsyncOperation"]
    assert operation_url_re(env).match(operation), operation
    assert created.headers["Retry-After"] == "1"  # the default (setting network_retry_after)
    assert "Location" not in created.headers  # a PUT's final state is the resource itself
    assert send(env, "GET", operation).json() == {"status": "InProgress"}
    env.advance("PT31S")
    assert send(env, "GET", operation).json() == {"status": "Succeeded"}
    assert send(env, "GET", nsg_path(env)).json()["properties"]["provisioningState"] == "Succeeded"
    updated = send(env, "PUT", nsg_path(env), {"location": LOCATION})
    assert updated.status_code == 200 and updated.json()["properties"]["provisioningState"] == "Updating"
    assert operation_url_re(env).match(updated.headers["Azure-AsyncOperation"])


def test_the_network_sdk_pollers_wait_for_the_operation_and_complete(env: Env, net: NetworkManagementClient) -> None:
    env.settings(network_operation_seconds=30)
    env.control("DELETE", "requests")
    poller: LROPoller[Any] = net.network_security_groups.begin_create_or_update(
        RG, "nsg-a", NetworkSecurityGroup(location=LOCATION)
    )
    deadline = time.monotonic() + 10
    while sum(1 for e in env.request_log() if "/operations/" in e["path"]) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not poller.done()  # still InProgress on the emulator's clock: the poller keeps polling
    env.advance("PT31S")
    nsg = poller.result(timeout=10)
    assert nsg.provisioning_state == "Succeeded"
    calls = [(e["method"], "/operations/" in e["path"], e["status"]) for e in env.request_log()]
    assert calls[0] == ("PUT", False, 201)
    assert calls[-1] == ("GET", False, 200)  # the final GET of the resource once the operation succeeded
    assert all(c == ("GET", True, 200) for c in calls[1:-1]) and len(calls) >= 4

    env.settings(network_operation_seconds=0)
    created = net.security_rules.begin_create_or_update(RG, "nsg-a", "allow-rdp", rule()).result()
    assert (created.provisioning_state, created.protocol) == ("Succeeded", "Tcp")
    assert created.source_address_prefixes == [] and created.destination_port_ranges == []
    net.security_rules.begin_delete(RG, "nsg-a", "allow-rdp").result()
    assert [r.name for r in net.security_rules.list(RG, "nsg-a")] == []
    net.network_security_groups.begin_delete(RG, "nsg-a").result()
    assert [n.name for n in net.network_security_groups.list(RG)] == []


def test_deletes_answer_202_with_location_and_an_operation(env: Env, net: NetworkManagementClient) -> None:
    assert send(env, "PUT", nsg_path(env), {"location": LOCATION}).status_code == 201
    rule_path = f"{nsg_path(env)}/securityRules/allow-rdp"
    assert send(env, "PUT", rule_path, rule_json()).status_code == 201
    env.settings(network_operation_seconds=30)
    deleted = send(env, "DELETE", rule_path)
    assert deleted.status_code == 202 and deleted.text() == ""
    assert operation_url_re(env).match(deleted.headers["Azure-AsyncOperation"])
    location = deleted.headers["Location"]
    assert "/providers/Microsoft.Network/locations/westeurope/operationResults/" in location
    assert send(env, "GET", location).status_code == 202
    env.advance("PT31S")
    assert send(env, "GET", location).status_code == 204
    assert send(env, "DELETE", rule_path).status_code == 204  # already gone
    assert send(env, "DELETE", nsg_path(env)).status_code == 202


def test_the_default_retry_after_is_one_second_and_the_poller_honours_it(
    env: Env, net: NetworkManagementClient
) -> None:
    # The first poll goes out at once: an operation already over (the default) is polled once (counted below).
    net.network_security_groups.begin_create_or_update(RG, "nsg-a", NetworkSecurityGroup(location=LOCATION)).result()
    # One still running answers InProgress with Retry-After 1, which the poller waits (not its 50 ms interval).
    env.settings(network_operation_seconds=0.5)
    started = time.monotonic()
    net.network_security_groups.begin_create_or_update(RG, "nsg-b", NetworkSecurityGroup(location=LOCATION)).result()
    assert time.monotonic() - started >= 1
    polls = [e for e in env.request_log() if "/operations/" in e["path"]]
    assert len(polls) == 3  # nsg-a once (Succeeded); nsg-b InProgress, then Succeeded a second later
    answer = send(env, "PUT", nsg_path(env), {"location": LOCATION})
    assert answer.headers["Retry-After"] == "1"


def test_one_nsg_etag_for_every_rule_changing_on_every_write(env: Env, net: NetworkManagementClient) -> None:
    net.network_security_groups.begin_create_or_update(RG, "nsg-a", NetworkSecurityGroup(location=LOCATION)).result()
    net.security_rules.begin_create_or_update(RG, "nsg-a", "allow-rdp", rule()).result()
    first = send(env, "GET", nsg_path(env)).json()
    props = first["properties"]
    assert len(props["defaultSecurityRules"]) == 6
    assert {r["etag"] for r in props["securityRules"] + props["defaultSecurityRules"]} == {first["etag"]}
    net.security_rules.begin_create_or_update(RG, "nsg-a", "allow-ssh", rule(210, "22")).result()
    second = send(env, "GET", nsg_path(env)).json()
    assert second["etag"] != first["etag"]
    props = second["properties"]
    assert {r["etag"] for r in props["securityRules"] + props["defaultSecurityRules"]} == {second["etag"]}
    assert net.security_rules.get(RG, "nsg-a", "allow-rdp").etag == second["etag"]


def test_if_match_is_honoured(env: Env, net: NetworkManagementClient) -> None:
    net.network_security_groups.begin_create_or_update(RG, "nsg-a", NetworkSecurityGroup(location=LOCATION)).result()
    stale = send(env, "GET", nsg_path(env)).json()["etag"]
    rule_path = f"{nsg_path(env)}/securityRules/allow-rdp"
    assert send(env, "PUT", rule_path, rule_json(), {"If-Match": stale}).status_code == 201
    current = send(env, "GET", nsg_path(env)).json()["etag"]
    refused = send(env, "PUT", rule_path, rule_json(300), {"If-Match": stale})
    assert refused.status_code == 412 and error_of(refused)["code"] == "PreconditionFailed"
    refused = send(env, "DELETE", nsg_path(env), None, {"If-Match": stale})
    assert refused.status_code == 412
    refused = send(env, "PUT", f"{nsg_path(env)}/securityRules/other", rule_json(310), {"If-Match": "*"})
    assert refused.status_code == 412  # '*' needs an existing resource
    after = send(env, "GET", nsg_path(env)).json()
    assert after["etag"] == current and [r["properties"]["priority"] for r in after["properties"]["securityRules"]] == [
        200
    ]
    assert send(env, "PUT", rule_path, rule_json(300), {"If-Match": current}).status_code == 200
    assert send(env, "PUT", rule_path, rule_json(301), {"If-Match": "*"}).status_code == 200


def test_other_network_writes_are_asynchronous_too(env: Env, net: NetworkManagementClient) -> None:
    base = f"{env.rg_id(RG)}/providers/Microsoft.Network"
    vnet = send(
        env,
        "PUT",
        f"{base}/virtualNetworks/vnet-a",
        {"location": LOCATION, "properties": {"addressSpace": {"addressPrefixes": ["10.9.0.0/16"]}}},
    )
    pip = send(env, "PUT", f"{base}/publicIPAddresses/pip-a", {"location": LOCATION})
    subnet = send(
        env, "PUT", f"{base}/virtualNetworks/vnet-a/subnets/s1", {"properties": {"addressPrefix": "10.9.1.0/24"}}
    )
    for answer in (vnet, pip, subnet):
        assert answer.status_code == 201, answer.text()
        assert answer.json()["properties"]["provisioningState"] == "Updating"
        assert operation_url_re(env).match(answer.headers["Azure-AsyncOperation"])
    assert send(env, "GET", f"{base}/virtualNetworks/vnet-a").json()["properties"]["provisioningState"] == "Succeeded"
    assert send(env, "DELETE", f"{base}/virtualNetworks/vnet-a/subnets/s1").status_code == 202
    assert send(env, "DELETE", f"{base}/publicIPAddresses/pip-a").status_code == 202
