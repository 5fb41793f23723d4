# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The jit_policy manager: desired state, plan and diff first, then at most one write per policy.

Private API of azsecops.jit. The manager works through the module base (`_AzureJitModule`) so unit
tests can hand it a fake; all JIT logic is in `_jit_model`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ._errors import _is_denied
from ._jit_model import (
    _PORTAL_DEFAULT_PORTS,
    _check_policy_name,
    _check_resource_group,
    _JitValueError,
    _plan_policy,
    _policy_body,
    _PolicyPlan,
    _ports_from_params,
    _snake,
    _vm_key,
    _VmEntry,
)
from ._locks import _LockTimeout, _policy_lock

_POLICY_TYPE = "Microsoft.Security/locations/jitNetworkAccessPolicies"
_MAX_ATTEMPTS = 4


class _PolicyManager:
    def __init__(self, module: Any) -> None:
        self.module = module
        self.params = module.params
        self.warnings: list[str] = []

    # -- input -------------------------------------------------------------------------------------------
    def _desired(self, subscription_id: str) -> list[_VmEntry]:
        """Every VM entry, validated and normalised before any call."""
        p = self.params
        present = p["state"] == "present"
        # Without ports anywhere, the portal's defaults: SSH, RDP and WinRM, any protocol and source, 3 hours.
        default_ports = p.get("ports") or [{"number": n} for n in _PORTAL_DEFAULT_PORTS]
        entries = []
        for index, raw in enumerate(p.get("virtual_machines") or []):
            item = dict(raw)
            if present and item.get("ports") is None:
                item["ports"] = default_ports
            entries.append(
                _VmEntry.from_params(
                    item,
                    f"virtual_machines[{index}]",
                    subscription_id=subscription_id,
                    resource_group=p["resource_group"],
                    require_ports=present,
                    policy_name=p["name"],
                )
            )
        if present and not entries and not p["purge_virtual_machines"]:
            raise _JitValueError("virtual_machines", "lists no VM; with state present list at least one VM")
        return entries

    def _validate(self) -> None:
        p = self.params
        _check_resource_group(p["resource_group"], "resource_group")
        _check_policy_name(p["name"], "name")
        if p.get("ports") is not None:
            _ports_from_params(p["ports"], "ports")

    # -- Azure reads -------------------------------------------------------------------------------------
    def _find_policy(self) -> dict[str, Any] | None:
        """The policy named `name` in the resource group, wherever its location (one list call)."""
        p = self.params
        clients = self.module.clients
        try:
            policies = clients.list_policies(p["resource_group"])
        except Exception as exc:
            self.module.fail_azure(exc, f"list the JIT policies of resource group {p['resource_group']}")
        named = [x for x in policies if str(x.get("name", "")).lower() == p["name"].lower()]
        if p.get("location"):
            named = [x for x in named if str(x.get("location", "")).lower() == p["location"].lower()]
        if len(named) > 1:
            where = ", ".join(sorted(str(x.get("location")) for x in named))
            self.module.fail(
                f"resource group {p['resource_group']} has JIT policies named {p['name']} in several locations "
                f"({where}); set location to choose one"
            )
        return named[0] if named else None

    def _location(self, existing: dict[str, Any] | None) -> str:
        if existing is not None:
            return str(existing.get("location") or _location_from_id(existing["id"]))
        if self.params.get("location"):
            return str(self.params["location"])
        try:
            return self.module.clients.asc_location()
        except Exception as exc:
            self.module.fail_azure(
                exc, "find the subscription's Defender for Cloud location (set location to skip this)"
            )

    def _lookup_vms(self, entries: list[_VmEntry]) -> dict[str, dict[str, Any]]:
        """The listed VMs as Azure has them, one list call per resource group (not one GET per VM)."""
        by_rg: dict[str, list[_VmEntry]] = defaultdict(list)
        for entry in entries:
            by_rg[entry.id.split("/")[4].lower()].append(entry)
        found: dict[str, dict[str, Any]] = {}
        for wanted in by_rg.values():
            rg_name = wanted[0].id.split("/")[4]
            try:
                vms = self.module.clients.list_vms(rg_name)
            except Exception as exc:
                if not _is_denied(exc):
                    self.module.fail_azure(exc, f"list the virtual machines of resource group {rg_name}")
                # Security Admin, a documented JIT role, cannot read VMs: write with the ids as given and let
                # Azure check them, rather than refuse a principal that may configure JIT.
                self.warnings.append(
                    f"cannot read the virtual machines of resource group {rg_name} (no "
                    "Microsoft.Compute/virtualMachines/read, which Security Admin lacks), so "
                    f"{', '.join(sorted(e.name for e in wanted))} were not checked before writing; Azure checks "
                    "them on write. Add Reader on the resource group to have them checked first"
                )
                continue
            index = {_vm_key(vm["id"]): vm for vm in vms}
            missing = [e.name for e in wanted if e.key not in index]
            if missing:
                self.module.fail(
                    f"virtual machine(s) {', '.join(sorted(missing))} not found in resource group {rg_name}"
                    " (nothing was changed); check the names, or give the VM's full id"
                )
            for entry in wanted:
                found[entry.key] = index[entry.key]
        return found

    # -- the run ----------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        p = self.params
        try:
            self._validate()
            subscription = self.module.clients.subscription_id
            desired = self._desired(subscription)
        except _JitValueError as exc:
            self.module.fail(f"{exc.field}: {exc.message}" if exc.field else exc.message)
        lock_key = f"/subscriptions/{subscription}/resourceGroups/{p['resource_group']}/jit/{p['name']}"
        try:
            with _policy_lock(lock_key, p["lock_timeout"]):
                return self._converge(desired)
        except _LockTimeout as exc:
            self.module.fail(f"{exc}; raise lock_timeout or run fewer concurrent tasks on this policy")

    def _converge(self, desired: list[_VmEntry]) -> dict[str, Any]:
        p = self.params
        for attempt in range(1, _MAX_ATTEMPTS + 1):
            existing = self._find_policy()
            location = self._location(existing)
            existing_vms = existing["properties"].get("virtualMachines", []) if existing else None
            try:
                plan = _plan_policy(
                    existing_vms,
                    desired,
                    state=p["state"],
                    purge=p["purge_virtual_machines"],
                    existing_kind=(existing or {}).get("kind"),
                )
            except _JitValueError as exc:
                self.module.fail(f"{exc.field}: {exc.message}")
            if plan.changed and p["state"] == "present":
                self._check_new_vms(plan, existing_vms or [], desired, location)
            result = self._result(plan, existing, location)
            if not plan.changed or self.module.check_mode:
                return result
            written = self._write(plan, existing, location)
            if self._verified(desired, location):
                result["policy"] = _snake(written) if written else {}
                result["attempts"] = attempt
                return result
            self.warnings.append(
                f"the policy changed under us (another writer?); retrying the read-modify-write ({attempt})"
            )
        self.module.fail(
            f"the JIT policy {p['name']} kept changing while this task wrote it ({_MAX_ATTEMPTS} attempts); "
            "another tool is rewriting it: run the tasks one after another"
        )

    def _check_new_vms(
        self, plan: _PolicyPlan, existing_vms: list[dict[str, Any]], desired: list[_VmEntry], location: str
    ) -> None:
        """Look up (in bulk) only the VMs this run adds or changes, and take Azure's id casing."""
        before = {_vm_key(str(v.get("id", ""))): v for v in existing_vms}
        unchanged = {key for key, v in ((_vm_key(str(w.get("id", ""))), w) for w in plan.vms) if before.get(key) == v}
        touched = [e for e in desired if e.key not in unchanged]
        if not touched:
            return
        found = self._lookup_vms(touched)
        for wire in plan.vms:
            vm = found.get(_vm_key(str(wire.get("id", ""))))
            if vm is not None:
                wire["id"] = vm["id"]
                vm_location = str(vm.get("location", "")).replace(" ", "").lower()
                if vm_location and vm_location != location.replace(" ", "").lower():
                    self.warnings.append(
                        f"VM {vm['name']} is in {vm_location} but the policy is in {location}; the portal keeps "
                        "one policy per VM region: set location if Azure rejects the policy"
                    )

    def _write(self, plan: _PolicyPlan, existing: dict[str, Any] | None, location: str) -> dict[str, Any] | None:
        p = self.params
        clients = self.module.clients
        if plan.delete_policy or (existing is not None and not plan.vms):
            try:
                clients.delete_policy(p["resource_group"], location, existing["name"] if existing else p["name"])
            except Exception as exc:
                self.module.fail_azure(exc, f"delete the JIT policy {p['name']}")
            return None
        requests = existing["properties"].get("requests") if existing else None
        body = _policy_body(plan.vms, kind=plan.kind, requests=requests)
        try:
            return clients.put_policy(p["resource_group"], location, existing["name"] if existing else p["name"], body)
        except Exception as exc:
            self.module.fail_azure(exc, f"write the JIT policy {p['name']} (nothing else was changed)")

    def _verified(self, desired: list[_VmEntry], location: str) -> bool:
        """Re-read the policy: every VM this task manages must be as planned (lost updates show here)."""
        p = self.params
        current = self._find_policy()
        vms = {
            _vm_key(str(v.get("id", ""))): v for v in (current or {}).get("properties", {}).get("virtualMachines", [])
        }
        for entry in desired:
            held = vms.get(entry.key)
            if p["state"] == "absent":
                if held is not None:
                    return False
                continue
            if held is None:
                return False
            try:
                if _VmEntry.from_wire(held) != entry:
                    return False
            except _JitValueError:
                return False
        return True

    def _result(self, plan: _PolicyPlan, existing: dict[str, Any] | None, location: str) -> dict[str, Any]:
        p = self.params
        result: dict[str, Any] = {"changed": plan.changed, "actions": plan.actions, "location": location}
        if plan.changed:
            predicted = _predicted_policy(plan, existing, self.module.clients.subscription_id, p, location)
            result["policy"] = _snake(predicted) if predicted else {}
        else:
            result["policy"] = _snake(existing) if existing else {}
        if self.module.diff_mode:
            result["diff"] = {"before": plan.before, "after": plan.after}
        return result


def _location_from_id(policy_id: str) -> str:
    parts = policy_id.split("/")
    lowered = [x.lower() for x in parts]
    return parts[lowered.index("locations") + 1] if "locations" in lowered else ""


def _predicted_policy(
    plan: _PolicyPlan, existing: dict[str, Any] | None, subscription: str, p: dict[str, Any], location: str
) -> dict[str, Any] | None:
    """What the policy will look like after the write (shown in check mode)."""
    if plan.delete_policy or (existing is not None and not plan.vms):
        return None
    name = existing["name"] if existing else p["name"]
    policy_id = (existing or {}).get("id") or (
        f"/subscriptions/{subscription}/resourceGroups/{p['resource_group']}/providers/Microsoft.Security"
        f"/locations/{location}/jitNetworkAccessPolicies/{name}"
    )
    properties: dict[str, Any] = {"virtualMachines": plan.vms, "provisioningState": "Succeeded"}
    if existing and existing["properties"].get("requests") is not None:
        properties["requests"] = existing["properties"]["requests"]
    return {
        "id": policy_id,
        "name": name,
        "type": _POLICY_TYPE,
        "kind": plan.kind,
        "location": location,
        "properties": properties,
    }
