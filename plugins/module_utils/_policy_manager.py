# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The jit_policy manager: desired state, plan and diff first, then at most one write per policy.

Private API of azsecops.jit. The manager works through the module base (`_AzureJitModule`) so unit
tests can hand it a fake; all JIT logic is in `_jit_model`.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from ._arm_id import _arm_key, _child_of, _format_arm_id, _name_of, _rg_of
from ._deny_rules import _judge_port, _NsgReading, _read_nsg
from ._errors import _azure_errors, _error_fields, _is_denied
from ._jit_model import (
    _PORTAL_DEFAULT_PORTS,
    _check_policy_name,
    _check_resource_group,
    _JitValueError,
    _plan_policy,
    _policy_body,
    _PolicyPlan,
    _ports_from_params,
    _prefixes_from_wire,
    _snake,
    _VmEntry,
)
from ._locks import _LockTimeout, _policy_lock
from ._network_view import _NetworkView

if TYPE_CHECKING:  # only for types: unit tests drive the managers with a small fake module
    from ._module import _AzureJitModule

_POLICY_TYPE = "Microsoft.Security/locations/jitNetworkAccessPolicies"
_MAX_ATTEMPTS = 4
_CLASSIC_API_VERSION = "2017-04-01"
# Answers meaning "this subscription has no classic VMs to show here": 400 (InvalidResourceType or
# NoRegisteredProviderFound: the retired Microsoft.ClassicCompute namespace or its api-version is unknown
# in this cloud), 403 (AuthorizationFailed: the principal may not list them), 404 (the namespace or the
# resource group is not found), 409 (MissingSubscriptionRegistration: the provider is not registered).
# https://learn.microsoft.com/azure/azure-resource-manager/troubleshooting/error-register-resource-provider
_NO_CLASSIC_STATUSES = frozenset({400, 403, 404, 409})


class _PolicyManager:
    def __init__(self, module: _AzureJitModule) -> None:
        self.module = module
        self.params = module.params
        self.warnings: list[str] = []
        # What the concurrency safeguard cost this run (returned as `verification`).
        self._waited = 0.0
        self._window = 0.0
        self._reads = 0
        self._writes = 0
        self._repaired: list[str] = []
        # The entries of listed VMs as first read, so a VM that another writer drops is restored as it was.
        self._kept: dict[str, _VmEntry] = {}
        self._found_vms: dict[str, dict[str, Any]] = {}
        self._rg_vms: dict[str, list[dict[str, Any]] | None] = {}
        self._rg_policies: list[dict[str, Any]] = []
        self._own: set[str] = set()
        self._restore: list[str] | None = None

    # -- input -------------------------------------------------------------------------------------------
    def _desired(self, subscription_id: str) -> list[_Wanted]:
        """Every VM entry, validated and normalised before any call; `ports_given` False (no ports on the VM
        nor on the task) keeps an existing VM's ports: the task did not say which ports it wants."""
        p = self.params
        present = p["state"] == "present"
        if p.get("ports") is not None and not p["ports"]:
            raise _JitValueError(
                "ports",
                "is an empty list; omit it to keep the ports of VMs already in the policy (new VMs get the portal's "
                "defaults 22, 3389, 5985, 5986), or list the ports",
            )
        # Without ports anywhere, new VMs get the portal's defaults: SSH, RDP and WinRM, any source, 3 hours.
        default_ports = p.get("ports") or [{"number": n} for n in _PORTAL_DEFAULT_PORTS]
        entries = []
        for index, raw in enumerate(p.get("virtual_machines") or []):
            item = dict(raw)
            given = item.get("ports") is not None or p.get("ports") is not None
            if present and item.get("ports") is None:
                item["ports"] = default_ports
            entry = _VmEntry.from_params(
                item,
                f"virtual_machines[{index}]",
                subscription_id=subscription_id,
                resource_group=p["resource_group"],
                require_ports=present,
                policy_name=p["name"],
            )
            entries.append(_Wanted(entry, given))
        if p["delete_policy"]:
            if not present and not entries:
                return entries
            raise _JitValueError(
                "delete_policy",
                "deletes the whole policy, so it goes with state: absent and no virtual_machines; to remove some "
                "VMs, list them with state: absent and leave delete_policy out",
            )
        if not entries:
            if not present:
                raise _JitValueError(
                    "virtual_machines",
                    "is empty; with state: absent list the VMs to take out of the policy. An empty list never "
                    "deletes the policy: to delete the whole policy set delete_policy: true",
                )
            if p["purge_virtual_machines"]:
                raise _JitValueError(
                    "virtual_machines",
                    "is empty while purge_virtual_machines is true, which would remove every VM of the policy; "
                    "list the VMs to keep, or delete the policy with state: absent and delete_policy: true",
                )
            raise _JitValueError("virtual_machines", "lists no VM; with state present list at least one VM")
        return entries

    def _validate(self) -> None:
        p = self.params
        _check_resource_group(p["resource_group"], "resource_group")
        _check_policy_name(p["name"], "name")
        if p.get("location") is not None:
            _check_location(p["location"], "location")
        if p.get("ports"):
            _ports_from_params(p["ports"], "ports")
        for name in ("lock_timeout", "settle_time"):
            if p[name] is not None and p[name] < 0:
                raise _JitValueError(name, f"{p[name]} is negative; use 0 or more seconds")

    # -- Azure reads -------------------------------------------------------------------------------------
    def _read(self) -> tuple[dict[str, Any] | None, float]:
        """The policy and the monotonic time just before the read was sent (the start of our window)."""
        started = time.monotonic()
        return self._find_policy(), started

    def _find_policy(self) -> dict[str, Any] | None:
        """The policy named `name` in the resource group, wherever its location (one list call)."""
        p = self.params
        clients = self.module.clients
        self._reads += 1
        try:
            policies = clients.list_policies(p["resource_group"])
        except _azure_errors() as exc:
            self.module.fail_azure(exc, f"list the JIT policies of resource group {p['resource_group']}")
        self._rg_policies = policies
        named = [x for x in policies if str(x.get("name", "")).lower() == p["name"].lower()]
        if p.get("location"):
            named = [x for x in named if _same_location(x.get("location"), p["location"])]
        if len(named) > 1:
            where = ", ".join(sorted(str(x.get("location")) for x in named))
            self.module.fail(
                f"resource group {p['resource_group']} has JIT policies named {p['name']} in several locations "
                f"({where}); set location to choose one"
            )
        return named[0] if named else None

    def _location(self, existing: dict[str, Any] | None) -> str:
        if existing is not None:
            return str(existing.get("location") or _child_of(existing["id"], "locations"))
        if self.params.get("location"):
            return _canonical_location(self.params["location"])
        try:
            return self.module.clients.asc_location()
        except _azure_errors() as exc:
            self.module.fail_azure(
                exc, "find the subscription's Defender for Cloud location (set location to skip this)"
            )

    def _vms_of(self, rg_name: str) -> list[dict[str, Any]] | None:
        """The VMs of a resource group (one list call, cached); None when the principal may not read them."""
        key = rg_name.lower()
        if key not in self._rg_vms:
            try:
                self._rg_vms[key] = self.module.clients.list_vms(rg_name)
            except _azure_errors() as exc:
                if not _is_denied(exc):
                    self.module.fail_azure(exc, f"list the virtual machines of resource group {rg_name}")
                self._rg_vms[key] = None
        return self._rg_vms[key]

    def _lookup_vms(self, entries: list[_VmEntry]) -> dict[str, dict[str, Any]]:
        """The listed VMs as Azure has them, one list call per resource group (not one GET per VM)."""
        by_rg: dict[str, list[_VmEntry]] = defaultdict(list)
        for entry in entries:
            by_rg[_rg_of(entry.id).lower()].append(entry)
        found: dict[str, dict[str, Any]] = {}
        for wanted in by_rg.values():
            rg_name = _rg_of(wanted[0].id)
            vms = self._vms_of(rg_name)
            if vms is None:
                # Security Admin, a documented JIT role, cannot read VMs: write with the ids as given and let
                # Azure check them, rather than refuse a principal that may configure JIT.
                warning = (
                    f"cannot read the virtual machines of resource group {rg_name} (no "
                    "Microsoft.Compute/virtualMachines/read, which Security Admin lacks), so "
                    f"{', '.join(sorted(e.name for e in wanted))} were not checked before writing; Azure checks "
                    "them on write. Add Reader on the resource group to have them checked first"
                )
                if warning not in self.warnings:
                    self.warnings.append(warning)
                continue
            index = {_arm_key(vm["id"]): vm for vm in vms}
            missing = [e for e in wanted if e.key not in index]
            if missing:
                self._fail_missing(rg_name, missing)
            for entry in wanted:
                found[entry.key] = index[entry.key]
        return found

    def _fail_missing(self, rg_name: str, missing: list[_VmEntry]) -> None:
        """VMs not found: say which are classic VMs (JIT cannot cover them) rather than "not found"."""
        classic: set[str] = set()
        try:
            listed = self.module.clients.list_json(
                _format_arm_id(self.module.clients.subscription_id, rg_name)
                + "/providers/Microsoft.ClassicCompute/virtualMachines",
                _CLASSIC_API_VERSION,
            )
            classic = {str(vm.get("name", "")).lower() for vm in listed}
        except _azure_errors() as exc:
            # The classic provider may be unregistered or unreadable: say "not found" then. Any other
            # failure is reported as what it is.
            if getattr(exc, "status_code", None) not in _NO_CLASSIC_STATUSES:
                self.module.fail_azure(exc, f"list the classic virtual machines of resource group {rg_name}")
        problems = []
        plain = sorted(e.name for e in missing if e.name.lower() not in classic)
        old = sorted(e.name for e in missing if e.name.lower() in classic)
        if old:
            problems.append(
                f"{', '.join(old)} {'is a classic VM' if len(old) == 1 else 'are classic VMs'} "
                "(Microsoft.ClassicCompute): JIT covers only Azure Resource Manager VMs; migrate to ARM first"
            )
        if plain:
            problems.append(
                f"virtual machine(s) {', '.join(plain)} not found in resource group {rg_name}; check the names, "
                "or give the VM's full id"
            )
        self.module.fail("virtual_machines: " + "; ".join(problems) + " (nothing was changed)")

    # -- the run ----------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        p = self.params
        try:
            self._validate()
            subscription = self.module.clients.subscription_id
            desired = self._desired(subscription)
        except _JitValueError as exc:
            self.module.fail(f"{exc.field}: {exc.message}" if exc.field else exc.message)
        self._own = {w.entry.key for w in desired}
        lock_key = f"/subscriptions/{subscription}/resourceGroups/{p['resource_group']}/jit/{p['name']}"
        return self._converge(desired, lock_key)

    def _effective(self, existing_vms: list[dict[str, Any]] | None, desired: list[_Wanted]) -> list[_VmEntry]:
        """What this task wants each VM to be: a VM listed without ports keeps the ports it has (as first read)."""
        have = {_arm_key(str(v.get("id", ""))): v for v in existing_vms or []}
        out = []
        for wanted in desired:
            entry = wanted.entry
            if not wanted.ports_given and self.params["state"] == "present":
                raw = have.get(entry.key)
                if raw is not None and entry.key not in self._kept:
                    try:
                        self._kept[entry.key] = _VmEntry.from_wire(raw)
                    except _JitValueError:
                        pass
                entry = self._kept.get(entry.key, entry)
            out.append(entry)
        return out

    def _plan(
        self, existing: dict[str, Any] | None, desired: list[_Wanted]
    ) -> tuple[_PolicyPlan, list[_VmEntry], list[str]]:
        p = self.params
        existing_vms = existing["properties"].get("virtualMachines", []) if existing else None
        stale: list[str] = []
        if p["remove_missing_vms"] and existing_vms:
            existing_vms, stale = self._without_missing_vms(existing_vms)
        effective = self._effective(existing_vms, desired)
        try:
            plan = _plan_policy(
                existing_vms,
                effective,
                state=p["state"],
                purge=p["purge_virtual_machines"],
                existing_kind=(existing or {}).get("kind"),
            )
        except _JitValueError as exc:
            self.module.fail(f"{exc.field}: {exc.message}")
        if stale:
            actions = [f"remove VM {name} (the VM no longer exists)" for name in stale] + plan.actions
            plan = dataclasses.replace(plan, changed=True, actions=actions)
        if self._restore is None:
            self._restore = self._check_rules(effective, existing_vms or [])
        if self._restore and not self._writes and p["state"] == "present":
            # A policy PUT makes Azure write every listed VM's deny rules again, so rewriting the policy
            # as it is restores a deny rule someone deleted.
            plan = dataclasses.replace(plan, changed=True, actions=plan.actions + self._restore)
        return plan, effective, stale

    def _check_rules(self, effective: list[_VmEntry], existing_vms: list[dict[str, Any]]) -> list[str]:
        """Read the NSGs of the task's VMs (list calls per resource group): deny rules missing for ports
        already in the policy (returned as actions: the write restores them) and Allow rules that let a
        JIT port in ahead of the deny rule (warnings naming the rule)."""
        p = self.params
        if not p["check_rules"] or p["state"] != "present" or not effective:
            return []
        view = _NetworkView(self.module.clients)
        for rg, vms in self._rg_vms.items():
            if vms is not None:  # already listed (remove_missing_vms): the view need not list them again
                view.vms.update({str(vm["id"]).rstrip("/").lower(): vm for vm in vms})
                view._loaded.add(("virtual machines", rg))
        try:
            paths = view.resolve([e.id for e in effective], with_nsgs=True)
        except _azure_errors() as exc:
            self.module.fail_azure(exc, "read the network security groups of the VMs (check_rules: false skips this)")
        # The view listed the VMs of these resource groups: the VM checks before writing reuse that list.
        seen: dict[str, list[dict[str, Any]]] = {_rg_of(e.id).lower(): [] for e in effective}
        for vm in view.vms.values():
            seen.setdefault(_rg_of(vm.get("id")).lower(), []).append(vm)
        for rg, vms in seen.items():
            if f"virtual machines in {rg}" not in view.denied and rg not in self._rg_vms:
                self._rg_vms[rg] = vms
        held = {_arm_key(str(v.get("id", ""))): v for v in existing_vms}
        restore: list[str] = []
        readings: dict[str, _NsgReading] = {}  # an NSG shared by many VMs is read once
        for entry in effective:
            path = paths.get(entry.key)
            if path is None or not path.private_ip:
                continue
            old = held.get(entry.key)
            old_ports = {str(x.get("number")) for x in (old or {}).get("ports") or []}
            for scope, nsg_id in path.nsg_ids:
                nsg = view.nsg(nsg_id)
                if nsg is None:
                    continue
                nsg_name = nsg_id.rsplit("/", 1)[-1]
                if nsg_id not in readings:
                    readings[nsg_id] = _read_nsg(nsg)
                for port in entry.ports:
                    present, shadows = _judge_port(readings[nsg_id], path.private_ip, port.number, port.protocol)
                    if not present and str(port.number) in old_ports:
                        restore.append(
                            f"restore the deny rule of VM {entry.name} port {port.number} in {scope} NSG {nsg_name} "
                            "(it was missing: the port was not closed)"
                        )
                    for shadow in shadows:
                        where = (
                            f"ahead of JIT's deny rule (priority {shadow.deny_priority})"
                            if shadow.deny_priority is not None
                            else "and Azure places JIT's deny rule after the rules already there for the port"
                        )
                        target = " to an application security group (if the VM is in it)" if shadow.to_asg else ""
                        self.warnings.append(
                            f"VM {entry.name} port {port.number} is open whatever JIT says: rule {shadow.rule} "
                            f"(priority {shadow.priority}) in {scope} NSG {nsg_name} allows it from "
                            f"{', '.join(shadow.sources) or 'any source'}{target} {where}; remove that rule or "
                            "narrow it"
                        )
        if view.denied:
            self.warnings.append(
                f"cannot read {', '.join(sorted(view.denied))}, so the VMs' deny rules were not checked (a missing one "
                "is not restored, an NSG rule that lets a JIT port in first is not reported); Reader on those "
                "resource groups adds the check"
            )
        return restore

    def _without_missing_vms(self, existing_vms: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
        """Entries of VMs that exist (one VM list per resource group), and the names of those that do not."""
        by_rg: dict[str, str] = {}
        for vm in existing_vms:
            rg = _rg_of(vm.get("id"))
            if rg:
                by_rg.setdefault(rg.lower(), rg)
        known: set[str] = set()
        blind: list[str] = []
        for rg_name in by_rg.values():
            vms = self._vms_of(rg_name)
            if vms is None:
                blind.append(rg_name)
                continue
            known.update(_arm_key(str(v["id"])) for v in vms)
        kept, stale = [], []
        unreadable = {rg.lower() for rg in blind}  # resource group names compare case-insensitively
        for vm in existing_vms:
            vm_id = str(vm.get("id", ""))
            rg = _rg_of(vm_id)
            if rg and rg.lower() not in unreadable and _arm_key(vm_id) not in known:
                stale.append(_name_of(vm_id))
            else:
                kept.append(vm)
        if blind:
            self.warnings.append(
                f"remove_missing_vms: cannot read the virtual machines of resource group(s) {', '.join(blind)} "
                "(Microsoft.Compute/virtualMachines/read), so their entries were kept"
            )
        return kept, stale

    def _converge(self, desired: list[_Wanted], lock_key: str) -> dict[str, Any]:
        """Read, merge, write; then, after settle_time, read again and repair what another writer dropped.

        The JIT API has no etag, so two controllers that read the policy before either writes lose one
        another's changes. Every writer keeps its read-to-write window short (it re-reads when the window
        would pass half of settle_time) and checks its own VMs settle_time after writing: a write that
        dropped them must have started from a read made before our write, so it has landed by then.
        """
        p = self.params
        settle = float(p["settle_time"])
        limit = settle / 2 if settle else None
        result: dict[str, Any] = {}
        for attempt in range(1, _MAX_ATTEMPTS + 1):
            try:
                with _policy_lock(lock_key, p["lock_timeout"]):
                    existing, started = self._read()
                    location = self._location(existing)
                    plan, effective, _stale = self._plan(existing, desired)
                    if plan.changed:
                        self._prepare(plan, existing, desired, location)
                        if limit is not None and time.monotonic() - started > limit:
                            # Our read grew old while we looked things up: read again so the write we send
                            # is never based on a read older than half the settle time.
                            existing, started = self._read()
                            location = self._location(existing)
                            plan, effective, _stale = self._plan(existing, desired)
                            if plan.changed:
                                self._prepare(plan, existing, desired, location)
                    if attempt == 1:
                        result = self._result(plan, existing, location)
                        self._source_warnings(plan, existing)
                    if not plan.changed or self.module.check_mode:
                        return self._finish(result, attempt, existing)
                    if attempt > 1:
                        self._repaired.extend(plan.actions)
                    self._write(plan, existing, location)
                    window = time.monotonic() - started
            except _LockTimeout as exc:
                self.module.fail(f"{exc}; raise lock_timeout or run fewer concurrent tasks on this policy")
            self._window = max(self._window, window)
            if settle and window > settle:
                self.warnings.append(
                    f"this write came {window:.0f}s after the read it was based on, more than settle_time "
                    f"({settle:g}s): a change another controller verified meanwhile may have been overwritten; "
                    "raise settle_time on every controller if Azure is this slow"
                )
            if settle:
                time.sleep(settle)
                self._waited += settle
            current = self._find_policy()
            lost = self._lost(current, effective)
            if not lost:
                result["policy"] = _snake(current) if current is not None else {}
                return self._finish(result, attempt, current)
            self.warnings.append(
                f"{settle:g}s after writing, {'; '.join(lost)} (another controller wrote a copy of the policy it "
                f"had read before our write); rewriting (attempt {attempt + 1} of {_MAX_ATTEMPTS})"
            )
        self.module.fail(
            f"the JIT policy {p['name']} kept losing this task's changes ({_MAX_ATTEMPTS} writes, each checked "
            f"{settle:g}s later): other writers keep rewriting it from old reads; run the tasks one after another",
            changed=True,
            verification=self._verification(_MAX_ATTEMPTS),
        )

    def _prepare(
        self, plan: _PolicyPlan, existing: dict[str, Any] | None, desired: list[_Wanted], location: str
    ) -> None:
        """Checks before a write: VMs exist (bulk), are in no other policy, and the location is plausible."""
        if self.params["state"] != "present":
            return
        existing_vms = existing["properties"].get("virtualMachines", []) if existing else []
        self._check_new_vms(plan, existing_vms, [w.entry for w in desired], location)
        if existing is None and self.params.get("location"):
            self._check_location_choice(location)
        self._check_other_policies(existing, desired)

    def _check_other_policies(self, existing: dict[str, Any] | None, desired: list[_Wanted]) -> None:
        """A VM belongs to one policy: say where it is before Azure answers 409 to our write."""
        mine = _arm_key(str((existing or {}).get("id", "")))
        held: dict[str, dict[str, Any]] = {}
        for policy in self._rg_policies:
            if existing is not None and _arm_key(str(policy.get("id", ""))) == mine:
                continue
            for vm in (policy.get("properties") or {}).get("virtualMachines") or []:
                held.setdefault(_arm_key(str(vm.get("id", ""))), policy)
        problems = []
        for wanted in desired:
            other = held.get(wanted.entry.key)
            if other is not None:
                problems.append(
                    f"VM {wanted.entry.name} is already in JIT policy {other.get('name')} (location "
                    f"{other.get('location')}); a VM belongs to one policy: set name/location to that policy "
                    "or take the VM out of it first"
                )
        if problems:
            self.module.fail("virtual_machines: " + "; ".join(problems) + " (nothing was changed)")

    def _check_location_choice(self, location: str) -> None:
        """A new policy in a location that is neither a listed VM's region nor Defender's home is a typo."""
        found = self._found_vms.values()
        vm_locations = {_canonical_location(str(vm["location"])) for vm in found if vm.get("location")}
        if not vm_locations or location.lower() in vm_locations:
            return
        try:
            home = self.module.clients.asc_location()
        except _azure_errors() as exc:
            self.module.fail_azure(exc, "find the subscription's Defender for Cloud location to check location")
        if location.lower() == str(home).lower():
            return
        self.module.fail(
            f"location: {self.params['location']!r} is neither the region of the VMs "
            f"({', '.join(sorted(vm_locations))}) nor the subscription's Defender for Cloud location ({home}); "
            "set location to one of them, or leave it out (nothing was changed)"
        )

    def _check_new_vms(
        self, plan: _PolicyPlan, existing_vms: list[dict[str, Any]], desired: list[_VmEntry], location: str
    ) -> None:
        """Look up (in bulk) only the VMs this run adds or changes, and take Azure's id casing."""
        before = {_arm_key(str(v.get("id", ""))): v for v in existing_vms}
        unchanged = {key for key, v in ((_arm_key(str(w.get("id", ""))), w) for w in plan.vms) if before.get(key) == v}
        touched = [e for e in desired if e.key not in unchanged and e.key not in self._found_vms]
        if touched:
            self._found_vms.update(self._lookup_vms(touched))
        for wire in plan.vms:
            vm = self._found_vms.get(_arm_key(str(wire.get("id", ""))))
            if vm is not None:
                wire["id"] = vm["id"]
                vm_location = str(vm.get("location", "")).replace(" ", "").lower()
                warning = (
                    f"VM {vm['name']} is in {vm_location} but the policy is in {location}; the portal keeps "
                    "one policy per VM region: set location if Azure rejects the policy"
                )
                if vm_location and vm_location != location.replace(" ", "").lower() and warning not in self.warnings:
                    self.warnings.append(warning)

    def _source_warnings(self, plan: _PolicyPlan, existing: dict[str, Any] | None) -> None:
        """Warn when a port's allowed sources become any address (which they were not before)."""
        before = {
            _arm_key(str(v.get("id", ""))): v for v in (existing or {}).get("properties", {}).get("virtualMachines", [])
        }
        for wire in plan.vms:
            old = before.get(_arm_key(str(wire.get("id", ""))))
            if old == wire:
                continue
            old_ports = {str(x.get("number")): x for x in (old or {}).get("ports") or []}
            for port in wire.get("ports") or []:
                sources = _prefixes_from_wire(port)
                if not _is_any_source(sources):
                    continue
                previous = old_ports.get(str(port.get("number")))
                if previous is not None and _is_any_source(_prefixes_from_wire(previous)):
                    continue
                self.warnings.append(
                    f"VM {_name_of(str(wire['id']))} port {port['number']} allows requests from any source "
                    f"({', '.join(sources)}): a request may open it to the whole Internet; give allowed_source "
                    "to restrict it"
                )

    def _write(self, plan: _PolicyPlan, existing: dict[str, Any] | None, location: str) -> dict[str, Any] | None:
        p = self.params
        clients = self.module.clients
        self._writes += 1
        if plan.delete_policy or (existing is not None and not plan.vms):
            try:
                clients.delete_policy(p["resource_group"], location, existing["name"] if existing else p["name"])
            except _azure_errors() as exc:
                self.module.fail_azure(exc, f"delete the JIT policy {p['name']}")
            return None
        requests = existing["properties"].get("requests") if existing else None
        body = _policy_body(plan.vms, kind=plan.kind, requests=requests)
        try:
            return clients.put_policy(p["resource_group"], location, existing["name"] if existing else p["name"], body)
        except _azure_errors() as exc:
            stale = _missing_vm_in(exc)
            if stale is not None and _arm_key(stale) not in self._own:
                self.module.fail(
                    f"Azure refuses every write of JIT policy {p['name']} because it holds an entry for VM "
                    f"{_name_of(stale)} ({stale}), which no longer exists (VirtualMachineNotFound). Remove that "
                    "entry: rerun with remove_missing_vms: true (removes entries of every VM that no longer "
                    f"exists), or run jit_policy with state: absent and virtual_machines: [{{id: {stale}}}] "
                    "(nothing was changed)",
                    error=_error_fields(exc),
                )
            self.module.fail_azure(exc, f"write the JIT policy {p['name']} (nothing else was changed)")

    def _lost(self, current: dict[str, Any] | None, effective: list[_VmEntry]) -> list[str]:
        """What of this task's VMs is not as written (lost updates show here)."""
        vms = {
            _arm_key(str(v.get("id", ""))): v for v in (current or {}).get("properties", {}).get("virtualMachines", [])
        }
        lost = []
        for entry in effective:
            held = vms.get(entry.key)
            if self.params["state"] == "absent":
                if held is not None:
                    lost.append(f"VM {entry.name} was back in the policy")
                continue
            if held is None:
                lost.append(f"VM {entry.name} was missing from the policy")
                continue
            try:
                same = _VmEntry.from_wire(held) == entry
            except _JitValueError:
                same = False
            if not same:
                lost.append(f"VM {entry.name} had other ports")
        return lost

    def _verification(self, attempts: int) -> dict[str, Any]:
        return {
            "settle_time": float(self.params["settle_time"]),
            "waited_seconds": round(self._waited, 3),
            "read_to_write_seconds": round(self._window, 3),
            "attempts": attempts,
            "reads": self._reads,
            "writes": self._writes,
            "repaired": list(self._repaired),
        }

    def _finish(self, result: dict[str, Any], attempt: int, current: dict[str, Any] | None) -> dict[str, Any]:
        if self._writes:
            result["attempts"] = attempt
            result["verification"] = self._verification(attempt)
        return result

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


@dataclasses.dataclass(frozen=True)
class _Wanted:
    entry: _VmEntry
    ports_given: bool


_ANY_SOURCES = {"*", "0.0.0.0/0", "::/0", "internet", "any"}
_LOCATION_RE = re.compile(r"[A-Za-z][A-Za-z0-9 ]{1,39}")
_MISSING_VM_RE = re.compile(r"(/subscriptions/[^'\" ]+/providers/Microsoft\.Compute/virtualMachines/[^'\" ]+)", re.I)


def _is_any_source(sources: tuple[str, ...] | list[str]) -> bool:
    return any(str(s).strip().lower() in _ANY_SOURCES for s in sources)


def _missing_vm_in(exc: BaseException) -> str | None:
    """The VM id of a VirtualMachineNotFound answer, if that is what Azure said."""
    fields = _error_fields(exc)
    if str(fields.get("code") or "").lower() != "virtualmachinenotfound":
        return None
    match = _MISSING_VM_RE.search(str(fields.get("message") or ""))
    return match.group(1) if match else None


def _canonical_location(value: str) -> str:
    """Azure's location name: "West Europe" and "westeurope" are the same region."""
    return value.replace(" ", "").lower()


def _same_location(a: object, b: object) -> bool:
    return _canonical_location(str(a or "")) == _canonical_location(str(b or ""))


def _check_location(value: object, field: str) -> str:
    if not isinstance(value, str) or not _LOCATION_RE.fullmatch(value.strip()):
        raise _JitValueError(
            field,
            f"{value!r} is not an Azure location; use a region name such as westeurope (as az account "
            "list-locations shows it), or leave it out",
        )
    return _canonical_location(value)


def _predicted_policy(
    plan: _PolicyPlan, existing: dict[str, Any] | None, subscription: str, p: dict[str, Any], location: str
) -> dict[str, Any] | None:
    """What the policy will look like after the write (shown in check mode)."""
    if plan.delete_policy or (existing is not None and not plan.vms):
        return None
    name = existing["name"] if existing else p["name"]
    policy_id = (existing or {}).get("id") or _format_arm_id(
        subscription,
        p["resource_group"],
        "Microsoft.Security",
        ("locations", location),
        ("jitNetworkAccessPolicies", name),
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
