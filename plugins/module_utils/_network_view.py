# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The network path of VMs (NIC, private and public IP, NIC and subnet NSGs, Azure Firewall), read in bulk.

Private API of azsecops.jit. Everything is read with list calls per resource group (VMs, NICs,
virtual networks, NSGs, public IPs, firewalls), so the cost grows with the resource groups
involved, never with the number of VMs. Bodies are kept as ARM wire JSON (camelCase), the shape
`_nsg` works on. A read the principal may not do is recorded in `denied`, not raised: the
least-privilege JIT requester cannot read NSGs, and callers degrade instead of failing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

from ._arm_id import _arm_key, _rg_of
from ._errors import _azure_errors, _is_denied


@dataclasses.dataclass
class _VmNetwork:
    """Where one VM sits on the network, as far as the principal may see."""

    vm_id: str
    name: str
    location: str = ""
    os_type: str = ""
    nic_id: str | None = None
    private_ip: str | None = None
    public_ip: str | None = None
    subnet_id: str | None = None
    nsg_ids: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (scope "nic"|"subnet", id)
    firewall_id: str | None = None
    firewall_public_ip: str | None = None
    firewall_managed: bool = False
    complete: bool = True  # False when a read was denied and the NSG list may be partial


def _ref(value: Any) -> str | None:
    if isinstance(value, dict) and isinstance(value.get("id"), str) and value["id"]:
        return value["id"]
    return None


def _wire(model: Any) -> dict[str, Any]:
    """An SDK model as ARM wire JSON, for both the msrest and the newer hybrid network models."""
    if isinstance(model, dict):
        return model
    serialize = getattr(model, "serialize", None)
    if callable(serialize):
        return serialize(keep_readonly=True)
    return model.as_dict()


class _NetworkView:
    """Bulk reads of the resources around a set of VMs; one list call per (type, resource group)."""

    def __init__(self, clients: Any) -> None:
        self.clients = clients
        self.vms: dict[str, dict[str, Any]] = {}
        self.nics: dict[str, dict[str, Any]] = {}
        self.vnets: dict[str, dict[str, Any]] = {}
        self.subnets: dict[str, dict[str, Any]] = {}
        self.nsgs: dict[str, dict[str, Any]] = {}
        self.public_ips: dict[str, dict[str, Any]] = {}
        self.firewalls: dict[str, dict[str, Any]] = {}
        self.denied: dict[str, str] = {}  # "<type> in <rg>" -> Azure's message
        self._loaded: set[tuple[str, str]] = set()

    # -- bulk loaders --------------------------------------------------------------------------------------
    def _load(self, kind: str, rg: str, fetch: Callable[[str], Iterable[Any]], into: dict[str, dict[str, Any]]) -> bool:
        marker = (kind, rg.lower())
        if marker in self._loaded:
            return f"{kind} in {rg.lower()}" not in self.denied
        self._loaded.add(marker)
        try:
            for item in fetch(rg):
                body = _wire(item)
                into[_arm_key(body.get("id"))] = body
        except _azure_errors() as exc:
            if not _is_denied(exc):
                raise
            self.denied[f"{kind} in {rg.lower()}"] = str(getattr(getattr(exc, "error", None), "message", exc))
            return False
        return True

    def _lister(self, kind: str) -> Callable[[str], Iterable[Any]]:
        """The list of one Microsoft.Network resource type in a resource group (a plain ARM GET)."""
        return lambda resource_group: self.clients.list_network(kind, resource_group)

    def load_vms(self, resource_group: str) -> bool:
        return self._load("virtual machines", resource_group, self.clients.list_vms, self.vms)

    def load_nics(self, resource_group: str) -> bool:
        return self._load("network interfaces", resource_group, self._lister("networkInterfaces"), self.nics)

    def load_vnets(self, resource_group: str) -> bool:
        ok = self._load("virtual networks", resource_group, self._lister("virtualNetworks"), self.vnets)
        for vnet in list(self.vnets.values()):
            for subnet in (vnet.get("properties") or {}).get("subnets") or []:
                self.subnets[_arm_key(subnet.get("id"))] = subnet
        return ok

    def load_nsgs(self, resource_group: str) -> bool:
        return self._load("network security groups", resource_group, self._lister("networkSecurityGroups"), self.nsgs)

    def load_public_ips(self, resource_group: str) -> bool:
        return self._load("public IP addresses", resource_group, self._lister("publicIPAddresses"), self.public_ips)

    def load_firewalls(self, resource_group: str) -> bool:
        return self._load("Azure Firewalls", resource_group, self._lister("azureFirewalls"), self.firewalls)

    # -- the paths ---------------------------------------------------------------------------------------------
    def resolve(self, vm_ids: Iterable[str], *, with_nsgs: bool = True) -> dict[str, _VmNetwork]:
        """The network path of each VM (keyed by lower-cased id). VMs Azure does not know are left out."""
        ids = list(vm_ids)
        for rg in sorted({_rg_of(v) for v in ids}):
            self.load_vms(rg)
        for vm in (self.vms.get(_arm_key(v)) for v in ids):
            for nic in _nic_refs(vm):
                self.load_nics(_rg_of(nic))
        paths: dict[str, _VmNetwork] = {}
        for vm_id in ids:
            vm = self.vms.get(_arm_key(vm_id))
            if vm is None:
                continue
            paths[_arm_key(vm_id)] = self._path(vm, with_nsgs=with_nsgs)
        return paths

    def _path(self, vm: dict[str, Any], *, with_nsgs: bool) -> _VmNetwork:
        props = vm.get("properties") or {}
        os_disk = ((props.get("storageProfile") or {}).get("osDisk")) or {}
        path = _VmNetwork(
            vm_id=vm["id"],
            name=vm.get("name") or vm["id"].rsplit("/", 1)[-1],
            location=str(vm.get("location") or ""),
            os_type=str(os_disk.get("osType") or ""),
        )
        nic_ids = _nic_refs(vm)
        if not nic_ids:
            return path
        path.nic_id = nic_ids[0]
        nic = self.nics.get(_arm_key(path.nic_id))
        if nic is None:
            path.complete = False
            return path
        nic_props = nic.get("properties") or {}
        configs = nic_props.get("ipConfigurations") or []
        config = next(
            (c for c in configs if (c.get("properties") or {}).get("primary")), configs[0] if configs else None
        )
        cprops = (config or {}).get("properties") or {}
        path.private_ip = cprops.get("privateIPAddress")
        path.subnet_id = _ref(cprops.get("subnet"))
        pip_id = _ref(cprops.get("publicIPAddress"))
        if pip_id and self.load_public_ips(_rg_of(pip_id)):
            pip = self.public_ips.get(_arm_key(pip_id)) or {}
            path.public_ip = (pip.get("properties") or {}).get("ipAddress")
        if not with_nsgs:
            return path
        nic_nsg = _ref(nic_props.get("networkSecurityGroup"))
        if nic_nsg:
            path.nsg_ids.append(("nic", nic_nsg))
        if path.subnet_id:
            vnet_id = path.subnet_id.rsplit("/subnets/", 1)[0]
            if self.load_vnets(_rg_of(vnet_id)):
                subnet = self.subnets.get(_arm_key(path.subnet_id)) or {}
                subnet_nsg = _ref((subnet.get("properties") or {}).get("networkSecurityGroup"))
                if subnet_nsg and _arm_key(subnet_nsg) != _arm_key(nic_nsg):
                    path.nsg_ids.append(("subnet", subnet_nsg))
                self._firewall(path, vnet_id)
            else:
                path.complete = False
        for _scope, nsg_id in path.nsg_ids:
            if not self.load_nsgs(_rg_of(nsg_id)):
                path.complete = False
        return path

    def _firewall(self, path: _VmNetwork, vnet_id: str) -> None:
        """An Azure Firewall in the VM's virtual network (its AzureFirewallSubnet) protects the VM."""
        vnet = self.vnets.get(_arm_key(vnet_id)) or {}
        fw_subnet = next(
            (s for s in (vnet.get("properties") or {}).get("subnets") or [] if s.get("name") == "AzureFirewallSubnet"),
            None,
        )
        if fw_subnet is None or not self.load_firewalls(_rg_of(vnet_id)):
            return
        for firewall in self.firewalls.values():
            for cfg in (firewall.get("properties") or {}).get("ipConfigurations") or []:
                if _arm_key(_ref((cfg.get("properties") or {}).get("subnet"))) == _arm_key(fw_subnet.get("id")):
                    path.firewall_id = firewall["id"]
                    path.firewall_managed = bool(_ref((firewall.get("properties") or {}).get("firewallPolicy")))
                    pip_id = _ref((cfg.get("properties") or {}).get("publicIPAddress"))
                    if pip_id and self.load_public_ips(_rg_of(pip_id)):
                        pip = self.public_ips.get(_arm_key(pip_id)) or {}
                        path.firewall_public_ip = (pip.get("properties") or {}).get("ipAddress")
                    return

    def nsg(self, nsg_id: str) -> dict[str, Any] | None:
        return self.nsgs.get(_arm_key(nsg_id))

    def firewall(self, firewall_id: str) -> dict[str, Any] | None:
        return self.firewalls.get(_arm_key(firewall_id))

    def refresh(self) -> None:
        """Forget the NSGs and firewalls read so far (for polling)."""
        self.nsgs.clear()
        self.firewalls.clear()
        self._loaded = {m for m in self._loaded if m[0] not in ("network security groups", "Azure Firewalls")}


def _nic_refs(vm: dict[str, Any] | None) -> list[str]:
    if not vm:
        return []
    nics = ((vm.get("properties") or {}).get("networkProfile") or {}).get("networkInterfaces") or []
    primary = [n for n in nics if ((n.get("properties") or {}).get("primary"))]
    ordered = primary + [n for n in nics if n not in primary]
    return [n["id"] for n in ordered if isinstance(n, dict) and n.get("id")]
