"""Microsoft.Compute and Microsoft.ClassicCompute virtual machines, as plain ARM calls through the SDK pipeline."""

from __future__ import annotations

from typing import Any

from conftest import COMPUTE_API, Env, error_of

CLASSIC_API = "2017-04-01"


def nic_id(env: Env, rg: str, name: str) -> str:
    return f"{env.rg_id(rg)}/providers/Microsoft.Network/networkInterfaces/{name}"


def vm_body(*nics: str, os_type: str = "Linux", **extra: Any) -> dict[str, Any]:
    return {
        "location": "westeurope",
        "properties": {
            "hardwareProfile": {"vmSize": "Standard_B2s"},
            "storageProfile": {"osDisk": {"osType": os_type}},
            "networkProfile": {"networkInterfaces": [{"id": n} for n in nics]},
            **extra,
        },
    }


def free_nic(env: Env, name: str) -> str:
    subnet = f"{env.rg_id('rg-app')}/providers/Microsoft.Network/virtualNetworks/vnet-app/subnets/snet-app"
    body = {
        "location": "westeurope",
        "properties": {"ipConfigurations": [{"name": "c", "properties": {"subnet": {"id": subnet}}}]},
    }
    nic = nic_id(env, "rg-app", name)
    assert env.arm("PUT", nic, "2024-05-01", body).status_code == 201
    return nic


def test_vm_put_get_list(env: Env) -> None:
    nic = free_nic(env, "nic-new")
    vm = env.vm_id("rg-app", "vm-new")
    created = env.arm("PUT", vm, COMPUTE_API, vm_body(nic, os_type="windows"))
    assert created.status_code == 201
    body = created.json()
    assert (body["id"], body["name"], body["type"], body["location"]) == (
        vm,
        "vm-new",
        "Microsoft.Compute/virtualMachines",
        "westeurope",
    )
    props = body["properties"]
    assert props["provisioningState"] == "Succeeded"
    assert props["storageProfile"]["osDisk"]["osType"] == "Windows"
    assert props["networkProfile"]["networkInterfaces"] == [{"id": nic, "properties": {"primary": True}}]
    assert props["vmId"]
    updated = env.arm("PUT", vm, COMPUTE_API, vm_body(nic))
    assert updated.status_code == 200
    assert updated.json()["properties"]["vmId"] == props["vmId"]
    assert env.arm("GET", vm, COMPUTE_API).json()["properties"]["storageProfile"]["osDisk"]["osType"] == "Linux"
    in_rg = env.arm_list(f"{env.rg_id('rg-app')}/providers/Microsoft.Compute/virtualMachines", COMPUTE_API)
    assert [v["name"] for v in in_rg] == [
        "vm-web-01",
        "vm-win-01",
        "vm-both-01",
        "vm-ssh-open",
        "vm-nonsg-01",
        "vm-new",
    ]
    everywhere = env.arm_list(f"/subscriptions/{env.sub}/providers/Microsoft.Compute/virtualMachines", COMPUTE_API)
    assert sorted(v["name"] for v in everywhere) == sorted(
        [
            "vm-web-01",
            "vm-win-01",
            "vm-both-01",
            "vm-ssh-open",
            "vm-nonsg-01",
            "vm-fw-01",
            "vm-db-01",
            "vm-fwpol-01",
            "vm-north-01",
            "vm-new",
        ]
    )


def test_vm_nic_rules(env: Env) -> None:
    vm = env.vm_id("rg-app", "vm-x")
    taken = env.arm("PUT", vm, COMPUTE_API, vm_body(nic_id(env, "rg-app", "nic-web-01")))
    assert taken.status_code == 409
    assert error_of(taken)["code"] == "NicInUse"
    missing = env.arm("PUT", vm, COMPUTE_API, vm_body(nic_id(env, "rg-app", "nic-none")))
    assert (missing.status_code, error_of(missing)["code"]) == (400, "NotFound")
    none = env.arm("PUT", vm, COMPUTE_API, vm_body())
    assert (none.status_code, error_of(none)["code"]) == (400, "InvalidParameter")
    os_type = env.arm("PUT", vm, COMPUTE_API, vm_body(free_nic(env, "nic-x"), os_type="Plan9"))
    assert (os_type.status_code, error_of(os_type)["code"]) == (400, "InvalidParameter")


def test_multi_nic_vm_marks_the_first_primary(env: Env) -> None:
    first, second = free_nic(env, "nic-1"), free_nic(env, "nic-2")
    body = env.arm("PUT", env.vm_id("rg-app", "vm-2nic"), COMPUTE_API, vm_body(first, second)).json()
    assert [n["properties"]["primary"] for n in body["properties"]["networkProfile"]["networkInterfaces"]] == [
        True,
        False,
    ]


def test_vm_delete_and_404(env: Env) -> None:
    vm = env.vm_id("rg-app", "vm-nonsg-01")
    assert env.arm("DELETE", vm, COMPUTE_API).status_code == 200
    gone = env.arm("GET", vm, COMPUTE_API)
    assert gone.status_code == 404
    assert error_of(gone) == {
        "code": "ResourceNotFound",
        "message": "The Resource 'Microsoft.Compute/virtualMachines/vm-nonsg-01' under resource group 'rg-app' was not"
        " found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    }
    assert env.arm("DELETE", vm, COMPUTE_API).status_code == 204


def test_classic_vm_put_get(env: Env) -> None:
    vm = f"{env.rg_id('rg-app')}/providers/Microsoft.ClassicCompute/virtualMachines/classic-new"
    created = env.arm(
        "PUT", vm, CLASSIC_API, {"location": "westeurope", "properties": {"hardwareProfile": {"size": "Small"}}}
    )
    assert created.status_code == 200
    body = env.arm("GET", vm, CLASSIC_API).json()
    assert body["type"] == "Microsoft.ClassicCompute/virtualMachines"
    assert body["properties"]["hardwareProfile"] == {"size": "Small"}
    demo = env.arm(
        "GET", f"{env.rg_id('rg-app')}/providers/Microsoft.ClassicCompute/virtualMachines/classic-vm-01", CLASSIC_API
    )
    assert demo.status_code == 200 and demo.json()["name"] == "classic-vm-01"
