"""Microsoft.Security: locations, pricings and just-in-time network access policies.

The JIT semantics (validation, rule placement, the request lifecycle) are the plain functions
of `jit_emulator.jit` and `jit_emulator.nsg`; this module reads the VM's network path from the
store, applies those functions to the NSGs and firewalls on it, and keeps the grants table that
records which rules each request created so they can be removed when it ends.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import jit, nsg
from ..arm import Context, Response, check_rg, check_subscription, name_of, page, parse_id
from ..errors import ArmError
from . import network
from ._generic import ref_id

if TYPE_CHECKING:
    from ..server import Emulator

NS = "Microsoft.Security"
POLICY_TYPE = f"{NS}/locations/jitNetworkAccessPolicies"
PRICING_TYPE = f"{NS}/pricings"
JIT_VERSIONS = ("2020-01-01", "2015-06-01-preview")
LOCATION_VERSIONS = ("2015-06-01-preview",)
PRICING_VERSIONS = ("2024-01-01", "2023-01-01", "2022-03-01", "2018-06-01")
PLANS = (
    "VirtualMachines", "SqlServers", "AppServices", "StorageAccounts", "SqlServerVirtualMachines", "KeyVaults",
    "Dns", "Arm", "OpenSourceRelationalDatabases", "CosmosDbs", "Containers", "CloudPosture", "Api",
)


# -- the VM's network path ------------------------------------------------------------------------------


@dataclass
class VmPath:
    vm_id: str
    vm_name: str
    private_ip: str
    nsg_ids: list[str]
    public_ip: str | None
    firewall: dict[str, Any] | None
    firewall_ip: str | None
    firewall_managed: bool


def vm_path(ctx: Context, vm_id: str) -> VmPath:
    vm = ctx.tx.get(vm_id)
    if vm is None:
        raise ArmError(
            400,
            "VirtualMachineNotFound",
            f"Virtual machine '{vm_id}' was not found; a JIT policy can only cover existing ARM virtual machines.",
        )
    nics = vm["properties"]["networkProfile"]["networkInterfaces"]
    primary = next((n for n in nics if n.get("properties", {}).get("primary")), nics[0])
    nic = ctx.tx.get(primary["id"]) or {}
    configs = nic.get("properties", {}).get("ipConfigurations", [])
    config = next((c for c in configs if c["properties"].get("primary")), configs[0] if configs else None)
    if config is None:
        raise ArmError(400, "VirtualMachineNotFound", f"Virtual machine '{vm_id}' has no IP configuration.")
    nsg_ids: list[str] = []
    nic_nsg = ref_id(nic["properties"].get("networkSecurityGroup"))
    if nic_nsg:
        nsg_ids.append(nic_nsg)
    subnet_id = config["properties"]["subnet"]["id"]
    found = network.find_subnet(ctx, subnet_id)
    firewall = None
    if found is not None:
        vnet, subnet = found
        subnet_nsg = ref_id(subnet["properties"].get("networkSecurityGroup"))
        if subnet_nsg and all(subnet_nsg.lower() != n.lower() for n in nsg_ids):
            nsg_ids.append(subnet_nsg)
        firewall = network.firewall_for_vnet(ctx, vnet["id"])
    public_ip = None
    pip_id = ref_id(config["properties"].get("publicIPAddress"))
    if pip_id:
        pip = ctx.tx.get(pip_id)
        public_ip = pip["properties"].get("ipAddress") if pip else None
    managed = bool(firewall and firewall["properties"].get("firewallPolicy"))
    return VmPath(
        vm_id=vm["id"],
        vm_name=vm["name"],
        private_ip=config["properties"]["privateIPAddress"],
        nsg_ids=nsg_ids,
        public_ip=public_ip,
        firewall=firewall,
        firewall_ip=network.firewall_public_ip(ctx, firewall) if firewall else None,
        firewall_managed=managed,
    )


def _supported_firewall(path: VmPath) -> dict[str, Any] | None:
    return path.firewall if path.firewall is not None and not path.firewall_managed else None


# -- eligibility ----------------------------------------------------------------------------------------------


def _pricing(ctx: Context, scope: str, plan: str) -> dict[str, Any] | None:
    return ctx.tx.get(f"{scope.rstrip('/')}/providers/{NS}/pricings/{plan}")


def _check_plan(ctx: Context, sub: str) -> None:
    pricing = _pricing(ctx, f"/subscriptions/{sub}", "VirtualMachines")
    props = (pricing or {}).get("properties", {})
    if props.get("pricingTier") != "Standard" or props.get("subPlan", "P2") != "P2":
        have = f"{props.get('pricingTier', 'Free')}" + (f"/{props['subPlan']}" if props.get("subPlan") else "")
        raise ArmError(
            400,
            "DefenderForServersPlan2Required",
            f"Just-in-time VM access requires Microsoft Defender for Servers Plan 2 on subscription '{sub}'"
            f" (pricing 'VirtualMachines' is {have}). Enable it with pricingTier 'Standard' and subPlan 'P2'.",
        )


def _check_path(path: VmPath) -> None:
    if path.nsg_ids:
        return
    if path.firewall is not None and path.firewall_managed:
        raise ArmError(
            400,
            "FirewallPolicyNotSupported",
            f"Virtual machine '{path.vm_id}' is protected only by Azure Firewall '{path.firewall['name']}', which is"
            " managed by Azure Firewall Manager (a Firewall Policy). JIT supports firewalls with classic rules only;"
            " add a network security group to the VM's network interface or subnet.",
        )
    if path.firewall is None:
        raise ArmError(
            400,
            "VirtualMachineMissingNsgOrFirewall",
            f"Virtual machine '{path.vm_id}' is not supported by just-in-time access: it has no network security"
            " group on its network interface or subnet and no Azure Firewall protects its virtual network"
            " (Missing NSG or Azure Firewall).",
        )


def _check_not_in_other_policy(ctx: Context, sub: str, vm_id: str, policy_id: str) -> None:
    for other in ctx.tx.list_type(POLICY_TYPE, sub):
        if other["id"].lower() == policy_id.lower():
            continue
        for vm in other["properties"].get("virtualMachines", []):
            if vm.get("id", "").lower() == vm_id.lower():
                raise ArmError(
                    409,
                    "VirtualMachineAlreadyInPolicy",
                    f"Virtual machine '{vm_id}' is already configured in just-in-time policy '{other['id']}'. A VM can"
                    " belong to one JIT policy only; remove it from that policy first.",
                )


# -- NSG and firewall changes -------------------------------------------------------------------------------


class Containers:
    """NSG and firewall bodies read once, changed in memory, and written back together."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.bodies: dict[str, dict[str, Any]] = {}
        self.dirty: set[str] = set()

    def get(self, rid: str) -> dict[str, Any] | None:
        key = rid.lower()
        if key not in self.bodies:
            body = self.ctx.tx.get(rid)
            if body is None:
                return None
            self.bodies[key] = body
        return self.bodies[key]

    def set(self, body: dict[str, Any]) -> None:
        key = body["id"].lower()
        if self.bodies.get(key) != body:
            self.bodies[key] = body
            self.dirty.add(key)

    def flush(self) -> None:
        for key in sorted(self.dirty):
            body = self.bodies[key]
            if body["type"].lower() == f"{network.NS}/{network.FIREWALL}".lower():
                network.save_firewall(self.ctx, body)
            else:
                network.save_nsg(self.ctx, body)
        self.dirty.clear()

    def remove_rules(self, rules: list[dict[str, str]]) -> None:
        by_container: dict[str, list[dict[str, str]]] = {}
        for rule in rules:
            by_container.setdefault(rule["container"], []).append(rule)
        for container, items in by_container.items():
            body = self.get(container)
            if body is None:
                continue  # the NSG or firewall is gone: nothing left to clean
            names = [r["name"] for r in items]
            if items[0]["kind"] == "firewall":
                self.set(nsg.remove_dnat_rules(body, names))
            else:
                self.set(nsg.remove_rules(body, names))


def _drop_grants(ctx: Context, containers: Containers, grants: list[dict[str, Any]], state: str) -> None:
    for grant in grants:
        containers.remove_rules(grant["rules"])
        ctx.tx.update_grant(grant["seq"], state, [])


def _apply_grant_rules(ctx: Context, containers: Containers, grant: dict[str, Any]) -> list[dict[str, str]]:
    """Write the NSG allow rules of a grant; returns the rule records."""
    spec = grant["spec"]
    try:
        path = vm_path(ctx, spec["vm_id"])
    except ArmError:
        return []  # the VM disappeared before its rules were due
    rules: list[dict[str, str]] = []
    for nsg_id in path.nsg_ids:
        body = containers.get(nsg_id)
        if body is None:
            continue
        new, names = nsg.add_allow_rules(
            body,
            policy_id=spec["policy_id"],
            policy_name=spec["policy_name"],
            vm_id=spec["vm_id"],
            vm_name=path.vm_name,
            private_ip=path.private_ip,
            grants=[{"number": spec["number"], "protocol": spec["protocol"], "sources": spec["sources"]}],
            request_key=grant["request_key"],
        )
        containers.set(new)
        rules.extend({"container": nsg_id, "name": n, "kind": "nsg"} for n in names)
    return rules


# -- sweeping what the clock made due -------------------------------------------------------------------


def sweep(emulator: Emulator) -> None:
    now = emulator.clock.now()
    now_iso = jit.format_time(now)
    real = time.time()
    with emulator.store.read() as tx:
        if not tx.any_grant_due(now_iso, real):
            return
    with emulator.store.write() as tx:
        ctx = system_context(emulator, tx)
        containers = Containers(ctx)
        for grant in tx.grants("state = 'pending' AND apply_at <= ? AND end_time > ?", (real, now_iso)):
            rules = grant["rules"] + _apply_grant_rules(ctx, containers, grant)
            tx.update_grant(grant["seq"], "active", rules)
        due = tx.grants("state IN ('active', 'pending') AND end_time <= ?", (now_iso,))
        for grant in due:
            containers.remove_rules(grant["rules"])
            tx.update_grant(grant["seq"], "expired", [])
        for policy_key in sorted({g["policy"] for g in due}):
            policy = tx.get(policy_key)
            if policy is not None:
                expired, _ = jit.expire(policy, now)
                tx.put(policy["id"], POLICY_TYPE, _rg_part(policy["id"]), expired)
        containers.flush()


def system_context(emulator: Emulator, tx: Any) -> Context:
    return Context(
        tx=tx,
        now=emulator.clock.now(),
        base_url="https://127.0.0.1",
        settings=emulator.settings,
        principal=None,
        caller_ip="127.0.0.1",
        method="SWEEP",
        path="",
        params={},
        query={},
        body=None,
        api_version=None,
        app=emulator,
    )


def _rg_part(rid: str) -> str:
    return rid.split("/providers/")[0]


# -- JIT policy operations ---------------------------------------------------------------------------------


def _policy_id(sub: str, rg: str, location: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{NS}/locations/{location}/jitNetworkAccessPolicies/{name}"


def _policy_not_found(name: str, rg: str) -> ArmError:
    return ArmError(
        404,
        "PolicyNotFound",
        f"Just-in-time network access policy '{name}' was not found in resource group '{rg}'.",
    )


def put_policy(ctx: Context) -> Response:
    sub, rg, location, name = ctx.params["sub"], ctx.params["rg"], ctx.params["location"], ctx.params["name"]
    jit.validate_names(sub, rg, name)
    check_rg(ctx, sub, rg)
    body = jit.validate_policy(ctx.require_body(), name)
    pid = _policy_id(sub, rg, location, name)
    existing = ctx.tx.get(pid)
    if existing is not None:
        pid = existing["id"]
    _check_plan(ctx, sub)
    paths: dict[str, VmPath] = {}
    for index, vm in enumerate(body["properties"]["virtualMachines"]):
        vm_sub = parse_id(vm["id"]).get("subscription", "")
        if vm_sub.lower() != sub.lower():
            raise ArmError(
                400,
                "InvalidInput",
                f"Virtual machine '{vm['id']}' is in another subscription than the policy ('{sub}').",
                target=f"properties.virtualMachines[{index}].id",
            )
        path = vm_path(ctx, vm["id"])
        _check_path(path)
        _check_not_in_other_policy(ctx, sub, path.vm_id, pid)
        paths[path.vm_id.lower()] = path
        vm["id"] = path.vm_id
    containers = Containers(ctx)
    diff = jit.remove_vm_ports_diff(existing, body)
    for key, change in diff.items():
        path = paths.get(key) or _path_or_none(ctx, change["id"])
        if change["removed"]:
            _remove_vm_ports(ctx, containers, pid, change["id"], path, change["removed"])
        if key in paths:
            new_ports = next(v for v in body["properties"]["virtualMachines"] if v["id"].lower() == key)["ports"]
            for nsg_id in path.nsg_ids:  # type: ignore[union-attr]
                current = containers.get(nsg_id)
                if current is None:
                    continue
                containers.set(
                    nsg.apply_deny_rules(
                        current,
                        policy_id=pid,
                        policy_name=name,
                        vm_id=path.vm_id,  # type: ignore[union-attr]
                        vm_name=path.vm_name,  # type: ignore[union-attr]
                        private_ip=path.private_ip,  # type: ignore[union-attr]
                        ports=new_ports,
                    )
                )
    for vm in body["properties"]["virtualMachines"]:
        path = paths[vm["id"].lower()]
        firewall = _supported_firewall(path)
        if firewall is not None and path.firewall_ip:
            vm["publicIpAddress"] = path.firewall_ip
        else:
            vm.pop("publicIpAddress", None)
    properties: dict[str, Any] = {"virtualMachines": body["properties"]["virtualMachines"]}
    if "requests" in body["properties"]:
        properties["requests"] = body["properties"]["requests"]
    elif existing is not None and "requests" in existing["properties"]:
        properties["requests"] = existing["properties"]["requests"]  # a PUT without requests keeps the log
    properties["provisioningState"] = "Succeeded"
    stored: dict[str, Any] = {"id": pid, "name": name_of(pid), "type": POLICY_TYPE}
    if body.get("kind") is not None:
        stored["kind"] = body["kind"]
    stored["location"] = location if existing is None else existing["location"]
    stored["properties"] = properties
    ctx.tx.put(pid, POLICY_TYPE, _rg_part(pid), stored)
    containers.flush()
    return Response(200, stored)


def _path_or_none(ctx: Context, vm_id: str) -> VmPath | None:
    try:
        return vm_path(ctx, vm_id)
    except ArmError:
        return None


def _remove_vm_ports(
    ctx: Context, containers: Containers, pid: str, vm_id: str, path: VmPath | None, ports: list[int]
) -> None:
    """Remove a VM's deny rules (and the rules of its live grants) for ports leaving the policy."""
    nsg_ids = path.nsg_ids if path is not None else _nsgs_holding(ctx, pid, vm_id, ports)
    for nsg_id in nsg_ids:
        current = containers.get(nsg_id)
        if current is not None:
            containers.set(nsg.remove_vm_rules(current, policy_id=pid, vm_id=vm_id, ports=ports))
    marks = ",".join("?" * len(ports))
    live = ctx.tx.grants(
        f"policy = ? AND vm = ? AND state IN ('active', 'pending') AND port IN ({marks})",
        (pid.lower(), vm_id.lower(), *ports),
    )
    for grant in live:
        containers.remove_rules(grant["rules"])
        # The grant stays live without rules so its request entry still expires at its end time.
        ctx.tx.update_grant(grant["seq"], "active", [])


def _nsgs_holding(ctx: Context, pid: str, vm_id: str, ports: list[int]) -> list[str]:
    """NSGs of the subscription that hold this VM's deny rules (the VM itself is gone)."""
    names = {nsg.deny_rule_name(pid, vm_id, p).lower() for p in ports}
    sub = parse_id(pid).get("subscription", "")
    return [
        body["id"]
        for body in ctx.tx.list_type(f"{network.NS}/{network.NSG}", sub)
        if any(r["name"].lower() in names for r in body["properties"].get("securityRules", []))
    ]


def get_policy(ctx: Context) -> Response:
    sub, rg, location, name = ctx.params["sub"], ctx.params["rg"], ctx.params["location"], ctx.params["name"]
    check_rg(ctx, sub, rg)
    body = ctx.tx.get(_policy_id(sub, rg, location, name))
    if body is None:
        raise _policy_not_found(name, rg)
    return Response(200, body)


def delete_policy(ctx: Context) -> Response:
    sub, rg, location, name = ctx.params["sub"], ctx.params["rg"], ctx.params["location"], ctx.params["name"]
    check_rg(ctx, sub, rg)
    pid = _policy_id(sub, rg, location, name)
    body = ctx.tx.get(pid)
    if body is None:
        return Response(204)
    pid = body["id"]
    containers = Containers(ctx)
    for vm in body["properties"].get("virtualMachines", []):
        ports = [p["number"] for p in vm.get("ports", [])]
        _remove_vm_ports(ctx, containers, pid, vm["id"], _path_or_none(ctx, vm["id"]), ports)
    for grant in ctx.tx.grants("policy = ? AND state IN ('active', 'pending')", (pid.lower(),)):
        containers.remove_rules(grant["rules"])
        ctx.tx.update_grant(grant["seq"], "removed", [])
    ctx.tx.delete(pid)
    containers.flush()
    return Response(200)


def initiate(ctx: Context) -> Response:
    sub, rg, location, name = ctx.params["sub"], ctx.params["rg"], ctx.params["location"], ctx.params["name"]
    check_rg(ctx, sub, rg)
    policy = ctx.tx.get(_policy_id(sub, rg, location, name))
    if policy is None:
        raise _policy_not_found(name, rg)
    pid = policy["id"]
    requestor = ctx.principal["display_name"] if ctx.principal else "jit-emulator"
    record, grants = jit.plan_initiate(policy, ctx.body, now=ctx.now, caller_ip=ctx.caller_ip, requestor=requestor)
    count = len(policy["properties"].get("requests") or [])
    request_key = f"{record['startTimeUtc']}#{count + 1}"
    paths = {g["vm_id"].lower(): vm_path(ctx, g["vm_id"]) for g in grants}
    containers = Containers(ctx)
    delay = float(ctx.settings.get("rule_delay_seconds") or 0)
    apply_at = time.time() + delay
    for grant in grants:
        path = paths[grant["vm_id"].lower()]
        older = ctx.tx.grants(
            "policy = ? AND vm = ? AND port = ? AND state IN ('active', 'pending')",
            (pid.lower(), grant["vm_id"].lower(), grant["number"]),
        )
        _drop_grants(ctx, containers, older, "superseded")
        spec = {
            "policy_id": pid,
            "policy_name": policy["name"],
            "vm_id": path.vm_id,
            "number": grant["number"],
            "protocol": grant["protocol"],
            "sources": grant["sources"],
        }
        rules: list[dict[str, str]] = []
        firewall = _supported_firewall(path)
        if firewall is not None and path.firewall_ip:
            current = containers.get(firewall["id"]) or firewall
            new, rule_name, mapped = nsg.add_dnat_rule(
                current,
                policy_name=policy["name"],
                vm_name=path.vm_name,
                vm_private_ip=path.private_ip,
                port=grant["number"],
                protocol=grant["protocol"],
                sources=grant["sources"],
                firewall_public_ip=path.firewall_ip,
                request_key=request_key,
            )
            containers.set(new)
            rules.append({"container": firewall["id"], "name": rule_name, "kind": "firewall"})
            _set_mapped_port(record, path.vm_id, grant["number"], mapped)
        seq = ctx.tx.add_grant(
            pid, path.vm_id, grant["number"], request_key, "pending", apply_at,
            jit.format_time(grant["end_time"]), spec, rules,
        )
        if delay <= 0:
            created = _apply_grant_rules(ctx, containers, {"spec": spec, "request_key": request_key})
            ctx.tx.update_grant(seq, "active", rules + created)
    updated = jit.supersede(policy, record)
    ctx.tx.put(pid, POLICY_TYPE, _rg_part(pid), updated)
    containers.flush()
    return Response(202, record)


def _set_mapped_port(record: dict[str, Any], vm_id: str, number: int, mapped: int) -> None:
    for vm in record["virtualMachines"]:
        if vm["id"].lower() == vm_id.lower():
            for port in vm["ports"]:
                if port["number"] == number:
                    port["mappedPort"] = mapped


def _list(ctx: Context, *, rg: str | None, location: str | None) -> Response:
    sub = ctx.params["sub"]
    if rg is None:
        check_subscription(ctx, sub)
    else:
        check_rg(ctx, sub, rg)
    items = ctx.tx.list_type(POLICY_TYPE, sub, rg)
    if location is not None:
        items = [p for p in items if p.get("location", "").lower() == location.lower()]
    return page(ctx, items)


# -- locations and pricings ---------------------------------------------------------------------------------


def _location_body(sub: str, home: str) -> dict[str, Any]:
    return {
        "id": f"/subscriptions/{sub}/providers/{NS}/locations/{home}",
        "name": home,
        "type": f"{NS}/locations",
        "properties": {"homeRegionName": home},
    }


def _pricing_body(ctx: Context, scope: str, plan: str) -> dict[str, Any]:
    stored = _pricing(ctx, scope, plan)
    if stored is not None:
        return copy.deepcopy(stored)
    inherited = None
    if parse_id(scope).get("resource_group") or parse_id(scope).get("name"):
        sub = parse_id(scope).get("subscription", "")
        inherited = _pricing(ctx, f"/subscriptions/{sub}", plan)
    props: dict[str, Any]
    if inherited is not None:
        props = {
            **{k: v for k, v in inherited["properties"].items() if k not in ("enforce", "resourcesCoverageStatus")},
            "inherited": "True",
            "inheritedFrom": _rg_part(inherited["id"]),
        }
    else:
        props = {"pricingTier": "Free", "freeTrialRemainingTime": "PT0S"}
    return {
        "id": f"{scope.rstrip('/')}/providers/{NS}/pricings/{plan}",
        "name": plan,
        "type": PRICING_TYPE,
        "properties": props,
    }


def _plan_name(name: str) -> str:
    for plan in PLANS:
        if plan.lower() == name.lower():
            return plan
    raise ArmError(
        404,
        "PricingNotFound",
        f"The pricing '{name}' does not exist. Known plans: {', '.join(PLANS)}.",
    )


def _scope_of(ctx: Context) -> str:
    scope = "/" + ctx.params.get("scope", "").strip("/")
    if not ctx.tx.exists(scope):
        raise ArmError(404, "ResourceNotFound", f"The scope '{scope}' was not found.")
    return scope


def get_pricing(ctx: Context) -> Response:
    scope = _scope_of(ctx)
    return Response(200, _pricing_body(ctx, scope, _plan_name(ctx.params["name"])))


def put_pricing(ctx: Context) -> Response:
    scope = _scope_of(ctx)
    plan = _plan_name(ctx.params["name"])
    props = ctx.require_body().get("properties") or {}
    tier = props.get("pricingTier")
    if tier not in ("Free", "Standard"):
        raise ArmError(400, "InvalidInput", f"pricingTier must be 'Free' or 'Standard', got {tier!r}.", target="properties.pricingTier")
    sub_plan = props.get("subPlan")
    if plan == "VirtualMachines" and sub_plan not in (None, "P1", "P2"):
        raise ArmError(400, "InvalidInput", f"subPlan for VirtualMachines must be 'P1' or 'P2', got {sub_plan!r}.", target="properties.subPlan")
    existing = _pricing(ctx, scope, plan)
    out_props: dict[str, Any] = {"pricingTier": tier}
    if tier == "Standard":
        out_props["subPlan"] = sub_plan or ("P2" if plan == "VirtualMachines" else None)
        if out_props["subPlan"] is None:
            del out_props["subPlan"]
        out_props["freeTrialRemainingTime"] = "PT0S"
        out_props["enablementTime"] = (existing or {}).get("properties", {}).get(
            "enablementTime", jit.format_time(ctx.now)
        )
    else:
        out_props["freeTrialRemainingTime"] = "PT0S"
    if props.get("enforce") in ("True", "False") and not parse_id(scope).get("resource_group"):
        out_props["enforce"] = props["enforce"]
    if isinstance(props.get("extensions"), list):
        out_props["extensions"] = props["extensions"]
    body = {"id": f"{scope.rstrip('/')}/providers/{NS}/pricings/{plan}", "name": plan, "type": PRICING_TYPE, "properties": out_props}
    ctx.tx.put(body["id"], PRICING_TYPE, scope, body)
    return Response(200 if existing else 201, body)


def delete_pricing(ctx: Context) -> Response:
    scope = _scope_of(ctx)
    plan = _plan_name(ctx.params["name"])
    if not parse_id(scope).get("resource_group"):
        raise ArmError(400, "InvalidInput", "Pricings can be deleted at resource scope only.")
    existing = _pricing(ctx, scope, plan)
    if existing is None:
        return Response(204)
    ctx.tx.delete(existing["id"])
    return Response(200)


def list_pricings(ctx: Context) -> Response:
    scope = _scope_of(ctx)
    items = [_pricing_body(ctx, scope, plan) for plan in PLANS]
    flt = ctx.query.get("$filter", "")
    if "name in" in flt:
        wanted = {n.strip(" ()'").lower() for n in flt.split("name in", 1)[1].split(",")}
        items = [i for i in items if i["name"].lower() in wanted]
    return Response(200, {"value": items})


def register(emulator: Emulator) -> None:
    reg = emulator.registry
    emulator.sweepers.append(sweep)
    sub_base = "/subscriptions/<sub>"
    rg_base = "/subscriptions/<sub>/resourceGroups/<rg>"
    policies = f"providers/{NS}/locations/<location>/jitNetworkAccessPolicies"
    read = f"{POLICY_TYPE}/read"
    sub_scope = lambda ctx: f"/subscriptions/{ctx.params['sub']}"  # noqa: E731
    rg_scope = lambda ctx: f"/subscriptions/{ctx.params['sub']}/resourceGroups/{ctx.params['rg']}"  # noqa: E731
    v = JIT_VERSIONS
    reg.add("GET", f"{sub_base}/providers/{NS}/jitNetworkAccessPolicies",
            lambda ctx: _list(ctx, rg=None, location=None), action=read, scope=sub_scope, api_versions=v)
    reg.add("GET", f"{sub_base}/{policies}",
            lambda ctx: _list(ctx, rg=None, location=ctx.params["location"]), action=read, scope=sub_scope, api_versions=v)
    reg.add("GET", f"{rg_base}/providers/{NS}/jitNetworkAccessPolicies",
            lambda ctx: _list(ctx, rg=ctx.params["rg"], location=None), action=read, scope=rg_scope, api_versions=v)
    reg.add("GET", f"{rg_base}/{policies}",
            lambda ctx: _list(ctx, rg=ctx.params["rg"], location=ctx.params["location"]), action=read, scope=rg_scope, api_versions=v)
    reg.add("GET", f"{rg_base}/{policies}/<name>", get_policy, action=read, api_versions=v)
    reg.add("PUT", f"{rg_base}/{policies}/<name>", put_policy, action=f"{POLICY_TYPE}/write", api_versions=v)
    reg.add("DELETE", f"{rg_base}/{policies}/<name>", delete_policy, action=f"{POLICY_TYPE}/delete", api_versions=v)
    reg.add("POST", f"{rg_base}/{policies}/<name>/initiate", initiate, action=f"{POLICY_TYPE}/initiate/action",
            scope=lambda ctx: ctx.path.rsplit("/", 1)[0], api_versions=v)

    def list_locations(ctx: Context) -> Response:
        check_subscription(ctx, ctx.params["sub"])
        return page(ctx, [_location_body(ctx.params["sub"], ctx.settings["home_location"])])

    def get_location(ctx: Context) -> Response:
        check_subscription(ctx, ctx.params["sub"])
        home = ctx.settings["home_location"]
        if ctx.params["location"].lower() != home.lower():
            raise ArmError(404, "LocationNotFound", f"Location '{ctx.params['location']}' is not the ASC location of this subscription (it is '{home}').")
        return Response(200, _location_body(ctx.params["sub"], home))

    reg.add("GET", f"{sub_base}/providers/{NS}/locations", list_locations, action=f"{NS}/locations/read",
            scope=sub_scope, api_versions=LOCATION_VERSIONS)
    reg.add("GET", f"{sub_base}/providers/{NS}/locations/<location>", get_location, action=f"{NS}/locations/read",
            scope=sub_scope, api_versions=LOCATION_VERSIONS)

    pricing_scope = lambda ctx: "/" + ctx.params.get("scope", "").strip("/")  # noqa: E731
    pv = PRICING_VERSIONS
    reg.add("GET", f"/<path:scope>/providers/{NS}/pricings/<name>", get_pricing, action=f"{NS}/pricings/read", scope=pricing_scope, api_versions=pv)
    reg.add("PUT", f"/<path:scope>/providers/{NS}/pricings/<name>", put_pricing, action=f"{NS}/pricings/write", scope=pricing_scope, api_versions=pv)
    reg.add("DELETE", f"/<path:scope>/providers/{NS}/pricings/<name>", delete_pricing, action=f"{NS}/pricings/delete", scope=pricing_scope, api_versions=pv)
    reg.add("GET", f"/<path:scope>/providers/{NS}/pricings", list_pricings, action=f"{NS}/pricings/read", scope=pricing_scope, api_versions=pv)

