"""Benchmark: onboard 1,000 VMs into one policy with jit_policy, then the no-change re-run.

Run with `make bench`. Reports, for each emulator page size, the ARM calls the module made (from the
emulator's request log) and the wall time of each ansible-playbook run. Times are only comparable
within one run of this script (the machine is shared).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jit_emulator.scale import scale_world
from support.ansible import awx_env, run_playbook
from support.emulator import EmulatorProcess

COUNT = 1000


def calls_summary(requests: list[dict]) -> str:
    writes = sum(1 for r in requests if r["method"] != "GET")
    return f"{len(requests)} calls ({writes} writes)"


def main() -> int:
    vms = [{"name": f"vm-{i:04d}"} for i in range(COUNT)]
    task = {
        "name": "onboard",
        "azsecops.jit.jit_policy": {
            "resource_group": "rg-scale",
            "virtual_machines": vms,
            "ports": [{"number": 22, "protocol": "tcp", "allowed_source": ["10.0.0.0/8"]}],
            "lock_timeout": 600,
        },
    }
    print(f"Onboarding {COUNT} VMs into one JIT policy with azsecops.jit.jit_policy")
    for page_size in (1000, 100):
        with tempfile.TemporaryDirectory() as tmp:
            emu = EmulatorProcess(state=f"{tmp}/state.sqlite", page_size=page_size)
            try:
                started = time.perf_counter()
                emu.reset(scale_world(COUNT))
                load = time.perf_counter() - started
                env = awx_env(emu.info)
                emu.clear_requests()
                started = time.perf_counter()
                first = run_playbook([task], env, timeout=3600)
                first_time = time.perf_counter() - started
                assert first.rc == 0, first.stdout[-2000:] + first.stderr[-2000:]
                first_calls = emu.requests()
                emu.clear_requests()
                started = time.perf_counter()
                second = run_playbook([task], env, timeout=3600)
                second_time = time.perf_counter() - started
                assert second.rc == 0 and second.result("onboard")["changed"] is False
                second_calls = emu.requests()
            finally:
                emu.stop()
        print(f"page size {page_size}: world load {load:.1f}s")
        print(f"  onboarding: {calls_summary(first_calls)}, {first_time:.1f}s")
        for r in first_calls:
            page = " (next page)" if "skiptoken" in r["query"].lower() else ""
            print(f"    {r['method']:6} {r['status']} {r['path'].split('/providers/')[-1]}{page}")
        print(
            f"  no-change re-run: {calls_summary(second_calls)}, {second_time:.1f}s "
            f"({second_time / first_time:.2f} of the onboarding run)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
