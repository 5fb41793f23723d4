"""Bad input, every module and shipped playbook: a clear error naming the field and the fix, and no write.

The module cases run as one ansible-playbook run (one task per case, ignore_errors) against a world whose
policy is set up beforehand, so the emulator's request log must show no write at all for the whole run.
"""

from __future__ import annotations

import concurrent.futures
import json
from typing import Any

import pytest
from support.ansible import REPO, run_playbook
from support.emulator import EmulatorProcess

OFFICE = "203.0.113.0/24"
VM_ID = "/subscriptions/{sub}/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/vm-web-01"
SSH = [{"number": 22}]
ZERO = "/subscriptions/00000000-0000-0000-0000-000000000000"


def pol(**args: Any) -> dict[str, Any]:
    return {"azsecops.jit.jit_policy": {"resource_group": "rg-app", **args}}


def vm(**entry: Any) -> dict[str, Any]:
    return pol(virtual_machines=[{"name": "vm-web-01", **entry}])


def port(**fields: Any) -> dict[str, Any]:
    return pol(virtual_machines=[{"name": "vm-web-01"}], ports=[{"number": 22, **fields}])


def req(vms: list[dict[str, Any]] | None = None, **args: Any) -> dict[str, Any]:
    vms = [{"name": "vm-web-01", "ports": [{"number": 22, "allowed_source": ["203.0.113.7"]}]}] if vms is None else vms
    return {"azsecops.jit.jit_request": {"resource_group": "rg-app", "virtual_machines": vms, **args}}


def rport(**fields: Any) -> dict[str, Any]:
    return req([{"name": "vm-web-01", "ports": [{"number": 22, "allowed_source": ["203.0.113.7"], **fields}]}])


def facts(**args: Any) -> dict[str, Any]:
    return {"azsecops.jit.jit_rule_facts": args}


# (case id, task, substrings the message must hold: the field, and the fix or the rule broken)
CASES: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
    # -- jit_policy: the task ------------------------------------------------------------------------------
    (
        "policy-rg-slash",
        {"azsecops.jit.jit_policy": {"resource_group": "bad/rg", "virtual_machines": [{"name": "vm-web-01"}]}},
        ("resource_group:", "letters, digits"),
    ),
    (
        "policy-rg-dot",
        {"azsecops.jit.jit_policy": {"resource_group": "rg.", "virtual_machines": [{"name": "vm-web-01"}]}},
        ("resource_group:", "not ending with '.'"),
    ),
    ("policy-name-empty", pol(name="", virtual_machines=[{"name": "vm-web-01"}]), ("name: is empty", "'default'")),
    (
        "policy-name-slash",
        pol(name="a/b", virtual_machines=[{"name": "vm-web-01"}]),
        ("name:", "not allowed in a name"),
    ),
    ("policy-name-long", pol(name="p" * 56, virtual_machines=[{"name": "vm-web-01"}]), ("name:", "56")),
    (
        "policy-name-plus-vm",
        pol(name="p" * 50, virtual_machines=[{"name": "vm-web-01"}]),
        ("virtual_machines[0]", "shorter policy name"),
    ),
    (
        "policy-location-syntax",
        pol(location="west europe!", virtual_machines=[{"name": "vm-web-01"}]),
        ("location:", "westeurope"),
    ),
    (
        "policy-location-bogus",
        pol(location="mars", virtual_machines=[{"name": "vm-web-01"}]),
        ("location: 'mars' is neither", "leave it out"),
    ),
    (
        "policy-lock-timeout",
        pol(lock_timeout=-1, virtual_machines=[{"name": "vm-web-01"}]),
        ("lock_timeout:", "0 or more"),
    ),
    (
        "policy-settle-time",
        pol(settle_time=-1, virtual_machines=[{"name": "vm-web-01"}]),
        ("settle_time:", "0 or more"),
    ),
    (
        "policy-api-retries",
        pol(api_retries=-1, virtual_machines=[{"name": "vm-web-01"}]),
        ("api_retries:", "0 or more"),
    ),
    (
        "policy-api-retry-timeout",
        pol(api_retry_timeout=-5, virtual_machines=[{"name": "vm-web-01"}]),
        ("api_retry_timeout:", "0 or more"),
    ),
    ("policy-state", pol(state="gone", virtual_machines=[{"name": "vm-web-01"}]), ("state", "present, absent")),
    ("policy-no-vm", pol(), ("virtual_machines: lists no VM", "at least one VM")),
    (
        "policy-absent-empty",
        pol(state="absent", virtual_machines=[]),
        ("virtual_machines: is empty", "delete_policy: true"),
    ),
    (
        "policy-purge-empty",
        pol(purge_virtual_machines=True, virtual_machines=[]),
        ("virtual_machines: is empty while purge", "delete_policy: true"),
    ),
    (
        "policy-delete-with-vms",
        pol(state="absent", delete_policy=True, virtual_machines=[{"name": "vm-web-01"}]),
        ("delete_policy:", "state: absent and no virtual_machines"),
    ),
    ("policy-delete-present", pol(delete_policy=True), ("delete_policy:", "state: absent")),
    (
        "policy-task-ports-empty",
        pol(virtual_machines=[{"name": "vm-web-01"}], ports=[]),
        ("ports: is an empty list", "omit it"),
    ),
    ("policy-vm-ports-empty", vm(ports=[]), ("virtual_machines[0].ports: is empty", "state: absent")),
    ("policy-vms-blank-names", pol(virtual_machines=" , "), ("virtual_machines: lists no VM", "at least one VM")),
    # -- jit_policy: VMs ------------------------------------------------------------------------------------
    (
        "policy-vm-name-slash",
        pol(virtual_machines=[{"name": "bad/name"}], ports=SSH),
        ("virtual_machines[0]", "not a VM name"),
    ),
    (
        "policy-vm-name-dash",
        pol(virtual_machines=[{"name": "vm-"}], ports=SSH),
        ("virtual_machines[0]", "nor ending with '.' or '-'"),
    ),
    (
        "policy-vm-name-underscore",
        pol(virtual_machines=[{"name": "_vm"}], ports=SSH),
        ("virtual_machines[0]", "not starting with '_'"),
    ),
    (
        "policy-vm-rg-bad",
        pol(virtual_machines=[{"name": "vm-web-01", "resource_group": "a/b"}], ports=SSH),
        ("virtual_machines[0]", "resource group name"),
    ),
    (
        "policy-vm-id-garbage",
        pol(virtual_machines=[{"id": "/subscriptions/x/vm"}], ports=SSH),
        ("virtual_machines[0].id", "/subscriptions/<guid>"),
    ),
    (
        "policy-vm-id-nic",
        pol(
            virtual_machines=[{"id": ZERO + "/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/nic"}],
            ports=SSH,
        ),
        ("virtual_machines[0].id", "not a VM id"),
    ),
    (
        "policy-vm-id-classic",
        pol(
            virtual_machines=[
                {"id": ZERO + "/resourceGroups/rg-app/providers/Microsoft.ClassicCompute/virtualMachines/classic-vm-01"}
            ],
            ports=SSH,
        ),
        ("virtual_machines[0].id", "classic VM", "migrate"),
    ),
    (
        "policy-vm-name-classic",
        pol(virtual_machines=[{"name": "classic-vm-01"}], ports=SSH),
        ("virtual_machines:", "classic-vm-01 is a classic VM", "migrate"),
    ),
    (
        "policy-vm-missing",
        pol(virtual_machines=[{"name": "vm-missing"}], ports=SSH),
        ("virtual_machines:", "vm-missing not found", "check the names"),
    ),
    (
        "policy-vm-twice",
        pol(virtual_machines=[{"name": "vm-web-01"}, {"name": "VM-WEB-01"}], ports=SSH),
        ("virtual_machines[1]", "listed twice"),
    ),
    (
        "policy-vm-name-and-id",
        pol(virtual_machines=[{"name": "vm-web-01", "id": "/x"}], ports=SSH),
        ("mutually exclusive", "name|id"),
    ),
    (
        "policy-vm-neither",
        pol(virtual_machines=[{"resource_group": "rg-app"}], ports=SSH),
        ("one of the following is required", "name, id"),
    ),
    (
        "policy-vm-unknown-key",
        pol(virtual_machines=[{"name": "vm-web-01", "nmae": "x"}], ports=SSH),
        ("virtual_machines.nmae", "Supported parameters include"),
    ),
    # -- jit_policy: ports ----------------------------------------------------------------------------------
    ("policy-port-zero", port(number=0), ("ports[0].number", "between 1 and 65535")),
    ("policy-port-big", port(number=70000), ("ports[0].number", "between 1 and 65535")),
    (
        "policy-port-missing-number",
        pol(virtual_machines=[{"name": "vm-web-01"}], ports=[{"protocol": "tcp"}]),
        ("ports[0].number: is required", "e.g. 22"),
    ),
    (
        "policy-port-unknown-key",
        pol(virtual_machines=[{"name": "vm-web-01"}], ports=[{"port": 22}]),
        ("ports.port", "Supported parameters include"),
    ),
    (
        "policy-port-twice",
        pol(virtual_machines=[{"name": "vm-web-01"}], ports=[{"number": 22}, {"number": 22}]),
        ("ports[1]", "listed twice"),
    ),
    ("policy-protocol", port(protocol="icmp"), ("ports[0].protocol", "tcp, udp or any")),
    ("policy-source-empty", port(allowed_source=[]), ("ports[0].allowed_source: is an empty list", "'*'")),
    ("policy-source-garbage", port(allowed_source=["not-an-ip"]), ("ports[0].allowed_source[0]", "CIDR prefix")),
    (
        "policy-source-host-bits",
        port(allowed_source=["10.0.0.1/8"]),
        ("ports[0].allowed_source[0]", "did you mean 10.0.0.0/8"),
    ),
    ("policy-source-prefix-33", port(allowed_source=["10.0.0.0/33"]), ("ports[0].allowed_source[0]",)),
    ("policy-source-any-and-more", port(allowed_source=["*", "10.0.0.0/8"]), ("ports[0].allowed_source", "'*' alone")),
    ("policy-duration-long", port(max_duration="25h"), ("ports[0].max_duration", "at most 24h")),
    ("policy-duration-short", port(max_duration="1m"), ("ports[0].max_duration", "at least 5m")),
    ("policy-duration-no-unit", port(max_duration="90"), ("ports[0].max_duration", "'90m'")),
    ("policy-duration-seconds", port(max_duration="30s"), ("ports[0].max_duration", "whole minutes")),
    ("policy-duration-months", port(max_duration="P1M"), ("ports[0].max_duration", "months")),
    ("policy-duration-empty", port(max_duration=""), ("ports[0].max_duration", "is empty")),
    ("policy-duration-garbage", port(max_duration="soon"), ("ports[0].max_duration", "'3h'")),
    # -- jit_request ----------------------------------------------------------------------------------------
    (
        "request-rg",
        {"azsecops.jit.jit_request": {"resource_group": "a/b", "virtual_machines": [{"name": "vm-web-01"}]}},
        ("resource_group:", "letters, digits"),
    ),
    ("request-wait-timeout", req(wait_timeout=-1), ("wait_timeout:", "0 or more")),
    ("request-api-retries", req(api_retries=-3), ("api_retries:", "0 or more")),
    ("request-no-vm", req([]), ("virtual_machines: lists no VM", "list the VMs")),
    (
        "request-vm-ports-empty",
        req([{"name": "vm-web-01", "ports": []}]),
        ("virtual_machines[0].ports: is an empty list", "leave ports out"),
    ),
    ("request-vm-twice", req([{"name": "vm-web-01"}, {"name": "vm-web-01"}]), ("virtual_machines[1]", "listed twice")),
    ("request-vm-name-bad", req([{"name": "bad/name"}]), ("virtual_machines[0]", "not a VM name")),
    (
        "request-vm-not-in-policy",
        req([{"name": "vm-win-01"}]),
        ("virtual_machines[0]", "not in any JIT policy", "jit_policy"),
    ),
    ("request-policy-name", req(name="nope"), ("JIT policy nope was not found", "check name and location")),
    (
        "request-port-missing-number",
        req([{"name": "vm-web-01", "ports": [{"duration": "1h"}]}]),
        ("ports[0].number: is required", "e.g. 22"),
    ),
    (
        "request-port-unknown-key",
        req([{"name": "vm-web-01", "ports": [{"port": 22}]}]),
        ("virtual_machines.ports.port", "Supported parameters include"),
    ),
    (
        "request-port-not-in-policy",
        req([{"name": "vm-web-01", "ports": [{"number": 8080}]}]),
        ("virtual_machines[0].ports[0]", "not in policy default", "it allows 22"),
    ),
    (
        "request-duration-over-max",
        rport(duration="5h"),
        ("virtual_machines[0].ports[0]", "exceeds the policy's maximum PT3H"),
    ),
    ("request-duration-short", rport(duration="1m"), ("ports[0].duration", "at least 5m")),
    ("request-duration-no-unit", rport(duration="60"), ("ports[0].duration", "'60m'")),
    (
        "request-source-outside",
        rport(allowed_source=["198.51.100.1"]),
        ("virtual_machines[0].ports[0]", "not within the policy's allowed sources"),
    ),
    ("request-source-garbage", rport(allowed_source=["nope"]), ("ports[0].allowed_source[0]", "CIDR prefix")),
    (
        "request-source-any",
        rport(allowed_source=["*"]),
        ("virtual_machines[0].ports[0]", "not within the policy's allowed sources"),
    ),
    (
        "request-min-remaining-long",
        req(
            min_remaining="2h",
            virtual_machines=[
                {"name": "vm-web-01", "ports": [{"number": 22, "allowed_source": ["203.0.113.7"], "duration": "1h"}]}
            ],
        ),
        ("min_remaining: 2h is not shorter", "shorter than the duration"),
    ),
    ("request-min-remaining-garbage", req(min_remaining="soon"), ("min_remaining", "'3h'")),
    ("request-min-remaining-long-max", req(min_remaining="25h"), ("min_remaining", "at most 24h")),
    # -- jit_rule_facts (helper "facts" owns it: a failure here is noted for them) --------------------------
    ("facts-api-retries", facts(api_retries=-1), ("api_retries:", "0 or more")),
    ("facts-api-retry-timeout", facts(api_retry_timeout=-1), ("api_retry_timeout:", "0 or more")),
    ("facts-unknown-option", facts(resource_grp="rg-app"), ("resource_grp",)),
]


def test_there_are_at_least_sixty_distinct_cases() -> None:
    assert len({case_id for case_id, _task, _expected in CASES}) == len(CASES)
    assert len({json.dumps(task, sort_keys=True) for _id, task, _expected in CASES}) == len(CASES)
    assert len(CASES) + len(PLAYBOOK_CASES) >= 60


@pytest.fixture(scope="module")
def module_results(emulator_process: EmulatorProcess, request: pytest.FixtureRequest) -> dict[str, Any]:
    """Every module case in one ansible-playbook run; the request log shows what the run called."""
    from support.ansible import awx_env

    emu = emulator_process
    emu.reset("demo")
    sub = emu.info["subscription_id"]
    path = f"/subscriptions/{sub}/resourceGroups/rg-app/providers/Microsoft.Security/locations/westeurope"
    body = {
        "kind": "Basic",
        "properties": {
            "virtualMachines": [
                {
                    "id": VM_ID.format(sub=sub),
                    "ports": [
                        {
                            "number": 22,
                            "protocol": "TCP",
                            "allowedSourceAddressPrefix": OFFICE,
                            "maxRequestAccessDuration": "PT3H",
                        }
                    ],
                }
            ]
        },
    }
    emu.arm("PUT", f"{path}/jitNetworkAccessPolicies/default", "2020-01-01", body)
    emu.clear_requests()
    tasks = [{"name": case_id, **task, "ignore_errors": True} for case_id, task, _expected in CASES]
    run = run_playbook(tasks, awx_env(emu.info), timeout=900)
    results = {case_id: run.result(case_id) for case_id, _task, _expected in CASES}
    return {"results": results, "requests": emu.requests()}


@pytest.mark.parametrize(("case_id", "expected"), [(c, e) for c, _t, e in CASES], ids=[c for c, _t, _e in CASES])
def test_module_case_fails_naming_the_field_and_the_fix(
    module_results: dict[str, Any], case_id: str, expected: tuple[str, ...]
) -> None:
    result = module_results["results"][case_id]
    assert result.get("failed") is True, result
    for text in expected:
        assert text in result["msg"], result["msg"]


def test_no_case_wrote_anything(module_results: dict[str, Any]) -> None:
    writes = [r for r in module_results["requests"] if r["method"] in ("PUT", "POST", "PATCH", "DELETE")]
    assert writes == []


# -- the shipped playbooks ---------------------------------------------------------------------------------

PLAYBOOK_CASES: list[tuple[str, str, dict[str, Any], tuple[str, ...]]] = [
    ("onboard-no-vars", "onboard.yml", {}, ("jit_vms",)),
    (
        "onboard-bad-port",
        "onboard.yml",
        {"jit_resource_group": "rg-app", "jit_vms": ["vm-web-01"], "jit_ports": [{"number": 0}]},
        ("ports[0].number",),
    ),
    (
        "onboard-empty-ports",
        "onboard.yml",
        {"jit_resource_group": "rg-app", "jit_vms": ["vm-web-01"], "jit_ports": []},
        ("ports: is an empty list",),
    ),
    ("request-no-vars", "request_access.yml", {}, ("jit_vms",)),
]


def test_shipped_playbooks_refuse_bad_input_before_any_write(emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    import subprocess
    import sys
    from pathlib import Path

    from support.ansible import collections_path

    def play(case: tuple[str, str, dict[str, Any], tuple[str, ...]]) -> tuple[str, int, str]:
        case_id, book, extra, _expected = case
        cmd = [
            str(Path(sys.executable).parent / "ansible-playbook"),
            str(REPO / "playbooks" / book),
            "-e",
            json.dumps(extra),
        ]
        env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("AZURE_")}
        env.update(
            owner_env, ANSIBLE_COLLECTIONS_PATH=collections_path(), ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="0"
        )
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
        return case_id, proc.returncode, proc.stdout + proc.stderr

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(play, PLAYBOOK_CASES))
    for (case_id, rc, output), (_c, _b, _e, expected) in zip(outcomes, PLAYBOOK_CASES, strict=True):
        assert rc != 0, f"{case_id}: {output}"
        for text in expected:
            assert text in output, f"{case_id}: {output}"
    assert emu.writes() == []
