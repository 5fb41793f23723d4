"""Microsoft.Security: locations, pricings and just-in-time network access policies.

The JIT semantics (validation, rule placement, the request lifecycle) are the plain functions
of `jit_emulator.jit` and `jit_emulator.nsg`; this module reads the VM's network path from the
store, applies those functions to the NSGs and firewalls on it, and keeps the grants table that
records which rules each request created so they can be removed when it ends.
"""

from __future__ import annotations

import builtins
import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import jit, nsg, pricing
from ..arm import Context, Response, check_rg, check_subscription, name_of, page, parse_id
from ..errors import ArmError
from . import network
from ._generic import ref_id

if TYPE_CHECKING:
    from ..server import Emulator

NS = "Microsoft.Security"
POLICY_TYPE = f"{NS}/locations/jitNetworkAccessPolicies"
PRICING_TYPE = pricing.PRICING_TYPE
JIT_VERSIONS = ("2020-01-01", "2015-06-01-preview")
LOCATION_VERSIONS = ("2015-06-01-preview",)
PRICING_VERSIONS = ("2024-01-01", "2023-01-01", "2022-03-01", "2018-06-01")


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
    return ctx.tx.get(pricing.pricing_id(scope, plan))


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


def _vms_in_other_policies(ctx: Context, sub: str, policy_id: str) -> dict[str, str]:
    """VM id (lower-cased) -> the id of the other policy of the subscription that holds it."""
    held: dict[str, str] = {}
    for other in ctx.tx.list_type(POLICY_TYPE, sub):
        if other["id"].lower() != policy_id.lower():
            for vm in other["properties"].get("virtualMachines", []):
                held.setdefault(str(vm.get("id", "")).lower(), other["id"])
    return held


def _check_not_in_other_policy(vm_id: str, held: dict[str, str]) -> None:
    other = held.get(vm_id.lower())
    if other is not None:
        raise ArmError(
            409,
            "VirtualMachineAlreadyInPolicy",
            f"Virtual machine '{vm_id}' is already configured in just-in-time policy '{other}'. A VM can"
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

    # builtins.set: inside this class, `set` names the method above.
    def remove_nsg_rules(self, removals: dict[str, builtins.set[str]]) -> None:
        """Remove named rules from NSGs, one pass per NSG (NSG id -> rule names, ids in any casing)."""
        merged: dict[str, tuple[str, builtins.set[str]]] = {}
        for nsg_id, names in removals.items():
            merged.setdefault(nsg_id.lower(), (nsg_id, set()))[1].update(names)
        for nsg_id, names in merged.values():
            body = self.get(nsg_id)
            if body is not None:
                self.set(nsg.remove_rules(body, names))

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
            naming=naming_for(ctx, nsg_id),
        )
        containers.set(new)
        rules.extend({"container": nsg_id, "name": n, "kind": "nsg"} for n in names)
    return rules


# -- sweeping what the clock made due -------------------------------------------------------------------


def sweep(emulator: Emulator) -> None:
    """Write the allow rules whose delay has passed and end the grants whose endTimeUtc has come.

    Both times are on the emulator's clock, so moving the clock applies and expires them. Only the
    request entries of expired grants (requests made through initiate) change to Revoked/Expired;
    entries a client PUT into `requests` are kept as given.
    """
    now = emulator.clock.now()
    now_iso = jit.format_time(now)
    stamp = now.timestamp()
    with emulator.store.read() as tx:
        settling = any(at <= stamp for at in tx.kv_get(SETTLING_KEY, {}).values())
        if not settling and not tx.any_grant_due(now_iso, stamp):
            return
    with emulator.store.write() as tx:
        if settling:
            _settle_due(tx, stamp)
        ctx = system_context(emulator, tx)
        containers = Containers(ctx)
        for grant in tx.grants(states=("pending",), apply_at_most=stamp, end_after=now_iso):
            rules = grant["rules"] + _apply_grant_rules(ctx, containers, grant)
            tx.update_grant(grant["seq"], "active", rules)
        due = tx.grants(states=("active", "pending"), end_at_most=now_iso)
        ended: dict[str, set[tuple[str, str, int]]] = {}
        for grant in due:
            containers.remove_rules(grant["rules"])
            tx.update_grant(grant["seq"], "expired", [])
            start = grant["request_key"].split("#", 1)[0]
            ended.setdefault(grant["policy"], set()).add((start, grant["vm"], grant["port"]))
        for policy_key, entries in sorted(ended.items()):
            policy = tx.get(policy_key)
            if policy is not None:
                expired, _ = jit.expire(policy, now, only=entries)
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
    return (
        f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{NS}/locations/{location}/jitNetworkAccessPolicies/{name}"
    )


def _policy_not_found(pid: str) -> ArmError:
    """Azure's 404 for a missing policy, naming the full policy id as the request spelled it."""
    return ArmError(404, "PolicyNotFound", f"Just-In-Time Network Access Policy '{pid}' does not exist.")


# -- rule naming generations -------------------------------------------------------------------------------

# Which generation of names JIT writes (nsg.CURRENT since May 2023, nsg.LEGACY before): a default, per
# subscription and per NSG, so a world can hold an older subscription, or an NSG with rules of both.
RULE_NAMING_KEY = "rule_naming"


def check_rule_naming(spec: Any) -> dict[str, Any]:
    """{"default": naming, "subscriptions": {id: naming}, "network_security_groups": {id: naming}}, all optional."""
    if not isinstance(spec, dict) or set(spec) - {"default", "subscriptions", "network_security_groups"}:
        raise ArmError(
            400,
            "InvalidRuleNaming",
            "rule_naming takes {default: current|legacy, subscriptions: {<id>: current|legacy},"
            " network_security_groups: {<NSG id>: current|legacy}}.",
        )
    out: dict[str, Any] = {"default": nsg.check_naming(spec.get("default", nsg.CURRENT))}
    for key in ("subscriptions", "network_security_groups"):
        given = spec.get(key) or {}
        if not isinstance(given, dict):
            raise ArmError(400, "InvalidRuleNaming", f"rule_naming.{key} maps ids to current or legacy.")
        out[key] = {str(k).strip("/").lower(): nsg.check_naming(v) for k, v in given.items()}
    return out


def rule_naming(tx: Any) -> dict[str, Any]:
    return tx.kv_get(RULE_NAMING_KEY) or check_rule_naming({})


def set_rule_naming(tx: Any, spec: Any) -> dict[str, Any]:
    checked = check_rule_naming(spec)
    tx.kv_set(RULE_NAMING_KEY, checked)
    return checked


def naming_for(ctx: Context, container_id: str) -> str:
    """The naming JIT writes in an NSG or firewall: its own, else its subscription's, else the default."""
    spec = rule_naming(ctx.tx)
    own = spec["network_security_groups"].get(container_id.strip("/").lower())
    if own is not None:
        return str(own)
    sub = parse_id(container_id).get("subscription", "").lower()
    return str(spec["subscriptions"].get(sub) or spec["subscriptions"].get(f"subscriptions/{sub}") or spec["default"])


# -- provisioning state ------------------------------------------------------------------------------------

# Policies written by a PUT read `Updating` until the service has applied them to the NSGs, then
# `Succeeded` (recorded: the PUT answer and a GET right after say Updating, older policies Succeeded).
# The emulator keeps the time each policy settles (emulator clock) under this key; the sweeper flips it.
SETTLING_KEY = "jit_settling"


def _settle_later(ctx: Context, pid: str) -> str:
    """The provisioning state a PUT leaves: Updating until `jit_settle_seconds` have passed on the clock.

    A world file (no caller) describes policies that exist already: they are Succeeded at once.
    """
    seconds = float(ctx.settings.get("jit_settle_seconds") or 0)
    pending = ctx.tx.kv_get(SETTLING_KEY, {})
    if ctx.principal is None or seconds <= 0:
        if pending.pop(pid.lower(), None) is not None:
            ctx.tx.kv_set(SETTLING_KEY, pending)
        return "Succeeded"
    pending[pid.lower()] = ctx.now.timestamp() + seconds
    ctx.tx.kv_set(SETTLING_KEY, pending)
    return "Updating"


def _settle_due(tx: Any, stamp: float) -> None:
    pending = tx.kv_get(SETTLING_KEY, {})
    due = [key for key, at in pending.items() if at <= stamp]
    for key in due:
        body = tx.get(key)
        if body is not None and body.get("properties", {}).get("provisioningState") == "Updating":
            body["properties"]["provisioningState"] = "Succeeded"
            tx.put(body["id"], POLICY_TYPE, _rg_part(body["id"]), body)
        del pending[key]
    tx.kv_set(SETTLING_KEY, pending)


def _policy_body(
    pid: str, location: str, kind: Any, properties: dict[str, Any], *, requests: list[Any] | None = None
) -> dict[str, Any]:
    """A policy in the order the service writes one: kind, properties (virtualMachines, requests,
    provisioningState, appendMode), id, name, type, location. `requests` overrides the stored list."""
    body: dict[str, Any] = {}
    if kind is not None:
        body["kind"] = kind
    body["properties"] = {
        "virtualMachines": properties.get("virtualMachines", []),
        "requests": properties.get("requests", []) if requests is None else requests,
        "provisioningState": properties.get("provisioningState", "Succeeded"),
        "appendMode": False,
    }
    body.update({"id": pid, "name": name_of(pid), "type": POLICY_TYPE, "location": location})
    return body


def put_policy(ctx: Context) -> Response:
    sub, rg, location, name = ctx.params["sub"], ctx.params["rg"], ctx.params["location"], ctx.params["name"]
    jit.validate_names(sub, rg, name)
    check_rg(ctx, sub, rg)
    body = jit.validate_policy(ctx.require_body(), name)
    # The id keeps the casing of the request that wrote it (recorded), whatever an earlier PUT used.
    pid = _policy_id(sub, rg, location, name)
    existing = ctx.tx.get(pid)
    _check_plan(ctx, sub)
    held = _vms_in_other_policies(ctx, sub, pid)
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
        _check_not_in_other_policy(path.vm_id, held)
        paths[path.vm_id.lower()] = path
    containers = Containers(ctx)
    removals: dict[str, set[str]] = {}
    for key, change in jit.remove_vm_ports_diff(existing, body).items():
        if change["removed"]:
            removed_path = paths.get(key) or _path_or_none(ctx, change["id"])
            _remove_vm_ports(ctx, containers, removals, pid, change["id"], removed_path, change["removed"])
    containers.remove_nsg_rules(removals)
    # Every VM's deny rules are (re)written, one pass per NSG: a PUT restores rules removed by hand.
    per_nsg: dict[str, tuple[str, list[dict[str, Any]]]] = {}
    for vm in body["properties"]["virtualMachines"]:
        path = paths[vm["id"].lower()]
        entry = {"vm_id": path.vm_id, "vm_name": path.vm_name, "private_ip": path.private_ip, "ports": vm["ports"]}
        for nsg_id in path.nsg_ids:
            per_nsg.setdefault(nsg_id.lower(), (nsg_id, []))[1].append(entry)
    for nsg_id, entries in per_nsg.values():
        current = containers.get(nsg_id)
        if current is not None:
            containers.set(
                nsg.apply_deny_rules_for_vms(
                    current, policy_id=pid, policy_name=name, vms=entries, naming=naming_for(ctx, nsg_id)
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
    properties["provisioningState"] = _settle_later(ctx, pid)
    # `location` is the path's location segment, lower-cased (recorded).
    stored = _policy_body(pid, location.lower(), body.get("kind"), properties)
    ctx.tx.put(pid, POLICY_TYPE, _rg_part(pid), stored)
    containers.flush()
    # 200 on create and on replace, synchronously; the answer shows `requests: []` although the service
    # keeps the history (a GET shows it).
    return Response(200, _policy_body(pid, location.lower(), body.get("kind"), properties, requests=[]))


def _path_or_none(ctx: Context, vm_id: str) -> VmPath | None:
    try:
        return vm_path(ctx, vm_id)
    except ArmError:
        return None


def _remove_vm_ports(
    ctx: Context,
    containers: Containers,
    removals: dict[str, set[str]],
    pid: str,
    vm_id: str,
    path: VmPath | None,
    ports: list[int],
) -> None:
    """For ports leaving the policy: note the VM's deny rules in `removals` (NSG id -> rule names, applied
    together by Containers.remove_nsg_rules) and remove the rules of its live grants."""
    nsg_ids = path.nsg_ids if path is not None else _nsgs_holding(ctx, pid, vm_id, ports)
    names = {name for p in ports for name in nsg.deny_rule_names(pid, vm_id, p)}
    for nsg_id in nsg_ids:
        removals.setdefault(nsg_id, set()).update(names)
    live = ctx.tx.grants(states=("active", "pending"), policy=pid, vm=vm_id, ports=ports)
    for grant in live:
        containers.remove_rules(grant["rules"])
        # The grant stays live without rules so its request entry still expires at its end time.
        ctx.tx.update_grant(grant["seq"], "active", [])


def _nsgs_holding(ctx: Context, pid: str, vm_id: str, ports: list[int]) -> list[str]:
    """NSGs of the subscription that hold this VM's deny rules (the VM itself is gone)."""
    names = {name.lower() for p in ports for name in nsg.deny_rule_names(pid, vm_id, p)}
    sub = parse_id(pid).get("subscription", "")
    return [
        body["id"]
        for body in ctx.tx.list_type(f"{network.NS}/{network.NSG}", sub)
        if any(r["name"].lower() in names for r in body["properties"].get("securityRules", []))
    ]


def get_policy(ctx: Context) -> Response:
    sub, rg, location, name = ctx.params["sub"], ctx.params["rg"], ctx.params["location"], ctx.params["name"]
    check_rg(ctx, sub, rg)
    pid = _policy_id(sub, rg, location, name)
    body = ctx.tx.get(pid)
    if body is None:
        raise _policy_not_found(pid)
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
    removals: dict[str, set[str]] = {}
    for vm in body["properties"].get("virtualMachines", []):
        ports = [p["number"] for p in vm.get("ports", [])]
        _remove_vm_ports(ctx, containers, removals, pid, vm["id"], _path_or_none(ctx, vm["id"]), ports)
    containers.remove_nsg_rules(removals)
    for grant in ctx.tx.grants(states=("active", "pending"), policy=pid):
        containers.remove_rules(grant["rules"])
        ctx.tx.update_grant(grant["seq"], "removed", [])
    ctx.tx.delete(pid)
    containers.flush()
    return Response(200)  # recorded: 200 with an empty body (Content-Length: 0)


def initiate(ctx: Context) -> Response:
    sub, rg, location, name = ctx.params["sub"], ctx.params["rg"], ctx.params["location"], ctx.params["name"]
    check_rg(ctx, sub, rg)
    asked = _policy_id(sub, rg, location, name)
    policy = ctx.tx.get(asked)
    if policy is None:
        raise _policy_not_found(asked)
    pid = policy["id"]
    # Recorded: the requestor is a user's sign-in name (UPN), and "" for a service principal.
    principal = ctx.principal or {}
    requestor = principal.get("client_id", "") if principal.get("kind") == "User" else ""
    record, grants = jit.plan_initiate(
        {**policy, "id": asked}, ctx.body, now=ctx.now, caller_ip=ctx.caller_ip, requestor=requestor
    )
    count = len(policy["properties"].get("requests") or [])
    request_key = f"{record['startTimeUtc']}#{count + 1}"
    paths = {g["vm_id"].lower(): vm_path(ctx, g["vm_id"]) for g in grants}
    containers = Containers(ctx)
    delay = float(ctx.settings.get("rule_delay_seconds") or 0)
    apply_at = ctx.now.timestamp() + delay
    for grant in grants:
        path = paths[grant["vm_id"].lower()]
        older = ctx.tx.grants(states=("active", "pending"), policy=pid, vm=grant["vm_id"], ports=[grant["number"]])
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
                naming=naming_for(ctx, firewall["id"]),
            )
            containers.set(new)
            rules.append({"container": firewall["id"], "name": rule_name, "kind": "firewall"})
            _set_mapped_port(record, path.vm_id, grant["number"], mapped)
        seq = ctx.tx.add_grant(
            pid,
            path.vm_id,
            grant["number"],
            request_key,
            "pending",
            apply_at,
            jit.format_time(grant["end_time"]),
            spec,
            rules,
        )
        if delay <= 0:
            created = _apply_grant_rules(ctx, containers, {"spec": spec, "request_key": request_key})
            ctx.tx.update_grant(seq, "active", rules + created)
    updated = jit.supersede(policy, record)
    ctx.tx.put(pid, POLICY_TYPE, _rg_part(pid), updated)
    containers.flush()
    return Response(202, _as_initiating(record))


def _as_initiating(record: dict[str, Any]) -> dict[str, Any]:
    """The initiate answer: its ports say Initiating (the policy's history says Initiated; recorded)."""
    shown = copy.deepcopy(record)
    for vm in shown["virtualMachines"]:
        for port in vm["ports"]:
            if port.get("status") == "Initiated":
                port["status"] = "Initiating"
    return shown


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


def _scope_of(ctx: Context) -> tuple[str, bool]:
    """The pricing scope (a subscription or a resource) and whether it is a resource."""
    scope = "/" + ctx.params.get("scope", "").strip("/")
    parts = parse_id(scope)
    resource_level = "name" in parts
    if not resource_level and scope.rstrip("/").lower() != f"/subscriptions/{parts.get('subscription', '')}".lower():
        raise ArmError(
            400,
            "InvalidInput",
            f"The scope '{scope}' is not valid for pricings: use a subscription or a resource id.",
        )
    pricing.check_version_scope(ctx.api_version, resource_level=resource_level)
    if resource_level:
        exists = ctx.tx.exists(scope)
    else:
        check_subscription(ctx, parts.get("subscription", ""))
        exists = True
    if not exists:
        raise ArmError(404, "ResourceNotFound", f"The scope '{scope}' was not found.")
    return scope, resource_level


def _subscription_scope(scope: str) -> str:
    return f"/subscriptions/{parse_id(scope).get('subscription', '')}"


def _overrides(ctx: Context, sub_scope: str, plan: str) -> list[dict[str, Any]]:
    """The resource-level pricings of `plan` under a subscription."""
    sub = parse_id(sub_scope).get("subscription", "")
    return [
        p
        for p in ctx.tx.list_type(PRICING_TYPE, sub)
        if p["name"].lower() == plan.lower() and "name" in parse_id(p["id"].split("/providers/Microsoft.Security/")[0])
    ]


def _view(ctx: Context, scope: str, resource_level: bool, plan: str) -> dict[str, Any]:
    stored = _pricing(ctx, scope, plan)
    if resource_level:
        subscription = _view(ctx, _subscription_scope(scope), False, plan)
        return pricing.resource_view(scope, plan, stored, subscription)
    return pricing.subscription_view(scope, plan, stored, _overrides(ctx, scope, plan))


def get_pricing(ctx: Context) -> Response:
    scope, resource_level = _scope_of(ctx)
    plan = pricing.canonical_plan(ctx.params["name"], resource_level=resource_level)
    return Response(200, pricing.for_version(_view(ctx, scope, resource_level, plan), ctx.api_version))


def put_pricing(ctx: Context) -> Response:
    scope, resource_level = _scope_of(ctx)
    plan = pricing.canonical_plan(ctx.params["name"], resource_level=resource_level)
    existing = _pricing(ctx, scope, plan)
    name = existing["name"] if existing is not None else ctx.params["name"]
    body = pricing.prepare_put(
        scope,
        name,
        plan,
        pricing.input_for_version(ctx.body, ctx.api_version),
        existing,
        resource_level=resource_level,
        now_text=jit.format_time(ctx.now),
    )
    ctx.tx.put(body["id"], PRICING_TYPE, scope, body)
    shown = body if resource_level else pricing.subscription_view(scope, plan, body, _overrides(ctx, scope, plan))
    # A subscription always has every plan (Free until set), so its PUT is an update: 200 (recorded).
    created = resource_level and existing is None
    return Response(201 if created else 200, pricing.for_version(pricing.put_response(shown), ctx.api_version))


def delete_pricing(ctx: Context) -> Response:
    scope, resource_level = _scope_of(ctx)
    if not resource_level:
        raise ArmError(400, "InvalidInput", "Pricings can be deleted at resource scope only.")
    existing = _pricing(ctx, scope, pricing.canonical_plan(ctx.params["name"], resource_level=True))
    if existing is None:
        return Response(204)
    ctx.tx.delete(existing["id"])
    return Response(200)


def list_pricings(ctx: Context) -> Response:
    scope, resource_level = _scope_of(ctx)
    wanted = pricing.name_filter(ctx.query.get("$filter", ""))
    plans = pricing.RESOURCE_PLANS if resource_level else pricing.PLANS
    items = [
        pricing.for_version(_view(ctx, scope, resource_level, plan), ctx.api_version)
        for plan in plans
        if wanted is None or plan.lower() in wanted
    ]
    return Response(200, {"value": items})


def register(emulator: Emulator) -> None:
    reg = emulator.registry
    emulator.sweepers.append(sweep)
    sub_base = "/subscriptions/<sub>"
    rg_base = "/subscriptions/<sub>/resourceGroups/<rg>"
    policies = f"providers/{NS}/locations/<location>/jitNetworkAccessPolicies"
    read = f"{POLICY_TYPE}/read"
    sub_scope = lambda ctx: f"/subscriptions/{ctx.params['sub']}"
    rg_scope = lambda ctx: f"/subscriptions/{ctx.params['sub']}/resourceGroups/{ctx.params['rg']}"
    v = JIT_VERSIONS
    reg.add(
        "GET",
        f"{sub_base}/providers/{NS}/jitNetworkAccessPolicies",
        lambda ctx: _list(ctx, rg=None, location=None),
        action=read,
        scope=sub_scope,
        api_versions=v,
    )
    reg.add(
        "GET",
        f"{sub_base}/{policies}",
        lambda ctx: _list(ctx, rg=None, location=ctx.params["location"]),
        action=read,
        scope=sub_scope,
        api_versions=v,
    )
    reg.add(
        "GET",
        f"{rg_base}/providers/{NS}/jitNetworkAccessPolicies",
        lambda ctx: _list(ctx, rg=ctx.params["rg"], location=None),
        action=read,
        scope=rg_scope,
        api_versions=v,
    )
    reg.add(
        "GET",
        f"{rg_base}/{policies}",
        lambda ctx: _list(ctx, rg=ctx.params["rg"], location=ctx.params["location"]),
        action=read,
        scope=rg_scope,
        api_versions=v,
    )
    reg.add("GET", f"{rg_base}/{policies}/<name>", get_policy, action=read, api_versions=v)
    reg.add("PUT", f"{rg_base}/{policies}/<name>", put_policy, action=f"{POLICY_TYPE}/write", api_versions=v)
    reg.add("DELETE", f"{rg_base}/{policies}/<name>", delete_policy, action=f"{POLICY_TYPE}/delete", api_versions=v)
    reg.add(
        "POST",
        f"{rg_base}/{policies}/<name>/initiate",
        initiate,
        action=f"{POLICY_TYPE}/initiate/action",
        scope=lambda ctx: ctx.path.rsplit("/", 1)[0],
        api_versions=v,
    )

    def list_locations(ctx: Context) -> Response:
        check_subscription(ctx, ctx.params["sub"])
        return page(ctx, [_location_body(ctx.params["sub"], ctx.settings["home_location"])])

    def get_location(ctx: Context) -> Response:
        check_subscription(ctx, ctx.params["sub"])
        home = ctx.settings["home_location"]
        if ctx.params["location"].lower() != home.lower():
            raise ArmError(
                404,
                "LocationNotFound",
                f"Location '{ctx.params['location']}' is not the ASC location of this subscription (it is '{home}').",
            )
        return Response(200, _location_body(ctx.params["sub"], home))

    reg.add(
        "GET",
        f"{sub_base}/providers/{NS}/locations",
        list_locations,
        action=f"{NS}/locations/read",
        scope=sub_scope,
        api_versions=LOCATION_VERSIONS,
    )
    reg.add(
        "GET",
        f"{sub_base}/providers/{NS}/locations/<location>",
        get_location,
        action=f"{NS}/locations/read",
        scope=sub_scope,
        api_versions=LOCATION_VERSIONS,
    )

    pricing_scope = lambda ctx: "/" + ctx.params.get("scope", "").strip("/")
    pv = PRICING_VERSIONS
    reg.add(
        "GET",
        f"/<path:scope>/providers/{NS}/pricings/<name>",
        get_pricing,
        action=f"{NS}/pricings/read",
        scope=pricing_scope,
        api_versions=pv,
    )
    reg.add(
        "PUT",
        f"/<path:scope>/providers/{NS}/pricings/<name>",
        put_pricing,
        action=f"{NS}/pricings/write",
        scope=pricing_scope,
        api_versions=pv,
    )
    reg.add(
        "DELETE",
        f"/<path:scope>/providers/{NS}/pricings/<name>",
        delete_pricing,
        action=f"{NS}/pricings/delete",
        scope=pricing_scope,
        api_versions=pv,
    )
    reg.add(
        "GET",
        f"/<path:scope>/providers/{NS}/pricings",
        list_pricings,
        action=f"{NS}/pricings/read",
        scope=pricing_scope,
        api_versions=pv,
    )
