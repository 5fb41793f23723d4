"""Fixtures: one emulator per test session, served over real HTTPS, driven by the real Azure SDK clients.

`env` resets the emulator to the demo world before each test (the reset keeps the tenant, keys and CA, so
clients and their cached tokens stay valid). `emu` is the same emulator without a reset, for tests that
only read what they create themselves.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.core.credentials import AccessToken, TokenCredential
from azure.core.rest import HttpRequest, HttpResponse
from azure.identity import ClientSecretCredential
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.security import SecurityCenter
from jit_emulator.server import Emulator, RunningEmulator

REPO = Path(__file__).resolve().parents[2]
# In CI the corpus sits next to the repository: <repo>/../shared/conformance.
CONFORMANCE = REPO.parent / "shared" / "conformance"

# The demo world's principals (emulator/worlds/demo.yml).
# The public client id the Azure CLI signs users in with (what ad_user/password use without client_id).
AZURE_CLI_CLIENT_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
DEMO_OWNER = ("0a1e5c37-0000-4000-8000-00000000a001", "demo-owner-secret", "0b1e5c37-0000-4000-8000-00000000b001")
DEMO_REQUESTER = (
    "0a1e5c37-0000-4000-8000-00000000a002",
    "demo-requester-secret",
    "0b1e5c37-0000-4000-8000-00000000b002",
)
DEMO_READER = ("0a1e5c37-0000-4000-8000-00000000a003", "demo-reader-secret", "0b1e5c37-0000-4000-8000-00000000b003")

NETWORK_API = "2024-05-01"
COMPUTE_API = "2024-07-01"


def conformance_dir() -> Path:
    if not CONFORMANCE.is_dir():
        pytest.skip(f"the conformance corpus is not at {CONFORMANCE} (it is next to the repository in CI)")
    return CONFORMANCE


@dataclass
class Env:
    """One running emulator and the ways a test talks to it."""

    running: RunningEmulator
    _credentials: dict[tuple[str, str], ClientSecretCredential] = field(default_factory=dict)

    # -- what the ready line tells a client --------------------------------------------------------
    @property
    def emulator(self) -> Emulator:
        return self.running.emulator

    @property
    def info(self) -> dict[str, Any]:
        return self.running.info

    @property
    def url(self) -> str:
        return self.info["url"]

    @property
    def ca(self) -> str:
        return self.info["ca_bundle"]

    @property
    def sub(self) -> str:
        return self.info["subscription_id"]

    @property
    def tenant(self) -> str:
        return self.info["tenant_id"]

    def rg_id(self, rg: str) -> str:
        return f"/subscriptions/{self.sub}/resourceGroups/{rg}"

    def vm_id(self, rg: str, name: str) -> str:
        return f"{self.rg_id(rg)}/providers/Microsoft.Compute/virtualMachines/{name}"

    # -- clients -------------------------------------------------------------------------------------
    def credential(self, principal: tuple[str, ...] | None = None) -> TokenCredential | PasswordGrant:
        """A service principal's client-secret credential; for a user (`name@domain`), its name and password."""
        client_id, secret = (principal or (self.info["client_id"], self.info["secret"]))[:2]
        key = (client_id, secret)
        if key not in self._credentials:
            common = {"authority": self.url, "disable_instance_discovery": True, "connection_verify": self.ca}
            if "@" in client_id:
                self._credentials[key] = PasswordGrant(self, client_id, secret)
            else:
                self._credentials[key] = ClientSecretCredential(self.tenant, client_id, secret, **common)
        return self._credentials[key]

    def _client_kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        # No retries unless a test asks for them: an unexpected error must fail fast, not back off.
        return {
            "base_url": self.url,
            "credential_scopes": [self.url + "/.default"],
            "connection_verify": self.ca,
            "retry_total": 0,
            **kwargs,
        }

    def security(
        self, principal: tuple[str, ...] | None = None, sub: str | None = None, **kwargs: Any
    ) -> SecurityCenter:
        return SecurityCenter(self.credential(principal), sub or self.sub, **self._client_kwargs(kwargs))

    def network(
        self, principal: tuple[str, ...] | None = None, sub: str | None = None, **kwargs: Any
    ) -> NetworkManagementClient:
        kwargs.setdefault("polling_interval", 0.05)
        return NetworkManagementClient(self.credential(principal), sub or self.sub, **self._client_kwargs(kwargs))

    def arm(
        self,
        method: str,
        path: str,
        api_version: str | None,
        body: Any = None,
        *,
        principal: tuple[str, ...] | None = None,
        params: dict[str, str] | None = None,
    ) -> HttpResponse:
        """A plain ARM call through the SDK pipeline (bearer token, TLS, request id), as modules send them."""
        query = dict(params or {})
        if api_version is not None:
            query["api-version"] = api_version
        client = self.network(principal)
        request = HttpRequest(method, self.url + path, params=query, json=body)
        response = client._client.send_request(request)
        response.read()
        return response

    def arm_list(self, path: str, api_version: str, *, principal: tuple[str, ...] | None = None) -> list[Any]:
        """Every item of an ARM list, following nextLink (which carries its own query, api-version included)."""
        client = self.network(principal)
        items: list[Any] = []
        request = HttpRequest("GET", self.url + path, params={"api-version": api_version})
        while True:
            response = client._client.send_request(request)
            response.read()
            assert response.status_code == 200, response.text()
            page = response.json()
            items.extend(page["value"])
            if not page.get("nextLink"):
                return items
            request = HttpRequest("GET", page["nextLink"])

    # -- the control API -----------------------------------------------------------------------------
    def control(self, method: str, path: str, body: Any = None) -> requests.Response:
        return requests.request(method, f"{self.url}/_emulator/{path}", json=body, verify=self.ca, timeout=30)

    def reset(self, world: str | dict[str, Any] | None = "demo") -> None:
        response = self.control("POST", "reset", {"world": world} if world else None)
        assert response.status_code == 200, response.text

    def advance(self, duration: str) -> str:
        response = self.control("POST", "clock", {"advance": duration})
        assert response.status_code == 200, response.text
        return response.json()["now"]

    def settings(self, **changes: Any) -> dict[str, Any]:
        response = self.control("PUT", "settings", changes)
        assert response.status_code == 200, response.text
        return response.json()

    def request_log(self) -> list[dict[str, Any]]:
        response = self.control("GET", "requests")
        assert response.status_code == 200, response.text
        return response.json()["value"]


@pytest.fixture(scope="session")
def running() -> Iterator[RunningEmulator]:
    emulator = Emulator(seed=7)
    running = emulator.start_in_thread()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def emu(running: RunningEmulator) -> Env:
    """The session's emulator, as it is (no reset)."""
    return Env(running)


@pytest.fixture
def env(emu: Env) -> Env:
    """The session's emulator, reset to the demo world."""
    emu.reset("demo")
    return emu


class PasswordGrant:
    """A user's token by the password grant, posted as any OAuth client would.

    Not UsernamePasswordCredential: MSAL first asks `https://<host>/common/userrealm/...` without the
    authority's port, so on the emulator's random port it reaches 127.0.0.1:443 (see the README).
    """

    def __init__(self, env: Env, username: str, password: str) -> None:
        self.env, self.username, self.password = env, username, password

    def get_token(self, *scopes: str, **_kwargs: Any) -> AccessToken:
        response = requests.post(
            f"{self.env.url}/{self.env.tenant}/oauth2/v2.0/token",
            data={
                "grant_type": "password",
                "client_id": AZURE_CLI_CLIENT_ID,
                "username": self.username,
                "password": self.password,
                "scope": " ".join([*scopes, "openid", "profile", "offline_access"]),
                "client_info": "1",
            },
            verify=self.env.ca,
            timeout=10,
        )
        response.raise_for_status()
        body = response.json()
        return AccessToken(body["access_token"], int(time.time()) + int(body["expires_in"]))


def error_of(response: HttpResponse | requests.Response) -> dict[str, Any]:
    """The CloudError body's `error` object."""
    body = response.json()
    assert set(body) == {"error"}, body
    return body["error"]
