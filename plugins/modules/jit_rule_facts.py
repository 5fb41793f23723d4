#!/usr/bin/python
# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: jit_rule_facts
short_description: Every just-in-time VM access rule, request and policy, judged against one another
version_added: 0.1.0
description:
  - Reads the Defender for Cloud just-in-time (JIT) VM access policies, their requests, and the JIT rules on
    the network security groups (NSGs) and Azure Firewalls around the VMs, and joins them.
  - Every JIT rule gets a RV(rules[].state) that automates the "can't connect after creating a JIT access request"
    checklist. V(active) means the rule matches its policy (deny rules) or its live request (allow and DNAT
    rules). V(expired) means the request ended (status C(Revoked), or its end time passed by Azure's clock)
    but the rule is still there. V(orphaned) means nothing stands behind the rule (its VM is gone or not
    behind that NSG, the VM is in no policy, the port is not in the policy, no request opened the port, or
    the name only looks like JIT's). V(drifted) means its port, protocol, source, destination (which must
    be the VM's private IP) or access differ from the policy or the request. V(shadowed) means a deny rule matches
    its policy but an Allow rule JIT did not write comes first on the same NSG and lets the port in (for example
    an allow from the Internet at priority 300), so the port is open anyway. Each rule says why in C(reasons).
  - With O(resource_group), the policies are still read with one subscription-wide list call, because a VM's
    policy may live in another resource group; such a policy is reported with the entries of the group's VMs,
    and their rules are not orphaned. A principal that may only list the group's policies gets those, and the gap
    is listed in RV(unreadable).
  - What the credential cannot read is listed in RV(unreadable) and counted in RV(summary.problems), never
    reported as "no problem".
  - JIT deny rules are named C(<prefix>_<int>_<32 upper-case hex>) and allow rules C(<prefix>-<int>-<32 upper-case
    hex>), where C(<int>) is a signed 32-bit integer shared by one VM's rules, for example
    C(MicrosoftDefenderForCloud-JITRule_-1151891693_545C5DBC675443D3BF179EFD1EF8254D). Any other name is not JIT's.
  - Two generations of names exist. Since May 2023 JIT writes the prefix C(MicrosoftDefenderForCloud-JITRule),
    descriptions starting C(MDC JIT Network Access rule) and firewall rule collections and rules C(MDC-JIT); before, it
    wrote C(SecurityCenter-JITRule), C(ASC JIT Network Access rule) and C(ASC-JIT) (Defender for Cloud release notes,
    "Revised JIT (Just-In-Time) rule naming conventions"). Rules are not renamed, so older subscriptions hold both,
    often in one NSG. Both are recognised, and RV(rules[].naming) says which one a rule uses.
  - A rule whose name starts with a JIT prefix but does not have JIT's shape is listed with kind V(unknown) and
    state V(orphaned), because JIT will never remove it although it looks like JIT's.
  - The results are returned and also set as the fact C(azure_jit).
  - The cost does not grow with the number of VMs. It is one call for the policies, then one list call
    per resource type and resource group with O(resource_group), or one per resource type for the whole
    subscription without it. Every page (C(nextLink)) is read.
  - A principal that may not read some resources (the least-privilege JIT requester role cannot read
    NSGs) still gets everything else, with warnings saying which rules are unknown.
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
  resource_group:
    description:
      - Report the JIT policies of this resource group, the VMs in them and in the resource group, and
        every NSG and Azure Firewall of the resource group.
      - When not set, the whole subscription is read.
    type: str
  include_expired:
    description:
      - Also return request rows that ended (status C(Revoked), or end time passed by Azure's clock).
      - This filters RV(requests) only. Rules in state V(expired) are always listed, because a rule
        that outlived its request is a problem to see.
    type: bool
    default: false
notes:
  - O(virtual_machines) names are looked for in the policies and in O(resource_group) (or anywhere in the
    subscription without O(resource_group)). With this filter, only the NSGs and firewalls on these VMs' paths
    are read for rules, and rules of other VMs sharing those NSGs are left out; rules that cannot be tied to any
    VM are kept. Without it (or with an empty list), every NSG and Azure Firewall in scope is read, so rules
    whose VM is gone show up as V(orphaned).
  - Expiry is judged by Azure's clock (the C(Date) header of its responses), never the controller's.
  - Deny rules are compared with the policy (access C(Deny), source any, destination the VM's private IP,
    the policy port and its protocol). Allow rules are compared with the request (access C(Allow), the
    request's sources, destination the VM's private IP, the requested port and the policy port's
    protocol). Firewall DNAT rules are compared with the request too (its sources, the firewall's public IP
    and the mapped port translated to the VM's private IP and the requested port).
  - Rules are tied to a VM by the VM name in their description, else by their destination address. A rule
    whose VM's policy lives outside O(resource_group) is judged against the policies in scope only.
  - RV(missing) lists the rules JIT should have written but did not. These are a deny rule for a
    policy port on an NSG of the VM, and an allow or DNAT rule for a live request.
seealso:
  - module: azsecops.jit.jit_policy
  - module: azsecops.jit.jit_request
"""

EXAMPLES = r"""
- name: Every JIT rule, request and policy of the subscription
  azsecops.jit.jit_rule_facts:

- name: Fail the pipeline when a JIT rule has drifted or is orphaned
  block:
    - name: Read the JIT rules of the application's resource group
      azsecops.jit.jit_rule_facts:
        resource_group: rg-app

    - name: No drifted or orphaned JIT rule may exist
      ansible.builtin.assert:
        that:
          - azure_jit.rules | selectattr('state', 'in', ['drifted', 'orphaned']) | list | length == 0
        fail_msg: >-
          Bad JIT rules: {{ azure_jit.rules | selectattr('state', 'in', ['drifted', 'orphaned'])
          | map(attribute='reasons') | flatten | join('; ') }}
        quiet: true

- name: List what is wrong, rule by rule
  ansible.builtin.debug:
    msg: "{{ item.name }} ({{ item.state }}): {{ item.reasons | join('; ') }}"
  loop: "{{ azure_jit.rules | selectattr('state', 'in', ['drifted', 'orphaned', 'expired']) | list }}"
  loop_control:
    label: "{{ item.name }}"

- name: One VM's view, including the requests that already ended
  azsecops.jit.jit_rule_facts:
    resource_group: rg-app
    virtual_machines: [vm-web-01]
    include_expired: true
  register: web

- name: Who has access to vm-web-01 now, and for how long
  ansible.builtin.debug:
    msg: >-
      {{ item.requestor }} from {{ item.allowed_source | join(', ') }}
      on port {{ item.port }}: {{ item.seconds_left }}s left
  loop: "{{ web.requests | selectattr('active') | list }}"
  loop_control:
    label: "{{ item.vm.name }}:{{ item.port }}"

# From the command line, with the AZURE_* variables exported (as the AWX Azure credential injects them):
#   ansible localhost -m azsecops.jit.jit_rule_facts -a resource_group=rg-app
# or in a playbook run with `ansible-playbook jit_report.yml -e rg=rg-app`, credentials from module_defaults:
- name: Read the JIT rules with the credentials in module_defaults
  module_defaults:
    group/azsecops.jit.azure:
      subscription_id: "{{ lookup('ansible.builtin.env', 'AZURE_SUBSCRIPTION_ID') }}"
      cloud_environment: "{{ lookup('ansible.builtin.env', 'AZURE_CLOUD_ENVIRONMENT', default='AzureCloud') }}"
  block:
    - name: Read the JIT rules
      azsecops.jit.jit_rule_facts:
        resource_group: "{{ rg | default(omit) }}"

    - name: Show the counts
      ansible.builtin.debug:
        var: azure_jit.summary
"""

RETURN = r"""
policies:
  description:
    - The JIT policies in scope, normalised. With O(virtual_machines), only the policies of those VMs,
      each with only those VMs.
    - The request log is in RV(requests), one row per VM and port.
  returned: always
  type: list
  elements: dict
  sample:
    - id: "/subscriptions/0000/resourceGroups/rg-app/providers/Microsoft.Security/locations/westeurope/\
        jitNetworkAccessPolicies/default"
      name: default
      location: westeurope
      resource_group: rg-app
      kind: Basic
      provisioning_state: Succeeded
      virtual_machines:
        - id: /subscriptions/0000/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/vm-web-01
          name: vm-web-01
          ports:
            - {number: 22, protocol: TCP, allowed_source: ["10.0.0.0/8"], max_duration: PT3H}
  contains:
    id:
      description: Resource id of the policy.
      type: str
      returned: always
      sample: "/subscriptions/0000/resourceGroups/rg-app/providers/Microsoft.Security/locations/westeurope/\
        jitNetworkAccessPolicies/default"
    name:
      description: Name of the policy.
      type: str
      returned: always
      sample: default
    location:
      description: Location of the policy (its C(ascLocation)).
      type: str
      returned: always
      sample: westeurope
    resource_group:
      description: Resource group of the policy.
      type: str
      returned: always
      sample: rg-app
    kind:
      description: Kind of the policy.
      type: str
      returned: always
      sample: Basic
    provisioning_state:
      description: Provisioning state Azure reports.
      type: str
      returned: always
      sample: Succeeded
    virtual_machines:
      description: The policy's VMs and their JIT ports.
      type: list
      elements: dict
      returned: always
      sample:
        - id: /subscriptions/0000/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/vm-web-01
          name: vm-web-01
          ports: [{number: 22, protocol: TCP, allowed_source: ["*"], max_duration: PT3H}]
      contains:
        id:
          description: Resource id of the VM.
          type: str
          returned: always
          sample: /subscriptions/0000/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/vm-web-01
        name:
          description: Name of the VM.
          type: str
          returned: always
          sample: vm-web-01
        public_ip_address:
          description: Public IP of the Azure Firewall in front of the VM, as the policy holds it.
          type: str
          returned: when Azure set it
          sample: 198.51.100.10
        ports:
          description: The VM's JIT ports.
          type: list
          elements: dict
          returned: always
          sample: [{number: 22, protocol: TCP, allowed_source: ["*"], max_duration: PT3H}]
          contains:
            number:
              description: Port number.
              type: int
              returned: always
              sample: 22
            protocol:
              description: C(TCP), C(UDP) or C(*) (any).
              type: str
              returned: always
              sample: TCP
            allowed_source:
              description: Sources a request may open the port to; C(*) is any.
              type: list
              elements: str
              returned: always
              sample: ["10.0.0.0/8"]
            max_duration:
              description: The longest access a request may get, ISO 8601.
              type: str
              returned: always
              sample: PT3H
requests:
  description:
    - The requests of the policies in scope, one row per VM and port, oldest first.
    - With O(include_expired=false) (the default) rows that ended are left out.
  returned: always
  type: list
  elements: dict
  sample:
    - policy:
        name: default
        id: "/subscriptions/0000/resourceGroups/rg-app/providers/Microsoft.Security/locations/westeurope/\
          jitNetworkAccessPolicies/default"
      vm:
        name: vm-web-01
        id: /subscriptions/0000/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/vm-web-01
      port: 22
      protocol: TCP
      status: Initiated
      status_reason: UserRequested
      requestor: jane@contoso.com
      justification: CHG-1234 patch window
      start_time_utc: "2026-11-22T17:37:11.0000000Z"
      end_time_utc: "2026-11-22T18:37:11.0000000Z"
      seconds_left: 3542
      active: true
      allowed_source: [203.0.113.7]
  contains:
    policy:
      description: The policy the request was made on.
      type: dict
      returned: always
      sample:
        name: default
        id: "/subscriptions/0000/resourceGroups/rg-app/providers/Microsoft.Security/locations/westeurope/\
        jitNetworkAccessPolicies/default"
      contains: &ref_contains
        name:
          description: Name.
          type: str
          returned: always
          sample: default
        id:
          description: Resource id.
          type: str
          returned: always
          sample: "/subscriptions/0000/resourceGroups/rg-app/providers/Microsoft.Security/locations/westeurope/\
          jitNetworkAccessPolicies/default"
    vm:
      description: The VM.
      type: dict
      returned: always
      sample:
        name: vm-web-01
        id: /subscriptions/0000/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/vm-web-01
      contains: *ref_contains
    port:
      description: Port number.
      type: int
      returned: always
      sample: 22
    protocol:
      description:
        - The port's protocol in the policy (C(TCP), C(UDP), C(*)).
        - Null when the policy no longer has the port.
      type: str
      returned: always
      sample: TCP
    status:
      description: C(Initiated) while access is granted, C(Revoked) when it ended.
      type: str
      returned: always
      sample: Initiated
    status_reason:
      description: Why, for example C(UserRequested), C(Expired), C(NewerRequestInitiated).
      type: str
      returned: always
      sample: UserRequested
    requestor:
      description: Who made the request.
      type: str
      returned: always
      sample: jane@contoso.com
    justification:
      description: The justification given with the request; null when none was.
      type: str
      returned: always
      sample: CHG-1234 patch window
    start_time_utc:
      description: When the request was made, as Azure wrote it.
      type: str
      returned: always
      sample: "2026-11-22T17:37:11.0000000Z"
    end_time_utc:
      description: When access ends, as Azure wrote it.
      type: str
      returned: always
      sample: "2026-11-22T18:37:11.0000000Z"
    seconds_left:
      description: Seconds of access left by Azure's clock; 0 once the request ended.
      type: int
      returned: always
      sample: 3542
    active:
      description: True while the request grants access (status C(Initiated) and end time not reached).
      type: bool
      returned: always
      sample: true
    allowed_source:
      description: The source addresses access was granted to.
      type: list
      elements: str
      returned: always
      sample: [203.0.113.7]
    mapped_port:
      description: The port on the Azure Firewall's public IP that forwards to the VM's port.
      type: int
      returned: when the VM is behind an Azure Firewall
      sample: 50000
rules:
  description:
    - Every JIT rule (and look-alike) on the NSGs and Azure Firewalls in scope, judged.
    - Rules in state V(expired) are listed whatever O(include_expired) says.
  returned: always
  type: list
  elements: dict
  sample:
    - name: MicrosoftDefenderForCloud-JITRule-1234567890-0123456789ABCDEF0123456789ABCDEF
      kind: allow
      naming: current
      nsg:
        name: nsg-web-01
        id: /subscriptions/0000/resourceGroups/rg-app/providers/Microsoft.Network/networkSecurityGroups/nsg-web-01
      firewall: null
      scope: nic
      priority: 100
      direction: Inbound
      protocol: Tcp
      ports: ["22"]
      sources: [198.51.100.9]
      destinations: [10.10.2.4]
      access: Allow
      translated_address: null
      translated_port: null
      description: MDC JIT Network Access rule created by an initiation request for policy 'default' of VM 'vm-web-01'.
      vm:
        name: vm-web-01
        id: /subscriptions/0000/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/vm-web-01
      policy:
        name: default
        id: "/subscriptions/0000/resourceGroups/rg-app/providers/Microsoft.Security/locations/westeurope/\
          jitNetworkAccessPolicies/default"
      request:
        start_time_utc: "2026-11-22T17:37:11.0000000Z"
        end_time_utc: "2026-11-22T18:37:11.0000000Z"
        requestor: jane@contoso.com
        status: Initiated
        status_reason: UserRequested
      state: drifted
      reasons: ["source is 198.51.100.9, not the request's 203.0.113.7"]
  contains:
    name:
      description: Name of the rule.
      type: str
      returned: always
      sample: MicrosoftDefenderForCloud-JITRule_-1234567890_0123456789ABCDEF0123456789ABCDEF
    kind:
      description:
        - V(deny) and V(allow) for NSG rules with JIT's names, V(dnat) for Azure Firewall NAT rules of JIT.
        - V(unknown) for a rule whose name starts with a JIT prefix but does not have JIT's shape.
      type: str
      returned: always
      sample: deny
    naming:
      description:
        - Which generation of JIT's names the rule carries. V(current) is C(MicrosoftDefenderForCloud-JITRule) (NSG)
          or C(MDC-JIT) (Azure Firewall), written since May 2023. V(legacy) is C(SecurityCenter-JITRule) or
          C(ASC-JIT), written before and still present in older subscriptions.
        - Null for a rule of kind V(unknown).
      type: str
      returned: always
      sample: current
    nsg:
      description: The NSG holding the rule; null for firewall rules.
      type: dict
      returned: always
      sample:
        name: nsg-web-01
        id: /subscriptions/0000/resourceGroups/rg-app/providers/Microsoft.Network/networkSecurityGroups/nsg-web-01
      contains: *ref_contains
    firewall:
      description: The Azure Firewall holding the rule; null for NSG rules.
      type: dict
      returned: always
      sample:
        name: fw-hub
        id: /subscriptions/0000/resourceGroups/rg-data/providers/Microsoft.Network/azureFirewalls/fw-hub
        nat_rule_collection: MDC-JIT-123
      contains:
        name:
          description: Name of the firewall.
          type: str
          returned: always
          sample: fw-hub
        id:
          description: Resource id of the firewall.
          type: str
          returned: always
          sample: /subscriptions/0000/resourceGroups/rg-data/providers/Microsoft.Network/azureFirewalls/fw-hub
        nat_rule_collection:
          description: The NAT rule collection holding the rule.
          type: str
          returned: always
          sample: MDC-JIT-123
    scope:
      description:
        - Where the rule applies. V(nic) is the NSG of the VM's network interface, V(subnet) the NSG of its
          subnet, V(firewall) the Azure Firewall.
        - Null for an NSG attached to nothing.
      type: str
      returned: always
      sample: nic
    priority:
      description: The NSG rule's priority, or the priority of the firewall rule's NAT rule collection.
      type: int
      returned: always
      sample: 1000
    direction:
      description: C(Inbound) or C(Outbound); null for firewall rules.
      type: str
      returned: always
      sample: Inbound
    protocol:
      description:
        - The rule's protocol as written (C(Tcp), C(Udp), C(*)).
        - For firewall rules C(TCP), C(UDP), or C(*) for both.
      type: str
      returned: always
      sample: Tcp
    ports:
      description:
        - Destination ports as written (C(22), C(20-25), C(*)), from the singular or plural field.
        - For DNAT rules the port on the firewall (the mapped port).
      type: list
      elements: str
      returned: always
      sample: ["22"]
    sources:
      description: Source address prefixes, from the singular or plural field.
      type: list
      elements: str
      returned: always
      sample: ["*"]
    destinations:
      description: Destination address prefixes (for DNAT rules the firewall's public IP).
      type: list
      elements: str
      returned: always
      sample: [10.10.2.4]
    access:
      description: C(Allow) or C(Deny); C(Dnat) for firewall rules.
      type: str
      returned: always
      sample: Deny
    translated_address:
      description: Where a DNAT rule forwards to (must be the VM's private IP); null for NSG rules.
      type: str
      returned: always
      sample: 10.20.1.4
    translated_port:
      description: The port a DNAT rule forwards to (must be the requested port); null for NSG rules.
      type: str
      returned: always
      sample: "22"
    description:
      description: The rule's description, which names the policy and VM when JIT wrote it.
      type: str
      returned: always
      sample: MDC JIT Network Access rule for policy 'default' of VM 'vm-web-01'.
    vm:
      description: The VM the rule belongs to (by its description, else its destination); null when none is found.
      type: dict
      returned: always
      sample:
        name: vm-web-01
        id: /subscriptions/0000/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/vm-web-01
      contains: *ref_contains
    policy:
      description: The policy behind the rule; null when the VM is in no policy in scope.
      type: dict
      returned: always
      sample:
        name: default
        id: "/subscriptions/0000/resourceGroups/rg-app/providers/Microsoft.Security/locations/westeurope/\
          jitNetworkAccessPolicies/default"
      contains: *ref_contains
    request:
      description: The request an allow or DNAT rule belongs to; null for deny rules and when no request stands behind.
      type: dict
      returned: always
      sample:
        start_time_utc: "2026-11-22T17:37:11.0000000Z"
        end_time_utc: "2026-11-22T18:37:11.0000000Z"
        requestor: jane@contoso.com
        status: Initiated
        status_reason: UserRequested
      contains:
        start_time_utc:
          description: When the request was made.
          type: str
          returned: always
          sample: "2026-11-22T17:37:11.0000000Z"
        end_time_utc:
          description: When the request's access ends.
          type: str
          returned: always
          sample: "2026-11-22T18:37:11.0000000Z"
        requestor:
          description: Who made the request.
          type: str
          returned: always
          sample: jane@contoso.com
        status:
          description: The request's status for this port.
          type: str
          returned: always
          sample: Initiated
        status_reason:
          description: The reason of the status.
          type: str
          returned: always
          sample: UserRequested
    state:
      description: V(active), V(expired), V(orphaned), V(drifted) or V(shadowed) (see the module description).
      type: str
      returned: always
      sample: active
    reasons:
      description: What is wrong with the rule, in words; empty for V(active) rules.
      type: list
      elements: str
      returned: always
      sample: ["destination is 10.10.2.9, not the VM's private IP 10.10.2.4"]
    shadowed_by:
      description:
        - For a deny rule, the first Allow rule JIT did not write that comes before it on the same NSG (a lower
          priority number) and lets its port in for its VM; null when there is none. NSG rules are evaluated by
          priority and the first match wins, so the port is open whatever JIT says.
        - A deny rule that otherwise matches its policy is in state V(shadowed); a drifted one stays V(drifted) and
          gets this rule in its reasons too.
      type: dict
      returned: always
      sample:
        name: allow-ssh-internet
        priority: 300
        sources: [Internet]
        id: "/subscriptions/0000/resourceGroups/rg-app/providers/Microsoft.Network/networkSecurityGroups/nsg-web-01/\
          securityRules/allow-ssh-internet"
      contains:
        name:
          description: Name of the Allow rule.
          type: str
          returned: always
        priority:
          description: Its priority.
          type: int
          returned: always
        sources:
          description: Its sources.
          type: list
          elements: str
          returned: always
        id:
          description: Its resource id.
          type: str
          returned: always
missing:
  description:
    - JIT rules that should exist but do not. These are the deny rule of a policy port on each NSG of the VM,
      and the allow rule (and firewall DNAT rule) of each live request.
    - Only NSGs and firewalls that could be read are checked.
  returned: always
  type: list
  elements: dict
  sample:
    - kind: allow
      nsg:
        name: nsg-web-01
        id: /subscriptions/0000/resourceGroups/rg-app/providers/Microsoft.Network/networkSecurityGroups/nsg-web-01
      firewall: null
      scope: nic
      vm:
        name: vm-web-01
        id: /subscriptions/0000/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/vm-web-01
      policy:
        name: default
        id: "/subscriptions/0000/resourceGroups/rg-app/providers/Microsoft.Security/locations/westeurope/\
          jitNetworkAccessPolicies/default"
      port: 22
      request: {start_time_utc: "2026-11-22T17:37:11.0000000Z", requestor: jane@contoso.com}
      reason: no JIT allow rule for the live request of port 22 of VM vm-web-01
  contains:
    kind:
      description: V(deny), V(allow) or V(dnat).
      type: str
      returned: always
      sample: allow
    nsg:
      description: The NSG that lacks the rule; null for firewall rules.
      type: dict
      returned: always
      sample:
        name: nsg-web-01
        id: /subscriptions/0000/resourceGroups/rg-app/providers/Microsoft.Network/networkSecurityGroups/nsg-web-01
      contains: *ref_contains
    firewall:
      description: The Azure Firewall that lacks the DNAT rule; null for NSG rules.
      type: dict
      returned: always
      sample:
        name: fw-hub
        id: /subscriptions/0000/resourceGroups/rg-data/providers/Microsoft.Network/azureFirewalls/fw-hub
      contains: *ref_contains
    scope:
      description: V(nic), V(subnet) or V(firewall).
      type: str
      returned: always
      sample: nic
    vm:
      description: The VM.
      type: dict
      returned: always
      sample:
        name: vm-web-01
        id: /subscriptions/0000/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/vm-web-01
      contains: *ref_contains
    policy:
      description: The VM's policy.
      type: dict
      returned: always
      sample:
        name: default
        id: "/subscriptions/0000/resourceGroups/rg-app/providers/Microsoft.Security/locations/westeurope/\
          jitNetworkAccessPolicies/default"
      contains: *ref_contains
    port:
      description: The port.
      type: int
      returned: always
      sample: 22
    request:
      description: The live request of an allow or DNAT rule; null for deny rules.
      type: dict
      returned: always
      sample: {start_time_utc: "2026-11-22T17:37:11.0000000Z", requestor: jane@contoso.com}
      contains:
        start_time_utc:
          description: When the request was made.
          type: str
          returned: always
          sample: "2026-11-22T17:37:11.0000000Z"
        requestor:
          description: Who made the request.
          type: str
          returned: always
          sample: jane@contoso.com
    reason:
      description: What is missing, in words.
      type: str
      returned: always
      sample: no JIT deny rule for port 22 of VM vm-web-01
stale_entries:
  description:
    - Policy entries of VMs that no longer exist. Azure refuses every later change to such a policy with
      C(VirtualMachineNotFound), so each entry says how to clear it. The VM's rules are still listed in RV(rules),
      as V(orphaned), also when O(virtual_machines) names only that VM.
  returned: always
  type: list
  elements: dict
  sample:
    - policy:
        name: default
        id: "/subscriptions/0000/resourceGroups/rg-app/providers/Microsoft.Security/locations/westeurope/\
          jitNetworkAccessPolicies/default"
      vm:
        name: vm-old-01
        id: /subscriptions/0000/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/vm-old-01
      reason: VM vm-old-01 no longer exists but JIT policy 'default' (resource group rg-app) still lists it, ...
      fix: >-
        remove the entry with azsecops.jit.jit_policy (..., state: absent),
        or run jit_policy with remove_missing_vms: true
  contains:
    policy:
      description: The policy holding the entry (C(name), C(id)).
      type: dict
      returned: always
    vm:
      description: The VM that no longer exists (C(name), C(id)).
      type: dict
      returned: always
    reason:
      description: What is wrong, in words.
      type: str
      returned: always
    fix:
      description: How to clear the entry.
      type: str
      returned: always
unreadable:
  description:
    - Every scope the credential could not read, one row each. Rules there are unknown, so a run with rows here is
      never a clean bill of health (RV(summary.problems.unreadable) counts them).
  returned: always
  type: list
  elements: dict
  sample:
    - resource_type: network security groups
      scope: resource group rg-app
      reason: the principal lacks Microsoft.Network/networkSecurityGroups/read, which Reader grants
      effect: JIT rules that depend on the network security groups there are unknown
  contains:
    resource_type:
      description: What could not be read (for example C(network security groups), C(JIT policies)).
      type: str
      returned: always
    scope:
      description: Where (C(the subscription) or C(resource group <name>)).
      type: str
      returned: always
    reason:
      description: Why, naming the missing permission when Azure says which.
      type: str
      returned: always
    effect:
      description: What is unknown as a result.
      type: str
      returned: always
summary:
  description:
    - Counts. RV(summary.problems) counts what leaves a VM less protected than its policy says; a compliance check
      fails on C(summary.problems.total > 0).
  returned: always
  type: dict
  sample:
    policies: 1
    virtual_machines: 3
    rules: {total: 5, active: 3, expired: 0, orphaned: 1, drifted: 1, shadowed: 0, by_kind: {deny: 4, allow: 1}}
    requests: {total: 1, active: 1, by_status: {Initiated: 1}}
    missing: 0
    problems: {missing_deny: 0, missing_allow: 0, shadowed: 0, expired: 0, drifted: 1, orphaned: 1, unreadable: 0,
               stale_entries: 0, total: 2}
  contains:
    policies:
      description: Number of policies returned.
      type: int
      returned: always
      sample: 1
    virtual_machines:
      description: Number of VMs in the policies returned.
      type: int
      returned: always
      sample: 3
    rules:
      description:
        - Rules by state (C(total), C(active), C(expired), C(orphaned), C(drifted), C(shadowed)) and by kind
          (C(by_kind)).
      type: dict
      returned: always
      sample: {total: 5, active: 3, expired: 0, orphaned: 1, drifted: 1, shadowed: 0, by_kind: {deny: 4, allow: 1}}
    requests:
      description:
        - Request rows returned (C(total)), those granting access now (C(active)), and by status (C(by_status)).
      type: dict
      returned: always
      sample: {total: 1, active: 1, by_status: {Initiated: 1}}
    missing:
      description: Number of missing rules.
      type: int
      returned: always
      sample: 0
    problems:
      description: What is really missing, each counted once.
      type: dict
      returned: always
      contains:
        missing_deny:
          description: Deny rules a policy port needs and no NSG on the VM's path holds (deleted by hand, for example).
          type: int
          returned: always
        missing_allow:
          description: Allow or DNAT rules a live request needs and that are not there.
          type: int
          returned: always
        shadowed:
          description: Deny rules an earlier Allow rule of the same NSG makes useless (see RV(rules[].shadowed_by)).
          type: int
          returned: always
        expired:
          description: Allow or DNAT rules whose request ended but which are still there.
          type: int
          returned: always
        drifted:
          description: Rules in state V(drifted).
          type: int
          returned: always
        orphaned:
          description: Rules in state V(orphaned).
          type: int
          returned: always
        unreadable:
          description: Rows of RV(unreadable).
          type: int
          returned: always
        stale_entries:
          description: Rows of RV(stale_entries).
          type: int
          returned: always
        total:
          description: The sum of the counts above.
          type: int
          returned: always

ansible_facts:
  description: The same results as a fact.
  returned: always
  type: dict
  contains:
    azure_jit:
      description:
        - RV(policies), RV(requests), RV(rules), RV(missing), RV(stale_entries), RV(unreadable) and RV(summary) as
          above, plus C(warnings).
        - C(warnings) lists what could not be read (the same messages as the task's warnings), for example
          NSGs whose rules are unknown because the principal may not read them.
      type: dict
      returned: always
      sample:
        policies: []
        requests: []
        rules: []
        missing: []
        stale_entries: []
        unreadable: []
        summary:
          policies: 0
          virtual_machines: 0
          rules: {total: 0, active: 0, expired: 0, orphaned: 0, drifted: 0, shadowed: 0, by_kind: {}}
          requests: {total: 0, active: 0, by_status: {}}
          missing: 0
          problems: {missing_deny: 0, missing_allow: 0, shadowed: 0, expired: 0, drifted: 0, orphaned: 0,
                     unreadable: 0, stale_entries: 0, total: 0}
        warnings:
          - cannot read the network security groups of resource group rg-app, so JIT rules on nsg-web-01 are unknown
"""

from ansible_collections.azsecops.jit.plugins.module_utils._facts_manager import _FactsManager
from ansible_collections.azsecops.jit.plugins.module_utils._module import _AzureJitModule
from ansible_collections.azsecops.jit.plugins.module_utils._vm_selection import _vm_filter_spec


def main() -> None:
    argument_spec = {
        "resource_group": {"type": "str"},
        **_vm_filter_spec(),
        "include_expired": {"type": "bool", "default": False},
    }
    module = _AzureJitModule(argument_spec, supports_check_mode=True)
    module.run(_FactsManager(module))


if __name__ == "__main__":
    main()
