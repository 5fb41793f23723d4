# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""JIT rule verdicts and missing rules as module results (snake_case dicts) (pure).

Private API of azsecops.jit: every name may change in any release. Nothing here imports Ansible or an
Azure SDK or does I/O; it works on ARM wire JSON (camelCase dicts) and on small dataclasses, so every
decision is unit-tested directly.
"""

from __future__ import annotations

from typing import Any

from ._arm_id import _name_of
from ._nsg_rules import _DNAT, _DnatRule
from ._rule_judge import _Missing, _Verdict

# ---------------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------------


def _ref(resource_id: str | None, name: str | None = None) -> dict[str, str] | None:
    if not resource_id:
        return None
    return {"name": name or _name_of(resource_id), "id": resource_id}


def _verdict_result(verdict: _Verdict, scope: str | None, container_name: str | None = None) -> dict[str, Any]:
    """A judged rule as a ``rules`` entry of jit_rule_facts."""
    rule = verdict.rule
    vm = verdict.vm
    grant = verdict.grant
    result: dict[str, Any] = {"name": rule.name, "kind": rule.kind, "naming": rule.naming}
    if isinstance(rule, _DnatRule):
        firewall = _ref(verdict.container_id, container_name)
        if firewall is not None:
            firewall["nat_rule_collection"] = rule.collection
        result.update(
            nsg=None,
            firewall=firewall,
            scope="firewall",
            priority=rule.priority,
            direction=None,
            protocol=rule.protocol,
            ports=list(rule.ports),
            sources=list(rule.sources),
            destinations=list(rule.destinations),
            access="Dnat",
            translated_address=rule.translated_address,
            translated_port=rule.translated_port,
        )
    else:
        result.update(
            nsg=_ref(verdict.container_id, container_name),
            firewall=None,
            scope=scope,
            priority=rule.priority,
            direction=rule.direction or None,
            protocol=rule.protocol,
            ports=list(rule.ports),
            sources=list(rule.sources),
            destinations=list(rule.destinations),
            access=rule.access,
            translated_address=None,
            translated_port=None,
        )
    result["description"] = rule.description
    result["vm"] = _ref(vm.id, vm.display_name) if vm is not None else None
    result["policy"] = _ref(vm.policy_id, vm.policy_name) if vm is not None and vm.policy_id else None
    result["request"] = (
        {
            "start_time_utc": grant.start_text,
            "end_time_utc": grant.end_text,
            "requestor": grant.requestor,
            "status": grant.status,
            "status_reason": grant.status_reason,
        }
        if grant is not None
        else None
    )
    result["state"] = verdict.state
    result["reasons"] = list(verdict.reasons)
    shadow = verdict.shadowed_by
    result["shadowed_by"] = (
        {"name": shadow.name, "priority": shadow.priority, "sources": list(shadow.sources), "id": shadow.id or None}
        if shadow is not None
        else None
    )
    return result


def _missing_result(missing: _Missing, scope: str | None) -> dict[str, Any]:
    """A rule JIT should have written, as a ``missing`` entry of jit_rule_facts."""
    container = _ref(missing.container_id)
    return {
        "kind": missing.kind,
        "nsg": container if missing.kind != _DNAT else None,
        "firewall": container if missing.kind == _DNAT else None,
        "scope": "firewall" if missing.kind == _DNAT else scope,
        "vm": _ref(missing.vm.id, missing.vm.display_name),
        "policy": _ref(missing.vm.policy_id, missing.vm.policy_name),
        "port": missing.port,
        "request": (
            {"start_time_utc": missing.grant.start_text, "requestor": missing.grant.requestor}
            if missing.grant is not None
            else None
        ),
        "reason": missing.reason,
    }
