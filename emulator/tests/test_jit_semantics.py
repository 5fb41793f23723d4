"""JIT policy validation and the request lifecycle (jit_emulator.jit)."""

from __future__ import annotations

import copy
import ipaddress
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from conftest import CONFORMANCE
from hypothesis import event, given, settings
from hypothesis import strategies as st
from jit_emulator import jit
from jit_emulator.errors import ArmError

EXAMPLES = CONFORMANCE / "jit-examples"
SUB = "20ff7fc3-e762-44dd-bd96-b71116dcdc23"
VM1 = f"/subscriptions/{SUB}/resourceGroups/myRg1/providers/Microsoft.Compute/virtualMachines/vm1"
VM2 = f"/subscriptions/{SUB}/resourceGroups/myRg1/providers/Microsoft.Compute/virtualMachines/vm2"
POLICY_ID = (
    f"/subscriptions/{SUB}/resourceGroups/myRg1/providers/Microsoft.Security/locations/westeurope/"
    "jitNetworkAccessPolicies/default"
)
NOW = datetime(2018, 7, 12, 8, 53, 3, 365879, tzinfo=timezone.utc)
PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)
SUBSET_MESSAGE = f"The given access request is not a subset of policy '{POLICY_ID}'"


def load_example(name: str) -> dict[str, Any]:
    path = EXAMPLES / name
    if not path.exists():
        pytest.skip(f"conformance example {path} is not available")
    return json.loads(path.read_text())


def policy_port(number: int, *, protocol: str = "*", source: Any = "*", max_duration: str = "PT3H") -> dict[str, Any]:
    port: dict[str, Any] = {"number": number, "protocol": protocol}
    if isinstance(source, list):
        port["allowedSourceAddressPrefixes"] = source
    else:
        port["allowedSourceAddressPrefix"] = source
    port["maxRequestAccessDuration"] = max_duration
    return port


def policy_body(*vms: dict[str, Any]) -> dict[str, Any]:
    vms = vms or ({"id": VM1, "ports": [policy_port(22), policy_port(3389)]},)
    return {"kind": "Basic", "properties": {"virtualMachines": list(vms)}}


def stored_policy(*vms: dict[str, Any]) -> dict[str, Any]:
    """A policy as the server stores it: validated, with server-side fields filled."""
    body = jit.validate_policy(policy_body(*vms), "default")
    body.update({"id": POLICY_ID, "name": "default", "type": "Microsoft.Security/locations/jitNetworkAccessPolicies"})
    body["properties"]["provisioningState"] = "Succeeded"
    return body


def arm_error(func, *args, **kwargs) -> ArmError:
    with pytest.raises(ArmError) as info:
        func(*args, **kwargs)
    return info.value


def initiate(*ports: dict[str, Any], vm_id: str = VM1, **extra: Any) -> dict[str, Any]:
    return {"virtualMachines": [{"id": vm_id, "ports": list(ports)}], **extra}


def plan(policy: dict[str, Any], body: dict[str, Any], caller_ip: str = "198.51.100.20"):
    return jit.plan_initiate(policy, body, now=NOW, caller_ip=caller_ip, requestor="barbara@contoso.com")


# --- durations and times -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT3H", timedelta(hours=3)),
        ("PT5M", timedelta(minutes=5)),
        ("P1D", timedelta(days=1)),
        ("PT1H30M", timedelta(minutes=90)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert jit.parse_duration(text, "maxRequestAccessDuration") == expected


@pytest.mark.parametrize("text", ["3 hours", "", "PT", "P1M", "P1Y", 3, None])
def test_parse_duration_rejects(text: Any) -> None:
    err = arm_error(jit.parse_duration, text, "ports[0].duration")
    assert (err.status, err.code, err.target) == (400, "InvalidDuration", "ports[0].duration")
    assert "ports[0].duration" in err.message


def test_format_time_is_azure_style() -> None:
    assert jit.format_time(NOW) == "2018-07-12T08:53:03.3658790Z"
    plus_two = datetime(2018, 7, 12, 10, 53, 3, tzinfo=timezone(timedelta(hours=2)))
    assert jit.format_time(plus_two) == "2018-07-12T08:53:03.0000000Z"


@pytest.mark.parametrize(
    "text",
    [
        "2018-07-12T08:53:03.3658798Z",
        "2018-07-12T08:53:03.365879Z",
        "2018-07-12T10:53:03.365879+02:00",
        "2018-07-12T08:53:03.365879",
    ],
)
def test_parse_time_accepts_z_offsets_and_seven_digits(text: str) -> None:
    assert jit.parse_time(text, "endTimeUtc") == NOW


@pytest.mark.parametrize("text", ["tomorrow", "2018-13-01T00:00:00Z", "2018-07-12", 5])
def test_parse_time_rejects(text: Any) -> None:
    assert arm_error(jit.parse_time, text, "endTimeUtc").status == 400


# --- names -------------------------------------------------------------------------------------------


def test_validate_names_accepts_valid_names() -> None:
    jit.validate_names(SUB, "my-Rg_1.(prod)", "default")
    jit.validate_names(SUB.upper(), "x" * 90, "default")
    jit.validate_names(SUB, "grüße", "default")  # ARM allows Unicode letters


def test_invalid_subscription_id() -> None:
    err = arm_error(jit.validate_names, "not-a-guid", "rg", "default")
    assert (err.status, err.code) == (400, "InvalidSubscriptionId")
    assert err.message == "The provided subscription identifier 'not-a-guid' is malformed or invalid."


@pytest.mark.parametrize("group", ["", "x" * 91, "bad*name", "ends.with.dot.", "has space"])
def test_invalid_resource_group(group: str) -> None:
    err = arm_error(jit.validate_names, SUB, group, "default")
    assert (err.status, err.code) == (400, "InvalidResourceGroup")
    assert repr(group)[1:-1] in err.message


@pytest.mark.parametrize("name", ["", "a/b", "what?", "trailing.", " lead"])
def test_invalid_policy_name(name: str) -> None:
    err = arm_error(jit.validate_names, SUB, "rg", name)
    assert (err.status, err.code) == (400, "InvalidResourceName")


# --- policy validation -------------------------------------------------------------------------------


def test_conformance_create_example_validates() -> None:
    body = load_example("CreateJitNetworkAccessPolicy_example.json")["parameters"]["body"]
    snapshot = copy.deepcopy(body)
    result = jit.validate_policy(body, "default")
    assert body == snapshot
    # Read-only fields the example sends are ignored (dropped for the server to fill in).
    for field in ("id", "name", "type", "location"):
        assert field not in result
    assert "provisioningState" not in result["properties"]
    assert result["kind"] == "Basic"
    assert result["properties"]["virtualMachines"] == body["properties"]["virtualMachines"]
    assert result["properties"]["requests"] == body["properties"]["requests"]


def test_conformance_variant_create_example_validates() -> None:
    body = load_example("variants/CreateJitNetworkAccessPolicy_example.variant-056ae337.json")["parameters"]["body"]
    assert (
        jit.validate_policy(body, "default")["properties"]["virtualMachines"] == body["properties"]["virtualMachines"]
    )


def test_port_rules_come_back_as_sent_in_the_model_key_order() -> None:
    """Recorded: "TCP" stays "TCP", the singular prefix stays singular, keys in the service model's order
    (number, protocol, allowedSourceAddressPrefix(es), maxRequestAccessDuration); the protocol is matched
    without regard to case, so 'tcp' is accepted and echoed."""
    body = policy_body(
        {
            "id": VM1,
            "ports": [
                policy_port(22, protocol="tcp"),
                policy_port(53, protocol=" Udp ", source=["10.0.0.0/8", "fd00::/8"]),
            ],
            "publicIpAddress": "203.0.113.10",
        }
    )
    result = jit.validate_policy(body, "default")
    ports = result["properties"]["virtualMachines"][0]["ports"]
    assert [p["protocol"] for p in ports] == ["tcp", " Udp "]
    assert list(ports[0]) == ["number", "protocol", "allowedSourceAddressPrefix", "maxRequestAccessDuration"]
    shuffled = {"maxRequestAccessDuration": "PT3H", "allowedSourceAddressPrefix": "*", "protocol": "TCP", "number": 22}
    again = jit.validate_policy(policy_body({"id": VM1, "ports": [shuffled]}), "default")
    assert list(again["properties"]["virtualMachines"][0]["ports"][0]) == list(ports[0])
    assert ports[1]["allowedSourceAddressPrefixes"] == ["10.0.0.0/8", "fd00::/8"]
    assert result["properties"]["virtualMachines"][0]["publicIpAddress"] == "203.0.113.10"
    assert body["properties"]["virtualMachines"][0]["ports"][0]["protocol"] == "tcp"  # input untouched


def test_empty_virtual_machines_list_is_allowed() -> None:
    assert jit.validate_policy({"properties": {"virtualMachines": []}}) == {"properties": {"virtualMachines": []}}


def vm_with(**port_fields: Any) -> dict[str, Any]:
    port = policy_port(22)
    for key, value in port_fields.items():
        if value is _DELETE:
            port.pop(key, None)
        else:
            port[key] = value
    return {"properties": {"virtualMachines": [{"id": VM1, "ports": [policy_port(3389), port]}]}}


_DELETE = object()
PORT = "properties.virtualMachines[0].ports[1]"


@pytest.mark.parametrize(
    ("body", "target", "code"),
    [
        (None, "body", "InvalidInput"),
        ({}, "properties", "InvalidInput"),
        ({"properties": {}}, "properties.virtualMachines", "InvalidInput"),
        ({"properties": {"virtualMachines": {}}}, "properties.virtualMachines", "InvalidInput"),
        (
            {"properties": {"virtualMachines": [{"ports": [policy_port(22)]}]}},
            "properties.virtualMachines[0].id",
            "InvalidInput",
        ),
        (
            {"properties": {"virtualMachines": [{"id": VM1}]}},
            "properties.virtualMachines[0].ports",
            "InvalidInput",
        ),
        (
            {"properties": {"virtualMachines": [{"id": VM1, "ports": []}]}},
            "properties.virtualMachines[0].ports",
            "InvalidInput",
        ),
        (vm_with(number=_DELETE), f"{PORT}.number", "InvalidInput"),
        (vm_with(number=65536), f"{PORT}.number", "InvalidInput"),
        (vm_with(number=-1), f"{PORT}.number", "InvalidInput"),
        (vm_with(number=True), f"{PORT}.number", "InvalidInput"),
        (vm_with(number="22"), f"{PORT}.number", "InvalidInput"),
        (vm_with(protocol="ICMP"), f"{PORT}.protocol", "InvalidInput"),
        (vm_with(protocol="All"), f"{PORT}.protocol", "InvalidInput"),
        (vm_with(protocol=_DELETE), f"{PORT}.protocol", "InvalidInput"),
        (vm_with(allowedSourceAddressPrefixes=["10.0.0.0/8"]), PORT, "InvalidInput"),
        (vm_with(allowedSourceAddressPrefix=_DELETE), PORT, "InvalidInput"),
        (
            vm_with(allowedSourceAddressPrefix="10.0.0.1/8"),
            f"{PORT}.allowedSourceAddressPrefix",
            "InvalidInput",
        ),
        (
            vm_with(allowedSourceAddressPrefix="300.1.1.1"),
            f"{PORT}.allowedSourceAddressPrefix",
            "InvalidInput",
        ),
        (
            vm_with(allowedSourceAddressPrefix="10.0.0.0/255.0.0.0"),
            f"{PORT}.allowedSourceAddressPrefix",
            "InvalidInput",
        ),
        (
            vm_with(allowedSourceAddressPrefix="Internet"),
            f"{PORT}.allowedSourceAddressPrefix",
            "InvalidInput",
        ),
        (
            vm_with(
                allowedSourceAddressPrefix=_DELETE,
                allowedSourceAddressPrefixes=["10.0.0.0/8", "fe80::1%eth0"],
            ),
            f"{PORT}.allowedSourceAddressPrefixes[1]",
            "InvalidInput",
        ),
        (
            vm_with(allowedSourceAddressPrefix=_DELETE, allowedSourceAddressPrefixes=[]),
            f"{PORT}.allowedSourceAddressPrefixes",
            "InvalidInput",
        ),
        (vm_with(maxRequestAccessDuration=_DELETE), f"{PORT}.maxRequestAccessDuration", "InvalidInput"),
        (vm_with(maxRequestAccessDuration="PT4M"), f"{PORT}.maxRequestAccessDuration", "InvalidDuration"),
        (vm_with(maxRequestAccessDuration="PT24H1S"), f"{PORT}.maxRequestAccessDuration", "InvalidDuration"),
        (vm_with(maxRequestAccessDuration="P2D"), f"{PORT}.maxRequestAccessDuration", "InvalidDuration"),
        (vm_with(maxRequestAccessDuration="P1M"), f"{PORT}.maxRequestAccessDuration", "InvalidDuration"),
        (vm_with(maxRequestAccessDuration="3h"), f"{PORT}.maxRequestAccessDuration", "InvalidDuration"),
        (vm_with(number=3389), f"{PORT}.number", "InvalidInput"),
    ],
)
def test_invalid_policy_bodies(body: Any, target: str, code: str) -> None:
    err = arm_error(jit.validate_policy, body, "default")
    assert (err.status, err.code, err.target) == (400, code, target)
    assert err.message


def test_mutually_exclusive_prefix_message() -> None:
    err = arm_error(jit.validate_policy, vm_with(allowedSourceAddressPrefixes=["10.0.0.0/8"]))
    assert "allowedSourceAddressPrefix" in err.message and "allowedSourceAddressPrefixes" in err.message


@pytest.mark.parametrize("duration", ["PT5M", "P1D", "PT24H", "PT1440M"])
def test_max_duration_bounds_are_inclusive(duration: str) -> None:
    jit.validate_policy(vm_with(maxRequestAccessDuration=duration))


@pytest.mark.parametrize("prefix", ["*", "10.0.0.4", "10.0.0.0/8", "0.0.0.0/0", "2001:db8::/32", "2001:db8::1"])
def test_valid_prefixes(prefix: str) -> None:
    jit.validate_policy(vm_with(allowedSourceAddressPrefix=prefix))


def test_duplicate_vm_ids_are_case_insensitive() -> None:
    body = policy_body({"id": VM1, "ports": [policy_port(22)]}, {"id": VM1.upper(), "ports": [policy_port(22)]})
    err = arm_error(jit.validate_policy, body)
    assert err.target == "properties.virtualMachines[1].id" and VM1.upper() in err.message


def test_classic_vm_is_not_supported() -> None:
    classic = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.ClassicCompute/virtualMachines/old"
    err = arm_error(jit.validate_policy, policy_body({"id": classic, "ports": [policy_port(22)]}))
    assert (err.status, err.code) == (400, "ClassicVmNotSupported")
    assert "Classic VM is not supported" in err.message


@pytest.mark.parametrize(
    "vm_id",
    [
        "vm1",
        "/subscriptions/not-a-guid/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1",
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/nic1",
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1/extensions/x",
    ],
)
def test_invalid_vm_ids(vm_id: str) -> None:
    err = arm_error(jit.validate_policy, policy_body({"id": vm_id, "ports": [policy_port(22)]}))
    assert (err.code, err.target) == ("InvalidInput", "properties.virtualMachines[0].id")


def test_vm_id_provider_segment_is_case_insensitive() -> None:
    vm_id = f"/SUBSCRIPTIONS/{SUB}/resourcegroups/rg/providers/microsoft.compute/VIRTUALMACHINES/vm1"
    jit.validate_policy(policy_body({"id": vm_id, "ports": [policy_port(22)]}))


def test_policy_and_vm_names_together_at_most_56_characters() -> None:
    vm_id = VM1.rsplit("/", 1)[0] + "/" + "v" * 49
    body = policy_body({"id": vm_id, "ports": [policy_port(22)]})
    jit.validate_policy(body, "default")  # 7 + 49 = 56
    err = arm_error(jit.validate_policy, body, "default1")  # 8 + 49 = 57
    assert (err.code, err.target) == ("InvalidInput", "properties.virtualMachines[0].id")
    assert "56" in err.message and "default1" in err.message


def test_stored_requests_are_checked() -> None:
    body = load_example("CreateJitNetworkAccessPolicy_example.json")["parameters"]["body"]
    broken = copy.deepcopy(body)
    broken["properties"]["requests"][0]["virtualMachines"][0]["ports"][0]["endTimeUtc"] = "soon"
    err = arm_error(jit.validate_policy, broken)
    assert err.target == "properties.requests[0].virtualMachines[0].ports[0].endTimeUtc"


# --- is_subset ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requested", "allowed", "expected"),
    [
        (["192.0.2.1"], ["*"], True),
        (["*"], ["*"], True),
        (["*"], ["0.0.0.0/0"], False),
        (["192.0.2.1"], ["192.0.2.0/24"], True),
        (["192.0.2.0/24"], ["192.0.2.0/24"], True),
        (["192.0.2.0/23"], ["192.0.2.0/24"], False),
        (["192.0.2.0/24"], ["192.0.2.0/25", "192.0.2.128/25"], False),  # no single allowed prefix holds it
        (["192.0.2.1", "10.1.2.3"], ["192.0.2.0/24", "10.0.0.0/8"], True),
        (["192.0.2.1", "10.1.2.3"], ["192.0.2.0/24"], False),
        (["::ffff:192.0.2.1"], ["192.0.2.0/24"], False),  # IPv4 and IPv6 never mix
        (["192.0.2.1"], ["::/0"], False),
        (["2001:db8::1"], ["2001:db8::/32"], True),
        (["not-an-ip"], ["*"], False),
    ],
)
def test_is_subset(requested: list[str], allowed: list[str], expected: bool) -> None:
    assert jit.is_subset(requested, allowed) is expected


# --- plan_initiate -----------------------------------------------------------------------------------


def example_policy() -> dict[str, Any]:
    body = load_example("CreateJitNetworkAccessPolicy_example.json")["parameters"]["body"]
    policy = jit.validate_policy(body, "default")
    policy["id"] = body["id"]
    return policy


def test_conformance_initiate_example_plans() -> None:
    example = load_example("InitiateJitNetworkAccessPolicy_example.json")
    record, grants = plan(example_policy(), example["parameters"]["body"])
    expected = copy.deepcopy(example["responses"]["202"]["body"])
    expected["virtualMachines"][0]["id"] = VM1  # the upstream example names another subscription
    expected["virtualMachines"][0]["ports"][0]["status"] = (
        "Initiated"  # the example's "Initiating" is not an enum value
    )
    # NOW carries microseconds only; the example's 7th digit (100 ns) cannot be reproduced.
    expected["startTimeUtc"] = "2018-07-12T08:53:03.3658790Z"
    expected["virtualMachines"][0]["ports"][0]["endTimeUtc"] = "2018-07-12T09:53:03.3658790Z"
    assert record == expected
    assert grants == [
        {
            "vm_id": VM1,
            "number": 3389,
            "protocol": "*",
            "sources": ["192.127.0.2"],
            "end_time": NOW + timedelta(hours=1),
        }
    ]


def test_conformance_variant_initiate_example_echoes_end_time() -> None:
    example = load_example("variants/InitiateJitNetworkAccessPolicy_example.variant-056ae337.json")
    record, _ = plan(example_policy(), example["parameters"]["body"])
    assert record["virtualMachines"][0]["ports"][0]["endTimeUtc"] == "2018-07-12T09:53:03.3658798Z"


def test_no_source_means_the_caller_ip() -> None:
    record, grants = plan(
        stored_policy(), initiate({"number": 22, "duration": "PT1H"}), caller_ip="::ffff:198.51.100.20"
    )
    assert record["virtualMachines"][0]["ports"][0]["allowedSourceAddressPrefix"] == "198.51.100.20"
    assert grants[0]["sources"] == ["198.51.100.20"]
    assert "justification" not in record


def test_plural_sources_and_several_vms() -> None:
    policy = stored_policy(
        {"id": VM1, "ports": [policy_port(22, protocol="TCP", source=["10.0.0.0/8", "192.0.2.0/24"])]},
        {"id": VM2, "ports": [policy_port(3389, protocol="UDP", max_duration="PT1H")]},
    )
    body = {
        "virtualMachines": [
            {
                "id": VM1.upper(),
                "ports": [
                    {
                        "number": 22,
                        "duration": "PT30M",
                        "allowedSourceAddressPrefixes": ["10.1.0.0/16", "192.0.2.7"],
                    }
                ],
            },
            {"id": VM2, "ports": [{"number": 3389, "endTimeUtc": "2018-07-12T09:53:03.365879Z"}]},
        ],
        "justification": "incident 42",
    }
    record, grants = plan(policy, body)
    assert record["justification"] == "incident 42"
    assert record["virtualMachines"][0]["id"] == VM1  # the policy's casing
    assert record["virtualMachines"][0]["ports"][0]["allowedSourceAddressPrefixes"] == [
        "10.1.0.0/16",
        "192.0.2.7",
    ]
    assert [(g["vm_id"], g["number"], g["protocol"]) for g in grants] == [
        (VM1, 22, "TCP"),
        (VM2, 3389, "UDP"),
    ]
    assert grants[1]["end_time"] == NOW + timedelta(hours=1)


@pytest.mark.parametrize(
    "port",
    [{"number": 22}, {"number": 22, "duration": "PT1H", "endTimeUtc": "2018-07-12T09:00:00Z"}],
    ids=["neither", "both"],
)
def test_exactly_one_of_end_time_and_duration(port: dict[str, Any]) -> None:
    err = arm_error(plan, stored_policy(), initiate(port))
    assert (err.status, err.code) == (400, "InvalidInitiateInput")
    assert err.message == "Only one of fields 'EndTimeUtc' and 'Duration' can be set."


def test_source_outside_the_policy() -> None:
    policy = stored_policy({"id": VM1, "ports": [policy_port(22, source="10.0.0.0/8")]})
    err = arm_error(
        plan, policy, initiate({"number": 22, "duration": "PT1H", "allowedSourceAddressPrefix": "192.0.2.1"})
    )
    assert (err.status, err.code) == (400, "InvalidInitiateInput")
    # Azure's message word for word (it names no field); which VM and port is in `details`.
    assert err.message == jit.not_subset_message(POLICY_ID)
    assert err.message.endswith("Please make sure that the access request is within the allowed policy properties.")
    assert err.details is not None and VM1 in err.details[0]["message"] and "22" in err.details[0]["message"]


def test_caller_ip_outside_the_policy() -> None:
    policy = stored_policy({"id": VM1, "ports": [policy_port(22, source="10.0.0.0/8")]})
    err = arm_error(plan, policy, initiate({"number": 22, "duration": "PT1H"}), caller_ip="192.0.2.1")
    assert err.message.startswith(SUBSET_MESSAGE)


def test_duration_longer_than_the_port_maximum() -> None:
    err = arm_error(plan, stored_policy(), initiate({"number": 22, "duration": "PT4H"}))
    assert (err.status, err.code) == (400, "InvalidInitiateInput")
    assert all(part in err.message for part in (VM1, "22", "PT4H", "PT3H"))


def test_end_time_beyond_the_maximum_and_in_the_past() -> None:
    too_late = jit.format_time(NOW + timedelta(hours=3, seconds=1))
    err = arm_error(plan, stored_policy(), initiate({"number": 22, "endTimeUtc": too_late}))
    assert "PT3H" in err.message
    exactly = jit.format_time(NOW + timedelta(hours=3))
    plan(stored_policy(), initiate({"number": 22, "endTimeUtc": exactly}))
    past = jit.format_time(NOW - timedelta(seconds=1))
    assert arm_error(plan, stored_policy(), initiate({"number": 22, "endTimeUtc": past})).code == "InvalidInitiateInput"


@pytest.mark.parametrize(
    ("body", "subset"),
    [
        (initiate({"number": 22, "duration": "PT1H"}, vm_id=VM2), True),
        (initiate({"number": 80, "duration": "PT1H"}), True),
        ({"virtualMachines": []}, False),
        ({}, False),
        ("nope", False),
        (initiate(), False),
        (initiate({"number": "22", "duration": "PT1H"}), False),
        (initiate({"number": 22, "duration": "soon"}), False),
        (initiate({"number": 22, "duration": "PT1H"}, justification=5), False),
        (
            initiate(
                {
                    "number": 22,
                    "duration": "PT1H",
                    "allowedSourceAddressPrefix": "1.2.3.4",
                    "allowedSourceAddressPrefixes": ["1.2.3.4"],
                }
            ),
            False,
        ),
        (initiate({"number": 22, "duration": "PT1H", "allowedSourceAddressPrefix": "1.2.3.0/16"}), False),
        (initiate({"number": 22, "duration": "PT1H"}, {"number": 22, "duration": "PT1H"}), False),
    ],
)
def test_invalid_initiate_bodies(body: Any, subset: bool) -> None:
    err = arm_error(plan, stored_policy(), body)
    assert (err.status, err.code) == (400, "InvalidInitiateInput")
    assert err.message.startswith(SUBSET_MESSAGE) is subset


# --- supersede / expire / diff -----------------------------------------------------------------------


def request_entry(vm_id: str, number: int, end: str, status: str = "Initiated", reason: str = "UserRequested"):
    return {
        "virtualMachines": [
            {
                "id": vm_id,
                "ports": [
                    {
                        "number": number,
                        "allowedSourceAddressPrefix": "*",
                        "endTimeUtc": end,
                        "status": status,
                        "statusReason": reason,
                    }
                ],
            }
        ],
        "startTimeUtc": "2018-07-12T07:00:00.0000000Z",
        "requestor": "someone@contoso.com",
    }


def port_states(policy: dict[str, Any]) -> list[tuple[str, int, str, str]]:
    return [
        (vm["id"], p["number"], p["status"], p["statusReason"])
        for request in policy["properties"]["requests"]
        for vm in request["virtualMachines"]
        for p in vm["ports"]
    ]


def test_supersede_revokes_only_older_initiated_entries_for_the_same_vm_and_port() -> None:
    policy = stored_policy(
        {"id": VM1, "ports": [policy_port(22), policy_port(3389)]}, {"id": VM2, "ports": [policy_port(22)]}
    )
    late = "2018-07-12T10:00:00.0000000Z"
    policy["properties"]["requests"] = [
        request_entry(VM1.upper(), 22, late),
        request_entry(VM1, 3389, late),
        request_entry(VM2, 22, late),
        request_entry(VM1, 22, late, "Revoked", "Expired"),
    ]
    snapshot = copy.deepcopy(policy)
    record, _ = plan(policy, initiate({"number": 22, "duration": "PT1H"}))

    new = jit.supersede(policy, record)

    assert policy == snapshot
    assert port_states(new) == [
        (VM1.upper(), 22, "Revoked", "NewerRequestInitiated"),
        (VM1, 3389, "Initiated", "UserRequested"),
        (VM2, 22, "Initiated", "UserRequested"),
        (VM1, 22, "Revoked", "Expired"),
        (VM1, 22, "Initiated", "UserRequested"),
    ]
    assert new["properties"]["requests"][-1] == record


def test_supersede_creates_the_request_log() -> None:
    record, _ = plan(stored_policy(), initiate({"number": 22, "duration": "PT1H"}))
    assert jit.supersede(stored_policy(), record)["properties"]["requests"] == [record]


def test_expire_marks_ended_ports_and_reports_them() -> None:
    policy = stored_policy()
    policy["properties"]["requests"] = [
        request_entry(VM1, 22, jit.format_time(NOW)),  # ends exactly now: expired
        request_entry(VM1, 3389, jit.format_time(NOW + timedelta(microseconds=1))),
        request_entry(VM1, 22, jit.format_time(NOW - timedelta(hours=1)), "Revoked", "NewerRequestInitiated"),
    ]
    snapshot = copy.deepcopy(policy)
    new, expired = jit.expire(policy, NOW)
    assert policy == snapshot
    assert expired == [(VM1, 22)]
    assert [s[2:] for s in port_states(new)] == [
        ("Revoked", "Expired"),
        ("Initiated", "UserRequested"),
        ("Revoked", "NewerRequestInitiated"),
    ]
    again, expired_again = jit.expire(new, NOW)
    assert (again, expired_again) == (new, [])


def test_expire_without_requests_is_a_no_op() -> None:
    new, expired = jit.expire(stored_policy(), NOW)
    assert expired == [] and new["properties"]["virtualMachines"] == stored_policy()["properties"]["virtualMachines"]


def test_remove_vm_ports_diff() -> None:
    old = stored_policy(
        {"id": VM1, "ports": [policy_port(22), policy_port(3389)]}, {"id": VM2, "ports": [policy_port(22)]}
    )
    vm3 = VM1.replace("vm1", "vm3")
    new = stored_policy(
        {"id": VM1.upper(), "ports": [policy_port(3389, protocol="TCP"), policy_port(5985)]},
        {"id": vm3, "ports": [policy_port(22)]},
    )
    diff = jit.remove_vm_ports_diff(old, new)
    assert set(diff) == {VM1.lower(), VM2.lower(), vm3.lower()}
    assert diff[VM1.lower()]["id"] == VM1.upper()
    assert diff[VM1.lower()]["removed"] == [22]
    assert [p["number"] for p in diff[VM1.lower()]["added"]] == [5985]
    assert [p["number"] for p in diff[VM1.lower()]["kept"]] == [3389]
    assert diff[VM1.lower()]["changed"] == [3389]
    assert (diff[VM2.lower()]["removed"], diff[VM2.lower()]["added"], diff[VM2.lower()]["kept"]) == (
        [22],
        [],
        [],
    )
    assert ([p["number"] for p in diff[vm3.lower()]["added"]], diff[vm3.lower()]["removed"]) == ([22], [])
    deleted = jit.remove_vm_ports_diff(old, None)
    assert deleted[VM1.lower()]["removed"] == [22, 3389]


# --- properties --------------------------------------------------------------------------------------


@st.composite
def small_prefix(draw) -> str:
    """A strict prefix inside a 64-address universe per IP version, or '*'."""
    if draw(st.integers(0, 9)) == 0:
        return "*"
    if draw(st.booleans()):
        base, bits, top = ipaddress.IPv4Address("10.0.0.0"), 32, 6
    else:
        base, bits, top = ipaddress.IPv6Address("2001:db8::"), 128, 6
    host_bits = draw(st.integers(0, top))
    block = draw(st.integers(0, 2 ** (top - host_bits) - 1))
    network = f"{base + (block << host_bits)}"
    if host_bits == 0 and draw(st.booleans()):
        return network  # a bare address
    return f"{network}/{bits - host_bits}"


def addresses(prefix: str) -> set[tuple[int, int]]:
    network = ipaddress.ip_network(prefix)
    return {(network.version, int(address)) for address in network}


def brute_subset(requested: list[str], allowed: list[str]) -> bool:
    def inside(r: str) -> bool:
        if r == "*":
            return "*" in allowed
        return any(a == "*" or addresses(r) <= addresses(a) for a in allowed)

    return all(inside(r) for r in requested)


@PROPERTY_SETTINGS
@given(st.lists(small_prefix(), min_size=1, max_size=3), st.lists(small_prefix(), min_size=1, max_size=3))
def test_property_is_subset_matches_brute_force(requested: list[str], allowed: list[str]) -> None:
    assert jit.is_subset(requested, allowed) is brute_subset(requested, allowed)


@st.composite
def wide_network(draw) -> ipaddress.IPv4Network:
    length = draw(st.integers(0, 32))
    address = draw(st.integers(0, 2**32 - 1)) >> (32 - length) << (32 - length) if length else 0
    return ipaddress.IPv4Network((address, length))


@PROPERTY_SETTINGS
@given(wide_network(), wide_network())
def test_property_is_subset_matches_address_ranges(
    requested: ipaddress.IPv4Network, allowed: ipaddress.IPv4Network
) -> None:
    inside = int(allowed.network_address) <= int(requested.network_address) and int(requested.broadcast_address) <= int(
        allowed.broadcast_address
    )
    assert jit.is_subset([str(requested)], [str(allowed)]) is inside


@PROPERTY_SETTINGS
@given(
    allowed=st.lists(small_prefix(), min_size=1, max_size=3),
    max_minutes=st.integers(5, 1440),
    mode=st.sampled_from(["duration", "endTimeUtc", "duration", "endTimeUtc", "both", "neither"]),
    seconds=st.one_of(st.integers(1, 5 * 3600), st.integers(-3600, 2 * 86400), st.none()),
    edge=st.sampled_from([-1, 0, 1]),
    source=st.one_of(st.none(), small_prefix(), st.lists(small_prefix(), min_size=1, max_size=2)),
    caller=st.sampled_from(["10.0.0.7", "2001:db8::9", "192.0.2.1"]),
)
def test_property_plan_initiate_accepts_exactly_the_valid_requests(
    allowed: list[str], max_minutes: int, mode: str, seconds: int | None, edge: int, source: Any, caller: str
) -> None:
    if seconds is None:
        seconds = max_minutes * 60 + edge  # right at the port's maximum
    source_field = "allowedSourceAddressPrefixes" if len(allowed) > 1 else "allowedSourceAddressPrefix"
    policy = stored_policy(
        {
            "id": VM1,
            "ports": [
                {
                    "number": 22,
                    "protocol": "TCP",
                    source_field: allowed if len(allowed) > 1 else allowed[0],
                    "maxRequestAccessDuration": f"PT{max_minutes}M",
                }
            ],
        }
    )
    port: dict[str, Any] = {"number": 22}
    duration_text = f"-PT{-seconds}S" if seconds < 0 else f"PT{seconds}S"
    end_text = jit.format_time(NOW + timedelta(seconds=seconds))
    if mode in ("duration", "both"):
        port["duration"] = duration_text
    if mode in ("endTimeUtc", "both"):
        port["endTimeUtc"] = end_text
    if isinstance(source, list):
        port["allowedSourceAddressPrefixes"] = source
    elif source is not None:
        port["allowedSourceAddressPrefix"] = source
    sources = source if isinstance(source, list) else [source if source is not None else caller]

    valid = mode in ("duration", "endTimeUtc") and 0 < seconds <= max_minutes * 60 and brute_subset(sources, allowed)
    try:
        record, grants = jit.plan_initiate(policy, initiate(port), now=NOW, caller_ip=caller, requestor="r@contoso.com")
    except ArmError as err:
        event("rejected")
        assert not valid, err.message
        assert (err.status, err.code) == (400, "InvalidInitiateInput")
        return
    event("accepted")
    assert valid
    [entry] = record["virtualMachines"][0]["ports"]
    assert entry["endTimeUtc"] == end_text
    assert (entry["status"], entry["statusReason"]) == ("Initiated", "UserRequested")
    assert grants == [
        {
            "vm_id": VM1,
            "number": 22,
            "protocol": "TCP",
            "sources": sources,
            "end_time": NOW + timedelta(seconds=seconds),
        }
    ]
