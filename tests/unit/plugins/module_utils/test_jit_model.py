# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the pure JIT model (durations, prefixes, VM ids, policy merge and diff)."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone

import pytest
from ansible_collections.azsecops.jit.plugins.module_utils._jit_model import (
    _check_duration_bounds,
    _check_name_length,
    _check_policy_name,
    _check_port_number,
    _check_resource_group,
    _check_subscription_id,
    _check_vm_name,
    _format_duration,
    _format_time,
    _is_subset,
    _JitValueError,
    _normalize_prefixes,
    _normalize_protocol,
    _parse_duration,
    _parse_time,
    _parse_vm_id,
    _plan_policy,
    _policy_body,
    _PolicyPlan,
    _PortRule,
    _ports_from_params,
    _prefixes_from_wire,
    _prefixes_to_wire,
    _short_duration,
    _snake,
    _vm_id,
    _VmEntry,
)
from hypothesis import given, settings
from hypothesis import strategies as st

SUB = "11111111-2222-3333-4444-555555555555"
UTC = timezone.utc  # datetime.UTC needs Python 3.11


def vm_id(name: str, rg: str = "rg-app") -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}"


def wire_port(number: int, duration: str = "PT3H", protocol: str = "*", **prefixes: object) -> dict:
    port: dict = {"number": number, "protocol": protocol, "maxRequestAccessDuration": duration}
    port.update(prefixes or {"allowedSourceAddressPrefix": "*"})
    return port


def wire_vm(name: str, *ports: dict, **extra: object) -> dict:
    return {"id": vm_id(name), "ports": list(ports) or [wire_port(22)], **extra}


def desired(name: str, *ports: dict, rg: str = "rg-app") -> _VmEntry:
    return _VmEntry.from_params({"id": vm_id(name, rg), "ports": list(ports) or [{"number": 22}]})


# ---------------------------------------------------------------------------------------------------
# durations
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("3h", 180),
        ("90m", 90),
        ("1d", 1440),
        ("1h30m", 90),
        ("1H30M", 90),
        (" 2h ", 120),
        ("1h 30m", 90),
        ("1d2h", 1560),
        ("PT3H", 180),
        ("PT180M", 180),
        ("P1D", 1440),
        ("PT1H30M", 90),
        ("pt3h", 180),
        ("PT24H", 1440),
        ("PT300S", 5),
        ("P0Y0M1D", 1440),
    ],
)
def test_parse_duration_forms(text: str, minutes: int) -> None:
    assert _parse_duration(text) == timedelta(minutes=minutes)


def test_parse_duration_accepts_timedelta() -> None:
    assert _parse_duration(timedelta(hours=2)) == timedelta(hours=2)


@pytest.mark.parametrize("value", [90, 1.5, "90", " 90 "])
def test_parse_duration_rejects_bare_numbers_and_suggests_unit(value: object) -> None:
    with pytest.raises(_JitValueError) as err:
        _parse_duration(value, "ports[0].max_duration")
    assert err.value.field == "ports[0].max_duration"
    assert "no unit" in err.value.message
    assert "m'" in err.value.message


@pytest.mark.parametrize("value", ["45s", "1m30s", "10S"])
def test_parse_duration_rejects_seconds(value: str) -> None:
    with pytest.raises(_JitValueError, match="seconds are not supported"):
        _parse_duration(value)


@pytest.mark.parametrize("value", ["P1M", "P1Y", "P1Y2M"])
def test_parse_duration_rejects_months_and_years(value: str) -> None:
    with pytest.raises(_JitValueError, match="months and years"):
        _parse_duration(value)


@pytest.mark.parametrize("value", ["", "abc", "3x", "1h30", "P", "PT", "PTXH", "h", True, None, [1]])
def test_parse_duration_rejects_garbage(value: object) -> None:
    with pytest.raises(_JitValueError):
        _parse_duration(value)


@pytest.mark.parametrize("value", ["PT90S", "PT1.51H", "-PT1H", "0m", "PT0M"])
def test_parse_duration_rejects_partial_minutes_and_non_positive(value: str) -> None:
    with pytest.raises(_JitValueError):
        _parse_duration(value)


@pytest.mark.parametrize(
    ("minutes", "iso"),
    [(180, "PT3H"), (90, "PT1H30M"), (1440, "PT24H"), (5, "PT5M"), (0, "PT0M"), (1500, "PT25H")],
)
def test_format_duration(minutes: int, iso: str) -> None:
    assert _format_duration(timedelta(minutes=minutes)) == iso


def test_format_duration_negative() -> None:
    with pytest.raises(ValueError):
        _format_duration(timedelta(minutes=-5))


@given(st.integers(min_value=1, max_value=7 * 24 * 60))
def test_duration_round_trip_iso(minutes: int) -> None:
    td = timedelta(minutes=minutes)
    assert _parse_duration(_format_duration(td)) == td
    assert _parse_duration(_short_duration(td)) == td


@given(st.integers(0, 30), st.integers(0, 48), st.integers(0, 600))
def test_duration_short_form_any_combination(days: int, hours: int, minutes: int) -> None:
    total = timedelta(days=days, hours=hours, minutes=minutes)
    text = (f"{days}d" if days else "") + (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    if not text:
        return
    assert _parse_duration(text) == total
    assert _parse_duration(_format_duration(total)) == total


def test_duration_bounds() -> None:
    assert _check_duration_bounds(timedelta(minutes=5), "f") == timedelta(minutes=5)
    assert _check_duration_bounds(timedelta(hours=24), "f") == timedelta(hours=24)
    with pytest.raises(_JitValueError) as err:
        _check_duration_bounds(timedelta(hours=25), "virtual_machines[0].ports[1].max_duration")
    assert str(err.value) == (
        "virtual_machines[0].ports[1].max_duration: 25h is above the 24h maximum Azure allows; "
        "use at most 24h (or PT24H)"
    )
    with pytest.raises(_JitValueError, match="4m is below the 5m minimum Azure allows; use at least 5m"):
        _check_duration_bounds(timedelta(minutes=4), "f")


def test_duration_bounds_custom_limit() -> None:
    with pytest.raises(_JitValueError, match="4h is above the 3h maximum the policy allows"):
        _check_duration_bounds(timedelta(hours=4), "duration", high=timedelta(hours=3), limit_owner="the policy")


# ---------------------------------------------------------------------------------------------------
# protocols, ports
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "wire"),
    [("tcp", "TCP"), ("TCP", "TCP"), ("Udp", "UDP"), ("any", "*"), ("*", "*"), ("ANY", "*"), (None, "*")],
)
def test_normalize_protocol(value: object, wire: str) -> None:
    assert _normalize_protocol(value) == wire


@pytest.mark.parametrize("value", ["icmp", "", 6])
def test_normalize_protocol_invalid(value: object) -> None:
    with pytest.raises(_JitValueError, match="use tcp, udp or any"):
        _normalize_protocol(value, "ports[0].protocol")


def test_port_number() -> None:
    assert _check_port_number(22) == 22
    assert _check_port_number("3389") == 3389
    assert _check_port_number(65535) == 65535
    with pytest.raises(_JitValueError, match="port 0 is not a usable port"):
        _check_port_number(0)
    for bad in (65536, -1, True, "ssh", 22.0, None):
        with pytest.raises(_JitValueError):
            _check_port_number(bad)


def test_duplicate_ports_name_both_positions() -> None:
    with pytest.raises(_JitValueError) as err:
        _ports_from_params([{"number": 22}, {"number": 3389}, {"number": 22, "protocol": "udp"}], "vms[0].ports")
    assert err.value.field == "vms[0].ports[2]"
    assert "vms[0].ports[0]" in err.value.message
    assert "vms[0].ports[2]" in err.value.message


def test_ports_must_be_a_list() -> None:
    with pytest.raises(_JitValueError, match="must be a list"):
        _ports_from_params({"number": 22}, "ports")


# ---------------------------------------------------------------------------------------------------
# source prefixes
# ---------------------------------------------------------------------------------------------------


def test_prefixes_default_any() -> None:
    assert _normalize_prefixes(None) == ("*",)
    assert _normalize_prefixes("*") == ("*",)
    assert _normalize_prefixes("any") == ("*",)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10.0.0.0/8", ("10.0.0.0/8",)),
        ("203.0.113.7", ("203.0.113.7",)),
        (["10.0.0.0/8", "192.168.1.1"], ("10.0.0.0/8", "192.168.1.1")),
        ("10.0.0.0/8, 192.168.0.0/16", ("10.0.0.0/8", "192.168.0.0/16")),
        (["2001:DB8::/32", "2001:db8::1"], ("2001:db8::/32", "2001:db8::1")),
        (["10.0.0.1", "10.0.0.1", "10.0.0.1/32", "10.0.0.2"], ("10.0.0.1", "10.0.0.2")),
        (["192.168.0.0/16", "10.0.0.0/8"], ("192.168.0.0/16", "10.0.0.0/8")),
    ],
)
def test_prefixes_valid(value: object, expected: tuple[str, ...]) -> None:
    assert _normalize_prefixes(value) == expected


def test_prefixes_host_bits_suggest_network() -> None:
    with pytest.raises(_JitValueError) as err:
        _normalize_prefixes(["10.0.0.0/8", "10.0.0.1/8"], "ports[0].allowed_source")
    assert err.value.field == "ports[0].allowed_source[1]"
    assert "10.0.0.1/8 has host bits set; did you mean 10.0.0.0/8?" in err.value.message


def test_prefixes_host_bits_v6() -> None:
    with pytest.raises(_JitValueError, match="did you mean 2001:db8::/32"):
        _normalize_prefixes("2001:db8::1/32")


@pytest.mark.parametrize("value", ["10.0.0.0/33", "300.1.1.1", "Internet", "", "10.0.0.0/8/1", ["ok", 1]])
def test_prefixes_invalid(value: object) -> None:
    with pytest.raises(_JitValueError):
        _normalize_prefixes(value)


def test_prefixes_star_must_stand_alone() -> None:
    with pytest.raises(_JitValueError, match="cannot be combined"):
        _normalize_prefixes(["*", "10.0.0.0/8"])


def test_prefixes_empty_list_is_refused() -> None:
    with pytest.raises(_JitValueError, match="allow nobody"):
        _normalize_prefixes([])


def test_prefixes_wire() -> None:
    assert _prefixes_to_wire(("*",)) == {"allowedSourceAddressPrefix": "*"}
    assert _prefixes_to_wire(("1.2.3.4", "10.0.0.0/8")) == {"allowedSourceAddressPrefixes": ["1.2.3.4", "10.0.0.0/8"]}
    assert _prefixes_from_wire({"allowedSourceAddressPrefix": "1.2.3.4"}) == ("1.2.3.4",)
    assert _prefixes_from_wire({"allowedSourceAddressPrefixes": ["1.2.3.4", "5.6.7.0/24"]}) == (
        "1.2.3.4",
        "5.6.7.0/24",
    )
    assert _prefixes_from_wire({}) == ("*",)
    assert _prefixes_from_wire({"allowedSourceAddressPrefixes": [], "allowedSourceAddressPrefix": None}) == ("*",)
    # Whatever Azure holds is kept, even if we would not accept it as input.
    assert _prefixes_from_wire({"allowedSourceAddressPrefix": "Internet"}) == ("Internet",)


@pytest.mark.parametrize(
    ("requested", "allowed", "expected"),
    [
        (["1.2.3.4"], ["*"], True),
        (["*"], ["*"], True),
        (["*"], ["10.0.0.0/8"], False),
        (["10.1.2.3"], ["10.0.0.0/8"], True),
        (["10.1.0.0/16"], ["10.0.0.0/8"], True),
        (["10.0.0.0/8"], ["10.1.0.0/16"], False),
        (["10.0.0.0/24"], ["10.0.0.0/25", "10.0.0.128/25"], False),  # tests/contract/jit.yml decides
        (["10.0.0.5", "192.168.1.1"], ["10.0.0.0/8"], False),
        (["10.0.0.5", "192.168.1.1"], ["10.0.0.0/8", "192.168.0.0/16"], True),
        (["2001:db8::1"], ["2001:db8::/32"], True),
        (["2001:db8::1"], ["10.0.0.0/8"], False),
        (["10.0.0.1"], ["::/0"], False),
        ("10.0.0.1", "10.0.0.1", True),
        (["10.0.0.1"], ["10.0.0.1/32"], True),
        (["garbage"], ["10.0.0.0/8"], False),
    ],
)
def test_is_subset(requested: object, allowed: object, expected: bool) -> None:
    assert _is_subset(requested, allowed) is expected


# ---------------------------------------------------------------------------------------------------
# port rules and VM entries
# ---------------------------------------------------------------------------------------------------


def test_port_rule_defaults_and_wire() -> None:
    rule = _PortRule.from_params({"number": 22})
    assert rule == _PortRule(22, "*", ("*",), timedelta(hours=3))
    assert rule.to_wire() == {
        "number": 22,
        "protocol": "*",
        "allowedSourceAddressPrefix": "*",
        "maxRequestAccessDuration": "PT3H",
    }
    assert rule.to_result() == {"number": 22, "protocol": "*", "allowed_source": ["*"], "max_duration": "PT3H"}


def test_port_rule_params_none_values_use_defaults() -> None:
    rule = _PortRule.from_params({"number": 22, "protocol": None, "allowed_source": None, "max_duration": None})
    assert rule == _PortRule(22)
    assert _PortRule.from_params(3389) == _PortRule(3389)


def test_port_rule_errors_carry_field_path() -> None:
    with pytest.raises(_JitValueError) as err:
        _PortRule.from_params({"number": 22, "max_duration": "25h"}, "virtual_machines[0].ports[1]")
    assert err.value.field == "virtual_machines[0].ports[1].max_duration"
    with pytest.raises(_JitValueError) as err:
        _PortRule.from_params({"number": 22, "protocol": "icmp"}, "p")
    assert err.value.field == "p.protocol"


def test_port_rule_semantic_equality() -> None:
    a = _PortRule.from_wire(wire_port(22, "PT3H", "TCP", allowedSourceAddressPrefix="10.0.0.1"))
    b = _PortRule.from_wire(wire_port(22, "PT180M", "tcp", allowedSourceAddressPrefixes=["10.0.0.1/32"]))
    c = _PortRule.from_params({"number": 22, "protocol": "tcp", "allowed_source": ["10.0.0.1"], "max_duration": "3h"})
    assert a == b == c
    assert hash(a) == hash(b) == hash(c)
    assert a != _PortRule.from_params({"number": 22, "protocol": "udp", "allowed_source": "10.0.0.1"})
    # Order of several prefixes does not matter.
    d = _PortRule(22, "TCP", ("10.0.0.0/8", "192.168.0.0/16"))
    e = _PortRule(22, "TCP", ["192.168.0.0/16", "10.0.0.0/8"])
    assert d == e
    assert d != "not a rule"


def test_port_rule_from_wire_lenient_and_strict() -> None:
    assert (
        _PortRule.from_wire({"number": "22", "protocol": "ICMP", "maxRequestAccessDuration": "PT1H"}).protocol == "ICMP"
    )
    with pytest.raises(_JitValueError, match="maxRequestAccessDuration"):
        _PortRule.from_wire({"number": 22, "protocol": "*", "maxRequestAccessDuration": "soon"})
    with pytest.raises(_JitValueError, match="number"):
        _PortRule.from_wire({"protocol": "*", "maxRequestAccessDuration": "PT1H"})


def test_vm_entry_wire_round_trip() -> None:
    raw = wire_vm("vm1", wire_port(3389), wire_port(22, "PT1H"), publicIpAddress="20.1.2.3")
    entry = _VmEntry.from_wire(raw)
    assert [port.number for port in entry.ports] == [22, 3389]
    assert entry.public_ip_address == "20.1.2.3"
    assert entry.key == vm_id("vm1").lower()
    assert entry.name == "vm1"
    assert _VmEntry.from_wire(entry.to_wire()) == entry
    assert entry.to_wire()["publicIpAddress"] == "20.1.2.3"
    assert entry.to_result()["ports"][0]["max_duration"] == "PT1H"
    assert "public_ip_address" not in entry.to_result()
    assert entry.to_result(include_public_ip=True)["public_ip_address"] == "20.1.2.3"


def test_vm_entry_from_params_by_name() -> None:
    entry = _VmEntry.from_params(
        {"name": "vm1", "ports": [{"number": 22}]}, subscription_id=SUB, resource_group="rg-app"
    )
    assert entry.id == vm_id("vm1")
    entry2 = _VmEntry.from_params({"name": "vm1", "resource_group": "rg-app", "subscription_id": SUB, "ports": [22]})
    assert entry2 == entry


@pytest.mark.parametrize(
    ("params", "kwargs", "match"),
    [
        ({"ports": [22]}, {}, "needs id"),
        ({"id": vm_id("a"), "name": "a", "ports": [22]}, {}, "not both"),
        ({"name": "a", "ports": [22]}, {"subscription_id": SUB}, "resource_group"),
        ({"name": "a", "ports": [22]}, {"resource_group": "rg"}, "subscription"),
        ({"id": vm_id("a")}, {}, "ports: is required"),
        ({"id": vm_id("a"), "ports": []}, {}, "at least one port"),
        ({"id": vm_id("a" * 50), "ports": [22]}, {"policy_name": "default"}, "at most 56"),
    ],
)
def test_vm_entry_from_params_errors(params: dict, kwargs: dict, match: str) -> None:
    with pytest.raises(_JitValueError, match=match):
        _VmEntry.from_params(params, "virtual_machines[0]", **kwargs)


def test_vm_entry_absent_needs_only_id() -> None:
    entry = _VmEntry.from_params({"id": vm_id("a")}, require_ports=False)
    assert entry.ports == ()


# ---------------------------------------------------------------------------------------------------
# VM ids and names
# ---------------------------------------------------------------------------------------------------


def test_parse_vm_id() -> None:
    assert _parse_vm_id(vm_id("vm-1")) == (SUB, "rg-app", "vm-1")
    lower = f"/subscriptions/{SUB}/resourcegroups/RG/providers/microsoft.compute/VIRTUALMACHINES/web01/"
    assert _parse_vm_id(lower) == (SUB, "RG", "web01")


def test_parse_vm_id_classic() -> None:
    classic = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.ClassicCompute/virtualMachines/old"
    with pytest.raises(_JitValueError, match="classic VMs are not supported by JIT"):
        _parse_vm_id(classic)


@pytest.mark.parametrize(
    "value",
    [
        "vm1",
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/nic",
        "/subscriptions/not-a-guid/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm",
        f"/subscriptions/{SUB}/resourceGroups/rg./providers/Microsoft.Compute/virtualMachines/vm",
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm-",
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm/extra",
        None,
    ],
)
def test_parse_vm_id_invalid(value: object) -> None:
    with pytest.raises(_JitValueError):
        _parse_vm_id(value)


def test_vm_id_builds_and_validates() -> None:
    assert _vm_id(SUB, "rg-app", "vm1") == vm_id("vm1")
    with pytest.raises(_JitValueError):
        _vm_id(SUB, "rg", "_bad")


@pytest.mark.parametrize("name", ["a", "vm-01", "web.prod_1", "A" * 64, "x.y"])
def test_vm_name_valid(name: str) -> None:
    assert _check_vm_name(name) == name


@pytest.mark.parametrize("name", ["", "_vm", "vm.", "vm-", "A" * 65, "vm 1", "vm/1", "vmé"])
def test_vm_name_invalid(name: str) -> None:
    with pytest.raises(_JitValueError, match="not a VM name"):
        _check_vm_name(name)


@pytest.mark.parametrize("name", ["rg", "RG-app_1.(x)", "r" * 90, "grupo-ñ"])
def test_resource_group_valid(name: str) -> None:
    assert _check_resource_group(name) == name


@pytest.mark.parametrize("name", ["", "rg.", "r" * 91, "rg/x", "rg x"])
def test_resource_group_invalid(name: str) -> None:
    with pytest.raises(_JitValueError):
        _check_resource_group(name)


def test_subscription_id() -> None:
    assert _check_subscription_id(SUB.upper()) == SUB.upper()
    with pytest.raises(_JitValueError, match="GUID"):
        _check_subscription_id("1234")


def test_name_length_56() -> None:
    _check_name_length("default", "v" * 49, "f")  # 7 + 49 = 56
    with pytest.raises(_JitValueError) as err:
        _check_name_length("default", "v" * 50, "virtual_machines[3]")
    assert err.value.field == "virtual_machines[3]"
    assert "57" in err.value.message and "at most 56" in err.value.message


def test_policy_name() -> None:
    assert _check_policy_name("default") == "default"
    for bad in ("", "a/b", "x?", "p" * 56):
        with pytest.raises(_JitValueError):
            _check_policy_name(bad)


# ---------------------------------------------------------------------------------------------------
# _plan_policy
# ---------------------------------------------------------------------------------------------------


def test_plan_create() -> None:
    plan = _plan_policy(None, [desired("vm1", {"number": 22}, {"number": 3389, "max_duration": "1h"})])
    assert isinstance(plan, _PolicyPlan)
    assert plan.changed
    assert plan.actions == ["add VM vm1"]
    assert not plan.delete_policy
    assert plan.before == {}
    assert plan.vms == [
        {
            "id": vm_id("vm1"),
            "ports": [
                {"number": 22, "protocol": "*", "allowedSourceAddressPrefix": "*", "maxRequestAccessDuration": "PT3H"},
                {
                    "number": 3389,
                    "protocol": "*",
                    "allowedSourceAddressPrefix": "*",
                    "maxRequestAccessDuration": "PT1H",
                },
            ],
        }
    ]
    assert plan.after["virtual_machines"][0]["name"] == "vm1"
    assert plan.kind == "Basic"


def test_plan_merge_keeps_other_vm_verbatim() -> None:
    other = wire_vm("other", wire_port(3389, "PT180M", "TCP"), publicIpAddress="20.0.0.1", futureField={"x": 1})
    existing = [other]
    snapshot = copy.deepcopy(existing)
    plan = _plan_policy(existing, [desired("vm1")])
    assert plan.changed
    assert plan.actions == ["add VM vm1"]
    assert plan.vms[0] == snapshot[0]  # verbatim, unknown fields included
    assert plan.vms[1]["id"] == vm_id("vm1")
    assert existing == snapshot  # input not mutated
    assert [vm["name"] for vm in plan.after["virtual_machines"]] == ["other", "vm1"]


def test_plan_update_port() -> None:
    existing = [wire_vm("vm1", wire_port(22, "PT3H"), wire_port(3389)), wire_vm("vm2")]
    plan = _plan_policy(existing, [desired("vm1", {"number": 22, "max_duration": "1h"}, {"number": 5985})])
    assert plan.changed
    assert plan.actions == [
        "update VM vm1: port 22 max_duration PT3H -> PT1H",
        "remove port 3389 from VM vm1",
        "add port 5985 to VM vm1",
    ]
    assert [vm["id"] for vm in plan.vms] == [vm_id("vm1"), vm_id("vm2")]
    assert [p["number"] for p in plan.vms[0]["ports"]] == [22, 5985]
    assert plan.before["virtual_machines"][0]["ports"][0]["max_duration"] == "PT3H"
    assert plan.after["virtual_machines"][0]["ports"][0]["max_duration"] == "PT1H"


def test_plan_update_protocol_and_source_actions() -> None:
    existing = [wire_vm("vm1", wire_port(22))]
    plan = _plan_policy(existing, [desired("vm1", {"number": 22, "protocol": "tcp", "allowed_source": "10.0.0.0/8"})])
    assert plan.actions == ["update VM vm1: port 22 protocol * -> TCP, allowed_source * -> 10.0.0.0/8"]


def test_plan_noop_rerun() -> None:
    first = _plan_policy(None, [desired("vm1", {"number": 22}, {"number": 3389})])
    second = _plan_policy(first.vms, [desired("vm1", {"number": 3389}, {"number": 22})])
    assert not second.changed
    assert second.actions == []
    assert second.vms == first.vms
    assert second.before == second.after
    assert not second.delete_policy


def test_plan_keeps_public_ip_of_existing_entry() -> None:
    existing = [wire_vm("vm1", wire_port(22), publicIpAddress="20.1.1.1")]
    plan = _plan_policy(existing, [desired("vm1", {"number": 22, "max_duration": "1h"})])
    assert plan.changed
    assert plan.vms[0]["publicIpAddress"] == "20.1.1.1"


def test_plan_purge() -> None:
    existing = [wire_vm("vm1"), wire_vm("vm2"), wire_vm("vm3")]
    plan = _plan_policy(existing, [desired("vm2")], purge=True)
    assert plan.changed
    assert plan.actions == ["remove VM vm1", "remove VM vm3"]
    assert [vm["id"] for vm in plan.vms] == [vm_id("vm2")]
    assert not plan.delete_policy


def test_plan_absent_one_vm() -> None:
    existing = [wire_vm("vm1"), wire_vm("vm2")]
    plan = _plan_policy(existing, [_VmEntry(id=vm_id("vm1"))], state="absent")
    assert plan.changed
    assert plan.actions == ["remove VM vm1"]
    assert plan.vms == [existing[1]]
    assert not plan.delete_policy
    again = _plan_policy(plan.vms, [_VmEntry(id=vm_id("vm1"))], state="absent")
    assert not again.changed


def test_plan_absent_last_vm_deletes_policy() -> None:
    plan = _plan_policy([wire_vm("vm1")], [_VmEntry(id=vm_id("vm1"))], state="absent")
    assert plan.delete_policy
    assert plan.changed
    assert plan.after == {}
    assert plan.actions == ["remove VM vm1", "delete policy"]


def test_plan_absent_whole_policy() -> None:
    plan = _plan_policy([wire_vm("vm1"), wire_vm("vm2")], [], state="absent")
    assert plan.delete_policy and plan.changed
    assert plan.vms == []
    assert plan.actions == ["remove VM vm1", "remove VM vm2", "delete policy"]
    assert plan.after == {}
    assert len(plan.before["virtual_machines"]) == 2


def test_plan_absent_missing_policy_is_noop() -> None:
    plan = _plan_policy(None, [], state="absent")
    assert not plan.changed and not plan.delete_policy
    assert plan.before == plan.after == {}
    plan = _plan_policy(None, [_VmEntry(id=vm_id("vm1"))], state="absent")
    assert not plan.changed and not plan.delete_policy


def test_plan_present_nothing_listed_on_empty_policy_does_not_delete() -> None:
    plan = _plan_policy([], [])
    assert not plan.changed and not plan.delete_policy


def test_plan_case_insensitive_ids() -> None:
    raw = wire_vm("vm1")
    raw["id"] = raw["id"].upper().replace("/SUBSCRIPTIONS/", "/subscriptions/")
    plan = _plan_policy([raw], [desired("vm1")])
    assert not plan.changed
    assert plan.vms == [raw]


def test_plan_duration_forms_are_equal() -> None:
    existing = [wire_vm("vm1", wire_port(22, "PT180M"))]
    plan = _plan_policy(existing, [desired("vm1", {"number": 22, "max_duration": "PT3H"})])
    assert not plan.changed
    plan = _plan_policy(existing, [desired("vm1", {"number": 22, "max_duration": "3h"})])
    assert not plan.changed


def test_plan_singular_vs_plural_prefix() -> None:
    existing = [wire_vm("vm1", wire_port(22, "PT3H", "TCP", allowedSourceAddressPrefixes=["10.0.0.0/8"]))]
    plan = _plan_policy(existing, [desired("vm1", {"number": 22, "protocol": "tcp", "allowed_source": "10.0.0.0/8"})])
    assert not plan.changed


def test_plan_never_compares_requests_or_read_only_fields() -> None:
    # Requests live next to virtualMachines in the policy; entries may carry fields we do not know.
    raw = wire_vm("vm1", wire_port(22), provisioningState="Succeeded")
    plan = _plan_policy([raw], [desired("vm1")], existing_kind="Basic")
    assert not plan.changed
    body = _policy_body(plan.vms, kind=plan.kind, requests=[{"startTimeUtc": "2026-01-01T00:00:00Z"}])
    assert body["properties"]["requests"] == [{"startTimeUtc": "2026-01-01T00:00:00Z"}]
    assert body["kind"] == "Basic"
    assert "requests" not in _policy_body(plan.vms)["properties"]


def test_plan_kind_change() -> None:
    plan = _plan_policy([wire_vm("vm1")], [desired("vm1")], existing_kind="Basic", kind="Premium")
    assert plan.changed and plan.kind == "Premium"
    assert plan.actions == ["update policy kind Basic -> Premium"]
    assert not _plan_policy([wire_vm("vm1")], [desired("vm1")], existing_kind="basic", kind="Basic").changed


def test_plan_duplicate_desired_vm() -> None:
    with pytest.raises(_JitValueError) as err:
        _plan_policy(None, [desired("vm1"), desired("vm2"), desired("VM1")])
    assert err.value.field == "virtual_machines[2]"
    assert "virtual_machines[0]" in err.value.message


def test_plan_unreadable_existing_entry_is_replaced() -> None:
    raw = wire_vm("vm1", wire_port(22, "whenever"))
    plan = _plan_policy([raw], [desired("vm1")])
    assert plan.changed
    assert plan.vms[0]["ports"][0]["maxRequestAccessDuration"] == "PT3H"
    assert "replace the entry" in plan.actions[0]
    assert plan.before["virtual_machines"][0]["ports"][0]["max_request_access_duration"] == "whenever"


def test_plan_invalid_state() -> None:
    with pytest.raises(ValueError):
        _plan_policy(None, [], state="gone")


_names = st.from_regex(r"[a-z][a-z0-9]{0,7}", fullmatch=True)


@settings(max_examples=150, deadline=None)
@given(
    existing_names=st.lists(_names, unique=True, max_size=6),
    desired_names=st.lists(_names, unique=True, max_size=4),
    state=st.sampled_from(["present", "absent"]),
    minutes=st.integers(5, 1440),
)
def test_plan_never_drops_unlisted_vm_without_purge(
    existing_names: list[str], desired_names: list[str], state: str, minutes: int
) -> None:
    existing = [
        wire_vm(name, wire_port(22, _format_duration(timedelta(minutes=minutes))), extra=name)
        for name in existing_names
    ]
    wanted = [desired(name, {"number": 22, "max_duration": "1h"}) for name in desired_names]
    plan = _plan_policy(existing, wanted, state=state, purge=False)
    listed = {vm_id(name).lower() for name in desired_names}
    if state == "absent" and not desired_names:
        assert plan.delete_policy
        return
    for raw in existing:
        if raw["id"].lower() not in listed:
            assert raw in plan.vms  # kept, verbatim
    # Existing order first, new ones appended.
    kept_order = [vm["id"] for vm in plan.vms if vm["id"] in {raw["id"] for raw in existing}]
    assert kept_order == [raw["id"] for raw in existing if raw["id"] in kept_order]
    if state == "present":
        assert {vm["id"].lower() for vm in plan.vms} == {vm_id(n).lower() for n in existing_names} | listed
        assert not plan.delete_policy
    # Re-planning on the result (no policy once it was deleted) is always a no-op.
    again = _plan_policy(None if plan.delete_policy else plan.vms, wanted, state=state, purge=False)
    assert not again.changed
    assert again.vms == plan.vms


# ---------------------------------------------------------------------------------------------------
# _snake and times
# ---------------------------------------------------------------------------------------------------


def test_snake() -> None:
    data = {
        "maxRequestAccessDuration": "PT3H",
        "publicIpAddress": "1.2.3.4",
        "properties": {
            "virtualMachines": [{"startTimeUtc": "x", "allowedSourceAddressPrefixes": ["camelValue"]}],
            "provisioningState": "Succeeded",
        },
        "publicIPAddress": "y",
        "tags": {"CostCenter": "A"},
        "already_snake": 1,
        7: "int key",
    }
    assert _snake(data) == {
        "max_request_access_duration": "PT3H",
        "public_ip_address": "y",
        "properties": {
            "virtual_machines": [{"start_time_utc": "x", "allowed_source_address_prefixes": ["camelValue"]}],
            "provisioning_state": "Succeeded",
        },
        "tags": {"CostCenter": "A"},
        "already_snake": 1,
        7: "int key",
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2018-05-17T08:06:45.5691611Z", datetime(2018, 5, 17, 8, 6, 45, 569161, tzinfo=UTC)),
        ("2018-05-17T08:06:45Z", datetime(2018, 5, 17, 8, 6, 45, tzinfo=UTC)),
        ("2018-05-17T08:06:45.5+00:00", datetime(2018, 5, 17, 8, 6, 45, 500000, tzinfo=UTC)),
        ("2018-05-17T10:06:45+02:00", datetime(2018, 5, 17, 8, 6, 45, tzinfo=UTC)),
        ("2018-05-17T03:06:45-0500", datetime(2018, 5, 17, 8, 6, 45, tzinfo=UTC)),
        ("2018-05-17T08:06:45", datetime(2018, 5, 17, 8, 6, 45, tzinfo=UTC)),
        ("Sun, 22 Nov 2026 17:37:11 GMT", datetime(2026, 11, 22, 17, 37, 11, tzinfo=UTC)),
    ],
)
def test_parse_time(text: str, expected: datetime) -> None:
    parsed = _parse_time(text)
    assert parsed.tzinfo is not None
    assert parsed == expected


@pytest.mark.parametrize("text", ["", "yesterday", "2018-13-01T00:00:00Z", 5])
def test_parse_time_invalid(text: object) -> None:
    with pytest.raises(_JitValueError):
        _parse_time(text, "end_time")


def test_format_time() -> None:
    assert _format_time(datetime(2026, 11, 22, 17, 37, 11, tzinfo=UTC)) == "2026-11-22T17:37:11Z"
    assert _format_time(datetime(2026, 11, 22, 17, 37, 11, 500, tzinfo=UTC)) == "2026-11-22T17:37:11.000500Z"
    eastern = timezone(timedelta(hours=-5))
    assert _format_time(datetime(2026, 11, 22, 12, 0, tzinfo=eastern)) == "2026-11-22T17:00:00Z"
    assert _format_time(datetime(2026, 11, 22, 17, 0)) == "2026-11-22T17:00:00Z"
    naive = datetime(2026, 1, 2, 3, 4, 5)
    assert _parse_time(naive) == naive.replace(tzinfo=UTC)


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)))
def test_time_round_trip(dt: datetime) -> None:
    assert _parse_time(_format_time(dt)) == dt
