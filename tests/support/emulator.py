"""Starting jit-emulator as users do (the CLI and its ready line) and talking to its control API."""

from __future__ import annotations

import json
import signal
import ssl
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import Any


class EmulatorProcess:
    """`jit-emulator serve` in a subprocess; stopped with SIGTERM."""

    def __init__(
        self,
        state: str | None = None,
        world: str | None = None,
        page_size: int | None = None,
        command: list[str] | None = None,
    ) -> None:
        # command: how to start jit-emulator (default: this Python's jit_emulator package).
        cmd = [*(command or [sys.executable, "-m", "jit_emulator"]), "serve"]
        if state:
            cmd += ["--state", state]
        if world:
            cmd += ["--world", world]
        if page_size:
            cmd += ["--page-size", str(page_size)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError(f"jit-emulator did not start: {err}")
        self.info: dict[str, Any] = json.loads(line)
        self.url: str = self.info["url"]
        self._ssl = ssl.create_default_context(cafile=self.info["ca_bundle"])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    # -- control API ---------------------------------------------------------------------------------
    def control(self, method: str, what: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.url}/_emulator/{what}", data=data, method=method)
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, context=self._ssl, timeout=60) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def reset(self, world: str | dict[str, Any] | None = "demo") -> None:
        self.control("POST", "reset", {"world": world} if world else {})

    def requests(self) -> list[dict[str, Any]]:
        return self.control("GET", "requests")["value"]

    def clear_requests(self) -> None:
        self.control("DELETE", "requests")

    def writes(self) -> list[dict[str, Any]]:
        return [r for r in self.requests() if r["method"] in ("PUT", "POST", "PATCH", "DELETE")]

    def advance(self, duration: str) -> str:
        return self.control("POST", "clock", {"advance": duration})["now"]

    def faults(self, faults: list[dict[str, Any]]) -> None:
        self.control("PUT", "faults", {"faults": faults})

    def settings(self, **changes: Any) -> dict[str, Any]:
        return self.control("PUT", "settings", changes)

    def put_policy(
        self,
        resource_group: str,
        vms: Sequence[str],
        ports: Sequence[dict[str, Any]],
        name: str = "default",
    ) -> dict[str, Any]:
        """Set-up for tests of other modules: a JIT policy written with one ARM PUT, as the portal writes it
        (the emulator writes the deny rules as Azure does), instead of a jit_policy playbook run.

        ``ports`` in wire form, e.g. ``{"number": 22, "protocol": "TCP", "allowedSourceAddressPrefix":
        "203.0.113.0/24", "maxRequestAccessDuration": "PT3H"}``. The policy's location is the first VM's.
        """
        rg = f"/subscriptions/{self.info['subscription_id']}/resourceGroups/{resource_group}"
        ids = [f"{rg}/providers/Microsoft.Compute/virtualMachines/{vm}" for vm in vms]
        location = self.arm("GET", ids[0], "2024-07-01")["location"]
        body = {
            "kind": "Basic",
            "properties": {"virtualMachines": [{"id": vm_id, "ports": [dict(p) for p in ports]} for vm_id in ids]},
        }
        path = f"{rg}/providers/Microsoft.Security/locations/{location}/jitNetworkAccessPolicies/{name}"
        return self.arm("PUT", path, "2020-01-01", body)

    def arm(
        self, method: str, path: str, api_version: str, body: Any = None, principal: tuple[str, str] | None = None
    ) -> Any:
        """A plain ARM call as the built-in Owner (or another principal), for test setup and checks."""
        client_id, secret = principal or (self.info["client_id"], self.info["secret"])
        token = self._token(client_id, secret)
        data = None if body is None else json.dumps(body).encode()
        sep = "&" if "?" in path else "?"
        req = urllib.request.Request(f"{self.url}{path}{sep}api-version={api_version}", data=data, method=method)
        req.add_header("Authorization", f"Bearer {token}")
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, context=self._ssl, timeout=60) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def _token(self, client_id: str, secret: str) -> str:
        return self.token(
            {
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret,
                "scope": f"{self.url}/.default",
            }
        )

    def token(self, fields: dict[str, str]) -> str:
        """An access token from the emulator's token endpoint for the OAuth form ``fields``."""
        form = urllib.parse.urlencode(fields).encode()
        req = urllib.request.Request(f"{self.url}/{self.info['tenant_id']}/oauth2/v2.0/token", data=form, method="POST")
        with urllib.request.urlopen(req, context=self._ssl, timeout=60) as resp:
            return json.loads(resp.read())["access_token"]
