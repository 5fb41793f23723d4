#!/usr/bin/python
# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: jit_request
short_description: Request just-in-time access to VMs, wait until it works, and get connection details
version_added: 0.1.0
description:
  - Requests Defender for Cloud just-in-time (JIT) access to ports of virtual machines, the way the
    portal's "Request access" does, and returns how to connect.
  - The request is checked against the policy first (ports in the policy, duration within the port's
    maximum, sources inside the allowed sources); if any entry is wrong nothing is requested.
  - Idempotent; an access that is still active for the same VM, port and sources, with at least
    O(min_remaining) left by Azure's clock, is reused instead of renewed.
  - All VMs of one policy go in one request; VMs of several policies, one request per policy.
  - With O(wait=true) the module waits until Azure has written the allow rules into the VMs' network
    security groups (and the DNAT rule into an Azure Firewall), then returns. A principal that cannot
    read NSGs (the documented least-privilege JIT role) still waits, on the request's status in the
    policy, and gets a warning saying so.
  - There is no API to revoke access early. To keep exposure short, request a short
    O(virtual_machines[].ports[].duration); a newer request for the same VM and port replaces the older one.
author:
  - azsecops.jit maintainers (@azsecops)
extends_documentation_fragment:
  - azsecops.jit.azure
  - azsecops.jit._attributes
  - azsecops.jit._attributes.ACTIONGROUP_AZURE
attributes:
  check_mode:
    support: full
    details:
      - Validates the request against the policy and predicts whether a request would be made, without making it.
  diff_mode:
    support: none
  idempotent:
    support: partial
    details:
      - A request is reused while it covers the same sources and has O(min_remaining) left.
      - A port requested without O(virtual_machines[].ports[].allowed_source) ("My IP") is requested on every
        run, because only Azure knows which address the call comes from.
options:
  resource_group:
    description:
      - Resource group of the VMs given by name, and where their JIT policy is looked for first. A VM whose
        policy lives in another resource group is found there (one more list call, over the subscription).
    type: str
    required: true
  name:
    description:
      - Name of the JIT policy. When not set, each VM's policy is found in O(resource_group)
        (the portal's is V(default)).
    type: str
  location:
    description:
      - Location (ascLocation) of the policy, to choose between policies of the same name.
    type: str
  virtual_machines:
    description:
      - The VMs and ports to open.
      - VM names alone are accepted too, as a list of names or as one string of comma-separated names (what
        an AWX survey's text field sends); each VM then gets every port of its policy entry.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Name of the VM (in O(virtual_machines[].resource_group) or O(resource_group)).
        type: str
      resource_group:
        description: Resource group of a VM given by name, when it is not O(resource_group).
        type: str
      id:
        description: Full Azure Resource Manager id of the VM, instead of a name.
        type: str
      ports:
        description:
          - The ports to open. When not set, every port of the VM in its policy, each for its maximum duration.
          - An empty list is an error (it would request nothing).
        type: list
        elements: dict
        suboptions:
          number:
            description: The port. Required.
            type: int
          allowed_source:
            description:
              - Addresses or CIDR prefixes to open the port to; they must lie inside the policy's allowed sources.
              - When not set, Azure uses the address it sees the request come from ("My IP"); behind a proxy
                or NAT that may not be the address your SSH/RDP traffic comes from, and the module warns.
              - V(*), V(0.0.0.0/0) and V(::/0) open the port to any source; the module warns.
            type: list
            elements: str
          duration:
            description:
              - How long the access lasts, as V(1h), V(90m) or ISO 8601; at most the port's maximum in the policy.
              - Defaults to the port's maximum.
            type: str
  justification:
    description:
      - Why access is needed (a change or ticket number); recorded in the policy's request log.
    type: str
  wait:
    description:
      - Wait until the allow rules (and firewall DNAT rules) exist before returning.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for the rules (0 or more). On timeout the task fails and lists the rules still missing.
    type: int
    default: 300
  reuse_active:
    description:
      - Keep an access that is still active for the same VM, port and sources instead of requesting again.
    type: bool
    default: true
  min_remaining:
    description:
      - An active access is reused only when at least this much of it is left (Azure's clock), as V(15m),
        V(1h) or ISO 8601.
      - It must be shorter than every requested duration (else the access could never be reused); the task
        fails before requesting anything otherwise.
    type: str
    default: 15m
  replace_active:
    description:
      - Azure ends an active access to a VM port when a newer request for that port is made. With V(true) the
        module requests anyway and warns, naming who loses access, from which source and how much time they
        had left. With V(false) it refuses, before requesting anything, when that access is someone else's.
      - Azure records a user's sign-in name as the requestor and nothing for service principals, so an
        access by a service principal counts as someone else's only when this module runs as a user.
    type: bool
    default: true
notes:
  - Expiry is judged by Azure's clock (the C(Date) header of its responses), never the controller's.
  - Each port is requested for a C(duration), so the access ends exactly that long after Azure's start time.
    Times in results are ISO 8601 UTC to the second (C(2026-11-22T17:37:11Z)).
  - An access requested less than 5 minutes ago whose rules are not written yet (for example by an earlier
    run with O(wait=false)) is waited for, not requested again (a new request would revoke it).
  - Destination of the JIT rules is always the VM's private IP; connect to the address in RV(connections[].address).
  - Reads, and throttled or failed calls, are retried (O(api_retries)). An initiate whose connection breaks before
    Azure answers is not blindly sent again; the module reads the policy's request log first and sends it once more
    only if Azure did not record it, with a warning either way.
seealso:
  - module: azsecops.jit.jit_policy
  - module: azsecops.jit.jit_rule_facts
"""

EXAMPLES = r"""
- name: Open SSH to one VM from this office for an hour, and wait until it works
  azsecops.jit.jit_request:
    resource_group: rg-app
    virtual_machines:
      - name: vm-web-01
        ports:
          - number: 22
            allowed_source: [203.0.113.7]
            duration: 1h
    justification: "CHG-1234 patch window"
  register: grant

- name: Connect
  ansible.builtin.debug:
    msg: "{{ grant.connections | map(attribute='command') | list }}"

- name: Every port of two VMs, each for the maximum the policy allows, from a pipeline's egress range
  azsecops.jit.jit_request:
    resource_group: rg-app
    virtual_machines:
      - name: vm-web-01
      - name: vm-win-01
    justification: "{{ lookup('ansible.builtin.env', 'CI_PIPELINE_URL') }}"
    min_remaining: 30m

- name: Grant access to every host of an inventory group before a maintenance play
  azsecops.jit.jit_request:
    resource_group: "{{ azure_resource_group }}"
    virtual_machines:
      - name: "{{ inventory_hostname_short }}"
        ports: [{number: 22, allowed_source: ["{{ controller_egress_ip }}"], duration: 2h}]
  delegate_to: localhost

- name: Request without waiting (fire and forget), e.g. from an AWX job template
  azsecops.jit.jit_request:
    resource_group: rg-app
    virtual_machines: [{name: vm-win-01, ports: [{number: 3389, allowed_source: [198.51.100.0/24], duration: 30m}]}]
    wait: false
"""

RETURN = r"""
request:
  description: The access request as Azure returned it (snake_case), when exactly one request was made.
  returned: when one request was made
  type: dict
  sample:
    start_time_utc: "2026-11-22T17:37:11Z"
    requestor: jit-demo-requester
    justification: CHG-1234 patch window
    virtual_machines:
      - id: /subscriptions/0000/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/vm-web-01
        ports:
          - number: 22
            allowed_source_address_prefix: 203.0.113.7
            end_time_utc: "2026-11-22T18:37:11Z"
            status: Initiating
            status_reason: UserRequested
requests:
  description: Every request made, one per policy (empty when every access was reused or in check mode).
  returned: always
  type: list
  elements: dict
connections:
  description: How to reach each requested VM port.
  returned: always
  type: list
  elements: dict
  contains:
    vm:
      description: VM name.
      type: str
      returned: always
    vm_id:
      description: VM id.
      type: str
      returned: always
    address:
      description:
        - The address to connect to, which is the firewall's public IP, else the VM's public IP, else its private IP.
        - V(null) when the principal cannot read the VM's network (a warning says which reads are missing).
      type: str
      returned: always
    port:
      description: Port to connect to (the firewall's mapped port when through a firewall).
      type: int
      returned: always
    target_port:
      description: The VM's port.
      type: int
      returned: always
    via:
      description: V(firewall), V(public_ip), V(private_ip), or V(unknown) when the network could not be read.
      type: str
      returned: always
    protocol:
      description: Protocol of the port in the policy (V(TCP), V(UDP) or V(*)).
      type: str
      returned: always
    private_ip:
      description: The VM's private IP (the destination of the JIT rules).
      type: str
      returned: always
    allowed_source:
      description: Sources the port is open to (empty in check mode for "My IP").
      type: list
      elements: str
      returned: always
    start_time_utc:
      description: Start of the access (UTC).
      type: str
      returned: always
    end_time_utc:
      description: End of the access (UTC).
      type: str
      returned: always
    seconds_left:
      description: Seconds of access left, by Azure's clock.
      type: int
      returned: always
    rules:
      description:
        - The JIT allow rules (and firewall DNAT rules) found for this access; empty when they cannot be read.
      type: list
      elements: dict
      returned: always
      contains:
        name:
          description: Rule name (C(SecurityCenter-JITRule-...)).
          type: str
          returned: always
        scope:
          description: V(nic) or V(subnet) for an NSG rule, V(firewall) for a DNAT rule.
          type: str
          returned: always
        nsg:
          description: Id of the network security group holding the rule.
          type: str
          returned: for NSG rules
        firewall:
          description: Id of the Azure Firewall holding the DNAT rule.
          type: str
          returned: for firewall rules
    reused:
      description: Whether an active access was reused instead of requesting again.
      type: bool
      returned: always
    command:
      description: A ready command line (C(ssh) for 22, C(mstsc) for 3389, C(Enter-PSSession) for 5985/5986).
      type: str
      returned: always
    rdp_file:
      description: Contents of an C(.rdp) file for port 3389.
      type: str
      returned: for port 3389
caller_ip:
  description: The address Azure saw the request come from, for ports requested without allowed_source.
  returned: when a port was requested without allowed_source
  type: str
  sample: 203.0.113.7
"""

from ansible_collections.azsecops.jit.plugins.module_utils._module import _AzureJitModule
from ansible_collections.azsecops.jit.plugins.module_utils._request_manager import _RequestManager
from ansible_collections.azsecops.jit.plugins.module_utils._vm_selection import _vm_ref_spec


def main() -> None:
    argument_spec = {
        "resource_group": {"type": "str", "required": True},
        "name": {"type": "str"},
        "location": {"type": "str"},
        "virtual_machines": {
            "type": "list",
            "elements": "dict",
            "required": True,
            **_vm_ref_spec(
                ports={
                    "type": "list",
                    "elements": "dict",
                    "options": {
                        "number": {"type": "int"},
                        "allowed_source": {"type": "list", "elements": "str"},
                        "duration": {"type": "str"},
                    },
                },
            ),
        },
        "justification": {"type": "str"},
        "wait": {"type": "bool", "default": True},
        "wait_timeout": {"type": "int", "default": 300},
        "reuse_active": {"type": "bool", "default": True},
        "min_remaining": {"type": "str", "default": "15m"},
        "replace_active": {"type": "bool", "default": True},
    }
    module = _AzureJitModule(argument_spec)
    module.run(_RequestManager(module))


if __name__ == "__main__":
    main()
