#!/usr/bin/python
# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: jit_diagnose
short_description: Why can't I connect through just-in-time access, or why was my request refused
version_added: 0.2.0
description:
  - Runs Microsoft's just-in-time (JIT) troubleshooting checklists for one VM, one port and, optionally, the
    address you connect from, in the guides' order, and returns each check as a finding (V(ok), V(problem),
    V(warning) or V(skipped)) with its evidence and the fix.
  - "The checks, in order: C(eligibility) (as M(azsecops.jit.jit_vm_info) judges it: Defender for Servers Plan 2,
    an ARM VM, an NSG or a supported firewall); C(policy) (the VM is in a JIT policy and the port is in it);
    C(permissions) (the caller's actions at the VM's scope, from Microsoft.Authorization/permissions, with the
    missing actions and the built-in roles that grant them); C(request) (a live request covers the port and
    the source by Azure's clock; expired and superseded requests are named); C(allow_rules) (a JIT allow rule
    on every NSG on the path with the right port, source, destination (the VM's private IP) and access,
    not outranked by a deny rule someone added above it); C(firewall) (the DNAT rule and the mapped port when
    an Azure Firewall fronts the VM); C(flow) (the verdict of Network Watcher's IP flow verify where a watcher
    serves the VM's region, else the collection's own evaluation of the subnet then NIC rules in priority
    order, default rules and service tags included); C(activity_log) (failed JIT operations of the last
    O(activity_log_hours), with caller and message); C(my_ip) (the My IP hint when the source differs from the
    request's, or a proxy may hide it)."
  - RV(verdict) is V(reachable), or V(blocked) with RV(cause), the first problem in that order.
  - JIT rules of both naming generations (C(SecurityCenter-JITRule) and C(MicrosoftDefenderForCloud-JITRule))
    are read.
author:
  - azsecops.jit maintainers (@azsecops)
extends_documentation_fragment:
  - azsecops.jit.azure
  - azsecops.jit._attributes.INFO_MODULE
  - azsecops.jit._attributes.ACTIONGROUP_AZURE
attributes:
  check_mode:
    support: full
options:
  virtual_machine:
    description:
      - The VM, as O(virtual_machine.id), or O(virtual_machine.name) with O(virtual_machine.resource_group).
    type: dict
    required: true
    suboptions:
      name:
        description: The VM's name.
        type: str
      resource_group:
        description: The VM's resource group.
        type: str
      id:
        description: The VM's full Azure Resource Manager id.
        type: str
  port:
    description: The port you connect to (the VM's port, as in the JIT policy, not a firewall's mapped port).
    type: int
    required: true
  source:
    description:
      - The address you connect from, as the VM sees it (your public IP, or the proxy's).
      - Without it, the request's own source is evaluated.
    type: str
  use_network_watcher:
    description:
      - Ask Network Watcher's IP flow verify for the verdict when a watcher exists in the VM's region.
      - When V(false), or without a watcher, or when the principal may not use it, the collection evaluates the
        NSG rules itself.
    type: bool
    default: true
  activity_log_hours:
    description: How far back to read the Activity Log for failed JIT operations.
    type: int
    default: 24
notes:
  - Run it as the principal that requests access, so the permissions check is about that principal.
  - The module only reads (IP flow verify is a read-only evaluation), so it runs fully in check mode.
  - Expiry is judged by Azure's clock (the C(Date) header of its responses).
seealso:
  - module: azsecops.jit.jit_vm_info
  - module: azsecops.jit.jit_request
  - module: azsecops.jit.jit_rule_facts
"""

EXAMPLES = r"""
- name: Why can't I reach SSH on vm-web-01 from my office?
  azsecops.jit.jit_diagnose:
    virtual_machine:
      name: vm-web-01
      resource_group: rg-app
    port: 22
    source: 203.0.113.7
  register: why

- name: Say what is wrong and how to fix it
  ansible.builtin.debug:
    msg: "{{ why.verdict }}: {{ why.cause_message | default('all checks passed', true) }} (fix: {{ why.fix }})"

- name: Every finding, in the guides' order
  ansible.builtin.debug:
    msg: "{{ item.check }}: {{ item.status }}: {{ item.message }}"
  loop: "{{ why.findings }}"
  loop_control:
    label: "{{ item.check }}"

- name: Request access, then make sure the path is open before connecting
  block:
    - name: Request SSH for one hour
      azsecops.jit.jit_request:
        resource_group: rg-app
        virtual_machines:
          - name: vm-web-01
            ports: [{number: 22, duration: 1h, allowed_source: [203.0.113.7]}]

    - name: Check the path
      azsecops.jit.jit_diagnose:
        virtual_machine: {name: vm-web-01, resource_group: rg-app}
        port: 22
        source: 203.0.113.7
      register: path
      failed_when: path.verdict != 'reachable'
"""

RETURN = r"""
verdict:
  description: V(reachable) when no check found a problem, else V(blocked).
  returned: always
  type: str
  sample: blocked
cause:
  description:
    - The first problem, machine-readable; null when reachable.
    - "One of: classic_vm, no_nsg_or_firewall, plan_not_p2, firewall_policy, no_policy, port_not_in_policy,
      missing_permission, no_request, request_expired, request_superseded, source_not_covered,
      allow_rule_missing, allow_rule_drifted, deny_rule_outranks, dnat_rule_missing, flow_denied."
  returned: always
  type: str
  sample: deny_rule_outranks
cause_message:
  description: The first problem in words; null when reachable.
  returned: always
  type: str
  sample: deny rule block-ssh (priority 100) on NSG nsg-web-01 outranks JIT allow rule ... (priority 101)
fix:
  description: What to do about the first problem; null when reachable.
  returned: always
  type: str
  sample: give rule block-ssh a priority number above 101, or narrow it
findings:
  description: Every check, in the guides' order.
  returned: always
  type: list
  elements: dict
  contains:
    check:
      description: The check.
      type: str
      returned: always
      choices: [eligibility, policy, permissions, request, allow_rules, firewall, flow, activity_log, my_ip]
      sample: request
    status:
      description: Its outcome.
      type: str
      returned: always
      choices: [ok, problem, warning, skipped]
      sample: ok
    cause:
      description: For a problem, the machine-readable cause (see RV(cause)).
      type: str
      returned: always
      sample: null
    message:
      description: What was found.
      type: str
      returned: always
      sample: a live request by jane@contoso.com opens port 22 for 203.0.113.7 until 2026-11-22T18:37:11.0000000Z
    fix:
      description: What to do, for problems and warnings.
      type: str
      returned: always
      sample: null
    evidence:
      description: The data behind the finding (rules, requests, missing actions, failed operations...).
      type: dict
      returned: always
      sample: {requestor: jane@contoso.com, allowed_source: [203.0.113.7], seconds_left: 3512}
virtual_machine:
  description: The VM (C(name), C(id), C(resource_group), C(location), C(private_ip), C(public_ip), C(nsgs)).
  returned: always
  type: dict
  sample: {name: vm-web-01, resource_group: rg-app, private_ip: 10.10.2.4, public_ip: 198.51.100.4}
port:
  description: The port diagnosed.
  returned: always
  type: int
  sample: 22
source:
  description: The source given.
  returned: always
  type: str
  sample: 203.0.113.7
evaluated_source:
  description: The address the flow was evaluated from (the source, else the request's first address).
  returned: always
  type: str
  sample: 203.0.113.7
connect_to:
  description:
    - Where to connect while a request is live (C(address), C(port)); the firewall's public IP and mapped port
      behind an Azure Firewall. Null without a live request.
  returned: always
  type: dict
  sample: {address: 198.51.100.4, port: 22}
"""

from ansible_collections.azsecops.jit.plugins.module_utils._diagnose_manager import _DiagnoseManager
from ansible_collections.azsecops.jit.plugins.module_utils._module import _AzureJitModule
from ansible_collections.azsecops.jit.plugins.module_utils._vm_selection import _vm_ref_spec


def main() -> None:
    argument_spec = {
        "virtual_machine": {
            "type": "dict",
            "required": True,
            **_vm_ref_spec(),
            "required_by": {"name": "resource_group"},
        },
        "port": {"type": "int", "required": True},
        "source": {"type": "str"},
        "use_network_watcher": {"type": "bool", "default": True},
        "activity_log_hours": {"type": "int", "default": 24},
    }
    module = _AzureJitModule(argument_spec, supports_check_mode=True)
    module.run(_DiagnoseManager(module))


if __name__ == "__main__":
    main()
