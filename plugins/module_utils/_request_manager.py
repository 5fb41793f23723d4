# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The jit_request manager: validate against the policy, reuse active grants, initiate, wait, connect.

Private API of azsecops.jit. Reads are in bulk (one policy list per resource group, network reads
per resource group); writes are one initiate call per policy, and none when every grant is reused.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import time
import urllib.request
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ._arm_id import _arm_key, _child_of, _name_of, _rg_of
from ._errors import _azure_errors, _is_denied
from ._jit_grants import _Grant, _grants_from_policy
from ._jit_model import (
    _check_duration_bounds,
    _check_policy_name,
    _check_port_number,
    _check_resource_group,
    _JitValueError,
    _normalize_prefixes,
    _parse_duration,
    _parse_time,
    _short_duration,
    _snake,
    _VmEntry,
)
from ._network_view import _NetworkView, _VmNetwork
from ._request_model import (
    _allow_rule_names,
    _connection,
    _covering_grant,
    _dnat_rule_names,
    _initiate_body,
    _is_any_source,
    _is_young,
    _plan_vm_ports,
    _PlannedPort,
    _recorded_request,
    _result_time,
    _superseded,
    _WantedPort,
    _with_result_times,
)

if TYPE_CHECKING:  # only for types: unit tests drive the managers with a small fake module
    from ._module import _AzureJitModule


class _RequestManager:
    def __init__(self, module: _AzureJitModule) -> None:
        self.module = module
        self.params = module.params
        self.warnings: list[str] = []

    # -- input ----------------------------------------------------------------------------------------------
    def _wanted(self, subscription: str) -> list[tuple[str, list[_WantedPort] | None, str]]:
        """(VM id, wanted ports or None for all, field) per VM; validated before any call."""
        p = self.params
        _check_resource_group(p["resource_group"], "resource_group")
        if p.get("name"):
            _check_policy_name(p["name"], "name")
        if p["wait_timeout"] < 0:
            raise _JitValueError("wait_timeout", f"{p['wait_timeout']} is negative; use 0 or more seconds")
        out: list[tuple[str, list[_WantedPort] | None, str]] = []
        seen: dict[str, str] = {}
        for index, raw in enumerate(p["virtual_machines"]):
            field = f"virtual_machines[{index}]"
            entry = _VmEntry.from_params(
                {k: raw.get(k) for k in ("id", "name", "resource_group")},
                field,
                subscription_id=subscription,
                resource_group=p["resource_group"],
                require_ports=False,
            )
            if entry.key in seen:
                raise _JitValueError(field, f"VM {entry.name} is listed twice ({seen[entry.key]} and {field})")
            seen[entry.key] = field
            ports = None
            if raw.get("ports") is not None:
                if not raw["ports"]:
                    raise _JitValueError(
                        f"{field}.ports",
                        "is an empty list, which would request nothing; leave ports out to request every port of "
                        "the VM in its policy, or list the ports",
                    )
                ports = []
                for pindex, port in enumerate(raw["ports"]):
                    pfield = f"{field}.ports[{pindex}]"
                    number = _check_port_number(port.get("number"), f"{pfield}.number")
                    sources = None
                    if port.get("allowed_source") is not None:
                        sources = _normalize_prefixes(port["allowed_source"], f"{pfield}.allowed_source")
                    duration = None
                    if port.get("duration") is not None:
                        duration = _check_duration_bounds(
                            _parse_duration(port["duration"], f"{pfield}.duration"), f"{pfield}.duration"
                        )
                    ports.append(_WantedPort(number, sources, duration))
            out.append((entry.id, ports, field))
        if not out:
            raise _JitValueError("virtual_machines", "lists no VM; list the VMs to open access to")
        _check_duration_bounds(_parse_duration(p["min_remaining"], "min_remaining"), "min_remaining", low=timedelta(0))
        return out

    # -- policies -------------------------------------------------------------------------------------------
    def _policies_for(
        self, wanted: list[tuple[str, list[_WantedPort] | None, str]]
    ) -> list[tuple[dict[str, Any], list[tuple[dict[str, Any], list[_WantedPort] | None, str]]]]:
        """Group the VMs by the policy that holds them: one list call for the resource group, and one for
        the subscription only when a VM's policy lives in another resource group."""
        p = self.params
        try:
            policies = self._filtered(self.module.clients.list_policies(p["resource_group"]))
        except _azure_errors() as exc:
            self.module.fail_azure(exc, f"list the JIT policies of resource group {p['resource_group']}")
        searched = f"resource group {p['resource_group']}"
        if any(not _holders(policies, vm_id) for vm_id, _ports, _field in wanted):
            try:
                policies = self._filtered(self.module.clients.list_policies(None))
            except _azure_errors() as exc:
                if not _is_denied(exc):
                    self.module.fail_azure(exc, "list the JIT policies of the subscription")
                self.warnings.append(
                    "cannot list the JIT policies of the subscription (no Microsoft.Security/locations/"
                    f"jitNetworkAccessPolicies/read on it), so only {searched} was searched"
                )
            else:
                searched = "the subscription"
        if p.get("name") and not policies:
            self.module.fail(
                f"JIT policy {p['name']} was not found in {searched}; create it with azsecops.jit.jit_policy, or "
                "check name and location (nothing was requested)"
            )
        groups: dict[str, tuple[dict[str, Any], list[Any]]] = {}
        problems = []
        for vm_id, ports, field in wanted:
            holders = _holders(policies, vm_id)
            if not holders:
                names = ", ".join(sorted({str(x.get("name")) for x in policies})) or "none"
                problems.append(
                    f"{field}: VM {_name_of(vm_id)} is not in any JIT policy of {searched} (policies: {names}); add "
                    "it with azsecops.jit.jit_policy"
                )
                continue
            if len(holders) > 1:
                problems.append(f"{field}: VM {_name_of(vm_id)} is in several policies; set name to choose one")
                continue
            policy, vm = holders[0]
            groups.setdefault(_arm_key(policy["id"]), (policy, []))[1].append((vm, ports, field))
        if problems:
            self.module.fail("; ".join(problems) + " (nothing was requested)")
        return list(groups.values())

    def _filtered(self, policies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        p = self.params
        if p.get("location"):
            wanted = p["location"].replace(" ", "").lower()
            policies = [x for x in policies if str(x.get("location", "")).replace(" ", "").lower() == wanted]
        if p.get("name"):
            policies = [x for x in policies if str(x.get("name", "")).lower() == p["name"].lower()]
        return policies

    # -- the run -------------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        p = self.params
        try:
            wanted = self._wanted(self.module.clients.subscription_id)
            min_remaining = _parse_duration(p["min_remaining"], "min_remaining")
        except _JitValueError as exc:
            self.module.fail(f"{exc.field}: {exc.message}" if exc.field else exc.message)
        groups = self._policies_for(wanted)
        now = self.module.clients.now()
        plans: list[tuple[dict[str, Any], list[_PlannedPort]]] = []
        problems = []
        for policy, vms in groups:
            ports: list[_PlannedPort] = []
            for vm, wanted_ports, field in vms:
                try:
                    ports.extend(_plan_vm_ports(vm, wanted_ports, field, str(policy.get("name"))))
                except _JitValueError as exc:
                    problems.append(exc.message)
            plans.append((policy, ports))
        if problems:
            self.module.fail("; ".join(problems) + " (nothing was requested)")
        if p["reuse_active"]:
            short = [x for _policy, ports in plans for x in ports if x.duration <= min_remaining]
            if short:
                which = ", ".join(
                    f"VM {_name_of(x.vm_id)} port {x.number} ({_short_duration(x.duration)})" for x in short
                )
                self.module.fail(
                    f"min_remaining: {_short_duration(min_remaining)} is not shorter than the access requested for "
                    f"{which}, so that access could never be reused and every run would request it again; use a "
                    "min_remaining shorter than the duration (nothing was requested)"
                )

        view = _NetworkView(self.module.clients)
        all_ports = [port for _policy, ports in plans for port in ports]
        try:
            paths = view.resolve(sorted({port.vm_id for port in all_ports}), with_nsgs=p["wait"])
        except _azure_errors() as exc:
            self.module.fail_azure(exc, "read the network of the VMs")
        self._source_warnings(all_ports)

        reused: dict[tuple[str, int], _Grant] = {}
        pending: dict[tuple[str, int], dict[str, Any]] = {}
        if p["reuse_active"]:
            for policy, ports in plans:
                grants = _grants_from_policy(policy)
                for port in ports:
                    grant = _covering_grant(grants, port, now, min_remaining)
                    if grant is None:
                        continue
                    key = (_arm_key(port.vm_id), port.number)
                    if self._rules_hold(view, paths, port, grant, now):
                        reused[key] = grant
                    elif _is_young(grant, now):
                        # Requested moments ago (often by an earlier run with wait: false): Azure is still
                        # writing its rules. Renewing would revoke it; wait for its rules instead.
                        reused[key] = grant
                        pending[key] = {"sources": list(grant.sources), "mapped_port": grant.mapped_port}
        to_request = [
            (policy, [x for x in ports if (_arm_key(x.vm_id), x.number) not in reused]) for policy, ports in plans
        ]
        to_request = [(policy, ports) for policy, ports in to_request if ports]
        self._check_superseding(to_request, now)
        result: dict[str, Any] = {"changed": bool(to_request), "requests": [], "connections": []}
        responses: list[tuple[dict[str, Any], dict[str, Any]]] = []
        if to_request and not self.module.check_mode:
            for policy, ports in to_request:
                responses.append((policy, self._initiate(policy, ports, now)))
            now = self.module.clients.now()
        result["requests"] = [_snake(_with_result_times(r)) for _p, r in responses]
        if len(result["requests"]) == 1:
            result["request"] = result["requests"][0]
        my_ip = {(_arm_key(x.vm_id), x.number) for x in all_ports if x.sources is None}
        granted = self._granted(responses, my_ip)
        if p["wait"] and (responses or pending):
            self._wait(view, paths, {**pending, **granted}, responses)
            now = self.module.clients.now()
        result["connections"] = self._connections(plans, reused, granted, paths, view, now)
        callers = sorted({g["source"] for g in granted.values() if g.get("my_ip") and g.get("source")})
        if callers:
            result["caller_ip"] = callers[0] if len(callers) == 1 else callers
        return result

    # -- writes ------------------------------------------------------------------------------------------
    def _initiate(self, policy: dict[str, Any], ports: list[_PlannedPort], now: datetime) -> dict[str, Any]:
        rg, location, name = _policy_parts(policy)
        body = _initiate_body(ports, now, self.params.get("justification"))
        doing = f"request access through JIT policy {name}"
        try:
            return self.module.clients.initiate(rg, location, name, body)
        except _azure_errors() as exc:
            # Anything but a broken connection is final. Initiate is a POST, which azure-core retries on
            # neither connection error (its RetryPolicy retries errors only for the methods of its allowlist):
            # after ServiceResponseError Azure may or may not have recorded the request; ServiceRequestError
            # (e.g. the connection closed while the request was being sent) says it was not sent, but the
            # policy is the one place to be sure. If Azure stays unreachable, that read fails too and the
            # first error is reported.
            from azure.core.exceptions import ServiceRequestError, ServiceResponseError

            # isinstance, so the timeouts (ServiceRequestTimeoutError, ServiceResponseTimeoutError) count too.
            if not isinstance(exc, (ServiceRequestError, ServiceResponseError)):
                self.module.fail_azure(exc, doing)
            lost = exc
        try:
            current = self.module.clients.get_policy(rg, location, name)
            recorded = _recorded_request((current.get("properties") or {}).get("requests"), body, now)
        except _azure_errors():
            self.module.fail_azure(lost, doing)
        if recorded is not None:
            self.warnings.append(
                f"The connection broke before Azure answered the request through JIT policy {name}; the policy"
                " shows it was recorded, so it was not sent again."
            )
            return recorded
        self.warnings.append(
            f"The connection broke before Azure answered the request through JIT policy {name}; the policy does"
            " not show it, so it was sent once more."
        )
        try:
            return self.module.clients.initiate(rg, location, name, body)
        except _azure_errors() as exc:
            self.module.fail_azure(exc, doing)

    def _check_superseding(self, to_request: list[tuple[dict[str, Any], list[_PlannedPort]]], now: datetime) -> None:
        """Azure revokes an active grant of a VM port when a newer request for it is made: say whose and what
        they lose, or refuse (replace_active: false) before anything is requested."""
        me = self._caller()
        lines: list[str] = []
        others = False
        for policy, ports in to_request:
            grants = _grants_from_policy(policy)
            for port in ports:
                for grant in _superseded(grants, port, now):
                    who, someone_else = _whose(grant.requestor, me)
                    others = others or someone_else
                    end = grant.end or now
                    left = _short_duration(timedelta(minutes=max(1, round((end - now).total_seconds() / 60))))
                    lines.append(
                        f"VM {_name_of(port.vm_id)} port {port.number}: the active access of {who} from "
                        f"{', '.join(grant.sources)} ({left} left, until {_result_time(grant.end or now)})"
                    )
        if not lines:
            return
        if others and not self.params["replace_active"]:
            self.module.fail(
                "replace_active is false and this request would end access someone else holds (Azure revokes the "
                f"older grant of a VM port when a newer one is made): {'; '.join(lines)}. Wait until it ends, agree "
                "with them, or set replace_active: true (nothing was requested)"
            )
        self.warnings.append(
            "this request replaces, and so ends, " + "; ".join(lines) + " (Azure revokes the older grant of a VM "
            "port when a newer one is made; set replace_active: false to refuse instead)"
        )

    def _caller(self) -> str | None:
        """The signed-in user's name as Azure records it in `requestor`, or None for a service principal."""
        claims = self.module.clients.token_claims()
        name = claims.get("upn") or claims.get("unique_name") or claims.get("preferred_username")
        return str(name) if name and claims.get("idtyp") != "app" else None

    def _granted(
        self, responses: list[tuple[dict[str, Any], dict[str, Any]]], my_ip: set[tuple[str, int]]
    ) -> dict[tuple[str, int], dict[str, Any]]:
        """The grants Azure returned, by (VM key, port); `my_ip` are the ports asked without a source."""
        out: dict[tuple[str, int], dict[str, Any]] = {}
        for _policy, response in responses:
            start = _parse_time(response.get("startTimeUtc"), "startTimeUtc")
            for vm in response.get("virtualMachines") or []:
                for port in vm.get("ports") or []:
                    sources = port.get("allowedSourceAddressPrefixes") or [port.get("allowedSourceAddressPrefix")]
                    out[(_arm_key(vm["id"]), int(port["number"]))] = {
                        "start": start,
                        "end": _parse_time(port.get("endTimeUtc"), "endTimeUtc"),
                        "sources": [s for s in sources if s],
                        "source": (sources or [None])[0],
                        "mapped_port": port.get("mappedPort"),
                        "status": port.get("status"),
                        "my_ip": (_arm_key(vm["id"]), int(port["number"])) in my_ip,
                    }
        return out

    # -- waiting for the rules ----------------------------------------------------------------------------
    def _rules_hold(
        self, view: _NetworkView, paths: dict[str, _VmNetwork], port: _PlannedPort, grant: _Grant, now: datetime
    ) -> bool:
        """An active grant is reusable only if its allow rules are still there (when we can see them)."""
        path = paths.get(_arm_key(port.vm_id))
        if path is None or not self.params["wait"]:
            return True
        missing = self._missing(view, path, port.number, list(grant.sources), grant.mapped_port)
        if missing is None:
            return True
        if missing and _is_young(grant, now):
            return False  # the caller waits for a young grant's rules rather than renewing it
        if missing:
            self.warnings.append(
                f"VM {path.name} port {port.number} has an active grant but its rules are gone "
                f"({'; '.join(missing)}); requesting access again"
            )
            return False
        return True

    def _missing(
        self, view: _NetworkView, path: _VmNetwork, number: int, sources: list[str] | None, mapped: int | None
    ) -> list[str] | None:
        """What is missing for a grant, or None when the NSGs cannot be read."""
        if not path.private_ip:
            return None
        missing = []
        for scope, nsg_id in path.nsg_ids:
            nsg = view.nsg(nsg_id)
            if nsg is None:
                return None
            if not _allow_rule_names(nsg, path.private_ip, number, sources):
                missing.append(f"allow rule for port {number} in {scope} NSG {nsg_id.rsplit('/', 1)[-1]}")
        if path.firewall_id and not path.firewall_managed and mapped:
            firewall = view.firewall(path.firewall_id)
            if firewall is not None and not _dnat_rule_names(firewall, path.private_ip, number, mapped):
                missing.append(f"DNAT rule {mapped}->{number} on firewall {path.firewall_id.rsplit('/', 1)[-1]}")
        if not path.complete and not path.nsg_ids:
            return None
        return missing

    def _wait(
        self,
        view: _NetworkView,
        paths: dict[str, _VmNetwork],
        granted: dict[tuple[str, int], dict[str, Any]],
        responses: list[tuple[dict[str, Any], dict[str, Any]]],
    ) -> None:
        deadline = time.monotonic() + self.params["wait_timeout"]
        delay = 1.0
        blind = [key for key in granted if paths.get(key[0]) is None or not paths[key[0]].complete]
        if blind:
            names = sorted({paths[k[0]].name if k[0] in paths else k[0].rsplit("/", 1)[-1] for k in blind})
            denied = ", ".join(view.denied) or "they are not visible"
            self.warnings.append(
                f"cannot read the network security groups of {', '.join(names)} (not authorized to read {denied}; "
                "neither the least-privilege JIT requester role nor Security Admin can); waited for the request's "
                "status in the policy "
                "instead of the rules themselves"
            )
        while True:
            missing: list[str] = []
            for (vm_key, number), grant in granted.items():
                path = paths.get(vm_key)
                if path is None or not path.complete:
                    continue
                sources = grant["sources"] or None
                gaps = self._missing(view, path, number, sources, grant.get("mapped_port"))
                missing.extend(f"VM {path.name}: {gap}" for gap in gaps or [])
            if blind:
                missing.extend(self._status_gaps(responses, blind))
            if not missing:
                return
            if time.monotonic() + delay > deadline:
                self.module.fail(
                    f"timed out after {self.params['wait_timeout']}s waiting for the JIT rules: {'; '.join(missing)}"
                    " (the access request was made; Azure may still be applying it)",
                    changed=True,
                    requests=[_snake(r) for _p, r in responses],
                )
            time.sleep(delay)
            delay = min(delay * 2, 10.0)
            view.refresh()
            for vm_key in {k[0] for k in granted}:
                path = paths.get(vm_key)
                if path is not None:
                    for _scope, nsg_id in path.nsg_ids:
                        view.load_nsgs(_rg_of(nsg_id))
                    if path.firewall_id:
                        view.load_firewalls(_rg_of(path.firewall_id))

    def _status_gaps(
        self, responses: list[tuple[dict[str, Any], dict[str, Any]]], blind: list[tuple[str, int]]
    ) -> list[str]:
        """Ports whose request is not yet Initiated in the policy's log (for principals blind to NSGs)."""
        try:
            policies = {_arm_key(x["id"]): x for x in self.module.clients.list_policies(self.params["resource_group"])}
        except _azure_errors() as exc:
            self.module.fail_azure(exc, "read the JIT policy while waiting for the request")
        gaps = []
        for policy, response in responses:
            current = policies.get(_arm_key(policy["id"])) or {}
            log = (current.get("properties") or {}).get("requests") or []
            mine = next((r for r in reversed(log) if r.get("startTimeUtc") == response.get("startTimeUtc")), None)
            for vm_key, number in blind:
                status = None
                for vm in (mine or {}).get("virtualMachines") or []:
                    if _arm_key(vm.get("id", "")) == vm_key:
                        status = next(
                            (x.get("status") for x in vm.get("ports") or [] if x.get("number") == number), None
                        )
                if status is not None and str(status).lower() != "initiated":
                    gaps.append(f"VM {_name_of(vm_key)} port {number}: request status {status}")
        return gaps

    # -- results --------------------------------------------------------------------------------------------
    def _connections(
        self,
        plans: list[tuple[dict[str, Any], list[_PlannedPort]]],
        reused: dict[tuple[str, int], _Grant],
        granted: dict[tuple[str, int], dict[str, Any]],
        paths: dict[str, _VmNetwork],
        view: _NetworkView,
        now: datetime,
    ) -> list[dict[str, Any]]:
        out = []
        for _policy, ports in plans:
            for port in ports:
                key = (_arm_key(port.vm_id), port.number)
                path = paths.get(key[0]) or _VmNetwork(vm_id=port.vm_id, name=_name_of(port.vm_id))
                if key in reused:
                    grant = reused[key]
                    # A reusable grant has a readable end time (see _covering_grant).
                    start, end = grant.start or now, grant.end or now
                    sources, mapped = list(grant.sources), grant.mapped_port
                elif key in granted:
                    g = granted[key]
                    start, end, sources, mapped = g["start"], g["end"], g["sources"], g["mapped_port"]
                else:  # check mode: what the request would give
                    start, end = now, now + port.duration
                    sources, mapped = list(port.sources or []), None
                rules: list[dict[str, str]] = []
                if path.private_ip:
                    for scope, nsg_id in path.nsg_ids:
                        nsg = view.nsg(nsg_id)
                        if nsg is not None:
                            for name in _allow_rule_names(nsg, path.private_ip, port.number, sources or None):
                                rules.append({"name": name, "scope": scope, "nsg": nsg_id})
                    if path.firewall_id and mapped:
                        firewall = view.firewall(path.firewall_id)
                        if firewall is not None:
                            for name in _dnat_rule_names(firewall, path.private_ip, port.number, mapped):
                                rules.append({"name": name, "scope": "firewall", "firewall": path.firewall_id})
                firewall_ip = path.firewall_public_ip if not path.firewall_managed else None
                out.append(
                    _connection(
                        vm_id=path.vm_id,
                        number=port.number,
                        protocol=port.protocol,
                        sources=sources,
                        start=start,
                        end=end,
                        now=now,
                        private_ip=path.private_ip,
                        public_ip=path.public_ip,
                        firewall_ip=firewall_ip,
                        mapped_port=mapped,
                        rules=rules,
                        reused=key in reused,
                    )
                )
        unknown = sorted({c["vm"] for c in out if c["address"] is None})
        if unknown:
            self.warnings.append(
                f"the address of {', '.join(unknown)} is unknown (connections[].address is null): the principal "
                "cannot read the VM, its network interface or public IP. Reader on the resource group, or "
                "Microsoft.Compute/virtualMachines/read, Microsoft.Network/networkInterfaces/read and "
                "Microsoft.Network/publicIPAddresses/read, would show it"
            )
        return out

    def _source_warnings(self, ports: list[_PlannedPort]) -> None:
        for port in ports:
            name = _name_of(port.vm_id)
            if port.sources is not None and _is_any_source(port.sources):
                self.warnings.append(
                    f"VM {name} port {port.number} is opened to any source ({', '.join(port.sources)}): anyone on "
                    "the Internet can reach it for the whole duration; give allowed_source"
                )
        if any(port.sources is None for port in ports):
            hint = _egress_hint(self.module.clients.cloud.resource_manager, os.environ)
            if hint:
                self.warnings.append(
                    f"no allowed_source given: Azure opens the port to the address it sees this request come from "
                    f'("My IP"), and {hint}; if your SSH/RDP traffic leaves through another address, give '
                    "allowed_source (the full range of your proxy or NAT)"
                )


def _holders(policies: list[dict[str, Any]], vm_id: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [
        (policy, vm)
        for policy in policies
        for vm in (policy.get("properties") or {}).get("virtualMachines") or []
        if _arm_key(str(vm.get("id", ""))) == _arm_key(vm_id)
    ]


def _whose(requestor: str, me: str | None) -> tuple[str, bool]:
    """How to name a grant's requestor, and whether it is surely someone else's.

    Azure records a user's sign-in name and an empty requestor for service principals, so two service
    principals cannot be told apart.
    """
    if requestor:
        return requestor, me is None or requestor.lower() != me.lower()
    if me is not None:
        return "a service principal (Azure records no name for them)", True
    return "a service principal (possibly this one: Azure records no name for them)", False


def _policy_parts(policy: Mapping[str, Any]) -> tuple[str, str, str]:
    """Resource group, location and name of a JIT policy, for the SDK calls that take them apart."""
    location = str(policy.get("location") or _child_of(policy["id"], "locations"))
    return _rg_of(policy["id"]), location, str(policy["name"])


def _egress_hint(resource_manager: str, env: Mapping[str, str]) -> str | None:
    """Why "My IP" may not match the SSH/RDP source: a proxy in the way to Azure, or a private (NATed) address."""
    host = urlsplit(resource_manager).hostname or "management.azure.com"
    proxies = {
        k.lower()[:-6]: v for k, v in env.items() if k.lower().endswith("_proxy") and v and k.lower() != "no_proxy"
    }
    no_proxy = env.get("no_proxy") or env.get("NO_PROXY") or ""
    # proxy_bypass_environment is in urllib.request (and used by requests) but missing from typeshed.
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    bypassed = bypass(host, {"no": no_proxy}) if no_proxy else False
    for scheme in ("https", "all", "http"):
        if proxies.get(scheme) and not bypassed:
            var = next(k for k in env if k.lower() == f"{scheme}_proxy")
            return f"this controller reaches Azure through a proxy ({var}), so Azure sees the proxy's address"
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect((host, 443))  # UDP connect sends nothing; it only picks the outgoing address
            local = ipaddress.ip_address(probe.getsockname()[0])
    except (OSError, ValueError):
        return None
    if local.is_private and not local.is_loopback:
        return f"this controller's address {local} is private, so it reaches Azure through NAT"
    return None
