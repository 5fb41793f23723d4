"""Credential sources end to end: a ~/.azure/credentials profile (the file azure.azcollection reads)."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import OWNER, READER
from support.ansible import run_playbook
from support.emulator import EmulatorProcess


def write_credentials(home: Path, emu: EmulatorProcess) -> None:
    """Two profiles: [default] the Reader, [owner] the Owner; the cloud comes from the file too."""
    common = (
        f"subscription_id={emu.info['subscription_id']}\ntenant={emu.info['tenant_id']}\n"
        f"cloud_environment={emu.info['cloud_environment']}\n"
    )
    text = (
        f"[default]\nclient_id={READER[0]}\nsecret={READER[1]}\n{common}\n"
        f"[owner]\nclient_id={OWNER[0]}\nsecret={OWNER[1]}\n{common}"
    )
    (home / ".azure").mkdir(parents=True)
    (home / ".azure" / "credentials").write_text(text)


def test_profiles_of_the_credentials_file(emu: EmulatorProcess, tmp_path: Path) -> None:
    write_credentials(tmp_path, emu)
    # No AZURE_* credential in the environment: only the CA to trust and instance discovery off.
    env = {
        "HOME": str(tmp_path),
        "REQUESTS_CA_BUNDLE": emu.info["ca_bundle"],
        "AZURE_DISABLE_INSTANCE_DISCOVERY": "true",
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / ".ansible-tmp"),
        "PATH": os.environ["PATH"],
    }
    policy = {"resource_group": "rg-app", "virtual_machines": [{"name": "vm-web-01"}], "ports": [{"number": 22}]}
    tasks = [
        {"name": "default profile", "azsecops.jit.jit_policy": policy, "ignore_errors": True},
        {"name": "owner profile", "azsecops.jit.jit_policy": {**policy, "profile": "owner"}},
        {"name": "missing profile", "azsecops.jit.jit_rule_facts": {"profile": "nope"}, "ignore_errors": True},
    ]
    run = run_playbook(tasks, env)
    # [default] is the Reader: it reads, and is refused the write with the roles that would allow it.
    denied = run.result("default profile")
    assert denied["failed"] is True and "AuthorizationFailed" in denied["msg"]
    assert "Owner, Contributor or Security Admin" in denied["msg"]
    assert run.result("owner profile")["changed"] is True
    missing = run.result("missing profile")["msg"]
    assert "nope" in missing and str(tmp_path / ".azure" / "credentials") in missing
    assert [(w["method"], w["status"]) for w in emu.writes()] == [("PUT", 403), ("PUT", 200)]
