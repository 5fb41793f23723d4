"""A private cloud reached by a metadata URL, with exactly the five variables AWX's "Microsoft Azure
Resource Manager" credential injects, and its CA trusted the way an execution environment image trusts a
private CA: the image's CA bundle (the public roots plus the private CA, as `update-ca-trust` builds it)
named by an image-level REQUESTS_CA_BUNDLE, not by a credential variable (docs/authentication.md)."""

from __future__ import annotations

import os
from pathlib import Path

import certifi
import pytest
from conftest import READER
from support.ansible import run_playbook
from support.emulator import EmulatorProcess

AWX_VARIABLES = ("AZURE_SUBSCRIPTION_ID", "AZURE_CLIENT_ID", "AZURE_SECRET", "AZURE_TENANT", "AZURE_CLOUD_ENVIRONMENT")


def image_env(emu: EmulatorProcess, tmp_path: Path) -> dict[str, str]:
    """What the execution environment image itself provides: PATH, HOME and its trust store."""
    bundle = tmp_path / "tls-ca-bundle.pem"
    bundle.write_text(Path(certifi.where()).read_text() + Path(emu.info["ca_bundle"]).read_text())
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),  # no ~/.azure/credentials, no az login
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / ".ansible-tmp"),
        "REQUESTS_CA_BUNDLE": str(bundle),
    }


def credential(emu: EmulatorProcess) -> dict[str, str]:
    """The five variables, nothing else."""
    return {
        "AZURE_SUBSCRIPTION_ID": emu.info["subscription_id"],
        "AZURE_CLIENT_ID": READER[0],
        "AZURE_SECRET": READER[1],
        "AZURE_TENANT": emu.info["tenant_id"],
        "AZURE_CLOUD_ENVIRONMENT": emu.info["cloud_environment"],
    }


@pytest.fixture
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    # run_playbook passes the test process's environment on (minus AZURE_*): keep only what an image has.
    for name in list(os.environ):
        if name in ("SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "IDENTITY_ENDPOINT"):
            monkeypatch.delenv(name)


@pytest.mark.usefixtures("clean_environ")
def test_the_five_awx_variables_are_enough(emu: EmulatorProcess, tmp_path: Path) -> None:
    env = {**image_env(emu, tmp_path), **credential(emu)}
    assert sorted(k for k in env if k.startswith("AZURE_")) == sorted(AWX_VARIABLES)
    run = run_playbook([{"name": "facts", "azsecops.jit.jit_rule_facts": {"resource_group": "rg-app"}}], env)
    assert run.rc == 0, run.stdout[-3000:] + run.stderr[-3000:]
    facts = run.result("facts")
    assert facts["summary"]["policies"] == 0 and facts["ansible_facts"]["azure_jit"]["policies"] == []
    # The token came from the emulator's own token endpoint (the metadata's loginEndpoint), and the reads
    # were made as the credential's principal.
    assert {r["principal_name"] for r in emu.requests()} == {"jit-demo-reader"}


@pytest.mark.usefixtures("clean_environ")
def test_instance_discovery_turned_back_on_fails_with_what_to_set(emu: EmulatorProcess, tmp_path: Path) -> None:
    # With discovery forced on, MSAL asks login.microsoftonline.com about the emulator's host: unreachable
    # here (no route), "invalid_instance" where it is reachable. Either way the message says what to set.
    env = {**image_env(emu, tmp_path), **credential(emu), "AZURE_DISABLE_INSTANCE_DISCOVERY": "false"}
    run = run_playbook(
        [{"name": "facts", "azsecops.jit.jit_rule_facts": {"resource_group": "rg-app"}, "ignore_errors": True}], env
    )
    failed = run.result("facts")
    assert failed["failed"] is True
    assert "authentication failed" in failed["msg"]
    assert "AZURE_DISABLE_INSTANCE_DISCOVERY=true" in failed["msg"]
    assert READER[1] not in failed["msg"]
    assert emu.requests() == []  # nothing reached ARM
