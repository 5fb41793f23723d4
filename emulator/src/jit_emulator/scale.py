"""Generated worlds for scale tests and benchmarks: many VMs in one resource group, on Defender P2.

Used by `emulator/bench/bench.py` and by the collection's tests and benchmarks (one generator for all).
"""

from __future__ import annotations

from typing import Any

LOC = "westeurope"
SUBNETS = 4


def scale_world(vms: int, subnets: int = SUBNETS, resource_group: str = "rg-scale") -> dict[str, Any]:
    """`vms` Linux VMs, each with a NIC, spread over `subnets` subnets of one VNet, each subnet with its NSG."""
    sub = "/subscriptions/${subscription_id}"
    rg = f"{sub}/resourceGroups/{resource_group}"
    net = f"{rg}/providers/Microsoft.Network"
    resources: list[dict[str, Any]] = [
        {
            "id": f"{sub}/providers/Microsoft.Security/pricings/VirtualMachines",
            "body": {"properties": {"pricingTier": "Standard", "subPlan": "P2"}},
        },
        {"id": rg, "body": {"location": LOC}},
    ]
    resources += [{"id": f"{net}/networkSecurityGroups/nsg-{s}", "body": {"location": LOC}} for s in range(subnets)]
    resources.append(
        {
            "id": f"{net}/virtualNetworks/vnet-scale",
            "body": {
                "location": LOC,
                "properties": {
                    "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                    "subnets": [
                        {
                            "name": f"snet-{s}",
                            "properties": {
                                "addressPrefix": f"10.0.{4 * s}.0/22",
                                "networkSecurityGroup": {"id": f"{net}/networkSecurityGroups/nsg-{s}"},
                            },
                        }
                        for s in range(subnets)
                    ],
                },
            },
        }
    )
    for i in range(vms):
        subnet = f"{net}/virtualNetworks/vnet-scale/subnets/snet-{i % subnets}"
        resources.append(
            {
                "id": f"{net}/networkInterfaces/nic-{i:04d}",
                "body": {
                    "location": LOC,
                    "properties": {
                        "ipConfigurations": [{"name": "ipconfig1", "properties": {"subnet": {"id": subnet}}}]
                    },
                },
            }
        )
        resources.append(
            {
                "id": f"{rg}/providers/Microsoft.Compute/virtualMachines/vm-{i:04d}",
                "body": {
                    "location": LOC,
                    "properties": {
                        "storageProfile": {"osDisk": {"osType": "Linux"}},
                        "networkProfile": {"networkInterfaces": [{"id": f"{net}/networkInterfaces/nic-{i:04d}"}]},
                    },
                },
            }
        )
    return {"resources": resources}
