# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place that builds credentials and Azure clients, and sends plain ARM GETs.

Private API of azsecops.jit. SDK imports are lazy: a module that never reads an NSG never pays
for importing azure-mgmt-network. Every response's `Date` header is kept, so expiry is judged by
Azure's clock rather than the controller's.
"""

from __future__ import annotations

import base64
import email.utils
import json
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from ._arm_id import _format_arm_id
from ._auth import _AuthSettings, _build_credential, _Cloud, _mgmt_client_kwargs

# Plain ARM GETs (resources without an SDK here) use these api-versions.
_COMPUTE_API_VERSION = "2024-07-01"
_AUTHORIZATION_API_VERSION = "2022-04-01"
_JIT_API_VERSION = "2020-01-01"
# Network reads (lists of NICs, NSGs, ...) are plain ARM GETs too: the modules want the wire JSON, and
# importing azure-mgmt-network's client costs a module run about a third of its start-up. The SDK stays for
# what needs its poller (jit_diagnose's IP flow verify). One pinned version also means the same shapes
# whichever azure-mgmt-network is installed (its default api-version moves with each release).
# https://learn.microsoft.com/rest/api/virtualnetwork/network-security-groups/list
_NETWORK_API_VERSION = "2024-05-01"


class _AzureClients:
    """Credentials, SDK clients and plain ARM requests for one module run."""

    def __init__(
        self,
        settings: _AuthSettings,
        cloud: _Cloud,
        subscription_id: str,
        *,
        retries: int = 6,
        retry_timeout: int = 300,
        user_agent: str = "azsecops.jit",
    ) -> None:
        self.settings = settings
        self.cloud = cloud
        self.subscription_id = subscription_id
        self._retries = retries
        self._retry_timeout = retry_timeout
        self._user_agent = user_agent
        self._credential: Any = None
        self._security: Any = None
        self._network: Any = None
        self._asc_location: str | None = None
        self.server_time: datetime | None = None

    # -- construction ------------------------------------------------------------------------------
    @property
    def credential(self) -> Any:
        if self._credential is None:
            self._credential = _build_credential(self.settings, self.cloud)
        return self._credential

    def prepare(self) -> None:
        """Build the credential now (no network): raises _AuthError when the settings cannot make one."""
        if self._credential is None:
            self._credential = _build_credential(self.settings, self.cloud)

    def _kwargs(self) -> dict[str, Any]:
        kwargs = _mgmt_client_kwargs(self.settings, self.cloud)
        kwargs.update(
            retry_total=self._retries,
            retry_backoff_factor=0.8,
            retry_backoff_max=60,
            timeout=self._retry_timeout,
            raw_response_hook=self._on_response,
            user_agent=self._user_agent,
        )
        return kwargs

    @property
    def security(self) -> Any:
        if self._security is None:
            from azure.mgmt.security import SecurityCenter

            self._security = SecurityCenter(self.credential, self.subscription_id, **self._kwargs())
        return self._security

    @property
    def network(self) -> Any:
        if self._network is None:
            from azure.mgmt.network import NetworkManagementClient

            self._network = NetworkManagementClient(self.credential, self.subscription_id, **self._kwargs())
        return self._network

    @property
    def jit(self) -> Any:
        return self.security.jit_network_access_policies

    # -- server clock ----------------------------------------------------------------------------------
    def _on_response(self, pipeline_response: Any) -> None:
        date = pipeline_response.http_response.headers.get("Date")
        if not date:
            return
        try:
            parsed = email.utils.parsedate_to_datetime(date)
        except (TypeError, ValueError):
            return
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        self.server_time = parsed

    def now(self) -> datetime:
        """Azure's time as its last response reported it (the controller's only before any call)."""
        return self.server_time or datetime.now(timezone.utc)

    def token_claims(self) -> dict[str, Any]:
        """The claims of this run's Resource Manager token (already cached by the credential: no extra call).

        Only read to name the caller as Azure records it (a user's `upn`); never verified, never logged.
        """
        token = self.credential.get_token(self.cloud.token_scope).token
        try:
            payload = token.split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (IndexError, ValueError):
            return {}
        return claims if isinstance(claims, dict) else {}

    # -- plain ARM requests --------------------------------------------------------------------------------
    def _url(self, path_or_url: str, api_version: str | None) -> str:
        if path_or_url.startswith("https://"):
            return path_or_url
        url = self.cloud.resource_manager.rstrip("/") + "/" + path_or_url.lstrip("/")
        if api_version:
            url += ("&" if "?" in url else "?") + "api-version=" + api_version
        return url

    def get_json(self, path_or_url: str, api_version: str | None = None) -> dict[str, Any]:
        """GET through the SDK pipeline (auth, retries, the Date hook); ARM errors raise as the SDK's do."""
        from azure.core.exceptions import (
            ClientAuthenticationError,
            DecodeError,
            HttpResponseError,
            ResourceExistsError,
            ResourceNotFoundError,
            ServiceRequestError,
            map_error,
        )
        from azure.core.rest import HttpRequest
        from azure.mgmt.core.exceptions import ARMErrorFormat

        url = self._url(path_or_url, api_version)
        if urlsplit(url).netloc.lower() != urlsplit(self.cloud.resource_manager).netloc.lower():
            # A nextLink elsewhere: refused before sending, as azure-core refuses a token over plain http.
            raise ServiceRequestError(f"refusing to send credentials to {url}: not this cloud's Resource Manager")
        response = self.security._client.send_request(HttpRequest("GET", url, headers={"Accept": "application/json"}))
        if response.status_code != 200:
            error_map = {401: ClientAuthenticationError, 404: ResourceNotFoundError, 409: ResourceExistsError}
            map_error(status_code=response.status_code, response=response, error_map=error_map)
            raise HttpResponseError(response=response, error_format=ARMErrorFormat)
        try:
            return response.json()
        except ValueError as exc:
            # What the SDK's own deserialisation raises for a body that is not JSON.
            raise DecodeError(message=f"the answer to GET {url} is not JSON ({exc})", response=response) from exc

    def list_json(self, path: str, api_version: str) -> list[dict[str, Any]]:
        """Every item of an ARM list, following `nextLink`."""
        items: list[dict[str, Any]] = []
        url: str | None = self._url(path, api_version)
        while url:
            page = self.get_json(url)
            items.extend(page.get("value") or [])
            url = page.get("nextLink")
        return items

    def list_network(self, kind: str, resource_group: str | None = None) -> list[dict[str, Any]]:
        """Every Microsoft.Network resource of ``kind`` (e.g. ``networkSecurityGroups``) in a resource group,
        or in the subscription when none is given, as wire JSON."""
        scope = f"/subscriptions/{self.subscription_id}"
        if resource_group:
            scope += f"/resourceGroups/{resource_group}"
        return self.list_json(f"{scope}/providers/Microsoft.Network/{kind}", _NETWORK_API_VERSION)

    def list_vms(self, resource_group: str) -> list[dict[str, Any]]:
        return self.list_json(
            _format_arm_id(self.subscription_id, resource_group) + "/providers/Microsoft.Compute/virtualMachines",
            _COMPUTE_API_VERSION,
        )

    def permissions(self, scope: str) -> list[dict[str, Any]]:
        return self.list_json(
            f"{scope.rstrip('/')}/providers/Microsoft.Authorization/permissions", _AUTHORIZATION_API_VERSION
        )

    # -- JIT policies, as raw JSON (unknown fields survive a read-modify-write) -----------------------------
    def list_policies(self, resource_group: str | None = None) -> list[dict[str, Any]]:
        """Policies of a resource group (or the subscription), every page, as raw JSON."""
        scope = _format_arm_id(self.subscription_id, resource_group or "")
        return self.list_json(f"{scope}/providers/Microsoft.Security/jitNetworkAccessPolicies", _JIT_API_VERSION)

    def get_policy(self, resource_group: str, location: str, name: str) -> dict[str, Any]:
        return self.jit.get(resource_group, location, name, cls=_raw)

    def put_policy(self, resource_group: str, location: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        payload = json.dumps(body).encode("utf-8")
        return self.jit.create_or_update(resource_group, location, name, payload, cls=_raw)

    def delete_policy(self, resource_group: str, location: str, name: str) -> None:
        self.jit.delete(resource_group, location, name)

    def initiate(self, resource_group: str, location: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        # Raw JSON: the SDK model has neither `duration` nor `allowedSourceAddressPrefixes`, which Azure accepts.
        payload = json.dumps(body).encode("utf-8")
        return self.jit.initiate(resource_group, location, name, payload, cls=_raw)

    # -- Defender for Cloud --------------------------------------------------------------------------------
    def asc_location(self) -> str:
        """The subscription's ASC home region (one call per run)."""
        if self._asc_location is None:
            locations = [loc.name for loc in self.security.locations.list()]
            if not locations:
                from azure.core.exceptions import ResourceNotFoundError

                raise ResourceNotFoundError(
                    "Microsoft.Security/locations returned no location for this subscription; set location "
                    "explicitly (the region of the JIT policy)"
                )
            self._asc_location = locations[0]
        return self._asc_location


def _raw(pipeline_response: Any, deserialized: Any, headers: Any) -> Any:
    """`cls` hook of SDK operations: the response JSON exactly as Azure sent it."""
    text = pipeline_response.http_response.text()
    try:
        return json.loads(text) if text else {}
    except ValueError as exc:
        from azure.core.exceptions import DecodeError

        raise DecodeError(
            message=f"Azure's answer is not JSON ({exc})", response=pipeline_response.http_response
        ) from exc
