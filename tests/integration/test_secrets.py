"""No secret reaches the output: not in results, not in error messages, not at -vvv, whichever module."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import OWNER
from support.ansible import run_playbook
from support.emulator import EmulatorProcess

SECRET = "Zq8~not-in-any-log~" + "x" * 12


def with_credentials(emu: EmulatorProcess, module: str, args: dict[str, Any], secret: str) -> dict[str, Any]:
    """A task given its credentials as module parameters, as a playbook with a vault variable would."""
    credentials = {
        "client_id": OWNER[0],
        "secret": secret,
        "tenant": emu.info["tenant_id"],
        "subscription_id": emu.info["subscription_id"],
    }
    return {"name": "task", f"azsecops.jit.{module}": {**credentials, **args}, "ignore_errors": True}


def transport_env(emu: EmulatorProcess) -> dict[str, str]:
    # Only the cloud and the CA come from the environment here; the credentials are parameters.
    return {
        "AZURE_CLOUD_ENVIRONMENT": emu.info["cloud_environment"],
        "AZURE_DISABLE_INSTANCE_DISCOVERY": "true",
        "REQUESTS_CA_BUNDLE": emu.info["ca_bundle"],
    }


@pytest.mark.parametrize(
    ("module", "args"),
    [
        (
            "jit_policy",
            {"resource_group": "rg-app", "virtual_machines": [{"name": "vm-web-01"}], "ports": [{"number": 22}]},
        ),
        ("jit_request", {"resource_group": "rg-app", "virtual_machines": [{"name": "vm-web-01"}]}),
        ("jit_rule_facts", {"resource_group": "rg-app"}),
    ],
)
def test_a_wrong_secret_fails_clearly_and_is_never_echoed(
    emu: EmulatorProcess, module: str, args: dict[str, Any]
) -> None:
    run = run_playbook([with_credentials(emu, module, args, SECRET)], transport_env(emu), extra_args=["-vvv"])
    result = run.result("task")
    assert result["failed"] is True
    assert "AADSTS7000215" in result["msg"] and "the client secret is wrong" in result["msg"]
    assert SECRET not in run.stdout and SECRET not in run.stderr
    assert emu.writes() == []


def test_the_right_secret_is_never_echoed_either(emu: EmulatorProcess) -> None:
    task = with_credentials(emu, "jit_rule_facts", {"resource_group": "rg-app"}, OWNER[1])
    run = run_playbook([task], transport_env(emu), extra_args=["-vvv"])
    result = run.result("task")
    assert result.get("failed") is not True, result
    assert result["invocation"]["module_args"]["secret"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    assert OWNER[1] not in run.stdout and OWNER[1] not in run.stderr
