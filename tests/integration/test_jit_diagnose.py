"""jit_diagnose against jit-emulator: the first cause of every broken case the guides describe, `reachable` for a
healthy grant through an NSG and through an Azure Firewall, the Activity Log, and call counts."""

from __future__ import annotations

import urllib.error
from typing import Any

import pytest
from conftest import READER
from support.ansible import awx_env, run_playbook
from support.emulator import EmulatorProcess

NET_API = "2024-05-01"
JIT_API = "2020-01-01"
SOURCE = "203.0.113.7"


def diagnose_task(title: str, vm: str, rg: str = "rg-app", port: int = 22, **args: Any) -> dict[str, Any]:
    return {
        "name": title,
        "azsecops.jit.jit_diagnose": {"virtual_machine": {"name": vm, "resource_group": rg}, "port": port, **args},
    }


def run(env: dict[str, str], *tasks: dict[str, Any], check: bool = True) -> dict[str, dict[str, Any]]:
    result = run_playbook(list(tasks), env, check=check)
    assert result.rc == 0, result.stdout + result.stderr
    out = {task["name"]: result.result(task["name"]) for task in tasks}
    for name, value in out.items():
        assert value.get("failed") is not True, (name, value)
        assert value.get("changed") is False, (name, value)
    return out


def onboard(emu: EmulatorProcess, rg: str, vms: list[str]) -> None:
    """SSH from the office under JIT (set-up: one ARM PUT; jit_policy has its own tests)."""
    ssh = {"number": 22, "protocol": "TCP", "allowedSourceAddressPrefix": "203.0.113.0/24"}
    emu.put_policy(rg, vms, [{**ssh, "maxRequestAccessDuration": "PT3H"}])


def request_task(rg: str, vm: str, source: str) -> dict[str, Any]:
    return {
        "name": f"request {vm} {source}",
        "azsecops.jit.jit_request": {
            "resource_group": rg,
            "virtual_machines": [{"name": vm, "ports": [{"number": 22, "allowed_source": [source], "duration": "1h"}]}],
            "reuse_active": False,
        },
    }


def request(env: dict[str, str], *tasks: dict[str, Any]) -> None:
    result = run_playbook(list(tasks), env)
    assert result.rc == 0, result.stdout + result.stderr


def nsg_path(emu: EmulatorProcess, nsg: str, rg: str = "rg-app") -> str:
    return (
        f"/subscriptions/{emu.info['subscription_id']}/resourceGroups/{rg}"
        f"/providers/Microsoft.Network/networkSecurityGroups/{nsg}"
    )


def causes(results: dict[str, dict[str, Any]]) -> dict[str, tuple[str, str | None]]:
    return {name: (r["verdict"], r["cause"]) for name, r in results.items()}


def finding(result: dict[str, Any], check: str) -> dict[str, Any]:
    return next(f for f in result["findings"] if f["check"] == check)


def test_causes_before_any_request(emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    onboard(emu, "rg-app", ["vm-web-01", "vm-win-01", "vm-both-01"])
    results = run(
        owner_env,
        diagnose_task("no policy", "vm-ssh-open", source=SOURCE),
        diagnose_task("port not in policy", "vm-web-01", port=3389, source=SOURCE),
        diagnose_task("no request", "vm-win-01", source=SOURCE),
        diagnose_task("no nsg", "vm-nonsg-01"),
        diagnose_task("classic", "classic-vm-01"),
        diagnose_task("firewall policy", "vm-fwpol-01", rg="rg-edge"),
    )
    assert causes(results) == {
        "no policy": ("blocked", "no_policy"),
        "port not in policy": ("blocked", "port_not_in_policy"),
        "no request": ("blocked", "no_request"),
        "no nsg": ("blocked", "no_nsg_or_firewall"),
        "classic": ("blocked", "classic_vm"),
        "firewall policy": ("blocked", "firewall_policy"),
    }
    port = results["port not in policy"]
    assert "its ports: 22" in port["cause_message"] and "jit_policy" in port["fix"]
    assert [f["check"] for f in port["findings"]] == [
        "eligibility",
        "policy",
        "permissions",
        "request",
        "allow_rules",
        "firewall",
        "flow",
        "activity_log",
        "my_ip",
    ]
    # The reader may read everything but may not request: the first cause names the action and the roles.
    reader = run(awx_env(emu.info, *READER), diagnose_task("reader", "vm-win-01", source=SOURCE))["reader"]
    assert reader["cause"] == "missing_permission"
    missing = finding(reader, "permissions")["evidence"]["missing_actions"]
    assert missing == ["Microsoft.Security/locations/jitNetworkAccessPolicies/initiate/action"]
    assert "Security Admin" in reader["fix"]
    # Defender for Servers Plan 2 switched off: the VM is no longer eligible.
    sub = emu.info["subscription_id"]
    emu.arm(
        "PUT",
        f"/subscriptions/{sub}/providers/Microsoft.Security/pricings/VirtualMachines",
        "2024-01-01",
        {"properties": {"pricingTier": "Free"}},
    )
    plan = run(owner_env, diagnose_task("plan", "vm-web-01", source=SOURCE))["plan"]
    assert (plan["verdict"], plan["cause"]) == ("blocked", "plan_not_p2")


def test_healthy_grants_and_broken_requests(emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    onboard(emu, "rg-app", ["vm-web-01", "vm-win-01", "vm-both-01"])
    onboard(emu, "rg-data", ["vm-fw-01", "vm-db-01"])
    # A deny rule a user added above where JIT will put its allow rule (first free priority from 100).
    block = {
        "properties": {
            "protocol": "*",
            "sourcePortRange": "*",
            "destinationPortRange": "22",
            "sourceAddressPrefix": "*",
            "destinationAddressPrefix": "*",
            "access": "Deny",
            "priority": 100,
            "direction": "Inbound",
        }
    }
    emu.arm("PUT", nsg_path(emu, "nsg-both-01") + "/securityRules/block-ssh", NET_API, block)
    request(
        owner_env,
        request_task("rg-app", "vm-web-01", SOURCE),
        request_task("rg-data", "vm-fw-01", SOURCE),
        request_task("rg-app", "vm-win-01", SOURCE),
        request_task("rg-app", "vm-win-01", "203.0.113.8"),  # supersedes the request from .7
        request_task("rg-data", "vm-db-01", SOURCE),
        request_task("rg-app", "vm-both-01", SOURCE),
    )
    results = run(
        owner_env,
        diagnose_task("healthy", "vm-web-01", source=SOURCE),
        diagnose_task("healthy, own evaluation", "vm-web-01", source=SOURCE, use_network_watcher=False),
        diagnose_task("firewall", "vm-fw-01", rg="rg-data", source=SOURCE),
        diagnose_task("superseded", "vm-win-01", source=SOURCE),
        diagnose_task("wrong source", "vm-db-01", rg="rg-data", source="203.0.113.99"),
        diagnose_task("outranked", "vm-both-01", source=SOURCE),
    )
    assert causes(results) == {
        "healthy": ("reachable", None),
        "healthy, own evaluation": ("reachable", None),
        "firewall": ("reachable", None),
        "superseded": ("blocked", "request_superseded"),
        "wrong source": ("blocked", "source_not_covered"),
        "outranked": ("blocked", "deny_rule_outranks"),
    }
    # Where both ran, Network Watcher's IP flow verify and the collection's own evaluation agreed.
    for name, value in results.items():
        assert not [w for w in value.get("warnings", []) if "Network Watcher says" in w], name
    healthy = results["healthy"]
    assert finding(healthy, "flow")["evidence"]["via"] == "IP flow verify (NetworkWatcher_westeurope)"
    assert finding(healthy, "flow")["evidence"]["rule"].startswith("securityRules/")
    assert finding(results["healthy, own evaluation"], "flow")["evidence"]["via"] == "NSG evaluation"
    assert healthy["connect_to"]["port"] == 22
    firewall = results["firewall"]
    fw = finding(firewall, "firewall")
    assert fw["status"] == "ok" and fw["evidence"]["mapped_port"]
    assert firewall["connect_to"] == {
        "address": fw["evidence"]["public_ip"],
        "port": int(fw["evidence"]["mapped_port"]),
    }
    assert "203.0.113.8" in results["superseded"]["cause_message"]
    assert finding(results["wrong source"], "my_ip")["status"] == "warning"
    assert "block-ssh" in results["outranked"]["cause_message"]

    # A hand-edited allow rule (destination no longer the private IP) has drifted.
    rules = emu.arm("GET", nsg_path(emu, "nsg-web-01"), NET_API)["properties"]["securityRules"]
    allow = next(r for r in rules if r["properties"]["access"] == "Allow" and "JITRule-" in r["name"])
    props = {k: v for k, v in allow["properties"].items() if k != "provisioningState"}
    props["destinationAddressPrefix"] = "10.10.9.9"
    emu.arm("PUT", nsg_path(emu, "nsg-web-01") + f"/securityRules/{allow['name']}", NET_API, {"properties": props})
    drifted = run(owner_env, diagnose_task("drifted", "vm-web-01", source=SOURCE))["drifted"]
    assert (drifted["verdict"], drifted["cause"]) == ("blocked", "allow_rule_drifted")
    assert "10.10.9.9" in drifted["cause_message"]

    # An hour later every request has expired.
    emu.advance("PT2H")
    expired = run(owner_env, diagnose_task("expired", "vm-db-01", rg="rg-data", source=SOURCE))["expired"]
    assert (expired["verdict"], expired["cause"]) == ("blocked", "request_expired")


def test_activity_log_names_a_refused_request(emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    onboard(emu, "rg-app", ["vm-web-01"])
    sub = emu.info["subscription_id"]
    rg = f"/subscriptions/{sub}/resourceGroups/rg-app/providers"
    policy = f"{rg}/Microsoft.Security/locations/westeurope/jitNetworkAccessPolicies/default"
    vm_id = f"/subscriptions/{sub}/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/vm-web-01"
    body = {
        "virtualMachines": [
            {"id": vm_id, "ports": [{"number": 22, "duration": "PT1H", "allowedSourceAddressPrefix": "198.51.100.1"}]}
        ]
    }
    with pytest.raises(urllib.error.HTTPError) as refused:  # outside the policy's sources
        emu.arm("POST", policy + "/initiate", JIT_API, body)
    assert refused.value.code == 400
    emu.clear_requests()
    result = run(owner_env, diagnose_task("refused", "vm-web-01", source="198.51.100.1"))["refused"]
    log = finding(result, "activity_log")
    assert log["status"] == "warning"
    failed = log["evidence"]["failed_operations"]
    assert failed[0]["operation"] == "Microsoft.Security/locations/jitNetworkAccessPolicies/initiate/action"
    assert failed[0]["caller"] == emu.info["object_id"] and "subset" in failed[0]["message"]
    assert result["cause"] == "no_request"
    # Call count of one diagnosis: the bulk reads of the VM's resource group and a few checks, no per-rule calls.
    calls = [(r["method"], segment(r["path"])) for r in emu.requests() if not r["path"].startswith("/_emulator")]
    assert sorted(calls) == sorted(
        [
            ("GET", "jitNetworkAccessPolicies"),
            ("GET", "VirtualMachines"),  # the Defender for Servers pricing
            ("GET", "virtualMachines"),  # classic VMs
            ("GET", "virtualMachines"),
            ("GET", "networkInterfaces"),
            ("GET", "networkSecurityGroups"),
            ("GET", "publicIPAddresses"),
            ("GET", "virtualNetworks"),
            ("GET", "permissions"),
            ("GET", "networkWatchers"),
            ("POST", "ipFlowVerify"),
            ("GET", "operations"),
            ("GET", "operationResults"),
            ("GET", "values"),  # the Activity Log
        ]
    ), calls


def segment(path: str) -> str:
    parts = path.rstrip("/").split("/")
    return parts[-2] if parts[-2] in ("operations", "operationResults") else parts[-1]
