# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every manager turns Azure's exceptions into the module's message, and only those.

Each manager runs against a fake client whose every call is recorded and raises one exception: an
azure-core HttpResponseError (as the SDK raises it from an ARM error body) must end the run with
"Failed to ...: <status> <code>: <message> Hint: ...", while a plain Python error (a bug of ours or of
a fake) must propagate unchanged, as a traceback, instead of being dressed up as an Azure failure.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from ansible_collections.azsecops.jit.plugins.module_utils._diagnose_manager import _DiagnoseManager
from ansible_collections.azsecops.jit.plugins.module_utils._errors import _azure_errors
from ansible_collections.azsecops.jit.plugins.module_utils._facts_manager import _FactsManager
from ansible_collections.azsecops.jit.plugins.module_utils._module import _AzureJitModule
from ansible_collections.azsecops.jit.plugins.module_utils._policy_manager import _PolicyManager
from ansible_collections.azsecops.jit.plugins.module_utils._request_manager import _RequestManager
from ansible_collections.azsecops.jit.plugins.module_utils._vm_info_manager import _VmInfoManager
from azure.core.exceptions import (
    AzureError,
    DeserializationError,
    HttpResponseError,
    SerializationError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.mgmt.core.exceptions import ARMErrorFormat

SUB = "00000000-0000-0000-0000-000000000001"
RG = "rg-app"


class Failed(Exception):
    """fail_json, as a test sees it."""

    def __init__(self, msg: str, **kwargs: Any) -> None:
        super().__init__(msg)
        self.msg = msg
        self.kwargs = kwargs


class ArmResponse:
    """The parts of an azure-core HTTP response that HttpResponseError and ARMErrorFormat read."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status_code = status
        self.reason = "Not Found"
        self.headers = {"content-type": "application/json; charset=utf-8"}
        self.content_type = "application/json"
        self.request = None
        self._text = json.dumps({"error": {"code": code, "message": message}})

    def text(self, encoding: str | None = None) -> str:
        return self._text

    def body(self) -> bytes:
        return self._text.encode()


def rg_not_found() -> HttpResponseError:
    """What ARM answers for a resource group that does not exist, as the SDK raises it."""
    response = ArmResponse(404, "ResourceGroupNotFound", f"Resource group '{RG}' could not be found.")
    return HttpResponseError(response=response, error_format=ARMErrorFormat)


class Raising:
    """Any attribute is a callable (or a group of them) that records its call, then raises."""

    def __init__(self, calls: list[str], error: BaseException, path: str) -> None:
        self._calls = calls
        self._error = error
        self._path = path

    def __getattr__(self, name: str) -> Raising:
        return Raising(self._calls, self._error, f"{self._path}.{name}")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self._calls.append(self._path)
        raise self._error


class FakeClients:
    """The _AzureClients surface the managers use; every Azure call is recorded and raises `error`."""

    subscription_id = SUB

    def __init__(self, error: BaseException, answers: dict[str, Any] | None = None) -> None:
        self.calls: list[str] = []
        self.error = error
        self.answers = answers or {}
        self.network = Raising(self.calls, error, "network")
        self.security = Raising(self.calls, error, "security")

    def now(self) -> datetime:
        return datetime(2026, 12, 2, 3, 0, tzinfo=timezone.utc)

    def __getattr__(self, name: str) -> Any:
        # list_policies, list_json, list_vms, get_json, asc_location, get_policy, put_policy, initiate, ...
        if name in self.answers:
            answer = self.answers[name]

            def answered(*args: Any, **kwargs: Any) -> Any:
                self.calls.append(name)
                return answer

            return answered
        return Raising(self.calls, self.error, name)


class FakeModule:
    """_AzureJitModule's surface for managers; fail_azure is the real one, so the message is the module's."""

    fail_azure = _AzureJitModule.fail_azure

    def __init__(self, params: dict[str, Any], clients: FakeClients) -> None:
        self.params = params
        self.clients = clients
        self.check_mode = False
        self.diff_mode = False
        self.warnings: list[str] = []

    def fail(self, msg: str, **kwargs: Any) -> Any:
        raise Failed(msg, **kwargs)

    def warn(self, msg: str) -> None:
        self.warnings.append(msg)


def policy_manager(module: Any) -> _PolicyManager:
    module.params = {
        "resource_group": RG,
        "name": "default",
        "location": "westeurope",
        "virtual_machines": [{"name": "vm1", "resource_group": None, "id": None, "ports": None}],
        "ports": [{"number": 22, "protocol": "*", "allowed_source": None, "max_duration": "3h"}],
        "purge_virtual_machines": False,
        "delete_policy": False,
        "remove_missing_vms": False,
        "check_rules": True,
        "settle_time": 0.0,
        "state": "present",
        "lock_timeout": 5,
    }
    return _PolicyManager(module)


def request_manager(module: Any) -> _RequestManager:
    module.params = {
        "resource_group": RG,
        "name": None,
        "location": None,
        "virtual_machines": [{"name": "vm1", "resource_group": None, "id": None, "ports": None}],
        "justification": None,
        "wait": True,
        "wait_timeout": 300,
        "reuse_active": True,
        "min_remaining": "15m",
        "replace_active": True,
    }
    return _RequestManager(module)


def facts_manager(module: Any) -> _FactsManager:
    module.params = {"resource_group": RG, "virtual_machines": None, "include_expired": False}
    return _FactsManager(module)


def vm_info_manager(module: Any) -> _VmInfoManager:
    module.params = {"virtual_machines": None, "resource_groups": [RG], "tags": None, "location": None}
    return _VmInfoManager(module)


def diagnose_manager(module: Any) -> _DiagnoseManager:
    module.params = {
        "virtual_machine": {"name": "vm1", "resource_group": RG, "id": None},
        "port": 22,
        "source": None,
        "use_network_watcher": True,
        "activity_log_hours": 24,
    }
    return _DiagnoseManager(module)


MANAGERS = [policy_manager, request_manager, facts_manager, vm_info_manager, diagnose_manager]
IDS = ["jit_policy", "jit_request", "jit_rule_facts", "jit_vm_info", "jit_diagnose"]


def run_with(make: Any, error: BaseException) -> tuple[FakeClients, Any]:
    clients = FakeClients(error)
    module = FakeModule({}, clients)
    manager = make(module)
    return clients, manager


@pytest.mark.parametrize("make", MANAGERS, ids=IDS)
def test_azure_http_error_becomes_the_modules_message(make: Any) -> None:
    clients, manager = run_with(make, rg_not_found())
    with pytest.raises(Failed) as failed:
        manager.run()
    assert failed.value.msg.startswith("Failed to ")
    assert (
        f": 404 ResourceGroupNotFound: Resource group '{RG}' could not be found. "
        "Hint: check the resource_group name and the subscription." in failed.value.msg
    )
    assert failed.value.kwargs["error"] == {
        "status": 404,
        "code": "ResourceGroupNotFound",
        "message": f"Resource group '{RG}' could not be found.",
    }
    # The first Azure call failed, and nothing was tried after it.
    assert len(clients.calls) == 1, clients.calls


@pytest.mark.parametrize("make", MANAGERS, ids=IDS)
def test_connection_error_becomes_the_modules_message(make: Any) -> None:
    clients, manager = run_with(make, ServiceRequestError("Failed to establish a new connection"))
    with pytest.raises(Failed) as failed:
        manager.run()
    assert "cannot reach Azure (Failed to establish a new connection)" in failed.value.msg
    assert "Hint: check the network path to Azure" in failed.value.msg
    assert len(clients.calls) == 1, clients.calls


@pytest.mark.parametrize("bug", [KeyError("properties"), TypeError("'NoneType' object is not iterable")])
@pytest.mark.parametrize("make", MANAGERS, ids=IDS)
def test_a_plain_python_error_propagates(make: Any, bug: Exception) -> None:
    clients, manager = run_with(make, bug)
    with pytest.raises(type(bug)) as raised:
        manager.run()
    assert raised.value is bug
    assert len(clients.calls) == 1, clients.calls


def test_azure_errors_are_what_the_sdks_raise() -> None:
    errors = _azure_errors()
    assert errors == (AzureError, SerializationError, DeserializationError)
    assert not issubclass(KeyError, errors)
    assert not issubclass(ValueError, errors)


def classic_probe(error: BaseException) -> tuple[FakeClients, _PolicyManager]:
    """jit_policy for a VM that is not in its resource group: the classic-VM list is the call that fails."""
    clients = FakeClients(error, answers={"list_policies": [], "list_vms": []})
    return clients, policy_manager(FakeModule({}, clients))


def arm_error(status: int, code: str, message: str) -> HttpResponseError:
    return HttpResponseError(response=ArmResponse(status, code, message), error_format=ARMErrorFormat)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "NoRegisteredProviderFound"),
        (403, "AuthorizationFailed"),
        (404, "InvalidResourceNamespace"),
        (409, "MissingSubscriptionRegistration"),
    ],
)
def test_classic_probe_without_classic_vms_says_not_found(status: int, code: str) -> None:
    clients, manager = classic_probe(arm_error(status, code, "no classic VMs here"))
    with pytest.raises(Failed) as failed:
        manager.run()
    assert clients.calls == ["list_policies", "list_vms", "list_json"]
    assert failed.value.msg.startswith("virtual_machines: ")
    assert "vm1" in failed.value.msg and "not found" in failed.value.msg
    assert "classic" not in failed.value.msg


def test_classic_probe_reports_other_azure_errors() -> None:
    clients, manager = classic_probe(arm_error(500, "InternalServerError", "Something went wrong"))
    with pytest.raises(Failed) as failed:
        manager.run()
    assert failed.value.msg.startswith(
        f"Failed to list the classic virtual machines of resource group {RG}: 500 InternalServerError: "
    )
    assert clients.calls == ["list_policies", "list_vms", "list_json"]


def test_classic_probe_lets_a_bug_propagate() -> None:
    bug = AttributeError("'NoneType' object has no attribute 'get'")
    clients, manager = classic_probe(bug)
    with pytest.raises(AttributeError) as raised:
        manager.run()
    assert raised.value is bug
    assert clients.calls == ["list_policies", "list_vms", "list_json"]


def test_remove_missing_vms_keeps_entries_of_an_unreadable_group_in_any_case() -> None:
    """Resource group names compare case-insensitively: an entry spelling the group differently from the first
    one is not taken for a VM that no longer exists when the group's VMs cannot be read."""
    denied = arm_error(403, "AuthorizationFailed", "no Microsoft.Compute/virtualMachines/read")
    clients = FakeClients(denied)
    manager = policy_manager(FakeModule({}, clients))
    vm_path = "/providers/Microsoft.Compute/virtualMachines/"
    entries = [
        {"id": f"/subscriptions/{SUB}/resourceGroups/rg-app{vm_path}vm1"},
        {"id": f"/subscriptions/{SUB}/resourceGroups/RG-APP{vm_path}vm2"},
    ]
    kept, stale = manager._without_missing_vms(entries)
    assert kept == entries
    assert stale == []
    assert clients.calls == ["list_vms"]  # one list call for the group, whatever the spelling
    assert "cannot read the virtual machines of resource group(s) rg-app" in manager.warnings[0]


class _CutOnce:
    """Clients whose first initiate breaks with `error`; the policy read after it shows no request."""

    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.calls: list[str] = []

    def initiate(self, rg: str, location: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        self.calls.append("initiate")
        if self.calls.count("initiate") == 1:
            raise self.error
        return {"virtualMachines": body["virtualMachines"], "startTimeUtc": "2026-12-02T03:00:00Z"}

    def get_policy(self, rg: str, location: str, name: str) -> dict[str, Any]:
        self.calls.append("get_policy")
        return {"properties": {"requests": []}}


@pytest.mark.parametrize(
    "error",
    [
        ServiceRequestError("EOF occurred in violation of protocol (_ssl.c:2427)"),
        ServiceResponseError("Connection aborted."),
    ],
    ids=["not-sent", "no-answer"],
)
def test_a_connection_cut_during_initiate_reads_the_policy_then_sends_once_more(error: BaseException) -> None:
    # azure-core retries a POST on neither error; seen on the oldest supported SDKs in
    # tests/integration/test_jit_request.py::test_a_connection_cut_during_initiate_neither_fails_nor_requests_twice.
    from ansible_collections.azsecops.jit.plugins.module_utils._request_model import _PlannedPort

    clients = _CutOnce(error)
    manager = _RequestManager(FakeModule({"justification": None}, clients))  # type: ignore[arg-type]
    policy = {
        "id": f"{SUB}/resourceGroups/{RG}/providers/Microsoft.Security/locations/westeurope"
        "/jitNetworkAccessPolicies/default",
        "name": "default",
        "location": "westeurope",
    }
    vm = f"{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/virtualMachines/vm1"
    port = _PlannedPort(vm, 22, "TCP", ("10.0.0.1",), timedelta(hours=1), timedelta(hours=3))
    answer = manager._initiate(policy, [port], datetime(2026, 12, 2, 3, 0, tzinfo=timezone.utc))
    assert clients.calls == ["initiate", "get_policy", "initiate"]
    assert answer["virtualMachines"][0]["id"] == vm
    assert any("sent once more" in w for w in manager.warnings), manager.warnings
