"""_errors: SDK exceptions become one sentence with what failed, Azure's code and message, and the fix."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from ansible_collections.azsecops.jit.plugins.module_utils._errors import _denied_action, _describe
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError, ServiceResponseError


class HttpResponseError(Exception):
    """The attributes of azure-core's HttpResponseError that _describe reads (it imports no SDK)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status_code = status
        self.error = SimpleNamespace(code=code, message=message)


def denied(action: str) -> HttpResponseError:
    return HttpResponseError(
        403,
        "AuthorizationFailed",
        f"The client 'x' with object id 'y' does not have authorization to perform action '{action}' over scope"
        " '/subscriptions/s/resourceGroups/rg' or the scope is invalid.",
    )


@pytest.mark.parametrize(
    ("action", "roles"),
    [
        (
            "Microsoft.Security/locations/jitNetworkAccessPolicies/initiate/action",
            "Owner, Contributor or Security Admin",
        ),
        ("Microsoft.Security/locations/jitNetworkAccessPolicies/write", "Owner, Contributor or Security Admin"),
        ("Microsoft.Security/locations/jitNetworkAccessPolicies/read", "Reader, Security Reader, Security Admin"),
    ],
)
def test_authorization_failed_names_the_roles_that_allow_the_action(action: str, roles: str) -> None:
    message = _describe(denied(action), "write the JIT policy default")
    assert message.startswith("Failed to write the JIT policy default: 403 AuthorizationFailed: The client 'x'")
    assert f"Hint: the action {action} on /subscriptions/s/resourceGroups/rg needs one of: {roles}" in message


def test_known_codes_get_their_fix() -> None:
    message = _describe(HttpResponseError(404, "ResourceGroupNotFound", "Resource group 'rg' could not be found."), "x")
    assert message == (
        "Failed to x: 404 ResourceGroupNotFound: Resource group 'rg' could not be found."
        " Hint: check the resource_group name and the subscription."
    )


def test_an_unknown_code_is_reported_without_a_made_up_hint() -> None:
    message = _describe(HttpResponseError(400, "SomethingNew", "A  new\n problem."), "x")
    assert message == "Failed to x: 400 SomethingNew: A new problem."  # one line, whatever Azure sent


def test_a_wrong_secret_is_named() -> None:
    error = ClientAuthenticationError("AADSTS7000215: Invalid client secret provided.")
    message = _describe(error, "sign in")
    assert message.startswith("Failed to sign in: authentication failed: AADSTS7000215")
    assert message.endswith("Hint: the client secret is wrong: use the secret's value, not its id.")


def test_network_failures_say_whether_the_request_went_out() -> None:
    unreachable = _describe(ServiceRequestError("Name or service not known"), "list the JIT policies")
    assert unreachable.startswith("Failed to list the JIT policies: cannot reach Azure (Name or service not known)")
    cut = _describe(ServiceResponseError("Connection aborted."), "write the JIT policy default")
    assert "the connection broke before Azure answered, after every retry (Connection aborted.)" in cut
    for message in (unreachable, cut):
        assert "HTTPS_PROXY" in message and "api_retries" in message and "re-running the task is safe" in message


def test_tls_failures_point_at_the_ca_bundle() -> None:
    message = _describe(ServiceRequestError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"), "x")
    assert "Hint: TLS verification failed: set ca_bundle" in message


def test_the_denied_action_is_read_from_the_message() -> None:
    assert (
        _denied_action(str(denied("Microsoft.Network/azureFirewalls/read"))) == "Microsoft.Network/azureFirewalls/read"
    )
    assert _denied_action("Resource group 'rg' could not be found.") is None
