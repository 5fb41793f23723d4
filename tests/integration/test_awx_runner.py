"""The shipped playbooks run through ansible-runner the way AWX/AAP runs a job template.

AWX lays out a private data directory (the project checkout in project/, the collections of
collections/requirements.yml in requirements_collections/, a generated inventory, extra vars), injects the
job's credentials as environment variables (for "Microsoft Azure Resource Manager": AZURE_SUBSCRIPTION_ID,
AZURE_CLIENT_ID, AZURE_SECRET, AZURE_TENANT, AZURE_CLOUD_ENVIRONMENT) and reads the job's output back as
runner events. Survey answers arrive as extra vars: text fields as strings (a list typed by a user is a
comma-separated string), integers as numbers, multiple choice as strings. The execution environment image
carries the private cloud's CA (docs/authentication.md), here an image-level REQUESTS_CA_BUNDLE.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import certifi
import pytest
from conftest import OWNER, REQUESTER
from support.ansible import REPO
from support.emulator import EmulatorProcess

ansible_runner = pytest.importorskip("ansible_runner")

NIC_NSG = "/resourceGroups/rg-app/providers/Microsoft.Network/networkSecurityGroups/nsg-web-01"


def awx_credential(emu: EmulatorProcess, principal: tuple[str, str]) -> dict[str, str]:
    """Exactly what the "Microsoft Azure Resource Manager" credential type injects (nothing else)."""
    return {
        "AZURE_SUBSCRIPTION_ID": emu.info["subscription_id"],
        "AZURE_CLIENT_ID": principal[0],
        "AZURE_SECRET": principal[1],
        "AZURE_TENANT": emu.info["tenant_id"],
        "AZURE_CLOUD_ENVIRONMENT": emu.info["cloud_environment"],
    }


@pytest.fixture
def execution_environment(emu: EmulatorProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner's own environment as in an EE: no Azure settings, the image's CA bundle."""
    for name in list(os.environ):
        if name.startswith(("AZURE_", "ANSIBLE_")) or name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            monkeypatch.delenv(name)
    bundle = tmp_path / "tls-ca-bundle.pem"
    bundle.write_text(Path(certifi.where()).read_text() + Path(emu.info["ca_bundle"]).read_text())
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    monkeypatch.setenv("HOME", str(tmp_path))
    # ansible-playbook of this Python on the PATH, as in the image.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")


def private_data_dir(tmp_path: Path, name: str) -> Path:
    """The job's private data dir as AWX prepares it: the project and the installed collections."""
    root = tmp_path / name
    (root / "project").mkdir(parents=True)
    (root / "project" / "playbooks").symlink_to(REPO / "playbooks", target_is_directory=True)
    installed = root / "requirements_collections" / "ansible_collections" / "azsecops"
    installed.mkdir(parents=True)
    (installed / "jit").symlink_to(REPO, target_is_directory=True)
    return root


def run_job(
    tmp_path: Path, name: str, playbook: str, extravars: dict[str, Any], credential: dict[str, str]
) -> tuple[Any, list[dict[str, Any]]]:
    root = private_data_dir(tmp_path, name)
    envvars = {
        **credential,
        # What AWX adds for every job: its installed collections, and no colour in the job output.
        "ANSIBLE_COLLECTIONS_PATH": str(root / "requirements_collections"),
        "ANSIBLE_FORCE_COLOR": "False",
        "ANSIBLE_LOCAL_TEMP": str(root / "tmp"),
        # The job template's environment (docs/usage.md, "In AWX"): these jobs alone write the emulator's
        # policies, so jit_policy checks for other writers at once instead of after its 60 s default.
        "AZSECOPS_JIT_SETTLE_TIME": "0",
    }
    runner = ansible_runner.run(
        private_data_dir=str(root),
        playbook=playbook,
        inventory="localhost ansible_connection=local",
        extravars=extravars,
        envvars=envvars,
        quiet=True,
        timeout=300,
    )
    return runner, list(runner.events)


def task_results(events: list[dict[str, Any]], task: str, event: str = "runner_on_ok") -> list[dict[str, Any]]:
    """The results of one task as the AWX job output shows them (event_data.res): one per loop item, else one."""
    mine = [e for e in events if e.get("event_data", {}).get("task") == task]
    items = [e["event_data"]["res"] for e in mine if e["event"] == "runner_item_on_ok"]
    if items and event == "runner_on_ok":
        return items
    return [e["event_data"]["res"] for e in mine if e["event"] == event]


@pytest.mark.usefixtures("execution_environment")
def test_onboard_then_request_access_from_a_survey(emu: EmulatorProcess, tmp_path: Path) -> None:
    onboard, events = run_job(
        tmp_path,
        "onboard",
        "playbooks/onboard.yml",
        {"jit_resource_group": "rg-app", "jit_vms": "vm-web-01, vm-win-01"},  # a text survey field
        awx_credential(emu, OWNER),
    )
    assert (onboard.status, onboard.rc) == ("successful", 0), onboard.stdout.read()[-3000:]
    # playbooks/onboard.yml wraps the onboard role, whose short table says what happened to each VM.
    table = task_results(events, "Show the result")[0]["msg"]
    assert [line.split()[:2] for line in table[1:]] == [["vm-web-01", "onboarded"], ["vm-win-01", "onboarded"]]

    request, events = run_job(
        tmp_path,
        "request",
        "playbooks/request_access.yml",
        {
            "jit_resource_group": "rg-app",
            "jit_vms": "vm-web-01,vm-win-01",
            "jit_port": 22,  # an integer survey field
            "jit_source": "203.0.113.7",
            "jit_duration": "1h",
            "jit_justification": "CHG-1234",
        },
        awx_credential(emu, REQUESTER),
    )
    assert (request.status, request.rc) == ("successful", 0), request.stdout.read()[-3000:]
    shown = [res["msg"] for res in task_results(events, "How to connect")]
    assert len(shown) == 2 and all("from 203.0.113.7" in msg for msg in shown), shown
    assert any(msg.startswith("vm-web-01: ssh ") for msg in shown), shown
    stats = next(e for e in events if e["event"] == "playbook_on_stats")["event_data"]
    assert stats["failures"] == {} and stats["dark"] == {}
    # The job output's one jit_request result (one request for both VMs), changed.
    requests = [
        e
        for e in events
        if e["event"] == "runner_on_ok" and e["event_data"].get("task_action", "").endswith("jit_request")
    ]
    assert [e["event_data"]["res"]["changed"] for e in requests] == [True]
    # One initiate for both VMs, as the requester.
    initiates = [r for r in emu.requests() if r["path"].endswith("/initiate")]
    assert [(r["status"], r["principal_name"]) for r in initiates] == [(202, "jit-demo-requester")]


@pytest.mark.usefixtures("execution_environment")
def test_a_scheduled_report_fails_when_a_rule_is_drifted(emu: EmulatorProcess, tmp_path: Path) -> None:
    ok, _events = run_job(
        tmp_path,
        "onboard",
        "playbooks/onboard.yml",
        {"jit_resource_group": "rg-app", "jit_vms": "vm-web-01"},
        awx_credential(emu, OWNER),
    )
    assert ok.status == "successful"
    # Someone opens the SSH deny rule by hand, and deletes the RDP one.
    nsg_path = f"/subscriptions/{emu.info['subscription_id']}{NIC_NSG}"
    rules = emu.arm("GET", nsg_path, "2024-05-01")["properties"]["securityRules"]
    by_port = {r["properties"]["destinationPortRange"]: r for r in rules if "JITRule" in r["name"]}
    deny, gone = by_port["22"], by_port["3389"]
    deny["properties"]["access"] = "Allow"
    emu.arm("PUT", f"{nsg_path}/securityRules/{deny['name']}", "2024-05-01", {"properties": deny["properties"]})
    emu.arm("DELETE", f"{nsg_path}/securityRules/{gone['name']}", "2024-05-01")

    report, events = run_job(
        tmp_path,
        "report",
        "playbooks/report.yml",
        # A multiple-choice survey answer, and a directory the execution environment can write.
        {"jit_resource_group": "rg-app", "jit_fail_on_problems": "true", "jit_report_dir": str(tmp_path / "report")},
        awx_credential(emu, OWNER),
    )
    # The job fails, so the template's "on failure" notification fires; the output says which rule.
    assert (report.status, report.rc) == ("failed", 2)
    failed = task_results(events, "Fail on the findings named in report_fail_on", "runner_on_failed")
    assert len(failed) == 1, failed
    message = failed[0]["msg"]
    assert "drifted" in message and deny["name"] in message, message
    assert "missing" in message and "port 3389 of vm-web-01" in message, message
    (summary,) = task_results(events, "Summary")
    assert "findings: drifted=1, missing=1" in summary["msg"], summary["msg"]
    assert (tmp_path / "report" / "jit-report.html").is_file()
