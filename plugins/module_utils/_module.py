# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The module base: AnsibleModule with the authentication options, lazy clients and Azure failures.

Private API of azsecops.jit. Module files build their argument spec, create an
`_AzureJitModule`, and hand it to a manager class; nothing runs in the constructor but argument
parsing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from typing import Any, NoReturn

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ._auth import _AUTH_ARGUMENT_SPEC, _AuthError, _default_fetch_json, _resolve_cloud, _resolve_settings
from ._clients import _AzureClients
from ._errors import _describe, _error_fields

_REQUIRED_LIBS = (
    ("azure.identity", "azure-identity"),
    ("azure.mgmt.security", "azure-mgmt-security"),
    ("azure.mgmt.network", "azure-mgmt-network"),
)
_RETRY_SPEC: dict[str, dict[str, Any]] = {
    "api_retries": {"type": "int", "default": 6},
    "api_retry_timeout": {"type": "int", "default": 300},
}
_VERSION = "0.1.0"
_SUBSCRIPTION_RE = re.compile(r"[0-9A-Fa-f]{8}-(?:[0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}")


def _auth_argument_spec() -> dict[str, dict[str, Any]]:
    return {**{k: dict(v) for k, v in _AUTH_ARGUMENT_SPEC.items()}, **{k: dict(v) for k, v in _RETRY_SPEC.items()}}


class _AzureJitModule:
    """AnsibleModule plus the Azure connection of this collection."""

    def __init__(self, argument_spec: dict[str, Any], **kwargs: Any) -> None:
        kwargs.setdefault("supports_check_mode", True)
        self.module = AnsibleModule(argument_spec={**_auth_argument_spec(), **argument_spec}, **kwargs)
        self.params: dict[str, Any] = self.module.params
        self.check_mode: bool = self.module.check_mode
        self.diff_mode: bool = bool(self.module._diff)
        self._clients: _AzureClients | None = None
        for name in _RETRY_SPEC:
            if self.params[name] is not None and self.params[name] < 0:
                self.fail(f"{name}: {self.params[name]} is negative; use 0 or more (api_retries 0 means no retry)")
        for import_name, package in _REQUIRED_LIBS:
            if importlib.util.find_spec(import_name.split(".", maxsplit=1)[0]) is None or not _has(import_name):
                self.module.fail_json(msg=missing_required_lib(package))

    @property
    def clients(self) -> _AzureClients:
        if self._clients is None:
            self._clients = self._connect()
        return self._clients

    def _connect(self) -> _AzureClients:
        try:
            settings = _resolve_settings(self.params, dict(os.environ))
            cloud = _resolve_cloud(
                settings.cloud_environment, lambda url: _default_fetch_json(url, settings.connection_verify)
            )
        except _AuthError as exc:
            self.fail(f"Azure authentication settings: {exc.message}")
        if settings.cert_validation_mode == "ignore":
            self.module.warn(
                "cert_validation_mode is ignore: TLS certificates are NOT verified; anyone on the path can read "
                "the credentials. Use ca_bundle to trust a private CA instead."
            )
        subscription = settings.subscription_id or self._cli_subscription()
        if not _SUBSCRIPTION_RE.fullmatch(subscription.strip()):
            # Checked here, where it is read, so a bad value is blamed on the subscription and not on the
            # first VM id built from it.
            self.fail(
                f"subscription_id (or AZURE_SUBSCRIPTION_ID): {subscription!r} is not a subscription id; use the "
                "subscription's GUID, e.g. 00000000-0000-0000-0000-000000000000 (az account show --query id)"
            )
        clients = _AzureClients(
            settings,
            cloud,
            subscription,
            retries=self.params["api_retries"],
            retry_timeout=self.params["api_retry_timeout"],
            user_agent=f"azsecops.jit/{_VERSION}",
        )
        try:
            # Built here (no network), so that credentials the settings cannot make are reported as a
            # settings problem, before the first Azure call and outside the managers' Azure error handling.
            clients.prepare()
        except _AuthError as exc:
            self.fail(f"Azure authentication settings: {exc.message}")
        return clients

    def _cli_subscription(self) -> str:
        rc, out, err = self.module.run_command(["az", "account", "show", "--output", "json"])
        if rc == 0:
            try:
                return str(json.loads(out)["id"])
            except (ValueError, KeyError):
                pass
        self.fail(
            f"no subscription_id given and 'az account show' failed ({err.strip() or out.strip()}); set subscription_id"
        )

    # -- results and failures ----------------------------------------------------------------------------
    def fail(self, msg: str, **kwargs: Any) -> NoReturn:
        self.module.fail_json(msg=msg, **kwargs)
        raise AssertionError("fail_json returned")  # pragma: no cover - fail_json exits

    def fail_azure(self, exc: BaseException, doing: str, **kwargs: Any) -> NoReturn:
        fields = _error_fields(exc)
        self.fail(_describe(exc, doing), error={k: v for k, v in fields.items() if v is not None}, **kwargs)

    def warn(self, msg: str) -> None:
        self.module.warn(msg)

    def run(self, manager: Any) -> NoReturn:
        """Run a manager (an object with run() -> result and a warnings list) and exit with its result."""
        result = manager.run()
        for warning in manager.warnings:
            self.module.warn(warning)
        self.exit(**result)

    def exit(self, **result: Any) -> NoReturn:
        self.module.exit_json(**result)
        raise AssertionError("exit_json returned")  # pragma: no cover


def _has(import_name: str) -> bool:
    try:
        return importlib.util.find_spec(import_name) is not None
    except (ImportError, ValueError):
        return False
