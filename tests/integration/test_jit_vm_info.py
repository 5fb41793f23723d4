"""jit_vm_info against jit-emulator: every demo VM in its portal bucket with the right reason, exposure,
JIT rule health, selection by name / id / resource group / tag, and call counts that do not grow with VMs."""

from __future__ import annotations

from typing import Any

from support.ansible import run_playbook
from support.emulator import EmulatorProcess

NET_API = "2024-05-01"
PRICING_API = "2024-01-01"


def vm_info(env: dict[str, str], check: bool = False, **args: Any) -> dict[str, Any]:
    run = run_playbook([{"name": "info", "azsecops.jit.jit_vm_info": args, "register": "out"}], env, check=check)
    assert run.rc == 0, run.stdout + run.stderr
    result = run.result("info")
    assert result.get("failed") is not True, result
    return result


def by_name(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in result["virtual_machines"]}


def onboard(emu: EmulatorProcess, rg: str, vms: list[str], port: int = 22) -> None:
    """The port from the office under JIT (set-up: one ARM PUT; jit_policy has its own tests)."""
    office = {"protocol": "TCP", "allowedSourceAddressPrefix": "203.0.113.0/24", "maxRequestAccessDuration": "PT3H"}
    emu.put_policy(rg, vms, [{"number": port, **office}])


def rg_path(emu: EmulatorProcess, rg: str) -> str:
    return f"/subscriptions/{emu.info['subscription_id']}/resourceGroups/{rg}"


def arm_calls(emu: EmulatorProcess) -> list[tuple[str, str]]:
    return [(r["method"], r["path"]) for r in emu.requests() if not r["path"].startswith("/_emulator")]


def test_every_demo_vm_in_its_bucket_with_its_reason(emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    onboard(emu, "rg-app", ["vm-web-01", "vm-both-01"])
    rows = by_name(vm_info(owner_env, check=True, location="westeurope"))
    buckets = {name: (row["state"], row["reason_code"]) for name, row in rows.items()}
    assert buckets == {
        "vm-web-01": ("configured", None),
        "vm-both-01": ("configured", None),
        "vm-win-01": ("not_configured", None),
        "vm-ssh-open": ("not_configured", None),
        "vm-nonsg-01": ("unsupported", "no_nsg_or_firewall"),
        "classic-vm-01": ("unsupported", "classic_vm"),
        "vm-fw-01": ("not_configured", None),  # a classic-rules firewall is enough
        "vm-db-01": ("not_configured", None),
        "vm-fwpol-01": ("unsupported", "firewall_policy"),
        "vm-north-01": ("unsupported", "region"),
    }
    assert rows["vm-nonsg-01"]["portal_reason"] == "Missing NSG or Azure Firewall"
    assert rows["classic-vm-01"]["portal_reason"] == "Classic VM"
    assert rows["vm-fwpol-01"]["portal_reason"] == "Other" and "Firewall Policy" in rows["vm-fwpol-01"]["reason"]
    assert "northeurope" in rows["vm-north-01"]["reason"]
    web = rows["vm-web-01"]
    assert web["policy"]["name"] == "default" and [p["number"] for p in web["policy"]["ports"]] == [22]
    assert web["jit_rules_intact"] is True and web["missing_deny_rules"] == []
    assert rows["vm-fw-01"]["firewall"]["managed_by_policy"] is False
    os_types = (web["os_type"], rows["vm-win-01"]["os_type"], rows["classic-vm-01"]["os_type"])
    assert os_types == ("Linux", "Windows", None)
    # Exposure: SSH open to any source on vm-ssh-open's NIC NSG; vm-web-01 has only 443 open.
    assert rows["vm-ssh-open"]["exposed_ports"] == [22]
    assert rows["vm-ssh-open"]["exposure"] == [{"port": 22, "nsg": "nsg-ssh-open", "rule": "allow-ssh-from-anywhere"}]
    assert web["exposed_ports"] == []
    # Without location, no region is judged: vm-north-01 is eligible in a policy of its own region.
    assert by_name(vm_info(owner_env))["vm-north-01"]["state"] == "not_configured"
    summary = vm_info(owner_env, location="westeurope")["summary"]
    assert (summary["configured"], summary["not_configured"], summary["unsupported"]) == (2, 4, 4)


def test_plan_not_p2_makes_every_vm_unsupported(emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    sub = emu.info["subscription_id"]
    emu.arm(
        "PUT",
        f"/subscriptions/{sub}/providers/Microsoft.Security/pricings/VirtualMachines",
        PRICING_API,
        {"properties": {"pricingTier": "Free"}},
    )
    rows = by_name(vm_info(owner_env, resource_groups=["rg-app"]))
    assert {r["reason_code"] for r in rows.values()} == {"plan_not_p2", "classic_vm"}
    assert "Plan 2" in rows["vm-web-01"]["reason"] and "Free" in rows["vm-web-01"]["reason"]


def test_drifted_deny_rule_is_reported(emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    onboard(emu, "rg-app", ["vm-both-01"])
    nsg = f"{rg_path(emu, 'rg-app')}/providers/Microsoft.Network/networkSecurityGroups/nsg-snet-web"
    rules = emu.arm("GET", nsg, NET_API)["properties"]["securityRules"]
    deny = next(r for r in rules if "JITRule_" in r["name"] and "vm-both-01" in r["properties"].get("description", ""))
    emu.arm("DELETE", f"{nsg}/securityRules/{deny['name']}", NET_API)
    row = by_name(vm_info(owner_env, virtual_machines=["vm-both-01"], resource_groups=["rg-app"]))["vm-both-01"]
    assert row["jit_rules_intact"] is False
    assert row["missing_deny_rules"] == [{"port": 22, "nsg": "nsg-snet-web"}]


def test_selection_by_id_tag_and_missing_names(emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    vm_id = f"{rg_path(emu, 'rg-data')}/providers/Microsoft.Compute/virtualMachines/vm-db-01"
    result = vm_info(owner_env, virtual_machines=[vm_id])
    assert [r["name"] for r in result["virtual_machines"]] == ["vm-db-01"]
    compute = f"{rg_path(emu, 'rg-data')}/providers/Microsoft.Compute/virtualMachines/vm-fw-01"
    body = emu.arm("GET", compute, "2024-07-01")
    emu.arm(
        "PUT",
        compute,
        "2024-07-01",
        {
            "location": body["location"],
            "tags": {"team": "db"},
            "properties": {k: body["properties"][k] for k in ("storageProfile", "networkProfile")},
        },
    )
    tagged = vm_info(owner_env, tags={"team": "db"})
    assert [r["name"] for r in tagged["virtual_machines"]] == ["vm-fw-01"]
    missing = vm_info(owner_env, virtual_machines=["vm-nope"], resource_groups=["rg-app"])
    assert missing["virtual_machines"] == [] and any("vm-nope" in w for w in missing.get("warnings", []))


def test_calls_do_not_grow_with_vms(emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    onboard(emu, "rg-app", ["vm-web-01", "vm-win-01", "vm-both-01"])
    web = f"{rg_path(emu, 'rg-app')}/providers/Microsoft.Compute/virtualMachines/vm-web-01"
    emu.clear_requests()
    one = vm_info(owner_env, virtual_machines=[web])
    one_calls = arm_calls(emu)
    emu.clear_requests()
    every = vm_info(owner_env, resource_groups=["rg-app"])
    every_calls = arm_calls(emu)
    assert len(one["virtual_machines"]) == 1 and len(every["virtual_machines"]) == 6
    # The same reads for one VM and for the six VMs of the resource group: one list per resource type.
    assert len(one_calls) == len(every_calls), (one_calls, every_calls)
    assert all(call[0] == "GET" for call in every_calls)
    sub = f"/subscriptions/{emu.info['subscription_id']}"
    rg = f"{sub}/resourceGroups/rg-app/providers"
    assert sorted(every_calls) == sorted(
        ("GET", path)
        for path in (
            f"{sub}/providers/Microsoft.Security/jitNetworkAccessPolicies",
            f"{sub}/providers/Microsoft.Security/pricings/VirtualMachines",
            f"{rg}/Microsoft.ClassicCompute/virtualMachines",
            f"{rg}/Microsoft.Compute/virtualMachines",
            f"{rg}/Microsoft.Network/networkInterfaces",
            f"{rg}/Microsoft.Network/networkSecurityGroups",
            f"{rg}/Microsoft.Network/publicIPAddresses",
            f"{rg}/Microsoft.Network/virtualNetworks",
        )
    )
