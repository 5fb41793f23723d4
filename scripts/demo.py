"""`make demo`: the emulator with the demo world, the main playbooks against it, and what they did.

1. start `jit-emulator serve --world demo` (a throw-away state in .demo/);
2. onboard four VMs with playbooks/onboard.yml (as the demo Owner, credentials in AZURE_* as AWX injects them);
3. request SSH access with playbooks/request_access.yml (as the least-privilege requester);
4. report with playbooks/report.yml: policies, requests and every JIT rule with its state;
5. move the emulator's clock 2 hours on and report again: the access expired and its rules are gone;
6. stop the emulator.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.ansible import awx_env, collections_path  # noqa: E402
from support.emulator import EmulatorProcess  # noqa: E402

OWNER = ("0a1e5c37-0000-4000-8000-00000000a001", "demo-owner-secret")
REQUESTER = ("0a1e5c37-0000-4000-8000-00000000a002", "demo-requester-secret")
BOLD, DIM, RESET = ("\033[1m", "\033[2m", "\033[0m") if sys.stdout.isatty() else ("", "", "")


def step(title: str) -> None:
    print(f"\n{BOLD}=== {title} ==={RESET}", flush=True)


def playbook(name: str, env: dict[str, str], *extra: str) -> None:
    ansible_playbook = str(Path(sys.executable).parent / "ansible-playbook")
    cmd = [ansible_playbook, "-i", "localhost,", str(REPO / "playbooks" / name), *extra]
    # What a user would type (from the repository root, with the environment below), quoted for the shell.
    shown = shlex.join(["ansible-playbook", "-i", "localhost,", f"playbooks/{name}", *extra])
    print(f"{DIM}$ {shown}{RESET}", flush=True)
    full_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AZURE_")},
        "ANSIBLE_COLLECTIONS_PATH": collections_path(),
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
        "ANSIBLE_FORCE_COLOR": "1" if sys.stdout.isatty() else "0",
        **env,
    }
    subprocess.run(cmd, env=full_env, check=True)


def main() -> int:
    state_dir = REPO / ".demo"
    shutil.rmtree(state_dir, ignore_errors=True)
    state_dir.mkdir()
    step("Starting jit-emulator with the demo world")
    emu = EmulatorProcess(state=str(state_dir / "state.sqlite"), world="demo")
    try:
        print(json.dumps({k: emu.info[k] for k in ("url", "ca_bundle", "subscription_id", "tenant_id")}, indent=2))
        owner, requester = awx_env(emu.info, *OWNER), awx_env(emu.info, *REQUESTER)

        step("Onboard four VMs to JIT (playbooks/onboard.yml, as the Owner)")
        vms = json.dumps({"jit_vms": ["vm-web-01", "vm-win-01", "vm-both-01", "vm-ssh-open"]})
        playbook("onboard.yml", owner, "-e", "jit_resource_group=rg-app", "-e", vms)
        step("Run it again: nothing to change, no write call")
        emu.clear_requests()
        playbook("onboard.yml", owner, "-e", "jit_resource_group=rg-app", "-e", vms)
        writes = [r for r in emu.requests() if r["method"] != "GET"]
        print(f"write calls on the re-run: {len(writes)}; all calls: {len(emu.requests())}")

        step("Request SSH to vm-web-01 from 203.0.113.7 for 1h (request_access.yml, least-privilege requester)")
        playbook(
            "request_access.yml",
            requester,
            "-e",
            "jit_resource_group=rg-app",
            "-e",
            json.dumps({"jit_vms": ["vm-web-01"]}),
            "-e",
            "jit_source=203.0.113.7",
            "-e",
            "jit_duration=1h",
            "-e",
            "jit_justification=DEMO-1",
        )

        step("Report: policies, requests and every JIT rule with its state (playbooks/report.yml)")
        playbook("report.yml", owner, "-e", "jit_resource_group=rg-app")

        step("Two hours later (the emulator's clock moves): the access expired, its allow rule is gone")
        print("emulator clock now", emu.advance("PT2H"))
        playbook("report.yml", owner, "-e", "jit_resource_group=rg-app", "-e", "jit_include_expired=true")
    finally:
        step("Stopping the emulator")
        emu.stop()
    print(
        "\nDone. Try it yourself: .venv/bin/jit-emulator serve --world demo (README.md: how to point playbooks at it)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
