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
from conftest import DEMO_OWNER, DEMO_REQUESTER

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
        assert names == ["nsg-snet-web", "nsg-web-01", "nsg-both-01", "nsg-ssh-open", "nsg-snet-db", "nsg-north"]
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


@pytest.mark.parametrize("args", [["--help"], ["serve", "--help"], ["env", "--help"]])
def test_help(args: list[str]) -> None:
    result = subprocess.run([*command(), *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "usage: jit-emulator" in result.stdout


def test_version() -> None:
    from jit_emulator import __version__

    result = subprocess.run([*command(), "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert result.stdout.strip() == f"jit-emulator {__version__}"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("resources: [\n  - id: x\n", "is not valid YAML"),  # an unclosed flow sequence
        ("principals:\n\t- {client_id: x}\n", "is not valid YAML"),  # a tab for indentation
    ],
)
def test_a_yaml_error_exits_2_with_the_reason_and_no_traceback(tmp_path: Path, text: str, reason: str) -> None:
    world = tmp_path / "broken.yml"
    world.write_text(text)
    result = subprocess.run([*command(), "serve", "--world", str(world)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stdout == ""
    assert f"cannot load world {world}" in result.stderr and reason in result.stderr
    assert "line" in result.stderr  # YAML's own position of the error
    assert "Traceback" not in result.stderr


def test_a_missing_world_file_exits_2_naming_the_absolute_path(tmp_path: Path) -> None:
    result = subprocess.run(
        [*command(), "serve", "--world", "no-such-world.yml"], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert result.returncode == 2
    assert str(tmp_path / "no-such-world.yml") in result.stderr and "Traceback" not in result.stderr


def test_paths_in_the_ready_line_are_absolute_for_a_relative_state(tmp_path: Path) -> None:
    (tmp_path / "rel").mkdir()
    process = subprocess.Popen(
        [*command(), "serve", "--state", "rel/state.sqlite"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        info = json.loads(read_line(process))
    except (AssertionError, ValueError):
        process.kill()
        process.wait(timeout=10)
        raise
    try:
        assert info["state"] == str(tmp_path / "rel" / "state.sqlite")
        assert info["ca_bundle"] == str(tmp_path / "rel" / "state.sqlite.ca.pem")
        assert Path(info["ca_bundle"]).is_file()
    finally:
        assert stop(process) == 0


def test_the_temporary_directory_is_removed_after_sigterm_and_sigint() -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        with serve() as (process, info):
            tmpdir = Path(info["ca_bundle"]).parent
            assert (tmpdir / "state.sqlite").is_file() and (tmpdir / "server.pem").is_file()
            process.send_signal(sig)
            assert process.wait(timeout=20) == 0
            assert not tmpdir.exists(), sorted(p.name for p in tmpdir.iterdir())


def test_with_a_state_file_only_the_temporary_files_go(tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite"
    with serve("--state", str(state)) as (process, info):
        ready = Path(str(state) + ".ready.json")
        assert json.loads(ready.read_text()) == info
        assert ready.stat().st_mode & 0o077 == 0  # it holds a secret
        assert stop(process) == 0
    assert state.is_file() and Path(info["ca_bundle"]).is_file()
    assert not ready.exists()


def test_env_prints_exports_for_a_running_emulator(tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite"
    with serve("--state", str(state), "--world", "demo") as (process, info):
        out = subprocess.run(
            [*command(), "env", "--state", str(state)], capture_output=True, text=True, timeout=60, check=True
        ).stdout
        # What a shell sees after eval "$(jit-emulator env ...)".
        shell = subprocess.run(
            ["sh", "-c", f"{out}\nenv"], capture_output=True, text=True, timeout=60, env={"PATH": os.environ["PATH"]}
        ).stdout
        exported = dict(line.split("=", 1) for line in shell.splitlines() if "=" in line)
        assert {k: exported[k] for k in exported if k.startswith("AZURE_") or k == "REQUESTS_CA_BUNDLE"} == {
            "AZURE_CLOUD_ENVIRONMENT": info["url"],
            "AZURE_SUBSCRIPTION_ID": info["subscription_id"],
            "AZURE_TENANT": info["tenant_id"],
            "AZURE_CLIENT_ID": info["client_id"],
            "AZURE_SECRET": info["secret"],
            "REQUESTS_CA_BUNDLE": info["ca_bundle"],
        }
        by_name = subprocess.run(
            [*command(), "env", "--state", str(state), "--principal", "jit-demo-requester"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        assert f"export AZURE_CLIENT_ID={DEMO_REQUESTER[0]}" in by_name
        assert f"export AZURE_SECRET={DEMO_REQUESTER[1]}" in by_name
        unknown = subprocess.run(
            [*command(), "env", "--state", str(state), "--principal", "nobody"], capture_output=True, text=True
        )
        assert unknown.returncode == 2 and "jit-demo-owner" in unknown.stderr
        assert stop(process) == 0
    stopped = subprocess.run([*command(), "env", "--state", str(state)], capture_output=True, text=True, timeout=60)
    assert stopped.returncode == 2 and stopped.stdout == "" and "no emulator is serving" in stopped.stderr


def _outside_address() -> str:
    """An address of this machine that is not loopback (the one a default route would use)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: no packet is sent for a UDP connect
            address = probe.getsockname()[0]
        except OSError:
            address = ""
    if not address or address.startswith("127."):
        pytest.skip("this machine has no non-loopback IPv4 address")
    return address


def test_all_interfaces_with_an_advertised_url_and_a_control_token() -> None:
    address = _outside_address()
    args = ["--host", "0.0.0.0", "--advertise-url", f"https://{address}", "--control-token", "t0ken"]  # noqa: S104
    with serve(*args, "--world", "demo") as (process, info):
        port = int(info["url"].rsplit(":", 1)[1])
        assert info["url"] == info["cloud_environment"] == f"https://{address}:{port}"
        assert info["identity_endpoint"] == f"https://{address}:{port}/msi/token"
        # Reachable by that URL: the certificate names the address, the SDK signs in and lists.
        names = [n.name for n in network(info, DEMO_OWNER).network_security_groups.list_all()]
        assert "nsg-web-01" in names
        clock = f"{info['url']}/_emulator/clock"
        refused = requests.get(clock, verify=info["ca_bundle"], timeout=10)
        assert refused.status_code == 403 and "--control-token" in refused.json()["error"]["message"]
        wrong = requests.get(clock, headers={"Authorization": "Bearer nope"}, verify=info["ca_bundle"], timeout=10)
        assert wrong.status_code == 403
        allowed = requests.post(
            clock,
            json={"advance": "2h"},
            headers={"Authorization": "Bearer t0ken"},
            verify=info["ca_bundle"],
            timeout=10,
        )
        assert allowed.status_code == 200
        assert stop(process) == 0


def test_an_advertised_url_keeps_its_own_port() -> None:
    with serve("--advertise-url", "https://emulator.example:8443") as (process, info):
        assert info["url"] == "https://emulator.example:8443"
        assert info["metadata_url"].startswith("https://emulator.example:8443/metadata/endpoints")
        assert stop(process) == 0


@pytest.mark.parametrize("url", ["http://emulator", "emulator:8443", "https://emulator/path"])
def test_a_bad_advertised_url_exits_2(url: str) -> None:
    result = subprocess.run([*command(), "serve", "--advertise-url", url], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--advertise-url" in result.stderr
