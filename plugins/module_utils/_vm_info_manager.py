# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The jit_vm_info manager: every selected VM in the portal's JIT buckets, with its exposure and rule health.

Private API of azsecops.jit. The inventory (`_Inventory`) reads in bulk: the subscription's JIT policies
(one list), the Defender for Servers pricing (one GET), classic VMs and the network (one list per resource
type and resource group, or per resource type for the whole subscription), so calls grow with resource
groups, never with VMs. The judgement per VM (`_classify`, `_exposure`, `_deny_rule_gaps`) is pure.

Buckets and reasons, as the portal's JIT blade groups VMs (https://learn.microsoft.com/azure/defender-for-cloud/
just-in-time-access-usage): ``configured`` (in a JIT policy), ``not_configured`` (eligible: the
recommendation lists it), ``unsupported`` with the portal's reason: "Missing NSG or Azure Firewall",
"Classic VM", or "Other" (the subscription is not on Defender for Servers Plan 2, the only firewall is
managed by a Firewall Policy, the VM is in a region the policy location does not cover).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._arm_id import _arm_key, _rg_of
from ._errors import _azure_errors, _is_denied
from ._facts_manager import _FactsView, _message
from ._jit_model import _check_resource_group, _JitValueError, _parse_vm_id, _VmEntry
from ._network_view import _VmNetwork
from ._nsg_rules import _nsg_jit_rules, _ports_cover
from ._reachability import _management_ports, _open_to_internet
from ._rule_names import _jit_rule_kind

if TYPE_CHECKING:
    from ._module import _AzureJitModule

_PRICING_API_VERSION = "2024-01-01"
_CLASSIC_API_VERSION = "2017-04-01"

_CONFIGURED = "configured"
_NOT_CONFIGURED = "not_configured"
_UNSUPPORTED = "unsupported"

# reason_code -> the portal's words (its three Unsupported reasons; "Other" carries the detail).
_NO_NSG = "no_nsg_or_firewall"
_CLASSIC = "classic_vm"
_PLAN = "plan_not_p2"
_FIREWALL_POLICY = "firewall_policy"
_REGION = "region"
_PORTAL_WORDS = {
    _NO_NSG: "Missing NSG or Azure Firewall",
    _CLASSIC: "Classic VM",
    _PLAN: "Other",
    _FIREWALL_POLICY: "Other",
    _REGION: "Other",
}


@dataclasses.dataclass
class _VmReport:
    """Everything known about one VM, for jit_vm_info's row and jit_diagnose's checks."""

    vm_id: str
    name: str
    location: str
    tags: dict[str, Any]
    classic: bool = False
    os_type: str | None = None
    network: _VmNetwork | None = None
    policy: dict[str, Any] | None = None
    entry: _VmEntry | None = None
    vnet_prefixes: list[str] = dataclasses.field(default_factory=list)
    subnet_nsg: dict[str, Any] | None = None
    nic_nsg: dict[str, Any] | None = None
    state: str = _NOT_CONFIGURED
    reason_code: str | None = None
    reason: str | None = None

    @property
    def nsgs_in_order(self) -> list[dict[str, Any]]:
        """The NSGs on the inbound path, in evaluation order: subnet, then NIC."""
        return [n for n in (self.subnet_nsg, self.nic_nsg) if n is not None]


@dataclasses.dataclass
class _Plan:
    read: bool
    p2: bool
    described: str  # e.g. "Standard/P2", "Free"


# ---------------------------------------------------------------------------------------------------
# Pure judgement
# ---------------------------------------------------------------------------------------------------


def _plan_from_pricing(pricing: Mapping[str, Any] | None) -> _Plan:
    props = (pricing or {}).get("properties") or {}
    tier = str(props.get("pricingTier") or "Free")
    sub_plan = props.get("subPlan")
    # A Standard plan without subPlan is Plan 2 (the plan before sub-plans existed).
    p2 = tier.lower() == "standard" and str(sub_plan or "P2").upper() == "P2"
    return _Plan(True, p2, tier + (f"/{sub_plan}" if sub_plan else ""))


def _classify(report: _VmReport, plan: _Plan, location: str | None) -> tuple[str, str | None, str | None]:
    """(state, reason_code, reason) as the portal's JIT blade would show the VM."""
    if report.classic:
        return (
            _UNSUPPORTED,
            _CLASSIC,
            ("Classic VM: just-in-time access supports only VMs deployed through Azure Resource Manager"),
        )
    if plan.read and not plan.p2:
        return (
            _UNSUPPORTED,
            _PLAN,
            (
                f"Other: the subscription is not on Microsoft Defender for Servers Plan 2 (pricing VirtualMachines is "
                f"{plan.described}); enable pricingTier Standard with subPlan P2"
            ),
        )
    if report.policy is not None:
        return _CONFIGURED, None, None
    net = report.network
    if net is not None and net.complete and not net.nsg_ids:
        if net.firewall_id and net.firewall_managed:
            return (
                _UNSUPPORTED,
                _FIREWALL_POLICY,
                (
                    f"Other: the VM's only protection is Azure Firewall {_name(net.firewall_id)}, managed by Azure "
                    "Firewall Manager (a Firewall Policy), which JIT does not support; add an NSG to its NIC or "
                    "subnet"
                ),
            )
        if not net.firewall_id:
            return (
                _UNSUPPORTED,
                _NO_NSG,
                (
                    "Missing NSG or Azure Firewall: no network security group on the VM's NIC or subnet and no Azure "
                    "Firewall in its virtual network"
                ),
            )
    if location and report.location and report.location.replace(" ", "").lower() != location.replace(" ", "").lower():
        return (
            _UNSUPPORTED,
            _REGION,
            (
                f"Other: the VM is in region {report.location}; a JIT policy at location {location} does not cover it "
                f"(configure it in a policy at location {report.location})"
            ),
        )
    return _NOT_CONFIGURED, None, None


def _jit_allow_names(nsgs: Sequence[Mapping[str, Any]]) -> list[str]:
    names = []
    for nsg in nsgs:
        for rule in (nsg.get("properties") or {}).get("securityRules") or []:
            if _jit_rule_kind(rule.get("name")) == "allow":
                names.append(str(rule["name"]))
    return names


def _exposure(report: _VmReport, ports: Sequence[int]) -> list[dict[str, Any]]:
    """Management ports open to the whole Internet without JIT, and the rule that opens each."""
    net = report.network
    if net is None or not net.private_ip or not net.complete:
        return []
    nsgs = report.nsgs_in_order
    if not nsgs:
        # No NSG: every port of a VM with a public IP is open (a firewall-only VM is reached through DNAT only).
        if net.public_ip and not net.firewall_id:
            return [{"port": p, "nsg": None, "rule": None} for p in ports]
        return []
    skip = _jit_allow_names(nsgs)
    found = []
    for port in ports:
        rule = _open_to_internet(nsgs, net.private_ip, port, skip=skip)
        if rule is not None:
            found.append({"port": port, "nsg": _name(nsgs[-1].get("id")), "rule": rule})
    return found


def _deny_rule_gaps(report: _VmReport) -> list[dict[str, Any]]:
    """Policy ports without a JIT deny rule for the VM on an NSG of its path (either rule generation)."""
    if report.entry is None or report.network is None:
        return []
    gaps = []
    for nsg in report.nsgs_in_order:
        rules = [r for r in _nsg_jit_rules(nsg) if r.kind == "deny" and r.access.lower() == "deny"]
        for port in report.entry.ports:
            covered = any(
                _ports_cover(r.ports, port.number) and _for_vm(r.vm_name, r.destinations, report) for r in rules
            )
            if not covered:
                gaps.append({"port": port.number, "nsg": _name(nsg.get("id")), "nsg_id": nsg.get("id")})
    return gaps


def _for_vm(vm_name: str | None, destinations: Sequence[str], report: _VmReport) -> bool:
    ip = report.network.private_ip if report.network else None
    if ip and ip in destinations:
        return True
    return bool(vm_name) and str(vm_name).lower() == report.name.lower()


def _name(resource_id: object) -> str | None:
    return str(resource_id).rstrip("/").rsplit("/", 1)[-1] if resource_id else None


def _os_type(vm: Mapping[str, Any]) -> str | None:
    """'Linux', 'Windows' or None (unknown), from the VM body a list call returns.

    ARM VMs carry ``properties.storageProfile.osDisk.osType`` (enum Windows/Linux; OSDisk and OSProfile in
    azure-rest-api-specs specification/compute/resource-manager/Microsoft.Compute/ComputeRP/stable/2024-07-01/);
    without it, whichever of ``osProfile.windowsConfiguration``/``linuxConfiguration`` is set tells. Classic VMs
    carry ``properties.storageProfile.operatingSystemDisk.operatingSystem``.
    """
    props = vm.get("properties") or {}
    storage = props.get("storageProfile") or {}
    found = (storage.get("osDisk") or {}).get("osType") or (storage.get("operatingSystemDisk") or {}).get(
        "operatingSystem"
    )
    if not found:
        os_profile = props.get("osProfile") or {}
        if os_profile.get("windowsConfiguration"):
            found = "Windows"
        elif os_profile.get("linuxConfiguration"):
            found = "Linux"
    return {"linux": "Linux", "windows": "Windows"}.get(str(found or "").lower())


def _tags_match(tags: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    return all(str(tags.get(k)) == str(v) for k, v in wanted.items())


# ---------------------------------------------------------------------------------------------------
# Bulk reads
# ---------------------------------------------------------------------------------------------------


class _Inventory:
    """The VMs of a selection and everything around them, read in bulk."""

    def __init__(self, module: _AzureJitModule, warnings: list[str]) -> None:
        self.module = module
        self.clients = module.clients
        self.warnings = warnings
        self.view = _FactsView(self.clients)
        self.policies: list[dict[str, Any]] = []
        self.plan = _Plan(False, False, "unknown")

    def load(
        self,
        resource_groups: Sequence[str] | None,
        names: Sequence[str] = (),
        ids: Sequence[str] = (),
        tags: Mapping[str, Any] | None = None,
    ) -> list[_VmReport]:
        clients = self.clients
        sub = clients.subscription_id
        if resource_groups is None:
            self.view.load_subscription()
        else:
            for rg in resource_groups:
                self.view.load_vms(rg)
        self._warn_denied()
        reports = self._select(resource_groups, names, ids, tags or {})
        reports += self._classic(resource_groups, names, ids, tags or {})
        self.policies = self._policies()
        self.plan = self._pricing(sub)
        held = _policy_index(self.policies)
        arm = [r for r in reports if not r.classic]
        paths = self.view.resolve([r.vm_id for r in arm])
        for report in arm:
            report.network = paths.get(_arm_key(report.vm_id))
            self._attach_nsgs(report)
            found = held.get(_arm_key(report.vm_id))
            if found is not None:
                report.policy, report.entry = found
        self._warn_denied()
        return reports

    # -- the pieces ------------------------------------------------------------------------------------------
    def _select(
        self, rgs: Sequence[str] | None, names: Sequence[str], ids: Sequence[str], tags: Mapping[str, Any]
    ) -> list[_VmReport]:
        wanted_names = {n.lower() for n in names}
        wanted_ids = {_arm_key(i) for i in ids}
        out = []
        for vm in self.view.vms.values():
            vm_id = str(vm.get("id") or "")
            if rgs is not None and _rg_of(vm_id).lower() not in {r.lower() for r in rgs}:
                continue
            if (wanted_names or wanted_ids) and not (
                str(vm.get("name") or "").lower() in wanted_names or _arm_key(vm_id) in wanted_ids
            ):
                continue
            vm_tags = vm.get("tags") or {}
            if tags and not _tags_match(vm_tags, tags):
                continue
            out.append(
                _VmReport(
                    vm_id=vm_id,
                    name=str(vm.get("name") or _name(vm_id)),
                    location=str(vm.get("location") or ""),
                    tags=dict(vm_tags),
                    os_type=_os_type(vm),
                )
            )
        return out

    def _classic(
        self, rgs: Sequence[str] | None, names: Sequence[str], ids: Sequence[str], tags: Mapping[str, Any]
    ) -> list[_VmReport]:
        """Classic VMs (Microsoft.ClassicCompute): unsupported; a subscription without the provider has none."""
        from azure.core.exceptions import HttpResponseError

        sub = self.clients.subscription_id
        scopes = (
            [f"/subscriptions/{sub}"] if rgs is None else [f"/subscriptions/{sub}/resourceGroups/{rg}" for rg in rgs]
        )
        items: list[dict[str, Any]] = []
        for scope in scopes:
            try:
                items += self.clients.list_json(
                    f"{scope}/providers/Microsoft.ClassicCompute/virtualMachines", _CLASSIC_API_VERSION
                )
            except HttpResponseError as exc:
                if _is_denied(exc):
                    self.warnings.append(f"cannot list classic VMs in {scope}: {_message(exc)}")
                elif exc.status_code not in (400, 404, 409):
                    raise
                # 400/404/409: the provider is not registered (classic VMs were retired): there are none.
        wanted_names = {n.lower() for n in names}
        wanted_ids = {_arm_key(i) for i in ids}
        out = []
        for vm in items:
            vm_id = str(vm.get("id") or "")
            if (wanted_names or wanted_ids) and not (
                str(vm.get("name") or "").lower() in wanted_names or _arm_key(vm_id) in wanted_ids
            ):
                continue
            if tags and not _tags_match(vm.get("tags") or {}, tags):
                continue
            out.append(
                _VmReport(
                    vm_id=vm_id,
                    name=str(vm.get("name") or _name(vm_id)),
                    location=str(vm.get("location") or ""),
                    tags=dict(vm.get("tags") or {}),
                    classic=True,
                    os_type=_os_type(vm),
                )
            )
        return out

    def _policies(self) -> list[dict[str, Any]]:
        from azure.core.exceptions import HttpResponseError

        try:
            return self.clients.list_policies()
        except HttpResponseError as exc:
            if not _is_denied(exc):
                raise
            self.warnings.append(f"cannot read the JIT policies, so no VM shows as configured: {_message(exc)}")
            return []

    def _pricing(self, sub: str) -> _Plan:
        from azure.core.exceptions import HttpResponseError

        try:
            pricing = self.clients.get_json(
                f"/subscriptions/{sub}/providers/Microsoft.Security/pricings/VirtualMachines", _PRICING_API_VERSION
            )
        except HttpResponseError as exc:
            if not _is_denied(exc):
                raise
            self.warnings.append(f"cannot read the Defender for Servers plan of the subscription: {_message(exc)}")
            return _Plan(False, False, "unknown")
        return _plan_from_pricing(pricing)

    def _attach_nsgs(self, report: _VmReport) -> None:
        net = report.network
        if net is None:
            return
        for scope, nsg_id in net.nsg_ids:
            body = self.view.nsg(nsg_id)
            if scope == "nic":
                report.nic_nsg = body
            else:
                report.subnet_nsg = body
        if net.subnet_id:
            vnet = self.view.vnets.get(_arm_key(net.subnet_id.rsplit("/subnets/", 1)[0])) or {}
            space = ((vnet.get("properties") or {}).get("addressSpace") or {}).get("addressPrefixes") or []
            report.vnet_prefixes = [str(p) for p in space]

    def _warn_denied(self) -> None:
        for what, message in self.view.denied.items():
            text = f"cannot read {what}: {message}"
            if text not in self.warnings:
                self.warnings.append(text)


def _policy_index(policies: Sequence[Mapping[str, Any]]) -> dict[str, tuple[dict[str, Any], _VmEntry | None]]:
    """VM key -> (policy, the VM's entry) over every policy of the subscription."""
    held: dict[str, tuple[dict[str, Any], _VmEntry | None]] = {}
    for policy in policies:
        for index, raw in enumerate((policy.get("properties") or {}).get("virtualMachines") or []):
            try:
                entry: _VmEntry | None = _VmEntry.from_wire(raw, f"virtualMachines[{index}]")
            except _JitValueError:
                entry = None
            held.setdefault(_arm_key(str(raw.get("id") or "")), (dict(policy), entry))
    return held


# ---------------------------------------------------------------------------------------------------
# The module's manager
# ---------------------------------------------------------------------------------------------------


def _selection(params: Mapping[str, Any]) -> tuple[list[str] | None, list[str], list[str]]:
    """(resource groups or None for the subscription, VM names, VM ids), validated before any call."""
    rgs = [_check_resource_group(rg, "resource_groups") for rg in params.get("resource_groups") or []]
    names: list[str] = []
    ids: list[str] = []
    for value in params.get("virtual_machines") or []:
        text = str(value).strip()
        if "/" in text:
            _parse_vm_id(text, "virtual_machines")
            ids.append(text)
        else:
            names.append(text)
    if not rgs and ids and not names:
        rgs = sorted({_parse_vm_id(i, "virtual_machines")[1] for i in ids}, key=str.lower)
    return (rgs or None), names, ids


class _VmInfoManager:
    def __init__(self, module: _AzureJitModule) -> None:
        self.module = module
        self.params = module.params
        self.warnings: list[str] = []

    def run(self) -> dict[str, Any]:
        try:
            rgs, names, ids = _selection(self.params)
        except _JitValueError as exc:
            self.module.fail(str(exc))
        inventory = _Inventory(self.module, self.warnings)
        try:
            reports = inventory.load(rgs, names, ids, self.params.get("tags") or {})
        except _azure_errors() as exc:
            self.module.fail_azure(exc, "read the virtual machines and their network")
        location = self.params.get("location")
        rows = [_row(report, inventory.plan, location) for report in reports]
        rows.sort(key=lambda row: (row["resource_group"].lower(), row["name"].lower()))
        found = {r["name"].lower() for r in rows} | {r["id"].lower() for r in rows}
        for wanted in names + ids:
            if wanted.lower() not in found:
                self.warnings.append(f"virtual machine {wanted} was not found in the selection")
        return {"changed": False, "virtual_machines": rows, "summary": _summary(rows)}


def _row(report: _VmReport, plan: _Plan, location: str | None) -> dict[str, Any]:
    state, code, reason = _classify(report, plan, location)
    report.state, report.reason_code, report.reason = state, code, reason
    net = report.network
    extra = [p.number for p in report.entry.ports] if report.entry else []
    ports = _management_ports(extra)
    exposure = [] if report.classic else _exposure(report, ports)
    gaps = _deny_rule_gaps(report) if state == _CONFIGURED else []
    intact: bool | None = None
    if state == _CONFIGURED and net is not None and net.complete:
        intact = not gaps
    policy = None
    if report.policy is not None:
        pid = str(report.policy.get("id") or "")
        policy = {
            "name": report.policy.get("name"),
            "id": pid,
            "location": report.policy.get("location"),
            "resource_group": _rg_of(pid),
            "ports": [p.to_result() for p in report.entry.ports] if report.entry else [],
        }
    firewall = None
    if net is not None and net.firewall_id:
        firewall = {
            "name": _name(net.firewall_id),
            "id": net.firewall_id,
            "public_ip": net.firewall_public_ip,
            "managed_by_policy": net.firewall_managed,
        }
    return {
        "name": report.name,
        "id": report.vm_id,
        "resource_group": _rg_of(report.vm_id),
        "location": report.location,
        "classic": report.classic,
        "os_type": report.os_type,
        "state": state,
        "reason_code": code,
        "reason": reason,
        "portal_reason": _PORTAL_WORDS.get(code) if code else None,
        "policy": policy,
        "private_ip": net.private_ip if net else None,
        "public_ip": net.public_ip if net else None,
        "nsgs": [{"scope": scope, "name": _name(i), "id": i} for scope, i in (net.nsg_ids if net else [])],
        "firewall": firewall,
        "management_ports": ports,
        "exposed_ports": [e["port"] for e in exposure],
        "exposure": exposure,
        "jit_rules_intact": intact,
        "missing_deny_rules": [{"port": g["port"], "nsg": g["nsg"]} for g in gaps],
    }


def _summary(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    by_reason: dict[str, int] = {}
    for row in rows:
        if row["reason_code"]:
            by_reason[row["reason_code"]] = by_reason.get(row["reason_code"], 0) + 1
    return {
        "total": len(rows),
        _CONFIGURED: sum(1 for r in rows if r["state"] == _CONFIGURED),
        _NOT_CONFIGURED: sum(1 for r in rows if r["state"] == _NOT_CONFIGURED),
        _UNSUPPORTED: sum(1 for r in rows if r["state"] == _UNSUPPORTED),
        "unsupported_by_reason": by_reason,
        "exposed": sum(1 for r in rows if r["exposed_ports"]),
        "rules_not_intact": sum(1 for r in rows if r["jit_rules_intact"] is False),
    }
