"""A shared estate: no silent widening, no silent loss, no silent cut-off (jit_policy and jit_request)."""

from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request
from typing import Any

from support.ansible import run_playbook
from support.emulator import EmulatorProcess

OFFICE = "203.0.113.0/24"
POLICIES = "/providers/Microsoft.Security/jitNetworkAccessPolicies"
RESTRICTED = [{"number": 22, "protocol": "TCP", "allowed_source": [OFFICE], "max_duration": "1h"}]


def policy_task(title: str = "policy", rg: str = "rg-app", **args: Any) -> dict[str, Any]:
    return {"name": title, "azsecops.jit.jit_policy": {"resource_group": rg, **args}}


def request_task(
    vms: list[dict[str, Any]] | str, title: str = "request", rg: str = "rg-app", **args: Any
) -> dict[str, Any]:
    return {"name": title, "azsecops.jit.jit_request": {"resource_group": rg, "virtual_machines": vms, **args}}


def policies(emu: EmulatorProcess, rg: str = "rg-app") -> list[dict[str, Any]]:
    sub = emu.info["subscription_id"]
    return emu.arm("GET", f"/subscriptions/{sub}/resourceGroups/{rg}{POLICIES}", "2020-01-01")["value"]


def vm_ports(emu: EmulatorProcess, rg: str = "rg-app") -> dict[str, list[dict[str, Any]]]:
    return {
        vm["id"].rsplit("/", 1)[-1]: vm["ports"] for p in policies(emu, rg) for vm in p["properties"]["virtualMachines"]
    }


def initiates(emu: EmulatorProcess) -> list[dict[str, Any]]:
    return [r for r in emu.requests() if r["method"] == "POST" and r["path"].endswith("/initiate")]


def onboard(emu: EmulatorProcess, *vms: str) -> None:
    """RESTRICTED's port under JIT, written by someone else (one ARM PUT, as the portal writes it)."""
    ssh = {"number": 22, "protocol": "TCP", "allowedSourceAddressPrefix": OFFICE, "maxRequestAccessDuration": "PT1H"}
    emu.put_policy("rg-app", vms, [ssh])


# -- point 3: missing ports never widen access ---------------------------------------------------------------


def test_a_listed_vm_without_ports_keeps_its_ports_and_defaults_apply_only_to_new_vms(
    emu: EmulatorProcess, owner_env: dict[str, str]
) -> None:
    onboard(emu, "vm-web-01")
    before = vm_ports(emu)["vm-web-01"]
    run = run_playbook([policy_task(virtual_machines=[{"name": "vm-web-01"}, {"name": "vm-win-01"}])], owner_env)
    assert run.rc == 0, run.stdout
    result = run.result("policy")
    assert result["actions"] == ["add VM vm-win-01"]
    assert vm_ports(emu)["vm-web-01"] == before  # still 22 from the office only, 1 hour
    assert sorted(p["number"] for p in vm_ports(emu)["vm-win-01"]) == [22, 3389, 5985, 5986]
    # The portal's defaults open the new VM's ports to any source: said, once per port.
    wide = [w for w in result["warnings"] if "allows requests from any source" in w]
    assert len(wide) == 4 and all("vm-win-01" in w for w in wide)

    emu.clear_requests()
    again = run_playbook([policy_task(virtual_machines=[{"name": "vm-web-01"}])], owner_env)
    assert again.result("policy")["changed"] is False
    assert emu.writes() == []


def test_empty_port_lists_are_errors_at_both_levels(emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    onboard(emu, "vm-web-01")
    emu.clear_requests()
    run = run_playbook(
        [
            {**policy_task("task level", virtual_machines=[{"name": "vm-web-01"}], ports=[]), "ignore_errors": True},
            {**policy_task("vm level", virtual_machines=[{"name": "vm-web-01", "ports": []}]), "ignore_errors": True},
        ],
        owner_env,
    )
    assert run.result("task level")["msg"].startswith("ports: is an empty list")
    assert run.result("vm level")["msg"].startswith("virtual_machines[0].ports: is empty")
    assert emu.writes() == []


def test_widening_a_source_to_any_warns(emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    onboard(emu, "vm-web-01")
    for source in ("0.0.0.0/0", "::/0"):
        run = run_playbook(
            [policy_task(virtual_machines=[{"name": "vm-web-01"}], ports=[{"number": 22, "allowed_source": [source]}])],
            owner_env,
        )
        assert run.rc == 0, run.stdout
        warnings = run.result("policy").get("warnings", [])
        if source == "0.0.0.0/0":
            assert any(f"port 22 allows requests from any source ({source})" in w for w in warnings), warnings
        else:  # from 0.0.0.0/0 to ::/0 is not a widening: still any source, no new warning
            assert not any("any source" in w for w in warnings), warnings


def test_protocol_in_azures_spelling_can_be_pasted_back(emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    onboard(emu, "vm-web-01")
    emu.clear_requests()
    port = vm_ports(emu)["vm-web-01"][0]  # {"protocol": "TCP", ...} as Azure returns it
    pasted = {
        "number": port["number"],
        "protocol": port["protocol"],
        "allowed_source": [OFFICE],
        "max_duration": "PT1H",
    }
    run = run_playbook([policy_task(virtual_machines=[{"name": "vm-web-01", "ports": [pasted]}])], owner_env)
    assert run.rc == 0, run.stdout
    assert run.result("policy")["changed"] is False
    star = run_playbook(
        [policy_task(virtual_machines=[{"name": "vm-web-01", "ports": [{**pasted, "protocol": "*"}]}])], owner_env
    )
    assert star.result("policy")["actions"] == ["update VM vm-web-01: port 22 protocol TCP -> *"]


# -- point 6: a deleted VM's entry blocks the shared policy ----------------------------------------------


def test_a_stale_entry_is_named_with_its_fix_and_removed_on_request(
    emu: EmulatorProcess, owner_env: dict[str, str]
) -> None:
    onboard(emu, "vm-web-01", "vm-win-01")
    sub = emu.info["subscription_id"]
    emu.arm(
        "DELETE",
        f"/subscriptions/{sub}/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/vm-win-01",
        "2024-07-01",
    )
    assert "vm-win-01" in vm_ports(emu)  # Azure keeps the entry of a deleted VM
    blocked = run_playbook([policy_task(virtual_machines=[{"name": "vm-both-01"}], ports=RESTRICTED)], owner_env)
    assert blocked.rc != 0
    msg = blocked.result("policy")["msg"]
    assert "VM vm-win-01" in msg and "no longer exists" in msg
    assert "remove_missing_vms: true" in msg and "state: absent" in msg

    emu.clear_requests()
    cleared = run_playbook(
        [policy_task(virtual_machines=[{"name": "vm-both-01"}], ports=RESTRICTED, remove_missing_vms=True)], owner_env
    )
    assert cleared.rc == 0, cleared.stdout
    assert cleared.result("policy")["actions"] == ["remove VM vm-win-01 (the VM no longer exists)", "add VM vm-both-01"]
    assert sorted(vm_ports(emu)) == ["vm-both-01", "vm-web-01"]
    # One VM list for the resource group of the entries, whatever the number of VMs.
    vm_lists = [r for r in emu.requests() if r["path"].endswith("/Microsoft.Compute/virtualMachines")]
    assert len(vm_lists) == 1


# -- point 7: a request silently cuts someone else off ----------------------------------------------------


def user_request(emu: EmulatorProcess, upn: str, password: str, vm: str, source: str) -> None:
    """Request access as a user (Azure records a user's UPN as requestor; a service principal's as "")."""
    token = emu.token(
        {
            "grant_type": "password",
            "client_id": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",  # the Azure CLI's public client
            "username": upn,
            "password": password,
            "scope": f"{emu.url}/.default openid profile offline_access",
        }
    )
    policy = policies(emu)[0]
    vm_id = next(v["id"] for v in policy["properties"]["virtualMachines"] if v["id"].endswith(f"/{vm}"))
    body = {
        "virtualMachines": [
            {"id": vm_id, "ports": [{"number": 22, "duration": "PT1H", "allowedSourceAddressPrefix": source}]}
        ]
    }
    req = urllib.request.Request(
        f"{emu.url}{policy['id']}/initiate?api-version=2020-01-01", data=json.dumps(body).encode(), method="POST"
    )
    req.add_header("Authorization", f"Bearer {token}")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, context=emu._ssl, timeout=60) as resp:
        assert resp.status == 202


def test_superseding_someone_elses_access_warns_or_is_refused(
    emu: EmulatorProcess, requester_env: dict[str, str]
) -> None:
    onboard(emu, "vm-web-01")
    sub = emu.info["subscription_id"]
    alice = emu.control(
        "POST",
        "principals",
        {
            "kind": "User",
            "user_principal_name": "alice@contoso.com",
            "password": "alice-pw-1",
            "roles": [{"role": "Owner", "scope": f"/subscriptions/{sub}"}],
        },
    )
    user_request(emu, alice["user_principal_name"], alice["password"], "vm-web-01", "203.0.113.7")
    holder = policies(emu)[0]["properties"]["requests"][0]["requestor"]
    assert holder == "alice@contoso.com"
    emu.advance("PT10M")
    mine = [{"name": "vm-web-01", "ports": [{"number": 22, "allowed_source": ["203.0.113.8"], "duration": "30m"}]}]

    emu.clear_requests()
    refused = run_playbook([request_task(mine, replace_active=False)], requester_env)
    assert refused.rc != 0
    msg = refused.result("request")["msg"]
    assert msg.startswith("replace_active is false")
    # 50 minutes were left by Azure's clock at the advance; the runs themselves take real seconds.
    assert re.search(rf"the active access of {holder} from 203\.0\.113\.7 \((50|49|48)m left", msg), msg
    assert initiates(emu) == []

    replaced = run_playbook([request_task(mine)], requester_env)
    assert replaced.rc == 0, replaced.stdout
    warning = next(w for w in replaced.result("request")["warnings"] if "replaces, and so ends" in w)
    assert re.search(rf"VM vm-web-01 port 22: the active access of {holder} from 203\.0\.113\.7 \((50|49|48)m", warning)


# -- point 8: a VM whose policy lives in another resource group ---------------------------------------------


def test_a_vm_is_found_in_a_policy_of_another_resource_group(emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    run = run_playbook(
        [policy_task(virtual_machines=[{"name": "vm-db-01", "resource_group": "rg-data"}], ports=RESTRICTED)],
        owner_env,
    )
    assert run.rc == 0, run.stdout
    emu.clear_requests()
    req = run_playbook(
        [
            request_task(
                [{"name": "vm-db-01", "ports": [{"number": 22, "allowed_source": ["203.0.113.7"]}]}], rg="rg-data"
            )
        ],
        owner_env,
    )
    assert req.rc == 0, req.stdout
    assert req.result("request")["connections"][0]["vm"] == "vm-db-01"
    policy_lists = [r["path"] for r in emu.requests() if r["method"] == "GET" and r["path"].endswith(POLICIES)]
    sub = emu.info["subscription_id"]
    assert policy_lists[:2] == [
        f"/subscriptions/{sub}/resourceGroups/rg-data{POLICIES}",
        f"/subscriptions/{sub}{POLICIES}",
    ]
    assert len(initiates(emu)) == 1


# -- point 9: wait: false, then wait: true ------------------------------------------------------------------


def test_a_young_grant_is_waited_for_not_renewed(emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    onboard(emu, "vm-web-01")
    vms = [{"name": "vm-web-01", "ports": [{"number": 22, "allowed_source": ["203.0.113.7"], "duration": "1h"}]}]
    emu.settings(rule_delay_seconds=8)
    try:
        emu.clear_requests()
        fired = run_playbook([request_task(vms, wait=False)], owner_env)
        assert fired.rc == 0, fired.stdout
        waited = run_playbook([request_task(vms, wait=True)], owner_env)
    finally:
        emu.settings(rule_delay_seconds=0)
    assert waited.rc == 0, waited.stdout
    result = waited.result("request")
    assert result["changed"] is False
    assert result["connections"][0]["reused"] is True
    assert result["connections"][0]["rules"], "the rules of the pending grant were waited for"
    assert len(initiates(emu)) == 1  # the grant made by the first run was neither renewed nor revoked
    log = policies(emu)[0]["properties"]["requests"]
    assert [r["virtualMachines"][0]["ports"][0]["status"] for r in log] == ["Initiated"]


# -- times: one format, and a grant ends exactly when asked ------------------------------------------------


def test_times_have_one_format_and_the_grant_is_not_a_second_short(
    emu: EmulatorProcess, owner_env: dict[str, str]
) -> None:
    onboard(emu, "vm-web-01")
    vms = [{"name": "vm-web-01", "ports": [{"number": 22, "allowed_source": ["203.0.113.7"], "duration": "1h"}]}]
    run = run_playbook([request_task(vms)], owner_env)
    assert run.rc == 0, run.stdout
    result = run.result("request")
    connection = result["connections"][0]
    request = result["request"]
    times = [
        connection["start_time_utc"],
        connection["end_time_utc"],
        request["start_time_utc"],
        request["virtual_machines"][0]["ports"][0]["end_time_utc"],
    ]
    assert all(len(t) == 20 and t.endswith("Z") and t[10] == "T" for t in times), times
    assert connection["start_time_utc"] == request["start_time_utc"]
    start = connection["start_time_utc"]
    hour, rest = int(start[11:13]), start[13:]
    assert connection["end_time_utc"][:10] >= start[:10]
    assert connection["end_time_utc"][13:] == rest  # same minutes and seconds, one hour later
    assert int(connection["end_time_utc"][11:13]) == (hour + 1) % 24


# -- VM names alone (a list, or the comma-separated string an AWX survey sends) ------------------------------


def test_vm_names_alone_are_accepted(emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    run = run_playbook(
        [
            policy_task(
                "names", virtual_machines=["vm-web-01", "vm-both-01"], ports=[{"number": 22, "max_duration": "1h"}]
            ),
            request_task("vm-web-01, vm-both-01", wait=False),
        ],
        owner_env,
    )
    assert run.rc == 0, run.stdout
    assert run.result("names")["actions"] == ["add VM vm-web-01", "add VM vm-both-01"]
    request = run.result("request")
    assert sorted(c["vm"] for c in request["connections"]) == ["vm-both-01", "vm-web-01"]
    assert len(initiates(emu)) == 1


# -- point 4/5 (jit_policy side): deny rules put back, and rules that let a JIT port in first --------------


def nsg_rules(emu: EmulatorProcess, nsg: str, rg: str = "rg-app") -> list[dict[str, Any]]:
    sub = emu.info["subscription_id"]
    path = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/networkSecurityGroups/{nsg}"
    return emu.arm("GET", path, "2024-05-01")["properties"]["securityRules"]


def jit_deny(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rules if "JITRule_" in r["name"] and r["properties"]["access"] == "Deny"]


def test_a_deleted_deny_rule_is_put_back_and_said(emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    onboard(emu, "vm-web-01")
    [deny] = jit_deny(nsg_rules(emu, "nsg-web-01"))
    sub = emu.info["subscription_id"]
    emu.arm(
        "DELETE",
        f"/subscriptions/{sub}/resourceGroups/rg-app/providers/Microsoft.Network/networkSecurityGroups/nsg-web-01"
        f"/securityRules/{deny['name']}",
        "2024-05-01",
    )
    assert jit_deny(nsg_rules(emu, "nsg-web-01")) == []
    run = run_playbook([policy_task(virtual_machines=[{"name": "vm-web-01"}], ports=RESTRICTED)], owner_env)
    assert run.rc == 0, run.stdout
    result = run.result("policy")
    assert result["changed"] is True
    assert result["actions"] == [
        "restore the deny rule of VM vm-web-01 port 22 in nic NSG nsg-web-01 (it was missing: the port was not closed)"
    ]
    assert len(jit_deny(nsg_rules(emu, "nsg-web-01"))) == 1
    emu.clear_requests()
    again = run_playbook([policy_task(virtual_machines=[{"name": "vm-web-01"}], ports=RESTRICTED)], owner_env)
    assert again.result("policy")["changed"] is False
    assert emu.writes() == []


def test_an_allow_rule_ahead_of_jit_is_named_at_onboarding(emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    run = run_playbook([policy_task(virtual_machines=[{"name": "vm-ssh-open"}], ports=RESTRICTED)], owner_env)
    assert run.rc == 0, run.stdout
    warnings = [w for w in run.result("policy")["warnings"] if "is open whatever JIT says" in w]
    allow = [r for r in nsg_rules(emu, "nsg-ssh-open") if r["properties"]["access"] == "Allow"]
    assert len(warnings) == 1 and allow
    assert f"rule {allow[0]['name']} (priority {allow[0]['properties']['priority']})" in warnings[0]
    # Re-running (the deny rule now exists, after the Allow rule) still says so.
    again = run_playbook([policy_task(virtual_machines=[{"name": "vm-ssh-open"}], ports=RESTRICTED)], owner_env)
    assert any("ahead of JIT's deny rule" in w for w in again.result("policy")["warnings"])
