"""Resource providers: each registers its routes on the emulator's registry."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import authorization, compute, insights, network, network_watcher, resources, security

if TYPE_CHECKING:
    from ..server import Emulator


def register_all(emulator: Emulator) -> None:
    for provider in (resources, authorization, network, compute, security, network_watcher, insights):
        provider.register(emulator)
