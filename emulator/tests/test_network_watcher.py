"""Network Watcher: watchers (put/get/list) and IP flow verify through the network SDK's LRO poller."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.network.models import VerificationIPFlowParameters
from conftest import NETWORK_API, Env

NW = "Microsoft.Network/networkWatchers"
# The demo world holds the watcher Azure creates by itself for a region with a virtual network.
WATCHER_RG, WATCHER = "NetworkWatcherRG", "NetworkWatcher_westeurope"


def watcher(env: Env, rg: str = "rg-app", name: str = "nw-northeurope", location: str = "northeurope") -> Any:
    return env.network().network_watchers.create_or_update(rg, name, {"location": location})


def private_ip(env: Env, rg: str, nic: str) -> str:
    body = env.network().network_interfaces.get(rg, nic)
    return body.ip_configurations[0].private_ip_address


def verify(env: Env, vm: str, port: int, remote: str, *, rg: str = "rg-app", nic: str | None = None, **kw: Any) -> Any:
    local = private_ip(env, rg, nic or vm.replace("vm-", "nic-"))
    params = VerificationIPFlowParameters(
        target_resource_id=env.vm_id(rg, vm),
        direction=kw.get("direction", "Inbound"),
        protocol=kw.get("protocol", "TCP"),
        local_port=str(port),
        remote_port=str(kw.get("remote_port", 50000)),
        local_ip_address=local,
        remote_ip_address=remote,
    )
    return env.network().network_watchers.begin_verify_ip_flow(WATCHER_RG, WATCHER, params).result()


def test_watcher_put_get_list_and_one_per_region(env: Env) -> None:
    created = watcher(env)
    assert (created.name, created.location, created.provisioning_state) == (
        "nw-northeurope",
        "northeurope",
        "Succeeded",
    )
    assert env.network().network_watchers.get("rg-app", "nw-northeurope").id == created.id
    assert sorted(w.name for w in env.network().network_watchers.list_all()) == [WATCHER, "nw-northeurope"]
    assert [w.name for w in env.network().network_watchers.list("rg-app")] == ["nw-northeurope"]
    with pytest.raises(HttpResponseError) as err:
        watcher(env, rg="rg-data", name="nw-two", location="westeurope")
    assert (err.value.status_code, err.value.error.code) == (400, "NetworkWatcherCountLimitReached")


def test_ip_flow_verify_is_a_long_running_post(env: Env) -> None:
    log_start = len(env.request_log())
    result = verify(env, "vm-web-01", 443, "198.51.100.9")
    assert (result.access, result.rule_name) == ("Allow", "securityRules/allow-https")
    calls = [(r["method"], r["path"].rsplit("/", 2)[-2], r["status"]) for r in env.request_log()[log_start:]]
    post = [c for c in calls if c[0] == "POST"]
    assert post == [("POST", WATCHER, 202)]
    assert ("GET", "operations", 200) in calls and ("GET", "operationResults", 200) in calls


def test_default_rules_and_service_tags(env: Env) -> None:
    # SSH from the Internet meets DenyAllInBound of the NIC's NSG.
    denied = verify(env, "vm-web-01", 22, "198.51.100.9")
    assert (denied.access, denied.rule_name) == ("Deny", "defaultSecurityRules/DenyAllInBound")
    # From inside the virtual network AllowVnetInBound lets it through.
    vnet = verify(env, "vm-web-01", 22, "10.10.2.200")
    assert (vnet.access, vnet.rule_name) == ("Allow", "defaultSecurityRules/AllowVnetInBound")
    # The host's virtual IP is AzureLoadBalancer (and VirtualNetwork: AllowVnetInBound comes first).
    lb = verify(env, "vm-web-01", 22, "168.63.129.16")
    assert lb.access == "Allow"
    # A private address outside the virtual network is neither VirtualNetwork nor Internet.
    other = verify(env, "vm-web-01", 443, "192.168.7.7")
    assert (other.access, other.rule_name) == ("Deny", "defaultSecurityRules/DenyAllInBound")


def test_subnet_then_nic_first_deny_decides(env: Env) -> None:
    net = env.network()
    allow = {
        "protocol": "Tcp",
        "sourcePortRange": "*",
        "destinationPortRange": "22",
        "sourceAddressPrefix": "Internet",
        "destinationAddressPrefix": "*",
        "access": "Allow",
        "direction": "Inbound",
    }

    def put(nsg: str, name: str, props: dict[str, Any]) -> None:
        net.security_rules.begin_create_or_update("rg-app", nsg, name, {"properties": props}).result()

    # vm-both-01: NSG on NIC (nsg-both-01) and subnet (nsg-snet-web). Only the NIC allows: the subnet denies.
    put("nsg-both-01", "ssh", {**allow, "priority": 100})
    result = verify(env, "vm-both-01", 22, "203.0.113.50")
    assert result.access == "Deny"
    assert result.rule_name == "defaultSecurityRules/DenyAllInBound"
    # Both allow: the NIC's rule is the last one evaluated and is named.
    put("nsg-snet-web", "ssh", {**allow, "priority": 110})
    assert verify(env, "vm-both-01", 22, "203.0.113.50").rule_name == "securityRules/ssh"
    # A higher-priority deny on the subnet wins although the NIC allows.
    put("nsg-snet-web", "block", {**allow, "access": "Deny", "priority": 105, "sourceAddressPrefix": "203.0.113.0/24"})
    blocked = verify(env, "vm-both-01", 22, "203.0.113.50")
    assert (blocked.access, blocked.rule_name) == ("Deny", "securityRules/block")
    # UDP is not covered by the Tcp rules.
    assert verify(env, "vm-both-01", 22, "198.51.100.1", protocol="UDP").access == "Deny"


def test_bad_input_and_wrong_region(env: Env) -> None:
    path = f"{env.rg_id(WATCHER_RG)}/providers/{NW}/{WATCHER}/ipFlowVerify"
    body = {
        "targetResourceId": env.vm_id("rg-app", "vm-web-01"),
        "direction": "Inbound",
        "protocol": "TCP",
        "localPort": "22",
        "remotePort": "5000",
        "localIPAddress": private_ip(env, "rg-app", "nic-web-01"),
        "remoteIPAddress": "not-an-ip",
    }
    response = env.arm("POST", path, NETWORK_API, body)
    assert response.status_code == 400 and response.json()["error"]["target"] == "remoteIPAddress"
    response = env.arm("POST", path, NETWORK_API, {**body, "remoteIPAddress": "1.2.3.4", "localIPAddress": "10.9.9.9"})
    assert (response.status_code, response.json()["error"]["code"]) == (400, "InvalidLocalIpAddress")
    missing = env.arm("POST", path.replace(WATCHER, "nope"), NETWORK_API, body)
    assert missing.status_code == 404
