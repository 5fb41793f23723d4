"""Credential sources end to end: ~/.azure/credentials profiles (as azure.azcollection reads them), and MSI."""

from __future__ import annotations

import os
from pathlib import Path

import trustme
from conftest import OWNER, READER
from support.ansible import run_playbook
from support.emulator import EmulatorProcess

READER_OBJECT = "0b1e5c37-0000-4000-8000-00000000b003"  # the demo world's Reader


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


def test_managed_identity(emu: EmulatorProcess, tmp_path: Path) -> None:
    """auth_source msi, as on an Azure-hosted runner: the emulator serves App Service's identity endpoint."""
    env = {
        "HOME": str(tmp_path),  # no credentials file, no az login
        "IDENTITY_ENDPOINT": emu.info["identity_endpoint"],
        "IDENTITY_HEADER": emu.info["identity_header"],
        "AZURE_SUBSCRIPTION_ID": emu.info["subscription_id"],
        "AZURE_CLOUD_ENVIRONMENT": emu.info["cloud_environment"],
        "REQUESTS_CA_BUNDLE": emu.info["ca_bundle"],
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / ".ansible-tmp"),
        "PATH": os.environ["PATH"],
    }
    policy = {"resource_group": "rg-app", "virtual_machines": [{"name": "vm-web-01"}], "ports": [{"number": 22}]}
    tasks = [
        # The system-assigned identity (the emulator's built-in Owner).
        {"name": "system", "azsecops.jit.jit_policy": {**policy, "auth_source": "msi"}},
        # A user-assigned identity, chosen by client_id: the demo Reader, refused the write.
        {
            "name": "user-assigned",
            "azsecops.jit.jit_policy": {
                **policy,
                "auth_source": "msi",
                "client_id": READER[0],
                "purge_virtual_machines": True,
                "virtual_machines": [{"name": "vm-both-01"}],
            },
            "ignore_errors": True,
        },
    ]
    run = run_playbook(tasks, env)
    assert run.result("system")["changed"] is True, run.result("system")
    refused = run.result("user-assigned")
    assert refused["failed"] is True and "AuthorizationFailed" in refused["msg"] and READER_OBJECT in refused["msg"]
    assert [(w["method"], w["status"], w["principal"]) for w in emu.writes()] == [
        ("PUT", 200, emu.info["object_id"]),
        ("PUT", 403, READER_OBJECT),
    ]


def test_service_principal_with_a_certificate(emu: EmulatorProcess, tmp_path: Path) -> None:
    """x509_certificate_path: the key and certificate in one PEM; the emulator knows only the certificate."""
    leaf = trustme.CA().issue_cert("jit-automation", key_type=trustme.KeyType.RSA)
    pem = tmp_path / "jit-automation.pem"
    leaf.private_key_and_cert_chain_pem.write_to_path(str(pem))
    app = emu.control(
        "POST",
        "principals",
        {
            "display_name": "jit-automation",
            "certificate": leaf.cert_chain_pems[0].bytes().decode(),
            "roles": [{"role": "Security Admin", "scope": f"/subscriptions/{emu.info['subscription_id']}"}],
        },
    )
    env = {
        "AZURE_CLIENT_ID": app["client_id"],
        "AZURE_TENANT": emu.info["tenant_id"],
        "AZURE_X509_CERTIFICATE_PATH": str(pem),
        "AZURE_SUBSCRIPTION_ID": emu.info["subscription_id"],
        "AZURE_CLOUD_ENVIRONMENT": emu.info["cloud_environment"],
        "AZURE_DISABLE_INSTANCE_DISCOVERY": "true",
        "REQUESTS_CA_BUNDLE": emu.info["ca_bundle"],
    }
    policy = {"resource_group": "rg-app", "virtual_machines": [{"name": "vm-web-01"}], "ports": [{"number": 22}]}
    run = run_playbook([{"name": "policy", "azsecops.jit.jit_policy": policy}], env)
    result = run.result("policy")
    assert result["changed"] is True, result.get("msg")
    # Security Admin (a documented JIT role) cannot read VMs: the module says so, and Azure checks them.
    assert any("Security Admin lacks" in w for w in result["warnings"]), result.get("warnings")
    assert [(w["method"], w["status"], w["principal"]) for w in emu.writes()] == [("PUT", 200, app["object_id"])]
