#!/usr/bin/python
# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: jit_vm_info
short_description: Each VM's just-in-time state as the portal groups it, with its exposure and rule health
version_added: 0.2.0
description:
  - Returns, for the selected virtual machines, their just-in-time (JIT) VM access state the way the Defender
    for Cloud JIT blade groups them. V(configured) means the VM is in a JIT policy (which one, its ports, its
    location). V(not_configured) means it is eligible and the portal recommends it. V(unsupported) comes with
    the portal's reason and a machine-readable code.
  - "Unsupported reasons (RV(virtual_machines[].reason_code)): V(no_nsg_or_firewall) (portal: Missing NSG or
    Azure Firewall), V(classic_vm) (portal: Classic VM), and, under the portal's Other: V(plan_not_p2) (the
    subscription is not on Microsoft Defender for Servers Plan 2), V(firewall_policy) (the only firewall is
    managed by Azure Firewall Manager through a Firewall Policy), V(region) (the VM is in another region than
    O(location))."
  - Also per VM, the management ports (22, 3389, 5985, 5986 and any port its policy names) that the NSG rules
    leave open to the whole Internet without JIT (the exposure the JIT recommendation is about), and whether
    its JIT deny rules are intact on every NSG on its path. Rules of both JIT naming generations
    (C(SecurityCenter-JITRule) and C(MicrosoftDefenderForCloud-JITRule)) are recognised.
  - Reads are bulk. One list of the subscription's JIT policies, one read of the Defender for Servers plan,
    and one list call per resource type and resource group in O(resource_groups), or per resource type for
    the whole subscription without it. The number of calls grows with resource groups, never with VMs
    (apart from the pages of long lists).
author:
  - azsecops.jit maintainers (@azsecops)
extends_documentation_fragment:
  - azsecops.jit.azure
  - azsecops.jit._attributes.INFO_MODULE
  - azsecops.jit._attributes.ACTIONGROUP_AZURE
  - azsecops.jit._vm_selection.VM_FILTER
attributes:
  check_mode:
    support: full
options:
  resource_groups:
    description:
      - Only VMs in these resource groups. Without it (and without VM ids), the whole subscription is read.
    type: list
    elements: str
    aliases: [resource_group]
  tags:
    description:
      - Only VMs that carry all these tags with these values.
    type: dict
  location:
    description:
      - The location of the JIT policy you intend to configure the VMs in (for example V(westeurope)).
      - When set, VMs that are in no policy and sit in another region are reported V(unsupported) with
        reason code V(region). Without it, no region is judged.
    type: str
notes:
  - O(virtual_machines) names are looked for in O(resource_groups) (or the whole subscription without it); ids
    alone limit the reads to the resource groups of those ids.
  - Exposure counts only allow rules whose source is the whole Internet (V(*), V(Any), V(0.0.0.0/0) or
    V(Internet)), evaluated in priority order on the subnet NSG and then the NIC NSG. JIT's own allow rules
    are not exposure. A VM without any NSG but with a public IP is exposed on every management port.
  - The module only reads, so it runs fully in check mode and never reports a change.
  - A principal that may not read some resources still gets everything else, with warnings naming them.
seealso:
  - module: azsecops.jit.jit_diagnose
  - module: azsecops.jit.jit_policy
  - module: azsecops.jit.jit_rule_facts
"""

EXAMPLES = r"""
- name: Every VM of the subscription in the portal's JIT buckets
  azsecops.jit.jit_vm_info:
  register: jit_vms

- name: The VMs JIT recommends, ready to be put in a policy
  ansible.builtin.debug:
    msg: "{{ jit_vms.virtual_machines | selectattr('state', 'eq', 'not_configured') | map(attribute='name') | list }}"

- name: Why VMs are not recommended
  ansible.builtin.debug:
    msg: "{{ item.name }}: {{ item.reason }}"
  loop: "{{ jit_vms.virtual_machines | selectattr('state', 'eq', 'unsupported') | list }}"
  loop_control:
    label: "{{ item.name }}"

- name: Fail when a management port is open to the Internet, or JIT rules are broken
  azsecops.jit.jit_vm_info:
    resource_groups: [rg-app, rg-data]
    tags:
      env: prod
  register: prod
  failed_when: prod.summary.exposed > 0 or prod.summary.rules_not_intact > 0

- name: One VM, by id
  azsecops.jit.jit_vm_info:
    virtual_machines:
      - "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-app/providers/\
        Microsoft.Compute/virtualMachines/vm-web-01"
"""

RETURN = r"""
virtual_machines:
  description: The selected VMs, sorted by resource group and name.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The VM's name.
      type: str
      returned: always
      sample: vm-web-01
    id:
      description: The VM's Azure Resource Manager id.
      type: str
      returned: always
      sample: /subscriptions/0000/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/vm-web-01
    resource_group:
      description: The VM's resource group.
      type: str
      returned: always
      sample: rg-app
    location:
      description: The VM's region.
      type: str
      returned: always
      sample: westeurope
    classic:
      description: Whether this is a classic (Microsoft.ClassicCompute) VM.
      type: bool
      returned: always
      sample: false
    os_type:
      description:
        - The VM's operating system, from its OS disk (C(storageProfile.osDisk.osType)), or else from which of
          C(osProfile.windowsConfiguration) and C(osProfile.linuxConfiguration) it has. Null when Azure does not say.
        - Read from the same VM list call, so it costs no call.
        - The onboard role uses it for per-OS ports (SSH for Linux, RDP and WinRM for Windows).
      type: str
      returned: always
      choices: [Linux, Windows]
      sample: Linux
    state:
      description: The portal's bucket.
      type: str
      returned: always
      choices: [configured, not_configured, unsupported]
      sample: configured
    reason_code:
      description: Why the VM is unsupported, machine-readable; null otherwise.
      type: str
      returned: always
      choices: [no_nsg_or_firewall, classic_vm, plan_not_p2, firewall_policy, region]
      sample: no_nsg_or_firewall
    reason:
      description: Why the VM is unsupported, in the portal's words followed by the detail; null otherwise.
      type: str
      returned: always
      sample: "Missing NSG or Azure Firewall: no network security group on the VM's NIC or subnet and no Azure
        Firewall in its virtual network"
    portal_reason:
      description: The portal's own reason label (C(Missing NSG or Azure Firewall), C(Classic VM), C(Other)).
      type: str
      returned: always
      sample: Other
    policy:
      description:
        - The JIT policy that holds the VM (name, id, location, resource group, the VM's ports); null when none.
      type: dict
      returned: always
      sample:
        name: default
        id: "/subscriptions/0000/resourceGroups/rg-app/providers/Microsoft.Security/locations/westeurope/\
          jitNetworkAccessPolicies/default"
        location: westeurope
        resource_group: rg-app
        ports: [{number: 22, protocol: "*", allowed_source: ["*"], max_duration: PT3H}]
    private_ip:
      description: The private IP of the VM's primary NIC (the destination of JIT's rules).
      type: str
      returned: always
      sample: 10.10.2.4
    public_ip:
      description: The public IP on that NIC, if any.
      type: str
      returned: always
      sample: 198.51.100.4
    nsgs:
      description: The NSGs on the VM's path, with C(scope) V(nic) or V(subnet), C(name) and C(id).
      type: list
      elements: dict
      returned: always
      sample:
        - scope: nic
          name: nsg-web-01
          id: /subscriptions/0000/resourceGroups/rg-app/providers/Microsoft.Network/networkSecurityGroups/nsg-web-01
    firewall:
      description:
        - The Azure Firewall in the VM's virtual network (C(name), C(id), C(public_ip), C(managed_by_policy)).
        - Null when there is none.
      type: dict
      returned: always
      sample:
        name: fw-hub
        id: /subscriptions/0000/resourceGroups/rg-data/providers/Microsoft.Network/azureFirewalls/fw-hub
        public_ip: 198.51.100.5
        managed_by_policy: false
    management_ports:
      description: The ports judged for exposure (22, 3389, 5985, 5986 and the policy's ports).
      type: list
      elements: int
      returned: always
      sample: [22, 3389, 5985, 5986]
    exposed_ports:
      description: The management ports open to the whole Internet without JIT.
      type: list
      elements: int
      returned: always
      sample: [22]
    exposure:
      description: For each exposed port, the NSG and the rule that open it (both null for a VM without NSG).
      type: list
      elements: dict
      returned: always
      sample: [{port: 22, nsg: nsg-ssh-open, rule: allow-ssh-from-anywhere}]
    jit_rules_intact:
      description:
        - For a configured VM, whether a JIT deny rule exists for every policy port on every NSG on its path.
        - Null when the VM is not configured or its NSGs could not be read.
      type: bool
      returned: always
      sample: true
    missing_deny_rules:
      description: The policy ports without a JIT deny rule, with the NSG that lacks it.
      type: list
      elements: dict
      returned: always
      sample: [{port: 22, nsg: nsg-snet-web}]
summary:
  description: Counts over the returned VMs.
  returned: always
  type: dict
  sample:
    total: 9
    configured: 2
    not_configured: 4
    unsupported: 3
    unsupported_by_reason: {no_nsg_or_firewall: 1, classic_vm: 1, firewall_policy: 1}
    exposed: 1
    rules_not_intact: 0
"""

from ansible_collections.azsecops.jit.plugins.module_utils._module import _AzureJitModule
from ansible_collections.azsecops.jit.plugins.module_utils._vm_info_manager import _VmInfoManager
from ansible_collections.azsecops.jit.plugins.module_utils._vm_selection import _vm_filter_spec


def main() -> None:
    argument_spec = {
        **_vm_filter_spec(),
        "resource_groups": {"type": "list", "elements": "str", "aliases": ["resource_group"]},
        "tags": {"type": "dict"},
        "location": {"type": "str"},
    }
    module = _AzureJitModule(argument_spec, supports_check_mode=True)
    module.run(_VmInfoManager(module))


if __name__ == "__main__":
    main()
