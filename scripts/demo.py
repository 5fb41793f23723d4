"""`make demo`: the emulator with the demo world, the shipped playbooks against it, and what they did.

1. start `jit-emulator serve --world demo` (a throw-away state in .demo/);
2. preview the onboarding with --check --diff (nothing is written), onboard four VMs, run it again (no
   write), and onboard the VM behind the Azure Firewall (as the demo Owner, credentials in AZURE_* as
   AWX injects them);
3. as the least-privilege requester: SSH to a VM, RDP to the Windows VM (the mstsc command), SSH to the VM
   behind the firewall (the firewall's address and the mapped port);
4. delete a JIT deny rule by hand, and report every JIT rule as a scheduled job would
   (jit_fail_on_problems=true): the job fails, naming the missing rule;
5. move the emulator's clock 2 hours on and report again: the accesses expired and their rules are gone;
6. stop the emulator.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.ansible import awx_env, collections_path  # noqa: E402
from support.emulator import EmulatorProcess  # noqa: E402

OWNER = ("0a1e5c37-0000-4000-8000-00000000a001", "demo-owner-secret")
REQUESTER = ("0a1e5c37-0000-4000-8000-00000000a002", "demo-requester-secret")
NETWORK_API = "2024-05-01"
BOLD, DIM, RESET = ("\033[1m", "\033[2m", "\033[0m") if sys.stdout.isatty() else ("", "", "")


def step(title: str) -> None:
    print(f"\n{BOLD}=== {title} ==={RESET}", flush=True)


def note(text: str) -> None:
    print(f"{DIM}{text}{RESET}", flush=True)


def playbook(name: str, env: dict[str, str], *extra: str, expect_failure: bool = False) -> None:
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
        # jit_policy re-reads the policy settle_time after each write to catch another controller's write
        # that dropped our VMs (default 60s, docs/usage.md). Only this demo writes here, so 5s shows the
        # check without a minute's wait per write; keep the default on a policy others write too.
        "AZSECOPS_JIT_SETTLE_TIME": "5",
        **env,
    }
    # From the repository root, so relative paths in the shown command mean the same.
    rc = subprocess.run(cmd, env=full_env, cwd=REPO, check=False).returncode
    if (rc != 0) != expect_failure:
        raise SystemExit(f"demo: {name} exited {rc}, expected {'a failure' if expect_failure else 0}")


def delete_a_deny_rule(emu: EmulatorProcess) -> str:
    """Delete vm-both-01's RDP deny rule from its NIC's NSG, as someone tidying the portal would."""
    nsg = (
        f"/subscriptions/{emu.info['subscription_id']}/resourceGroups/rg-app/providers/Microsoft.Network/"
        "networkSecurityGroups/nsg-both-01"
    )
    rules = emu.arm("GET", nsg, NETWORK_API)["properties"]["securityRules"]
    rule = next(
        r
        for r in rules
        if "JITRule" in r["name"]
        and r["properties"]["access"] == "Deny"
        and r["properties"].get("destinationPortRange") == "3389"
    )
    emu.arm("DELETE", f"{nsg}/securityRules/{rule['name']}", NETWORK_API)
    return str(rule["name"])


def main() -> int:
    started = time.monotonic()
    state_dir = REPO / ".demo"
    shutil.rmtree(state_dir, ignore_errors=True)
    state_dir.mkdir()
    step("Starting jit-emulator with the demo world")
    emu = EmulatorProcess(state=str(state_dir / "state.sqlite"), world="demo")
    try:
        print(json.dumps({k: emu.info[k] for k in ("url", "ca_bundle", "subscription_id", "tenant_id")}, indent=2))
        owner, requester = awx_env(emu.info, *OWNER), awx_env(emu.info, *REQUESTER)
        rg_app = ("-e", "jit_resource_group=rg-app")
        # Requests only from the office range (the playbook's default, any source, makes jit_policy warn).
        office = ["203.0.113.0/24"]
        ports = [{"number": n, "allowed_source": office, "max_duration": "3h"} for n in (22, 3389)]
        four = ["vm-web-01", "vm-win-01", "vm-both-01", "vm-ssh-open"]
        vms = ("-e", json.dumps({"jit_vms": four}), "-e", json.dumps({"jit_ports": ports}))

        step("Preview: what onboarding four VMs would change (--check --diff, as the Owner)")
        emu.clear_requests()
        playbook("onboard.yml", owner, *rg_app, *vms, "--check", "--diff")
        print(f"write calls in check mode: {len(emu.writes())}")

        step("Onboard them (playbooks/onboard.yml): one policy write for the four VMs")
        note("jit_policy reads the policy again 5s after writing (settle_time; 60s by default) to catch a")
        note("write from another controller that dropped these VMs, and writes them again if one did.")
        playbook("onboard.yml", owner, *rg_app, *vms)
        step("Run it again: nothing to change, no write call")
        emu.clear_requests()
        playbook("onboard.yml", owner, *rg_app, *vms)
        print(f"write calls on the re-run: {len(emu.writes())}; all calls: {len(emu.requests())}")

        step("Onboard vm-fw-01 in rg-data: it sits behind an Azure Firewall, JIT opens it with a DNAT rule")
        fw_vm = ("-e", json.dumps({"jit_vms": ["vm-fw-01"], "jit_ports": ports}))
        playbook("onboard.yml", owner, "-e", "jit_resource_group=rg-data", *fw_vm)

        step("Request SSH to vm-web-01 from 203.0.113.7 for 1h (request_access.yml, least-privilege requester)")
        note(
            "The requester holds Microsoft's documented least-privilege JIT role: initiate, and read policies,\n"
            "VMs, NICs and public IPs, but not NSGs or virtual networks. So jit_request cannot watch the rules\n"
            "appear; it waits on the request's status in the policy and says so in a warning. Reader on the\n"
            "resource group (or Microsoft.Network/*/read) lets it check the rules themselves."
        )
        request = ("-e", "jit_source=203.0.113.7", "-e", "jit_duration=1h", "-e", "jit_justification=DEMO-1")
        playbook("request_access.yml", requester, *rg_app, "-e", json.dumps({"jit_vms": ["vm-web-01"]}), *request)

        step("Request RDP to the Windows VM vm-win-01: the answer is an mstsc command")
        playbook(
            "request_access.yml",
            requester,
            *rg_app,
            "-e",
            json.dumps({"jit_vms": ["vm-win-01"]}),
            "-e",
            "jit_port=3389",
            *request,
        )

        step("Request SSH to vm-fw-01 (as the Owner): through the firewall's public address and the mapped port")
        note("Finding the firewall and its DNAT rule needs Microsoft.Network/azureFirewalls/read (Reader has it).")
        playbook(
            "request_access.yml",
            owner,
            "-e",
            "jit_resource_group=rg-data",
            "-e",
            json.dumps({"jit_vms": ["vm-fw-01"]}),
            *request,
        )

        step("Someone deletes a JIT deny rule by hand: the report (playbooks/report.yml) catches it")
        print(f"deleted {delete_a_deny_rule(emu)} from nsg-both-01 (vm-both-01, port 3389)")
        note("With jit_fail_on_problems=true the job fails (in AWX: the failure notification fires), naming it.")
        # An absolute path: the report role resolves a relative one against the playbook's directory.
        report = ("-e", f"jit_report_dir={state_dir / 'report'}")
        playbook("report.yml", owner, *rg_app, *report, "-e", "jit_fail_on_problems=true", expect_failure=True)
        markdown = state_dir / "report" / "jit-report.md"
        print(f"\n{BOLD}{markdown.relative_to(REPO)}{RESET} (also .json and .html next to it):\n")
        print(markdown.read_text())

        step("Two hours later (the emulator's clock moves): the accesses expired, their allow rules are gone")
        print("emulator clock now", emu.advance("2h"))
        playbook("report.yml", owner, *rg_app, "-e", f"jit_report_dir={state_dir / 'report-later'}")
        later = json.loads((state_dir / "report-later" / "jit-report.json").read_text())
        for row in later["history"]:
            print(f"{row['outcome']}: {row['vm']}:{row['port']} ({row['requestor']}, {row['justification'] or '-'})")
        print(f"\n{BOLD}The HTML report: {state_dir / 'report-later' / 'jit-report.html'}{RESET}")
    finally:
        step("Stopping the emulator")
        emu.stop()
    print(f"\nDone in {time.monotonic() - started:.0f} s. Try it yourself: README.md, 'Try it against the emulator'.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
