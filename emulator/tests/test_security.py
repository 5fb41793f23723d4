"""Microsoft.Security through azure-mgmt-security: locations, pricings and the eight JIT operations, with the JIT
semantics of the brief (rules on NSGs and firewalls, the request log, supersession, expiry, restoration)."""

from __future__ import annotations

import io
import json
import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.security import SecurityCenter
from azure.mgmt.security.models import (
    Extension,
    JitNetworkAccessPolicy,
    JitNetworkAccessPolicyInitiatePort,
    JitNetworkAccessPolicyInitiateRequest,
    JitNetworkAccessPolicyInitiateVirtualMachine,
    JitNetworkAccessPolicyVirtualMachine,
    JitNetworkAccessPortRule,
    Pricing,
)
from conftest import COMPUTE_API, NETWORK_API, Env, error_of

LOC = "westeurope"
# Today's names (real NSG exports): deny <prefix>_<signed int>_<HEX>, allow <prefix>-<int>-<HEX>.
DENY_RE = re.compile(r"^MicrosoftDefenderForCloud-JITRule_-?\d+_[0-9A-F]{32}$")
ALLOW_RE = re.compile(r"^MicrosoftDefenderForCloud-JITRule--?\d+-[0-9A-F]{32}$")


# -- helpers -------------------------------------------------------------------------------------------


def port(
    number: int, source: str | list[str] = "*", duration: str = "PT3H", protocol: str = "*"
) -> JitNetworkAccessPortRule:
    rule = JitNetworkAccessPortRule(number=number, protocol=protocol, max_request_access_duration=duration)
    if isinstance(source, list):
        rule.allowed_source_address_prefixes = source
    else:
        rule.allowed_source_address_prefix = source
    return rule


def policy(*vms: tuple[str, list[JitNetworkAccessPortRule]]) -> JitNetworkAccessPolicy:
    return JitNetworkAccessPolicy(
        kind="Basic", virtual_machines=[JitNetworkAccessPolicyVirtualMachine(id=vm, ports=ports) for vm, ports in vms]
    )


def enable(env: Env, rg: str, *vms: tuple[str, list[JitNetworkAccessPortRule]], name: str = "default") -> Any:
    return env.security().jit_network_access_policies.create_or_update(rg, LOC, name, policy(*vms))


def request(vm: str, *ports: JitNetworkAccessPolicyInitiatePort, justification: str | None = None) -> Any:
    return JitNetworkAccessPolicyInitiateRequest(
        virtual_machines=[JitNetworkAccessPolicyInitiateVirtualMachine(id=vm, ports=list(ports))],
        justification=justification,
    )


def now(env: Env) -> datetime:
    text = env.control("GET", "clock").json()["now"]
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def open_port(
    env: Env, number: int, source: str | None = "203.0.113.7", hours: float = 1
) -> JitNetworkAccessPolicyInitiatePort:
    return JitNetworkAccessPolicyInitiatePort(
        number=number, end_time_utc=now(env) + timedelta(hours=hours), allowed_source_address_prefix=source
    )


def initiate(env: Env, rg: str, body: Any, principal: tuple[str, ...] | None = None, name: str = "default") -> Any:
    return env.security(principal).jit_network_access_policies.initiate(rg, LOC, name, body)


def raw_initiate(env: Env, rg: str, body: dict[str, Any], name: str = "default") -> Any:
    """Initiate with a body the SDK model cannot express (e.g. `duration`), as the portal sends it."""
    return env.security().jit_network_access_policies.initiate(
        rg, LOC, name, io.BytesIO(json.dumps(body).encode()), content_type="application/json"
    )


def nsg_rules(env: Env, rg: str, nsg: str) -> list[dict[str, Any]]:
    body = env.arm("GET", f"{env.rg_id(rg)}/providers/Microsoft.Network/networkSecurityGroups/{nsg}", NETWORK_API)
    assert body.status_code == 200
    return body.json()["properties"]["securityRules"]


def jit_rules(env: Env, rg: str, nsg: str, kind: str) -> list[dict[str, Any]]:
    pattern = DENY_RE if kind == "deny" else ALLOW_RE
    return [r for r in nsg_rules(env, rg, nsg) if pattern.match(r["name"])]


def private_ip(env: Env, rg: str, nic: str) -> str:
    return env.network().network_interfaces.get(rg, nic).ip_configurations[0].private_ip_address


def request_ports(env: Env, rg: str) -> list[tuple[str, int, str, str]]:
    """(vm name, port, status, statusReason) of every logged request port, in log order."""
    stored = env.security().jit_network_access_policies.get(rg, LOC, "default")
    return [
        (vm.id.rsplit("/", 1)[1], p.number, p.status, p.status_reason)
        for r in stored.requests or []
        for vm in r.virtual_machines
        for p in vm.ports
    ]


def firewall(env: Env) -> dict[str, Any]:
    path = f"{env.rg_id('rg-data')}/providers/Microsoft.Network/azureFirewalls/fw-hub"
    return env.arm("GET", path, NETWORK_API).json()


# -- locations -------------------------------------------------------------------------------------------


def test_locations_list_and_get(env: Env) -> None:
    client = env.security()
    locations = list(client.locations.list())
    assert [(loc.name, loc.type, loc.properties) for loc in locations] == [
        ("westeurope", "Microsoft.Security/locations", {"homeRegionName": "westeurope"})
    ]
    assert (
        client.locations.get("westeurope").id
        == f"/subscriptions/{env.sub}/providers/Microsoft.Security/locations/westeurope"
    )
    with pytest.raises(ResourceNotFoundError) as caught:
        client.locations.get("eastus")
    assert caught.value.error.code == "LocationNotFound"
    env.settings(home_location="centralus")
    assert [loc.name for loc in client.locations.list()] == ["centralus"]


# -- pricings -------------------------------------------------------------------------------------------------


def test_subscription_pricing_get_update(env: Env) -> None:
    client = env.security()
    scope = f"subscriptions/{env.sub}"
    current = client.pricings.get(scope, "VirtualMachines")
    assert (current.pricing_tier, current.sub_plan, current.enforce) == ("Standard", "P2", "False")
    assert current.resources_coverage_status == "FullyCovered"
    updated = client.pricings.update(scope, "VirtualMachines", Pricing(pricing_tier="Standard", sub_plan="P1"))
    assert updated.sub_plan == "P1" and updated.enablement_time == current.enablement_time
    free = client.pricings.update(scope, "VirtualMachines", Pricing(pricing_tier="Free"))
    assert (free.pricing_tier, free.sub_plan, free.enablement_time) == ("Free", None, None)
    assert free.resources_coverage_status == "NotCovered"
    never_set = client.pricings.get(scope, "KeyVaults")
    assert (never_set.pricing_tier, never_set.enforce) == ("Free", "False")
    with pytest.raises(ResourceNotFoundError) as caught:
        client.pricings.get(scope, "NoSuchPlan")
    assert caught.value.error.code == "PricingNotFound"


def test_pricing_extensions_and_operation_status(env: Env) -> None:
    client = env.security()
    scope = f"subscriptions/{env.sub}"
    answer = client.pricings.update(
        scope,
        "VirtualMachines",
        Pricing(
            pricing_tier="Standard",
            sub_plan="P2",
            extensions=[
                Extension(name="AgentlessVmScanning", is_enabled="True"),
                Extension(name="Mde", is_enabled="False"),
            ],
        ),
    )
    assert [(e.name, e.operation_status.code if e.operation_status else None) for e in answer.extensions] == [
        ("AgentlessVmScanning", "Succeeded"),
        ("Mde", None),
    ]
    read = client.pricings.get(scope, "VirtualMachines")
    assert [e.operation_status for e in read.extensions] == [None, None]


def test_resource_level_pricing(env: Env) -> None:
    client = env.security()
    vm_scope = env.vm_id("rg-app", "vm-web-01").lstrip("/")
    inherited = client.pricings.get(vm_scope, "VirtualMachines")
    assert (inherited.pricing_tier, inherited.sub_plan, inherited.inherited) == ("Standard", "P2", "True")
    assert inherited.inherited_from == f"/subscriptions/{env.sub}"
    own = client.pricings.update(vm_scope, "virtualMachines", Pricing(pricing_tier="Standard", sub_plan="P1"))
    assert (own.name, own.sub_plan, own.inherited, own.inherited_from) == ("virtualMachines", "P1", "False", None)
    assert own.id == f"/{vm_scope}/providers/Microsoft.Security/pricings/virtualMachines"
    assert (
        client.pricings.get(f"subscriptions/{env.sub}", "VirtualMachines").resources_coverage_status
        == "PartiallyCovered"
    )
    with pytest.raises(HttpResponseError) as p2:
        client.pricings.update(vm_scope, "VirtualMachines", Pricing(pricing_tier="Standard", sub_plan="P2"))
    assert p2.value.error.code == "InvalidInput"
    assert [p.name for p in client.pricings.list(vm_scope).value] == ["virtualMachines", "CloudPosture"]
    env.control("DELETE", "requests")
    client.pricings.delete(vm_scope, "VirtualMachines")
    client.pricings.delete(vm_scope, "VirtualMachines")
    assert [e["status"] for e in env.request_log()] == [200, 204]
    assert client.pricings.get(vm_scope, "VirtualMachines").inherited == "True"
    with pytest.raises(HttpResponseError) as sub_delete:
        client.pricings.delete(f"subscriptions/{env.sub}", "VirtualMachines")
    assert sub_delete.value.status_code == 400


def test_pricing_list_and_filter(env: Env) -> None:
    client = env.security()
    scope = f"subscriptions/{env.sub}"
    plans = client.pricings.list(scope).value
    assert plans[0].name == "VirtualMachines" and len(plans) == 15
    deprecated = {p.name: p.replaced_by for p in plans if p.deprecated}
    assert deprecated == {
        "KubernetesService": ["Containers"],
        "ContainerRegistry": ["Containers"],
        "Dns": ["VirtualMachines"],
    }
    filtered = client.pricings.list(scope, filter="name in (VirtualMachines,KeyVaults)").value
    assert [p.name for p in filtered] == ["VirtualMachines", "KeyVaults"]


@pytest.mark.parametrize(
    ("api_version", "fields"),
    [
        ("2018-06-01", {"pricingTier", "freeTrialRemainingTime"}),
        ("2022-03-01", {"pricingTier", "subPlan", "freeTrialRemainingTime"}),
        ("2023-01-01", {"pricingTier", "subPlan", "freeTrialRemainingTime", "enablementTime", "extensions"}),
    ],
)
def test_older_pricing_versions_answer_in_their_own_shape(env: Env, api_version: str, fields: set[str]) -> None:
    path = f"/subscriptions/{env.sub}/providers/Microsoft.Security/pricings"
    env.security().pricings.update(
        f"subscriptions/{env.sub}",
        "VirtualMachines",
        Pricing(pricing_tier="Standard", sub_plan="P2", extensions=[Extension(name="Mde", is_enabled="True")]),
    )
    got = env.arm("GET", f"{path}/VirtualMachines", api_version)
    assert got.status_code == 200 and set(got.json()["properties"]) == fields
    listed = env.arm("GET", path, api_version).json()["value"]
    deprecated = {"deprecated", "replacedBy"} if api_version != "2018-06-01" else set()  # 2018 had neither
    assert len(listed) == 15 and all(set(p["properties"]) <= fields | deprecated for p in listed)
    kubernetes = next(p for p in listed if p["name"] == "KubernetesService")["properties"]
    assert ("replacedBy" in kubernetes) == bool(deprecated)
    # A PUT through an older version ignores what that version does not know (enforce) and answers in its shape.
    put = env.arm(
        "PUT", f"{path}/KeyVaults", api_version, {"properties": {"pricingTier": "Standard", "enforce": "True"}}
    )
    assert put.status_code == 200 and set(put.json()["properties"]) <= fields  # a subscription's plan always exists
    assert env.security().pricings.get(f"subscriptions/{env.sub}", "KeyVaults").enforce == "False"
    # Resource-level plans came with 2024-01-01.
    vm = env.vm_id("rg-app", "vm-web-01")
    scoped = env.arm("GET", f"{vm}/providers/Microsoft.Security/pricings/VirtualMachines", api_version)
    assert scoped.status_code == 400 and scoped.json()["error"]["code"] == "InvalidApiVersionForScope"


# -- the eight JIT operations -------------------------------------------------------------------------------


def test_create_get_and_the_four_lists(env: Env) -> None:
    web = env.vm_id("rg-app", "vm-web-01")
    db = env.vm_id("rg-data", "vm-db-01")
    created = enable(env, "rg-app", (web, [port(22), port(3389)]))
    assert (
        created.id
        == f"{env.rg_id('rg-app')}/providers/Microsoft.Security/locations/{LOC}/jitNetworkAccessPolicies/default"
    )
    assert (created.name, created.type, created.location, created.kind) == (
        "default",
        "Microsoft.Security/locations/jitNetworkAccessPolicies",
        LOC,
        "Basic",
    )
    assert created.provisioning_state == "Updating"
    assert [p.number for p in created.virtual_machines[0].ports] == [22, 3389]
    enable(env, "rg-data", (db, [port(3389)]), name="data")
    ops = env.security().jit_network_access_policies
    assert ops.get("rg-app", LOC, "default").virtual_machines[0].id == web
    assert sorted(p.name for p in ops.list()) == ["data", "default"]
    assert sorted(p.name for p in ops.list_by_region(LOC)) == ["data", "default"]
    assert [p.name for p in ops.list_by_region("eastus")] == []
    assert [p.name for p in ops.list_by_resource_group("rg-data")] == ["data"]
    assert [p.name for p in ops.list_by_resource_group_and_region("rg-app", LOC)] == ["default"]


def test_lists_page_through_next_link(env: Env) -> None:
    env.settings(page_size=1)
    enable(env, "rg-app", (env.vm_id("rg-app", "vm-web-01"), [port(22)]))
    enable(env, "rg-app", (env.vm_id("rg-app", "vm-win-01"), [port(3389)]), name="second")
    enable(env, "rg-data", (env.vm_id("rg-data", "vm-db-01"), [port(3389)]), name="third")
    env.control("DELETE", "requests")
    assert [p.name for p in env.security().jit_network_access_policies.list()] == ["default", "second", "third"]
    queries = [e["query"] for e in env.request_log()]
    assert len(queries) == 3 and all("api-version=2020-01-01" in q for q in queries)
    assert ["skipToken" in q for q in queries] == [False, True, True]


def test_put_is_200_for_create_and_update_and_ignores_read_only_fields(env: Env) -> None:
    web = env.vm_id("rg-app", "vm-web-01")
    path = f"{env.rg_id('rg-app')}/providers/Microsoft.Security/locations/{LOC}/jitNetworkAccessPolicies/default"
    body = {
        "id": "/elsewhere",
        "name": "other",
        "type": "Other/type",
        "location": "eastus",
        "kind": "Basic",
        "properties": {
            "virtualMachines": [{"id": web, "ports": [_rest(port(22))]}],
            "provisioningState": "Failed",
        },
    }
    first = env.arm("PUT", path, "2020-01-01", body)
    second = env.arm("PUT", path, "2020-01-01", body)
    assert (first.status_code, second.status_code) == (200, 200)
    stored = second.json()
    assert (stored["id"], stored["name"], stored["location"]) == (path, "default", LOC)
    assert stored["properties"]["provisioningState"] == "Updating"
    assert stored["properties"]["appendMode"] is False


def _rest(rule: JitNetworkAccessPortRule) -> dict[str, Any]:
    return rule.serialize()


def test_delete_is_200_then_204_and_initiate_is_202(env: Env) -> None:
    web = env.vm_id("rg-app", "vm-web-01")
    enable(env, "rg-app", (web, [port(22)]))
    env.control("DELETE", "requests")
    record = initiate(env, "rg-app", request(web, open_port(env, 22), justification="ticket 42"))
    assert record.justification == "ticket 42"
    ops = env.security().jit_network_access_policies
    assert ops.delete("rg-app", LOC, "default") is None
    assert ops.delete("rg-app", LOC, "default") is None
    assert [(e["method"], e["status"]) for e in env.request_log()] == [("POST", 202), ("DELETE", 200), ("DELETE", 204)]
    with pytest.raises(ResourceNotFoundError) as caught:
        ops.get("rg-app", LOC, "default")
    assert caught.value.error.code == "PolicyNotFound"


# -- rules on NSGs ---------------------------------------------------------------------------------------------


def test_enable_writes_deny_rules_in_the_nic_nsg(env: Env) -> None:
    web = env.vm_id("rg-app", "vm-web-01")
    ip = private_ip(env, "rg-app", "nic-web-01")
    enable(env, "rg-app", (web, [port(22), port(3389, protocol="TCP")]))
    rules = nsg_rules(env, "rg-app", "nsg-web-01")
    assert rules[0]["name"] == "allow-https"  # other rules are left in place
    deny = jit_rules(env, "rg-app", "nsg-web-01", "deny")
    assert [(r["properties"]["destinationPortRange"], r["properties"]["priority"]) for r in deny] == [
        ("22", 4096),  # no rule for these ports in nsg-web-01: from the bottom, as real NSGs show
        ("3389", 4095),
    ]
    for rule in deny:
        props = rule["properties"]
        assert (props["access"], props["direction"], props["sourceAddressPrefix"]) == ("Deny", "Inbound", "*")
        assert props["destinationAddressPrefix"] == ip
        assert props["description"] == "MDC JIT Network Access rule for policy 'default' of VM 'vm-web-01'."
    assert [r["properties"]["protocol"] for r in deny] == ["*", "Tcp"]
    assert jit_rules(env, "rg-app", "nsg-snet-web", "deny") == []  # vm-web-01's subnet has no NSG


def test_enable_writes_deny_rules_in_both_nsgs(env: Env) -> None:
    enable(env, "rg-app", (env.vm_id("rg-app", "vm-both-01"), [port(22)]))
    assert len(jit_rules(env, "rg-app", "nsg-both-01", "deny")) == 1
    assert len(jit_rules(env, "rg-app", "nsg-snet-web", "deny")) == 1


def test_deny_rules_go_after_existing_rules_for_the_port(env: Env) -> None:
    net = env.network()
    rule = net.security_rules.get("rg-app", "nsg-ssh-open", "allow-ssh-from-anywhere")
    rule.priority = 1500
    net.security_rules.begin_create_or_update("rg-app", "nsg-ssh-open", rule.name, rule).result()
    enable(env, "rg-app", (env.vm_id("rg-app", "vm-ssh-open"), [port(22), port(3389)]))
    deny = {
        r["properties"]["destinationPortRange"]: r["properties"]["priority"]
        for r in jit_rules(env, "rg-app", "nsg-ssh-open", "deny")
    }
    # The existing rule for 22 keeps precedence; 3389 has no such rule and takes the first free from 4096 down.
    assert deny == {"22": 1501, "3389": 4096}


def test_initiate_writes_allow_rules_before_the_deny_rules(env: Env) -> None:
    web = env.vm_id("rg-app", "vm-web-01")
    ip = private_ip(env, "rg-app", "nic-web-01")
    enable(env, "rg-app", (web, [port(22), port(3389)]))
    record = initiate(env, "rg-app", request(web, open_port(env, 22), open_port(env, 3389, source="198.51.100.0/24")))
    assert [(p.number, p.status, p.status_reason) for p in record.virtual_machines[0].ports] == [
        (22, "Initiating", "UserRequested"),
        (3389, "Initiating", "UserRequested"),
    ]
    assert record.requestor == ""  # a service principal
    allow = jit_rules(env, "rg-app", "nsg-web-01", "allow")
    assert [(r["properties"]["destinationPortRange"], r["properties"]["priority"]) for r in allow] == [
        ("22", 100),
        ("3389", 101),
    ]
    first = allow[0]["properties"]
    assert (first["access"], first["sourceAddressPrefix"], first["destinationAddressPrefix"]) == (
        "Allow",
        "203.0.113.7",
        ip,
    )
    assert first["description"] == (
        "MDC JIT Network Access rule created by an initiation request for policy 'default' of VM 'vm-web-01'."
    )
    assert allow[1]["properties"]["sourceAddressPrefix"] == "198.51.100.0/24"


def test_initiate_without_a_source_uses_the_callers_ip(env: Env) -> None:
    web = env.vm_id("rg-app", "vm-web-01")
    enable(env, "rg-app", (web, [port(22)]))
    record = initiate(env, "rg-app", request(web, open_port(env, 22, source=None)))
    assert record.virtual_machines[0].ports[0].allowed_source_address_prefix == "127.0.0.1"
    assert jit_rules(env, "rg-app", "nsg-web-01", "allow")[0]["properties"]["sourceAddressPrefix"] == "127.0.0.1"


def test_several_sources(env: Env) -> None:
    web = env.vm_id("rg-app", "vm-web-01")
    enable(env, "rg-app", (web, [port(22, source=["10.0.0.0/8", "192.168.0.0/16"])]))
    end = (now(env) + timedelta(hours=1)).isoformat()
    raw_initiate(
        env,
        "rg-app",
        {
            "virtualMachines": [
                {
                    "id": web,
                    "ports": [
                        {
                            "number": 22,
                            "endTimeUtc": end,
                            "allowedSourceAddressPrefixes": ["10.1.0.0/16", "192.168.1.1"],
                        }
                    ],
                }
            ]
        },
    )
    props = jit_rules(env, "rg-app", "nsg-web-01", "allow")[0]["properties"]
    assert props["sourceAddressPrefixes"] == ["10.1.0.0/16", "192.168.1.1"]
    assert "sourceAddressPrefix" not in props


def test_duration_is_accepted_as_the_portal_sends_it(env: Env) -> None:
    web = env.vm_id("rg-app", "vm-web-01")
    enable(env, "rg-app", (web, [port(22)]))
    record = raw_initiate(
        env,
        "rg-app",
        {
            "virtualMachines": [
                {"id": web, "ports": [{"number": 22, "duration": "PT2H", "allowedSourceAddressPrefix": "*"}]}
            ]
        },
    )
    start = record.start_time_utc
    assert record.virtual_machines[0].ports[0].end_time_utc - start == timedelta(hours=2)


# -- the request lifecycle ---------------------------------------------------------------------------------


def test_newer_request_revokes_the_older_one(env: Env) -> None:
    web = env.vm_id("rg-app", "vm-web-01")
    enable(env, "rg-app", (web, [port(22), port(3389)]))
    initiate(env, "rg-app", request(web, open_port(env, 22, source="203.0.113.1"), open_port(env, 3389)))
    initiate(env, "rg-app", request(web, open_port(env, 22, source="203.0.113.2")))
    assert request_ports(env, "rg-app") == [
        ("vm-web-01", 22, "Revoked", "NewerRequestInitiated"),
        ("vm-web-01", 3389, "Initiated", "UserRequested"),
        ("vm-web-01", 22, "Initiated", "UserRequested"),
    ]
    allow = jit_rules(env, "rg-app", "nsg-web-01", "allow")
    assert sorted((r["properties"]["destinationPortRange"], r["properties"]["sourceAddressPrefix"]) for r in allow) == [
        ("22", "203.0.113.2"),
        ("3389", "203.0.113.7"),
    ]


def test_expiry_on_the_emulator_clock(env: Env) -> None:
    web = env.vm_id("rg-app", "vm-web-01")
    enable(env, "rg-app", (web, [port(22), port(3389)]))
    initiate(env, "rg-app", request(web, open_port(env, 22, hours=1), open_port(env, 3389, hours=2)))
    env.advance("PT61M")
    assert request_ports(env, "rg-app") == [
        ("vm-web-01", 22, "Revoked", "Expired"),
        ("vm-web-01", 3389, "Initiated", "UserRequested"),
    ]
    assert [r["properties"]["destinationPortRange"] for r in jit_rules(env, "rg-app", "nsg-web-01", "allow")] == [
        "3389"
    ]
    env.control("POST", "clock", {"set": (now(env) + timedelta(hours=1)).isoformat()})
    assert request_ports(env, "rg-app")[1] == ("vm-web-01", 3389, "Revoked", "Expired")
    assert jit_rules(env, "rg-app", "nsg-web-01", "allow") == []
    assert len(jit_rules(env, "rg-app", "nsg-web-01", "deny")) == 2  # the policy still protects the VM


def test_removing_a_vm_or_the_policy_restores_the_nsgs_exactly(env: Env) -> None:
    web, both = env.vm_id("rg-app", "vm-web-01"), env.vm_id("rg-app", "vm-both-01")

    def rules(nsg: str) -> list[dict[str, Any]]:
        # Every write gives the NSG and all its rules a new etag: compare the rules without it.
        return [{k: v for k, v in r.items() if k != "etag"} for r in nsg_rules(env, "rg-app", nsg)]

    before = {nsg: rules(nsg) for nsg in ("nsg-web-01", "nsg-both-01", "nsg-snet-web")}
    enable(env, "rg-app", (web, [port(22), port(3389)]), (both, [port(22)]))
    initiate(env, "rg-app", request(web, open_port(env, 22)))
    initiate(env, "rg-app", request(both, open_port(env, 22)))
    enable(env, "rg-app", (both, [port(22)]))  # vm-web-01 leaves the policy
    assert rules("nsg-web-01") == before["nsg-web-01"]
    assert rules("nsg-both-01") != before["nsg-both-01"]
    env.security().jit_network_access_policies.delete("rg-app", LOC, "default")
    after = {nsg: rules(nsg) for nsg in before}
    assert after == before


def test_removing_a_port_removes_only_its_rules(env: Env) -> None:
    web = env.vm_id("rg-app", "vm-web-01")
    enable(env, "rg-app", (web, [port(22), port(3389)]))
    kept = next(
        r for r in jit_rules(env, "rg-app", "nsg-web-01", "deny") if r["properties"]["destinationPortRange"] == "22"
    )
    enable(env, "rg-app", (web, [port(22, source="10.0.0.0/8")]))
    deny = jit_rules(env, "rg-app", "nsg-web-01", "deny")
    assert [r["name"] for r in deny] == [kept["name"]]
    assert deny[0]["properties"]["priority"] == kept["properties"]["priority"]


def test_a_put_restores_deny_rules_removed_by_hand(env: Env) -> None:
    web = env.vm_id("rg-app", "vm-web-01")
    enable(env, "rg-app", (web, [port(22)]))
    (deny,) = jit_rules(env, "rg-app", "nsg-web-01", "deny")
    env.network().security_rules.begin_delete("rg-app", "nsg-web-01", deny["name"]).result()
    assert jit_rules(env, "rg-app", "nsg-web-01", "deny") == []
    enable(env, "rg-app", (web, [port(22)]))
    (again,) = jit_rules(env, "rg-app", "nsg-web-01", "deny")
    assert (again["name"], again["properties"]["priority"]) == (deny["name"], deny["properties"]["priority"])


def test_requests_log_kept_by_a_put_without_requests_and_stored_as_given(env: Env) -> None:
    web = env.vm_id("rg-app", "vm-web-01")
    enable(env, "rg-app", (web, [port(22)]))
    initiate(env, "rg-app", request(web, open_port(env, 22)))
    enable(env, "rg-app", (web, [port(22)]))  # the SDK model has no requests: the log stays
    assert len(request_ports(env, "rg-app")) == 1
    given = {
        "virtualMachines": [
            {
                "id": web,
                "ports": [
                    {
                        "number": 22,
                        "allowedSourceAddressPrefix": "10.0.0.1",
                        "endTimeUtc": "2020-01-01T00:00:00Z",
                        "status": "Initiated",
                        "statusReason": "UserRequested",
                    }
                ],
            }
        ],
        "startTimeUtc": "2019-12-31T23:00:00Z",
        "requestor": "someone@example.com",
    }
    path = f"{env.rg_id('rg-app')}/providers/Microsoft.Security/locations/{LOC}/jitNetworkAccessPolicies/default"
    body = {
        "kind": "Basic",
        "properties": {"virtualMachines": [{"id": web, "ports": [_rest(port(22))]}], "requests": [given]},
    }
    # The PUT answer shows no history (recorded); the service keeps what was sent.
    assert env.arm("PUT", path, "2020-01-01", body).json()["properties"]["requests"] == []
    assert env.arm("GET", path, "2020-01-01").json()["properties"]["requests"] == [given]
    env.advance("PT1M")
    assert env.arm("GET", path, "2020-01-01").json()["properties"]["requests"] == [
        given
    ]  # never expired by the emulator


def test_rule_delay_applies_allow_rules_later(env: Env) -> None:
    env.settings(rule_delay_seconds=30)
    web = env.vm_id("rg-app", "vm-web-01")
    enable(env, "rg-app", (web, [port(22)]))
    initiate(env, "rg-app", request(web, open_port(env, 22)))
    assert jit_rules(env, "rg-app", "nsg-web-01", "allow") == []
    assert request_ports(env, "rg-app") == [("vm-web-01", 22, "Initiated", "UserRequested")]
    env.advance("PT31S")
    assert len(jit_rules(env, "rg-app", "nsg-web-01", "allow")) == 1


# -- Azure Firewall ------------------------------------------------------------------------------------------


def test_firewall_dnat_and_mapped_port(env: Env) -> None:
    vm = env.vm_id("rg-data", "vm-fw-01")
    before = firewall(env)
    fw_ip = env.network().public_ip_addresses.get("rg-data", "pip-fw-hub").ip_address
    ip = private_ip(env, "rg-data", "nic-fw-01")
    enabled = enable(env, "rg-data", (vm, [port(22), port(3389)]))
    assert enabled.virtual_machines[0].public_ip_address == fw_ip
    assert firewall(env)["properties"] == before["properties"]  # the PUT does not touch the firewall
    record = initiate(env, "rg-data", request(vm, open_port(env, 22), open_port(env, 3389)))
    assert [p.mapped_port for p in record.virtual_machines[0].ports] == [50000, 50001]
    collections = firewall(env)["properties"]["natRuleCollections"]
    assert len(collections) == 1 and collections[0]["name"].startswith("MDC-JIT-")
    assert collections[0]["properties"]["priority"] == 100
    rules = collections[0]["properties"]["rules"]
    assert [
        (r["destinationAddresses"], r["destinationPorts"], r["translatedAddress"], r["translatedPort"]) for r in rules
    ] == [
        ([fw_ip], ["50000"], ip, "22"),
        ([fw_ip], ["50001"], ip, "3389"),
    ]
    assert rules[0]["sourceAddresses"] == ["203.0.113.7"]
    logged = env.security().jit_network_access_policies.get("rg-data", LOC, "default").requests[0]
    assert [p.mapped_port for p in logged.virtual_machines[0].ports] == [50000, 50001]
    env.advance("PT2H")
    assert firewall(env)["properties"]["natRuleCollections"] == []


def test_firewall_policy_managed_firewall_without_nsg_is_rejected(env: Env) -> None:
    fw = f"{env.rg_id('rg-data')}/providers/Microsoft.Network/azureFirewalls/fw-hub"
    body = firewall(env)
    body["properties"]["firewallPolicy"] = {
        "id": f"{env.rg_id('rg-data')}/providers/Microsoft.Network/firewallPolicies/fwp"
    }
    assert env.arm("PUT", fw, NETWORK_API, body).status_code == 200
    with pytest.raises(HttpResponseError) as caught:
        enable(env, "rg-data", (env.vm_id("rg-data", "vm-fw-01"), [port(22)]))
    assert (caught.value.status_code, caught.value.error.code) == (400, "FirewallPolicyNotSupported")


# -- validation errors -----------------------------------------------------------------------------------------


def put_error(env: Env, rg: str, body: JitNetworkAccessPolicy, client: SecurityCenter | None = None) -> Any:
    with pytest.raises(HttpResponseError) as caught:
        (client or env.security()).jit_network_access_policies.create_or_update(rg, LOC, "default", body)
    return caught.value


@pytest.mark.parametrize(("tier", "sub_plan"), [("Free", None), ("Standard", "P1")])
def test_defender_for_servers_plan_2_is_required(env: Env, tier: str, sub_plan: str | None) -> None:
    env.security().pricings.update(
        f"subscriptions/{env.sub}", "VirtualMachines", Pricing(pricing_tier=tier, sub_plan=sub_plan)
    )
    error = put_error(env, "rg-app", policy((env.vm_id("rg-app", "vm-web-01"), [port(22)])))
    assert (error.status_code, error.error.code) == (400, "DefenderForServersPlan2Required")
    assert "Plan 2" in error.error.message


def test_classic_vm_is_not_supported(env: Env) -> None:
    classic = f"{env.rg_id('rg-app')}/providers/Microsoft.ClassicCompute/virtualMachines/classic-vm-01"
    error = put_error(env, "rg-app", policy((classic, [port(22)])))
    assert (error.status_code, error.error.code) == (400, "ClassicVmNotSupported")


def test_vm_without_nsg_or_firewall(env: Env) -> None:
    error = put_error(env, "rg-app", policy((env.vm_id("rg-app", "vm-nonsg-01"), [port(22)])))
    assert (error.status_code, error.error.code) == (400, "VirtualMachineMissingNsgOrFirewall")
    assert "Missing NSG or Azure Firewall" in error.error.message


def test_missing_vm(env: Env) -> None:
    error = put_error(env, "rg-app", policy((env.vm_id("rg-app", "vm-ghost"), [port(22)])))
    assert (error.status_code, error.error.code) == (400, "VirtualMachineNotFound")


def test_vm_already_in_another_policy(env: Env) -> None:
    web = env.vm_id("rg-app", "vm-web-01")
    enable(env, "rg-app", (web, [port(22)]), name="first")
    with pytest.raises(HttpResponseError) as caught:
        enable(env, "rg-app", (web, [port(22)]), name="second")
    assert (caught.value.status_code, caught.value.error.code) == (409, "VirtualMachineAlreadyInPolicy")


@pytest.mark.parametrize(
    ("rule", "code"),
    [
        (port(22, duration="PT4M"), "InvalidDuration"),
        (port(22, duration="P2D"), "InvalidDuration"),
        (port(22, protocol="ICMP"), "InvalidInput"),
        (port(70000), "InvalidInput"),
        (port(22, source="10.0.0.1/8"), "InvalidInput"),
    ],
)
def test_invalid_policy_ports(env: Env, rule: JitNetworkAccessPortRule, code: str) -> None:
    error = put_error(env, "rg-app", policy((env.vm_id("rg-app", "vm-web-01"), [rule])))
    assert (error.status_code, error.error.code) == (400, code)


def test_bad_subscription_guid_and_resource_group_name(env: Env) -> None:
    body = policy((env.vm_id("rg-app", "vm-web-01"), [port(22)]))
    bad_sub = put_error(env, "rg-app", body, env.security(sub="not-a-guid"))
    assert (bad_sub.status_code, bad_sub.error.code) == (400, "InvalidSubscriptionId")
    bad_rg = put_error(env, "bad rg!", body)
    assert (bad_rg.status_code, bad_rg.error.code) == (400, "InvalidResourceGroup")
    with pytest.raises(HttpResponseError) as on_get:
        env.security().jit_network_access_policies.get("bad rg!", LOC, "default")
    assert on_get.value.error.code == "InvalidResourceGroup"


def initiate_error(env: Env, body: dict[str, Any], name: str = "default") -> Any:
    with pytest.raises(HttpResponseError) as caught:
        raw_initiate(env, "rg-app", body, name=name)
    return caught.value


@pytest.fixture
def web_policy(env: Env) -> str:
    web = env.vm_id("rg-app", "vm-web-01")
    enable(env, "rg-app", (web, [port(22, source="10.0.0.0/8", duration="PT1H")]))
    return web


def test_initiate_on_a_missing_policy_is_policy_not_found(env: Env, web_policy: str) -> None:
    error = initiate_error(
        env, {"virtualMachines": [{"id": web_policy, "ports": [{"number": 22, "duration": "PT1H"}]}]}, "nope"
    )
    assert isinstance(error, ResourceNotFoundError)
    assert (error.status_code, error.error.code) == (404, "PolicyNotFound")


@pytest.mark.parametrize(
    ("port_body", "fragment"),
    [
        ({"number": 3389, "duration": "PT1H", "allowedSourceAddressPrefix": "10.0.0.1"}, "is not a subset of policy"),
        (
            {"number": 22, "duration": "PT2H", "allowedSourceAddressPrefix": "10.0.0.1"},
            "longer than the maximum 'PT1H'",
        ),
        ({"number": 22, "duration": "PT1H", "allowedSourceAddressPrefix": "192.168.0.1"}, "is not a subset of policy"),
        ({"number": 22, "duration": "PT1H", "allowedSourceAddressPrefix": "*"}, "is not a subset of policy"),
        ({"number": 22, "allowedSourceAddressPrefix": "10.0.0.1"}, "Only one of fields 'EndTimeUtc' and 'Duration'"),
        (
            {
                "number": 22,
                "duration": "PT1H",
                "endTimeUtc": "2099-01-01T00:00:00Z",
                "allowedSourceAddressPrefix": "10.0.0.1",
            },
            "Only one of fields 'EndTimeUtc' and 'Duration'",
        ),
    ],
    ids=["port-outside", "duration-too-long", "source-outside", "any-source", "neither-end-nor-duration", "both"],
)
def test_initiate_validation(env: Env, web_policy: str, port_body: dict[str, Any], fragment: str) -> None:
    error = initiate_error(env, {"virtualMachines": [{"id": web_policy, "ports": [port_body]}]})
    assert (error.status_code, error.error.code) == (400, "InvalidInitiateInput")
    assert fragment in error.error.message


def test_initiate_for_a_vm_not_in_the_policy(env: Env, web_policy: str) -> None:
    other = env.vm_id("rg-app", "vm-win-01")
    error = initiate_error(env, {"virtualMachines": [{"id": other, "ports": [{"number": 22, "duration": "PT1H"}]}]})
    assert (error.status_code, error.error.code) == (400, "InvalidInitiateInput")
    policy_id = f"{env.rg_id('rg-app')}/providers/Microsoft.Security/locations/{LOC}/jitNetworkAccessPolicies/default"
    assert error.error.message.startswith(f"The given access request is not a subset of policy '{policy_id}'.")


def test_vm_deleted_after_enable_keeps_the_policy_usable(env: Env) -> None:
    web, win = env.vm_id("rg-app", "vm-web-01"), env.vm_id("rg-app", "vm-win-01")
    enable(env, "rg-app", (web, [port(22)]), (win, [port(3389)]))
    assert env.arm("DELETE", web, COMPUTE_API).status_code == 200
    # The policy can still be read and rewritten without the deleted VM; its rules go with it.
    enable(env, "rg-app", (win, [port(3389)]))
    assert jit_rules(env, "rg-app", "nsg-web-01", "deny") == []
    assert error_of(env.arm("GET", web, COMPUTE_API))["code"] == "ResourceNotFound"
