"""jit_rule_facts against jit-emulator: rules on every NSG of a VM's path, requests, expiry, orphaned and
drifted rules, firewall DNAT rules, the VM filter, call counts, facts, principals and check mode."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from support.ansible import run_playbook
from support.emulator import EmulatorProcess

JIT_API = "2020-01-01"
NET_API = "2024-05-01"
COMPUTE_API = "2024-07-01"
RG_APP_VMS = ["vm-web-01", "vm-win-01", "vm-both-01", "vm-ssh-open", "vm-nonsg-01"]
SOURCE = "203.0.113.7"


# -- helpers -----------------------------------------------------------------------------------------------


def facts_task(title: str = "facts", **args: Any) -> dict[str, Any]:
    return {"name": title, "azsecops.jit.jit_rule_facts": args, "register": "out"}


def facts(env: dict[str, str], check: bool = False, **args: Any) -> dict[str, Any]:
    run = run_playbook([facts_task(**args)], env, check=check)
    assert run.rc == 0, run.stdout + run.stderr
    result = run.result("facts")
    assert result.get("failed") is not True, result
    return result


def rg_path(emu: EmulatorProcess, rg: str) -> str:
    return f"/subscriptions/{emu.info['subscription_id']}/resourceGroups/{rg}"


def vm_id(emu: EmulatorProcess, name: str, rg: str = "rg-app") -> str:
    return f"{rg_path(emu, rg)}/providers/Microsoft.Compute/virtualMachines/{name}"


def nsg_path(emu: EmulatorProcess, nsg: str, rg: str = "rg-app") -> str:
    return f"{rg_path(emu, rg)}/providers/Microsoft.Network/networkSecurityGroups/{nsg}"


def private_ip(emu: EmulatorProcess, nic: str, rg: str = "rg-app") -> str:
    body = emu.arm("GET", f"{rg_path(emu, rg)}/providers/Microsoft.Network/networkInterfaces/{nic}", NET_API)
    return body["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"]


def nsg_rules(emu: EmulatorProcess, nsg: str, rg: str = "rg-app") -> list[dict[str, Any]]:
    return emu.arm("GET", nsg_path(emu, nsg, rg), NET_API)["properties"]["securityRules"]


def put_rule(emu: EmulatorProcess, nsg: str, rule: dict[str, Any], rg: str = "rg-app") -> None:
    props = {k: v for k, v in rule["properties"].items() if k not in ("provisioningState",)}
    emu.arm("PUT", f"{nsg_path(emu, nsg, rg)}/securityRules/{rule['name']}", NET_API, {"properties": props})


def jit_rule(emu: EmulatorProcess, nsg: str, kind: str, vm: str) -> dict[str, Any]:
    prefix = (
        ("MicrosoftDefenderForCloud-JITRule_", "SecurityCenter-JITRule_")
        if kind == "deny"
        else ("MicrosoftDefenderForCloud-JITRule-", "SecurityCenter-JITRule-")
    )
    found = [
        r
        for r in nsg_rules(emu, nsg)
        if r["name"].startswith(prefix) and f"of VM '{vm}'" in r["properties"].get("description", "")
    ]
    assert len(found) == 1, found
    return found[0]


def onboard(emu: EmulatorProcess, rg: str = "rg-app", vms: list[str] | None = None) -> None:
    """SSH from the office under JIT for the VMs (set-up: one ARM PUT; jit_policy has its own tests)."""
    ssh = {"number": 22, "protocol": "TCP", "allowedSourceAddressPrefix": "203.0.113.0/24"}
    emu.put_policy(rg, vms or ["vm-web-01", "vm-win-01", "vm-both-01"], [{**ssh, "maxRequestAccessDuration": "PT3H"}])


def initiate(emu: EmulatorProcess, vm: str, rg: str = "rg-app", source: str = SOURCE, duration: str = "PT1H") -> dict:
    policies = emu.arm("GET", f"{rg_path(emu, rg)}/providers/Microsoft.Security/jitNetworkAccessPolicies", JIT_API)
    policy_id = policies["value"][0]["id"]
    body = {
        "virtualMachines": [
            {
                "id": vm_id(emu, vm, rg),
                "ports": [{"number": 22, "duration": duration, "allowedSourceAddressPrefix": source}],
            }
        ],
        "justification": "CHG-1234 patch window",
    }
    return emu.arm("POST", f"{policy_id}/initiate", JIT_API, body)


def by_state(rules: list[dict[str, Any]], state: str) -> list[dict[str, Any]]:
    return [r for r in rules if r["state"] == state]


def placement(rules: list[dict[str, Any]], kind: str) -> set[tuple[str, str, str]]:
    return {(r["vm"]["name"], r["nsg"]["name"], r["scope"]) for r in rules if r["kind"] == kind}


@pytest.fixture
def onboarded(emu: EmulatorProcess) -> EmulatorProcess:
    """rg-app's vm-web-01 (NIC NSG), vm-win-01 (subnet NSG) and vm-both-01 (both) under JIT for SSH."""
    onboard(emu)
    emu.clear_requests()
    return emu


# -- deny rules ----------------------------------------------------------------------------------------------


def test_deny_rules_on_every_nsg_of_each_vm_path(onboarded: EmulatorProcess, owner_env: dict[str, str]) -> None:
    emu = onboarded
    result = facts(owner_env, resource_group="rg-app")
    rules = result["rules"]
    assert placement(rules, "deny") == {
        ("vm-web-01", "nsg-web-01", "nic"),
        ("vm-win-01", "nsg-snet-web", "subnet"),
        ("vm-both-01", "nsg-both-01", "nic"),
        ("vm-both-01", "nsg-snet-web", "subnet"),
    }
    assert len(rules) == 4
    ips = {
        "vm-web-01": private_ip(emu, "nic-web-01"),
        "vm-win-01": private_ip(emu, "nic-win-01"),
        "vm-both-01": private_ip(emu, "nic-both-01"),
    }
    for rule in rules:
        assert rule["state"] == "active", rule
        assert rule["reasons"] == []
        assert rule["name"].startswith(("MicrosoftDefenderForCloud-JITRule_", "SecurityCenter-JITRule_"))
        assert (rule["access"], rule["direction"], rule["protocol"]) == ("Deny", "Inbound", "Tcp")
        assert (rule["ports"], rule["sources"]) == (["22"], ["*"])
        assert rule["destinations"] == [ips[rule["vm"]["name"]]]
        assert rule["policy"]["name"] == "default"
        assert rule["request"] is None
        assert rule["firewall"] is None
        assert rule["priority"] >= 1000
    assert result["requests"] == []
    assert result["missing"] == []
    assert result["summary"]["rules"] == {
        "total": 4,
        "active": 4,
        "expired": 0,
        "orphaned": 0,
        "drifted": 0,
        "shadowed": 0,
        "by_kind": {"deny": 4},
    }
    (policy,) = result["policies"]
    assert (policy["name"], policy["resource_group"], policy["location"], policy["kind"]) == (
        "default",
        "rg-app",
        "westeurope",
        "Basic",
    )
    assert sorted(vm["name"] for vm in policy["virtual_machines"]) == ["vm-both-01", "vm-web-01", "vm-win-01"]
    assert policy["virtual_machines"][0]["ports"] == [
        {"number": 22, "protocol": "TCP", "allowed_source": ["203.0.113.0/24"], "max_duration": "PT3H"}
    ]
    assert emu.writes() == []


# -- requests, allow rules and expiry --------------------------------------------------------------------------


def test_allow_rule_after_a_request_is_active_with_its_request_row(
    onboarded: EmulatorProcess, owner_env: dict[str, str]
) -> None:
    emu = onboarded
    record = initiate(emu, "vm-web-01")
    result = facts(owner_env, resource_group="rg-app")
    (row,) = result["requests"]
    assert row["vm"] == {"name": "vm-web-01", "id": vm_id(emu, "vm-web-01")}
    assert (row["port"], row["protocol"], row["status"], row["status_reason"]) == (
        22,
        "TCP",
        "Initiated",
        "UserRequested",
    )
    assert row["allowed_source"] == [SOURCE]
    assert row["justification"] == "CHG-1234 patch window"
    assert row["requestor"] == record["requestor"]
    assert row["start_time_utc"] == record["startTimeUtc"]
    assert row["end_time_utc"] == record["virtualMachines"][0]["ports"][0]["endTimeUtc"]
    assert 3500 < row["seconds_left"] <= 3600
    assert row["active"] is True
    assert "mapped_port" not in row
    assert row["policy"]["name"] == "default"

    allow = [r for r in result["rules"] if r["kind"] == "allow"]
    assert len(allow) == 1
    rule = allow[0]
    assert (rule["nsg"]["name"], rule["scope"], rule["state"], rule["reasons"]) == ("nsg-web-01", "nic", "active", [])
    assert rule["name"].startswith(("MicrosoftDefenderForCloud-JITRule-", "SecurityCenter-JITRule-"))
    assert (rule["access"], rule["ports"], rule["sources"]) == ("Allow", ["22"], [SOURCE])
    assert rule["destinations"] == [private_ip(emu, "nic-web-01")]
    assert rule["request"]["start_time_utc"] == row["start_time_utc"]
    assert rule["request"]["requestor"] == row["requestor"]
    deny = next(r for r in result["rules"] if r["kind"] == "deny" and r["vm"]["name"] == "vm-web-01")
    assert rule["priority"] < deny["priority"]
    assert result["summary"]["requests"] == {"total": 1, "active": 1, "by_status": {"Initiated": 1}}
    assert result["missing"] == []


def test_after_the_end_time_the_request_is_revoked_and_no_allow_rule_remains(
    onboarded: EmulatorProcess, owner_env: dict[str, str]
) -> None:
    emu = onboarded
    initiate(emu, "vm-web-01")
    assert [r["kind"] for r in facts(owner_env, resource_group="rg-app")["rules"]].count("allow") == 1
    emu.advance("PT2H")

    hidden = facts(owner_env, resource_group="rg-app")
    assert hidden["requests"] == []
    assert [r for r in hidden["rules"] if r["kind"] == "allow"] == []
    assert len(by_state(hidden["rules"], "active")) == 4
    assert hidden["missing"] == []

    shown = facts(owner_env, resource_group="rg-app", include_expired=True)
    (row,) = shown["requests"]
    assert (row["status"], row["status_reason"], row["seconds_left"], row["active"]) == ("Revoked", "Expired", 0, False)
    assert shown["summary"]["requests"] == {"total": 1, "active": 0, "by_status": {"Revoked": 1}}


def test_an_allow_rule_that_outlived_its_request_is_expired_and_always_listed(
    onboarded: EmulatorProcess, owner_env: dict[str, str]
) -> None:
    emu = onboarded
    initiate(emu, "vm-web-01")
    allow = jit_rule(emu, "nsg-web-01", "allow", "vm-web-01")
    emu.advance("PT2H")
    assert [r["name"] for r in nsg_rules(emu, "nsg-web-01") if r["name"] == allow["name"]] == []
    # Put the allow rule back, as a failed clean-up would leave it.
    put_rule(emu, "nsg-web-01", allow)

    result = facts(owner_env, resource_group="rg-app")
    assert result["requests"] == []  # include_expired false hides the row...
    (expired,) = by_state(result["rules"], "expired")  # ...but never the rule
    assert expired["name"] == allow["name"]
    assert expired["request"]["status"] == "Revoked"
    assert "ended (Revoked/Expired) but the rule is still there" in expired["reasons"][0]
    assert result["summary"]["rules"]["expired"] == 1


def test_a_newer_request_supersedes_and_the_facts_follow(onboarded: EmulatorProcess, owner_env: dict[str, str]) -> None:
    emu = onboarded
    initiate(emu, "vm-web-01", source="203.0.113.7")
    initiate(emu, "vm-web-01", source="203.0.113.8")
    result = facts(owner_env, resource_group="rg-app", include_expired=True)
    assert [(r["allowed_source"], r["status"], r["status_reason"]) for r in result["requests"]] == [
        (["203.0.113.7"], "Revoked", "NewerRequestInitiated"),
        (["203.0.113.8"], "Initiated", "UserRequested"),
    ]
    (allow,) = [r for r in result["rules"] if r["kind"] == "allow"]
    assert (allow["sources"], allow["state"]) == (["203.0.113.8"], "active")
    assert allow["request"]["start_time_utc"] == result["requests"][1]["start_time_utc"]


# -- orphaned and drifted rules ----------------------------------------------------------------------------------


def test_orphaned_rules_are_reported_with_reasons(onboarded: EmulatorProcess, owner_env: dict[str, str]) -> None:
    emu = onboarded
    ghost = {
        "name": "SecurityCenter-JITRule_-4242_" + "AB" * 16,
        "properties": {
            "description": "ASC JIT Network Access rule for policy 'default' of VM 'vm-ghost-01'.",
            "protocol": "Tcp",
            "sourcePortRange": "*",
            "destinationPortRange": "22",
            "sourceAddressPrefix": "*",
            "destinationAddressPrefix": "10.10.2.99",
            "access": "Deny",
            "priority": 1100,
            "direction": "Inbound",
        },
    }
    put_rule(emu, "nsg-web-01", ghost)
    lookalike = copy.deepcopy(ghost)
    lookalike["name"] = "SecurityCenter-JITRule-allow-ssh"
    lookalike["properties"].update(access="Allow", priority=150, description="temporary, remove later")
    put_rule(emu, "nsg-ssh-open", lookalike)
    # vm-both-01 is deleted while the policy still lists it: its deny rules stay behind.
    emu.arm("DELETE", vm_id(emu, "vm-both-01"), COMPUTE_API)

    result = facts(owner_env, resource_group="rg-app")
    # The same deny rule name is used on both NSGs of a VM: key by NSG and name.
    orphans = {(r["nsg"]["name"], r["name"]): r for r in by_state(result["rules"], "orphaned")}
    ghost_rule = orphans[("nsg-web-01", ghost["name"])]
    assert ghost_rule["vm"] is None
    assert ghost_rule["reasons"] == [
        "VM 'vm-ghost-01' named in the rule's description does not exist (among the VMs read)"
    ]
    fake = orphans[("nsg-ssh-open", "SecurityCenter-JITRule-allow-ssh")]
    assert (fake["kind"], fake["scope"]) == ("unknown", "nic")
    assert "does not follow JIT's naming" in fake["reasons"][0]
    gone = [r for r in orphans.values() if r["vm"] and r["vm"]["name"] == "vm-both-01"]
    assert {r["nsg"]["name"] for r in gone} == {"nsg-both-01", "nsg-snet-web"}
    for rule in gone:
        assert rule["reasons"] == ["VM vm-both-01 no longer exists (policy 'default' still lists it)"]
    assert len(orphans) == 4
    assert result["summary"]["rules"]["orphaned"] == 4
    assert {(r["vm"]["name"], r["state"]) for r in result["rules"] if r["kind"] == "deny" and r["vm"]} >= {
        ("vm-web-01", "active"),
        ("vm-win-01", "active"),
    }


def test_hand_edited_rules_are_drifted_with_reasons(onboarded: EmulatorProcess, owner_env: dict[str, str]) -> None:
    emu = onboarded
    initiate(emu, "vm-web-01")
    # The deny rule of vm-win-01 now guards another port; the allow rule of vm-web-01 another source.
    deny = jit_rule(emu, "nsg-snet-web", "deny", "vm-win-01")
    deny["properties"]["destinationPortRange"] = "2222"
    put_rule(emu, "nsg-snet-web", deny)
    allow = jit_rule(emu, "nsg-web-01", "allow", "vm-web-01")
    allow["properties"]["sourceAddressPrefix"] = "198.51.100.9"
    put_rule(emu, "nsg-web-01", allow)
    # vm-both-01's deny rule is rewritten with the plural fields only (same meaning): not a drift.
    plural = jit_rule(emu, "nsg-both-01", "deny", "vm-both-01")
    props = plural["properties"]
    props["destinationPortRanges"] = [props.pop("destinationPortRange")]
    props["destinationAddressPrefixes"] = [props.pop("destinationAddressPrefix")]
    put_rule(emu, "nsg-both-01", plural)
    # And its subnet rule gets a wrong destination.
    wrong = jit_rule(emu, "nsg-snet-web", "deny", "vm-both-01")
    wrong["properties"]["destinationAddressPrefix"] = "10.10.1.99"
    put_rule(emu, "nsg-snet-web", wrong)

    result = facts(owner_env, resource_group="rg-app")
    drifted = {r["name"]: r for r in by_state(result["rules"], "drifted")}  # names differ: one rule per NSG here
    assert drifted[deny["name"]]["reasons"] == ["destination port is 2222, not the policy's port 22"]
    assert drifted[deny["name"]]["ports"] == ["2222"]
    assert drifted[allow["name"]]["reasons"] == [f"source is 198.51.100.9, not the request's {SOURCE}"]
    assert drifted[allow["name"]]["request"] is not None
    both_ip = private_ip(emu, "nic-both-01")
    assert drifted[wrong["name"]]["reasons"] == [f"destination is 10.10.1.99, not the VM's private IP {both_ip}"]
    assert len(drifted) == 3
    rewritten = next(r for r in result["rules"] if r["name"] == plural["name"] and r["nsg"]["name"] == "nsg-both-01")
    assert (rewritten["state"], rewritten["ports"], rewritten["destinations"]) == ("active", ["22"], [both_ip])
    assert result["summary"]["rules"]["drifted"] == 3


def test_pipeline_assert_from_the_examples_passes_then_fails_on_drift(
    onboarded: EmulatorProcess, owner_env: dict[str, str]
) -> None:
    emu = onboarded
    gate = [
        facts_task(resource_group="rg-app"),
        {
            "name": "gate",
            "ansible.builtin.assert": {
                "that": ["azure_jit.rules | selectattr('state', 'in', ['drifted', 'orphaned']) | list | length == 0"],
                "quiet": True,
            },
        },
    ]
    clean = run_playbook(gate, owner_env)
    assert clean.rc == 0, clean.stdout
    assert clean.result("gate").get("failed") is not True

    deny = jit_rule(emu, "nsg-web-01", "deny", "vm-web-01")
    deny["properties"]["sourceAddressPrefix"] = "10.0.0.0/8"
    put_rule(emu, "nsg-web-01", deny)
    dirty = run_playbook(gate, owner_env)
    assert dirty.rc != 0
    assert dirty.result("gate")["failed"] is True


# -- Azure Firewall ------------------------------------------------------------------------------------------------


def test_firewall_vm_has_its_dnat_rule(emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    onboard(emu, rg="rg-data", vms=["vm-fw-01"])
    record = initiate(emu, "vm-fw-01", rg="rg-data")
    mapped = record["virtualMachines"][0]["ports"][0]["mappedPort"]
    fw_path = f"{rg_path(emu, 'rg-data')}/providers/Microsoft.Network/azureFirewalls/fw-hub"
    pip = emu.arm("GET", f"{rg_path(emu, 'rg-data')}/providers/Microsoft.Network/publicIPAddresses/pip-fw-hub", NET_API)
    fw_ip = pip["properties"]["ipAddress"]
    vm_ip = private_ip(emu, "nic-fw-01", "rg-data")

    result = facts(owner_env, resource_group="rg-data")
    (rule,) = result["rules"]  # no NSG on vm-fw-01's path: only the firewall rule
    assert (rule["kind"], rule["scope"], rule["state"], rule["reasons"]) == ("dnat", "firewall", "active", [])
    assert rule["firewall"]["name"] == "fw-hub"
    assert rule["firewall"]["nat_rule_collection"].startswith(("MDC-JIT-", "ASC-JIT-"))
    assert rule["nsg"] is None
    assert (rule["ports"], rule["destinations"], rule["sources"]) == ([str(mapped)], [fw_ip], [SOURCE])
    assert (rule["translated_address"], rule["translated_port"]) == (vm_ip, "22")
    assert rule["vm"]["name"] == "vm-fw-01"
    (row,) = result["requests"]
    assert row["mapped_port"] == mapped
    assert rule["request"]["start_time_utc"] == row["start_time_utc"]

    # A hand-edited DNAT rule that forwards somewhere else is drifted.
    firewall = emu.arm("GET", fw_path, NET_API)
    collection = next(
        c for c in firewall["properties"]["natRuleCollections"] if c["name"].startswith(("MDC-JIT-", "ASC-JIT-"))
    )
    collection["properties"]["rules"][0]["translatedAddress"] = "10.20.1.99"
    emu.arm("PUT", fw_path, NET_API, firewall)
    drifted = facts(owner_env, resource_group="rg-data")["rules"][0]
    assert drifted["state"] == "drifted"
    assert drifted["reasons"] == [f"translated address is 10.20.1.99, not the VM's private IP {vm_ip}"]


# -- the VM filter and the cost ---------------------------------------------------------------------------------------


def test_virtual_machines_filter(onboarded: EmulatorProcess, owner_env: dict[str, str]) -> None:
    emu = onboarded
    initiate(emu, "vm-web-01")
    result = facts(owner_env, resource_group="rg-app", virtual_machines=["vm-win-01"])
    # nsg-snet-web also holds vm-both-01's rule: left out.
    assert placement(result["rules"], "deny") == {("vm-win-01", "nsg-snet-web", "subnet")}
    assert len(result["rules"]) == 1
    assert result["requests"] == []
    assert [vm["name"] for vm in result["policies"][0]["virtual_machines"]] == ["vm-win-01"]

    by_id = facts(owner_env, virtual_machines=[vm_id(emu, "vm-web-01")])  # no resource_group: subscription
    assert {(r["kind"], r["vm"]["name"]) for r in by_id["rules"]} == {("deny", "vm-web-01"), ("allow", "vm-web-01")}
    assert [r["vm"]["name"] for r in by_id["requests"]] == ["vm-web-01"]
    assert by_id["summary"]["virtual_machines"] == 1

    nobody = facts(owner_env, resource_group="rg-app", virtual_machines=["vm-nope-01"])
    assert (nobody["rules"], nobody["requests"], nobody["policies"]) == ([], [], [])
    assert any("vm-nope-01 was not found" in w for w in nobody["ansible_facts"]["azure_jit"]["warnings"])


def test_calls_per_resource_group_not_per_vm(onboarded: EmulatorProcess, owner_env: dict[str, str]) -> None:
    emu = onboarded

    def calls(**args: Any) -> list[tuple[str, str]]:
        emu.clear_requests()
        facts(owner_env, resource_group="rg-app", **args)
        return [(c["method"], c["path"]) for c in emu.requests()]

    one = calls(virtual_machines=["vm-web-01"])
    every = calls(virtual_machines=RG_APP_VMS)
    unfiltered = calls()
    assert sorted(one) == sorted(every)  # 1 VM or all 5 VMs of rg-app: the same calls
    # Without a filter every firewall of the resource group is read too (for rules of vanished VMs): one list more.
    extra = set(unfiltered) - set(every)
    assert [p.rsplit("/providers/", 1)[-1] for _m, p in extra] == ["Microsoft.Network/azureFirewalls"]
    assert len(unfiltered) == len(every) + 1
    assert all(method == "GET" for method, _path in every)
    assert len(set(every)) == len(every)  # nothing read twice
    # Only lists: not a single per-VM (or per-NSG) GET.
    assert not [p for _m, p in every if "/virtualMachines/" in p or "/networkSecurityGroups/" in p]

    emu.clear_requests()
    facts(owner_env)  # the whole subscription: one list call per resource type
    paths = sorted(c["path"].rsplit("/providers/", 1)[-1] for c in emu.requests())
    assert paths == [
        "Microsoft.Compute/virtualMachines",
        "Microsoft.Network/azureFirewalls",
        "Microsoft.Network/networkInterfaces",
        "Microsoft.Network/networkSecurityGroups",
        "Microsoft.Network/publicIPAddresses",
        "Microsoft.Network/virtualNetworks",
        "Microsoft.Security/jitNetworkAccessPolicies",
    ]


def test_every_page_is_read(onboarded: EmulatorProcess, owner_env: dict[str, str]) -> None:
    emu = onboarded
    whole = facts(owner_env, resource_group="rg-app")
    emu.settings(page_size=1)
    emu.clear_requests()
    paged = facts(owner_env, resource_group="rg-app")
    assert paged["rules"] == whole["rules"]

    def settled(policies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # A policy just written reads Updating until it settles (the emulator's jit_settle_seconds, as Azure
        # does), which may happen between the two reads.
        return [{**p, "provisioning_state": None} for p in policies]

    assert settled(paged["policies"]) == settled(whole["policies"])
    assert len([c for c in emu.requests() if "skiptoken" in c["query"].lower()]) >= 5  # nextLink followed


# -- facts, principals, check mode, validation ------------------------------------------------------------------


def test_ansible_facts_are_set(onboarded: EmulatorProcess, owner_env: dict[str, str]) -> None:
    run = run_playbook(
        [
            facts_task(resource_group="rg-app"),
            {
                "name": "use",
                "ansible.builtin.set_fact": {
                    "deny_vms": "{{ azure_jit.rules | selectattr('kind', 'eq', 'deny') | map(attribute='vm.name') "
                    "| unique | sort }}",
                    "active_count": "{{ azure_jit.summary.rules.active }}",
                    "fact_warnings": "{{ azure_jit.warnings }}",
                },
            },
        ],
        owner_env,
    )
    assert run.rc == 0, run.stdout
    registered = run.result("facts")
    assert set(registered["ansible_facts"]["azure_jit"]) == {
        "policies",
        "requests",
        "rules",
        "missing",
        "summary",
        "warnings",
        "unreadable",
        "stale_entries",
    }
    assert registered["ansible_facts"]["azure_jit"]["rules"] == registered["rules"]
    used = run.result("use")["ansible_facts"]
    assert used["deny_vms"] == ["vm-both-01", "vm-web-01", "vm-win-01"]
    assert int(used["active_count"]) == 4
    assert used["fact_warnings"] == []


def test_reader_principal_reads_everything(
    onboarded: EmulatorProcess, owner_env: dict[str, str], reader_env: dict[str, str]
) -> None:
    emu = onboarded
    initiate(emu, "vm-web-01")
    as_owner = facts(owner_env, resource_group="rg-app")
    as_reader = facts(reader_env, resource_group="rg-app")
    assert as_reader["rules"] == as_owner["rules"]
    assert len(as_reader["rules"]) == 5

    def without_clock(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in row.items() if k != "seconds_left"} for row in rows]

    assert without_clock(as_reader["requests"]) == without_clock(as_owner["requests"])
    assert len(as_reader["requests"]) == 1
    assert as_reader["ansible_facts"]["azure_jit"]["warnings"] == []
    assert not as_reader.get("warnings")


def test_least_privilege_requester_gets_requests_and_warnings(
    onboarded: EmulatorProcess, requester_env: dict[str, str]
) -> None:
    emu = onboarded
    initiate(emu, "vm-web-01")
    result = facts(requester_env, resource_group="rg-app")
    assert result["rules"] == []  # the role cannot read NSGs: rules are unknown, not absent
    assert result["missing"] == []
    assert [r["vm"]["name"] for r in result["requests"]] == ["vm-web-01"]
    assert result["policies"][0]["name"] == "default"
    warnings = result["ansible_facts"]["azure_jit"]["warnings"]
    nsg_warning = next(w for w in warnings if "network security groups" in w)
    assert "nsg-web-01" in nsg_warning
    assert "nsg-both-01" in nsg_warning
    assert "unknown" in nsg_warning
    assert "Microsoft.Network/networkSecurityGroups/read" in nsg_warning
    assert any("virtual networks" in w and "vm-win-01" in w for w in warnings)
    assert [w for w in result["warnings"] if "network security groups" in w]  # also the task's own warnings


def test_check_mode_reads_everything_and_writes_nothing(onboarded: EmulatorProcess, owner_env: dict[str, str]) -> None:
    emu = onboarded
    normal = facts(owner_env, resource_group="rg-app")
    emu.clear_requests()
    checked = facts(owner_env, check=True, resource_group="rg-app")
    assert checked["changed"] is False
    assert checked["rules"] == normal["rules"]
    assert len(checked["rules"]) == 4
    assert emu.requests()  # it did read
    assert emu.writes() == []


INVALID = [
    ({"resource_group": "rg/app"}, "resource_group"),
    ({"virtual_machines": ["vm web"]}, "virtual_machines[0]"),
    ({"virtual_machines": ["vm-web-01", "/subscriptions/x/resourceGroups/rg-app/vm"]}, "virtual_machines[1]"),
]


@pytest.mark.parametrize(("args", "field"), INVALID, ids=[f for _a, f in INVALID])
def test_invalid_input_fails_before_any_call(
    emu: EmulatorProcess, owner_env: dict[str, str], args: dict[str, Any], field: str
) -> None:
    run = run_playbook([facts_task(**args)], owner_env)
    assert run.rc != 0
    result = run.result("facts")
    assert result["failed"] is True
    assert result["msg"].startswith(field), result["msg"]
    assert emu.requests() == []


def test_unknown_resource_group_fails_clearly(emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    run = run_playbook([facts_task(resource_group="rg-missing")], owner_env)
    assert run.rc != 0
    msg = run.result("facts")["msg"]
    assert "rg-missing" in msg
    assert "ResourceGroupNotFound" in msg


# -- both generations of JIT's names in one NSG ------------------------------------------------------------


def network_client(emu: EmulatorProcess) -> Any:
    """The real network SDK client against the emulator, as the built-in Owner."""
    from azure.identity import ClientSecretCredential
    from azure.mgmt.network import NetworkManagementClient

    info = emu.info
    credential = ClientSecretCredential(
        info["tenant_id"],
        info["client_id"],
        info["secret"],
        authority=info["url"],
        disable_instance_discovery=True,
        connection_verify=info["ca_bundle"],
    )
    return NetworkManagementClient(
        credential,
        info["subscription_id"],
        base_url=info["url"],
        credential_scopes=[info["url"] + "/.default"],
        connection_verify=info["ca_bundle"],
    )


def sdk_rule(network: Any, nsg: str, name: str, source: Any, description: str, rg: str = "rg-app") -> None:
    """Write a copy of ``source`` (an SDK SecurityRule) named ``name`` with ``description``, through the SDK."""
    from azure.mgmt.network.models import SecurityRule

    rule = SecurityRule(
        protocol=source.protocol,
        source_port_range="*",
        destination_port_range=source.destination_port_range,
        source_address_prefix=source.source_address_prefix,
        source_address_prefixes=source.source_address_prefixes or None,
        destination_address_prefix=source.destination_address_prefix,
        access=source.access,
        priority=source.priority,
        direction=source.direction,
        description=description,
    )
    network.security_rules.begin_create_or_update(rg, nsg, name, rule).result()


def test_legacy_and_current_names_side_by_side_are_each_classified(
    emu: EmulatorProcess, owner_env: dict[str, str]
) -> None:
    """An older subscription: rules of both generations (renamed in May 2023) and look-alikes in one NSG."""
    task = {
        "name": "policy",
        "azsecops.jit.jit_policy": {
            "resource_group": "rg-app",
            "virtual_machines": [{"name": "vm-web-01"}],
            "ports": [
                {"number": 22, "protocol": "tcp", "allowed_source": ["203.0.113.0/24"], "max_duration": "3h"},
                {"number": 3389, "protocol": "tcp", "allowed_source": ["203.0.113.0/24"], "max_duration": "3h"},
            ],
        },
    }
    run = run_playbook([task], owner_env)
    assert run.rc == 0, run.stdout + run.stderr
    initiate(emu, "vm-web-01")

    # Replace what the emulator wrote by the names real subscriptions hold: the deny rule of port 22 and
    # the allow rule from before May 2023, the deny rule of port 3389 from after. One VM, one int.
    network = network_client(emu)
    written = {r.name: r for r in network.security_rules.list("rg-app", "nsg-web-01")}
    jit = {name: r for name, r in written.items() if "JIT Network Access rule" in (r.description or "")}
    assert len(jit) == 3, sorted(written)
    deny22 = next(r for r in jit.values() if r.access == "Deny" and r.destination_port_range == "22")
    deny3389 = next(r for r in jit.values() if r.access == "Deny" and r.destination_port_range == "3389")
    allow22 = next(r for r in jit.values() if r.access == "Allow")
    for name in jit:
        network.security_rules.begin_delete("rg-app", "nsg-web-01", name).result()
    legacy_deny = "SecurityCenter-JITRule_-838343494_2A2380183DD74A759135DB6C37DBFBD4"
    legacy_allow = "SecurityCenter-JITRule--838343494-8C18BF8921F041989344B4F1E3A0C370"
    current_deny = "MicrosoftDefenderForCloud-JITRule_-838343494_545C5DBC675443D3BF179EFD1EF8254D"
    of_vm = "for policy 'default' of VM 'vm-web-01'."
    sdk_rule(network, "nsg-web-01", legacy_deny, deny22, f"ASC JIT Network Access rule {of_vm}")
    sdk_rule(network, "nsg-web-01", current_deny, deny3389, f"MDC JIT Network Access rule {of_vm}")
    sdk_rule(
        network,
        "nsg-web-01",
        legacy_allow,
        allow22,
        f"ASC JIT Network Access rule created by an initiation request {of_vm}",
    )
    # Look-alikes: the documentation's placeholder read literally, and a lower-case hex part.
    placeholder = "MicrosoftDefenderForCloud-JITRule_-1234567-545C5DBC675443D3BF179EFD1EF8254D"
    lower = "MicrosoftDefenderForCloud-JITRule_-838343494_545c5dbc675443d3bf179efd1ef8254e"
    deny22.priority, deny3389.priority = 3000, 3001
    sdk_rule(network, "nsg-web-01", placeholder, deny22, f"MDC JIT Network Access rule {of_vm}")
    sdk_rule(network, "nsg-web-01", lower, deny3389, f"MDC JIT Network Access rule {of_vm}")

    result = facts(owner_env, resource_group="rg-app", virtual_machines=["vm-web-01"])
    got = {(r["name"], r["kind"], r["naming"], r["state"]) for r in result["rules"]}
    assert got == {
        (legacy_deny, "deny", "legacy", "active"),
        (current_deny, "deny", "current", "active"),
        (legacy_allow, "allow", "legacy", "active"),
        (placeholder, "unknown", None, "orphaned"),
        (lower, "unknown", None, "orphaned"),
    }, result["rules"]
    assert result["missing"] == []
    lookalike = next(r for r in result["rules"] if r["name"] == lower)
    assert "does not follow JIT's naming" in lookalike["reasons"][0]


def test_an_older_subscription_moving_to_todays_names_reads_right(
    emu: EmulatorProcess, owner_env: dict[str, str]
) -> None:
    """jit-emulator told to write the pre-2023 names (an older subscription), then today's: JIT's own writes
    leave a legacy deny rule and a current allow rule of one VM in one NSG, next to a look-alike."""
    emu.control("PUT", "rule-naming", {"subscriptions": {emu.info["subscription_id"]: "legacy"}})
    onboard(emu, vms=["vm-web-01"])
    emu.control("PUT", "rule-naming", {})  # the subscription moves on: new rules get today's names
    initiate(emu, "vm-web-01")
    deny = jit_rule(emu, "nsg-web-01", "deny", "vm-web-01")
    allow = jit_rule(emu, "nsg-web-01", "allow", "vm-web-01")
    assert deny["name"].startswith("SecurityCenter-JITRule_") and deny["properties"]["description"].startswith("ASC ")
    assert allow["name"].startswith("MicrosoftDefenderForCloud-JITRule-")
    assert allow["properties"]["description"].startswith("MDC ")
    # A hand-made copy in today's prefix with lower-case hex: JIT never wrote it.
    _prefix, vm_int, hex_part = deny["name"].split("_")
    lookalike = copy.deepcopy(deny)
    lookalike["name"] = f"MicrosoftDefenderForCloud-JITRule_{vm_int}_{hex_part.lower()}"
    lookalike["properties"].update(priority=3000, destinationPortRange="2222")
    put_rule(emu, "nsg-web-01", lookalike)

    result = facts(owner_env, resource_group="rg-app", virtual_machines=["vm-web-01"])
    got = {(r["name"], r["kind"], r["naming"], r["state"]) for r in result["rules"] if r["nsg"]["name"] == "nsg-web-01"}
    assert got == {
        (deny["name"], "deny", "legacy", "active"),
        (allow["name"], "allow", "current", "active"),
        (lookalike["name"], "unknown", None, "orphaned"),
    }, result["rules"]
    assert result["missing"] == []


# -- what protection is really missing (issue: no false green) -----------------------------------------------

REPO = __import__("pathlib").Path(__file__).resolve().parents[2]


def report_playbook(tmp_path: Any, env: dict[str, str], *extra: str) -> Any:
    """playbooks/report.yml as users run it, with -e jit_fail_on_problems=true."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from support.ansible import collections_path

    cmd = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        str(REPO / "playbooks" / "report.yml"),
        "-e",
        "jit_fail_on_problems=true",
        "-e",
        f"jit_report_dir={tmp_path}",
        "-e",
        "jit_resource_group=rg-app",
        *extra,
    ]
    full_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AZURE_")},
        "ANSIBLE_COLLECTIONS_PATH": collections_path(),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCALHOST_WARNING": "0",
        **env,
    }
    return subprocess.run(cmd, env=full_env, capture_output=True, text=True, timeout=300, check=False)


def test_an_earlier_allow_from_the_internet_shadows_the_deny_rule(
    onboarded: EmulatorProcess, owner_env: dict[str, str], tmp_path: Any
) -> None:
    emu = onboarded
    before = facts(owner_env, resource_group="rg-app", virtual_machines=["vm-web-01"])
    assert before["summary"]["problems"]["total"] == 0, before["summary"]
    clean = report_playbook(tmp_path / "clean", owner_env)
    assert clean.returncode == 0, clean.stdout[-3000:] + clean.stderr[-2000:]

    put_rule(
        emu,
        "nsg-web-01",
        {
            "name": "allow-ssh-internet",
            "properties": {
                "protocol": "Tcp",
                "sourcePortRange": "*",
                "destinationPortRange": "22",
                "sourceAddressPrefix": "Internet",
                "destinationAddressPrefix": "*",
                "access": "Allow",
                "priority": 300,
                "direction": "Inbound",
            },
        },
    )
    emu.clear_requests()
    result = facts(owner_env, resource_group="rg-app", virtual_machines=["vm-web-01"])
    deny = next(r for r in result["rules"] if r["kind"] == "deny" and r["vm"]["name"] == "vm-web-01")
    assert deny["state"] == "shadowed"
    assert deny["shadowed_by"]["name"] == "allow-ssh-internet" and deny["shadowed_by"]["priority"] == 300
    assert "allow-ssh-internet (priority 300, Allow from Internet) lets port 22 in" in deny["reasons"][0]
    assert result["summary"]["problems"]["shadowed"] == 1
    assert result["summary"]["rules"]["shadowed"] == 1
    # Reading the NSG's other rules costs nothing more: the same list calls.
    assert all(c["method"] == "GET" for c in emu.requests())

    failed = report_playbook(tmp_path / "shadowed", owner_env)
    assert failed.returncode != 0, failed.stdout[-3000:]
    assert "JIT report findings: shadowed" in failed.stdout
    assert "allow-ssh-internet" in (tmp_path / "shadowed" / "jit-report.json").read_text()


def test_a_deleted_deny_rule_is_missing_and_fails_the_report(
    onboarded: EmulatorProcess, owner_env: dict[str, str], tmp_path: Any
) -> None:
    emu = onboarded
    rule = jit_rule(emu, "nsg-web-01", "deny", "vm-web-01")
    emu.arm("DELETE", f"{nsg_path(emu, 'nsg-web-01')}/securityRules/{rule['name']}", NET_API)
    result = facts(owner_env, resource_group="rg-app")
    assert [(m["kind"], m["vm"]["name"], m["port"]) for m in result["missing"]] == [("deny", "vm-web-01", 22)]
    assert result["summary"]["problems"]["missing_deny"] == 1
    failed = report_playbook(tmp_path, owner_env)
    assert failed.returncode != 0, failed.stdout[-3000:]


def test_a_credential_that_cannot_read_nsgs_is_not_green(
    onboarded: EmulatorProcess, requester_env: dict[str, str], tmp_path: Any
) -> None:
    result = facts(requester_env, resource_group="rg-app")
    assert result["rules"] == [] and result["missing"] == []
    kinds = {row["resource_type"] for row in result["unreadable"]}
    assert "network security groups" in kinds, result["unreadable"]
    nsg_row = next(row for row in result["unreadable"] if row["resource_type"] == "network security groups")
    assert nsg_row["scope"] == "resource group rg-app"
    assert "Microsoft.Network/networkSecurityGroups/read" in nsg_row["reason"]
    assert result["summary"]["problems"]["unreadable"] == len(result["unreadable"]) >= 1
    failed = report_playbook(tmp_path, requester_env)
    assert failed.returncode != 0, failed.stdout[-3000:]
    assert "No drifted or orphaned JIT rule" not in failed.stdout


def test_a_deleted_vm_keeps_its_rules_and_its_stale_entry_named(
    onboarded: EmulatorProcess, owner_env: dict[str, str]
) -> None:
    emu = onboarded
    emu.arm("DELETE", vm_id(emu, "vm-web-01"), COMPUTE_API)
    one = facts(owner_env, resource_group="rg-app", virtual_machines=["vm-web-01"])
    names = {(r["kind"], r["nsg"]["name"], r["state"]) for r in one["rules"]}
    assert names == {("deny", "nsg-web-01", "orphaned")}, one["rules"]
    assert "no longer exists (policy 'default' still lists it)" in one["rules"][0]["reasons"][0]
    [entry] = one["stale_entries"]
    assert entry["vm"]["name"] == "vm-web-01" and entry["policy"]["name"] == "default"
    assert "VirtualMachineNotFound" in entry["reason"]
    assert "state: absent" in entry["fix"] and "remove_missing_vms: true" in entry["fix"]
    assert one["summary"]["problems"]["stale_entries"] == 1
    assert not [w for w in one["warnings"] if "was not found; it has no rules to report" in w]
    assert [w for w in one["warnings"] if "vm-web-01 no longer exists" in w]

    emu.clear_requests()
    two = facts(owner_env, resource_group="rg-app", virtual_machines=["vm-web-01", "vm-win-01"])
    two_calls = sorted((c["method"], c["path"]) for c in emu.requests())
    emu.clear_requests()
    every = facts(owner_env, resource_group="rg-app", virtual_machines=RG_APP_VMS)
    every_calls = sorted((c["method"], c["path"]) for c in emu.requests())
    assert every_calls == two_calls and len(every_calls) == 5  # 2 VMs or all VMs of the group: the same calls
    assert len(every["stale_entries"]) == len(two["stale_entries"]) == 1


def test_a_policy_in_another_resource_group_is_found_and_its_rules_are_not_orphaned(
    emu: EmulatorProcess, owner_env: dict[str, str]
) -> None:
    location = "westeurope"
    policy_id = (
        f"{rg_path(emu, 'rg-data')}/providers/Microsoft.Security/locations/{location}/jitNetworkAccessPolicies/ops"
    )
    body = {
        "kind": "Basic",
        "properties": {
            "virtualMachines": [
                {
                    "id": vm_id(emu, "vm-web-01"),
                    "ports": [
                        {
                            "number": 22,
                            "protocol": "TCP",
                            "allowedSourceAddressPrefix": "203.0.113.0/24",
                            "maxRequestAccessDuration": "PT3H",
                        }
                    ],
                }
            ]
        },
    }
    emu.arm("PUT", policy_id, JIT_API, body)
    emu.clear_requests()
    result = facts(owner_env, resource_group="rg-app", virtual_machines=["vm-web-01"])
    deny = [r for r in result["rules"] if r["kind"] == "deny"]
    assert [(r["state"], r["policy"]["name"]) for r in deny] == [("active", "ops")], result["rules"]
    assert [p["resource_group"] for p in result["policies"]] == ["rg-data"]
    assert result["summary"]["problems"]["total"] == 0
    policy_calls = [c for c in emu.requests() if "jitNetworkAccessPolicies" in c["path"]]
    assert [c["path"].split("/providers/")[0] for c in policy_calls] == [
        f"/subscriptions/{emu.info['subscription_id']}"
    ]
    whole = facts(owner_env, resource_group="rg-app")
    assert not [r for r in whole["rules"] if r["vm"] and r["vm"]["name"] == "vm-web-01" and r["state"] != "active"]
