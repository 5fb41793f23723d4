"""Measure the emulator on this machine: requests/s for GET policy and initiate, and a world of 1,000 VMs.

    python emulator/bench/bench.py [--vms 1000] [--gets 2000] [--initiates 500] [--threads 4] [--json]

Everything runs over loopback against an emulator started in this process (its own threads), through the
real SDK clients over HTTPS with keep-alive, in bounded loops. Not part of the test suite: the numbers
depend on the machine. Ratios are given within one run, where the comparison means something.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from azure.core.rest import HttpRequest
from azure.identity import ClientSecretCredential
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.security import SecurityCenter
from azure.mgmt.security.models import (
    JitNetworkAccessPolicy,
    JitNetworkAccessPolicyInitiatePort,
    JitNetworkAccessPolicyInitiateRequest,
    JitNetworkAccessPolicyInitiateVirtualMachine,
    JitNetworkAccessPolicyVirtualMachine,
    JitNetworkAccessPortRule,
)
from jit_emulator.scale import scale_world
from jit_emulator.server import Emulator, RunningEmulator
from jit_emulator.world import load_world

LOC = "westeurope"


class Clients:
    def __init__(self, running: RunningEmulator) -> None:
        info = running.info
        self.info = info
        self.credential = ClientSecretCredential(
            info["tenant_id"],
            info["client_id"],
            info["secret"],
            authority=info["url"],
            disable_instance_discovery=True,
            connection_verify=info["ca_bundle"],
        )

    def _kwargs(self) -> dict[str, Any]:
        url = self.info["url"]
        return {
            "base_url": url,
            "credential_scopes": [url + "/.default"],
            "connection_verify": self.info["ca_bundle"],
            "retry_total": 0,
        }

    def security(self) -> SecurityCenter:
        return SecurityCenter(self.credential, self.info["subscription_id"], **self._kwargs())

    def network(self) -> NetworkManagementClient:
        return NetworkManagementClient(self.credential, self.info["subscription_id"], **self._kwargs())


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def rate(count: int, threads: int, make_client: Callable[[], Any], call: Callable[[Any, int], Any]) -> float:
    """Requests per second of `count` calls split over `threads` threads, each with its own client
    (one warm-up call per client first, so TLS handshakes and token fetches are not counted)."""
    clients = [make_client() for _ in range(threads)]
    for client in clients:
        call(client, -1)
    per_thread = count // threads
    errors: list[BaseException] = []

    def work(client: Any, offset: int) -> None:
        try:
            for i in range(per_thread):
                call(client, offset + i)
        except BaseException as exc:  # reported after the run
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(c, n * per_thread)) for n, c in enumerate(clients)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return per_thread * threads / elapsed


def port(number: int) -> JitNetworkAccessPortRule:
    return JitNetworkAccessPortRule(
        number=number, protocol="*", allowed_source_address_prefix="*", max_request_access_duration="PT3H"
    )


def policy_of(vm_ids: list[str]) -> JitNetworkAccessPolicy:
    return JitNetworkAccessPolicy(
        kind="Basic",
        virtual_machines=[JitNetworkAccessPolicyVirtualMachine(id=vm, ports=[port(22), port(3389)]) for vm in vm_ids],
    )


def request_rates(args: argparse.Namespace) -> dict[str, Any]:
    emulator = Emulator()
    load_world(emulator, "demo")
    running = emulator.start_in_thread()
    try:
        clients = Clients(running)
        sub = clients.info["subscription_id"]
        vm = f"/subscriptions/{sub}/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/vm-web-01"
        clients.security().jit_network_access_policies.create_or_update("rg-app", LOC, "default", policy_of([vm]))

        def get(client: SecurityCenter, _: int) -> None:
            client.jit_network_access_policies.get("rg-app", LOC, "default")

        def initiate(client: SecurityCenter, i: int) -> None:
            end = datetime.now(timezone.utc) + timedelta(hours=1)
            number = 22 if i % 2 else 3389
            body = JitNetworkAccessPolicyInitiateRequest(
                virtual_machines=[
                    JitNetworkAccessPolicyInitiateVirtualMachine(
                        id=vm,
                        ports=[
                            JitNetworkAccessPolicyInitiatePort(
                                number=number, end_time_utc=end, allowed_source_address_prefix="203.0.113.5"
                            )
                        ],
                    )
                ]
            )
            client.jit_network_access_policies.initiate("rg-app", LOC, "default", body)

        def clear_log() -> None:
            # A PUT that carries `requests` stores them as given: an empty list starts a fresh log.
            body = policy_of([vm]).serialize()
            body["properties"]["requests"] = []
            path = f"/subscriptions/{sub}/resourceGroups/rg-app/providers/Microsoft.Security/locations/{LOC}"
            path += "/jitNetworkAccessPolicies/default"
            client = clients.security()._client
            response = client.send_request(
                HttpRequest("PUT", clients.info["url"] + path, params={"api-version": "2020-01-01"}, json=body)
            )
            assert response.status_code == 200, response.text()

        out: dict[str, Any] = {}
        out["get_policy_rps_1_thread"] = rate(args.gets, 1, clients.security, get)
        out[f"get_policy_rps_{args.threads}_threads"] = rate(args.gets, args.threads, clients.security, get)
        # Each phase starts from an empty request log: the log is part of the policy body, so its length
        # (one entry per initiate) is part of what an initiate costs.
        clear_log()
        out["initiate_rps_1_thread"] = rate(args.initiates, 1, clients.security, initiate)
        stored = clients.security().jit_network_access_policies.get("rg-app", LOC, "default")
        out["requests_logged_after_1_thread_phase"] = len(stored.requests or [])
        clear_log()
        out[f"initiate_rps_{args.threads}_threads"] = rate(args.initiates, args.threads, clients.security, initiate)
        # GET now that the log holds a whole phase of initiates: the SDK deserialises every entry.
        out["get_policy_rps_1_thread_with_full_log"] = rate(min(args.gets, 200), 1, clients.security, get)
        return out
    finally:
        running.stop()


def scale(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    emulator = Emulator(settings={"page_size": args.page_size})
    world = scale_world(args.vms)
    out["world_resources"] = len(world["resources"])
    out["world_load_seconds"], _ = timed(lambda: load_world(emulator, world))
    running = emulator.start_in_thread()
    try:
        clients = Clients(running)
        net = clients.network()
        sub = clients.info["subscription_id"]
        security = clients.security()
        rg = f"/subscriptions/{sub}/resourceGroups/rg-scale"

        def list_vms() -> int:
            client = net._client
            count = 0
            request = HttpRequest(
                "GET",
                f"{clients.info['url']}{rg}/providers/Microsoft.Compute/virtualMachines",
                params={"api-version": "2024-07-01"},
            )
            while True:
                response = client.send_request(request)
                page = response.json()
                count += len(page["value"])
                if not page.get("nextLink"):
                    return count
                request = HttpRequest("GET", page["nextLink"])

        out["page_size"] = args.page_size
        out["list_vms_seconds"], out["vms_listed"] = timed(list_vms)
        out["list_nics_seconds"], out["nics_listed"] = timed(lambda: len(list(net.network_interfaces.list_all())))
        out["list_nsgs_seconds"], _ = timed(lambda: len(list(net.network_security_groups.list_all())))
        vm_ids = [f"{rg}/providers/Microsoft.Compute/virtualMachines/vm-{i:04d}" for i in range(args.vms)]

        # Onboarding one VM at a time, as a module merging into the shared policy does: GET, merge, PUT.
        steps = min(args.incremental, args.vms)
        durations = []
        ops = security.jit_network_access_policies
        for i in range(steps):
            started = time.perf_counter()
            try:
                current = ops.get("rg-scale", LOC, "incremental")
                vms = list(current.virtual_machines)
            except Exception:  # the first VM creates the policy
                vms = []
            vms.append(JitNetworkAccessPolicyVirtualMachine(id=vm_ids[i], ports=[port(22), port(3389)]))
            ops.create_or_update(
                "rg-scale", LOC, "incremental", JitNetworkAccessPolicy(kind="Basic", virtual_machines=vms)
            )
            durations.append(time.perf_counter() - started)
        out["incremental_onboard_vms"] = steps
        out["incremental_onboard_seconds"] = sum(durations)
        out["incremental_last_put_ms"] = statistics.mean(durations[-10:]) * 1000
        ops.delete("rg-scale", LOC, "incremental")

        out["put_policy_all_vms_seconds"], _ = timed(
            lambda: ops.create_or_update("rg-scale", LOC, "all", policy_of(vm_ids))
        )
        out["get_policy_all_vms_ms"] = timed(lambda: ops.get("rg-scale", LOC, "all"))[0] * 1000
        out["deny_rules_written"] = sum(len(n.security_rules) for n in net.network_security_groups.list("rg-scale"))
        out["delete_policy_all_vms_seconds"], _ = timed(lambda: ops.delete("rg-scale", LOC, "all"))
        return out
    finally:
        running.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vms", type=int, default=1000)
    parser.add_argument("--gets", type=int, default=2000)
    parser.add_argument("--initiates", type=int, default=500)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--page-size", type=int, default=10, help="the emulator's page size for the list timings")
    parser.add_argument("--incremental", type=int, default=200, help="VMs onboarded one PUT at a time")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args()
    results: dict[str, Any] = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }
    results.update(request_rates(args))
    results.update(scale(args))
    one, many = results["get_policy_rps_1_thread"], results[f"get_policy_rps_{args.threads}_threads"]
    results[f"get_policy_{args.threads}_threads_vs_1"] = many / one
    results["initiate_vs_get_1_thread"] = results["initiate_rps_1_thread"] / one
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        width = max(len(k) for k in results)
        for key, value in results.items():
            shown = f"{value:,.2f}" if isinstance(value, float) else str(value)
            print(f"{key:<{width}}  {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
