"""`jit-emulator serve` as a subprocess: the ready line, SIGTERM shutdown, and state kept across a restart."""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.identity import ClientSecretCredential
from azure.mgmt.network import NetworkManagementClient
from conftest import DEMO_OWNER

READY_KEYS = {"url", "ca_bundle", "cloud_environment", "tenant_id", "subscription_id", "client_id", "secret"}


def command() -> list[str]:
    script = shutil.which("jit-emulator", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "jit_emulator"]


def read_line(process: subprocess.Popen[str], timeout: float = 60) -> str:
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    try:
        if not selector.select(timeout):
            raise AssertionError(f"no ready line within {timeout} s")
        return process.stdout.readline()
    finally:
        selector.close()


@contextmanager
def serve(*args: str) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any]]]:
    process = subprocess.Popen(
        [*command(), "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = read_line(process)
        assert line, process.stderr.read() if process.stderr else "no output"
        yield process, json.loads(line)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def stop(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=20)


def network(info: dict[str, Any], principal: tuple[str, ...] | None = None) -> NetworkManagementClient:
    client_id, secret = (principal or (info["client_id"], info["secret"]))[:2]
    credential = ClientSecretCredential(
        info["tenant_id"],
        client_id,
        secret,
        authority=info["url"],
        disable_instance_discovery=True,
        connection_verify=info["ca_bundle"],
    )
    return NetworkManagementClient(
        credential,
        info["subscription_id"],
        base_url=info["url"],
        credential_scopes=[info["url"] + "/.default"],
        connection_verify=info["ca_bundle"],
        retry_total=0,
    )


def test_ready_line_and_sigterm(tmp_path: Path) -> None:
    with serve("--world", "demo", "--page-size", "3", "--tls-hostname", "management.azure.com") as (process, info):
        assert READY_KEYS <= set(info)
        assert info["url"].startswith("https://127.0.0.1:")
        assert info["cloud_environment"] == info["url"]
        assert Path(info["ca_bundle"]).read_text().startswith("-----BEGIN CERTIFICATE-----")
        settings = requests.get(f"{info['url']}/_emulator/settings", verify=info["ca_bundle"], timeout=10).json()
        assert settings["page_size"] == 3
        names = [n.name for n in network(info, DEMO_OWNER).network_security_groups.list_all()]
        assert names == ["nsg-snet-web", "nsg-web-01", "nsg-both-01", "nsg-ssh-open", "nsg-snet-db"]
        assert stop(process) == 0
        assert process.stdout is not None and process.stdout.read() == ""  # exactly one line on stdout


def test_certificate_names_the_extra_tls_hostname(tmp_path: Path) -> None:
    from cryptography import x509

    with serve("--tls-hostname", "management.azure.com", "--tls-hostname", "login.microsoftonline.com") as (
        process,
        info,
    ):
        import ssl

        host, port = info["url"].rsplit("//", 1)[1].rsplit(":", 1)
        pem = ssl.get_server_certificate((host, int(port)))
        names = x509.load_pem_x509_certificate(pem.encode()).extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        )
        dns = set(names.value.get_values_for_type(x509.DNSName))
        assert {"management.azure.com", "login.microsoftonline.com", "localhost"} <= dns
        assert stop(process) == 0


def test_state_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite"
    with serve("--state", str(state), "--world", "demo") as (process, first):
        client = network(first)
        token = client._config.credential.get_token(first["url"] + "/.default").token
        nsg = client.network_security_groups.get("rg-app", "nsg-web-01")
        nsg.tags = {"kept": "yes"}
        client.network_security_groups.begin_create_or_update("rg-app", "nsg-web-01", nsg).result()
        requests.post(f"{first['url']}/_emulator/clock", json={"advance": "P2D"}, verify=first["ca_bundle"], timeout=10)
        ca = Path(first["ca_bundle"]).read_bytes()
        port = first["url"].rsplit(":", 1)[1]
        assert stop(process) == 0
    # Same state, same port: the CA, the identity, the resources, the clock and issued tokens all carry over.
    with serve("--state", str(state), "--port", port) as (process, second):
        for key in ("url", "tenant_id", "subscription_id", "client_id", "secret", "ca_bundle"):
            assert second[key] == first[key], key
        assert Path(second["ca_bundle"]).read_bytes() == ca
        response = requests.get(
            f"{second['url']}/subscriptions/{second['subscription_id']}/resourceGroups/rg-app/providers/"
            "Microsoft.Network/networkSecurityGroups/nsg-web-01?api-version=2024-05-01",
            headers={"Authorization": f"Bearer {token}"},
            verify=second["ca_bundle"],
            timeout=10,
        )
        assert response.status_code == 200
        assert response.json()["tags"] == {"kept": "yes"}
        clock = requests.get(f"{second['url']}/_emulator/clock", verify=second["ca_bundle"], timeout=10).json()["now"]
        ahead = datetime.fromisoformat(clock.replace("Z", "+00:00")) - datetime.now(timezone.utc)
        assert ahead > timedelta(days=1)  # the clock moved two days ahead before the restart, and stays there
        assert stop(process) == 0


def test_bad_world_exits_with_an_error(tmp_path: Path) -> None:
    world = tmp_path / "bad.yml"
    nsg = "/subscriptions/${subscription_id}/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/x"
    world.write_text(f"resources:\n  - id: {nsg}\n    body: {{location: westeurope}}\n")
    result = subprocess.run([*command(), "serve", "--world", str(world)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "cannot load world" in result.stderr


@pytest.mark.parametrize("args", [["--help"], ["serve", "--help"]])
def test_help(args: list[str]) -> None:
    result = subprocess.run([*command(), *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "usage: jit-emulator" in result.stdout
