"""jit_policy against jit-emulator: merge, idempotence, check/diff, purge, absent, errors, faults, concurrency."""

from __future__ import annotations

import concurrent.futures
from typing import Any

import pytest
from jit_emulator.scale import scale_world
from support.ansible import awx_env, run_playbook
from support.emulator import EmulatorProcess

POLICIES = "/providers/Microsoft.Security/jitNetworkAccessPolicies"


def policy_task(title: str = "policy", **args: Any) -> dict[str, Any]:
    return {"name": title, "azsecops.jit.jit_policy": {"resource_group": "rg-app", **args}, "register": "out"}


def ssh(**extra: Any) -> list[dict[str, Any]]:
    return [{"number": 22, "protocol": "tcp", **extra}]


def policy_vms(emu: EmulatorProcess, rg: str = "rg-app") -> dict[str, list[dict[str, Any]]]:
    sub = emu.info["subscription_id"]
    body = emu.arm("GET", f"/subscriptions/{sub}/resourceGroups/{rg}{POLICIES}", "2020-01-01")
    out: dict[str, list[dict[str, Any]]] = {}
    for policy in body["value"]:
        for vm in policy["properties"]["virtualMachines"]:
            out[vm["id"].rsplit("/", 1)[-1]] = vm["ports"]
    return out


def nsg_rules(emu: EmulatorProcess, nsg: str, rg: str = "rg-app") -> list[dict[str, Any]]:
    sub = emu.info["subscription_id"]
    path = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/networkSecurityGroups/{nsg}"
    return emu.arm("GET", path, "2024-05-01")["properties"]["securityRules"]


def jit_deny_ports(rules: list[dict[str, Any]]) -> list[str]:
    return sorted(
        r["properties"]["destinationPortRange"]
        for r in rules
        if r["name"].startswith(("MicrosoftDefenderForCloud-JITRule_", "SecurityCenter-JITRule_"))
    )


def test_create_then_idempotent_rerun_makes_no_write(emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    task = policy_task(
        virtual_machines=[{"name": "vm-web-01"}], ports=ssh(allowed_source=["10.0.0.0/8"], max_duration="1h")
    )
    first = run_playbook([task], owner_env)
    assert first.rc == 0, first.stdout + first.stderr
    result = first.result("policy")
    assert result["changed"] is True
    assert result["actions"] == ["add VM vm-web-01"]
    port = result["policy"]["properties"]["virtual_machines"][0]["ports"][0]
    assert port == {
        "number": 22,
        "protocol": "TCP",
        "allowed_source_address_prefix": "10.0.0.0/8",
        "max_request_access_duration": "PT1H",
    }
    assert jit_deny_ports(nsg_rules(emu, "nsg-web-01")) == ["22"]
    writes = emu.writes()
    assert [(w["method"], w["status"]) for w in writes] == [("PUT", 200)]

    emu.clear_requests()
    second = run_playbook([task], owner_env)
    assert second.rc == 0, second.stdout
    assert second.result("policy")["changed"] is False
    calls = emu.requests()
    assert emu.writes() == []
    # A no-change run reads the resource group's policies once, and the VMs' network (one list per type and
    # resource group) to check that their deny rules are there.
    assert [(c["method"], c["path"].rsplit("/providers/", 1)[-1]) for c in calls] == [
        ("GET", "Microsoft.Security/jitNetworkAccessPolicies"),
        ("GET", "Microsoft.Compute/virtualMachines"),
        ("GET", "Microsoft.Network/networkInterfaces"),
        ("GET", "Microsoft.Network/publicIPAddresses"),
        ("GET", "Microsoft.Network/virtualNetworks"),
        ("GET", "Microsoft.Network/networkSecurityGroups"),
    ]
    emu.clear_requests()
    lean = run_playbook(
        [{**task, "azsecops.jit.jit_policy": {**task["azsecops.jit.jit_policy"], "check_rules": False}}], owner_env
    )
    assert lean.result("policy")["changed"] is False
    assert [(c["method"], c["path"].rsplit("/providers/", 1)[-1]) for c in emu.requests()] == [
        ("GET", "Microsoft.Security/jitNetworkAccessPolicies")
    ]


def test_a_policy_still_updating_is_accepted_without_waiting(emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    """Azure answers a policy PUT with provisioningState Updating, and a read right after says the same
    (recorded); it says Succeeded once the rules are applied. The module neither waits for that nor fails on it."""
    emu.settings(jit_settle_seconds=3600)  # Updating for the whole test, however slow the machine
    task = policy_task(virtual_machines=[{"name": "vm-web-01"}], ports=ssh(allowed_source=["10.0.0.0/8"]))
    first = run_playbook([task], owner_env)
    assert first.rc == 0, first.stdout + first.stderr
    result = first.result("policy")
    assert result["changed"] is True
    assert result["policy"]["properties"]["provisioning_state"] == "Updating"
    assert result["verification"]["attempts"] == 1 and result["verification"]["waited_seconds"] == 0
    policy_calls = [c["method"] for c in emu.requests() if "jitNetworkAccessPolicies" in c["path"]]
    assert policy_calls == ["GET", "PUT", "GET"]  # the read, the write, the one check after it: no polling

    emu.clear_requests()
    second = run_playbook([task], owner_env)
    assert second.rc == 0, second.stdout + second.stderr
    again = second.result("policy")
    assert again["changed"] is False and again["policy"]["properties"]["provisioning_state"] == "Updating"
    assert emu.writes() == []
    assert [c["method"] for c in emu.requests() if "jitNetworkAccessPolicies" in c["path"]] == ["GET"]


def test_second_vm_is_merged_and_first_kept(emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    run = run_playbook(
        [
            policy_task("first", virtual_machines=[{"name": "vm-web-01"}], ports=ssh()),
            policy_task(
                "second", virtual_machines=[{"name": "vm-win-01", "ports": [{"number": 3389, "protocol": "tcp"}]}]
            ),
        ],
        owner_env,
    )
    assert run.rc == 0, run.stdout
    assert run.result("second")["actions"] == ["add VM vm-win-01"]
    vms = policy_vms(emu)
    assert sorted(vms) == ["vm-web-01", "vm-win-01"]
    assert vms["vm-web-01"][0]["number"] == 22
    assert vms["vm-win-01"][0]["number"] == 3389


def test_update_a_port_changes_only_that_vm(emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    setup = run_playbook(
        [policy_task(virtual_machines=[{"name": "vm-web-01"}, {"name": "vm-both-01"}], ports=ssh(max_duration="3h"))],
        owner_env,
    )
    assert setup.rc == 0, setup.stdout
    before_other = policy_vms(emu)["vm-both-01"]
    run = run_playbook(
        [policy_task(virtual_machines=[{"name": "vm-web-01", "ports": ssh(max_duration="1h")}])], owner_env, diff=True
    )
    assert run.rc == 0, run.stdout
    result = run.result("policy")
    assert result["actions"] == ["update VM vm-web-01: port 22 max_duration PT3H -> PT1H"]
    assert policy_vms(emu)["vm-web-01"][0]["maxRequestAccessDuration"] == "PT1H"
    assert policy_vms(emu)["vm-both-01"] == before_other
    before = {vm["name"]: vm["ports"] for vm in result["diff"]["before"]["virtual_machines"]}
    after = {vm["name"]: vm["ports"] for vm in result["diff"]["after"]["virtual_machines"]}
    assert before["vm-web-01"][0]["max_duration"] == "PT3H"
    assert after["vm-web-01"][0]["max_duration"] == "PT1H"
    assert before["vm-both-01"] == after["vm-both-01"]


def test_check_mode_predicts_exactly_and_writes_nothing(emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    task = policy_task(virtual_machines=[{"name": "vm-web-01"}, {"name": "vm-win-01"}], ports=ssh())
    checked = run_playbook([task], owner_env, check=True, diff=True)
    assert checked.rc == 0, checked.stdout
    predicted = checked.result("policy")
    assert predicted["changed"] is True
    assert emu.writes() == []
    assert policy_vms(emu) == {}
    real = run_playbook([task], owner_env, diff=True)
    done = real.result("policy")
    assert done["changed"] is True
    assert predicted["actions"] == done["actions"]
    assert predicted["diff"] == done["diff"]
    assert predicted["policy"]["properties"]["virtual_machines"] == done["policy"]["properties"]["virtual_machines"]

    emu.clear_requests()
    again = run_playbook([task], owner_env, check=True)
    assert again.result("policy")["changed"] is False
    assert emu.writes() == []


def test_purge_removes_unlisted_vms_and_their_rules(emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    run_playbook(
        [policy_task(virtual_machines=[{"name": "vm-web-01"}, {"name": "vm-both-01"}], ports=ssh())], owner_env
    )
    assert jit_deny_ports(nsg_rules(emu, "nsg-both-01")) == ["22"]
    run = run_playbook(
        [policy_task(virtual_machines=[{"name": "vm-web-01"}], ports=ssh(), purge_virtual_machines=True)], owner_env
    )
    assert run.rc == 0, run.stdout
    assert run.result("policy")["actions"] == ["remove VM vm-both-01"]
    assert sorted(policy_vms(emu)) == ["vm-web-01"]
    assert jit_deny_ports(nsg_rules(emu, "nsg-both-01")) == []


def test_absent_removes_one_vm_then_the_whole_policy(emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    run_playbook([policy_task(virtual_machines=[{"name": "vm-web-01"}, {"name": "vm-win-01"}], ports=ssh())], owner_env)
    one = run_playbook([policy_task(virtual_machines=[{"name": "vm-win-01"}], state="absent")], owner_env)
    assert one.rc == 0, one.stdout
    assert one.result("policy")["actions"] == ["remove VM vm-win-01"]
    assert sorted(policy_vms(emu)) == ["vm-web-01"]
    assert jit_deny_ports(nsg_rules(emu, "nsg-snet-web")) == []

    # An empty list (a computed `to_remove` that came out empty) never deletes the shared policy.
    emu.clear_requests()
    empty = run_playbook([policy_task(state="absent", virtual_machines=[])], owner_env)
    assert empty.rc != 0
    assert empty.result("policy")["msg"].startswith("virtual_machines: is empty")
    assert "delete_policy: true" in empty.result("policy")["msg"]
    assert emu.writes() == []
    assert sorted(policy_vms(emu)) == ["vm-web-01"]

    whole = run_playbook([policy_task(state="absent", delete_policy=True)], owner_env)
    assert whole.rc == 0, whole.stdout
    assert whole.result("policy")["actions"] == ["remove VM vm-web-01", "delete policy"]
    assert whole.result("policy")["policy"] == {}
    assert policy_vms(emu) == {}
    assert jit_deny_ports(nsg_rules(emu, "nsg-web-01")) == []
    assert [w["method"] for w in emu.writes()][-1] == "DELETE"

    emu.clear_requests()
    again = run_playbook([policy_task(state="absent", delete_policy=True)], owner_env)
    assert again.result("policy")["changed"] is False
    assert emu.writes() == []


def test_last_vm_removed_deletes_the_policy(emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    run_playbook([policy_task(virtual_machines=[{"name": "vm-web-01"}], ports=ssh())], owner_env)
    emu.clear_requests()
    run = run_playbook([policy_task(virtual_machines=[{"name": "vm-web-01"}], state="absent")], owner_env)
    assert run.result("policy")["actions"] == ["remove VM vm-web-01", "delete policy"]
    assert [w["method"] for w in emu.writes()] == ["DELETE"]


INVALID = [
    (dict(virtual_machines=[{"name": "vm-web-01"}], ports=[{"number": 70000}]), "ports[0].number"),
    (dict(virtual_machines=[{"name": "vm-web-01"}], ports=[{"number": 22, "max_duration": "2d"}]), "max_duration"),
    (dict(virtual_machines=[{"name": "vm-web-01"}], ports=[{"number": 22, "max_duration": "1m"}]), "max_duration"),
    (dict(virtual_machines=[{"name": "vm-web-01"}], ports=[{"number": 22, "max_duration": "soon"}]), "max_duration"),
    (
        dict(virtual_machines=[{"name": "vm-web-01"}], ports=[{"number": 22, "allowed_source": ["10.0.0.1/8"]}]),
        "10.0.0.0/8",
    ),
    (
        dict(virtual_machines=[{"name": "vm-web-01"}], ports=[{"number": 22, "allowed_source": ["not-an-ip"]}]),
        "allowed_source",
    ),
    (
        dict(virtual_machines=[{"name": "vm-web-01"}], ports=[{"number": 22, "allowed_source": ["*", "10.0.0.0/8"]}]),
        "allowed_source",
    ),
    (dict(virtual_machines=[{"name": "vm-web-01"}], ports=[{"number": 22}, {"number": 22}]), "listed twice"),
    (dict(virtual_machines=[{"id": "/subscriptions/x/vm"}], ports=[{"number": 22}]), "virtual_machines[0].id"),
    (dict(name="p" * 50, virtual_machines=[{"name": "vm-web-01"}], ports=[{"number": 22}]), "56"),
    (dict(virtual_machines=[{"name": "vm-web-01"}, {"name": "VM-WEB-01"}], ports=[{"number": 22}]), "listed twice"),
    (dict(virtual_machines=[{"name": "vm-missing"}], ports=[{"number": 22}]), "vm-missing"),
    (dict(virtual_machines=[{"name": "bad/name"}], ports=[{"number": 22}]), "virtual_machines[0]"),
]


@pytest.mark.parametrize(("args", "expected"), INVALID, ids=[expected for _args, expected in INVALID])
def test_invalid_input_fails_clearly_before_any_write(
    emu: EmulatorProcess, owner_env: dict[str, str], args: dict[str, Any], expected: str
) -> None:
    run = run_playbook([policy_task(**args)], owner_env)
    assert run.rc != 0
    result = run.result("policy")
    assert result.get("failed") is True
    assert expected in result["msg"], result["msg"]
    assert emu.writes() == []


def test_invalid_input_makes_no_call_at_all(emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    run = run_playbook([policy_task(virtual_machines=[{"name": "vm-web-01"}], ports=[{"number": 0}])], owner_env)
    assert run.rc != 0
    assert emu.requests() == []


def test_ineligible_vm_fails_with_the_reason_and_changes_nothing(
    emu: EmulatorProcess, owner_env: dict[str, str]
) -> None:
    run = run_playbook(
        [policy_task(virtual_machines=[{"name": "vm-web-01"}, {"name": "vm-nonsg-01"}], ports=ssh())], owner_env
    )
    assert run.rc != 0
    msg = run.result("policy")["msg"]
    assert "VirtualMachineMissingNsgOrFirewall" in msg
    assert "network security group" in msg
    assert policy_vms(emu) == {}
    assert jit_deny_ports(nsg_rules(emu, "nsg-web-01")) == []


def test_reader_gets_a_clear_permission_error(emu: EmulatorProcess, reader_env: dict[str, str]) -> None:
    run = run_playbook([policy_task(virtual_machines=[{"name": "vm-web-01"}], ports=ssh())], reader_env)
    assert run.rc != 0
    result = run.result("policy")
    msg = result["msg"]
    assert "AuthorizationFailed" in msg
    assert "Microsoft.Security/locations/jitNetworkAccessPolicies/write" in msg
    assert "Owner, Contributor or Security Admin" in msg
    assert result["error"]["code"] == "AuthorizationFailed"
    assert [(w["method"], w["status"]) for w in emu.writes()] == [("PUT", 403)]


def test_requester_cannot_change_the_policy(emu: EmulatorProcess, requester_env: dict[str, str]) -> None:
    run = run_playbook(
        [policy_task(virtual_machines=[{"name": "vm-web-01"}], ports=ssh(), location="westeurope")], requester_env
    )
    assert run.rc != 0
    assert "jitNetworkAccessPolicies/write" in run.result("policy")["msg"]


@pytest.mark.parametrize("status", [429, 503])
def test_transient_faults_converge(emu: EmulatorProcess, owner_env: dict[str, str], status: int) -> None:
    emu.faults([{"status": status, "count": 2, "retry_after": 0, "path": "jitNetworkAccessPolicies"}])
    run = run_playbook([policy_task(virtual_machines=[{"name": "vm-web-01"}], ports=ssh(), api_retries=4)], owner_env)
    emu.faults([])
    assert run.rc == 0, run.stdout
    assert run.result("policy")["changed"] is True
    assert [r["status"] for r in emu.requests()].count(status) == 2
    assert sorted(policy_vms(emu)) == ["vm-web-01"]


def test_security_admin_configures_jit_without_reading_vms(emu: EmulatorProcess) -> None:
    """Security Admin may write JIT policies but not read VMs: the module writes and Azure validates."""
    sub = emu.info["subscription_id"]
    admin = emu.control("POST", "principals", {"roles": [{"role": "Security Admin", "scope": f"/subscriptions/{sub}"}]})
    env = awx_env(emu.info, admin["client_id"], admin["secret"])
    good = run_playbook([policy_task(virtual_machines=[{"name": "vm-web-01"}], ports=ssh())], env)
    assert good.result("policy")["changed"] is True
    assert any("were not checked before writing" in w for w in good.result("policy")["warnings"])
    assert sorted(policy_vms(emu)) == ["vm-web-01"]
    emu.clear_requests()
    ghost = run_playbook([policy_task(virtual_machines=[{"name": "vm-ghost"}], ports=ssh())], env)
    assert ghost.rc != 0
    assert "VirtualMachineNotFound" in ghost.result("policy")["msg"]
    assert [(w["method"], w["status"]) for w in emu.writes()] == [("PUT", 400)]
    assert sorted(policy_vms(emu)) == ["vm-web-01"]  # nothing was lost


def test_dropped_connections_converge(emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    # The connection is cut with no answer, once on the read and once on the write (PUT is idempotent).
    emu.faults(
        [
            {"drop": "before", "count": 1, "method": "GET", "path": "jitNetworkAccessPolicies"},
            {"drop": "before", "count": 1, "method": "PUT", "path": "jitNetworkAccessPolicies"},
        ]
    )
    run = run_playbook([policy_task(virtual_machines=[{"name": "vm-web-01"}], ports=ssh())], owner_env)
    emu.faults([])
    assert run.rc == 0, run.stdout
    assert run.result("policy")["changed"] is True
    statuses = [(r["method"], r["status"]) for r in emu.requests() if "jitNetworkAccessPolicies" in r["path"]]
    assert statuses.count(("GET", 0)) == 1 and statuses.count(("PUT", 0)) == 1
    assert statuses.count(("PUT", 200)) == 1  # written once, after the retry
    assert sorted(policy_vms(emu)) == ["vm-web-01"]


def test_connections_dropped_beyond_the_retry_budget_fail_clearly(
    emu: EmulatorProcess, owner_env: dict[str, str]
) -> None:
    emu.faults([{"drop": "before", "path": "jitNetworkAccessPolicies"}])
    run = run_playbook([policy_task(virtual_machines=[{"name": "vm-web-01"}], ports=ssh(), api_retries=1)], owner_env)
    emu.faults([])
    assert run.rc != 0
    msg = run.result("policy")["msg"]
    assert "the connection broke before Azure answered" in msg and "re-running the task is safe" in msg
    assert emu.writes() == []


def test_faults_beyond_the_retry_budget_fail_clearly(emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    emu.faults([{"status": 503, "retry_after": 0, "path": "jitNetworkAccessPolicies"}])
    run = run_playbook([policy_task(virtual_machines=[{"name": "vm-web-01"}], ports=ssh(), api_retries=1)], owner_env)
    emu.faults([])
    assert run.rc != 0
    assert "503" in run.result("policy")["msg"]


def test_ten_concurrent_playbooks_lose_no_vm(emu: EmulatorProcess) -> None:
    emu.reset(scale_world(10))
    env = awx_env(emu.info)

    def onboard(i: int) -> int:
        task = {
            "name": "policy",
            "azsecops.jit.jit_policy": {
                "resource_group": "rg-scale",
                "virtual_machines": [{"name": f"vm-{i:04d}"}],
                "ports": ssh(),
            },
        }
        return run_playbook([task], env).rc

    with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
        codes = list(pool.map(onboard, range(10)))
    assert codes == [0] * 10
    assert sorted(policy_vms(emu, "rg-scale")) == [f"vm-{i:04d}" for i in range(10)]
