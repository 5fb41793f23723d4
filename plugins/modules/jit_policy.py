#!/usr/bin/python
# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: jit_policy
short_description: Manage Defender for Cloud just-in-time VM access policies, one VM at a time
version_added: 0.1.0
description:
  - Puts virtual machines under just-in-time (JIT) VM access, changes their ports, or takes them out,
    in a JIT network access policy of Microsoft Defender for Cloud.
  - The policy is merged per VM. VMs that the task does not list are kept exactly as they are (unless
    O(purge_virtual_machines=true)), so several teams, playbooks or forks can share one policy without
    clobbering one another, unlike C(Set-AzJitNetworkAccessPolicy).
  - Within a listed VM the task's port list is authoritative, like the portal's edit of a VM; a port
    left out is removed from that VM.
  - Azure writes the JIT deny rules into the VM's network security groups when the policy changes.
  - A VM already in the policy keeps its ports when the task gives none (neither O(virtual_machines[].ports)
    nor O(ports)); the portal's defaults apply only to VMs being added.
  - The JIT API has no etag, so two controllers writing the same policy at once can lose each other's
    VMs. After each write the module waits O(settle_time) and reads the policy again; a VM of this task
    that another writer dropped (or changed) is written again, at most 4 times, and the task fails rather
    than report success with one of its VMs missing. Tasks on one controller also take turns (a lock per
    policy). See the concurrency section of the usage guide for what is guaranteed across controllers.
author:
  - azsecops.jit maintainers (@azsecops)
extends_documentation_fragment:
  - azsecops.jit.azure
  - azsecops.jit._attributes
  - azsecops.jit._attributes.ACTIONGROUP_AZURE
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  resource_group:
    description:
      - Resource group of the policy, and the default resource group of VMs given by O(virtual_machines[].name).
    type: str
    required: true
  name:
    description:
      - Name of the policy. The portal names its policies V(default).
      - The policy name plus any VM name must not exceed 56 characters (an Azure limit).
    type: str
    default: default
  location:
    description:
      - The policy's location (the C(ascLocation) in its id).
      - When not set, an existing policy named O(name) in O(resource_group) is found in any location;
        a new policy goes to the subscription's Defender for Cloud home location
        (C(Microsoft.Security/locations)).
    type: str
  virtual_machines:
    description:
      - The VMs to put under JIT (O(state=present)) or to take out of the policy (O(state=absent)).
      - With O(state=absent) an entry needs only O(virtual_machines[].name) or O(virtual_machines[].id).
      - VM names alone are accepted too, as a list of names or as one string of comma-separated names (what
        an AWX survey's text field sends); each becomes an entry with O(virtual_machines[].name).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - Name of the VM, in O(virtual_machines[].resource_group) or else O(resource_group).
        type: str
      resource_group:
        description:
          - Resource group of a VM given by name, when it is not O(resource_group).
        type: str
      id:
        description:
          - Full Azure Resource Manager id of the VM, instead of a name.
        type: str
      ports:
        description:
          - The VM's JIT ports, authoritative for this VM. An empty list is an error (use O(state=absent) to
            take a VM out).
          - When not set, the task's O(ports); without those either, a VM already in the policy keeps its ports
            and a VM being added gets the portal's defaults.
        type: list
        elements: dict
        suboptions: &port_options
          number:
            description: Port number (1-65535). Required.
            type: int
          protocol:
            description:
              - V(tcp), V(udp) or V(any), in any case; Azure's own spellings V(TCP), V(UDP) and V(*) (as the
                module returns them in RV(policy) and diffs) are accepted too.
            type: str
            default: any
          allowed_source:
            description:
              - Source addresses a request may open the port to, as IPv4/IPv6 addresses or CIDR prefixes;
                V(*) is any source.
              - A request must ask for a subset of these.
            type: list
            elements: str
            default: ['*']
          max_duration:
            description:
              - The longest access a request may get, from 5 minutes to 24 hours, as V(3h), V(90m),
                V(1d), V(1h30m) or ISO 8601 (V(PT3H)).
            type: str
            default: 3h
      public_ip_address:
        description:
          - Public IP of the Azure Firewall in front of the VM. Azure fills it in; set it only to override.
        type: str
  ports:
    description:
      - Ports of every listed VM that has no O(virtual_machines[].ports) of its own.
      - When not set, VMs already in the policy keep their ports, and VMs being added get the portal's
        defaults (22, 3389, 5985 and 5986, any protocol, any source, 3 hours).
      - An empty list is an error (it would not say which ports to use).
    type: list
    elements: dict
    suboptions: *port_options
  purge_virtual_machines:
    description:
      - With O(state=present), remove from the policy every VM that the task does not list.
      - With an empty O(virtual_machines) this is an error, never "remove every VM".
    type: bool
    default: false
  delete_policy:
    description:
      - Delete the whole policy (and the deny rules of all its VMs). Needs O(state=absent) and no
        O(virtual_machines); an empty list alone never deletes a policy.
    type: bool
    default: false
  remove_missing_vms:
    description:
      - Remove the entries of VMs that no longer exist (one VM list call per resource group of the
        policy's VMs). Azure refuses every write of a policy that holds such an entry
        (C(VirtualMachineNotFound)); without this option the task names the entry and how to remove it.
    type: bool
    default: false
  check_rules:
    description:
      - Read the network security groups of the listed VMs (list calls per resource group, never per VM) and
        check JIT's protection of their ports. A deny rule missing for a port already in the policy is put
        back (the task rewrites the policy, which makes Azure write every listed VM's deny rules again, and
        says so in RV(actions)); an inbound Allow rule that lets a JIT port in ahead of the deny rule (or, before
        onboarding, any such rule, as Azure places the deny rule after them) gives a warning naming the rule.
      - A principal that cannot read NSGs (Security Admin) gets a warning and the task goes on.
    type: bool
    default: true
  settle_time:
    description:
      - Seconds to wait after writing before reading the policy again to check that no other controller
        overwrote this task's VMs (then they are written again). Only runs that write pay it.
      - A writer using this module sends its write at most O(settle_time)/2 after its read (it reads again
        otherwise) and warns when the write's answer came more than O(settle_time) after that read. So any
        write based on a read older than ours has landed by the time we check, as long as Azure answers a
        policy write within O(settle_time)/2. JIT policy writes are answered in seconds; the default, 60,
        leaves 30 seconds, half of Azure Resource Manager's 60-second limit for a synchronous request.
      - V(0) checks at once, which only catches writers on this controller; use it when one controller
        alone writes the policy.
      - When not set, the environment variable E(AZSECOPS_JIT_SETTLE_TIME) is used if it is set (for example
        in an AWX execution environment), else 60.
    type: float
    default: 60
  state:
    description:
      - V(present) adds or updates the listed VMs.
      - V(absent) removes the listed VMs; with O(delete_policy=true) and no VM listed it deletes the whole policy.
      - A policy left without VMs is deleted.
    type: str
    choices: [present, absent]
    default: present
  lock_timeout:
    description:
      - Seconds to wait for other tasks on this controller that are changing the same policy (0 or more).
    type: int
    default: 300
notes:
  - A no-change run makes no write call; the VMs are looked up (one list call per resource group) only
    when the task adds or changes them.
  - The policy's request log (C(properties.requests)) is sent back as read and never compared.
  - Security Admin may write JIT policies but cannot read VMs; with it the VMs are not checked before writing (Azure
    checks them) and the task warns. Reader on the resource group adds the check.
seealso:
  - module: azsecops.jit.jit_request
  - module: azsecops.jit.jit_rule_facts
"""

EXAMPLES = r"""
- name: Put two VMs under JIT with SSH from the corporate range, 3 hours at most
  azsecops.jit.jit_policy:
    resource_group: rg-app
    virtual_machines:
      - name: vm-web-01
      - name: vm-web-02
    ports:
      - number: 22
        protocol: tcp
        allowed_source: [10.0.0.0/8]
        max_duration: 3h

- name: A Windows VM with RDP and WinRM, each with its own limits
  azsecops.jit.jit_policy:
    resource_group: rg-app
    virtual_machines:
      - name: vm-win-01
        ports:
          - {number: 3389, protocol: tcp, allowed_source: [203.0.113.0/24], max_duration: 1h}
          - {number: 5986, protocol: tcp, max_duration: 30m}

- name: Credentials for every task from module_defaults; onboard every VM of an inventory group at once
  module_defaults:
    group/azsecops.jit.azure:
      subscription_id: "{{ lookup('ansible.builtin.env', 'AZURE_SUBSCRIPTION_ID') }}"
      api_retries: 8
  block:
    - name: One entry per host of the group
      ansible.builtin.set_fact:
        web_vms: "{{ web_vms | default([]) + [{'name': item}] }}"
      loop: "{{ groups['web'] }}"

    - name: One policy write for all of them
      azsecops.jit.jit_policy:
        resource_group: rg-app
        virtual_machines: "{{ web_vms }}"
        ports: [{number: 22, protocol: tcp}]

- name: Take one VM out of the policy (the other VMs stay)
  azsecops.jit.jit_policy:
    resource_group: rg-app
    virtual_machines:
      - name: vm-web-02
    state: absent

- name: Make the policy hold exactly these VMs
  azsecops.jit.jit_policy:
    resource_group: rg-app
    virtual_machines:
      - name: vm-web-01
    ports: [{number: 22}]
    purge_virtual_machines: true

- name: Delete the whole policy (its deny rules go with it); an empty list never does this
  azsecops.jit.jit_policy:
    resource_group: rg-app
    name: default
    state: absent
    delete_policy: true

- name: Clear entries of VMs that were deleted (Azure refuses every write of the policy until then)
  azsecops.jit.jit_policy:
    resource_group: rg-app
    virtual_machines: [{name: vm-web-01}]
    remove_missing_vms: true
"""

RETURN = r"""
policy:
  description:
    - The policy after the task (in check mode, as it would be), with snake_case keys; V({}) when there is none.
  returned: always
  type: dict
  sample:
    id: "/subscriptions/0000/resourceGroups/rg-app/providers/Microsoft.Security/locations/westeurope/\
      jitNetworkAccessPolicies/default"
    name: default
    type: Microsoft.Security/locations/jitNetworkAccessPolicies
    kind: Basic
    location: westeurope
    properties:
      provisioning_state: Succeeded
      virtual_machines:
        - id: /subscriptions/0000/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/vm-web-01
          ports:
            - number: 22
              protocol: TCP
              allowed_source_address_prefix: 10.0.0.0/8
              max_request_access_duration: PT3H
actions:
  description: What the task did (or would do in check mode), one line per change.
  returned: always
  type: list
  elements: str
  sample: ["add VM vm-web-02", "update VM vm-web-01: port 22 max_duration PT3H -> PT1H"]
location:
  description: The policy's location (ascLocation).
  returned: always
  type: str
  sample: westeurope
attempts:
  description: Read-modify-write cycles needed (more than 1 when another writer changed the policy meanwhile).
  returned: when changed and not in check mode
  type: int
  sample: 1
verification:
  description: What the check against other writers cost and found.
  returned: when changed and not in check mode
  type: dict
  contains:
    settle_time:
      description: The O(settle_time) used.
      type: float
      returned: always
    waited_seconds:
      description: Seconds spent waiting before the checks.
      type: float
      returned: always
    read_to_write_seconds:
      description: The longest time from sending a read to the answer of the write based on it.
      type: float
      returned: always
    attempts:
      description: Writes made (1 unless another writer dropped this task's VMs).
      type: int
      returned: always
    reads:
      description: Policy reads made (the first read, re-reads of an old read, and one check per write).
      type: int
      returned: always
    writes:
      description: Policy writes made.
      type: int
      returned: always
    repaired:
      description: What had to be written again because another writer dropped it.
      type: list
      elements: str
      returned: always
diff:
  description: The policy's VM entries before and after, with normalised ports.
  returned: in diff mode
  type: dict
  contains:
    before:
      description: VM entries before the task; V({}) when there was no policy.
      type: dict
      returned: in diff mode
    after:
      description: VM entries after the task; V({}) when the policy is deleted.
      type: dict
      returned: in diff mode
"""

from ansible.module_utils.basic import env_fallback
from ansible_collections.azsecops.jit.plugins.module_utils._module import _AzureJitModule
from ansible_collections.azsecops.jit.plugins.module_utils._policy_manager import _PolicyManager
from ansible_collections.azsecops.jit.plugins.module_utils._vm_selection import _vm_ref_spec

_PORT_SPEC = {
    "number": {"type": "int"},
    "protocol": {"type": "str", "default": "any"},
    "allowed_source": {"type": "list", "elements": "str", "default": ["*"]},
    "max_duration": {"type": "str", "default": "3h"},
}


def main() -> None:
    argument_spec = {
        "resource_group": {"type": "str", "required": True},
        "name": {"type": "str", "default": "default"},
        "location": {"type": "str"},
        "virtual_machines": {
            "type": "list",
            "elements": "dict",
            "default": [],
            **_vm_ref_spec(
                ports={"type": "list", "elements": "dict", "options": _PORT_SPEC},
                public_ip_address={"type": "str"},
            ),
        },
        "ports": {"type": "list", "elements": "dict", "options": _PORT_SPEC},
        "purge_virtual_machines": {"type": "bool", "default": False},
        "delete_policy": {"type": "bool", "default": False},
        "remove_missing_vms": {"type": "bool", "default": False},
        "check_rules": {"type": "bool", "default": True},
        "settle_time": {"type": "float", "default": 60.0, "fallback": (env_fallback, ["AZSECOPS_JIT_SETTLE_TIME"])},
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        "lock_timeout": {"type": "int", "default": 300},
    }
    module = _AzureJitModule(argument_spec)
    module.run(_PolicyManager(module))


if __name__ == "__main__":
    main()
