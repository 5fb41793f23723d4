"""Integration tests: real ansible-playbook runs against jit-emulator, with AWX-style credentials."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.ansible import awx_env
from support.emulator import EmulatorProcess

OWNER = ("0a1e5c37-0000-4000-8000-00000000a001", "demo-owner-secret")
REQUESTER = ("0a1e5c37-0000-4000-8000-00000000a002", "demo-requester-secret")
READER = ("0a1e5c37-0000-4000-8000-00000000a003", "demo-reader-secret")


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
