"""Integration tests: real ansible-playbook runs against jit-emulator, with AWX-style credentials."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.ansible import awx_env
from support.emulator import EmulatorProcess

OWNER = ("0a1e5c37-0000-4000-8000-00000000a001", "demo-owner-secret")
REQUESTER = ("0a1e5c37-0000-4000-8000-00000000a002", "demo-requester-secret")
READER = ("0a1e5c37-0000-4000-8000-00000000a003", "demo-reader-secret")

# `make integration-oldest` runs these tests again on the oldest versions we support (tests/oldest.txt:
# ansible-core 2.16 and the lower bound of each SDK). They are the tests whose outcome can depend on those
# versions: credentials and instance discovery (azure-identity/MSAL), every SDK operation and poller the
# modules use (security, network, paging, retries, dropped connections, error mapping), what ansible-core
# does with our results (facts, no_log, action plugins, argument specs, ansible-doc, the roles' templating and
# host facts). Tests of our own logic only (diff planning, concurrency, report layout, bad input refused by our
# checks) run once, on the newest versions. A name here that matches no test fails the run.
OLDEST_TESTS = (
    "test_awx_credential.py::",
    "test_awx_runner.py::test_onboard_then_request_access_from_a_survey",
    "test_credential_sources.py::",
    "test_docs.py::",
    "test_secrets.py::",
    "test_jit_policy.py::test_create_then_idempotent_rerun_makes_no_write",
    "test_jit_policy.py::test_absent_removes_one_vm_then_the_whole_policy",
    "test_jit_policy.py::test_check_mode_predicts_exactly_and_writes_nothing",
    "test_jit_policy.py::test_reader_gets_a_clear_permission_error",
    "test_jit_policy.py::test_transient_faults_converge",
    "test_jit_policy.py::test_dropped_connections_converge",
    "test_jit_policy.py::test_security_admin_configures_jit_without_reading_vms",
    "test_jit_policy.py::test_a_policy_still_updating_is_accepted_without_waiting",
    "test_jit_request.py::test_request_waits_and_returns_connection_details",
    "test_jit_request.py::test_firewall_vm_gets_firewall_ip_and_mapped_port",
    "test_jit_request.py::test_check_mode_predicts_without_initiating",
    "test_jit_request.py::test_transient_faults_converge",
    "test_jit_request.py::test_a_connection_cut_during_initiate_neither_fails_nor_requests_twice",
    "test_jit_request.py::test_reader_gets_a_clear_permission_error",
    "test_jit_rule_facts.py::test_deny_rules_on_every_nsg_of_each_vm_path",
    "test_jit_rule_facts.py::test_every_page_is_read",
    "test_jit_rule_facts.py::test_ansible_facts_are_set",
    "test_jit_rule_facts.py::test_legacy_and_current_names_side_by_side_are_each_classified",
    "test_jit_rule_facts.py::test_an_older_subscription_moving_to_todays_names_reads_right",
    "test_jit_rule_facts.py::test_a_credential_that_cannot_read_nsgs_is_not_green",
    "test_jit_vm_info.py::test_every_demo_vm_in_its_bucket_with_its_reason",
    "test_jit_diagnose.py::test_healthy_grants_and_broken_requests",
    "test_jit_diagnose.py::test_activity_log_names_a_refused_request",
    "test_role_access.py::",
    "test_role_report.py::test_report_files_numbers_and_fail_on",
    "test_team_safety.py::test_vm_names_alone_are_accepted",
)


# Tests that share a module-scoped run: make integration (-n 2 --dist loadscope) sends each group to one
# worker, every other test goes alone to whichever worker is free. Spread over two workers, each would run
# the group's fixture (test_bad_input's 80-task playbook) again. xdist's own --dist loadgroup cannot be
# used: on pytest 9.2 it no longer tags the node ids it groups by, so every test went alone.
SHARED_RUN_GROUPS = (
    "test_bad_input.py::test_module_case_fails_naming_the_field_and_the_fix",
    "test_bad_input.py::test_no_case_wrote_anything",
)


def _name(nodeid: str) -> str:
    """A node id as OLDEST_TESTS and SHARED_RUN_GROUPS write it: relative to tests/integration."""
    return nodeid.split("tests/integration/", 1)[-1]


def _names(entry: str, name: str) -> bool:
    """Whether an entry names the test: ``file.py::`` every test of the file, else one test (any parameters)."""
    if entry.endswith("::"):
        return name.startswith(entry)
    return name == entry or name.startswith(entry + "[")


def _scope(nodeid: str) -> str:
    """The unit of work of a node id: its file for a SHARED_RUN_GROUPS test, else the test itself."""
    if any(_names(entry, _name(nodeid)) for entry in SHARED_RUN_GROUPS):
        return nodeid.split("::", 1)[0]
    return nodeid


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class _SharedRunScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return _scope(nodeid)

    return _SharedRunScheduling(config, log)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "oldest: also run on the oldest supported versions (make integration-oldest)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    names = [_name(item.nodeid) for item in items]
    for item, name in zip(items, names, strict=True):
        if any(_names(entry, name) for entry in OLDEST_TESTS):
            item.add_marker(pytest.mark.oldest)
    # Only when the whole suite is collected: a renamed test must not silently drop out of the oldest run.
    if len({item.nodeid.split("::", 1)[0] for item in items}) > 10:
        unused = [e for e in (*OLDEST_TESTS, *SHARED_RUN_GROUPS) if not any(_names(e, n) for n in names)]
        if unused:
            raise pytest.UsageError(f"OLDEST_TESTS or SHARED_RUN_GROUPS names no collected test: {unused}")


@pytest.fixture(scope="session")
def emulator_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    state = tmp_path_factory.mktemp("emulator") / "state.sqlite"
    proc = EmulatorProcess(state=str(state))
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def emu(emulator_process: EmulatorProcess) -> EmulatorProcess:
    """The emulator reset to the demo world, with an empty request log."""
    emulator_process.reset("demo")
    emulator_process.clear_requests()
    return emulator_process


@pytest.fixture
def owner_env(emu: EmulatorProcess) -> dict[str, str]:
    return awx_env(emu.info, *OWNER)


@pytest.fixture
def reader_env(emu: EmulatorProcess) -> dict[str, str]:
    return awx_env(emu.info, *READER)


@pytest.fixture
def requester_env(emu: EmulatorProcess) -> dict[str, str]:
    return awx_env(emu.info, *REQUESTER)
