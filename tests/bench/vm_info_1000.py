"""Benchmark: jit_vm_info over 1,000 VMs in 20 resource groups, and jit_diagnose of one of them.

Run with `python tests/bench/vm_info_1000.py` (the venv of `make setup`). Reports the ARM calls each module
made (from the emulator's request log) for the whole subscription, for one resource group and for one VM,
at two emulator page sizes: the calls grow with resource groups and pages, not with VMs.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jit_emulator.scale import scale_world
from support.ansible import awx_env, run_playbook
from support.emulator import EmulatorProcess

GROUPS = 20
PER_GROUP = 50


def world() -> dict[str, Any]:
    resources: list[dict[str, Any]] = []
    seen: set[str] = set()
    for g in range(GROUPS):
        for item in scale_world(PER_GROUP, resource_group=f"rg-scale-{g:02d}")["resources"]:
            if item["id"] not in seen:  # the pricing is the same in every generated group
                seen.add(item["id"])
                resources.append(item)
    return {"resources": resources}


def measure(emu: EmulatorProcess, env: dict[str, str], title: str, task: dict[str, Any]) -> None:
    emu.clear_requests()
    started = time.perf_counter()
    run = run_playbook([{"name": title, **task}], env, timeout=3600)
    elapsed = time.perf_counter() - started
    assert run.rc == 0, run.stdout[-2000:] + run.stderr[-2000:]
    result = run.result(title)
    calls = [r for r in emu.requests() if not r["path"].startswith("/_emulator")]
    pages = sum(1 for r in calls if "skiptoken" in r["query"].lower())
    kinds = Counter(r["path"].rstrip("/").split("/")[-1] for r in calls)
    vms = len(result.get("virtual_machines") or []) or 1
    print(f"  {title}: {vms} VMs, {len(calls)} ARM calls ({pages} next pages), {elapsed:.1f}s")
    print(f"    {dict(sorted(kinds.items()))}")


def main() -> int:
    print(f"jit_vm_info over {GROUPS * PER_GROUP} VMs in {GROUPS} resource groups")
    for page_size in (1000, 100):
        with tempfile.TemporaryDirectory() as tmp:
            emu = EmulatorProcess(state=f"{tmp}/state.sqlite", page_size=page_size)
            try:
                emu.reset(world())
                env = awx_env(emu.info)
                print(f"page size {page_size}:")
                measure(emu, env, "whole subscription", {"azsecops.jit.jit_vm_info": {}})
                measure(
                    emu, env, "one resource group", {"azsecops.jit.jit_vm_info": {"resource_groups": ["rg-scale-07"]}}
                )
                measure(
                    emu,
                    env,
                    "one VM",
                    {"azsecops.jit.jit_vm_info": {"virtual_machines": ["vm-0007"], "resource_groups": ["rg-scale-07"]}},
                )
                measure(
                    emu,
                    env,
                    "diagnose one VM",
                    {
                        "azsecops.jit.jit_diagnose": {
                            "virtual_machine": {"name": "vm-0007", "resource_group": "rg-scale-07"},
                            "port": 22,
                        }
                    },
                )
            finally:
                emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
