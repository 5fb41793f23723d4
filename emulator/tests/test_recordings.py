"""Replay of real Azure traffic (`../shared/conformance/recordings/`, recorded by Microsoft's own test suites):
each recorded request goes to the emulator, on its clock set to the recorded `Date`, and the answer is compared
with the recorded one: status, the ARM headers, and the body field by field.

As in test_conformance.py, a difference passes only when a named allowance of that recording covers it, and
every allowance a recording declares must be needed. A recording SOURCES.md calls stale is compared by shape.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from conftest import Env, conformance_dir
from test_conformance import _MISSING, Allowance, _close_times, assert_conforms

PS_SUB = "487bb485-b5b0-471e-9c0d-10717612f869"
CLI_SUB = "00000000-0000-0000-0000-000000000000"


def _network(sub: str, rg: str, vms: list[str], location: str) -> list[dict[str, Any]]:
    """A resource group whose VMs sit in one subnet behind one NSG (what JIT needs to take them)."""
    base = f"/subscriptions/{sub}/resourceGroups/{rg}"
    net = f"{base}/providers/Microsoft.Network"
    subnet = f"{net}/virtualNetworks/vnet/subnets/default"
    items: list[dict[str, Any]] = [
        {"id": base, "body": {"location": location}},
        {"id": f"{net}/networkSecurityGroups/nsg", "body": {"location": location}},
        {
            "id": f"{net}/virtualNetworks/vnet",
            "body": {
                "location": location,
                "properties": {
                    "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                    "subnets": [
                        {
                            "name": "default",
                            "properties": {
                                "addressPrefix": "10.0.0.0/24",
                                "networkSecurityGroup": {"id": f"{net}/networkSecurityGroups/nsg"},
                            },
                        }
                    ],
                },
            },
        },
    ]
    for vm in vms:
        nic = f"{net}/networkInterfaces/nic-{vm}"
        items.append(
            {
                "id": nic,
                "body": {
                    "location": location,
                    "properties": {"ipConfigurations": [{"name": "ip", "properties": {"subnet": {"id": subnet}}}]},
                },
            }
        )
        items.append(
            {
                "id": f"{base}/providers/Microsoft.Compute/virtualMachines/{vm}",
                "body": {
                    "location": location,
                    "properties": {
                        "storageProfile": {"osDisk": {"osType": "Linux"}},
                        "networkProfile": {"networkInterfaces": [{"id": nic}]},
                    },
                },
            }
        )
    return items


def world(sub: str, groups: dict[str, list[str]], *, home: str = "westeurope", plan: bool = False) -> dict[str, Any]:
    resources: list[dict[str, Any]] = [{"id": f"/subscriptions/{sub}", "body": {"displayName": "recorded"}}]
    if plan:
        resources.append(
            {
                "id": f"/subscriptions/{sub}/providers/Microsoft.Security/pricings/VirtualMachines",
                "body": {"properties": {"pricingTier": "Standard", "subPlan": "P2"}},
            }
        )
    for rg, vms in groups.items():
        resources.extend(_network(sub, rg, vms, "westeurope"))
    return {"settings": {"home_location": home}, "resources": resources}


# -- reading the recordings ------------------------------------------------------------------------------------


@dataclass
class Exchange:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int
    headers: dict[str, str]
    answer: Any  # parsed JSON, or "" for an empty body


def _query(text: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in text.split("&") if part)


def read_powershell(path: Path) -> list[Exchange]:
    out = []
    for entry in json.loads(path.read_text())["Entries"]:
        url = urlsplit(entry["RequestUri"])
        headers = {k: (v[0] if v else "") for k, v in entry["ResponseHeaders"].items()}
        text = entry["ResponseBody"]
        out.append(
            Exchange(
                entry["RequestMethod"],
                url.path,
                _query(url.query),
                json.loads(entry["RequestBody"]) if entry["RequestBody"] else None,
                entry["StatusCode"],
                headers,
                json.loads(text) if text else "",
            )
        )
    return out


def read_cli(path: Path) -> list[Exchange]:
    out = []
    for item in yaml.safe_load(path.read_text())["interactions"]:
        request, response = item["request"], item["response"]
        url = urlsplit(request["uri"])
        headers = {k: (v[0] if v else "") for k, v in response["headers"].items()}
        text = response["body"]["string"]
        out.append(
            Exchange(
                request["method"],
                url.path,
                _query(url.query),
                json.loads(request["body"]) if request["body"] else None,
                response["status"]["code"],
                headers,
                json.loads(text) if text else "",
            )
        )
    return out


# -- allowances --------------------------------------------------------------------------------------------------

START_TIME = Allowance(
    "server-generated-start-time",
    "startTimeUtc is when the emulator served the initiate, on its clock set to the recorded Date header (the"
    " recording's service took a few seconds); within a minute.",
    lambda path, e, a: path.endswith("startTimeUtc") and _close_times(e, a),
)
REQUEST_ID_BEFORE_2022 = Allowance(
    "request-id-was-a-guid-in-2020",
    "in 2020 JIT answers carried a GUID x-ms-request-id; since 2022 (the other recordings) it is empty, as the"
    " emulator answers.",
    lambda path, e, a: path == "header:x-ms-request-id" and bool(e) and a == "",
)
SUBSCRIPTION_EXTENSIONS = Allowance(
    "extensions-configured-before-the-recording",
    "the 2023 pricing PUT sends only pricingTier; the answer lists the extensions the subscription already had"
    " (MdeDesignatedSubscription, AgentlessVmScanning with exclusion tags): state from before the recording.",
    lambda path, e, a: ".properties.extensions" in path and a is _MISSING,
)
ENABLEMENT_TIME_UNSHOWN = Allowance(
    "enablement-time-not-shown",
    "the 2023 PUT of a plan the subscription already had on answers without enablementTime, while the CLI's"
    " 2023 recording of a PUT switching the plan on shows it; the emulator always shows when the plan went on.",
    lambda path, e, a: path.endswith(".enablementTime") and e is _MISSING and isinstance(a, str),
)


ENABLEMENT_TIME = Allowance(
    "enablement-time-is-the-emulators",
    "enablementTime is when the plan went on: for the plans the replay set up, when the emulator set them, not"
    " when the recorded subscription did (and shown for every Standard plan).",
    lambda path, e, a: (
        path.endswith(".enablementTime") and (e is _MISSING or _close_times(e, e)) and isinstance(a, str)
    ),
)


EARLIER_EXTENSION_SETTINGS = Allowance(
    "extension-settings-from-before-the-recording",
    "the answers carry AgentlessVmScanning's exclusion tags ([A=B]) that no request of the recording sent: the"
    " subscription's earlier configuration; the emulator keeps only what a client sent.",
    lambda path, e, a: path.endswith(".additionalExtensionProperties") and isinstance(e, dict) and a is _MISSING,
)


def by_name_in_recorded_order(expected: Any, actual: Any) -> tuple[Any, bool]:
    """A pricing list in the recorded order of names (the service's order is not documented): the reordered
    list and whether an order change was needed."""
    if not (isinstance(expected, dict) and isinstance(actual, dict) and isinstance(actual.get("value"), list)):
        return actual, False
    order = [item.get("name") for item in expected.get("value", [])]
    ranked = sorted(
        actual["value"], key=lambda item: order.index(item["name"]) if item["name"] in order else len(order)
    )
    return {**actual, "value": ranked}, ranked != actual["value"]


def shape(value: Any) -> Any:
    """A JSON value's structure: member names and value types, not values (lists by their first element)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


# -- preparing what a recording shows but did not do itself -------------------------------------------------------


def _history_from_an_earlier_run(env: Env, exchanges: list[Exchange]) -> None:
    """GetSubscriptionScope lists a request the recording never made (an earlier run's initiate, kept by the
    service across the PUT): that history is PUT first, as the service held it."""
    listed = exchanges[-1].answer["value"][0]
    body = {"kind": listed["kind"], "properties": {k: listed["properties"][k] for k in ("virtualMachines", "requests")}}
    assert listed["properties"]["requests"], "the recording no longer shows an earlier history"
    plan = f"/subscriptions/{PS_SUB}/providers/Microsoft.Security/pricings/VirtualMachines"
    assert env.arm("PUT", plan, "2023-01-01", {"properties": {"pricingTier": "Standard"}}).status_code == 200
    assert env.arm("PUT", listed["id"], "2020-01-01", body).status_code == 200


def _policies_as_listed(env: Env, exchanges: list[Exchange]) -> None:
    """The 2021 list shows three policies written long before (histories back to 2021-08-03): each is PUT as
    listed (the service keeps a history given in a PUT), an hour before the recorded list, so they have settled."""
    recorded = parsedate_to_datetime(exchanges[0].headers["date"])
    env.control("POST", "clock", {"set": (recorded - timedelta(hours=1)).isoformat().replace("+00:00", "Z")})
    for listed in exchanges[0].answer["value"]:
        props = listed["properties"]
        body = {
            "kind": listed["kind"],
            "properties": {"virtualMachines": props["virtualMachines"], "requests": props["requests"]},
        }
        answer = env.arm("PUT", listed["id"], "2020-01-01", body)
        assert answer.status_code == 200, answer.text()


def _plans_as_listed(env: Env, exchanges: list[Exchange]) -> None:
    """The pricing session starts from a real subscription's plans (the first answer lists them): each is set
    to what that list shows, through PUTs, before the replay."""
    for item in exchanges[0].answer["value"]:
        props = item["properties"]
        wanted = {k: props[k] for k in ("pricingTier", "subPlan", "extensions") if k in props}
        path = f"/subscriptions/{CLI_SUB}/providers/Microsoft.Security/pricings/{item['name']}"
        answer = env.arm("PUT", path, "2024-01-01", {"properties": wanted})
        assert answer.status_code == 200, answer.text()


@dataclass
class Recording:
    file: str
    world: dict[str, Any]
    allowances: tuple[Allowance, ...] = ()
    prepare: Callable[[Env, list[Exchange]], None] | None = None
    # Exchanges SOURCES.md calls stale (index): compared by shape only.
    stale: tuple[int, ...] = ()
    # A pricing list is compared in the recorded order of plan names (the service's order is undocumented).
    reorder_plans: bool = False


PS = "azure-powershell/"
PS_WORLD = world(PS_SUB, {"myService1": ["testService", "testService1"]})
RECORDINGS = [
    Recording(PS + "SetResourceGroupLevelResource.json", PS_WORLD),
    Recording(PS + "StartResourceGroupLevelResource.json", PS_WORLD, (START_TIME,)),
    Recording(PS + "RemoveResourceGroupLevelResource.json", PS_WORLD),
    Recording(PS + "RemoveResourceId.json", PS_WORLD),
    Recording(PS + "GetResourceGroupLevelResource.json", PS_WORLD, (REQUEST_ID_BEFORE_2022,)),
    Recording(PS + "GetResourceId.2020-d78b04a.json", PS_WORLD, (REQUEST_ID_BEFORE_2022,)),
    Recording(PS + "GetResourceGroupScope.2020-d78b04a.json", PS_WORLD, (REQUEST_ID_BEFORE_2022,), stale=(2,)),
    Recording(
        PS + "GetSubscriptionScope.json",
        PS_WORLD,
        (SUBSCRIPTION_EXTENSIONS, ENABLEMENT_TIME_UNSHOWN),
        prepare=_history_from_an_earlier_run,
    ),
    Recording("azure-cli/test_security_jit_policy.yaml", world(CLI_SUB, {})),
    Recording(
        "azure-cli/test_security_jit_policy.2021-08_8b98048.yaml",
        world(
            CLI_SUB,
            {
                "VulnerabilityAssessment-Runners": [
                    "iaas-syn-aue",
                    "iaas-syn-euap",
                    "iaas-syn-test",
                    "iaas-syn-TLS",
                    "iaas-syn-eus",
                ]
            },
            plan=True,
        ),
        prepare=_policies_as_listed,
    ),
    Recording("azure-cli/test_security_locations.yaml", world(CLI_SUB, {}, home="westcentralus")),
    Recording(
        "azure-cli/test_security_pricings.yaml",
        world(CLI_SUB, {}),
        (ENABLEMENT_TIME, EARLIER_EXTENSION_SETTINGS),
        prepare=_plans_as_listed,
        reorder_plans=True,
    ),
]
NOT_YET: set[str] = set()


def test_every_recording_is_accounted_for() -> None:
    root = conformance_dir() / "recordings"
    present = {str(p.relative_to(root)) for p in root.glob("*/*") if p.suffix in (".json", ".yaml")}
    assert present == {r.file for r in RECORDINGS} | NOT_YET


def _compare_headers(recorded: dict[str, str], actual: Any, path_allowances: tuple[Allowance, ...]) -> set[str]:
    used: set[str] = set()
    lowered = {k.lower(): v for k, v in recorded.items()}
    got = {k.lower(): v for k, v in actual.items()}
    problems = []
    for name in ("x-ms-correlation-request-id", "x-ms-routing-request-id", "cache-control"):
        if name in lowered and name not in got:
            problems.append(f"{name} missing")
    for name in lowered:
        if name.startswith("x-ms-ratelimit-remaining-subscription-") and name not in got:
            problems.append(f"{name} missing (got {[k for k in got if k.startswith('x-ms-ratelimit')]})")
    if "x-ms-request-id" in lowered:
        e, a = lowered["x-ms-request-id"], got.get("x-ms-request-id")
        if (e == "") != (a == ""):
            allowance = next((x for x in path_allowances if x.covers("header:x-ms-request-id", e, a)), None)
            if allowance is None:
                problems.append(f"x-ms-request-id: recorded {e!r}, got {a!r}")
            else:
                used.add(allowance.name)
    if lowered.get("content-length") == "0" and got.get("content-length") != "0":
        problems.append(f"Content-Length: recorded 0, got {got.get('content-length')}")
    assert not problems, problems
    return used


@pytest.mark.parametrize("recording", RECORDINGS, ids=[Path(r.file).stem for r in RECORDINGS])
def test_recording(env: Env, recording: Recording) -> None:
    source = conformance_dir() / "recordings" / recording.file
    exchanges = read_powershell(source) if source.suffix == ".json" else read_cli(source)
    env.reset(recording.world)
    env.control("POST", "clock", {"set": _date(exchanges[0])})
    if recording.prepare is not None:
        recording.prepare(env, exchanges)
    used: set[str] = set()
    for index, exchange in enumerate(exchanges):
        env.control("POST", "clock", {"set": _date(exchange)})
        version = exchange.query.pop("api-version")
        answer = env.arm(exchange.method, exchange.path, version, exchange.body, params=exchange.query)
        assert answer.status_code == exchange.status, (index, answer.text())
        used |= _compare_headers(exchange.headers, answer.headers, recording.allowances)
        if exchange.answer == "":
            assert answer.text() == "", index
            continue
        actual = answer.json()
        if index in recording.stale:
            recorded = [shape(v) for v in exchange.answer["value"]]
            assert actual["value"] and all(shape(v) in recorded for v in actual["value"]), index
            continue
        if recording.reorder_plans:
            actual, moved = by_name_in_recorded_order(exchange.answer, actual)
            used |= {"plans-listed-in-another-order"} if moved else set()
        used |= assert_conforms(exchange.answer, actual, recording.allowances)
    assert used == {a.name for a in recording.allowances} | (
        {"plans-listed-in-another-order"} if recording.reorder_plans else set()
    )


def _date(exchange: Exchange) -> str:
    date = exchange.headers.get("Date") or exchange.headers.get("date") or ""
    return parsedate_to_datetime(date).isoformat().replace("+00:00", "Z")


def test_shapes_are_compared_strictly() -> None:
    """The stale-list comparison can fail: a missing member or a changed type changes the shape."""
    assert shape({"a": [{"b": 1}]}) == {"a": [{"b": "int"}]}
    assert shape({"a": 1}) != shape({"a": "1"}) and shape({"a": 1}) != shape({"a": 1, "b": 2})
    assert re.fullmatch(r"\{.*\}", json.dumps(shape({"x": {}})))
