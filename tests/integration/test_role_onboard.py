"""The onboard role against jit-emulator: per-OS ports, and what a run and a no-change re-run cost in ARM calls."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from jit_emulator.scale import scale_world
from support.ansible import awx_env, collections_path
from support.emulator import EmulatorProcess

POLICY_API = "2020-01-01"


def onboard_role(tmp_path: Path, env: dict[str, str], **role_vars: Any) -> dict[str, Any]:
    """Run the role on localhost; return its onboard_result."""
    play = [
        {
            "name": "onboard",
            "hosts": "localhost",
            "gather_facts": False,
            "roles": [{"role": "azsecops.jit.onboard", "vars": role_vars}],
            "post_tasks": [
                {
                    "name": "dump",
                    "ansible.builtin.copy": {
                        "dest": str(tmp_path / "result.json"),
                        "content": "{{ onboard_result | to_json }}",
                        "mode": "0600",
                    },
                }
            ],
        }
    ]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play, sort_keys=False))
    full_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AZURE_")},
        "ANSIBLE_COLLECTIONS_PATH": collections_path(),
        "ANSIBLE_NOCOLOR": "1",
        "AZSECOPS_JIT_SETTLE_TIME": "1",
        **env,
    }
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local"]
    proc = subprocess.run(
        [*cmd, "-e", "ansible_python_interpreter=" + sys.executable, str(tmp_path / "play.yml")],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return json.loads((tmp_path / "result.json").read_text())


def calls(emu: EmulatorProcess) -> Counter[tuple[str, str]]:
    """ARM calls of the log as (method, resource type), e.g. ('GET', 'Microsoft.Network/networkInterfaces')."""
    out: Counter[tuple[str, str]] = Counter()
    for r in emu.requests():
        if r["path"].startswith("/_emulator"):
            continue
        parts = r["path"].split("/providers/", 1)[-1].split("/")
        if parts[1] == "locations":  # Microsoft.Security/locations/<location>/jitNetworkAccessPolicies/...
            parts = [parts[0], *parts[3:]]
        out[(r["method"], "/".join(parts[:2]))] += 1
    return out


def policy_ports(emu: EmulatorProcess, rg: str) -> dict[str, list[int]]:
    sub = emu.info["subscription_id"]
    body = emu.arm(
        "GET",
        f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Security/locations/westeurope/"
        "jitNetworkAccessPolicies/default",
        POLICY_API,
    )
    return {
        vm["id"].rsplit("/", 1)[-1]: [p["number"] for p in vm["ports"]] for vm in body["properties"]["virtualMachines"]
    }


# The reads of one resource group by jit_vm_info: VMs, classic VMs, NICs, public IPs, VNets, NSGs.
PER_RG_READS = [
    "Microsoft.Compute/virtualMachines",
    "Microsoft.ClassicCompute/virtualMachines",
    "Microsoft.Network/networkInterfaces",
    "Microsoft.Network/publicIPAddresses",
    "Microsoft.Network/virtualNetworks",
    "Microsoft.Network/networkSecurityGroups",
]


def test_ports_by_os_and_explicit_ports_win(tmp_path: Path, emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    result = onboard_role(
        tmp_path,
        owner_env,
        onboard_resource_groups=["rg-app"],
        onboard_ports_by_os=True,
        onboard_port_overrides={"vm-both-01": [{"number": 8022, "protocol": "tcp"}]},
    )
    # jit_vm_info's os_type: vm-win-01 is Windows, the others Linux; an override wins over the OS
    assert policy_ports(emu, "rg-app") == {
        "vm-web-01": [22],
        "vm-ssh-open": [22],
        "vm-win-01": [3389, 5985, 5986],
        "vm-both-01": [8022],
    }
    assert sorted(result["onboarded"]) == ["vm-both-01", "vm-ssh-open", "vm-web-01", "vm-win-01"]
    # explicit ports win over the per-OS defaults: every VM's ports change, in the same single write
    emu.clear_requests()
    again = onboard_role(
        tmp_path,
        owner_env,
        onboard_resource_groups=["rg-app"],
        onboard_ports_by_os=True,
        onboard_ports=[{"number": 22, "protocol": "tcp", "allowed_source": ["10.0.0.0/8"]}],
    )
    assert list(policy_ports(emu, "rg-app").values()) == [[22]] * 4
    assert sorted(again["updated"]) == ["vm-both-01", "vm-ssh-open", "vm-web-01", "vm-win-01"]
    assert [w["method"] for w in emu.writes()] == ["PUT"]


def test_rerun_reads_each_resource_group_once_and_writes_nothing(
    tmp_path: Path, emu: EmulatorProcess, owner_env: dict[str, str]
) -> None:
    first = onboard_role(tmp_path, owner_env, onboard_resource_groups=["rg-app"])
    assert sorted(first["onboarded"]) == ["vm-both-01", "vm-ssh-open", "vm-web-01", "vm-win-01"]
    emu.clear_requests()
    again = onboard_role(tmp_path, owner_env, onboard_resource_groups=["rg-app"])
    assert again["onboarded"] == [] and again["updated"] == [] and again["rules_missing"] == []
    assert len(again["already_onboarded"]) == 4
    # One bulk read by jit_vm_info (the subscription's policies and plan, then one list per resource type of
    # rg-app), one policy list by jit_policy, which need not read the NSGs (the first read showed every deny
    # rule in place), and no confirmation read (nothing was written).
    assert calls(emu) == Counter(
        {
            **{("GET", kind): 1 for kind in PER_RG_READS},
            ("GET", "Microsoft.Security/pricings"): 1,
            ("GET", "Microsoft.Security/jitNetworkAccessPolicies"): 2,
        }
    )


def world(rgs: int, per_rg: int) -> dict[str, Any]:
    resources: list[dict[str, Any]] = []
    seen: set[str] = set()
    for g in range(rgs):
        for resource in scale_world(per_rg, resource_group=f"rg-scale-{g}")["resources"]:
            if resource["id"] not in seen:
                seen.add(resource["id"])
                resources.append(resource)
    return {"resources": resources}


def test_calls_grow_with_resource_groups_never_with_vms(tmp_path: Path, emu: EmulatorProcess) -> None:
    # A generated world has only the emulator's built-in Owner. settle_time 0: jit_policy reads the policy
    # again before writing when its look-ups took more than half the settle time, which depends on the load.
    owner_env = {**awx_env(emu.info), "AZSECOPS_JIT_SETTLE_TIME": "0"}
    rgs = ["rg-scale-0", "rg-scale-1"]
    runs: dict[int, tuple[Counter[tuple[str, str]], Counter[tuple[str, str]]]] = {}
    for per_rg in (2, 12):
        emu.reset(world(len(rgs), per_rg))
        emu.settings(page_size=100)  # one page per list, so only the number of VMs differs
        try:
            emu.clear_requests()
            first = onboard_role(tmp_path, owner_env, onboard_resource_groups=rgs)
            assert len(first["onboarded"]) == 2 * per_rg
            first_calls = calls(emu)
            emu.clear_requests()
            onboard_role(tmp_path, owner_env, onboard_resource_groups=rgs)
            runs[per_rg] = (first_calls, calls(emu))
        finally:
            emu.settings(page_size=10)
    assert runs[2] == runs[12]
    first_calls, rerun = runs[12]
    # first run: one policy PUT per resource group, each confirmed by one bulk read of the written VMs
    assert first_calls[("PUT", "Microsoft.Security/jitNetworkAccessPolicies")] == 2
    assert sum(n for key, n in first_calls.items() if key[0] != "GET") == 2
    # re-run: no write; one read per resource type and resource group (no public IP in this world, so no
    # public IP list), the subscription's policies and plan once, and one policy list per policy
    assert rerun == Counter(
        {
            **{("GET", kind): 2 for kind in PER_RG_READS if kind != "Microsoft.Network/publicIPAddresses"},
            ("GET", "Microsoft.Security/pricings"): 1,
            ("GET", "Microsoft.Security/jitNetworkAccessPolicies"): 1 + 2,
        }
    )
