"""Benchmark of the roles (`make bench`): the onboard role on 1,000 VMs in 20 resource groups, and the access
role granting 200 inventory hosts against a 1-host grant. Writes docs/benchmarks.md.

Calls and writes come from the emulator's request log; times are wall-clock seconds of whole
ansible-playbook runs and are comparable only within one run of this script (the machine may be shared).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jit_emulator.scale import scale_world
from support.ansible import REPO, awx_env, collections_path
from support.emulator import EmulatorProcess

ONBOARD_VMS, ONBOARD_RGS = 1000, 20
ACCESS_HOSTS = 200
OUT = REPO / "docs" / "benchmarks.md"


def world(rgs: int, per_rg: int) -> dict[str, Any]:
    resources: list[dict[str, Any]] = []
    seen: set[str] = set()
    for g in range(rgs):
        for resource in scale_world(per_rg, resource_group=f"rg-scale-{g:02d}")["resources"]:
            if resource["id"] not in seen:  # the subscription's pricing comes with every resource group
                seen.add(resource["id"])
                resources.append(resource)
    return {"resources": resources}


def playbook(tmp: Path, plays: list[dict[str, Any]], inventory: dict[str, Any], env: dict[str, str]) -> float:
    (tmp / "play.yml").write_text(yaml.safe_dump(plays, sort_keys=False))
    (tmp / "inventory.yml").write_text(yaml.safe_dump(inventory, sort_keys=False))
    cmd = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        "-i",
        str(tmp / "inventory.yml"),
        str(tmp / "play.yml"),
    ]
    full_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AZURE_")},
        "ANSIBLE_COLLECTIONS_PATH": collections_path(),
        "AZSECOPS_JIT_SETTLE_TIME": "1",
        **env,
    }
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=full_env, capture_output=True, text=True, timeout=3600, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"ansible-playbook failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}")
    return elapsed


def counts(emu: EmulatorProcess) -> tuple[int, int, int]:
    log = emu.requests()
    writes = [r for r in log if r["method"] != "GET"]
    initiates = [r for r in writes if r["path"].endswith("/initiate")]
    return len(log), len(writes), len(initiates)


LOCAL = {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}}


def bench_onboard(tmp: Path) -> list[str]:
    if not (REPO / "roles" / "onboard").is_dir():
        return ["Onboarding: the onboard role is not in this checkout yet (it needs azsecops.jit.jit_vm_info)."]
    rgs = [f"rg-scale-{g:02d}" for g in range(ONBOARD_RGS)]
    play = [
        {
            "name": "onboard",
            "hosts": "localhost",
            "gather_facts": False,
            "roles": [{"role": "azsecops.jit.onboard", "vars": {"onboard_resource_groups": rgs}}],
        }
    ]
    emu = EmulatorProcess(state=str(tmp / "onboard.sqlite"))
    try:
        emu.reset(world(ONBOARD_RGS, ONBOARD_VMS // ONBOARD_RGS))
        env = awx_env(emu.info)
        emu.clear_requests()
        first = playbook(tmp, play, {"all": {"hosts": LOCAL}}, env)
        calls1, writes1, _initiates1 = counts(emu)
        puts = [r for r in emu.requests() if r["method"] == "PUT"]
        emu.clear_requests()
        again = playbook(tmp, play, {"all": {"hosts": LOCAL}}, env)
        calls2, writes2, _initiates2 = counts(emu)
    finally:
        emu.stop()
    assert writes2 == 0, f"the re-run wrote {writes2} times"
    return [
        f"### Onboarding {ONBOARD_VMS:,} VMs in {ONBOARD_RGS} resource groups (the onboard role)",
        "",
        "| run | ARM calls | writes | policy PUTs | wall time |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| first | {calls1} | {writes1} | {len(puts)} | {first:.1f} s |",
        f"| re-run (no change) | {calls2} | {writes2} | 0 | {again:.1f} s |",
        "",
    ]


def bench_access(tmp: Path) -> list[str]:
    emu = EmulatorProcess(state=str(tmp / "access.sqlite"))
    try:
        emu.reset(scale_world(ACCESS_HOSTS))
        env = awx_env(emu.info)
        onboard = [
            {
                "name": "policy",
                "hosts": "localhost",
                "gather_facts": False,
                "tasks": [
                    {
                        "name": "policy",
                        "azsecops.jit.jit_policy": {
                            "resource_group": "rg-scale",
                            "virtual_machines": [{"name": f"vm-{i:04d}"} for i in range(ACCESS_HOSTS)],
                            "ports": [{"number": 22, "protocol": "tcp", "allowed_source": ["10.0.0.0/8"]}],
                        },
                    }
                ],
            }
        ]
        playbook(tmp, onboard, {"all": {"hosts": LOCAL}}, env)

        def grant(hosts: int, source: str) -> tuple[float, int, int]:
            inventory = {
                "all": {
                    "hosts": {
                        f"host-{i:04d}": {"azure_vm_name": f"vm-{i:04d}", "azure_resource_group": "rg-scale"}
                        for i in range(hosts)
                    }
                }
            }
            play = [
                {
                    "name": "grant",
                    "hosts": "all",
                    "gather_facts": False,
                    "roles": [
                        {
                            "role": "azsecops.jit.access",
                            "vars": {"access_source": source, "access_justification": "BENCH"},
                        }
                    ],
                }
            ]
            emu.clear_requests()
            elapsed = playbook(tmp, play, inventory, env)
            calls, _writes, initiates = counts(emu)
            return elapsed, calls, initiates

        one = grant(1, "10.1.0.1")
        many = grant(ACCESS_HOSTS, "10.1.0.2")
    finally:
        emu.stop()
    assert many[2] == 1, f"{many[2]} initiate calls for one policy"
    return [
        f"### Granting {ACCESS_HOSTS} inventory hosts (the access role, one policy)",
        "",
        "| hosts | ARM calls | initiate calls | wall time |",
        "| ---: | ---: | ---: | ---: |",
        f"| 1 | {one[1]} | {one[2]} | {one[0]:.1f} s |",
        f"| {ACCESS_HOSTS} | {many[1]} | {many[2]} | {many[0]:.1f} s |",
        "",
        f"Wall time ratio {ACCESS_HOSTS} hosts / 1 host: **{many[0] / one[0]:.2f}** (the Azure calls do not grow; "
        "the rest is Ansible's per-host work: two small tasks per host, one setting access_result, one loading "
        "ansible_host and ansible_port).",
        "",
    ]


def main() -> int:
    # `roles_bench.py onboard` or `roles_bench.py access` runs one part; the other part's last figures are kept.
    parts = sys.argv[1:] or ["onboard", "access"]
    saved = REPO / ".build" / "bench"
    saved.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for part, bench in (("onboard", bench_onboard), ("access", bench_access)):
            if part in parts:
                load_start = os.getloadavg()[0]
                lines = bench(Path(tmp))
                when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
                lines += [
                    f"Measured {when}; load average {load_start:.1f} at the start of this part, "
                    f"{os.getloadavg()[0]:.1f} at its end (2 CPUs shared with other work).",
                    "",
                ]
                print("\n".join(lines))
                (saved / f"{part}.md").write_text("\n".join(lines))
    onboard = (saved / "onboard.md").read_text().splitlines() if (saved / "onboard.md").exists() else []
    access = (saved / "access.md").read_text().splitlines() if (saved / "access.md").exists() else []
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    head = [
        "# Benchmarks of the roles",
        "",
        f"Written by `make bench` (tests/bench/roles_bench.py) on {stamp}, {os.cpu_count()} CPUs, against",
        "jit-emulator over HTTPS with the real SDKs. Calls and writes come from the emulator's request log;",
        "times are wall-clock seconds of whole `ansible-playbook` runs, comparable only within one part",
        "(each part says when it ran and the machine's load then).",
        "",
        "The emulator pages lists by 10 items (Azure pages by more), so a list of 50 VMs or NICs of a resource",
        "group is 5 calls: the calls grow with resource groups and pages, never per VM. jit_policy runs with",
        "settle_time 1 s here; when its look-ups take more than half of it (a loaded machine), it reads the",
        "policy again before writing, so the first run's call count varies a little with the load.",
        "",
    ]
    OUT.write_text("\n".join([*head, *onboard, "", *access, ""]))
    print(f"wrote {OUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
