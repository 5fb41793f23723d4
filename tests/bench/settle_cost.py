"""Benchmark: what jit_policy's safeguards cost a single controller, as calls and as a wall-time ratio.

Three variants onboard the same 20 VMs in one task, then re-run it (no change):
  baseline   settle_time 0, check_rules false: read, VM lookup, write, immediate re-read (the behaviour
             before the check against other controllers)
  settle     the default settle_time (60 s), check_rules false: the concurrency safeguard alone
  defaults   settle_time 60 and check_rules (the NSG reads that restore missing deny rules)
Times are only comparable within one run of this script (the machine is shared).
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

COUNT = 20
VARIANTS = {
    "baseline": {"settle_time": 0, "check_rules": False},
    "settle": {"settle_time": 60, "check_rules": False},
    "defaults": {"settle_time": 60, "check_rules": True},
}


def main() -> int:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        emu = EmulatorProcess(state=f"{tmp}/state.sqlite")
        try:
            env = awx_env(emu.info)
            for label, options in VARIANTS.items():
                emu.reset(scale_world(COUNT))
                task = {
                    "name": "onboard",
                    "azsecops.jit.jit_policy": {
                        "resource_group": "rg-scale",
                        "virtual_machines": [{"name": f"vm-{i:04d}"} for i in range(COUNT)],
                        "ports": [{"number": 22, "protocol": "tcp", "allowed_source": ["10.0.0.0/8"]}],
                        **options,
                    },
                }
                for run_label in ("change", "no change"):
                    emu.clear_requests()
                    started = time.perf_counter()
                    run = run_playbook([task], env, timeout=900)
                    elapsed = time.perf_counter() - started
                    assert run.rc == 0, run.stdout[-2000:]
                    calls = emu.requests()
                    writes = sum(1 for c in calls if c["method"] != "GET")
                    rows.append((label, run_label, len(calls), writes, elapsed))
        finally:
            emu.stop()
    base = {run_label: elapsed for label, run_label, _c, _w, elapsed in rows if label == "baseline"}
    print(f"{'variant':10} {'run':10} {'calls':>5} {'writes':>6} {'seconds':>8} {'ratio':>6}")
    for label, run_label, calls, writes, elapsed in rows:
        print(f"{label:10} {run_label:10} {calls:5d} {writes:6d} {elapsed:8.1f} {elapsed / base[run_label]:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
