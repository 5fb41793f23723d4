"""jit_request against jit-emulator: wait, connection details, reuse, supersession, expiry, firewall, errors."""

from __future__ import annotations

from typing import Any

import pytest
from support.ansible import awx_env, run_playbook
from support.emulator import EmulatorProcess

OFFICE = "203.0.113.0/24"


def onboard(emu: EmulatorProcess, rg: str = "rg-app", vms: tuple[str, ...] = ("vm-web-01", "vm-both-01")) -> None:
    """SSH (3h) and RDP (1h) from the office under JIT (set-up: one ARM PUT; jit_policy has its own tests)."""
    office = {"protocol": "TCP", "allowedSourceAddressPrefix": OFFICE}
    ports = [
        {"number": 22, **office, "maxRequestAccessDuration": "PT3H"},
        {"number": 3389, **office, "maxRequestAccessDuration": "PT1H"},
    ]
    emu.put_policy(rg, vms, ports)


def request_task(vms: list[dict[str, Any]], title: str = "request", rg: str = "rg-app", **args: Any) -> dict[str, Any]:
    return {"name": title, "azsecops.jit.jit_request": {"resource_group": rg, "virtual_machines": vms, **args}}


def ssh_from(source: str, duration: str = "1h", vm: str = "vm-web-01") -> list[dict[str, Any]]:
    return [{"name": vm, "ports": [{"number": 22, "allowed_source": [source], "duration": duration}]}]


def initiates(emu: EmulatorProcess) -> list[dict[str, Any]]:
    return [r for r in emu.requests() if r["method"] == "POST" and r["path"].endswith("/initiate")]


def nsg(emu: EmulatorProcess, name: str, rg: str = "rg-app") -> dict[str, Any]:
    sub = emu.info["subscription_id"]
    return emu.arm(
        "GET",
        f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/networkSecurityGroups/{name}",
        "2024-05-01",
    )


def allow_rules(emu: EmulatorProcess, name: str, rg: str = "rg-app") -> list[dict[str, Any]]:
    return [
        r
        for r in nsg(emu, name, rg)["properties"]["securityRules"]
        if r["name"].startswith(("MicrosoftDefenderForCloud-JITRule-", "SecurityCenter-JITRule-"))
    ]


def policy(emu: EmulatorProcess, rg: str = "rg-app") -> dict[str, Any]:
    sub = emu.info["subscription_id"]
    path = (
        f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Security/locations/westeurope"
        "/jitNetworkAccessPolicies/default"
    )
    return emu.arm("GET", path, "2020-01-01")


def test_request_waits_and_returns_connection_details(emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    # The policy was just written, so Azure still says Updating (recorded; the emulator keeps it so for the
    # whole test): the request neither waits for Succeeded nor fails on it.
    emu.settings(jit_settle_seconds=3600)
    onboard(emu)
    assert policy(emu)["properties"]["provisioningState"] == "Updating"
    emu.clear_requests()
    run = run_playbook([request_task(ssh_from("203.0.113.7"), justification="CHG-1234")], owner_env)
    assert run.rc == 0, run.stdout + run.stderr
    result = run.result("request")
    assert result["changed"] is True
    assert result["request"]["justification"] == "CHG-1234"
    # The initiate answer's own status: Azure answers Initiating (recorded); the policy's log says Initiated.
    assert result["request"]["virtual_machines"][0]["ports"][0]["status"] == "Initiating"
    [conn] = result["connections"]
    assert conn["via"] == "public_ip"
    assert conn["port"] == 22 and conn["protocol"] == "TCP"
    assert conn["allowed_source"] == ["203.0.113.7"]
    assert conn["command"] == f"ssh {conn['address']}"
    assert 3500 < conn["seconds_left"] <= 3600
    # The rule named in the result exists with the seed-000 checklist: port, protocol, source,
    # destination = the VM's private IP (even though we connect to the public IP), action allow.
    [rule] = allow_rules(emu, "nsg-web-01")
    assert [r["name"] for r in conn["rules"]] == [rule["name"]]
    props = rule["properties"]
    assert props["destinationPortRange"] == "22"
    assert props["protocol"] == "Tcp"
    assert props["sourceAddressPrefix"] == "203.0.113.7"
    assert props["destinationAddressPrefix"] == conn["private_ip"] != conn["address"]
    assert props["access"] == "Allow"
    deny = [
        r
        for r in nsg(emu, "nsg-web-01")["properties"]["securityRules"]
        if r["name"].startswith(("MicrosoftDefenderForCloud-JITRule_", "SecurityCenter-JITRule_"))
    ]
    assert all(props["priority"] < d["properties"]["priority"] for d in deny)
    assert len(initiates(emu)) == 1
    policy_reads = [r for r in emu.requests() if r["method"] == "GET" and "jitNetworkAccessPolicies" in r["path"]]
    assert len(policy_reads) == 1, policy_reads  # the resource group's policies, once: no polling of their state
    assert policy(emu)["properties"]["provisioningState"] == "Updating"


def test_same_request_again_reuses_the_grant(emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    onboard(emu)
    first = run_playbook([request_task(ssh_from("203.0.113.7"))], owner_env)
    assert first.rc == 0, first.stdout
    emu.clear_requests()
    second = run_playbook([request_task(ssh_from("203.0.113.7"))], owner_env)
    assert second.rc == 0, second.stdout
    result = second.result("request")
    assert result["changed"] is False
    assert result["requests"] == []
    assert result["connections"][0]["reused"] is True
    assert result["connections"][0]["end_time_utc"] == first.result("request")["connections"][0]["end_time_utc"]
    assert initiates(emu) == []
    assert emu.writes() == []


def test_grant_with_too_little_left_is_renewed(emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    onboard(emu)
    run_playbook([request_task(ssh_from("203.0.113.7", duration="30m"))], owner_env)
    emu.advance("PT20M")  # 10 minutes left, less than min_remaining 15m (by Azure's clock, not ours)
    emu.clear_requests()
    run = run_playbook([request_task(ssh_from("203.0.113.7", duration="30m"))], owner_env)
    assert run.result("request")["changed"] is True
    assert len(initiates(emu)) == 1


def test_newer_request_supersedes_the_older(emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    onboard(emu)
    run_playbook([request_task(ssh_from("203.0.113.7"))], owner_env)
    [old_rule] = allow_rules(emu, "nsg-web-01")
    run = run_playbook([request_task(ssh_from("203.0.113.8"))], owner_env)
    assert run.result("request")["changed"] is True
    [new_rule] = allow_rules(emu, "nsg-web-01")
    assert new_rule["name"] != old_rule["name"]
    assert new_rule["properties"]["sourceAddressPrefix"] == "203.0.113.8"
    log = policy(emu)["properties"]["requests"]
    statuses = [
        (r["virtualMachines"][0]["ports"][0]["status"], r["virtualMachines"][0]["ports"][0]["statusReason"])
        for r in log
    ]
    assert statuses == [("Revoked", "NewerRequestInitiated"), ("Initiated", "UserRequested")]


def test_expiry_by_the_emulator_clock_removes_the_rule(emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    onboard(emu)
    run_playbook([request_task(ssh_from("203.0.113.7", duration="1h"))], owner_env)
    assert len(allow_rules(emu, "nsg-web-01")) == 1
    emu.advance("PT2H")
    assert allow_rules(emu, "nsg-web-01") == []
    port = policy(emu)["properties"]["requests"][0]["virtualMachines"][0]["ports"][0]
    assert (port["status"], port["statusReason"]) == ("Revoked", "Expired")
    # The same request again is a new grant (nothing active to reuse).
    emu.clear_requests()
    run = run_playbook([request_task(ssh_from("203.0.113.7", duration="1h"))], owner_env)
    assert run.result("request")["changed"] is True
    assert len(initiates(emu)) == 1


def test_two_vms_one_call_and_rules_in_every_nsg_on_the_path(emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    onboard(emu)
    emu.clear_requests()
    run = run_playbook([request_task(ssh_from("203.0.113.7") + ssh_from("203.0.113.7", vm="vm-both-01"))], owner_env)
    assert run.rc == 0, run.stdout
    assert len(initiates(emu)) == 1
    both = next(c for c in run.result("request")["connections"] if c["vm"] == "vm-both-01")
    assert sorted(r["scope"] for r in both["rules"]) == ["nic", "subnet"]
    assert len(allow_rules(emu, "nsg-both-01")) == 1
    assert len(allow_rules(emu, "nsg-snet-web")) == 1


def test_firewall_vm_gets_firewall_ip_and_mapped_port(emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    onboard(emu, rg="rg-data", vms=("vm-fw-01",))
    run = run_playbook([request_task(ssh_from("203.0.113.7", vm="vm-fw-01"), rg="rg-data")], owner_env)
    assert run.rc == 0, run.stdout + run.stderr
    [conn] = run.result("request")["connections"]
    sub = emu.info["subscription_id"]
    pip = emu.arm(
        "GET",
        f"/subscriptions/{sub}/resourceGroups/rg-data/providers/Microsoft.Network/publicIPAddresses/pip-fw-hub",
        "2024-05-01",
    )
    assert conn["via"] == "firewall"
    assert conn["address"] == pip["properties"]["ipAddress"]
    assert conn["port"] >= 50000 and conn["target_port"] == 22
    assert conn["command"] == f"ssh -p {conn['port']} {conn['address']}"
    assert [r["scope"] for r in conn["rules"]] == ["firewall"]
    fw = emu.arm(
        "GET",
        f"/subscriptions/{sub}/resourceGroups/rg-data/providers/Microsoft.Network/azureFirewalls/fw-hub",
        "2024-05-01",
    )
    rules = [r for c in fw["properties"]["natRuleCollections"] for r in c["properties"]["rules"]]
    assert [(r["destinationPorts"], r["translatedAddress"], r["translatedPort"]) for r in rules] == [
        ([str(conn["port"])], conn["private_ip"], "22")
    ]


def test_rdp_connection_has_an_rdp_file(emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    onboard(emu)
    run = run_playbook(
        [request_task([{"name": "vm-web-01", "ports": [{"number": 3389, "allowed_source": ["203.0.113.7"]}]}])],
        owner_env,
    )
    [conn] = run.result("request")["connections"]
    assert conn["command"] == f"mstsc /v:{conn['address']}:3389"
    assert f"full address:s:{conn['address']}:3389" in conn["rdp_file"]
    assert 3500 < conn["seconds_left"] <= 3600  # the port's maximum (1h) is the default duration


def test_wait_really_waits_for_slow_rules(emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    onboard(emu)
    emu.settings(rule_delay_seconds=2.5)
    try:
        run = run_playbook([request_task(ssh_from("203.0.113.7"))], owner_env)
        assert run.rc == 0, run.stdout
        assert len(run.result("request")["connections"][0]["rules"]) == 1
        polls = [r for r in emu.requests() if r["path"].endswith("/networkSecurityGroups")]
        assert len(polls) >= 2  # the rule was not there at the first look
    finally:
        emu.settings(rule_delay_seconds=0)


def test_wait_timeout_names_the_missing_rules(emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    onboard(emu)
    emu.settings(rule_delay_seconds=60)
    try:
        run = run_playbook([request_task(ssh_from("203.0.113.7"), wait_timeout=2)], owner_env)
    finally:
        emu.settings(rule_delay_seconds=0)
    assert run.rc != 0
    result = run.result("request")
    assert "timed out after 2s" in result["msg"]
    assert "allow rule for port 22 in nic NSG nsg-web-01" in result["msg"]
    assert result["changed"] is True


INVALID = [
    ([{"name": "vm-web-01", "ports": [{"number": 8080}]}], "port 8080 is not in policy default"),
    ([{"name": "vm-web-01", "ports": [{"number": 22, "duration": "5h"}]}], "exceeds the policy's maximum PT3H"),
    (
        [{"name": "vm-web-01", "ports": [{"number": 22, "allowed_source": ["198.51.100.1"]}]}],
        "not within the policy's allowed sources",
    ),
    (
        [{"name": "vm-web-01", "ports": [{"number": 22, "allowed_source": ["*"]}]}],
        "not within the policy's allowed sources",
    ),
    ([{"name": "vm-win-01"}], "vm-win-01 is not in any JIT policy"),
]


@pytest.mark.parametrize(("vms", "expected"), INVALID, ids=[expected for _args, expected in INVALID])
def test_invalid_request_fails_before_initiating(
    emu: EmulatorProcess, owner_env: dict[str, str], vms: list[dict[str, Any]], expected: str
) -> None:
    onboard(emu)
    emu.clear_requests()
    run = run_playbook([request_task(vms)], owner_env)
    assert run.rc != 0
    assert expected in run.result("request")["msg"]
    assert "nothing was requested" in run.result("request")["msg"]
    assert emu.writes() == []


@pytest.mark.parametrize(
    ("port", "expected"),
    [
        ({"number": 22, "duration": "soon"}, "duration"),
        ({"number": 22, "allowed_source": ["10.0.0.1/8"]}, "10.0.0.0/8"),
    ],
)
def test_malformed_request_makes_no_call(
    emu: EmulatorProcess, owner_env: dict[str, str], port: dict[str, Any], expected: str
) -> None:
    run = run_playbook([request_task([{"name": "vm-web-01", "ports": [port]}])], owner_env)
    assert run.rc != 0
    assert expected in run.result("request")["msg"]
    assert emu.requests() == []


def test_least_privilege_requester_can_request_but_not_configure(
    emu: EmulatorProcess, requester_env: dict[str, str]
) -> None:
    onboard(emu)
    run = run_playbook([request_task(ssh_from("203.0.113.7"))], requester_env)
    assert run.rc == 0, run.stdout + run.stderr
    result = run.result("request")
    assert result["changed"] is True
    [conn] = result["connections"]
    assert conn["address"]  # NICs and public IPs are readable by the documented role
    assert any("waited for the request's status" in w for w in result.get("warnings", []))
    assert len(allow_rules(emu, "nsg-web-01")) == 1
    denied = run_playbook(
        [
            {
                "name": "policy",
                "azsecops.jit.jit_policy": {
                    "resource_group": "rg-app",
                    "location": "westeurope",
                    "virtual_machines": [{"name": "vm-win-01"}],
                },
            }
        ],
        requester_env,
    )
    assert denied.rc != 0
    assert "jitNetworkAccessPolicies/write" in denied.result("policy")["msg"]


def test_reader_gets_a_clear_permission_error(emu: EmulatorProcess, reader_env: dict[str, str]) -> None:
    onboard(emu)
    run = run_playbook([request_task(ssh_from("203.0.113.7"))], reader_env)
    assert run.rc != 0
    msg = run.result("request")["msg"]
    assert "AuthorizationFailed" in msg
    assert "jitNetworkAccessPolicies/initiate/action" in msg
    assert "Security Admin" in msg


def test_source_warnings(emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    run_playbook(
        [
            {
                "name": "policy",
                "azsecops.jit.jit_policy": {
                    "resource_group": "rg-app",
                    "virtual_machines": [{"name": "vm-web-01"}],
                    "ports": [{"number": 22}],
                },
            }
        ],
        owner_env,
    )
    anyone = run_playbook([request_task(ssh_from("*"))], owner_env)
    assert any("opened to any source" in w for w in anyone.result("request")["warnings"])
    # No source: Azure takes the caller's address ("My IP"), which the module reports back.
    mine = run_playbook([request_task([{"name": "vm-web-01", "ports": [{"number": 22}]}])], owner_env)
    result = mine.result("request")
    assert result["changed"] is True
    assert result["caller_ip"] == "127.0.0.1"
    assert result["connections"][0]["allowed_source"] == ["127.0.0.1"]


def test_check_mode_predicts_without_initiating(emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    onboard(emu)
    emu.clear_requests()
    run = run_playbook([request_task(ssh_from("203.0.113.7"))], owner_env, check=True)
    result = run.result("request")
    assert result["changed"] is True
    assert result["requests"] == []
    assert result["connections"][0]["allowed_source"] == ["203.0.113.7"]
    assert emu.writes() == []


@pytest.mark.parametrize("status", [429, 503])
def test_transient_faults_converge(emu: EmulatorProcess, owner_env: dict[str, str], status: int) -> None:
    onboard(emu)
    emu.faults([{"status": status, "count": 2, "retry_after": 0, "path": "initiate$"}])
    run = run_playbook([request_task(ssh_from("203.0.113.7"), api_retries=4)], owner_env)
    emu.faults([])
    assert run.rc == 0, run.stdout
    statuses = [r["status"] for r in initiates(emu)]
    assert statuses == [status, status, 202]
    assert len(allow_rules(emu, "nsg-web-01")) == 1


@pytest.mark.parametrize(
    ("drop", "statuses", "warning"),
    [
        ("before", [0, 202], "the policy does not show it, so it was sent once more"),
        ("after", [0], "the policy shows it was recorded, so it was not sent again"),
    ],
)
def test_a_connection_cut_during_initiate_neither_fails_nor_requests_twice(
    emu: EmulatorProcess, owner_env: dict[str, str], drop: str, statuses: list[int], warning: str
) -> None:
    # Initiate is a POST, which the SDK never retries on a broken connection: the module looks at the
    # policy's request log to learn whether Azure got it ("after": yes, "before": no).
    onboard(emu)
    emu.faults([{"drop": drop, "count": 1, "path": "initiate$"}])
    run = run_playbook([request_task(ssh_from("203.0.113.7"), justification="CHG-77")], owner_env)
    emu.faults([])
    assert run.rc == 0, run.stdout
    result = run.result("request")
    assert [r["status"] for r in initiates(emu)] == statuses, result.get("warnings")
    assert any(warning in w for w in result["warnings"]), result.get("warnings")
    assert result["request"]["justification"] == "CHG-77"
    [conn] = result["connections"]
    assert [r["name"] for r in conn["rules"]] == [r["name"] for r in allow_rules(emu, "nsg-web-01")]
    assert [r["justification"] for r in policy(emu)["properties"]["requests"]] == ["CHG-77"]


def test_security_admin_requests_without_network_reads(emu: EmulatorProcess) -> None:
    """Security Admin may initiate but read no VM or network: the grant works, the address is reported unknown."""
    onboard(emu)
    sub = emu.info["subscription_id"]
    admin = emu.control("POST", "principals", {"roles": [{"role": "Security Admin", "scope": f"/subscriptions/{sub}"}]})
    emu.clear_requests()
    run = run_playbook([request_task(ssh_from("203.0.113.7"))], awx_env(emu.info, admin["client_id"], admin["secret"]))
    assert run.rc == 0, run.stdout
    result = run.result("request")
    [conn] = result["connections"]
    assert (conn["address"], conn["via"], conn["command"], conn["rules"]) == (None, "unknown", None, [])
    assert any("the address of vm-web-01 is unknown" in w for w in result["warnings"])
    assert any("waited for the request's status" in w for w in result["warnings"])
    assert [r["status"] for r in initiates(emu)] == [202]
    assert len(allow_rules(emu, "nsg-web-01")) == 1  # the access itself is there
