"""Replay of the public REST spec examples (`../shared/conformance`): each example's `parameters` go to the
emulator as URL, query and body; the answer is compared with `responses.<code>.body` field by field.

A difference passes only when a named allowance of that example covers it. The allowances are the quirks
that `shared/reference/jit-api.md` §2 lists for the JIT examples, server-generated times, and what the
pricing examples show that no request in the example could have produced (say which, and why, below).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from conftest import Env, conformance_dir

SUB = "20ff7fc3-e762-44dd-bd96-b71116dcdc23"
OTHER_SUB_IN_EXAMPLES = "d34fd44c-ebfa-4a9c-bceb-9eeafe72ac15"  # stitched into the pricing list examples
INITIATE_EXAMPLE_SUB = "3eeab341-f466-499c-a8be-85427e154baf"  # the Initiate 202 names a VM there
# A user (the examples' requestor), signing in with her name and password.
BARBARA = ("barbara@contoso.com", "barbara-password", "0b1e5c37-0000-4000-8000-0000000bab01")
RG1 = f"/subscriptions/{SUB}/resourceGroups/myRg1"
NET1 = f"{RG1}/providers/Microsoft.Network"
VM1 = f"{RG1}/providers/Microsoft.Compute/virtualMachines/vm1"
VM_1 = f"/subscriptions/{SUB}/resourceGroups/DEMO/providers/Microsoft.Compute/virtualMachines/VM-1"
SUBNET = f"{NET1}/virtualNetworks/vnet1/subnets/default"

# The subscription and resources the examples refer to, and barbara@contoso.com, the examples' requestor.
WORLD: dict[str, Any] = {
    "settings": {"home_location": "centralus"},
    "principals": [
        {
            "kind": "User",
            "user_principal_name": BARBARA[0],
            "password": BARBARA[1],
            "object_id": BARBARA[2],
            "display_name": "barbara@contoso.com",
            "roles": [{"role": "Owner", "scope": f"/subscriptions/{SUB}"}],
        }
    ],
    "resources": [
        {"id": f"/subscriptions/{SUB}", "body": {"displayName": "conformance"}},
        {
            "id": f"/subscriptions/{SUB}/providers/Microsoft.Security/pricings/VirtualMachines",
            "body": {"properties": {"pricingTier": "Standard", "subPlan": "P2"}},
        },
        {"id": RG1, "body": {"location": "westeurope"}},
        {"id": f"{NET1}/networkSecurityGroups/nsg1", "body": {"location": "westeurope"}},
        {
            "id": f"{NET1}/virtualNetworks/vnet1",
            "body": {
                "location": "westeurope",
                "properties": {
                    "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                    "subnets": [
                        {
                            "name": "default",
                            "properties": {
                                "addressPrefix": "10.0.0.0/24",
                                "networkSecurityGroup": {"id": f"{NET1}/networkSecurityGroups/nsg1"},
                            },
                        }
                    ],
                },
            },
        },
        *(
            {
                "id": f"{rg}/providers/Microsoft.Network/networkInterfaces/{nic}",
                "body": {
                    "location": "westeurope",
                    "properties": {
                        "ipConfigurations": [{"name": "ipconfig1", "properties": {"subnet": {"id": SUBNET}}}]
                    },
                },
            }
            for rg, nic in ((RG1, "nic1"), (f"/subscriptions/{SUB}/resourceGroups/DEMO", "nic-vm-1"))
        ),
        {"id": f"/subscriptions/{SUB}/resourceGroups/DEMO", "body": {"location": "westeurope"}},
        *(
            {
                "id": vm,
                "body": {
                    "location": "westeurope",
                    "properties": {
                        "storageProfile": {"osDisk": {"osType": "Windows"}},
                        "networkProfile": {"networkInterfaces": [{"id": nic}]},
                    },
                },
            }
            for vm, nic in (
                (VM1, f"{NET1}/networkInterfaces/nic1"),
                (
                    VM_1,
                    f"/subscriptions/{SUB}/resourceGroups/DEMO/providers/Microsoft.Network/networkInterfaces/nic-vm-1",
                ),
            )
        ),
    ],
}
# The DEMO group must exist before its NIC: put it right after myRg1's network.
WORLD["resources"].sort(key=lambda r: 0 if r["id"].count("/") <= 4 else 1)

POLICY_PATH = (
    "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Security/locations/"
    "{ascLocation}/jitNetworkAccessPolicies/{jitNetworkAccessPolicyName}"
)
PRICING_PATH = "/{scopeId}/providers/Microsoft.Security/pricings/{pricingName}"
PRICING_PATH_2018 = "/subscriptions/{subscriptionId}/providers/Microsoft.Security/pricings/{pricingName}"
PRICINGS_PATH_2018 = "/subscriptions/{subscriptionId}/providers/Microsoft.Security/pricings"
PRICINGS_PATH = "/{scopeId}/providers/Microsoft.Security/pricings"


# -- allowances ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Allowance:
    """A named, explained tolerance for one kind of difference (`covers(path, expected, actual)`)."""

    name: str
    why: str
    covers: Callable[[str, Any, Any], bool]


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not re.match(r"^\d{4}-\d\d-\d\dT", value):
        return None
    frac = re.sub(r"\.(\d{1,6})\d*", r".\1", value.replace("Z", "+00:00"))
    try:
        return datetime.fromisoformat(frac)
    except ValueError:
        return None


def _close_times(expected: Any, actual: Any) -> bool:
    a, b = _time(expected), _time(actual)
    return a is not None and b is not None and abs(a - b) < timedelta(seconds=60)


UPDATING_AFTER_PUT = Allowance(
    "updating-after-put",
    "the Create example answers provisioningState Succeeded; real PUTs answer Updating (Defender for Cloud's"
    " PowerShell recordings, replayed in test_recordings.py), and so does the emulator until the policy settles.",
    lambda path, e, a: path.endswith(".provisioningState") and (e, a) == ("Succeeded", "Updating"),
)
PUT_ANSWER_WITHOUT_HISTORY = Allowance(
    "put-answer-shows-no-history",
    "the Create example echoes the request history it sent; real PUT answers show `requests: []` while the"
    " service keeps the history (recorded), which the emulator does too (a GET shows it).",
    lambda path, e, a: re.search(r"\.properties\.requests\[\d+\]$", path) is not None and a is _MISSING,
)
APPEND_MODE = Allowance(
    "append-mode-not-in-examples",
    "every real policy carries `appendMode: false` (recorded since 2020); the examples were written before it.",
    lambda path, e, a: path.endswith(".properties.appendMode") and e is _MISSING and a is False,
)
WRONG_SUBSCRIPTION = Allowance(
    "initiate-vm-in-another-subscription",
    "jit-api.md §2: the Initiate 202 names the VM in subscription 3eeab341-…, not the request's; the emulator echoes"
    " the requested VM.",
    lambda path, e, a: path.endswith(".id") and isinstance(e, str) and e.replace(INITIATE_EXAMPLE_SUB, SUB) == a,
)
START_TIME = Allowance(
    "server-generated-start-time",
    "startTimeUtc is the time the emulator served the initiate; the clock was set to the example's start, so it"
    " may differ by the milliseconds the call took.",
    lambda path, e, a: path.endswith("startTimeUtc") and _close_times(e, a),
)
END_TIME_FROM_DURATION = Allowance(
    "server-generated-end-time",
    "with `duration` (jit-api.md §2: not in the schema, accepted as the portal sends it) endTimeUtc is start +"
    " duration on the emulator's clock; its exact span is asserted separately.",
    lambda path, e, a: path.endswith("endTimeUtc") and _close_times(e, a),
)
ENABLEMENT_TIME = Allowance(
    "server-generated-enablement-time",
    "enablementTime is when the plan was switched on in this emulator.",
    lambda path, e, a: path.endswith("enablementTime") and _close_times(e, e) and _time(a) is not None,
)
COVERAGE = Allowance(
    "coverage-depends-on-unseen-resources",
    "the example reports VirtualMachines PartiallyCovered because of resources it does not show; the emulator"
    " computes coverage from the resource-level plans it holds (none differ here).",
    lambda path, e, a: path.endswith("resourcesCoverageStatus") and (e, a) == ("PartiallyCovered", "FullyCovered"),
)
OTHER_SUBSCRIPTION = Allowance(
    "example-mixes-subscriptions",
    f"the list examples mix entries of subscription {OTHER_SUB_IN_EXAMPLES} into a list scoped to {SUB}; a"
    " subscription-scoped list only holds its own subscription's plans.",
    lambda path, e, a: path.endswith(".id") and isinstance(e, str) and e.replace(OTHER_SUB_IN_EXAMPLES, SUB) == a,
)
NEWER_PLANS = Allowance(
    "plans-newer-than-the-example",
    "the emulator also lists CosmosDbs and Api, plans added after the example was written.",
    lambda path, e, a: e is _MISSING and isinstance(a, dict) and a.get("name") in ("CosmosDbs", "Api"),
)
DEFAULT_EXTENSIONS = Allowance(
    "service-default-extensions",
    "the PUT examples answer with extensions (and their operationStatus) that the request did not send: the"
    " service's defaults per plan, which are not documented; the emulator returns the extensions a client sent.",
    lambda path, e, a: path.endswith(".extensions") and a is _MISSING and isinstance(e, list),
)

FREE_TRIAL_OMITTED = Allowance(
    "free-trial-time-omitted-by-example",
    "the 2018-06-01 Put and List examples leave out freeTrialRemainingTime (read-only), which the Get example of"
    " the same version shows; the emulator answers every read and write with the body a GET gives.",
    lambda path, e, a: path.endswith(".freeTrialRemainingTime") and e is _MISSING and a == "PT0S",
)
PLANS_AFTER_2018 = Allowance(
    "plans-newer-than-the-2018-example",
    "the 2018-06-01 List example shows the four plans of its day; the service lists every current plan whatever"
    " the api-version (in that version's shape), and so does the emulator.",
    lambda path, e, a: (
        e is _MISSING
        and isinstance(a, dict)
        and a.get("name") not in ("VirtualMachines", "SqlServers", "AppServices", "StorageAccounts")
        and set(a.get("properties", {})) <= {"pricingTier", "freeTrialRemainingTime"}
    ),
)

DNS_DEPRECATED = Allowance(
    "dns-deprecated-after-the-example",
    "the Dns plan is deprecated and replaced by VirtualMachines in real answers since 2023 (the Azure CLI's"
    " pricing recording, replayed in test_recordings.py); the examples were written before.",
    lambda path, e, a: (
        (path.endswith(".deprecated") and e is _MISSING and a is True)
        or (path.endswith(".replacedBy") and e is _MISSING and a == ["VirtualMachines"])
    ),
)

_MISSING: Any = type("Missing", (), {"__repr__": lambda self: "<missing>"})()


def differences(expected: Any, actual: Any, path: str = "$") -> Iterator[tuple[str, Any, Any]]:
    """Every leaf where the two JSON values differ: (path, expected, actual); absent members are _MISSING."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in [*expected, *(k for k in actual if k not in expected)]:
            yield from differences(expected.get(key, _MISSING), actual.get(key, _MISSING), f"{path}.{key}")
    elif isinstance(expected, list) and isinstance(actual, list):
        for index in range(max(len(expected), len(actual))):
            e = expected[index] if index < len(expected) else _MISSING
            a = actual[index] if index < len(actual) else _MISSING
            yield from differences(e, a, f"{path}[{index}]")
    elif expected != actual or type(expected) is not type(actual):
        yield path, expected, actual


def assert_conforms(expected: Any, actual: Any, allowances: tuple[Allowance, ...]) -> set[str]:
    """Fail on any difference no allowance covers; return the names of the allowances that were needed."""
    used: set[str] = set()
    unexplained = []
    for path, e, a in differences(expected, actual):
        allowance = next((x for x in allowances if x.covers(path, e, a)), None)
        if allowance is None:
            unexplained.append(f"{path}: expected {e!r}, got {a!r}")
        else:
            used.add(allowance.name)
    assert not unexplained, "differences no allowance covers:\n" + "\n".join(unexplained)
    return used


# -- replaying an example ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestQuirk:
    name: str
    why: str
    present: Callable[[dict[str, Any]], bool]


READ_ONLY_IN_PUT = RequestQuirk(
    "read-only-fields-in-put-body",
    "jit-api.md §2: the mainline Create example PUTs id, name, type, location and provisioningState; the emulator"
    " ignores read-only fields, as ARM does, and fills them itself.",
    lambda parameters: (
        {"id", "name", "type", "location"} <= set(parameters["body"])
        and "provisioningState" in parameters["body"]["properties"]
    ),
)
DURATION_IN_INITIATE = RequestQuirk(
    "duration-not-in-schema",
    "jit-api.md §2: the Initiate example sends `duration` (not in the swagger; the portal sends it, and the service"
    " takes it instead of endTimeUtc, Azure/azure-rest-api-specs#43491).",
    lambda parameters: "duration" in parameters["body"]["virtualMachines"][0]["ports"][0],
)


@dataclass
class Case:
    file: str
    method: str
    template: str
    allowances: tuple[Allowance, ...] = ()
    prepare: Callable[[Env, dict[str, Any]], None] | None = None
    # Responses to replay in order (the Delete example shows 200 and then, for the same call, 204).
    codes: tuple[str, ...] = ()
    check: Callable[[dict[str, Any], Any], None] | None = None
    body_parameter: str = "body"
    # Quirks of the example's request (not of its answer) that the emulator accepts: each is checked to be
    # present in the request, and the answer is then compared as usual.
    request_quirks: tuple[RequestQuirk, ...] = ()


def load(relative: str) -> dict[str, Any]:
    return json.loads((conformance_dir() / relative).read_text())


def url_of(template: str, parameters: dict[str, Any]) -> tuple[str, dict[str, str]]:
    used: set[str] = set()

    def fill(match: re.Match[str]) -> str:
        used.add(match[1])
        value = str(parameters[match[1]])
        return value if match[1] == "scopeId" else quote(value, safe="")  # scopeId is x-ms-skip-url-encoding

    path = re.sub(r"\{(\w+)\}", fill, template)
    query = {k: str(v) for k, v in parameters.items() if k not in used and not isinstance(v, (dict, list))}
    return path, query


def send(env: Env, case: Case, parameters: dict[str, Any]) -> Any:
    path, query = url_of(case.template, parameters)
    api_version = query.pop("api-version")
    body = parameters.get(case.body_parameter)
    return env.arm(case.method, path, api_version, body, principal=BARBARA, params=query)


def put_policy(env: Env, body: dict[str, Any]) -> None:
    path = POLICY_PATH.format(
        subscriptionId=SUB, resourceGroupName="myRg1", ascLocation="westeurope", jitNetworkAccessPolicyName="default"
    )
    response = env.arm("PUT", path, "2020-01-01", body, principal=BARBARA)
    assert response.status_code == 200, response.text()


def policy_as_stored(env: Env, example: dict[str, Any]) -> None:
    """The policy the Get/List examples show, created first through the API (a PUT of exactly that body),
    read once it has settled (the examples show an older policy: Succeeded)."""
    shown = example["responses"]["200"]["body"]
    put_policy(env, shown["value"][0] if "value" in shown else shown)
    env.advance(f"PT{int(env.emulator.settings['jit_settle_seconds']) + 1}S")


def policy_for_initiate(env: Env, example: dict[str, Any]) -> None:
    put_policy(env, load("jit-examples/CreateJitNetworkAccessPolicy_example.json")["parameters"]["body"])
    start = example["responses"]["202"]["body"]["startTimeUtc"]
    response = env.control("POST", "clock", {"set": re.sub(r"(\.\d{6})\d+", r"\1", start)})
    assert response.status_code == 200


def one_hour(example: dict[str, Any], answer: Any) -> None:
    port = answer["virtualMachines"][0]["ports"][0]
    span = _time(port["endTimeUtc"]) - _time(answer["startTimeUtc"])  # type: ignore[operator]
    assert span == timedelta(hours=1)  # duration PT1H


def pricings_as_listed(env: Env, example: dict[str, Any]) -> None:
    """Each plan of a list example set to what the example shows, through PUTs at the list's scope."""
    parameters = example["parameters"]
    scope = parameters.get("scopeId") or f"subscriptions/{parameters['subscriptionId']}"  # 2018-06-01: no scope
    for item in example["responses"]["200"]["body"]["value"]:
        props = item["properties"]
        if "inherited" in props:
            continue  # a resource-level list: the plans come from the subscription (see sub_pricing)
        wanted = {k: props[k] for k in ("pricingTier", "subPlan", "enforce", "extensions") if k in props}
        put_pricing(env, scope, item["name"], wanted)


def put_pricing(env: Env, scope: str, name: str, properties: dict[str, Any]) -> None:
    response = env.arm(
        "PUT",
        PRICING_PATH.format(scopeId=scope, pricingName=name),
        "2024-01-01",
        {"properties": properties},
        principal=BARBARA,
    )
    assert response.status_code in (200, 201), response.text()


def pricing_as_shown(env: Env, example: dict[str, Any]) -> None:
    """The plan a Get example shows, set at the subscription (a resource-level one inherits from there)."""
    body = example["responses"]["200"]["body"]
    props = body["properties"]
    wanted = {k: props[k] for k in ("pricingTier", "subPlan", "enforce", "extensions") if k in props}
    put_pricing(env, f"subscriptions/{SUB}", body["name"], wanted)


def resource_pricing_first(env: Env, example: dict[str, Any]) -> None:
    put_pricing(
        env,
        example["parameters"]["scopeId"],
        example["parameters"]["pricingName"],
        {"pricingTier": "Standard", "subPlan": "P1"},
    )


def vm_pricing_as_inherited(env: Env, example: dict[str, Any]) -> None:
    vm = example["responses"]["200"]["body"]["value"][0]["properties"]
    put_pricing(
        env, f"subscriptions/{SUB}", "VirtualMachines", {k: vm[k] for k in ("pricingTier", "subPlan", "extensions")}
    )


JIT_POLICY_LIST = "jit-examples/GetJitNetworkAccessPolicies{}_example.json"
CASES = [
    Case(
        "jit-examples/CreateJitNetworkAccessPolicy_example.json",
        "PUT",
        POLICY_PATH,
        allowances=(UPDATING_AFTER_PUT, PUT_ANSWER_WITHOUT_HISTORY, APPEND_MODE),
        request_quirks=(READ_ONLY_IN_PUT,),
    ),
    Case(
        "jit-examples/variants/CreateJitNetworkAccessPolicy_example.variant-056ae337.json",
        "PUT",
        POLICY_PATH,
        allowances=(UPDATING_AFTER_PUT, PUT_ANSWER_WITHOUT_HISTORY, APPEND_MODE),
    ),
    Case(
        "jit-examples/GetJitNetworkAccessPolicy_example.json",
        "GET",
        POLICY_PATH,
        allowances=(APPEND_MODE,),
        prepare=policy_as_stored,
    ),
    Case(
        JIT_POLICY_LIST.format("Subscription"),
        "GET",
        "/subscriptions/{subscriptionId}/providers/Microsoft.Security/jitNetworkAccessPolicies",
        allowances=(APPEND_MODE,),
        prepare=policy_as_stored,
    ),
    Case(
        JIT_POLICY_LIST.format("SubscriptionLocation"),
        "GET",
        "/subscriptions/{subscriptionId}/providers/Microsoft.Security/locations/{ascLocation}/jitNetworkAccessPolicies",
        allowances=(APPEND_MODE,),
        prepare=policy_as_stored,
    ),
    Case(
        JIT_POLICY_LIST.format("ResourceGroup"),
        "GET",
        "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Security/jitNetworkAccessPolicies",
        allowances=(APPEND_MODE,),
        prepare=policy_as_stored,
    ),
    Case(
        JIT_POLICY_LIST.format("ResourceGroupLocation"),
        "GET",
        "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Security/locations/{ascLocation}/jitNetworkAccessPolicies",
        allowances=(APPEND_MODE,),
        prepare=policy_as_stored,
    ),
    Case(
        "jit-examples/DeleteJitNetworkAccessPolicy_example.json",
        "DELETE",
        POLICY_PATH,
        prepare=lambda env, ex: put_policy(
            env, load("jit-examples/CreateJitNetworkAccessPolicy_example.json")["parameters"]["body"]
        ),
        codes=("200", "204"),
    ),
    Case(
        "jit-examples/InitiateJitNetworkAccessPolicy_example.json",
        "POST",
        POLICY_PATH + "/{jitNetworkAccessPolicyInitiateType}",
        allowances=(WRONG_SUBSCRIPTION, START_TIME, END_TIME_FROM_DURATION),
        prepare=policy_for_initiate,
        check=one_hour,
        request_quirks=(DURATION_IN_INITIATE,),
    ),
    Case(
        "jit-examples/variants/InitiateJitNetworkAccessPolicy_example.variant-056ae337.json",
        "POST",
        POLICY_PATH + "/{jitNetworkAccessPolicyInitiateType}",
        allowances=(WRONG_SUBSCRIPTION, START_TIME),  # endTimeUtc given: echoed exactly, 7 digits
        prepare=policy_for_initiate,
    ),
    Case(
        "locations/GetLocations_example.json",
        "GET",
        "/subscriptions/{subscriptionId}/providers/Microsoft.Security/locations",
    ),
    Case(
        "locations/GetLocation_example.json",
        "GET",
        "/subscriptions/{subscriptionId}/providers/Microsoft.Security/locations/{ascLocation}",
    ),
    Case(
        "pricings/2024-01-01/GetPricingByNameVirtualMachines_example.json",
        "GET",
        PRICING_PATH,
        allowances=(ENABLEMENT_TIME, COVERAGE),
        prepare=pricing_as_shown,
    ),
    Case(
        "pricings/2024-01-01/GetPricingByNameDns_example.json",
        "GET",
        PRICING_PATH,
        allowances=(ENABLEMENT_TIME, DNS_DEPRECATED),
        prepare=pricing_as_shown,
    ),
    Case(
        "pricings/2024-01-01/GetPricingByNameCloudPosture_example.json",
        "GET",
        PRICING_PATH,
        allowances=(ENABLEMENT_TIME,),
        prepare=pricing_as_shown,
    ),
    Case(
        "pricings/2024-01-01/GetResourcePricingByNameVirtualMachines_example.json",
        "GET",
        PRICING_PATH,
        allowances=(ENABLEMENT_TIME,),
        prepare=pricing_as_shown,
    ),
    Case(
        "pricings/2024-01-01/PutPricingVMsByName_example.json",
        "PUT",
        PRICING_PATH,
        allowances=(ENABLEMENT_TIME, DEFAULT_EXTENSIONS),
        body_parameter="pricing",
    ),
    Case(
        "pricings/2024-01-01/PutResourcePricingByNameVirtualMachines_example.json",
        "PUT",
        PRICING_PATH,
        allowances=(ENABLEMENT_TIME, DEFAULT_EXTENSIONS),
        body_parameter="pricing",
    ),
    Case(
        "pricings/2024-01-01/PutPricingByName_example.json",
        "PUT",
        PRICING_PATH,
        allowances=(ENABLEMENT_TIME, DEFAULT_EXTENSIONS),
        body_parameter="pricing",
    ),
    Case(
        "pricings/2024-01-01/PutPricingByNamePartialSuccess_example.json",
        "PUT",
        PRICING_PATH,
        allowances=(ENABLEMENT_TIME, DEFAULT_EXTENSIONS),
        body_parameter="pricing",
    ),
    Case(
        "pricings/2024-01-01/DeleteResourcePricing_example.json",
        "DELETE",
        PRICING_PATH,
        prepare=resource_pricing_first,
        codes=("200", "204"),
    ),
    Case(
        "pricings/2024-01-01/ListPricings_example.json",
        "GET",
        PRICINGS_PATH,
        allowances=(ENABLEMENT_TIME, COVERAGE, OTHER_SUBSCRIPTION, NEWER_PLANS, DNS_DEPRECATED),
        prepare=pricings_as_listed,
    ),
    Case(
        "pricings/2024-01-01/ListPricingsWithPlanFilter_example.json",
        "GET",
        PRICINGS_PATH,
        allowances=(ENABLEMENT_TIME, COVERAGE, OTHER_SUBSCRIPTION),
        prepare=pricings_as_listed,
    ),
    Case("pricings/2018-06-01/GetPricingByName_example.json", "GET", PRICING_PATH_2018, prepare=pricing_as_shown),
    Case(
        "pricings/2018-06-01/PutPricingByName_example.json",
        "PUT",
        PRICING_PATH_2018,
        allowances=(FREE_TRIAL_OMITTED,),
        body_parameter="pricing",
    ),
    Case(
        "pricings/2018-06-01/ListPricings_example.json",
        "GET",
        PRICINGS_PATH_2018,
        allowances=(FREE_TRIAL_OMITTED, PLANS_AFTER_2018),
        prepare=pricings_as_listed,
    ),
    Case(
        "pricings/2024-01-01/ListResourcePricings_example.json",
        "GET",
        PRICINGS_PATH,
        allowances=(ENABLEMENT_TIME, OTHER_SUBSCRIPTION),
        prepare=vm_pricing_as_inherited,
    ),
]


def test_every_example_is_replayed() -> None:
    """Every example in the conformance folder (JIT with the variants, locations, pricings) has a case above."""
    root = conformance_dir()
    present = {str(p.relative_to(root)) for p in root.glob("**/*_example*.json")}
    assert len(present) == 27
    assert present == {c.file for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=[Path(c.file).stem for c in CASES])
def test_example(env: Env, case: Case) -> None:
    env.reset(WORLD)
    example = load(case.file)
    for quirk in case.request_quirks:
        assert quirk.present(example["parameters"]), f"{quirk.name} no longer applies to {case.file}"
    if case.prepare is not None:
        case.prepare(env, example)
    codes = case.codes or tuple(example["responses"])
    used: set[str] = set()
    for expected_code in codes:
        response = send(env, case, example["parameters"])
        status = str(response.status_code)
        if not case.codes:  # one call; the example may list several codes (201 create, 200 update)
            assert status in example["responses"], f"{status} not in {list(example['responses'])}: {response.text()}"
        else:
            assert status == expected_code, response.text()
        expected = example["responses"][status].get("body")
        if expected is None:
            assert response.text() == "", "the example answers without a body"
            continue
        actual = response.json()
        used |= assert_conforms(expected, actual, case.allowances)
        if case.check is not None:
            case.check(example, actual)
    # Every allowance an example declares is needed: none is a blanket that hides nothing.
    assert used == {a.name for a in case.allowances}
