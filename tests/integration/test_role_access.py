"""The access role against jit-emulator: inventory hosts map to VMs, one request per policy, hand-off facts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from support.ansible import REPO, collections_path
from support.emulator import EmulatorProcess
from test_jit_request import initiates, onboard

SOURCE = "203.0.113.9"


def run(
    tmp_path: Path, play: list[dict[str, Any]], inventory: dict[str, Any], env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play, sort_keys=False))
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory, sort_keys=False))
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(tmp_path / "inventory.yml")]
    full_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AZURE_")},
        "ANSIBLE_COLLECTIONS_PATH": collections_path(),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCALHOST_WARNING": "0",
        **env,
    }
    return subprocess.run(
        [*cmd, str(tmp_path / "play.yml"), *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def facts_dump(tmp_path: Path) -> dict[str, Any]:
    return json.loads((tmp_path / "facts.json").read_text())


def access_play(tmp_path: Path, **role_vars: Any) -> list[dict[str, Any]]:
    return [
        {
            "name": "grant",
            "hosts": "all",
            "gather_facts": False,
            "roles": [{"role": "azsecops.jit.access", "vars": {"access_justification": "CHG-1", **role_vars}}],
        },
        {
            "name": "what the next play sees",
            "hosts": "localhost",
            "gather_facts": False,
            "connection": "local",
            "tasks": [
                {
                    "name": "dump",
                    "ansible.builtin.copy": {
                        "dest": str(tmp_path / "facts.json"),
                        "content": "{{ dict(groups['all'] | zip(groups['all'] | map('extract', hostvars) | map("
                        "'dict2items') | map('selectattr', 'key', 'in', ['ansible_host', 'ansible_port', "
                        "'access_result']) | map('items2dict'))) | to_json }}",
                        "mode": "0600",
                    },
                }
            ],
        },
    ]


def inventory(emu: EmulatorProcess) -> dict[str, Any]:
    sub = emu.info["subscription_id"]
    vm = f"/subscriptions/{sub}/resourceGroups/{{rg}}/providers/Microsoft.Compute/virtualMachines/{{name}}"
    return {
        "all": {
            "hosts": {
                # the three ways a host names its VM
                "web": {"azure_vm_name": "vm-web-01", "azure_resource_group": "rg-app"},
                "both": {"azure_vm_id": vm.format(rg="rg-app", name="vm-both-01")},
                "fw": {  # as azure.azcollection's azure_rm inventory plugin leaves it
                    "id": vm.format(rg="rg-data", name="vm-fw-01"),
                    "name": "vm-fw-01",
                    "resource_group": "rg-data",
                    "ansible_host": "10.20.1.4",
                },
                "localhost": {
                    "ansible_connection": "local",
                    "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                    "azure_vm_name": "vm-web-01",
                    "azure_resource_group": "rg-app",
                },
            }
        }
    }


def test_one_request_per_policy_and_connection_facts(
    tmp_path: Path, emu: EmulatorProcess, owner_env: dict[str, str]
) -> None:
    onboard(emu)
    onboard(emu, rg="rg-data", vms=("vm-fw-01",))
    emu.clear_requests()
    first = run(tmp_path, access_play(tmp_path, access_source=SOURCE), inventory(emu), owner_env)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    posts = initiates(emu)
    # four hosts, three VMs, two policies (rg-app, rg-data): two initiate calls
    assert len(posts) == 2, posts
    assert sorted(p["path"].split("/resourceGroups/")[1].split("/")[0] for p in posts) == ["rg-app", "rg-data"]
    facts = facts_dump(tmp_path)
    assert facts["web"]["ansible_host"] == facts["localhost"]["ansible_host"]
    assert facts["web"]["access_result"]["via"] == "public_ip"
    assert facts["both"]["access_result"]["via"] == "private_ip"
    assert facts["both"]["ansible_host"] == facts["both"]["access_result"]["connections"][0]["private_ip"]
    fw = facts["fw"]
    assert fw["access_result"]["via"] == "firewall"
    assert fw["ansible_host"] == fw["access_result"]["firewall_address"] != "10.20.1.4"
    assert fw["ansible_port"] == fw["access_result"]["mapped_port"] != 22
    # typed as ints on every supported ansible-core (2.16 templates set_fact leaves to strings)
    assert isinstance(fw["ansible_port"], int) and isinstance(facts["web"]["ansible_port"], int)
    assert isinstance(fw["access_result"]["target_port"], int)
    assert all(f["access_result"]["allowed_source"] == [SOURCE] for f in facts.values())
    assert all(f["access_result"]["requests"] == 2 for f in facts.values())

    # the same run again: every grant still covers the request, so nothing is requested
    emu.clear_requests()
    again = run(tmp_path, access_play(tmp_path, access_source=SOURCE), inventory(emu), owner_env)
    assert again.returncode == 0, again.stdout[-3000:]
    assert emu.writes() == []
    assert all(f["access_result"]["reused"] for f in facts_dump(tmp_path).values())


def test_survey_strings_and_justification_required(
    tmp_path: Path, emu: EmulatorProcess, owner_env: dict[str, str]
) -> None:
    onboard(emu)
    inv = {"all": {"hosts": {"web": {"azure_vm_name": "vm-web-01", "azure_resource_group": "rg-app"}}}}
    emu.clear_requests()
    refused = run(tmp_path, access_play(tmp_path, access_justification=""), inv, owner_env)
    assert refused.returncode != 0
    assert "access_justification" in refused.stdout
    assert emu.writes() == []
    # an AWX survey sends "22,3389" and a comma-separated source list as strings
    ok = run(tmp_path, access_play(tmp_path, access_ports="22,3389", access_source=SOURCE), inv, owner_env)
    assert ok.returncode == 0, ok.stdout[-3000:]
    result = facts_dump(tmp_path)["web"]["access_result"]
    assert sorted(c["target_port"] for c in result["connections"]) == [22, 3389]
    assert result["target_port"] == 22
    assert len(initiates(emu)) == 1


def test_unmapped_host_is_named(tmp_path: Path, emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    inv = {"all": {"hosts": {"web": {"azure_vm_name": "vm-web-01", "azure_resource_group": "rg-app"}, "db": {}}}}
    result = run(tmp_path, access_play(tmp_path, access_source=SOURCE), inv, owner_env)
    assert result.returncode != 0
    assert "These hosts map to no Azure VM: db" in result.stdout
    assert emu.writes() == []


def test_request_access_playbook_takes_awx_survey_strings(emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    onboard(emu)
    emu.clear_requests()
    cmd = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        "-i",
        "localhost,",
        str(REPO / "playbooks" / "request_access.yml"),
    ]
    extra = [
        "-e",
        "jit_resource_group=rg-app",
        "-e",
        json.dumps({"jit_vms": "vm-web-01, vm-both-01"}),
        "-e",
        f"jit_source={SOURCE}",
    ]
    extra += ["-e", "jit_justification=CHG-7", "-e", "jit_duration=30m"]
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": collections_path(), "ANSIBLE_NOCOLOR": "1", **owner_env}
    proc = subprocess.run([*cmd, *extra], env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    posts = initiates(emu)
    assert len(posts) == 1
    assert "vm-web-01: ssh " in proc.stdout and "vm-both-01: ssh " in proc.stdout
