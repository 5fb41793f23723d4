# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turning Azure SDK exceptions into messages that say what failed, why, and what to do.

Private API of azsecops.jit: names may change in any release. No Ansible import. azure-core is
imported only when an exception is being matched (``except _azure_errors()``: Python evaluates an
except clause's expression only while an exception propagates), so importing this file stays cheap
and works without the SDK; messages read the exceptions by their attributes.
"""

from __future__ import annotations

import functools
import importlib
import re
from typing import Any

# What the Azure SDKs raise, and nothing else: a bug of ours (KeyError, TypeError, ...) must surface as
# a traceback, not as "Failed to ...". azure-core's AzureError covers HTTP errors (HttpResponseError and
# its ResourceNotFoundError, ClientAuthenticationError, DecodeError, ...), transport errors
# (ServiceRequestError, ServiceResponseError) and azure-identity's credential errors
# (CredentialUnavailableError and everything its credentials wrap, azure/identity/_internal/decorators.py
# wrap_exceptions). The LRO pollers turn their own OperationFailed/BadStatus/BadResponse into
# HttpResponseError/DecodeError (azure/core/polling/base_polling.py, LROBasePolling.run). Not AzureErrors
# but raised by the generated SDK models (azure-mgmt-* _serialization.py) on a body they cannot map:
# SerializationError and DeserializationError (both ValueError subclasses).
# https://learn.microsoft.com/python/api/azure-core/azure.core.exceptions
_AZURE_ERRORS: tuple[tuple[str, str], ...] = (
    ("azure.core.exceptions", "AzureError"),
    ("azure.core.exceptions", "SerializationError"),
    ("azure.core.exceptions", "DeserializationError"),
)


class _AzureSdkMissing(Exception):
    """Stands in for the Azure exceptions when azure-core is not installed; never raised."""


@functools.lru_cache(maxsize=None)
def _azure_errors() -> tuple[type[BaseException], ...]:
    """The exception classes of _AZURE_ERRORS, imported on first use: ``except _azure_errors() as exc``.

    Without azure-core nothing can raise them (the module has already reported the missing library), so
    a never-raised stand-in keeps the except clauses valid.
    """
    try:
        return tuple(getattr(importlib.import_module(module), name) for module, name in _AZURE_ERRORS)
    except (ImportError, AttributeError):
        return (_AzureSdkMissing,)


_ACTION_RE = re.compile(r"perform action '([^']+)' over scope '([^']+)'")

# Which roles grant an action (built-in roles first, then the custom-role way), for AuthorizationFailed.
_ROLE_HINTS: tuple[tuple[str, str], ...] = (
    (
        "microsoft.security/locations/jitnetworkaccesspolicies/initiate/action",
        "Owner, Contributor or Security Admin, or a custom role with "
        "Microsoft.Security/locations/jitNetworkAccessPolicies/initiate/action (the documented least-privilege "
        "JIT requester role also needs .../jitNetworkAccessPolicies/*/read, Microsoft.Compute/virtualMachines/read, "
        "Microsoft.Network/networkInterfaces/*/read and Microsoft.Network/publicIPAddresses/read)",
    ),
    (
        "microsoft.security/locations/jitnetworkaccesspolicies/write",
        "Owner, Contributor or Security Admin, or a custom role with "
        "Microsoft.Security/locations/jitNetworkAccessPolicies/write",
    ),
    (
        "microsoft.security/locations/jitnetworkaccesspolicies/delete",
        "Owner, Contributor or Security Admin, or a custom role with "
        "Microsoft.Security/locations/jitNetworkAccessPolicies/delete",
    ),
    (
        "microsoft.security/",
        "Reader, Security Reader, Security Admin, Contributor or Owner, or a custom role with "
        "Microsoft.Security/locations/jitNetworkAccessPolicies/*/read",
    ),
    (
        "microsoft.network/",
        "Reader, Network Contributor, Contributor or Owner, or a custom role with the Microsoft.Network read actions",
    ),
    (
        "microsoft.compute/",
        "Reader, Virtual Machine Contributor, Contributor or Owner, or a custom role with "
        "Microsoft.Compute/virtualMachines/read",
    ),
)

_CODE_HINTS: dict[str, str] = {
    "policynotfound": "create the policy with azsecops.jit.jit_policy first, or check its name, resource group "
    "and location (the ascLocation of the policy id)",
    "invalidinitiateinput": "request only ports of the policy, for at most the port's maximum duration, from "
    "sources inside the policy's allowed sources",
    "defenderforserversplan2required": "enable Microsoft Defender for Servers Plan 2 on the subscription "
    "(pricing 'VirtualMachines': pricingTier Standard, subPlan P2)",
    "virtualmachinemissingnsgorfirewall": "attach a network security group to the VM's network interface or "
    "subnet (or protect its virtual network with an Azure Firewall using classic rules)",
    "classicvmnotsupported": "JIT supports only Azure Resource Manager VMs; migrate the classic VM to ARM",
    "virtualmachinealreadyinpolicy": "a VM belongs to one JIT policy only: remove it from the other policy, or "
    "manage it in that policy",
    "firewallpolicynotsupported": "JIT supports Azure Firewalls with classic rules only, not firewalls managed "
    "by Azure Firewall Manager; add an NSG to the VM's NIC or subnet",
    "invalidauthenticationtoken": "check the credentials and the cloud_environment (the token must be issued "
    "for this cloud's Resource Manager)",
    "expiredauthenticationtoken": "the access token expired; rerun the task",
    "invalidauthenticationtokenaudience": "cloud_environment does not match the cloud the token was issued for",
    "subscriptionnotfound": "check subscription_id (or AZURE_SUBSCRIPTION_ID) and that the principal has access to it",
    "resourcegroupnotfound": "check the resource_group name and the subscription",
    "toomanyrequests": "Azure is throttling; raise api_retries / api_retry_timeout or run fewer forks",
}


def _is_denied(exc: BaseException) -> bool:
    """A 403 from ARM: the principal lacks a role for the call."""
    return getattr(exc, "status_code", None) == 403


def _denied_action(message: str) -> str | None:
    """The action an AuthorizationFailed message names, if it names one."""
    match = _ACTION_RE.search(message)
    return match.group(1) if match else None


def _roles_for(action: str) -> str | None:
    lowered = action.lower()
    for prefix, roles in _ROLE_HINTS:
        if lowered.startswith(prefix):
            return roles
    return None


def _error_fields(exc: BaseException) -> dict[str, Any]:
    """status, code and message of an azure-core HttpResponseError (or of anything else)."""
    status = getattr(exc, "status_code", None)
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None) if error is not None else None
    message = getattr(error, "message", None) if error is not None else None
    if not message:
        message = str(getattr(exc, "message", None) or exc)
    return {"status": status, "code": code, "message": " ".join(str(message).split())}


def _hint(code: str | None, message: str) -> str | None:
    if code and code.lower() == "authorizationfailed":
        match = _ACTION_RE.search(message)
        if match:
            roles = _roles_for(match.group(1))
            if roles:
                return f"the action {match.group(1)} on {match.group(2)} needs one of: {roles}"
        return "the principal lacks a role for this action (Activity Log shows the denied call)"
    if code and code.lower() in _CODE_HINTS:
        return _CODE_HINTS[code.lower()]
    if "AADSTS7000215" in message:
        return "the client secret is wrong: use the secret's value, not its id"
    if "AADSTS700016" in message:
        return "the client id is unknown in this tenant: check client_id and tenant"
    if "AADSTS90002" in message:
        return "the tenant was not found: check tenant and cloud_environment"
    if "CERTIFICATE_VERIFY_FAILED" in message or "certificate verify failed" in message:
        return "TLS verification failed: set ca_bundle (or REQUESTS_CA_BUNDLE) to the CA that signed the endpoint"
    if "invalid_instance" in message or "login.microsoftonline.com" in message:
        # MSAL's instance discovery asks login.microsoftonline.com about authority hosts it does not know.
        return (
            "Entra instance discovery failed: for a private, sovereign or air-gapped cloud set"
            " AZURE_DISABLE_INSTANCE_DISCOVERY=true (disable_instance_discovery: true), or unset it and give"
            " cloud_environment as the Resource Manager URL (then it is off by default); on the public cloud,"
            " check that the controller reaches login.microsoftonline.com (DNS, HTTPS_PROXY)"
        )
    return None


def _describe(exc: BaseException, doing: str) -> str:
    """One sentence for fail_json: what failed, Azure's code and message, and the fix when known."""
    fields = _error_fields(exc)
    parts = [f"Failed to {doing}"]
    detail = fields["message"]
    code = fields["code"]
    status = fields["status"]
    # By class name, subclasses included (ServiceRequestTimeoutError is a ServiceRequestError).
    kinds = {cls.__name__ for cls in type(exc).__mro__}
    if code or status:
        label = " ".join(str(x) for x in (status, code) if x)
        parts.append(f": {label}: {detail}")
    elif "ServiceRequestError" in kinds:
        parts.append(f": cannot reach Azure ({detail})")
    elif "ServiceResponseError" in kinds:
        # The request went out and the connection broke before an answer: it may or may not have been applied.
        parts.append(f": the connection broke before Azure answered, after every retry ({detail})")
    elif "ClientAuthenticationError" in kinds:
        parts.append(f": authentication failed: {detail}")
    else:
        parts.append(f": {detail}")
    hint = _hint(code, detail)
    if hint is None and kinds & {"ServiceRequestError", "ServiceResponseError"}:
        hint = (
            "check the network path to Azure (HTTPS_PROXY / NO_PROXY, firewalls) or raise api_retries;"
            " re-running the task is safe: it reads the current state before changing anything"
        )
    if hint:
        parts.append(f" Hint: {hint}.")
    return "".join(parts)
