# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Azure Resource Manager resource ids: parse, format and compare them, case-insensitively.

Private API of azsecops.jit: names may change in any release. Pure functions, no Ansible or SDK import.

An id is ``/subscriptions/<sub>[/resourceGroups/<rg>][/providers/<namespace>/<type>/<name>[/<type>/<name>...]]``.
ARM treats ids as case-insensitive (Azure answers in the casing it stored, not the caller's), so ids are
compared by ``_arm_key``; the parsed parts keep the casing they came in.
https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules and
https://learn.microsoft.com/rest/api/resources/resources/get-by-id
"""

from __future__ import annotations

from typing import NamedTuple


class _ArmId(NamedTuple):
    """A parsed resource id. ``types`` and ``names`` are the type/name pairs after the namespace, in order:
    a JIT policy is ``Microsoft.Security`` with types ``("locations", "jitNetworkAccessPolicies")`` and names
    ``("westeurope", "default")``."""

    subscription: str
    resource_group: str = ""
    namespace: str = ""
    types: tuple[str, ...] = ()
    names: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The resource's own name (the last one), else the resource group's, else the subscription."""
        if self.names:
            return self.names[-1]
        return self.resource_group or self.subscription

    @property
    def resource_type(self) -> str:
        """``<namespace>/<type>[/<type>...]``, e.g. ``Microsoft.Network/networkSecurityGroups``."""
        return "/".join((self.namespace, *self.types)) if self.namespace else ""

    def child(self, resource_type: str) -> str | None:
        """The name that follows a type segment (case-insensitive): ``child("locations")`` of a JIT policy
        id is its location."""
        wanted = resource_type.lower()
        for kind, name in zip(self.types, self.names, strict=True):
            if kind.lower() == wanted:
                return name
        return None

    def is_type(self, resource_type: str) -> bool:
        """Whether this is a ``<namespace>/<type>...`` resource (case-insensitive)."""
        return self.resource_type.lower() == resource_type.lower()

    def format(self) -> str:
        """The id as ARM writes it (``resourceGroups``, ``providers``), in the parts' own casing."""
        return _format_arm_id(
            self.subscription, self.resource_group, self.namespace, *zip(self.types, self.names, strict=True)
        )

    @property
    def key(self) -> str:
        """The comparison key: the formatted id, lower-cased."""
        return self.format().lower()


def _parse_arm_id(text: object) -> _ArmId | None:
    """The parts of an ARM id, or None when ``text`` is not one. A trailing ``/`` is ignored; the segment
    words (subscriptions, resourceGroups, providers) match in any case."""
    if not isinstance(text, str):
        return None
    parts = text.strip().rstrip("/").split("/")
    if len(parts) < 3 or parts[0] or parts[1].lower() != "subscriptions" or not parts[2]:
        return None
    subscription, rest = parts[2], parts[3:]
    resource_group = ""
    if rest[:1] and rest[0].lower() == "resourcegroups":
        if len(rest) < 2 or not rest[1]:
            return None
        resource_group, rest = rest[1], rest[2:]
    if not rest:
        return _ArmId(subscription, resource_group)
    if rest[0].lower() != "providers" or len(rest) < 4 or len(rest) % 2 != 0 or not all(rest):
        return None
    namespace, pairs = rest[1], rest[2:]
    return _ArmId(subscription, resource_group, namespace, tuple(pairs[0::2]), tuple(pairs[1::2]))


def _format_arm_id(subscription: str, resource_group: str = "", namespace: str = "", *pairs: tuple[str, str]) -> str:
    """``/subscriptions/<sub>[/resourceGroups/<rg>][/providers/<namespace>/<type>/<name>...]``."""
    text = f"/subscriptions/{subscription}"
    if resource_group:
        text += f"/resourceGroups/{resource_group}"
    if namespace:
        text += f"/providers/{namespace}" + "".join(f"/{kind}/{name}" for kind, name in pairs)
    return text


def _arm_key(resource_id: object) -> str:
    """What two ids are compared by: stripped, without a trailing ``/``, lower-cased ("" for None)."""
    return str(resource_id or "").strip().rstrip("/").lower()


def _same_arm_id(first: object, second: object) -> bool:
    return _arm_key(first) == _arm_key(second)


def _rg_of(resource_id: object) -> str:
    """The resource group of an id (``/subscriptions/<sub>/resourceGroups/<rg>/...``) in its own casing; ""
    when the id names none. Reads only the id's start, so any id below a resource group has one."""
    parts = str(resource_id or "").strip().split("/")
    if len(parts) > 4 and parts[1].lower() == "subscriptions" and parts[3].lower() == "resourcegroups":
        return parts[4]
    return ""


def _name_of(resource_id: object) -> str:
    """The last segment of an id: the resource's own name."""
    return str(resource_id or "").strip().rstrip("/").rsplit("/", 1)[-1]


def _child_of(resource_id: object, resource_type: str) -> str:
    """The name after a type segment (``locations`` of a JIT policy id is its location); "" when absent."""
    parsed = _parse_arm_id(resource_id)
    return (parsed.child(resource_type) or "") if parsed is not None else ""
