"""Pure request logic: validation against the policy, grant reuse by Azure's clock, connection details."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from ansible_collections.azsecops.jit.plugins.module_utils._jit_grants import _grants_from_policy
from ansible_collections.azsecops.jit.plugins.module_utils._jit_model import _JitValueError
from ansible_collections.azsecops.jit.plugins.module_utils._request_manager import _egress_hint
from ansible_collections.azsecops.jit.plugins.module_utils._request_model import (
    _allow_rule_names,
    _connect_command,
    _connection,
    _covering_grant,
    _dnat_rule_names,
    _initiate_body,
    _plan_vm_ports,
    _PlannedPort,
    _recorded_request,
    _WantedPort,
)

VM = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1"  # noqa: E501
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
ENTRY = {
    "id": VM,
    "ports": [
        {
            "number": 22,
            "protocol": "TCP",
            "allowedSourceAddressPrefix": "10.0.0.0/8",
            "maxRequestAccessDuration": "PT3H",
        },
        {
            "number": 3389,
            "protocol": "*",
            "allowedSourceAddressPrefixes": ["203.0.113.0/24", "198.51.100.0/24"],
            "maxRequestAccessDuration": "PT1H",
        },
    ],
}


def test_all_ports_by_default_each_for_its_maximum() -> None:
    ports = _plan_vm_ports(ENTRY, None, "virtual_machines[0]", "default")
    assert [(p.number, p.duration, p.protocol) for p in ports] == [
        (22, timedelta(hours=3), "TCP"),
        (3389, timedelta(hours=1), "*"),
    ]


def test_every_problem_is_reported_at_once() -> None:
    wanted = [
        _WantedPort(22, ("192.168.1.1",), timedelta(hours=4)),
        _WantedPort(8080),
        _WantedPort(3389, ("203.0.113.5",), timedelta(minutes=30)),
    ]
    with pytest.raises(_JitValueError) as err:
        _plan_vm_ports(ENTRY, wanted, "virtual_machines[0]", "default")
    message = err.value.message
    assert "duration PT4H exceeds the policy's maximum PT3H" in message
    assert "192.168.1.1 is not within the policy's allowed sources (10.0.0.0/8)" in message
    assert "port 8080 is not in policy default for this VM (it allows 22, 3389)" in message
    assert "(VM vm1, port 3389)" not in message  # the valid port is not reported


def test_sources_inside_a_policy_range_are_accepted() -> None:
    [port] = _plan_vm_ports(ENTRY, [_WantedPort(3389, ("203.0.113.5", "198.51.100.0/25"))], "vm", "default")
    assert port.sources == ("203.0.113.5", "198.51.100.0/25")


def log(*ports: dict, start: str = "2026-11-22T11:00:00.0000000Z") -> dict:
    return {
        "properties": {
            "requests": [
                {
                    "startTimeUtc": start,
                    "requestor": "me",
                    "virtualMachines": [{"id": VM.upper(), "ports": list(ports)}],
                }
            ]
        }
    }


def port(number: int, source: str, end: str, status: str = "Initiated") -> dict:
    return {
        "number": number,
        "allowedSourceAddressPrefix": source,
        "endTimeUtc": end,
        "status": status,
        "statusReason": "UserRequested",
    }


def planned(sources: tuple[str, ...] | None = ("10.1.2.3",)) -> _PlannedPort:
    return _PlannedPort(VM, 22, "TCP", sources, timedelta(hours=1), timedelta(hours=3))


def test_reuse_needs_same_sources_and_enough_time_left_by_azures_clock() -> None:
    grants = _grants_from_policy(log(port(22, "10.1.2.3", "2026-11-22T12:30:00Z")))
    assert _covering_grant(grants, planned(), NOW, timedelta(minutes=15)) is not None
    assert _covering_grant(grants, planned(), NOW, timedelta(minutes=31)) is None
    assert _covering_grant(grants, planned(("10.1.2.4",)), NOW, timedelta(minutes=15)) is None
    assert _covering_grant(grants, planned(None), NOW, timedelta(minutes=15)) is None


def test_revoked_grants_are_never_reused() -> None:
    grants = _grants_from_policy(log(port(22, "10.1.2.3", "2026-11-22T13:00:00Z", status="Revoked")))
    assert _covering_grant(grants, planned(), NOW, timedelta(minutes=1)) is None


def test_initiate_body_asks_for_durations_so_the_access_ends_exactly_that_long_after_azures_start() -> None:
    body = _initiate_body(
        [
            planned(),
            _PlannedPort(VM, 3389, "*", ("203.0.113.5", "198.51.100.7"), timedelta(minutes=30), timedelta(hours=1)),
        ],
        NOW,
        "CHG-1",
    )
    assert body == {
        "virtualMachines": [
            {
                "id": VM,
                "ports": [
                    {"number": 22, "duration": "PT1H", "allowedSourceAddressPrefix": "10.1.2.3"},
                    {
                        "number": 3389,
                        "duration": "PT30M",
                        "allowedSourceAddressPrefixes": ["203.0.113.5", "198.51.100.7"],
                    },
                ],
            }
        ],
        "justification": "CHG-1",
    }
    assert (
        "allowedSourceAddressPrefix" not in _initiate_body([planned(None)], NOW, None)["virtualMachines"][0]["ports"][0]
    )


def rule(name: str, **props: object) -> dict:
    base = {
        "access": "Allow",
        "direction": "Inbound",
        "destinationPortRange": "22",
        "sourceAddressPrefix": "10.1.2.3",
        "destinationAddressPrefix": "10.0.0.4",
        "protocol": "Tcp",
        "priority": 100,
    }
    base.update(props)
    return {"name": name, "properties": base}


ALLOW = "SecurityCenter-JITRule-1234-" + "A" * 32


def test_a_request_lost_in_transit_is_found_in_the_policy_log() -> None:
    body = _initiate_body([planned()], NOW, "CHG-1")

    def entry(start: str, justification: str | None = "CHG-1", vm: str = VM.upper(), numbers=(22,)) -> dict:
        ports = [{"number": n, "endTimeUtc": "2026-11-22T13:00:00Z", "status": "Initiated"} for n in numbers]
        return {"virtualMachines": [{"id": vm, "ports": ports}], "startTimeUtc": start, "justification": justification}

    ours = entry("2026-11-22T12:00:00.4512Z")  # the VM id's case differs, as Azure may write it
    assert _recorded_request([ours], body, NOW) == ours
    assert _recorded_request([entry("2026-11-22T11:59:59.5Z")], body, NOW) is not None  # Date has whole seconds
    assert _recorded_request(None, body, NOW) is None
    for other in (
        entry("2026-11-22T11:50:00Z"),  # an earlier request
        entry("2026-11-22T12:00:01Z", justification="CHG-2"),
        entry("2026-11-22T12:00:01Z", numbers=(22, 3389)),
        entry("2026-11-22T12:00:01Z", vm=VM.replace("vm1", "vm2")),
        {"virtualMachines": [], "startTimeUtc": "not a time"},
    ):
        assert _recorded_request([other], body, NOW) is None, other
    newest = entry("2026-11-22T12:00:02Z")
    assert _recorded_request([ours, newest], body, NOW) == newest


def test_allow_rules_are_matched_on_the_seed_000_checklist() -> None:
    nsg = {
        "properties": {
            "securityRules": [
                rule(ALLOW),
                rule("SecurityCenter-JITRule_1234_" + "B" * 32, access="Deny"),
                rule("my-own-rule"),
                rule("SecurityCenter-JITRule-1-" + "C" * 32, destinationAddressPrefix="10.0.0.5"),
                rule(
                    "SecurityCenter-JITRule-2-" + "D" * 32,
                    destinationPortRange=None,
                    destinationPortRanges=["20-25"],
                    sourceAddressPrefix=None,
                    sourceAddressPrefixes=["10.1.2.3"],
                ),
            ]
        }
    }
    assert _allow_rule_names(nsg, "10.0.0.4", 22, ["10.1.2.3"]) == [ALLOW, "SecurityCenter-JITRule-2-" + "D" * 32]
    assert _allow_rule_names(nsg, "10.0.0.4", 22, ["10.9.9.9"]) == []
    assert _allow_rule_names(nsg, "10.0.0.4", 23, None) == ["SecurityCenter-JITRule-2-" + "D" * 32]


def test_dnat_rules_match_translation_and_mapped_port() -> None:
    fw = {
        "properties": {
            "natRuleCollections": [
                {
                    "name": "ASC-JIT-1234",
                    "properties": {
                        "rules": [
                            {
                                "name": "r1",
                                "translatedAddress": "10.0.0.4",
                                "translatedPort": "22",
                                "destinationPorts": ["50000"],
                            },
                            {
                                "name": "r2",
                                "translatedAddress": "10.0.0.4",
                                "translatedPort": "3389",
                                "destinationPorts": ["50001"],
                            },
                        ]
                    },
                },
                {
                    "name": "my-nat",
                    "properties": {
                        "rules": [
                            {
                                "name": "mine",
                                "translatedAddress": "10.0.0.4",
                                "translatedPort": "22",
                                "destinationPorts": ["50000"],
                            },
                        ]
                    },
                },
            ]
        }
    }
    assert _dnat_rule_names(fw, "10.0.0.4", 22, 50000) == ["r1"]
    assert _dnat_rule_names(fw, "10.0.0.4", 22, 50001) == []


@pytest.mark.parametrize(
    ("address", "port", "number", "command"),
    [
        ("1.2.3.4", 22, 22, "ssh 1.2.3.4"),
        ("1.2.3.4", 50000, 22, "ssh -p 50000 1.2.3.4"),
        ("1.2.3.4", 3389, 3389, "mstsc /v:1.2.3.4:3389"),
        ("1.2.3.4", 5986, 5986, "Enter-PSSession -ComputerName 1.2.3.4 -Port 5986 -UseSSL"),
        ("1.2.3.4", 8080, 8080, None),
    ],
)
def test_commands(address: str, port: int, number: int, command: str | None) -> None:
    assert _connect_command(address, port, number) == command


def test_connection_prefers_firewall_then_public_then_private() -> None:
    common = dict(
        vm_id=VM,
        number=22,
        protocol="TCP",
        sources=["10.1.2.3"],
        start=NOW,
        end=NOW + timedelta(hours=1),
        now=NOW + timedelta(minutes=10),
        private_ip="10.0.0.4",
        rules=[],
        reused=False,
    )
    fw = _connection(**common, public_ip="20.1.1.1", firewall_ip="20.2.2.2", mapped_port=50003)
    assert (fw["address"], fw["port"], fw["via"], fw["seconds_left"]) == ("20.2.2.2", 50003, "firewall", 3000)
    pub = _connection(**common, public_ip="20.1.1.1", firewall_ip=None, mapped_port=None)
    assert (pub["address"], pub["via"]) == ("20.1.1.1", "public_ip")
    private = _connection(**common, public_ip=None, firewall_ip=None, mapped_port=None)
    assert (private["address"], private["via"], private["command"]) == ("10.0.0.4", "private_ip", "ssh 10.0.0.4")
    blind = _connection(
        **{**common, "private_ip": None}, public_ip=None, firewall_ip=None, mapped_port=None
    )  # the network could not be read
    assert (blind["address"], blind["via"], blind["command"]) == (None, "unknown", None)
    ended = _connection(
        **{**common, "now": NOW + timedelta(hours=2)}, public_ip=None, firewall_ip=None, mapped_port=None
    )
    assert ended["seconds_left"] == 0


def test_proxy_warning_honours_no_proxy() -> None:
    url = "https://management.azure.com/"
    assert "proxy (HTTPS_PROXY)" in (_egress_hint(url, {"HTTPS_PROXY": "http://proxy:3128"}) or "")
    assert "proxy (all_proxy)" in (_egress_hint(url, {"all_proxy": "http://proxy:3128"}) or "")
    hint = _egress_hint(url, {"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": ".azure.com"})
    assert hint is None or "proxy" not in hint
