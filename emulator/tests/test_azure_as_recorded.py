"""What real Azure answers today (Defender for Cloud's and the Azure CLI's recordings of real traffic), asserted
through the real SDK clients: JIT answers, their provisioning state on the emulator's clock, errors, and the
headers ARM puts on every answer. test_recordings.py replays the recordings themselves.
"""

from __future__ import annotations

import re
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.security.models import (
    JitNetworkAccessPolicy,
    JitNetworkAccessPolicyInitiatePort,
    JitNetworkAccessPolicyInitiateRequest,
    JitNetworkAccessPolicyInitiateVirtualMachine,
    JitNetworkAccessPolicyVirtualMachine,
    JitNetworkAccessPortRule,
)
from conftest import NETWORK_API, Env, error_of

LOC = "westeurope"
GUID = re.compile(r"^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$")
USER = ("ada@contoso.com", "ada-password")


def policy_path(env: Env, rg: str = "rg-app", location: str = LOC, name: str = "default") -> str:
    return f"{env.rg_id(rg)}/providers/Microsoft.Security/locations/{location}/jitNetworkAccessPolicies/{name}"


def policy_body(env: Env, protocol: str = "TCP") -> dict[str, Any]:
    return {
        "kind": "Basic",
        "properties": {
            "virtualMachines": [
                {
                    "id": env.vm_id("rg-app", "vm-web-01"),
                    "ports": [
                        # Sent in another key order than the service's model: it answers in its own.
                        {
                            "maxRequestAccessDuration": "PT3H",
                            "allowedSourceAddressPrefix": "127.0.0.1",
                            "protocol": protocol,
                            "number": 22,
                        }
                    ],
                }
            ]
        },
    }


def test_put_answers_200_updating_with_append_mode_and_no_history(env: Env) -> None:
    path = policy_path(env)
    first = env.arm("PUT", path, "2020-01-01", policy_body(env))
    assert first.status_code == 200 and "Azure-AsyncOperation" not in first.headers
    body = first.json()
    assert list(body) == ["kind", "properties", "id", "name", "type", "location"]
    assert list(body["properties"]) == ["virtualMachines", "requests", "provisioningState", "appendMode"]
    assert body["properties"]["provisioningState"] == "Updating"
    assert body["properties"]["appendMode"] is False and body["properties"]["requests"] == []
    port = body["properties"]["virtualMachines"][0]["ports"][0]
    assert port == {
        "number": 22,
        "protocol": "TCP",  # JIT keeps what was sent; Network would say Tcp
        "allowedSourceAddressPrefix": "127.0.0.1",
        "maxRequestAccessDuration": "PT3H",
    }
    assert list(port) == ["number", "protocol", "allowedSourceAddressPrefix", "maxRequestAccessDuration"]
    # A GET right after still says Updating; after the settle time (jit_settle_seconds) Succeeded.
    assert env.arm("GET", path, "2020-01-01").json()["properties"]["provisioningState"] == "Updating"
    env.advance(f"PT{int(env.emulator.settings['jit_settle_seconds']) + 1}S")
    assert env.arm("GET", path, "2020-01-01").json()["properties"]["provisioningState"] == "Succeeded"
    # The history is kept while PUT answers show none.
    initiated = env.arm(
        "POST",
        path + "/initiate",
        "2020-01-01",
        {"virtualMachines": [{"id": env.vm_id("rg-app", "vm-web-01"), "ports": [{"number": 22, "duration": "PT1H"}]}]},
    )
    assert initiated.status_code == 202
    again = env.arm("PUT", path, "2020-01-01", policy_body(env))
    assert again.status_code == 200 and again.json()["properties"]["requests"] == []
    assert again.json()["properties"]["provisioningState"] == "Updating"
    assert len(env.arm("GET", path, "2020-01-01").json()["properties"]["requests"]) == 1


def test_settle_time_is_a_setting_and_a_world_files_policies_are_settled(env: Env) -> None:
    env.settings(jit_settle_seconds=0)
    answer = env.arm("PUT", policy_path(env), "2020-01-01", policy_body(env))
    assert answer.json()["properties"]["provisioningState"] == "Succeeded"
    world_policy = {
        "id": policy_path(env, name="from-world").replace(env.sub, "${subscription_id}"),
        "body": {
            "properties": {
                "virtualMachines": [
                    {
                        "id": env.vm_id("rg-app", "vm-win-01"),
                        "ports": [
                            {
                                "number": 3389,
                                "protocol": "*",
                                "allowedSourceAddressPrefix": "*",
                                "maxRequestAccessDuration": "PT3H",
                            }
                        ],
                    }
                ]
            }
        },
    }
    env.reset("demo")
    assert env.control("POST", "world", {"world": {"resources": [world_policy]}}).status_code == 200
    shown = env.arm("GET", policy_path(env, name="from-world"), "2020-01-01").json()
    assert shown["properties"]["provisioningState"] == "Succeeded"  # it existed before: not Updating


def test_ids_keep_the_requests_casing_and_location_is_lower_case(env: Env) -> None:
    upper = policy_path(env, rg="RG-APP", location="WestEurope")
    body = env.arm("PUT", upper, "2020-01-01", policy_body(env)).json()
    assert (body["id"], body["location"]) == (upper, "westeurope")
    lower = policy_path(env)
    assert env.arm("PUT", lower, "2020-01-01", policy_body(env)).json()["id"] == lower


def test_missing_policy_is_404_policy_not_found_naming_the_full_id_as_asked(env: Env) -> None:
    asked = policy_path(env, rg="RG-App", name="Nope")
    for method, path in (("GET", asked), ("POST", asked + "/initiate")):
        answer = env.arm(method, path, "2020-01-01", {"virtualMachines": []} if method == "POST" else None)
        assert answer.status_code == 404
        assert error_of(answer) == {
            "code": "PolicyNotFound",
            "message": f"Just-In-Time Network Access Policy '{asked}' does not exist.",
        }
    with_sdk = env.security().jit_network_access_policies
    try:
        with_sdk.get("rg-app", LOC, "nope")
    except ResourceNotFoundError as err:
        assert err.error is not None and err.error.code == "PolicyNotFound"
    else:
        raise AssertionError("a missing policy must be 404")


def test_delete_is_200_with_an_empty_body(env: Env) -> None:
    path = policy_path(env)
    env.arm("PUT", path, "2020-01-01", policy_body(env))
    deleted = env.arm("DELETE", path, "2020-01-01")
    assert deleted.status_code == 200
    assert deleted.headers["Content-Length"] == "0" and deleted.text() == ""
    assert "x-ms-ratelimit-remaining-subscription-deletes" in deleted.headers


def test_initiate_answers_initiating_the_policy_says_initiated(env: Env) -> None:
    made = env.control(
        "POST",
        "principals",
        {
            "kind": "User",
            "user_principal_name": USER[0],
            "password": USER[1],
            "display_name": "Ada Lovelace",
            "roles": [{"role": "Owner", "scope": f"/subscriptions/{env.sub}"}],
        },
    )
    assert made.status_code == 201, made.text
    web = env.vm_id("rg-app", "vm-web-01")
    ops = env.security().jit_network_access_policies
    ops.create_or_update(
        "rg-app",
        LOC,
        "default",
        JitNetworkAccessPolicy(
            kind="Basic",
            virtual_machines=[
                JitNetworkAccessPolicyVirtualMachine(
                    id=web,
                    ports=[
                        JitNetworkAccessPortRule(
                            number=22,
                            protocol="*",
                            allowed_source_address_prefix="*",
                            max_request_access_duration="PT3H",
                        )
                    ],
                )
            ],
        ),
    )
    body = JitNetworkAccessPolicyInitiateRequest(
        virtual_machines=[
            JitNetworkAccessPolicyInitiateVirtualMachine(
                id=web, ports=[JitNetworkAccessPolicyInitiatePort(number=22, end_time_utc=_in_an_hour(env))]
            )
        ]
    )
    by_user = env.security(USER).jit_network_access_policies.initiate("rg-app", LOC, "default", body)
    assert [(p.status, p.status_reason) for p in by_user.virtual_machines[0].ports] == [("Initiating", "UserRequested")]
    assert by_user.requestor == USER[0]  # a user: the sign-in name
    assert by_user.virtual_machines[0].ports[0].allowed_source_address_prefix == "127.0.0.1"  # "My IP"
    assert by_user.justification is None
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$", _raw_start(env))
    by_app = ops.initiate("rg-app", LOC, "default", body)
    assert by_app.requestor == ""  # a service principal: empty
    history = ops.get("rg-app", LOC, "default").requests
    assert [(r.requestor, r.virtual_machines[0].ports[0].status) for r in history] == [
        (USER[0], "Revoked"),
        ("", "Initiated"),
    ]


def _in_an_hour(env: Env) -> Any:
    from datetime import datetime, timedelta

    now = datetime.fromisoformat(env.control("GET", "clock").json()["now"].replace("Z", "+00:00"))
    return now + timedelta(hours=1)


def _raw_start(env: Env) -> str:
    """startTimeUtc as the wire carries it (the SDK model parses it into a datetime)."""
    raw = env.arm("GET", policy_path(env), "2020-01-01").json()
    return str(raw["properties"]["requests"][-1]["startTimeUtc"])


def test_initiate_outside_the_policy_gets_azures_message(env: Env) -> None:
    path = policy_path(env)
    env.arm("PUT", path, "2020-01-01", policy_body(env))
    web = env.vm_id("rg-app", "vm-web-01")
    answer = env.arm(
        "POST",
        path + "/initiate",
        "2020-01-01",
        {"virtualMachines": [{"id": web, "ports": [{"number": 3389, "duration": "PT1H"}]}]},
    )
    assert answer.status_code == 400
    assert error_of(answer)["message"] == (
        f"The given access request is not a subset of policy '{path}'. "
        "Please make sure that the access request is within the allowed policy properties."
    )
    try:
        env.security().jit_network_access_policies.initiate(
            "rg-app",
            LOC,
            "default",
            JitNetworkAccessPolicyInitiateRequest(
                virtual_machines=[
                    JitNetworkAccessPolicyInitiateVirtualMachine(
                        id=web,
                        ports=[
                            JitNetworkAccessPolicyInitiatePort(
                                number=22, end_time_utc=_in_an_hour(env), allowed_source_address_prefix="10.0.0.1"
                            )
                        ],
                    )
                ]
            ),
        )
    except HttpResponseError as err:
        assert err.status_code == 400 and "is not a subset of policy" in str(err.message)
    else:
        raise AssertionError("a source outside the policy must be refused")


def test_pricing_put_normalises_the_tier_and_answers_200(env: Env) -> None:
    path = f"/subscriptions/{env.sub}/providers/Microsoft.Security/pricings/VirtualMachines"
    answer = env.arm("PUT", path, "2023-01-01", {"properties": {"pricingTier": "free"}})
    assert answer.status_code == 200 and answer.json()["properties"]["pricingTier"] == "Free"
    assert answer.headers["x-ms-ratelimit-remaining-subscription-resource-requests"]


def _quota(headers: Any) -> list[str]:
    return [k.lower() for k in headers if k.lower().startswith("x-ms-ratelimit-remaining-subscription-")]


def test_headers_on_every_arm_answer(env: Env) -> None:
    path = policy_path(env)
    nsg = f"{env.rg_id('rg-app')}/providers/Microsoft.Network/networkSecurityGroups/nsg-web-01"
    web = env.vm_id("rg-app", "vm-web-01")
    calls = [
        ("PUT", path, "2020-01-01", policy_body(env), "writes", ""),
        ("GET", path, "2020-01-01", None, "resource-requests", ""),
        (
            "POST",
            path + "/initiate",
            "2020-01-01",
            {"virtualMachines": [{"id": web, "ports": [{"number": 22, "duration": "PT1H"}]}]},
            "writes",
            "",
        ),
        (
            "GET",
            f"/subscriptions/{env.sub}/providers/Microsoft.Security/jitNetworkAccessPolicies",
            "2020-01-01",
            None,
            "resource-requests",
            "correlation",
        ),
        ("DELETE", path, "2020-01-01", None, "deletes", ""),
        ("GET", nsg, NETWORK_API, None, "reads", "guid"),
        ("GET", policy_path(env, name="missing"), "2020-01-01", None, "resource-requests", ""),  # errors too
        (
            "GET",
            f"{env.rg_id('rg-app')}/providers/Microsoft.Network/networkSecurityGroups/none",
            NETWORK_API,
            None,
            "reads",
            "guid",
        ),
    ]
    for method, url, version, body, quota, request_id in calls:
        answer = env.arm(method, url, version, body)
        headers = answer.headers
        correlation = headers["x-ms-correlation-request-id"]
        assert GUID.match(correlation), (method, url)
        assert headers["Cache-Control"] == "no-cache"
        routing = headers["x-ms-routing-request-id"]
        assert re.match(rf"^WESTEUROPE:\d{{8}}T\d{{6}}Z:{correlation}$", routing), routing
        assert _quota(headers) == [f"x-ms-ratelimit-remaining-subscription-{quota}"], (method, url)
        expected_id = {"": "", "correlation": correlation}.get(request_id)
        if expected_id is None:
            assert GUID.match(headers["x-ms-request-id"]) and headers["x-ms-request-id"] != correlation
        else:
            assert headers["x-ms-request-id"] == expected_id, (method, url)


# -- rule names: today's by default, the pre-2023 ones per subscription or NSG --------------------------------

CURRENT_DENY = re.compile(r"^MicrosoftDefenderForCloud-JITRule_(-?\d+)_[0-9A-F]{32}$")
LEGACY_DENY = re.compile(r"^SecurityCenter-JITRule_(-?\d+)_[0-9A-F]{32}$")
CURRENT_ALLOW = re.compile(r"^MicrosoftDefenderForCloud-JITRule-(-?\d+)-[0-9A-F]{32}$")
LEGACY_ALLOW = re.compile(r"^SecurityCenter-JITRule-(-?\d+)-[0-9A-F]{32}$")


def _jit(env: Env, nsg: str) -> list[dict[str, Any]]:
    body = env.arm("GET", f"{env.rg_id('rg-app')}/providers/Microsoft.Network/networkSecurityGroups/{nsg}", NETWORK_API)
    return [r for r in body.json()["properties"]["securityRules"] if "JITRule" in r["name"]]


def _enable(env: Env, *ports: int) -> None:
    both = env.vm_id("rg-app", "vm-both-01")
    body = {
        "kind": "Basic",
        "properties": {
            "virtualMachines": [
                {
                    "id": both,
                    "ports": [
                        {
                            "number": n,
                            "protocol": "*",
                            "allowedSourceAddressPrefix": "*",
                            "maxRequestAccessDuration": "PT3H",
                        }
                        for n in ports
                    ],
                }
            ]
        },
    }
    assert env.arm("PUT", policy_path(env), "2020-01-01", body).status_code == 200


def test_legacy_names_per_subscription_and_per_nsg_and_mixed_nsgs(env: Env) -> None:
    both_nsg = f"{env.rg_id('rg-app')}/providers/Microsoft.Network/networkSecurityGroups/nsg-both-01"
    assert env.control("GET", "rule-naming").json()["default"] == "current"
    naming = {"subscriptions": {env.sub: "legacy"}, "network_security_groups": {both_nsg: "current"}}
    assert env.control("PUT", "rule-naming", naming).status_code == 200
    assert env.control("PUT", "rule-naming", {"default": "old"}).status_code == 400
    _enable(env, 22)  # vm-both-01 sits behind nsg-both-01 (NIC) and nsg-snet-web (subnet)
    (current,) = _jit(env, "nsg-both-01")
    (legacy,) = _jit(env, "nsg-snet-web")
    current_int = CURRENT_DENY.match(current["name"])
    legacy_int = LEGACY_DENY.match(legacy["name"])
    assert current_int and legacy_int and current_int[1] == legacy_int[1]  # one VM, one int
    assert current["properties"]["description"].startswith("MDC JIT Network Access rule for policy 'default'")
    assert legacy["properties"]["description"] == "ASC JIT Network Access rule for policy 'default' of VM 'vm-both-01'."
    answer = env.arm(
        "POST",
        policy_path(env) + "/initiate",
        "2020-01-01",
        {"virtualMachines": [{"id": env.vm_id("rg-app", "vm-both-01"), "ports": [{"number": 22, "duration": "PT1H"}]}]},
    )
    assert answer.status_code == 202
    allow_current = next(r["name"] for r in _jit(env, "nsg-both-01") if r["properties"]["access"] == "Allow")
    allow_legacy = next(r["name"] for r in _jit(env, "nsg-snet-web") if r["properties"]["access"] == "Allow")
    assert CURRENT_ALLOW.match(allow_current)[1] == current_int[1]  # type: ignore[index]
    assert LEGACY_ALLOW.match(allow_legacy)[1] == current_int[1]  # type: ignore[index]
    # The subscription moves to today's names: kept rules keep theirs, new ones get today's: a mixed NSG.
    assert env.control("PUT", "rule-naming", {}).status_code == 200
    _enable(env, 22, 3389)
    denies = {
        r["properties"]["destinationPortRange"]: r["name"]
        for r in _jit(env, "nsg-snet-web")
        if r["properties"]["access"] == "Deny"
    }
    assert LEGACY_DENY.match(denies["22"]) and CURRENT_DENY.match(denies["3389"])
    assert env.arm("DELETE", policy_path(env), "2020-01-01").status_code == 200
    assert _jit(env, "nsg-snet-web") == [] and _jit(env, "nsg-both-01") == []


def test_a_world_file_selects_the_naming_before_its_resources(env: Env) -> None:
    world = {
        "rule_naming": {"subscriptions": {"${subscription_id}": "legacy"}},
        "resources": [
            {
                "id": policy_path(env).replace(env.sub, "${subscription_id}"),
                "body": {
                    "properties": {
                        "virtualMachines": [
                            {
                                "id": env.vm_id("rg-app", "vm-web-01"),
                                "ports": [
                                    {
                                        "number": 22,
                                        "protocol": "*",
                                        "allowedSourceAddressPrefix": "*",
                                        "maxRequestAccessDuration": "PT3H",
                                    }
                                ],
                            }
                        ]
                    }
                },
            }
        ],
    }
    assert env.control("POST", "world", {"world": world}).status_code == 200
    (deny,) = _jit(env, "nsg-web-01")
    assert LEGACY_DENY.match(deny["name"]) and deny["properties"]["priority"] == 4096
    assert env.control("GET", "rule-naming").json()["subscriptions"] == {env.sub: "legacy"}
