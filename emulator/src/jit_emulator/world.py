"""World files: principals and ARM resources, applied in order through the same path as HTTP PUT.

```yaml
settings: {home_location: westeurope, page_size: 10}      # optional
principals:
  - {client_id: ..., secret: ..., object_id: ..., display_name: ..., roles: [{role: Owner, scope: /subscriptions/...}]}
  - {kind: User, user_principal_name: alice@contoso.com, password: ..., roles: [...]}
resources:
  - id: /subscriptions/<sub>/resourceGroups/rg-app
    body: {location: westeurope}
    api_version: 2021-04-01        # optional
```
`${subscription_id}` and `${tenant_id}` in any string are replaced by the emulator's own values,
so one world file works with any state file.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import yaml

from .control import add_principal, assign_role
from .errors import ArmError

if TYPE_CHECKING:
    from .server import Emulator

_DEFAULT_VERSIONS = {
    "microsoft.security/locations/jitnetworkaccesspolicies": "2020-01-01",
    "microsoft.security/pricings": "2024-01-01",
    "microsoft.authorization/roleassignments": "2022-04-01",
    "microsoft.authorization/roledefinitions": "2022-04-01",
    "microsoft.network": "2024-05-01",
    "microsoft.compute": "2024-07-01",
    "microsoft.classiccompute": "2017-04-01",
    "microsoft.resources": "2021-04-01",
}


def _substitute(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        for key, real in names.items():
            value = value.replace("${" + key + "}", real)
        return value
    if isinstance(value, list):
        return [_substitute(v, names) for v in value]
    if isinstance(value, dict):
        return {_substitute(k, names): _substitute(v, names) for k, v in value.items()}
    return value


def _api_version(rid: str) -> str:
    lowered = rid.lower()
    if "/jitnetworkaccesspolicies/" in lowered:  # .../locations/<region>/jitNetworkAccessPolicies/<name>
        return _DEFAULT_VERSIONS["microsoft.security/locations/jitnetworkaccesspolicies"]
    for marker, version in _DEFAULT_VERSIONS.items():
        if f"/providers/{marker}" in lowered:
            return version
    return _DEFAULT_VERSIONS["microsoft.resources"]


def read_world(source: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(source, dict):
        return source
    if source == "demo" and not os.path.exists(source):
        from importlib import resources

        return yaml.safe_load(resources.files("jit_emulator").joinpath("worlds/demo.yml").read_text())
    # A relative path is relative to the emulator's working directory (where `jit-emulator serve` started),
    # also over the control API; errors name the absolute path so the caller sees where it looked.
    path = os.path.abspath(source)
    try:
        with open(path, encoding="utf-8") as handle:
            return yaml.safe_load(handle) or {}
    except OSError as exc:
        raise ArmError(400, "InvalidWorld", f"cannot read the world file {path}: {exc.strerror or exc}.") from exc
    except yaml.YAMLError as exc:
        raise ArmError(400, "InvalidWorld", f"the world file {path} is not valid YAML: {exc}") from exc


def load_world(emulator: Emulator, source: str | dict[str, Any]) -> dict[str, Any]:
    """Apply a world in one transaction: it loads completely or not at all."""
    world = read_world(source)
    if not isinstance(world, dict):
        raise ArmError(400, "InvalidWorld", "A world file is a mapping with 'principals' and 'resources'.")
    names = {"subscription_id": emulator.ident["subscription_id"], "tenant_id": emulator.ident["tenant_id"]}
    world = _substitute(world, names)
    settings = world.get("settings") or {}
    if not isinstance(settings, dict):
        raise ArmError(400, "InvalidWorld", "'settings' is a mapping such as {page_size: 10}.")
    resources = world.get("resources") or []
    principals = world.get("principals") or []
    with emulator.store.write() as tx:
        if world.get("rule_naming") is not None:
            # Before the resources, so the policies a world declares write their rules in that naming.
            from .providers.security import set_rule_naming

            set_rule_naming(tx, world["rule_naming"])
        # Principals first (so role assignments in resources may name them), their roles after the resources.
        created = [add_principal(emulator, {k: v for k, v in spec.items() if k != "roles"}) for spec in principals]
        for index, item in enumerate(resources):
            if not isinstance(item, dict) or "id" not in item:
                raise ArmError(400, "InvalidWorld", f"resources[{index}] needs an 'id' (and a 'body').")
            rid = str(item["id"])
            version = str(item.get("api_version") or _api_version(rid))
            try:
                emulator.execute(
                    "PUT",
                    rid,
                    {"api-version": version},
                    item.get("body") or {},
                    principal=None,
                    base_url="https://127.0.0.1",
                )
            except ArmError as err:
                raise ArmError(err.status, err.code, f"world resources[{index}] ({rid}): {err.message}") from err
        for spec, made in zip(principals, created, strict=True):
            for grant in spec.get("roles") or []:
                assign_role(emulator, made["object_id"], str(grant["role"]), str(grant["scope"]))
        if settings:
            emulator.update_settings(settings)
    return {"principals": len(principals), "resources": len(resources)}
