# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The jit_diagnose manager: the troubleshooting guides' checks, in their order, as findings and a verdict.

Private API of azsecops.jit. The order follows Microsoft's guides: is the VM eligible and configured (the
"VM not recommended for JIT" checklist), may the caller request (the "JIT access request failure"
permissions), is there a live request for the port and the source, do the JIT allow rules exist on every
NSG on the path, right and unshadowed, and the firewall's DNAT rule (the "can't connect after creating a
JIT access request" checklist), then the verdict of Network Watcher's IP flow verify (or the collection's own
evaluation), the Activity Log's failed JIT operations, and the "My IP" hint.

Each check is a pure function of what the inventory read (`_VmReport`, the policy's request log, the caller's
permissions, Azure's clock) returning one finding; the manager only reads. The first ``problem`` in that
order is the verdict's cause.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ._arm_id import _arm_key, _rg_of
from ._errors import _azure_errors, _is_denied, _roles_for
from ._facts_manager import _message
from ._jit_grants import _Grant, _grants_from_policy, _show_time
from ._jit_model import (
    _check_port_number,
    _check_resource_group,
    _check_vm_name,
    _is_subset,
    _JitValueError,
    _normalize_prefix,
    _parse_vm_id,
)
from ._network_view import _wire
from ._nsg_rules import _firewall_jit_rules, _nsg_jit_rules, _ports_cover
from ._reachability import _evaluate_nsg, _evaluate_path, _Flow, _PathVerdict
from ._rule_names import _jit_rule_kind
from ._vm_info_manager import _CONFIGURED, _UNSUPPORTED, _classify, _Inventory, _name, _VmReport

if TYPE_CHECKING:
    from ._module import _AzureJitModule

_OK = "ok"
_PROBLEM = "problem"
_WARNING = "warning"
_SKIPPED = "skipped"

_INITIATE = "Microsoft.Security/locations/jitNetworkAccessPolicies/initiate/action"
# What the documented least-privilege requester role holds besides initiate (seed: "JIT Access request
# failure"; https://learn.microsoft.com/azure/defender-for-cloud/just-in-time-access-overview#permissions).
_REQUEST_READS = (
    "Microsoft.Security/locations/jitNetworkAccessPolicies/read",
    "Microsoft.Compute/virtualMachines/read",
    "Microsoft.Network/networkInterfaces/read",
    "Microsoft.Network/publicIPAddresses/read",
)
_ACTIVITY_API_VERSION = "2015-04-01"
# A documentation address (RFC 5737) standing for "any Internet source" when neither the task nor the
# request names one.
_ANY_SOURCE_STANDIN = "203.0.113.1"


@dataclasses.dataclass
class _Finding:
    check: str
    status: str
    message: str
    cause: str | None = None  # machine-readable, for problems
    fix: str | None = None
    evidence: dict[str, Any] = dataclasses.field(default_factory=dict)

    def result(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "status": self.status,
            "cause": self.cause,
            "message": self.message,
            "fix": self.fix,
            "evidence": self.evidence,
        }


# ---------------------------------------------------------------------------------------------------
# Pure checks
# ---------------------------------------------------------------------------------------------------


def _check_eligibility(report: _VmReport, state: str, code: str | None, reason: str | None) -> _Finding:
    if state == _UNSUPPORTED:
        fixes = {
            "classic_vm": "migrate the VM to Azure Resource Manager; JIT does not support classic VMs",
            "no_nsg_or_firewall": "attach a network security group to the VM's NIC or subnet",
            "plan_not_p2": "enable Microsoft Defender for Servers Plan 2 (pricing VirtualMachines: Standard, P2)",
            "firewall_policy": "add a network security group to the VM's NIC or subnet",
            "region": "configure the VM in a JIT policy of its own region",
        }
        return _Finding("eligibility", _PROBLEM, str(reason), code, fixes.get(str(code)), {"reason_code": code})
    return _Finding("eligibility", _OK, f"VM {report.name} is eligible for just-in-time access ({state})")


def _check_policy(report: _VmReport, port: int) -> _Finding:
    if report.policy is None or report.entry is None:
        return _Finding(
            "policy",
            _PROBLEM,
            f"VM {report.name} is in no JIT policy",
            "no_policy",
            "add it with azsecops.jit.jit_policy",
        )
    ports = [p.number for p in report.entry.ports]
    evidence = {"policy": report.policy.get("id"), "ports": ports}
    if port not in ports:
        return _Finding(
            "policy",
            _PROBLEM,
            f"port {port} is not in JIT policy {report.policy.get('name')} for VM {report.name} (its ports: "
            f"{', '.join(str(p) for p in ports) or 'none'})",
            "port_not_in_policy",
            f"add port {port} to the VM's entry with azsecops.jit.jit_policy",
            evidence,
        )
    return _Finding("policy", _OK, f"port {port} is in JIT policy {report.policy.get('name')}", evidence=evidence)


def _action_allowed(action: str, permissions: Sequence[Mapping[str, Any]]) -> bool:
    """ARM's evaluation of `Microsoft.Authorization/permissions`: an action allowed by some entry's actions and
    not removed by that entry's notActions (https://learn.microsoft.com/azure/role-based-access-control/
    role-definitions#notactions). ``*`` matches any run of characters, case-insensitively."""
    for entry in permissions:
        allowed = any(_pattern(p).fullmatch(action) for p in entry.get("actions") or [])
        removed = any(_pattern(p).fullmatch(action) for p in entry.get("notActions") or [])
        if allowed and not removed:
            return True
    return False


def _pattern(text: str) -> re.Pattern[str]:
    # "/*/" also matches a single "/": ".../jitNetworkAccessPolicies/*/read" grants ".../read" of the policy.
    parts = [re.escape(piece) for piece in str(text).split("*")]
    regex = ".*".join(parts).replace("/.*/", "/(?:.*/)?")
    return re.compile(regex, re.IGNORECASE)


def _check_permissions(permissions: Sequence[Mapping[str, Any]] | None, error: str | None) -> _Finding:
    if permissions is None:
        return _Finding(
            "permissions",
            _WARNING,
            f"cannot read the caller's permissions at the VM's scope: {error}",
            fix="run with a principal that may read Microsoft.Authorization/permissions",
        )
    missing_initiate = not _action_allowed(_INITIATE, permissions)
    missing_reads = [a for a in _REQUEST_READS if not _action_allowed(a, permissions)]
    evidence = {"missing_actions": ([_INITIATE] if missing_initiate else []) + missing_reads}
    if missing_initiate:
        return _Finding(
            "permissions",
            _PROBLEM,
            f"the caller may not request JIT access: {_INITIATE} is not granted at the VM's scope",
            "missing_permission",
            f"assign one of: {_roles_for(_INITIATE)}",
            {**evidence, "roles": _roles_for(_INITIATE)},
        )
    if missing_reads:
        return _Finding(
            "permissions",
            _WARNING,
            f"the caller may request JIT access but may not read {', '.join(missing_reads)}; the portal and "
            "jit_request cannot show the connection details",
            fix="add the read actions of Microsoft's least-privilege JIT role",
            evidence=evidence,
        )
    return _Finding("permissions", _OK, "the caller may request JIT access for this VM", evidence=evidence)


def _grants_for(policy: Mapping[str, Any] | None, vm_id: str, port: int) -> list[_Grant]:
    if policy is None:
        return []
    key = _arm_key(vm_id)
    grants = [g for g in _grants_from_policy(policy) if g.vm_key == key and g.number == port]
    return sorted(grants, key=lambda g: (g.start_text, g.sequence))


def _newest(grants: Sequence[_Grant]) -> _Grant | None:
    return max(grants, key=lambda g: (g.start_text, g.sequence)) if grants else None


def _check_request(
    grants: Sequence[_Grant], source: str | None, now: datetime, port: int
) -> tuple[_Finding, _Grant | None]:
    live = [g for g in grants if not g.ended(now)]
    if not live:
        last = _newest(grants)
        if last is None:
            return (
                _Finding(
                    "request",
                    _PROBLEM,
                    f"no JIT request was ever made for port {port} of this VM",
                    "no_request",
                    "request access with azsecops.jit.jit_request",
                ),
                None,
            )
        evidence = _grant_evidence(last, now)
        if last.status_reason.lower() == "newerrequestinitiated":
            return (
                _Finding(
                    "request",
                    _PROBLEM,
                    f"the last request ({last.start_text} by {last.requestor or 'a service principal'}) was superseded "
                    "by a newer request that has ended too",
                    "request_superseded",
                    "request access again with azsecops.jit.jit_request",
                    evidence,
                ),
                None,
            )
        return (
            _Finding(
                "request",
                _PROBLEM,
                f"the last request for port {port} ({last.start_text} by {last.requestor or 'a service principal'}) "
                f"has ended ({last.status}/{last.status_reason or 'Expired'}, end {last.end_text}; Azure's clock "
                f"says {_show_time(now)})",
                "request_expired",
                "request access again with azsecops.jit.jit_request",
                evidence,
            ),
            None,
        )
    grant = max(live, key=lambda g: (g.start_text, g.sequence))
    evidence = _grant_evidence(grant, now)
    if source and not _is_subset(source, list(grant.sources)):
        older = [g for g in grants if g is not grant and g.status_reason.lower() == "newerrequestinitiated"]
        covering = [g for g in older if _is_subset(source, list(g.sources))]
        if covering:
            mine = max(covering, key=lambda g: (g.start_text, g.sequence))
            return (
                _Finding(
                    "request",
                    _PROBLEM,
                    f"your request from {', '.join(mine.sources)} ({mine.start_text}) was superseded by a newer "
                    f"request by {grant.requestor or 'a service principal'} from {', '.join(grant.sources)} "
                    f"({grant.start_text}): only the newest request for a port keeps its rule",
                    "request_superseded",
                    "request access again (for both sources at once, if both need it)",
                    {**evidence, "superseded": _grant_evidence(mine, now)},
                ),
                grant,
            )
        return (
            _Finding(
                "request",
                _PROBLEM,
                f"the live request opens port {port} for {', '.join(grant.sources)}, which does not include the "
                f"source {source}",
                "source_not_covered",
                f"request access for {source} (or the range you connect from)",
                evidence,
            ),
            grant,
        )
    return (
        _Finding(
            "request",
            _OK,
            f"a live request by {grant.requestor or 'a service principal'} opens port {port} for "
            f"{', '.join(grant.sources)} until {grant.end_text}",
            evidence=evidence,
        ),
        grant,
    )


def _grant_evidence(grant: _Grant, now: datetime) -> dict[str, Any]:
    return {
        "start_time_utc": grant.start_text,
        "end_time_utc": grant.end_text,
        "requestor": grant.requestor,
        "allowed_source": list(grant.sources),
        "status": grant.status,
        "status_reason": grant.status_reason,
        "seconds_left": grant.seconds_left(now),
    }


def _flow_source(source: str | None, grant: _Grant | None) -> str:
    """The address to evaluate: the task's source, else the request's first address, else an Internet stand-in."""
    if source:
        return source
    for prefix in grant.sources if grant else ():
        try:
            network = ipaddress.ip_network(prefix, strict=False)
        except ValueError:
            continue
        return str(network.network_address if network.num_addresses == 1 else next(network.hosts()))
    return _ANY_SOURCE_STANDIN


def _check_allow_rules(report: _VmReport, grant: _Grant | None, port: int, flow: _Flow) -> _Finding:
    """Seed "can't connect": on every NSG of the path a JIT allow rule for the port, protocol, source,
    destination (the private IP) and access Allow, not outranked by a deny rule."""
    net = report.network
    if not report.nsgs_in_order:
        return _Finding("allow_rules", _SKIPPED, "no NSG on the VM's path")
    if grant is None:
        return _Finding("allow_rules", _SKIPPED, "no live request, so no allow rule is expected")
    private_ip = net.private_ip if net else None
    # Whether a deny rule outranks the allow rule is judged for a source the request covers (a source it does
    # not cover is the request check's finding, and JIT's own deny rule rightly stops it).
    probe = (
        flow
        if _is_subset(flow.source, list(grant.sources))
        else dataclasses.replace(flow, source=_flow_source(None, grant))
    )
    for nsg in report.nsgs_in_order:
        nsg_name = _name(nsg.get("id"))
        allows = [
            r
            for r in _nsg_jit_rules(nsg)
            if r.kind == "allow"
            and ((r.vm_name or "").lower() == report.name.lower() or (private_ip and private_ip in r.destinations))
        ]
        mine = [r for r in allows if _ports_cover(r.ports, port)]
        if not mine:
            return _Finding(
                "allow_rules",
                _PROBLEM,
                f"no JIT allow rule for port {port} of VM {report.name} on NSG {nsg_name}",
                "allow_rule_missing",
                "check the Activity Log for a failed request and request access again",
                {"nsg": nsg_name},
            )
        rule = mine[0]
        wrong = []
        if private_ip and private_ip not in rule.destinations:
            wrong.append(f"destination {', '.join(rule.destinations)} instead of the private IP {private_ip}")
        if rule.access.lower() != "allow":
            wrong.append(f"access {rule.access}")
        if not _is_subset(list(grant.sources), list(rule.sources)):
            wrong.append(f"source {', '.join(rule.sources)} instead of {', '.join(grant.sources)}")
        evidence = {"nsg": nsg_name, "rule": rule.name, "priority": rule.priority}
        if wrong:
            return _Finding(
                "allow_rules",
                _PROBLEM,
                f"JIT allow rule {rule.name} on NSG {nsg_name} has drifted: {'; '.join(wrong)}",
                "allow_rule_drifted",
                "request access again: JIT writes a fresh allow rule (and never edit JIT's rules by hand)",
                evidence,
            )
        hit = _evaluate_nsg(nsg, probe, report.vnet_prefixes, "")
        if hit.access != "Allow" and not hit.default and _jit_rule_kind(hit.name) is None:
            return _Finding(
                "allow_rules",
                _PROBLEM,
                f"deny rule {hit.name} (priority {hit.priority}) on NSG {nsg_name} outranks JIT allow rule "
                f"{rule.name} (priority {rule.priority})",
                "deny_rule_outranks",
                f"give rule {hit.name} a priority number above {rule.priority}, or narrow it",
                {**evidence, "deny_rule": hit.name, "deny_priority": hit.priority},
            )
    return _Finding(
        "allow_rules",
        _OK,
        f"a JIT allow rule for port {port} is on every NSG on the path ({len(report.nsgs_in_order)})",
    )


def _check_firewall(report: _VmReport, firewall: Mapping[str, Any] | None, grant: _Grant | None, port: int) -> _Finding:
    net = report.network
    if net is None or not net.firewall_id or net.firewall_managed:
        return _Finding("firewall", _SKIPPED, "no classic-rules Azure Firewall on the VM's path")
    if grant is None:
        return _Finding("firewall", _SKIPPED, "no live request, so no DNAT rule is expected")
    rules = [
        r
        for r in _firewall_jit_rules(firewall or {})
        if r.translated_address == net.private_ip and r.translated_port == str(port)
    ]
    fw_name = _name(net.firewall_id)
    if not rules:
        return _Finding(
            "firewall",
            _PROBLEM,
            f"no JIT DNAT rule on Azure Firewall {fw_name} maps to {net.private_ip}:{port}",
            "dnat_rule_missing",
            "request access again; JIT adds the DNAT rule with the request",
            {"firewall": fw_name},
        )
    rule = rules[0]
    mapped = rule.ports[0] if rule.ports else None
    return _Finding(
        "firewall",
        _OK,
        f"DNAT rule {rule.name} on {fw_name}: {net.firewall_public_ip}:{mapped} -> {net.private_ip}:{port}",
        evidence={"firewall": fw_name, "rule": rule.name, "public_ip": net.firewall_public_ip, "mapped_port": mapped},
    )


def _flow_finding(verdict: _PathVerdict | None, via: str, rule_name: str | None, source: str, port: int) -> _Finding:
    evidence = {"via": via, "source": source, "rule": rule_name}
    if verdict is None:
        return _Finding("flow", _WARNING, "the traffic could not be evaluated", evidence=evidence)
    if verdict.allowed:
        return _Finding(
            "flow",
            _OK,
            f"{via}: TCP from {source} to port {port} is allowed ({rule_name or 'no NSG'})",
            evidence=evidence,
        )
    return _Finding(
        "flow",
        _PROBLEM,
        f"{via}: TCP from {source} to port {port} is denied by {rule_name or 'the NSG'}",
        "flow_denied",
        "allow the traffic on the NSG (or request access for this source)",
        evidence,
    )


def _check_activity(events: Sequence[Mapping[str, Any]] | None, error: str | None, report: _VmReport) -> _Finding:
    if events is None:
        return _Finding(
            "activity_log",
            _WARNING,
            f"cannot read the Activity Log: {error}",
            fix="grant Microsoft.Insights/eventtypes/values/read (Reader has it) to see failed requests",
        )
    failed = []
    for event in events:
        operation = str((event.get("operationName") or {}).get("value") or "")
        status = str((event.get("status") or {}).get("value") or "")
        if "jitnetworkaccesspolicies" not in operation.lower() or status.lower() != "failed":
            continue
        message = str((event.get("properties") or {}).get("statusMessage") or "")
        if report.policy is not None and _arm_key(str(event.get("resourceId"))) != _arm_key(
            str(report.policy.get("id"))
        ):
            if report.name.lower() not in message.lower():
                continue
        failed.append(
            {
                "time": event.get("eventTimestamp"),
                "operation": operation,
                "caller": event.get("caller"),
                "status": (event.get("subStatus") or {}).get("value"),
                "message": _error_message(message),
            }
        )
    if failed:
        return _Finding(
            "activity_log",
            _WARNING,
            f"{len(failed)} failed JIT operation(s) in the Activity Log; the latest: {failed[0]['operation']} by "
            f"{failed[0]['caller']}: {failed[0]['message']}",
            fix="read the failures' messages: each names what Azure refused",
            evidence={"failed_operations": failed},
        )
    return _Finding("activity_log", _OK, "no failed JIT operation in the Activity Log for this VM's policy")


def _error_message(status_message: str) -> str:
    import json

    try:
        body = json.loads(status_message)
    except ValueError:
        return status_message
    error = body.get("error") if isinstance(body, dict) else None
    return str(error.get("message") if isinstance(error, dict) else status_message)


def _check_my_ip(source: str | None, grant: _Grant | None) -> _Finding:
    if grant is None:
        return _Finding("my_ip", _SKIPPED, "no live request to compare the source with")
    single = [p for p in grant.sources if "/" not in p or p.endswith("/32")]
    if source and not _is_subset(source, list(grant.sources)):
        return _Finding(
            "my_ip",
            _WARNING,
            f"you connect from {source} but the request allows {', '.join(grant.sources)}. A request without a "
            "source uses the caller's address as Azure sees it (My IP); behind a proxy or NAT that is not the "
            "address you connect from",
            fix="request your organisation's public range, or source any (*)",
        )
    if single and len(single) == len(grant.sources):
        return _Finding(
            "my_ip",
            _OK,
            f"the request allows the single address {', '.join(single)}; if you connect through a proxy, My IP may "
            "not be the address the VM sees",
        )
    return _Finding("my_ip", _OK, "the request's source covers where you connect from")


# ---------------------------------------------------------------------------------------------------
# The manager
# ---------------------------------------------------------------------------------------------------


def _target(params: Mapping[str, Any]) -> tuple[str | None, str, str | None]:
    """(resource group, VM name, VM id) from the virtual_machine option, validated before any call."""
    vm = params["virtual_machine"]
    if vm.get("id"):
        _sub, rg, name = _parse_vm_id(vm["id"], "virtual_machine.id")
        return rg, name, vm["id"]
    if not vm.get("name") or not vm.get("resource_group"):
        raise _JitValueError("virtual_machine", "give id, or name and resource_group")
    return (
        _check_resource_group(vm["resource_group"], "virtual_machine.resource_group"),
        _check_vm_name(vm["name"], "virtual_machine.name"),
        None,
    )


class _DiagnoseManager:
    def __init__(self, module: _AzureJitModule) -> None:
        self.module = module
        self.params = module.params
        self.warnings: list[str] = []

    def run(self) -> dict[str, Any]:
        try:
            rg, name, vm_id = _target(self.params)
            port = _check_port_number(self.params["port"], "port")
            source = self.params.get("source")
            if source:
                source = _normalize_prefix(source, "source")
        except _JitValueError as exc:
            self.module.fail(str(exc))
        clients = self.module.clients
        inventory = _Inventory(self.module, self.warnings)
        try:
            reports = inventory.load([str(rg)], [name] if vm_id is None else [], [vm_id] if vm_id else [])
        except _azure_errors() as exc:
            self.module.fail_azure(exc, f"read VM {name} and its network")
        report = next((r for r in reports if r.name.lower() == name.lower()), None)
        if report is None:
            self.module.fail(f"virtual_machine: VM {name} was not found in resource group {rg}")
        now = clients.now()
        state, code, reason = _classify(report, inventory.plan, None)
        findings = [_check_eligibility(report, state, code, reason)]
        policy_ok = state == _CONFIGURED
        findings.append(_check_policy(report, port) if state != _UNSUPPORTED or report.policy else _skip("policy"))
        permissions, perm_error = self._permissions(report.vm_id)
        findings.append(_check_permissions(permissions, perm_error))
        grants = _grants_for(report.policy, report.vm_id, port)
        grant = None
        if policy_ok and findings[1].status == _OK:
            request_finding, grant = _check_request(grants, source, now, port)
            findings.append(request_finding)
        else:
            findings.append(_skip("request"))
        flow_source = _flow_source(source, grant)
        net = report.network
        private_ip = net.private_ip if net else None
        flow = _Flow(flow_source, private_ip or "0.0.0.0", port)  # noqa: S104 - an address, not a bind
        findings.append(_check_allow_rules(report, grant, port, flow) if private_ip else _skip("allow_rules"))
        firewall = inventory.view.firewall(net.firewall_id) if net and net.firewall_id else None
        findings.append(_check_firewall(report, firewall, grant, port))
        findings.append(self._flow(report, flow) if private_ip and not report.classic else _skip("flow"))
        events, events_error = self._activity(report, now)
        findings.append(_check_activity(events, events_error, report))
        findings.append(_check_my_ip(source, grant))
        first = next((f for f in findings if f.status == _PROBLEM), None)
        connect = None
        if grant is not None and net is not None:
            fw = next((f for f in findings if f.check == "firewall" and f.status == _OK), None)
            if fw is not None:
                connect = {"address": fw.evidence["public_ip"], "port": int(fw.evidence["mapped_port"])}
            else:
                connect = {"address": net.public_ip or net.private_ip, "port": port}
        return {
            "changed": False,
            "verdict": "blocked" if first else "reachable",
            "cause": first.cause if first else None,
            "cause_message": first.message if first else None,
            "fix": first.fix if first else None,
            "findings": [f.result() for f in findings],
            "virtual_machine": {
                "name": report.name,
                "id": report.vm_id,
                "resource_group": _rg_of(report.vm_id),
                "location": report.location,
                "private_ip": private_ip,
                "public_ip": net.public_ip if net else None,
                "nsgs": [{"scope": s, "name": _name(i), "id": i} for s, i in (net.nsg_ids if net else [])],
            },
            "port": port,
            "source": source,
            "evaluated_source": flow_source,
            "connect_to": connect,
        }

    # -- reads of this module only ----------------------------------------------------------------------------
    def _permissions(self, scope: str) -> tuple[list[dict[str, Any]] | None, str | None]:
        from azure.core.exceptions import HttpResponseError

        try:
            return self.module.clients.permissions(scope), None
        except HttpResponseError as exc:
            return None, _message(exc)

    def _flow(self, report: _VmReport, flow: _Flow) -> _Finding:
        """IP flow verify where a Network Watcher serves the VM's region, else the collection's own evaluation."""
        from azure.core.exceptions import HttpResponseError

        own = _evaluate_path(report.subnet_nsg, report.nic_nsg, flow, report.vnet_prefixes)
        if self.params.get("use_network_watcher"):
            network = self.module.clients.network
            try:
                watcher = next(
                    (
                        w
                        for w in (_wire(x) for x in network.network_watchers.list_all())
                        if str(w.get("location") or "").lower() == report.location.lower()
                    ),
                    None,
                )
                if watcher is not None:
                    parameters = {
                        "targetResourceId": report.vm_id,
                        "direction": "Inbound",
                        "protocol": flow.protocol,
                        "localPort": str(flow.port),
                        "remotePort": str(flow.source_port),
                        "localIPAddress": flow.destination,
                        "remoteIPAddress": flow.source,
                    }
                    poller = network.network_watchers.begin_verify_ip_flow(
                        _rg_of(watcher["id"]), watcher["name"], parameters
                    )
                    answer = _wire(poller.result())
                    access = str(answer.get("access") or "")
                    rule = answer.get("ruleName") or answer.get("rule_name")
                    verdict = _PathVerdict(access, None, ())
                    finding = _flow_finding(
                        verdict, f"IP flow verify ({watcher['name']})", rule, flow.source, flow.port
                    )
                    if access != own.access:
                        self.warnings.append(
                            f"Network Watcher says {access} but the collection's own evaluation says {own.access}"
                        )
                    return finding
            except HttpResponseError as exc:
                if not _is_denied(exc):
                    self.module.fail_azure(exc, f"verify the IP flow to port {flow.port} with Network Watcher")
                self.warnings.append(f"cannot use Network Watcher ({_message(exc)}); evaluated the NSG rules instead")
        rule_name = own.decided_by.rule_name if own.decided_by else None
        if own.decided_by is not None and own.decided_by.name:
            rule_name = f"{_name(own.decided_by.nsg_id)}/{rule_name}"
        return _flow_finding(own, "NSG evaluation", rule_name, flow.source, flow.port)

    def _activity(self, report: _VmReport, now: datetime) -> tuple[list[dict[str, Any]] | None, str | None]:
        from azure.core.exceptions import HttpResponseError

        hours = int(self.params.get("activity_log_hours") or 24)
        start = _show_time(now - timedelta(hours=hours))
        rgs = {_rg_of(report.vm_id).lower()}
        if report.policy is not None:
            rgs.add(_rg_of(str(report.policy.get("id"))).lower())
        events: list[dict[str, Any]] = []
        sub = self.module.clients.subscription_id
        try:
            for rg in sorted(rgs):
                query = f"eventTimestamp ge '{start}' and resourceGroupName eq '{rg}'"
                events += self.module.clients.list_json(
                    f"/subscriptions/{sub}/providers/Microsoft.Insights/eventtypes/management/values?$filter="
                    + _quote(query),
                    _ACTIVITY_API_VERSION,
                )
        except HttpResponseError as exc:
            return None, _message(exc)
        events.sort(key=lambda e: str(e.get("eventTimestamp") or ""), reverse=True)
        return events, None


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def _skip(check: str) -> _Finding:
    return _Finding(check, _SKIPPED, "not checked: an earlier check failed")
