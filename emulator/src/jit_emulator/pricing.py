"""Defender for Cloud plans (Microsoft.Security/pricings, api-version 2024-01-01 and older) as pure functions.

Bodies are ARM wire JSON. Shapes follow the conformance examples (`pricings/2024-01-01/`): enum-like
booleans are the strings "True"/"False"; a subscription-level plan carries `enforce` and
`resourcesCoverageStatus`; a resource-level plan carries `inherited` and `inheritedFrom` instead.

Choices where Azure's behaviour is not documented (written down in the README as well):

- A subscription plan never set is reported as Free. The emulator answers 201 to the first PUT of a
  plan at a scope and 200 afterwards (the examples show both codes).
- `Standard` for VirtualMachines without `subPlan` means P2. At resource level only P1 exists (the
  swagger's description), so P2 there is a 400.
- `resourcesCoverageStatus`: NotCovered for Free; for Standard, PartiallyCovered when a resource-level
  plan under the subscription differs from the subscription's, else FullyCovered.
- A resource-level plan that was never set inherits a Standard subscription plan
  (`inherited: "True"`, `inheritedFrom: "/subscriptions/<id>"`); under a Free one it reads
  `pricingTier: Free, inherited: "False", inheritedFrom: null`, as the ListResourcePricings example shows.
- The PUT response marks each enabled extension the client sent `operationStatus: Succeeded`; reads do
  not carry operationStatus (the GET examples have none).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import ArmError

PRICING_TYPE = "Microsoft.Security/pricings"

# The plans of a subscription in the order the ListPricings example gives them, then the newer ones.
# Deprecated plans are still listed, with what replaced them.
PLANS: tuple[str, ...] = (
    "VirtualMachines",
    "SqlServers",
    "AppServices",
    "StorageAccounts",
    "SqlServerVirtualMachines",
    "KubernetesService",
    "ContainerRegistry",
    "KeyVaults",
    "Dns",
    "Arm",
    "OpenSourceRelationalDatabases",
    "Containers",
    "CloudPosture",
    "CosmosDbs",
    "Api",
)
# Dns: recorded deprecated, replaced by VirtualMachines (the Azure CLI's pricing recording of 2023-09; the 2024-01-01
# examples, written before, do not show it yet).
DEPRECATED: dict[str, list[str]] = {
    "KubernetesService": ["Containers"],
    "ContainerRegistry": ["Containers"],
    "Dns": ["VirtualMachines"],
}
# Plans that can be set on a single resource (a VM), as the ListResourcePricings example lists them.
RESOURCE_PLANS: tuple[str, ...] = ("VirtualMachines", "CloudPosture")
VM_SUB_PLANS = ("P1", "P2")

_TIERS = {"free": "Free", "standard": "Standard"}
_FLAGS = {"true": "True", "false": "False"}
_SUBSCRIPTION_ONLY = ("enforce", "resourcesCoverageStatus", "deprecated", "replacedBy")


# What each api-version's PricingProperties holds (the swagger of that version; bicep-types-az lists them):
# an older version answers with only its own fields and ignores the newer ones in a PUT. Versions before
# 2024-01-01 know the subscription scope only.
_VERSION_FIELDS: dict[str, frozenset[str]] = {
    "2018-06-01": frozenset({"pricingTier", "freeTrialRemainingTime"}),
    "2022-03-01": frozenset({"pricingTier", "subPlan", "freeTrialRemainingTime", "deprecated", "replacedBy"}),
    "2023-01-01": frozenset(
        {"pricingTier", "subPlan", "freeTrialRemainingTime", "deprecated", "replacedBy", "enablementTime", "extensions"}
    ),
}
SCOPED_VERSION = "2024-01-01"


def check_version_scope(api_version: str | None, *, resource_level: bool) -> None:
    """400 for a resource-level pricing asked through an api-version that only knows subscriptions."""
    if resource_level and api_version in _VERSION_FIELDS:
        raise ArmError(
            400,
            "InvalidApiVersionForScope",
            f"Resource-level pricings need api-version {SCOPED_VERSION} or later; '{api_version}' supports the"
            " subscription scope only.",
        )


def for_version(body: Mapping[str, Any], api_version: str | None) -> dict[str, Any]:
    """A pricing body (GET, list item, PUT answer) as `api_version` shapes it."""
    fields = _VERSION_FIELDS.get(api_version or "")
    if fields is None:
        return dict(body)
    shown = dict(body)
    shown["properties"] = {k: v for k, v in body["properties"].items() if k in fields}
    return shown


def input_for_version(body: Any, api_version: str | None) -> Any:
    """A PUT body with the properties `api_version` does not know dropped (ARM ignores unknown members)."""
    if not isinstance(body, Mapping) or not isinstance(body.get("properties"), Mapping):
        return body  # prepare_put names what is wrong with it
    return for_version(body, api_version)


def canonical_plan(name: str, *, resource_level: bool = False) -> str:
    """The plan's canonical name, or 404 PricingNotFound."""
    plans = RESOURCE_PLANS if resource_level else PLANS
    for plan in plans:
        if plan.lower() == name.lower():
            return plan
    where = "a resource" if resource_level else "a subscription"
    raise ArmError(
        404,
        "PricingNotFound",
        f"The pricing '{name}' does not exist for {where}. Known plans: {', '.join(plans)}.",
    )


def pricing_id(scope: str, name: str) -> str:
    return f"{scope.rstrip('/')}/providers/Microsoft.Security/pricings/{name}"


def _envelope(scope: str, name: str, props: dict[str, Any]) -> dict[str, Any]:
    return {"id": pricing_id(scope, name), "name": name, "type": PRICING_TYPE, "properties": props}


def _flag(value: Any, target: str) -> str:
    flag = _FLAGS.get(str(value).lower()) if isinstance(value, (str, bool)) else None
    if flag is None:
        raise ArmError(400, "InvalidInput", f"'{target}' must be 'True' or 'False', got {value!r}.", target=target)
    return flag


def _extensions(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise ArmError(400, "InvalidInput", "'properties.extensions' must be a list.", target="properties.extensions")
    out = []
    for index, item in enumerate(value):
        target = f"properties.extensions[{index}]"
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str) or not item["name"]:
            raise ArmError(400, "InvalidInput", f"'{target}.name' is required.", target=f"{target}.name")
        extension: dict[str, Any] = {
            "name": item["name"],
            "isEnabled": _flag(item.get("isEnabled"), f"{target}.isEnabled"),
        }
        if isinstance(item.get("additionalExtensionProperties"), Mapping):
            extension["additionalExtensionProperties"] = dict(item["additionalExtensionProperties"])
        out.append(extension)
    return out


def prepare_put(
    scope: str,
    name: str,
    plan: str,
    body: Any,
    existing: Mapping[str, Any] | None,
    *,
    resource_level: bool,
    now_text: str,
) -> dict[str, Any]:
    """The body to store for a PUT of `plan` (the client's spelling `name` is kept) at `scope`, or 400."""
    properties = body.get("properties") if isinstance(body, Mapping) else None
    if not isinstance(properties, Mapping):
        raise ArmError(400, "InvalidInput", "'properties' is required.", target="properties")
    tier = _TIERS.get(str(properties.get("pricingTier", "")).lower())
    if tier is None:
        raise ArmError(
            400,
            "InvalidInput",
            f"'properties.pricingTier' must be 'Free' or 'Standard', got {properties.get('pricingTier')!r}.",
            target="properties.pricingTier",
        )
    sub_plan = properties.get("subPlan")
    if sub_plan is not None and not isinstance(sub_plan, str):
        raise ArmError(400, "InvalidInput", "'properties.subPlan' must be a string.", target="properties.subPlan")
    if plan == "VirtualMachines" and tier == "Standard":
        sub_plan = sub_plan or ("P1" if resource_level else "P2")
        allowed = ("P1",) if resource_level else VM_SUB_PLANS
        if sub_plan not in allowed:
            where = "a resource" if resource_level else "a subscription"
            raise ArmError(
                400,
                "InvalidInput",
                f"'properties.subPlan' of VirtualMachines on {where} must be {' or '.join(allowed)}, got '{sub_plan}'.",
                target="properties.subPlan",
            )
    props: dict[str, Any] = {"pricingTier": tier}
    if tier == "Standard" and sub_plan:
        props["subPlan"] = sub_plan
    props["freeTrialRemainingTime"] = "PT0S"
    if tier == "Standard":
        old = (existing or {}).get("properties", {})
        kept = old.get("enablementTime") if old.get("pricingTier") == "Standard" else None
        props["enablementTime"] = kept or now_text
    if resource_level:
        props["inherited"] = "False"
        props["inheritedFrom"] = None
    else:
        props["enforce"] = _flag(properties.get("enforce", "False"), "properties.enforce")
    if properties.get("extensions") is not None:
        props["extensions"] = _extensions(properties["extensions"])
    return _envelope(scope, name, props)


def put_response(stored: Mapping[str, Any]) -> dict[str, Any]:
    """What a PUT answers: the stored body, each enabled extension with operationStatus Succeeded."""
    body = copy.deepcopy(dict(stored))
    for extension in body["properties"].get("extensions") or []:
        if extension.get("isEnabled") == "True":
            extension["operationStatus"] = {"code": "Succeeded", "message": "Successfully enabled extension"}
    return body


def coverage(tier: str, overrides: Iterable[Mapping[str, Any]], own: Mapping[str, Any]) -> str:
    """resourcesCoverageStatus of a subscription plan given the resource-level plans under it."""
    if tier != "Standard":
        return "NotCovered"
    mine = (own.get("pricingTier"), own.get("subPlan"))
    differs = any(
        (o.get("properties", {}).get("pricingTier"), o.get("properties", {}).get("subPlan")) != mine for o in overrides
    )
    return "PartiallyCovered" if differs else "FullyCovered"


def subscription_view(
    scope: str, plan: str, stored: Mapping[str, Any] | None, overrides: Iterable[Mapping[str, Any]]
) -> dict[str, Any]:
    """A subscription-level plan as GET and list return it."""
    if stored is None:
        body = _envelope(scope, plan, {"pricingTier": "Free", "freeTrialRemainingTime": "PT0S", "enforce": "False"})
    else:
        body = copy.deepcopy(dict(stored))
    props = body["properties"]
    props["resourcesCoverageStatus"] = coverage(props["pricingTier"], overrides, props)
    if plan in DEPRECATED:
        props["deprecated"] = True
        props["replacedBy"] = list(DEPRECATED[plan])
    return body


def resource_view(
    scope: str, plan: str, stored: Mapping[str, Any] | None, subscription: Mapping[str, Any] | None
) -> dict[str, Any]:
    """A resource-level plan: its own, inherited from a Standard subscription plan, or Free."""
    if stored is not None:
        return copy.deepcopy(dict(stored))
    if subscription is not None and subscription["properties"].get("pricingTier") == "Standard":
        props = {k: copy.deepcopy(v) for k, v in subscription["properties"].items() if k not in _SUBSCRIPTION_ONLY}
        sub_scope = subscription["id"].split("/providers/", 1)[0]
        props.update({"inherited": "True", "inheritedFrom": sub_scope})
        return _envelope(scope, plan, props)
    return _envelope(scope, plan, {"pricingTier": "Free", "inherited": "False", "inheritedFrom": None})


def name_filter(expression: str) -> set[str] | None:
    """The plan names of a `$filter=name in (A,B)` expression (lower-cased), None when there is no filter."""
    if not expression.strip():
        return None
    head, sep, rest = expression.partition(" in ")
    if not sep or head.strip().lower() != "name":
        raise ArmError(
            400,
            "InvalidFilter",
            f"The filter '{expression}' is not supported; use \"name in (VirtualMachines,KeyVaults)\".",
        )
    return {n.strip(" ()'\"").lower() for n in rest.split(",") if n.strip(" ()'\"")}
