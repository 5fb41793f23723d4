# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The JIT request log of a policy as grants: one per VM port of a logged request (pure).

Private API of azsecops.jit: every name may change in any release. Nothing here imports Ansible or an
Azure SDK or does I/O; it works on ARM wire JSON (camelCase dicts) and on small dataclasses, so every
decision is unit-tested directly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ._arm_id import _arm_key, _name_of
from ._jit_model import _JitValueError, _parse_time, _prefixes_from_wire
from ._nsg_rules import _priority

# ---------------------------------------------------------------------------------------------------
# Requests: one grant per VM port of a logged request
# ---------------------------------------------------------------------------------------------------


def _time_or_none(value: object) -> datetime | None:
    if not value:
        return None
    try:
        return _parse_time(str(value))
    except _JitValueError:
        return None


@dataclasses.dataclass(frozen=True)
class _Grant:
    """One VM port of one logged JIT request (a row of the policy's ``requests``)."""

    policy_id: str
    policy_name: str
    vm_id: str
    number: int
    sources: tuple[str, ...]
    status: str
    status_reason: str = ""
    start_text: str = ""
    end_text: str = ""
    requestor: str = ""
    justification: str | None = None
    mapped_port: int | None = None
    sequence: int = 0  # position in the log: later requests have higher numbers

    @property
    def vm_key(self) -> str:
        return _arm_key(self.vm_id)

    @property
    def start(self) -> datetime | None:
        return _time_or_none(self.start_text)

    @property
    def end(self) -> datetime | None:
        return _time_or_none(self.end_text)

    def ended(self, now: datetime) -> bool:
        """Revoked (or any status but Initiated), or its end time has come by Azure's clock."""
        if self.status.lower() != "initiated":
            return True
        end = self.end
        return end is not None and end <= now

    def seconds_left(self, now: datetime) -> int:
        end = self.end
        if self.ended(now) or end is None:
            return 0
        return max(0, int((end - now).total_seconds()))

    def ended_reason(self, now: datetime) -> str:
        when = f"request of {self.start_text}" if self.start_text else "request"
        who = f" by {self.requestor}" if self.requestor else ""
        if self.status.lower() != "initiated":
            why = f"{self.status}/{self.status_reason}" if self.status_reason else self.status
            return f"its {when}{who} ended ({why}) but the rule is still there"
        return (
            f"its {when}{who} ended at {self.end_text} (Azure's clock says {_show_time(now)}) "
            "but the rule is still there"
        )


def _show_time(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _grants_from_policy(policy: Mapping[str, Any]) -> list[_Grant]:
    """Every VM port of every request in a policy's log, oldest first. Unreadable entries are skipped."""
    policy_id = str(policy.get("id") or "")
    policy_name = str(policy.get("name") or "")
    grants: list[_Grant] = []
    requests = (policy.get("properties") or {}).get("requests") or []
    sequence = 0
    for request in requests:
        if not isinstance(request, Mapping):
            continue
        sequence += 1
        for vm in request.get("virtualMachines") or []:
            if not isinstance(vm, Mapping) or not isinstance(vm.get("id"), str):
                continue
            for port in vm.get("ports") or []:
                if not isinstance(port, Mapping):
                    continue
                try:
                    number = int(port["number"])
                except (KeyError, TypeError, ValueError):
                    continue
                mapped = port.get("mappedPort")
                grants.append(
                    _Grant(
                        policy_id=policy_id,
                        policy_name=policy_name,
                        vm_id=vm["id"],
                        number=number,
                        sources=_prefixes_from_wire(port),
                        status=str(port.get("status") or ""),
                        status_reason=str(port.get("statusReason") or ""),
                        start_text=str(request.get("startTimeUtc") or ""),
                        end_text=str(port.get("endTimeUtc") or ""),
                        requestor=str(request.get("requestor") or ""),
                        justification=request.get("justification"),
                        mapped_port=_priority(mapped),
                        sequence=sequence,
                    )
                )
    return grants


def _request_row(grant: _Grant, now: datetime, protocol: str | None = None) -> dict[str, Any]:
    """A grant as a ``requests`` row of jit_rule_facts (snake_case, times as Azure wrote them)."""
    row: dict[str, Any] = {
        "policy": {"name": grant.policy_name, "id": grant.policy_id},
        "vm": {"name": _name_of(grant.vm_id), "id": grant.vm_id},
        "port": grant.number,
        "protocol": protocol,
        "status": grant.status,
        "status_reason": grant.status_reason,
        "requestor": grant.requestor,
        "justification": grant.justification,
        "start_time_utc": grant.start_text,
        "end_time_utc": grant.end_text,
        "seconds_left": grant.seconds_left(now),
        "active": not grant.ended(now),
        "allowed_source": list(grant.sources),
    }
    if grant.mapped_port is not None:
        row["mapped_port"] = grant.mapped_port
    return row
