"""Microsoft.Compute virtual machines (only what JIT needs) and classic VMs, so both can exist."""

from __future__ import annotations

import copy
import uuid
from typing import TYPE_CHECKING, Any

from ..arm import Context
from ..errors import ArmError
from ._generic import Kind, base_body, ref_id, register_kind, require_location

if TYPE_CHECKING:
    from ..server import Emulator

_OS_TYPES = {"linux": "Linux", "windows": "Windows"}


def _prepare_vm(
    ctx: Context, rid: str, name: str, body: dict[str, Any], existing: dict[str, Any] | None
) -> dict[str, Any]:
    location = require_location(body)
    props = body.get("properties") or {}
    network = props.get("networkProfile") or {}
    nics = network.get("networkInterfaces") or []
    if not isinstance(nics, list) or not nics:
        raise ArmError(
            400,
            "InvalidParameter",
            "At least one network interface is required in properties.networkProfile.networkInterfaces.",
            target="networkProfile",
        )
    out_nics = []
    for i, nic in enumerate(nics):
        nic_id = ref_id(nic)
        if nic_id is None:
            raise ArmError(
                400, "InvalidParameter", f"networkInterfaces[{i}].id is required.", target="networkInterfaces"
            )
        nic_body = ctx.tx.get(nic_id)
        if nic_body is None:
            raise ArmError(
                400,
                "NotFound",
                f"Resource {nic_id} referenced by resource {rid} was not found.",
                target="networkInterfaces",
            )
        holders = [v for v in ctx.tx.refs_to(nic_id, "vm-nic") if v.lower() != rid.lower()]
        if holders:
            raise ArmError(
                409,
                "NicInUse",
                f"Network Interface {nic_id} is used by existing resource {holders[0]}.",
                target="networkInterfaces",
            )
        primary = (nic.get("properties") or {}).get("primary", i == 0)
        out_nics.append({"id": nic_body["id"], "properties": {"primary": bool(primary)}})
    storage = props.get("storageProfile") or {}
    os_disk = storage.get("osDisk") or {}
    os_type = _OS_TYPES.get(str(os_disk.get("osType", "Linux")).lower())
    if os_type is None:
        raise ArmError(
            400,
            "InvalidParameter",
            f"osType '{os_disk.get('osType')}' is invalid; use Linux or Windows.",
            target="osType",
        )
    old = (existing or {}).get("properties", {})
    out = base_body(rid, name, "Microsoft.Compute/virtualMachines", body, location)
    out["properties"] = {
        "vmId": old.get("vmId", str(uuid.uuid4())),
        "hardwareProfile": {"vmSize": (props.get("hardwareProfile") or {}).get("vmSize", "Standard_B2s")},
        "storageProfile": {
            "osDisk": {
                "osType": os_type,
                "name": os_disk.get("name", f"{name}_OsDisk_1"),
                "createOption": os_disk.get("createOption", "FromImage"),
                "caching": os_disk.get("caching", "ReadWrite"),
                "deleteOption": os_disk.get("deleteOption", "Delete"),
            },
        },
        "osProfile": copy.deepcopy(props.get("osProfile") or {"computerName": name[:15]}),
        "networkProfile": {"networkInterfaces": out_nics},
        "provisioningState": "Succeeded",
        "timeCreated": old.get("timeCreated", ctx.now.isoformat().replace("+00:00", "Z")),
    }
    if isinstance(storage.get("imageReference"), dict):
        out["properties"]["storageProfile"]["imageReference"] = storage["imageReference"]
    if isinstance(body.get("zones"), list):
        out["zones"] = body["zones"]
    return out


def _vm_refs(ctx: Context, body: dict[str, Any]) -> None:
    ctx.tx.set_refs(
        body["id"], [(n["id"], "vm-nic", body["id"]) for n in body["properties"]["networkProfile"]["networkInterfaces"]]
    )


def _prepare_classic(
    ctx: Context, rid: str, name: str, body: dict[str, Any], existing: dict[str, Any] | None
) -> dict[str, Any]:
    location = require_location(body)
    out = base_body(rid, name, "Microsoft.ClassicCompute/virtualMachines", body, location)
    props = copy.deepcopy(body.get("properties") or {})
    props.setdefault("provisioningState", "Succeeded")
    props.setdefault("instanceView", {"status": "ReadyRole", "powerState": "Started"})
    out["properties"] = props
    return out


VM_KIND = Kind(
    "Microsoft.Compute",
    "virtualMachines",
    _prepare_vm,
    after_put=_vm_refs,
    name_rule="1-64 characters: letters, digits, '_', '.', '-'",
)
CLASSIC_KIND = Kind("Microsoft.ClassicCompute", "virtualMachines", _prepare_classic, create_status=200)


def register(emulator: Emulator) -> None:
    register_kind(emulator.registry, VM_KIND)
    register_kind(emulator.registry, CLASSIC_KIND)
