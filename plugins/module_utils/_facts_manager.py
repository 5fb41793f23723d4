# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The jit_rule_facts manager: read policies and the network in bulk, judge every JIT rule, report.

Private API of azsecops.jit. The manager works through the module base (`_AzureJitModule`); every
decision about a rule is in `_nsg` (pure), the network is read by `_network_view` in bulk.

Costs: one policy list call, then one list call per resource type and resource group (with
``resource_group``) or per resource type for the whole subscription (without it), never one call per
VM. The module only reads, so it runs fully in check mode.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ._arm_id import _arm_key, _format_arm_id, _name_of, _rg_of
from ._clients import _COMPUTE_API_VERSION
from ._errors import _azure_errors, _denied_action, _is_denied
from ._jit_grants import _Grant, _grants_from_policy, _request_row
from ._jit_model import (
    _check_resource_group,
    _check_vm_name,
    _JitValueError,
    _normalize_protocol,
    _parse_vm_id,
    _snake,
    _VmEntry,
)
from ._network_view import _NetworkView, _VmNetwork, _wire
from ._nsg_rules import _firewall_jit_rules, _nsg_jit_rules, _nsg_open_rules
from ._rule_judge import (
    _ACTIVE,
    _DRIFTED,
    _EXPIRED,
    _ORPHANED,
    _SHADOWED,
    _judge_firewall,
    _judge_nsg,
    _Missing,
    _Verdict,
    _VmTarget,
)
from ._rule_results import _missing_result, _verdict_result

if TYPE_CHECKING:  # only for types: unit tests drive the managers with a small fake module
    from ._module import _AzureJitModule

_VMS = "virtual machines"
_NICS = "network interfaces"
_PIPS = "public IP addresses"
_VNETS = "virtual networks"
_NSGS = "network security groups"
_FIREWALLS = "Azure Firewalls"


class _FactsView(_NetworkView):
    """`_NetworkView` that can also read a whole subscription with one list call per resource type.

    After `load_subscription()`, the per-resource-group loaders of a type read from the subscription-wide
    result instead of calling Azure again.
    """

    def __init__(self, clients: Any) -> None:
        super().__init__(clients)
        self._whole: dict[str, bool] = {}

    def _load(self, kind: str, rg: str, fetch: Callable[[str], Iterable[Any]], into: dict[str, dict[str, Any]]) -> bool:
        if kind in self._whole:
            return self._whole[kind]
        return super()._load(kind, rg, fetch, into)

    def load_subscription(self) -> None:
        clients = self.clients
        vm_path = f"/subscriptions/{clients.subscription_id}/providers/Microsoft.Compute/virtualMachines"
        loaders: tuple[tuple[str, Callable[[], Iterable[Any]], dict[str, dict[str, Any]]], ...] = (
            (_VMS, lambda: clients.list_json(vm_path, _COMPUTE_API_VERSION), self.vms),
            (_NICS, lambda: clients.list_network("networkInterfaces"), self.nics),
            (_PIPS, lambda: clients.list_network("publicIPAddresses"), self.public_ips),
            (_VNETS, lambda: clients.list_network("virtualNetworks"), self.vnets),
            (_NSGS, lambda: clients.list_network("networkSecurityGroups"), self.nsgs),
            (_FIREWALLS, lambda: clients.list_network("azureFirewalls"), self.firewalls),
        )
        for kind, fetch, into in loaders:
            try:
                for item in fetch():
                    body = _wire(item)
                    into[_arm_key(body.get("id"))] = body
            except _azure_errors() as exc:
                if not _is_denied(exc):
                    raise
                self.denied[f"{kind} in the subscription"] = _message(exc)
                self._whole[kind] = False
                continue
            self._whole[kind] = True
        for vnet in self.vnets.values():
            for subnet in (vnet.get("properties") or {}).get("subnets") or []:
                self.subnets[_arm_key(subnet.get("id"))] = subnet

    def read(self, kind: str, rg: str) -> bool:
        """True when resources of ``kind`` in ``rg`` were read (no call is made here)."""
        if kind in self._whole:
            return self._whole[kind]
        return (kind, rg.lower()) in self._loaded and f"{kind} in {rg.lower()}" not in self.denied


def _message(exc: BaseException) -> str:
    return " ".join(str(getattr(getattr(exc, "error", None), "message", None) or exc).split())


def _policy_result(policy: dict[str, Any], keep: set[str] | None) -> dict[str, Any]:
    """A policy, normalised: ports as {number, protocol, allowed_source, max_duration}; requests left out."""
    policy_id = str(policy.get("id") or "")
    props = policy.get("properties") or {}
    vms = []
    for index, raw in enumerate(props.get("virtualMachines") or []):
        if keep is not None and _arm_key(str(raw.get("id", ""))) not in keep:
            continue
        try:
            vms.append(_VmEntry.from_wire(raw, f"virtualMachines[{index}]").to_result(include_public_ip=True))
        except _JitValueError:
            vm_id = str(raw.get("id", ""))
            vms.append({"id": vm_id, "name": _name_of(vm_id), "ports": _snake(raw.get("ports") or [])})
    return {
        "id": policy_id,
        "name": policy.get("name"),
        "location": policy.get("location"),
        "resource_group": _rg_of(policy_id) if policy_id else None,
        "kind": policy.get("kind"),
        "provisioning_state": props.get("provisioningState"),
        "virtual_machines": vms,
    }


def _protocols(raw_vm: dict[str, Any]) -> tuple[tuple[int, str], ...]:
    ports = []
    for port in raw_vm.get("ports") or []:
        try:
            number = int(port["number"])
        except (KeyError, TypeError, ValueError):
            continue
        try:
            protocol = _normalize_protocol(port.get("protocol"))
        except _JitValueError:
            protocol = str(port.get("protocol")).upper()
        ports.append((number, protocol))
    return tuple(ports)


def _names(ids: Iterable[str]) -> str:
    return ", ".join(sorted({_name_of(i) for i in ids}))


class _FactsManager:
    def __init__(self, module: _AzureJitModule) -> None:
        self.module = module
        self.params = module.params
        self.warnings: list[str] = []
        self.unreadable: list[dict[str, Any]] = []

    def _list_policies(self, rg: str | None, scope: str) -> list[dict[str, Any]]:
        """The policies in scope, from ONE subscription-wide list call.

        A VM's policy may live in another resource group than the VM (Azure keeps it where it was created),
        so with ``resource_group`` the subscription's list is read and kept are the policies of the group
        (whole) and, from policies elsewhere, the entries of VMs in the group. A principal that may list
        only the group's policies gets those, and the gap is reported in ``unreadable``.
        """
        clients = self.module.clients
        try:
            everything = clients.list_policies(None)
        except _azure_errors() as exc:
            if not rg or not _is_denied(exc):
                self.module.fail_azure(exc, f"list the JIT policies of {scope}")
            self.unreadable.append(
                {
                    "resource_type": "JIT policies",
                    "scope": "the subscription",
                    "reason": _reason(_message(exc)),
                    "effect": f"policies in other resource groups that list VMs of {rg} are unknown",
                }
            )
            try:
                return clients.list_policies(rg)
            except _azure_errors() as exc2:
                self.module.fail_azure(exc2, f"list the JIT policies of {scope}")
        if not rg:
            return everything
        wanted = rg.lower()
        kept: list[dict[str, Any]] = []
        for policy in everything:
            if _rg_of(str(policy.get("id") or "")).lower() == wanted:
                kept.append(policy)
                continue
            props = policy.get("properties") or {}
            vms = [
                vm
                for vm in props.get("virtualMachines") or []
                if isinstance(vm, dict) and _rg_of(str(vm.get("id") or "")).lower() == wanted
            ]
            if vms:
                kept.append({**policy, "properties": {**props, "virtualMachines": vms}})
        return kept

    # -- input -------------------------------------------------------------------------------------------
    def _validate(self) -> list[tuple[str, str]]:
        """Every filter entry as ("id", the VM id) or ("name", the lower-cased name); raises _JitValueError."""
        p = self.params
        if p.get("resource_group") is not None:
            _check_resource_group(p["resource_group"], "resource_group")
        filters: list[tuple[str, str]] = []
        for index, entry in enumerate(p.get("virtual_machines") or []):
            field = f"virtual_machines[{index}]"
            text = entry.strip() if isinstance(entry, str) else entry
            if isinstance(text, str) and text.startswith("/"):
                _parse_vm_id(text, field)
                filters.append(("id", text.rstrip("/")))
            else:
                filters.append(("name", _check_vm_name(text, field).lower()))
        return filters

    # -- the run -------------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        p = self.params
        try:
            filters = self._validate()
        except _JitValueError as exc:
            self.module.fail(f"{exc.field}: {exc.message}" if exc.field else exc.message)
        rg: str | None = p.get("resource_group")
        clients = self.module.clients
        scope = f"resource group {rg}" if rg else "the subscription"
        policies = self._list_policies(rg, scope)

        view = _FactsView(clients)
        try:
            if rg:
                view.load_vms(rg)
                if not filters:
                    view.load_nsgs(rg)
                    view.load_firewalls(rg)
            else:
                view.load_subscription()
            policy_vms = self._policy_vms(policies)
            selected = self._select(filters, policy_vms, view, rg)
            paths = view.resolve(selected.values())
            # A filtered VM that is gone but still in a policy: its rules stay on the NSGs of its resource
            # group (where they are looked for; one list call per group) until someone removes them.
            gone = sorted(
                {
                    _rg_of(key)
                    for key in selected
                    if key in policy_vms and key not in view.vms and view.read(_VMS, _rg_of(key))
                }
            )
            if filters:
                for gone_rg in gone:
                    view.load_nsgs(gone_rg)
        except _azure_errors() as exc:
            self.module.fail_azure(exc, f"read the VMs and network security groups of {scope}")
        now = clients.now()

        targets = self._targets(policies, policy_vms, view, paths)
        selected_keys = set(selected) if filters else None
        extra = {key for key in view.nsgs if _rg_of(key).lower() in {g.lower() for g in gone}} if filters else set()
        verdicts, missing = self._judge(view, targets, paths, selected_keys, rg, now, extra)
        stale = _stale_entries(targets, selected_keys)
        for entry in stale:
            self.warnings.append(f"{entry['reason']}; {entry['fix']}")
        self._warn_unread(view, paths, selected, filters, {_arm_key(e["vm"]["id"]) for e in stale})

        rules = [
            _verdict_result(v, self._scope(v.vm, v.container_id, paths, view), self._name(v, view)) for v in verdicts
        ]
        rules.sort(key=_rule_order)
        missing_rows = [_missing_result(m, self._scope(m.vm, m.container_id, paths, view)) for m in missing]
        requests = self._requests(policies, selected_keys, now)
        policy_rows = [
            row
            for row in (_policy_result(policy, selected_keys) for policy in policies)
            if selected_keys is None or row["virtual_machines"]
        ]
        unreadable = _unreadable(view, self.unreadable)
        summary = _summary(policy_rows, rules, requests, missing_rows, unreadable, stale)
        facts = {
            "policies": policy_rows,
            "requests": requests,
            "rules": rules,
            "missing": missing_rows,
            "stale_entries": stale,
            "unreadable": unreadable,
            "summary": summary,
            "warnings": list(self.warnings),
        }
        result: dict[str, Any] = {"changed": False, "ansible_facts": {"azure_jit": facts}}
        result.update({k: v for k, v in facts.items() if k != "warnings"})
        return result

    # -- what is in scope --------------------------------------------------------------------------------------
    @staticmethod
    def _policy_vms(policies: list[dict[str, Any]]) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
        """VM key -> (policy, the VM's entry); a VM in several policies counts in the first."""
        found: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        for policy in policies:
            for raw in (policy.get("properties") or {}).get("virtualMachines") or []:
                vm_id = raw.get("id")
                if isinstance(vm_id, str) and vm_id:
                    found.setdefault(_arm_key(vm_id), (policy, raw))
        return found

    def _select(
        self,
        filters: list[tuple[str, str]],
        policy_vms: dict[str, tuple[dict[str, Any], dict[str, Any]]],
        view: _FactsView,
        rg: str | None,
    ) -> dict[str, str]:
        """VM key -> id of the VMs whose rules are reported."""
        known: dict[str, str] = {key: str(raw["id"]) for key, (_policy, raw) in policy_vms.items()}
        for key, body in view.vms.items():
            if rg is None or _rg_of(key) == rg.lower():
                known[key] = str(body.get("id") or key)
        if not filters:
            return known
        selected: dict[str, str] = {}
        subscription = self.module.clients.subscription_id
        for kind, value in filters:
            if kind == "id":
                selected[_arm_key(value)] = known.get(_arm_key(value), value)
                continue
            matches = {key: vm_id for key, vm_id in known.items() if _name_of(vm_id).lower() == value}
            if matches:
                selected.update(matches)
            elif rg:
                vm_id = _format_arm_id(subscription, rg, "Microsoft.Compute", ("virtualMachines", value))
                selected[_arm_key(vm_id)] = vm_id
            else:
                self.warnings.append(f"virtual_machines: no VM named {value} in the subscription's JIT policies or VMs")
        return selected

    def _targets(
        self,
        policies: list[dict[str, Any]],
        policy_vms: dict[str, tuple[dict[str, Any], dict[str, Any]]],
        view: _FactsView,
        paths: dict[str, _VmNetwork],
    ) -> list[_VmTarget]:
        """Every VM known (in a policy, read from Azure, or both), with its path and what its policy says."""
        grants: dict[str, list[_Grant]] = {}
        for policy in policies:
            for grant in _grants_from_policy(policy):
                grants.setdefault(grant.vm_key, []).append(grant)
        keys = list(dict.fromkeys([*policy_vms, *view.vms]))
        targets = []
        for key in keys:
            body = view.vms.get(key)
            vm_policy, raw = policy_vms.get(key, (None, None))
            vm_id = str((body or {}).get("id") or (raw or {}).get("id") or key)
            exists = body is not None or not view.read(_VMS, _rg_of(key))
            path = paths.get(key)
            targets.append(
                _VmTarget(
                    id=vm_id,
                    name=str((body or {}).get("name") or _name_of(vm_id)),
                    exists=exists,
                    path_known=path is not None and path.complete,
                    private_ip=path.private_ip if path else None,
                    nsgs=tuple(_arm_key(nsg_id) for _scope, nsg_id in path.nsg_ids) if path else (),
                    firewall=_arm_key(path.firewall_id) if path and path.firewall_id else None,
                    firewall_ip=path.firewall_public_ip if path else None,
                    policy_id=str(vm_policy.get("id")) if vm_policy else None,
                    policy_name=str(vm_policy.get("name")) if vm_policy else None,
                    ports=_protocols(raw) if raw else (),
                    grants=tuple(
                        g for g in grants.get(key, []) if vm_policy is not None and g.policy_id == vm_policy.get("id")
                    ),
                )
            )
        return targets

    def _judge(
        self,
        view: _FactsView,
        targets: list[_VmTarget],
        paths: dict[str, _VmNetwork],
        selected: set[str] | None,
        rg: str | None,
        now: Any,
        extra_nsgs: set[str] | None = None,
    ) -> tuple[list[_Verdict], list[_Missing]]:
        """Judge the NSGs and firewalls in scope: those on the selected VMs' paths, and (without a VM filter)
        every one of the resource group or subscription, so that rules of vanished VMs show up."""
        nsg_keys: dict[str, None] = {}
        firewall_keys: dict[str, None] = {}
        for key, path in paths.items():
            if selected is not None and key not in selected:
                continue
            for _scope, nsg_id in path.nsg_ids:
                nsg_keys[_arm_key(nsg_id)] = None
            if path.firewall_id and not path.firewall_managed:
                firewall_keys[_arm_key(path.firewall_id)] = None
        if selected is None:
            for key in view.nsgs:
                if rg is None or _rg_of(key) == rg.lower():
                    nsg_keys[key] = None
            for key, body in view.firewalls.items():
                managed = bool(((body.get("properties") or {}).get("firewallPolicy") or {}).get("id"))
                if (rg is None or _rg_of(key) == rg.lower()) and not managed:
                    firewall_keys[key] = None
        for key in sorted(extra_nsgs or ()):
            nsg_keys[key] = None
        verdicts: list[_Verdict] = []
        missing: list[_Missing] = []
        for key in nsg_keys:
            nsg = view.nsgs.get(key)
            if nsg is None:
                continue
            found, lacking = _judge_nsg(str(nsg["id"]), _nsg_jit_rules(nsg), targets, now, _nsg_open_rules(nsg))
            verdicts.extend(found)
            missing.extend(lacking)
        for key in firewall_keys:
            firewall = view.firewalls.get(key)
            if firewall is None:
                continue
            found, lacking = _judge_firewall(
                str(firewall["id"]), _firewall_jit_rules(firewall), targets, now, _firewall_ip(view, firewall)
            )
            verdicts.extend(found)
            missing.extend(lacking)
        if selected is not None:
            verdicts = [v for v in verdicts if v.vm is None or v.vm.key in selected]
            missing = [m for m in missing if m.vm.key in selected]
        return verdicts, missing

    @staticmethod
    def _scope(vm: _VmTarget | None, container_id: str, paths: dict[str, _VmNetwork], view: _FactsView) -> str | None:
        """nic / subnet / firewall: where the NSG sits on the rule's VM's path, else on any VM's path, else
        what the NSG's own back-references say."""
        key = _arm_key(container_id)
        if key in view.firewalls:
            return "firewall"
        candidates = [paths[vm.key]] if vm is not None and vm.key in paths else []
        candidates += list(paths.values())
        for path in candidates:
            for scope, nsg_id in path.nsg_ids:
                if _arm_key(nsg_id) == key:
                    return scope
        props = (view.nsgs.get(key) or {}).get("properties") or {}
        if props.get("networkInterfaces"):
            return "nic"
        if props.get("subnets"):
            return "subnet"
        return None

    @staticmethod
    def _name(verdict: _Verdict, view: _FactsView) -> str | None:
        key = _arm_key(verdict.container_id)
        body = view.nsgs.get(key) or view.firewalls.get(key) or {}
        return body.get("name")

    def _requests(self, policies: list[dict[str, Any]], selected: set[str] | None, now: Any) -> list[dict[str, Any]]:
        include_expired = bool(self.params.get("include_expired"))
        rows = []
        for policy in policies:
            protocols: dict[tuple[str, int], str] = {}
            for raw in (policy.get("properties") or {}).get("virtualMachines") or []:
                for number, protocol in _protocols(raw):
                    protocols[(_arm_key(str(raw.get("id", ""))), number)] = protocol
            for grant in _grants_from_policy(policy):
                if selected is not None and grant.vm_key not in selected:
                    continue
                if not include_expired and grant.ended(now):
                    continue
                rows.append(_request_row(grant, now, protocols.get((grant.vm_key, grant.number))))
        return rows

    # -- what could not be read ---------------------------------------------------------------------------------
    def _warn_unread(
        self,
        view: _FactsView,
        paths: dict[str, _VmNetwork],
        selected: dict[str, str],
        filters: list[Any],
        stale: set[str] | None = None,
    ) -> None:
        for where, message in sorted(view.denied.items()):
            kind, _sep, place = where.partition(" in ")
            place_text = "the subscription" if place == "the subscription" else f"resource group {place}"
            if kind == _NSGS:
                nsgs = sorted(
                    {
                        _name_of(nsg_id)
                        for path in paths.values()
                        for _scope, nsg_id in path.nsg_ids
                        if place == "the subscription" or _rg_of(nsg_id).lower() == place
                    }
                )
                which = f"JIT rules on {', '.join(nsgs)} are unknown" if nsgs else "JIT rules there are unknown"
                text = f"cannot read the network security groups of {place_text}, so {which}"
            elif kind == _VNETS:
                vms = _names(
                    path.vm_id
                    for path in paths.values()
                    if path.subnet_id and (place == "the subscription" or _rg_of(path.subnet_id).lower() == place)
                )
                who = f" of VMs {vms}" if vms else ""
                text = (
                    f"cannot read the virtual networks of {place_text}, so the subnet NSGs and Azure Firewalls{who} "
                    "are unknown, and so are their JIT rules"
                )
            elif kind == _FIREWALLS:
                text = f"cannot read the Azure Firewalls of {place_text}, so their JIT DNAT rules are unknown"
            elif kind == _VMS:
                text = (
                    f"cannot read the virtual machines of {place_text}, so their network paths and JIT rules are "
                    "unknown"
                )
            elif kind == _NICS:
                vms = _names(
                    vm_id for key, vm_id in selected.items() if place == "the subscription" or _rg_of(key) == place
                )
                text = (
                    f"cannot read the network interfaces of {place_text}, so the NSGs of "
                    f"{'VMs ' + vms if vms else 'their VMs'} are unknown"
                )
            else:
                text = f"cannot read the {kind} of {place_text}"
            action = _denied_action(message)
            reason = f"the principal lacks {action}, which Reader grants" if action else f"Azure said: {message}"
            self.warnings.append(f"{text} ({reason})")
        if filters:
            for key, vm_id in selected.items():
                if key not in paths and key not in view.vms and key not in (stale or set()):
                    self.warnings.append(f"virtual_machines: VM {vm_id} was not found; it has no rules to report")


def _rule_order(rule: dict[str, Any]) -> tuple[str, int, str]:
    container = rule["nsg"] or rule["firewall"] or {}
    return (str(container.get("name", "")).lower(), rule["priority"] or 0, rule["name"])


def _firewall_ip(view: _FactsView, firewall: dict[str, Any]) -> str | None:
    for cfg in (firewall.get("properties") or {}).get("ipConfigurations") or []:
        pip = ((cfg.get("properties") or {}).get("publicIPAddress") or {}).get("id")
        if pip:
            address = ((view.public_ips.get(_arm_key(pip)) or {}).get("properties") or {}).get("ipAddress")
            if address:
                return str(address)
    return None


def _unreadable(view: _FactsView, earlier: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every scope that could not be read, one row each: a credential that cannot read NSGs is never a green run."""
    rows = list(earlier)
    for where, message in sorted(view.denied.items()):
        kind, _sep, place = where.partition(" in ")
        rows.append(
            {
                "resource_type": kind,
                "scope": "the subscription" if place == "the subscription" else f"resource group {place}",
                "reason": _reason(message),
                "effect": f"JIT rules that depend on the {kind} there are unknown",
            }
        )
    return rows


def _reason(message: str) -> str:
    action = _denied_action(message)
    return f"the principal lacks {action}, which Reader grants" if action else f"Azure said: {message}"


def _stale_entries(targets: list[_VmTarget], selected: set[str] | None) -> list[dict[str, Any]]:
    """Policy entries of VMs that no longer exist, with the way to clear them."""
    rows = []
    for vm in targets:
        if vm.exists or not vm.policy_id or (selected is not None and vm.key not in selected):
            continue
        policy_rg = _rg_of(vm.policy_id)
        rows.append(
            {
                "policy": {"name": vm.policy_name, "id": vm.policy_id},
                "vm": {"name": vm.display_name, "id": vm.id},
                "reason": (
                    f"VM {vm.display_name} no longer exists but JIT policy '{vm.policy_name}' (resource group "
                    f"{policy_rg}) still lists it, and Azure refuses every later change to that policy with "
                    "VirtualMachineNotFound"
                ),
                "fix": (
                    f"remove the entry with azsecops.jit.jit_policy (resource_group: {policy_rg}, name: "
                    f"{vm.policy_name}, virtual_machines: [{{id: {vm.id}}}], state: absent), or run jit_policy "
                    "with remove_missing_vms: true"
                ),
            }
        )
    return rows


def _summary(
    policies: list[dict[str, Any]],
    rules: list[dict[str, Any]],
    requests: list[dict[str, Any]],
    missing: list[dict[str, Any]],
    unreadable: list[dict[str, Any]] | None = None,
    stale: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    by_state = dict.fromkeys((_ACTIVE, _EXPIRED, _ORPHANED, _DRIFTED, _SHADOWED), 0)
    by_kind: dict[str, int] = {}
    for rule in rules:
        by_state[rule["state"]] = by_state.get(rule["state"], 0) + 1
        by_kind[rule["kind"]] = by_kind.get(rule["kind"], 0) + 1
    by_status: dict[str, int] = {}
    for row in requests:
        by_status[row["status"]] = by_status.get(row["status"], 0) + 1
    in_policies = {
        _arm_key(vm["id"]) for policy in policies for vm in policy["virtual_machines"] if isinstance(vm.get("id"), str)
    }
    problems = {
        "missing_deny": sum(1 for m in missing if m["kind"] == "deny"),
        "missing_allow": sum(1 for m in missing if m["kind"] in ("allow", "dnat")),
        "shadowed": sum(1 for rule in rules if rule.get("shadowed_by")),
        "expired": by_state[_EXPIRED],
        "drifted": by_state[_DRIFTED],
        "orphaned": by_state[_ORPHANED],
        "unreadable": len(unreadable or []),
        "stale_entries": len(stale or []),
    }
    return {
        "policies": len(policies),
        "virtual_machines": len(in_policies),
        "rules": {"total": len(rules), **by_state, "by_kind": by_kind},
        "requests": {
            "total": len(requests),
            "active": sum(1 for row in requests if row["active"]),
            "by_status": by_status,
        },
        "missing": len(missing),
        "problems": {**problems, "total": sum(problems.values())},
    }
