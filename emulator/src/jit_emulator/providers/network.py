"""Microsoft.Network: virtual networks and subnets, NSGs and security rules, NICs, public IPs, Azure Firewalls.

Bodies are stored as ARM returns them; child resources (subnets, security rules) live inside
their parent's body, as in ARM's own GET of the parent. Back-references that ARM computes
(an NSG's `networkInterfaces` and `subnets`, a NIC's `virtualMachine`, a subnet's
`ipConfigurations`) come from the store's reference table at read time.
"""

from __future__ import annotations

import copy
import ipaddress
import socket
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..arm import Context, Response, etag, name_of, page, resource_not_found
from ..errors import ArmError
from . import _operations
from ._generic import (
    Kind,
    base_body,
    check_if_match,
    get_resource,
    ref_id,
    register_kind,
    require_location,
    require_ref,
    save,
    updating,
)

if TYPE_CHECKING:
    from ..server import Emulator

NS = "Microsoft.Network"
NSG = "networkSecurityGroups"
VNET = "virtualNetworks"
NIC = "networkInterfaces"
PIP = "publicIPAddresses"
FIREWALL = "azureFirewalls"

_PROTOCOLS = {"tcp": "Tcp", "udp": "Udp", "icmp": "Icmp", "esp": "Esp", "ah": "Ah", "*": "*"}
_ACCESS = {"allow": "Allow", "deny": "Deny"}
_DIRECTION = {"inbound": "Inbound", "outbound": "Outbound"}

DEFAULT_RULES = (
    (
        "AllowVnetInBound",
        "Allow inbound traffic from all VMs in VNET",
        "VirtualNetwork",
        "VirtualNetwork",
        "Allow",
        65000,
        "Inbound",
    ),
    (
        "AllowAzureLoadBalancerInBound",
        "Allow inbound traffic from azure load balancer",
        "AzureLoadBalancer",
        "*",
        "Allow",
        65001,
        "Inbound",
    ),
    ("DenyAllInBound", "Deny all inbound traffic", "*", "*", "Deny", 65500, "Inbound"),
    (
        "AllowVnetOutBound",
        "Allow outbound traffic from all VMs to all VMs in VNET",
        "VirtualNetwork",
        "VirtualNetwork",
        "Allow",
        65000,
        "Outbound",
    ),
    (
        "AllowInternetOutBound",
        "Allow outbound traffic from all VMs to Internet",
        "*",
        "Internet",
        "Allow",
        65001,
        "Outbound",
    ),
    ("DenyAllOutBound", "Deny all outbound traffic", "*", "*", "Deny", 65500, "Outbound"),
)


def _props(body: dict[str, Any]) -> dict[str, Any]:
    props = body.get("properties")
    if props is None:
        return {}
    if not isinstance(props, dict):
        raise ArmError(400, "InvalidRequestFormat", "Cannot parse the request: 'properties' must be an object.")
    return props


# -- security rules -----------------------------------------------------------------------------------


def _rule_body(nsg_id: str, rule: dict[str, Any], path: str, default: bool = False) -> dict[str, Any]:
    name = rule.get("name")
    if not isinstance(name, str) or not name:
        raise ArmError(400, "InvalidRequestFormat", f"Cannot parse the request: {path}.name is required.")
    props = _props(rule)
    protocol = _PROTOCOLS.get(str(props.get("protocol", "")).lower())
    if protocol is None:
        raise ArmError(
            400,
            "SecurityRuleInvalidProtocol",
            f"Security rule {name} has invalid Protocol. Value provided: {props.get('protocol')}."
            " Allowed values: Tcp, Udp, Icmp, Esp, Ah, *.",
        )
    access = _ACCESS.get(str(props.get("access", "")).lower())
    if access is None:
        raise ArmError(
            400,
            "SecurityRuleInvalidAccess",
            f"Security rule {name} has invalid Access. Value provided: {props.get('access')}."
            " Allowed values: Allow, Deny.",
        )
    direction = _DIRECTION.get(str(props.get("direction", "")).lower())
    if direction is None:
        raise ArmError(
            400,
            "SecurityRuleInvalidDirection",
            f"Security rule {name} has invalid Direction. Value provided: {props.get('direction')}."
            " Allowed values: Inbound, Outbound.",
        )
    priority = props.get("priority")
    low, high = (65000, 65500) if default else (100, 4096)
    if not isinstance(priority, int) or isinstance(priority, bool) or not low <= priority <= high:
        raise ArmError(
            400,
            "SecurityRuleInvalidPriority",
            f"Security rule {name} has invalid Priority. Value provided: {priority} Allowed range {low}-{high}.",
        )
    out_props: dict[str, Any] = {"provisioningState": "Succeeded"}
    if props.get("description") is not None:
        if len(str(props["description"])) > 140:
            raise ArmError(
                400, "SecurityRuleDescriptionTooLong", f"Security rule {name} description exceeds 140 characters."
            )
        out_props["description"] = str(props["description"])
    out_props["protocol"] = protocol
    for single, plural in (
        ("sourcePortRange", "sourcePortRanges"),
        ("destinationPortRange", "destinationPortRanges"),
        ("sourceAddressPrefix", "sourceAddressPrefixes"),
        ("destinationAddressPrefix", "destinationAddressPrefixes"),
    ):
        one = props.get(single)
        many = props.get(plural) or []
        if one not in (None, "") and many:
            raise ArmError(
                400,
                "SecurityRuleParameterContainsUnsupportedValue",
                f"Security rule {name} has both {single} and {plural}; specify only one of them.",
            )
        if one in (None, "") and not many:
            raise ArmError(
                400,
                "SecurityRuleParameterMissing",
                f"Security rule {name} must have {single} or {plural}.",
            )
        if one not in (None, ""):
            out_props[single] = str(one)
        out_props[plural] = [str(v) for v in many]
    out_props["access"] = access
    out_props["priority"] = priority
    out_props["direction"] = direction
    rtype = "defaultSecurityRules" if default else "securityRules"
    return {
        "name": name,
        "id": f"{nsg_id}/{rtype}/{name}",
        "etag": etag(),
        "type": f"{NS}/{NSG}/{rtype}",
        "properties": out_props,
    }


def _check_priorities(rules: list[dict[str, Any]]) -> None:
    seen: dict[tuple[int, str], str] = {}
    names: set[str] = set()
    for rule in rules:
        lname = rule["name"].lower()
        if lname in names:
            raise ArmError(
                400, "InvalidRequestFormat", f"Cannot parse the request: duplicate security rule name {rule['name']}."
            )
        names.add(lname)
        key = (rule["properties"]["priority"], rule["properties"]["direction"])
        if key in seen:
            raise ArmError(
                400,
                "SecurityRuleConflict",
                f"Security rule {seen[key]} conflicts with rule {rule['name']}. Rules cannot have the same Priority"
                " and Direction. To learn more, see aka.ms/nsgrules.",
                details=[],
            )
        seen[key] = rule["name"]


def default_rules(nsg_id: str) -> list[dict[str, Any]]:
    return [
        _rule_body(
            nsg_id,
            {
                "name": name,
                "properties": {
                    "description": desc,
                    "protocol": "*",
                    "sourcePortRange": "*",
                    "destinationPortRange": "*",
                    "sourceAddressPrefix": src,
                    "destinationAddressPrefix": dst,
                    "access": access,
                    "priority": prio,
                    "direction": direction,
                },
            },
            "defaultSecurityRules",
            default=True,
        )
        for name, desc, src, dst, access, prio, direction in DEFAULT_RULES
    ]


def _prepare_nsg(
    ctx: Context, rid: str, name: str, body: dict[str, Any], existing: dict[str, Any] | None
) -> dict[str, Any]:
    location = require_location(body)
    props = _props(body)
    raw_rules = props.get("securityRules")
    if raw_rules is None:
        raw_rules = []
    if not isinstance(raw_rules, list):
        raise ArmError(
            400, "InvalidRequestFormat", "Cannot parse the request: properties.securityRules must be a list."
        )
    rules = [_rule_body(rid, r, f"properties.securityRules[{i}]") for i, r in enumerate(raw_rules)]
    _check_priorities(rules)
    out = base_body(rid, name, f"{NS}/{NSG}", body, location)
    out["properties"] = {
        "provisioningState": "Succeeded",
        "resourceGuid": (existing or {}).get("properties", {}).get("resourceGuid", str(uuid.uuid4())),
        "securityRules": rules,
        "defaultSecurityRules": default_rules(rid),
    }
    return _new_etag(out)


def _new_etag(nsg: dict[str, Any]) -> dict[str, Any]:
    """A fresh etag for the NSG, shared by every one of its rules (the six default rules too), as Azure
    does: any write to the NSG or to one rule changes the etag of all of them."""
    tag = etag()
    nsg["etag"] = tag
    props = nsg.get("properties") or {}
    for rule in [*props.get("securityRules", []), *props.get("defaultSecurityRules", [])]:
        rule["etag"] = tag
    return nsg


def save_nsg(ctx: Context, nsg: dict[str, Any]) -> dict[str, Any]:
    """Store a changed NSG body (a rule write, or JIT's own changes) with a new etag; returns what was stored."""
    nsg = copy.deepcopy(nsg)
    for rule in nsg["properties"].get("securityRules", []):
        rule.setdefault("type", f"{NS}/{NSG}/securityRules")
        rule.setdefault("id", f"{nsg['id']}/securityRules/{rule['name']}")
    for key in ("networkInterfaces", "subnets"):
        nsg["properties"].pop(key, None)
    _new_etag(nsg)
    save(ctx, NSG_KIND, nsg)
    return nsg


def _decorate_nsg(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(body)
    nics = ctx.tx.refs_to(body["id"], "nic-nsg")
    subnets = ctx.tx.refs_to(body["id"], "subnet-nsg")
    if nics:
        out["properties"]["networkInterfaces"] = [{"id": i} for i in nics]
    if subnets:
        out["properties"]["subnets"] = [{"id": i} for i in subnets]
    return out


def _before_delete_nsg(ctx: Context, body: dict[str, Any]) -> None:
    users = ctx.tx.refs_to(body["id"], "nic-nsg") + ctx.tx.refs_to(body["id"], "subnet-nsg")
    if users:
        raise ArmError(
            400,
            "InUseNetworkSecurityGroupCannotBeDeleted",
            f"Network security group {body['id']} cannot be deleted because it is in use by the following resources:"
            f" {', '.join(users)}. In order to delete the Network security group, remove the association with the"
            " resource(s).",
        )


NSG_KIND = Kind(NS, NSG, _prepare_nsg, decorate=_decorate_nsg, before_delete=_before_delete_nsg, asynchronous=True)


# -- virtual networks and subnets -----------------------------------------------------------------------


def _subnet_body(
    ctx: Context, vnet_id: str, subnet: dict[str, Any], path: str, existing: dict[str, Any] | None
) -> dict[str, Any]:
    name = subnet.get("name")
    if not isinstance(name, str) or not name:
        raise ArmError(400, "InvalidRequestFormat", f"Cannot parse the request: {path}.name is required.")
    props = _props(subnet)
    prefix = props.get("addressPrefix") or ((props.get("addressPrefixes") or [None])[0])
    try:
        ipaddress.ip_network(str(prefix))
    except ValueError as exc:
        raise ArmError(
            400, "InvalidAddressPrefixFormat", f"Address prefix {prefix} of subnet {name} has an invalid format."
        ) from exc
    sid = f"{vnet_id}/subnets/{name}"
    out_props: dict[str, Any] = {"provisioningState": "Succeeded", "addressPrefix": str(prefix)}
    nsg = ref_id(props.get("networkSecurityGroup"))
    require_ref(ctx, sid, nsg)
    if nsg:
        out_props["networkSecurityGroup"] = {"id": nsg}
    out_props["privateEndpointNetworkPolicies"] = props.get("privateEndpointNetworkPolicies", "Disabled")
    out_props["privateLinkServiceNetworkPolicies"] = props.get("privateLinkServiceNetworkPolicies", "Enabled")
    return {"name": name, "id": sid, "etag": etag(), "type": f"{NS}/{VNET}/subnets", "properties": out_props}


def _prepare_vnet(
    ctx: Context, rid: str, name: str, body: dict[str, Any], existing: dict[str, Any] | None
) -> dict[str, Any]:
    location = require_location(body)
    props = _props(body)
    space = props.get("addressSpace") or {}
    prefixes = space.get("addressPrefixes") if isinstance(space, dict) else None
    if not prefixes:
        raise ArmError(
            400,
            "InvalidRequestFormat",
            "Cannot parse the request: properties.addressSpace.addressPrefixes is required.",
        )
    if "subnets" in props:
        raw = props.get("subnets") or []
        subnets = [_subnet_body(ctx, rid, s, f"properties.subnets[{i}]", None) for i, s in enumerate(raw)]
    else:
        # A PUT without `subnets` keeps the existing ones (documented choice; ARM would drop unused ones).
        subnets = list((existing or {}).get("properties", {}).get("subnets", []))
    out = base_body(rid, name, f"{NS}/{VNET}", body, location)
    out["etag"] = etag()
    out["properties"] = {
        "provisioningState": "Succeeded",
        "resourceGuid": (existing or {}).get("properties", {}).get("resourceGuid", str(uuid.uuid4())),
        "addressSpace": {"addressPrefixes": [str(p) for p in prefixes]},
        "subnets": subnets,
        "virtualNetworkPeerings": [],
        "enableDdosProtection": False,
    }
    return out


def _vnet_refs(ctx: Context, body: dict[str, Any]) -> None:
    refs = []
    for subnet in body["properties"].get("subnets", []):
        nsg = ref_id(subnet["properties"].get("networkSecurityGroup"))
        if nsg:
            refs.append((nsg, "subnet-nsg", subnet["id"]))
        refs.append((subnet["id"], "subnet-of", body["id"]))
    ctx.tx.set_refs(body["id"], refs)


def _decorate_vnet(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(body)
    for subnet in out["properties"].get("subnets", []):
        _decorate_subnet(ctx, subnet)
    return out


def _decorate_subnet(ctx: Context, subnet: dict[str, Any]) -> dict[str, Any]:
    configs = ctx.tx.refs_to(subnet["id"], "ipconfig-subnet")
    if configs:
        subnet["properties"]["ipConfigurations"] = [{"id": c} for c in configs]
    return subnet


def _before_delete_vnet(ctx: Context, body: dict[str, Any]) -> None:
    for subnet in body["properties"].get("subnets", []):
        _check_subnet_unused(ctx, subnet["id"])


def _check_subnet_unused(ctx: Context, subnet_id: str) -> None:
    users = ctx.tx.refs_to(subnet_id, "ipconfig-subnet")
    if users:
        raise ArmError(
            400,
            "InUseSubnetCannotBeDeleted",
            f"Subnet {name_of(subnet_id)} is in use by {', '.join(users)} and cannot be deleted."
            " In order to delete the subnet, delete all the resources within the subnet.",
        )


VNET_KIND = Kind(
    NS,
    VNET,
    _prepare_vnet,
    decorate=_decorate_vnet,
    before_delete=_before_delete_vnet,
    after_put=_vnet_refs,
    asynchronous=True,
)


def find_subnet(ctx: Context, subnet_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(vnet body, subnet body) for a subnet id, or None."""
    idx = subnet_id.lower().rfind("/subnets/")
    if idx < 0:
        return None
    vnet = ctx.tx.get(subnet_id[:idx])
    if vnet is None:
        return None
    for subnet in vnet["properties"].get("subnets", []):
        if subnet["id"].lower() == subnet_id.lower():
            return vnet, subnet
    return None


# -- network interfaces -----------------------------------------------------------------------------------


def _allocate_ip(ctx: Context, subnet_id: str, prefix: str, taken_here: set[str]) -> str:
    """The first free private address of a subnet: Azure keeps the first four (.0 to .3) and the last one."""
    network = ipaddress.ip_network(prefix, strict=False)
    family = socket.AF_INET if network.version == 4 else socket.AF_INET6
    used: set[int] = set()
    for text in [*ctx.tx.refs_to(subnet_id, "ip"), *taken_here]:
        try:  # inet_pton: a thousand NICs in a subnet must not cost a million address objects
            used.add(int.from_bytes(socket.inet_pton(family, text), "big"))
        except OSError:
            continue
    first = int(network.network_address) + 4
    last = int(network.broadcast_address) - 1
    address_type = type(network.network_address)
    for value in range(first, last + 1):
        if value not in used:
            return str(address_type(value))
    raise ArmError(
        400, "SubnetIsFull", f"Subnet {name_of(subnet_id)} with address prefix {prefix} does not have enough capacity."
    )


def _prepare_nic(
    ctx: Context, rid: str, name: str, body: dict[str, Any], existing: dict[str, Any] | None
) -> dict[str, Any]:
    location = require_location(body)
    props = _props(body)
    raw = props.get("ipConfigurations")
    if not isinstance(raw, list) or not raw:
        raise ArmError(
            400,
            "NetworkInterfaceMustHaveAtLeastOneIpConfiguration",
            f"Network interface {rid} must have one or more IP configurations.",
        )
    old_ips = {
        c["name"].lower(): c["properties"].get("privateIPAddress")
        for c in (existing or {}).get("properties", {}).get("ipConfigurations", [])
    }
    configs = []
    taken: set[str] = set()
    for i, cfg in enumerate(raw):
        cname = cfg.get("name") or f"ipconfig{i + 1}"
        cprops = _props(cfg)
        subnet = ref_id(cprops.get("subnet"))
        if subnet is None:
            raise ArmError(
                400,
                "InvalidRequestFormat",
                f"Cannot parse the request: properties.ipConfigurations[{i}].properties.subnet.id is required.",
            )
        found = find_subnet(ctx, subnet)
        if found is None:
            raise ArmError(
                400, "InvalidResourceReference", f"Resource {subnet} referenced by resource {rid} was not found."
            )
        method = str(
            cprops.get("privateIPAllocationMethod") or ("Static" if cprops.get("privateIPAddress") else "Dynamic")
        )
        address = cprops.get("privateIPAddress") if method.lower() == "static" else (old_ips.get(cname.lower()) or None)
        if address is None:
            address = _allocate_ip(ctx, subnet, found[1]["properties"]["addressPrefix"], taken)
        taken.add(str(address))
        out_cfg: dict[str, Any] = {
            "name": cname,
            "id": f"{rid}/ipConfigurations/{cname}",
            "etag": etag(),
            "type": f"{NS}/{NIC}/ipConfigurations",
            "properties": {
                "provisioningState": "Succeeded",
                "privateIPAddress": str(address),
                "privateIPAllocationMethod": "Static" if method.lower() == "static" else "Dynamic",
                "subnet": {"id": subnet},
                "primary": bool(cprops.get("primary", i == 0)),
                "privateIPAddressVersion": "IPv4",
            },
        }
        pip = ref_id(cprops.get("publicIPAddress"))
        require_ref(ctx, rid, pip)
        if pip:
            out_cfg["properties"]["publicIPAddress"] = {"id": pip}
        configs.append(out_cfg)
    nsg = ref_id(props.get("networkSecurityGroup"))
    require_ref(ctx, rid, nsg)
    out = base_body(rid, name, f"{NS}/{NIC}", body, location)
    out["etag"] = etag()
    out_props: dict[str, Any] = {
        "provisioningState": "Succeeded",
        "resourceGuid": (existing or {}).get("properties", {}).get("resourceGuid", str(uuid.uuid4())),
        "ipConfigurations": configs,
        "enableAcceleratedNetworking": bool(props.get("enableAcceleratedNetworking", False)),
        "enableIPForwarding": bool(props.get("enableIPForwarding", False)),
        "nicType": "Standard",
    }
    if nsg:
        out_props["networkSecurityGroup"] = {"id": nsg}
    out["properties"] = out_props
    return out


def _nic_refs(ctx: Context, body: dict[str, Any]) -> None:
    refs = []
    nsg = ref_id(body["properties"].get("networkSecurityGroup"))
    if nsg:
        refs.append((nsg, "nic-nsg", body["id"]))
    for cfg in body["properties"]["ipConfigurations"]:
        subnet = cfg["properties"]["subnet"]["id"]
        refs.append((subnet, "ipconfig-subnet", cfg["id"]))
        refs.append((subnet, "ip", cfg["properties"]["privateIPAddress"]))
        pip = ref_id(cfg["properties"].get("publicIPAddress"))
        if pip:
            refs.append((pip, "ipconfig-pip", cfg["id"]))
    ctx.tx.set_refs(body["id"], refs)


def _back_ref(ref_kind: str, field: str) -> Callable[[Context, dict[str, Any]], dict[str, Any]]:
    """A read hook adding ARM's computed `properties.<field>: {id}` from the first holder of a reference."""

    def decorate(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
        holders = ctx.tx.refs_to(body["id"], ref_kind)
        if not holders:
            return body
        out = copy.deepcopy(body)
        out["properties"][field] = {"id": holders[0]}
        return out

    return decorate


def _in_use(ref_kind: str, code: str, message: str) -> Callable[[Context, dict[str, Any]], None]:
    """A delete hook refusing, as ARM does, to delete a resource something still uses."""

    def guard(ctx: Context, body: dict[str, Any]) -> None:
        holders = ctx.tx.refs_to(body["id"], ref_kind)
        if holders:
            raise ArmError(400, code, message.format(id=body["id"], holder=holders[0]))

    return guard


_decorate_nic = _back_ref("vm-nic", "virtualMachine")
_before_delete_nic = _in_use(
    "vm-nic",
    "NicInUse",
    "Network Interface {id} is used by existing resource {holder}. In order to delete the network interface,"
    " it must be dissociated from the resource.",
)


NIC_KIND = Kind(
    NS,
    NIC,
    _prepare_nic,
    decorate=_decorate_nic,
    before_delete=_before_delete_nic,
    after_put=_nic_refs,
    asynchronous=True,
)


# -- public IP addresses -------------------------------------------------------------------------------------

# Public addresses come from the ranges reserved for documentation and benchmarking (RFC 5737, RFC 2544),
# so they look public but can never be someone's real address: 198.51.100.0/24, 203.0.113.0/24, then
# 198.18.0.0/15 (about 131,000 addresses in all).
_PUBLIC_POOLS = tuple(ipaddress.ip_network(n) for n in ("198.51.100.0/24", "203.0.113.0/24", "198.18.0.0/15"))
# The addresses in use are references from each public IP to this pseudo id (an index, not a resource).
_PUBLIC_POOL_KEY = "/emulator/public-ip-pool"


def _prepare_pip(
    ctx: Context, rid: str, name: str, body: dict[str, Any], existing: dict[str, Any] | None
) -> dict[str, Any]:
    location = require_location(body)
    props = _props(body)
    address = props.get("ipAddress") or (existing or {}).get("properties", {}).get("ipAddress")
    if not address:
        used = set(ctx.tx.refs_to(_PUBLIC_POOL_KEY, "public-ip"))
        hosts = (str(h) for pool in _PUBLIC_POOLS for h in pool.hosts())
        address = next((h for h in hosts if h not in used), None)
        if address is None:
            pools = ", ".join(str(p) for p in _PUBLIC_POOLS)
            raise ArmError(400, "PublicIPCountLimitReached", f"The emulator's public IP pools ({pools}) are exhausted.")
    out = base_body(rid, name, f"{NS}/{PIP}", body, location)
    out["etag"] = etag()
    sku = body.get("sku") if isinstance(body.get("sku"), dict) else {"name": "Standard", "tier": "Regional"}
    out["sku"] = sku
    out["properties"] = {
        "provisioningState": "Succeeded",
        "resourceGuid": (existing or {}).get("properties", {}).get("resourceGuid", str(uuid.uuid4())),
        "ipAddress": str(address),
        "publicIPAddressVersion": "IPv4",
        "publicIPAllocationMethod": props.get("publicIPAllocationMethod", "Static"),
        "idleTimeoutInMinutes": int(props.get("idleTimeoutInMinutes", 4)),
        "ipTags": [],
    }
    return out


def _pip_refs(ctx: Context, body: dict[str, Any]) -> None:
    ctx.tx.set_refs(body["id"], [(_PUBLIC_POOL_KEY, "public-ip", body["properties"]["ipAddress"])])


_decorate_pip = _back_ref("ipconfig-pip", "ipConfiguration")
_before_delete_pip = _in_use(
    "ipconfig-pip",
    "PublicIPAddressCannotBeDeleted",
    "Public IP address {id} can not be deleted since it is still allocated to resource {holder}."
    " In order to delete the public IP, disassociate/detach the Public IP address from the resource.",
)


PIP_KIND = Kind(
    NS,
    PIP,
    _prepare_pip,
    decorate=_decorate_pip,
    before_delete=_before_delete_pip,
    after_put=_pip_refs,
    asynchronous=True,
)


# -- Azure Firewall (classic rules) ------------------------------------------------------------------------------


def _prepare_firewall(
    ctx: Context, rid: str, name: str, body: dict[str, Any], existing: dict[str, Any] | None
) -> dict[str, Any]:
    location = require_location(body)
    props = _props(body)
    configs = []
    for i, cfg in enumerate(props.get("ipConfigurations") or []):
        cprops = _props(cfg)
        cname = cfg.get("name") or f"ipconfig{i + 1}"
        subnet = ref_id(cprops.get("subnet"))
        found = find_subnet(ctx, subnet) if subnet else None
        if subnet and found is None:
            raise ArmError(
                400, "InvalidResourceReference", f"Resource {subnet} referenced by resource {rid} was not found."
            )
        if found is not None and found[1]["name"] != "AzureFirewallSubnet":
            raise ArmError(
                400,
                "AzureFirewallSubnetInvalidName",
                f"Azure Firewall {name} must use a subnet named 'AzureFirewallSubnet'.",
            )
        pip = ref_id(cprops.get("publicIPAddress"))
        require_ref(ctx, rid, pip)
        out_cfg: dict[str, Any] = {
            "name": cname,
            "id": f"{rid}/azureFirewallIpConfigurations/{cname}",
            "etag": etag(),
            "type": f"{NS}/{FIREWALL}/azureFirewallIpConfigurations",
            "properties": {"provisioningState": "Succeeded"},
        }
        if found is not None:
            address = cprops.get("privateIPAddress") or str(
                list(ipaddress.ip_network(found[1]["properties"]["addressPrefix"]).hosts())[3]
            )
            out_cfg["properties"]["privateIPAddress"] = address
            out_cfg["properties"]["subnet"] = {"id": subnet}
        if pip:
            out_cfg["properties"]["publicIPAddress"] = {"id": pip}
        configs.append(out_cfg)
    out = base_body(rid, name, f"{NS}/{FIREWALL}", body, location)
    out["etag"] = etag()
    out_props: dict[str, Any] = {
        "provisioningState": "Succeeded",
        "sku": props.get("sku") or {"name": "AZFW_VNet", "tier": "Standard"},
        "threatIntelMode": props.get("threatIntelMode", "Alert"),
        "ipConfigurations": configs,
        "natRuleCollections": list(props.get("natRuleCollections") or []),
        "networkRuleCollections": list(props.get("networkRuleCollections") or []),
        "applicationRuleCollections": list(props.get("applicationRuleCollections") or []),
    }
    policy = ref_id(props.get("firewallPolicy"))
    if policy:
        out_props["firewallPolicy"] = {"id": policy}
    for key in ("natRuleCollections", "networkRuleCollections", "applicationRuleCollections"):
        for coll in out_props[key]:
            coll.setdefault("id", f"{rid}/{key}/{coll.get('name')}")
            coll.setdefault("properties", {}).setdefault("provisioningState", "Succeeded")
    out["properties"] = out_props
    return out


def _firewall_refs(ctx: Context, body: dict[str, Any]) -> None:
    refs = []
    for cfg in body["properties"]["ipConfigurations"]:
        subnet = ref_id(cfg["properties"].get("subnet"))
        if subnet:
            refs.append((subnet, "fw-subnet", body["id"]))
        pip = ref_id(cfg["properties"].get("publicIPAddress"))
        if pip:
            refs.append((pip, "ipconfig-pip", cfg["id"]))
    ctx.tx.set_refs(body["id"], refs)


FIREWALL_KIND = Kind(NS, FIREWALL, _prepare_firewall, after_put=_firewall_refs, asynchronous=True)


def save_firewall(ctx: Context, firewall: dict[str, Any]) -> None:
    firewall = copy.deepcopy(firewall)
    firewall["etag"] = etag()
    save(ctx, FIREWALL_KIND, firewall)


def firewall_for_vnet(ctx: Context, vnet_id: str) -> dict[str, Any] | None:
    """The Azure Firewall deployed in a VNet (in its AzureFirewallSubnet), if any."""
    vnet = ctx.tx.get(vnet_id)
    if vnet is None:
        return None
    for subnet in vnet["properties"].get("subnets", []):
        if subnet["name"] == "AzureFirewallSubnet":
            for fw_id in ctx.tx.refs_to(subnet["id"], "fw-subnet"):
                return ctx.tx.get(fw_id)
    return None


def firewall_public_ip(ctx: Context, firewall: dict[str, Any]) -> str | None:
    for cfg in firewall["properties"].get("ipConfigurations", []):
        pip_id = ref_id(cfg["properties"].get("publicIPAddress"))
        pip = ctx.tx.get(pip_id) if pip_id else None
        if pip and pip["properties"].get("ipAddress"):
            return str(pip["properties"]["ipAddress"])
    return None


# -- child routes: subnets and security rules ----------------------------------------------------------------


def _register_children(emulator: Emulator) -> None:
    reg = emulator.registry
    vnet_base = f"/subscriptions/<sub>/resourceGroups/<rg>/providers/{NS}/{VNET}/<vnet>/subnets"
    nsg_base = f"/subscriptions/<sub>/resourceGroups/<rg>/providers/{NS}/{NSG}/<nsg>"

    def vnet_of(ctx: Context) -> dict[str, Any]:
        return get_resource(ctx, VNET_KIND, ctx.params["sub"], ctx.params["rg"], ctx.params["vnet"])

    def put_subnet(ctx: Context) -> Response:
        vnet = copy.deepcopy(vnet_of(ctx))
        subnet = _subnet_body(ctx, vnet["id"], {**ctx.require_body(), "name": ctx.params["name"]}, "subnet", None)
        subnets = vnet["properties"]["subnets"]
        idx = next((i for i, s in enumerate(subnets) if s["name"].lower() == subnet["name"].lower()), None)
        check_if_match(ctx, subnet["id"], None if idx is None else subnets[idx])
        if idx is None:
            subnets.append(subnet)
        else:
            subnet["name"] = subnets[idx]["name"]
            subnets[idx] = subnet
        vnet["etag"] = etag()
        save(ctx, VNET_KIND, vnet)
        shown = updating(_decorate_subnet(ctx, copy.deepcopy(subnet)))
        return Response(201 if idx is None else 200, shown, _operations.started(ctx, NS, vnet["location"]))

    def get_subnet(ctx: Context) -> Response:
        vnet = vnet_of(ctx)
        for subnet in vnet["properties"]["subnets"]:
            if subnet["name"].lower() == ctx.params["name"].lower():
                return Response(200, _decorate_subnet(ctx, copy.deepcopy(subnet)))
        raise resource_not_found(f"{NS}/{VNET}/{vnet['name']}/subnets", ctx.params["name"], ctx.params["rg"])

    def delete_subnet(ctx: Context) -> Response:
        vnet = copy.deepcopy(vnet_of(ctx))
        subnets = vnet["properties"]["subnets"]
        keep = [s for s in subnets if s["name"].lower() != ctx.params["name"].lower()]
        gone = next((s for s in subnets if s["name"].lower() == ctx.params["name"].lower()), None)
        check_if_match(ctx, f"{vnet['id']}/subnets/{ctx.params['name']}", gone)
        if gone is None:
            return Response(204)
        _check_subnet_unused(ctx, gone["id"])
        vnet["properties"]["subnets"] = keep
        save(ctx, VNET_KIND, vnet)
        return Response(202, None, _operations.started(ctx, NS, vnet["location"], delete=True))

    def list_subnets(ctx: Context) -> Response:
        vnet = vnet_of(ctx)
        return page(ctx, [_decorate_subnet(ctx, copy.deepcopy(s)) for s in vnet["properties"]["subnets"]])

    def nsg_of(ctx: Context) -> dict[str, Any]:
        return get_resource(ctx, NSG_KIND, ctx.params["sub"], ctx.params["rg"], ctx.params["nsg"])

    def put_rule(ctx: Context) -> Response:
        nsg = copy.deepcopy(nsg_of(ctx))
        rule = _rule_body(nsg["id"], {**ctx.require_body(), "name": ctx.params["name"]}, "securityRule")
        rules = nsg["properties"]["securityRules"]
        idx = next((i for i, r in enumerate(rules) if r["name"].lower() == rule["name"].lower()), None)
        current = None if idx is None else rules[idx]
        if current is None and (ctx.if_match or "*").strip() != "*":
            # A new rule: every rule carries the NSG's etag, so If-Match asks that the NSG be unchanged.
            current = {"etag": nsg["etag"]}
        check_if_match(ctx, rule["id"], current)
        if idx is None:
            rules.append(rule)
        else:
            rule["name"] = rules[idx]["name"]
            rule["id"] = rules[idx]["id"]
            rules[idx] = rule
        _check_priorities(rules)
        saved = save_nsg(ctx, nsg)
        shown = next(r for r in saved["properties"]["securityRules"] if r["name"] == rule["name"])
        headers = _operations.started(ctx, NS, nsg["location"])
        return Response(201 if idx is None else 200, updating(shown), headers)

    def get_rule(ctx: Context) -> Response:
        nsg = nsg_of(ctx)
        for rule in nsg["properties"]["securityRules"]:
            if rule["name"].lower() == ctx.params["name"].lower():
                return Response(200, rule)
        raise resource_not_found(f"{NS}/{NSG}/{nsg['name']}/securityRules", ctx.params["name"], ctx.params["rg"])

    def delete_rule(ctx: Context) -> Response:
        nsg = copy.deepcopy(nsg_of(ctx))
        rules = nsg["properties"]["securityRules"]
        keep = [r for r in rules if r["name"].lower() != ctx.params["name"].lower()]
        gone = next((r for r in rules if r["name"].lower() == ctx.params["name"].lower()), None)
        check_if_match(ctx, f"{nsg['id']}/securityRules/{ctx.params['name']}", gone)
        if gone is None:
            return Response(204)
        nsg["properties"]["securityRules"] = keep
        save_nsg(ctx, nsg)
        return Response(202, None, _operations.started(ctx, NS, nsg["location"], delete=True))

    def list_rules(ctx: Context) -> Response:
        return page(ctx, nsg_of(ctx)["properties"]["securityRules"])

    def list_default_rules(ctx: Context) -> Response:
        return page(ctx, nsg_of(ctx)["properties"]["defaultSecurityRules"])

    def get_default_rule(ctx: Context) -> Response:
        nsg = nsg_of(ctx)
        for rule in nsg["properties"]["defaultSecurityRules"]:
            if rule["name"].lower() == ctx.params["name"].lower():
                return Response(200, rule)
        raise resource_not_found(f"{NS}/{NSG}/{nsg['name']}/defaultSecurityRules", ctx.params["name"], ctx.params["rg"])

    subnet_action = f"{NS}/{VNET}/subnets"
    rule_action = f"{NS}/{NSG}/securityRules"
    reg.add("PUT", f"{vnet_base}/<name>", put_subnet, action=f"{subnet_action}/write")
    reg.add("GET", f"{vnet_base}/<name>", get_subnet, action=f"{subnet_action}/read")
    reg.add("DELETE", f"{vnet_base}/<name>", delete_subnet, action=f"{subnet_action}/delete")
    reg.add("GET", vnet_base, list_subnets, action=f"{subnet_action}/read")
    reg.add("PUT", f"{nsg_base}/securityRules/<name>", put_rule, action=f"{rule_action}/write")
    reg.add("GET", f"{nsg_base}/securityRules/<name>", get_rule, action=f"{rule_action}/read")
    reg.add("DELETE", f"{nsg_base}/securityRules/<name>", delete_rule, action=f"{rule_action}/delete")
    reg.add("GET", f"{nsg_base}/securityRules", list_rules, action=f"{rule_action}/read")
    reg.add(
        "GET", f"{nsg_base}/defaultSecurityRules", list_default_rules, action=f"{NS}/{NSG}/defaultSecurityRules/read"
    )
    reg.add(
        "GET",
        f"{nsg_base}/defaultSecurityRules/<name>",
        get_default_rule,
        action=f"{NS}/{NSG}/defaultSecurityRules/read",
    )


def register(emulator: Emulator) -> None:
    for kind in (NSG_KIND, VNET_KIND, NIC_KIND, PIP_KIND, FIREWALL_KIND):
        register_kind(emulator.registry, kind)
    _register_children(emulator)
    _operations.register(emulator.registry, NS)
