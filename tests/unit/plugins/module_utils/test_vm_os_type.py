# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of jit_vm_info's os_type: read from the VM body the list call already returns."""

from __future__ import annotations

from typing import Any

import pytest
from ansible_collections.azsecops.jit.plugins.module_utils._vm_info_manager import _os_type


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"properties": {"storageProfile": {"osDisk": {"osType": "Linux"}}}}, "Linux"),
        ({"properties": {"storageProfile": {"osDisk": {"osType": "Windows"}}}}, "Windows"),
        # the OS disk's type wins over the OS profile
        (
            {
                "properties": {
                    "storageProfile": {"osDisk": {"osType": "windows"}},
                    "osProfile": {"linuxConfiguration": {}},
                }
            },
            "Windows",
        ),
        # no osType (an attached specialized disk, an old VM): the OS profile's configuration tells
        ({"properties": {"osProfile": {"windowsConfiguration": {"provisionVMAgent": True}}}}, "Windows"),
        ({"properties": {"osProfile": {"linuxConfiguration": {"disablePasswordAuthentication": True}}}}, "Linux"),
        # classic VMs (Microsoft.ClassicCompute)
        ({"properties": {"storageProfile": {"operatingSystemDisk": {"operatingSystem": "Linux"}}}}, "Linux"),
        # Azure does not say: unknown, never guessed
        ({"properties": {"osProfile": {"computerName": "vm"}}}, None),
        ({"properties": {"storageProfile": {"osDisk": {"osType": "Plan9"}}}}, None),
        ({}, None),
    ],
)
def test_os_type(body: dict[str, Any], expected: str | None) -> None:
    assert _os_type(body) == expected
