"""Generated worlds: many VMs in one resource group (for scale and concurrency tests, and benchmarks)."""

from __future__ import annotations

from typing import Any

SUB = "/subscriptions/${subscription_id}"


def scale_world(
    count: int, rg: str = "rg-scale", per_subnet: int = 200, location: str = "westeurope"
) -> dict[str, Any]:
    """`count` Linux VMs, each with a NIC in one of several subnets; every subnet has an NSG."""
    base = f"{SUB}/resourceGroups/{rg}"
    net = f"{base}/providers/Microsoft.Network"
    subnets = max(1, -(-count // per_subnet))
    resources: list[dict[str, Any]] = [
        {
            "id": f"{SUB}/providers/Microsoft.Security/pricings/VirtualMachines",
            "body": {"properties": {"pricingTier": "Standard", "subPlan": "P2"}},
        },
        {"id": base, "body": {"location": location}},
    ]
    for s in range(subnets):
        resources.append({"id": f"{net}/networkSecurityGroups/nsg-{s}", "body": {"location": location}})
    resources.append(
        {
            "id": f"{net}/virtualNetworks/vnet-scale",
            "body": {
                "location": location,
                "properties": {
                    "addressSpace": {"addressPrefixes": ["10.100.0.0/16"]},
                    "subnets": [
                        {
                            "name": f"snet-{s}",
                            "properties": {
                                "addressPrefix": f"10.100.{s}.0/24",
                                "networkSecurityGroup": {"id": f"{net}/networkSecurityGroups/nsg-{s}"},
                            },
                        }
                        for s in range(subnets)
                    ],
                },
            },
        }
    )
    for i in range(count):
        s = i // per_subnet
        resources.append(
            {
                "id": f"{net}/networkInterfaces/nic-{i:04d}",
                "body": {
                    "location": location,
                    "properties": {
                        "ipConfigurations": [
                            {
                                "name": "ipconfig1",
                                "properties": {"subnet": {"id": f"{net}/virtualNetworks/vnet-scale/subnets/snet-{s}"}},
                            }
                        ]
                    },
                },
            }
        )
        resources.append(
            {
                "id": f"{base}/providers/Microsoft.Compute/virtualMachines/vm-{i:04d}",
                "body": {
                    "location": location,
                    "properties": {
                        "storageProfile": {"osDisk": {"osType": "Linux"}},
                        "networkProfile": {"networkInterfaces": [{"id": f"{net}/networkInterfaces/nic-{i:04d}"}]},
                    },
                },
            }
        )
    return {"resources": resources}
