"""Microsoft.Network/networkWatchers: the watchers themselves and IP flow verify.

IP flow verify is a long-running POST in Azure (azure-rest-api-specs, network.json /
networkWatcher.json: `x-ms-long-running-operation`, responses 200 and 202): the first answer is 202
with `Azure-AsyncOperation` and `Location`; the operation then reads `Succeeded`, and a GET of the
`Location` URL returns the `VerificationIPFlowResult` `{access, ruleName}`. The network SDK's
`begin_verify_ip_flow` poller follows exactly that. The evaluation itself is `jit_emulator.flow`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import flow
from ..arm import Context, Response, etag, parse_id
from ..errors import ArmError
from . import _operations, network
from ._generic import Kind, base_body, get_resource, ref_id, register_kind, require_location

if TYPE_CHECKING:
    from ..server import Emulator

NS = network.NS
WATCHER = "networkWatchers"


def _prepare_watcher(
    ctx: Context, rid: str, name: str, body: dict[str, Any], existing: dict[str, Any] | None
) -> dict[str, Any]:
    location = require_location(body)
    if existing is None:
        sub = ctx.params["sub"]
        for other in ctx.tx.list_type(f"{NS}/{WATCHER}", sub):
            if other.get("location") == location:
                # Azure allows one watcher per subscription and region (Network Watcher overview, limits).
                raise ArmError(
                    400,
                    "NetworkWatcherCountLimitReached",
                    f"Cannot create more than 1 network watchers for this subscription in this region."
                    f" Network watcher {other['id']} already exists in region {location}.",
                )
    out = base_body(rid, name, f"{NS}/{WATCHER}", body, location)
    out["etag"] = etag()
    out["properties"] = {"provisioningState": "Succeeded"}
    return out


WATCHER_KIND = Kind(NS, WATCHER, _prepare_watcher)


def _bad(message: str, target: str | None = None) -> ArmError:
    return ArmError(400, "InvalidRequestFormat", f"Cannot parse the request: {message}", target=target)


def _packet(body: dict[str, Any]) -> flow.Packet:
    for key in ("targetResourceId", "direction", "protocol", "localPort", "remotePort", "localIPAddress"):
        if body.get(key) in (None, ""):
            raise _bad(f"{key} is required.", key)
    if body.get("remoteIPAddress") in (None, ""):
        raise _bad("remoteIPAddress is required.", "remoteIPAddress")
    direction = str(body["direction"]).capitalize()
    if direction not in ("Inbound", "Outbound"):
        raise _bad(f"direction must be Inbound or Outbound, got {body['direction']!r}.", "direction")
    protocol = str(body["protocol"]).upper()
    if protocol not in ("TCP", "UDP"):
        raise _bad(f"protocol must be TCP or UDP, got {body['protocol']!r}.", "protocol")
    ports = []
    for key in ("localPort", "remotePort"):
        text = str(body[key])
        if text == "*":
            ports.append(0)
            continue
        try:
            number = int(text)
        except ValueError as exc:
            raise _bad(f"{key} must be a port number (0-65535) or *, got {text!r}.", key) from exc
        if not 0 <= number <= 65535:
            raise _bad(f"{key} must be a port number (0-65535) or *, got {text!r}.", key)
        ports.append(number)
    for key in ("localIPAddress", "remoteIPAddress"):
        try:
            flow.ipaddress.ip_address(str(body[key]))
        except ValueError as exc:
            raise _bad(f"{key} must be an IP address, got {body[key]!r}.", key) from exc
    return flow.Packet(
        direction=direction,
        protocol=protocol,
        local_ip=str(body["localIPAddress"]),
        local_port=ports[0],
        remote_ip=str(body["remoteIPAddress"]),
        remote_port=ports[1],
    )


def verify(ctx: Context, watcher: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """The VerificationIPFlowResult for one packet to or from a VM's primary (or given) NIC."""
    packet = _packet(body)
    vm_id = str(body["targetResourceId"])
    vm = ctx.tx.get(vm_id)
    if vm is None or parse_id(vm_id).get("namespace", "").lower() != "microsoft.compute":
        raise ArmError(
            404,
            "NotFound",
            f"Resource {vm_id} not found. It should be a virtual machine in the watcher's subscription.",
        )
    if vm.get("location") != watcher.get("location"):
        raise ArmError(
            400,
            "TargetResourceNotInSameRegionAsNetworkWatcher",
            f"Target resource {vm_id} is in region {vm.get('location')}; network watcher {watcher['id']} is in"
            f" region {watcher.get('location')}. Use the network watcher of the VM's region.",
        )
    nic_refs = vm["properties"]["networkProfile"]["networkInterfaces"]
    nic_id = body.get("targetNicResourceId") or next(
        (n["id"] for n in nic_refs if (n.get("properties") or {}).get("primary")), nic_refs[0]["id"]
    )
    nic = ctx.tx.get(nic_id) or {}
    configs = (nic.get("properties") or {}).get("ipConfigurations") or []
    if not any(c["properties"].get("privateIPAddress") == packet.local_ip for c in configs):
        raise ArmError(
            400,
            "InvalidLocalIpAddress",
            f"Local IP address {packet.local_ip} is not an address of network interface {nic_id} of {vm_id}.",
        )
    nic_nsg_id = ref_id((nic.get("properties") or {}).get("networkSecurityGroup"))
    subnet_id = next(
        c["properties"]["subnet"]["id"] for c in configs if c["properties"].get("privateIPAddress") == packet.local_ip
    )
    found = network.find_subnet(ctx, subnet_id)
    prefixes: list[str] = []
    subnet_nsg_id = None
    if found is not None:
        vnet, subnet = found
        prefixes = list(vnet["properties"]["addressSpace"]["addressPrefixes"])
        subnet_nsg_id = ref_id(subnet["properties"].get("networkSecurityGroup"))
    subnet_nsg = ctx.tx.get(subnet_nsg_id) if subnet_nsg_id else None
    nic_nsg = ctx.tx.get(nic_nsg_id) if nic_nsg_id else None
    if subnet_nsg is not None and nic_nsg is not None and subnet_nsg["id"].lower() == nic_nsg["id"].lower():
        subnet_nsg = None  # one NSG on both levels is evaluated once
    verdict = flow.evaluate_path(subnet_nsg, nic_nsg, packet, prefixes)
    result: dict[str, Any] = {"access": verdict.access}
    if verdict.rule_name:
        result["ruleName"] = verdict.rule_name
    return result


def register(emulator: Emulator) -> None:
    register_kind(emulator.registry, WATCHER_KIND)
    reg = emulator.registry
    base = f"/subscriptions/<sub>/resourceGroups/<rg>/providers/{NS}/{WATCHER}/<name>"

    def ip_flow_verify(ctx: Context) -> Response:
        watcher = get_resource(ctx, WATCHER_KIND, ctx.params["sub"], ctx.params["rg"], ctx.params["name"])
        result = verify(ctx, watcher, ctx.require_body())
        # The operation routes are Network's own (_operations.py): one status URL for every Network operation.
        return Response(202, None, _operations.started(ctx, NS, watcher["location"], result=result))

    reg.add("POST", f"{base}/ipFlowVerify", ip_flow_verify, action=f"{NS}/{WATCHER}/ipFlowVerify/action", write=True)
