"""Microsoft.Network through azure-mgmt-network: every begin_create_or_update poller must complete at once."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.network.models import (
    AddressSpace,
    AzureFirewall,
    AzureFirewallIPConfiguration,
    AzureFirewallNatRCAction,
    AzureFirewallNatRule,
    AzureFirewallNatRuleCollection,
    NetworkInterface,
    NetworkInterfaceIPConfiguration,
    NetworkSecurityGroup,
    PublicIPAddress,
    PublicIPAddressSku,
    SecurityRule,
    Subnet,
    SubResource,
    VirtualNetwork,
)
from conftest import COMPUTE_API, Env

LOCATION = "westeurope"
RG = "rg-net"


@pytest.fixture
def net(env: Env) -> NetworkManagementClient:
    """A network client on a fresh resource group `rg-net`."""
    response = env.arm("PUT", env.rg_id(RG), "2021-04-01", {"location": LOCATION})
    assert response.status_code == 201
    return env.network()


def nid(env: Env, kind: str, name: str) -> str:
    return f"{env.rg_id(RG)}/providers/Microsoft.Network/{kind}/{name}"


def rule(name: str, priority: int, port: str = "22", access: str = "Allow", direction: str = "Inbound") -> SecurityRule:
    return SecurityRule(
        name=name,
        protocol="Tcp",
        source_port_range="*",
        destination_port_range=port,
        source_address_prefix="*",
        destination_address_prefix="*",
        access=access,
        priority=priority,
        direction=direction,
    )


def make_vnet(net: NetworkManagementClient, env: Env, nsg: str | None = None) -> VirtualNetwork:
    subnet = Subnet(name="snet-a", address_prefix="10.1.1.0/24")
    if nsg:
        subnet.network_security_group = NetworkSecurityGroup(id=nid(env, "networkSecurityGroups", nsg))
    poller = net.virtual_networks.begin_create_or_update(
        RG,
        "vnet-a",
        VirtualNetwork(
            location=LOCATION,
            address_space=AddressSpace(address_prefixes=["10.1.0.0/16"]),
            subnets=[subnet, Subnet(name="AzureFirewallSubnet", address_prefix="10.1.255.0/26")],
        ),
    )
    return poller.result()  # 201 Updating with Azure-AsyncOperation: the poller polls (test_network_async.py)


def make_nic(net: NetworkManagementClient, env: Env, name: str, **config: Any) -> NetworkInterface:
    ip = NetworkInterfaceIPConfiguration(
        name="ipconfig1", subnet=Subnet(id=nid(env, "virtualNetworks", "vnet-a") + "/subnets/snet-a"), **config
    )
    return net.network_interfaces.begin_create_or_update(
        RG, name, NetworkInterface(location=LOCATION, ip_configurations=[ip])
    ).result()


# -- virtual networks and subnets -------------------------------------------------------------------------


def test_virtual_network_create_get_list(env: Env, net: NetworkManagementClient) -> None:
    vnet = make_vnet(net, env)
    assert vnet.provisioning_state == "Succeeded"
    assert vnet.id == nid(env, "virtualNetworks", "vnet-a")
    assert [s.name for s in vnet.subnets] == ["snet-a", "AzureFirewallSubnet"]
    assert vnet.subnets[0].id == vnet.id + "/subnets/snet-a"
    assert vnet.subnets[0].type == "Microsoft.Network/virtualNetworks/subnets"
    assert vnet.resource_guid and vnet.etag.startswith('W/"')
    again = net.virtual_networks.begin_create_or_update(RG, "vnet-a", vnet)
    assert again.result().resource_guid == vnet.resource_guid  # an update keeps the resource GUID
    assert net.virtual_networks.get(RG, "vnet-a").address_space.address_prefixes == ["10.1.0.0/16"]
    assert [v.name for v in net.virtual_networks.list(RG)] == ["vnet-a"]
    assert {v.name for v in net.virtual_networks.list_all()} == {
        "vnet-app",
        "vnet-hub",
        "vnet-data",
        "vnet-edge",
        "vnet-north",
        "vnet-a",
    }


def test_subnet_child_routes(env: Env, net: NetworkManagementClient) -> None:
    make_vnet(net, env)
    created = net.subnets.begin_create_or_update(RG, "vnet-a", "snet-b", Subnet(address_prefix="10.1.2.0/24")).result()
    assert created.id == nid(env, "virtualNetworks", "vnet-a") + "/subnets/snet-b"
    assert created.provisioning_state == "Succeeded"
    assert net.subnets.get(RG, "vnet-a", "snet-b").address_prefix == "10.1.2.0/24"
    assert [s.name for s in net.subnets.list(RG, "vnet-a")] == ["snet-a", "AzureFirewallSubnet", "snet-b"]
    net.subnets.begin_delete(RG, "vnet-a", "snet-b").result()
    with pytest.raises(ResourceNotFoundError):
        net.subnets.get(RG, "vnet-a", "snet-b")


def test_vnet_put_without_subnets_keeps_them(env: Env, net: NetworkManagementClient) -> None:
    make_vnet(net, env)
    net.virtual_networks.begin_create_or_update(
        RG, "vnet-a", VirtualNetwork(location=LOCATION, address_space=AddressSpace(address_prefixes=["10.1.0.0/16"]))
    ).result()
    assert [s.name for s in net.virtual_networks.get(RG, "vnet-a").subnets] == ["snet-a", "AzureFirewallSubnet"]


def test_subnet_in_use_cannot_be_deleted(env: Env, net: NetworkManagementClient) -> None:
    make_vnet(net, env)
    nic = make_nic(net, env, "nic-a")
    subnet = net.subnets.get(RG, "vnet-a", "snet-a")
    assert [c.id for c in subnet.ip_configurations] == [nic.ip_configurations[0].id]
    with pytest.raises(HttpResponseError) as caught:
        net.subnets.begin_delete(RG, "vnet-a", "snet-a").result()
    assert caught.value.error.code == "InUseSubnetCannotBeDeleted"


def test_bad_address_prefix(env: Env, net: NetworkManagementClient) -> None:
    with pytest.raises(HttpResponseError) as caught:
        net.virtual_networks.begin_create_or_update(
            RG,
            "vnet-bad",
            VirtualNetwork(
                location=LOCATION,
                address_space=AddressSpace(address_prefixes=["10.9.0.0/16"]),
                subnets=[Subnet(name="s", address_prefix="10.9.300.0/24")],
            ),
        )
    assert caught.value.status_code == 400
    assert caught.value.error.code == "InvalidAddressPrefixFormat"


# -- network security groups and rules -----------------------------------------------------------------------


def test_nsg_has_the_six_default_rules(env: Env, net: NetworkManagementClient) -> None:
    nsg = net.network_security_groups.begin_create_or_update(
        RG, "nsg-a", NetworkSecurityGroup(location=LOCATION, security_rules=[rule("allow-ssh", 100)])
    ).result()
    assert nsg.provisioning_state == "Succeeded"
    defaults = {(r.name, r.priority, r.direction, r.access) for r in nsg.default_security_rules}
    assert defaults == {
        ("AllowVnetInBound", 65000, "Inbound", "Allow"),
        ("AllowAzureLoadBalancerInBound", 65001, "Inbound", "Allow"),
        ("DenyAllInBound", 65500, "Inbound", "Deny"),
        ("AllowVnetOutBound", 65000, "Outbound", "Allow"),
        ("AllowInternetOutBound", 65001, "Outbound", "Allow"),
        ("DenyAllOutBound", 65500, "Outbound", "Deny"),
    }
    first = nsg.default_security_rules[0]
    assert first.id == f"{nsg.id}/defaultSecurityRules/{first.name}"
    assert first.type == "Microsoft.Network/networkSecurityGroups/defaultSecurityRules"
    listed = list(net.default_security_rules.list(RG, "nsg-a"))
    assert len(listed) == 6
    assert net.default_security_rules.get(RG, "nsg-a", "DenyAllInBound").priority == 65500
    ssh = nsg.security_rules[0]
    assert (ssh.name, ssh.protocol, ssh.destination_port_range, ssh.source_port_ranges) == (
        "allow-ssh",
        "Tcp",
        "22",
        [],
    )
    assert ssh.id == f"{nsg.id}/securityRules/allow-ssh"


def test_security_rule_child_routes(env: Env, net: NetworkManagementClient) -> None:
    net.network_security_groups.begin_create_or_update(RG, "nsg-a", NetworkSecurityGroup(location=LOCATION)).result()
    poller = net.security_rules.begin_create_or_update(RG, "nsg-a", "allow-rdp", rule("allow-rdp", 200, "3389"))
    created = poller.result()
    assert created.provisioning_state == "Succeeded" and created.priority == 200
    updated = net.security_rules.begin_create_or_update(RG, "nsg-a", "allow-rdp", rule("allow-rdp", 210, "3389"))
    assert updated.result().priority == 210
    assert net.security_rules.get(RG, "nsg-a", "allow-rdp").destination_port_range == "3389"
    assert [r.name for r in net.security_rules.list(RG, "nsg-a")] == ["allow-rdp"]
    net.security_rules.begin_delete(RG, "nsg-a", "allow-rdp").result()
    assert list(net.security_rules.list(RG, "nsg-a")) == []
    with pytest.raises(ResourceNotFoundError) as caught:
        net.security_rules.get(RG, "nsg-a", "allow-rdp")
    assert caught.value.error.code == "ResourceNotFound"


def test_priority_conflict_names_both_rules(env: Env, net: NetworkManagementClient) -> None:
    net.network_security_groups.begin_create_or_update(
        RG, "nsg-a", NetworkSecurityGroup(location=LOCATION, security_rules=[rule("first", 300)])
    ).result()
    with pytest.raises(HttpResponseError) as caught:
        net.security_rules.begin_create_or_update(RG, "nsg-a", "second", rule("second", 300, "80"))
    assert caught.value.status_code == 400
    assert caught.value.error.code == "SecurityRuleConflict"
    assert caught.value.error.message == (
        "Security rule first conflicts with rule second. Rules cannot have the same Priority and Direction."
        " To learn more, see aka.ms/nsgrules."
    )
    # The same priority in the other direction is fine.
    net.security_rules.begin_create_or_update(RG, "nsg-a", "out", rule("out", 300, direction="Outbound")).result()


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"priority": 99}, "SecurityRuleInvalidPriority"),
        ({"priority": 4097}, "SecurityRuleInvalidPriority"),
        ({"protocol": "Gre"}, "SecurityRuleInvalidProtocol"),
        ({"access": "Maybe"}, "SecurityRuleInvalidAccess"),
        ({"direction": "Sideways"}, "SecurityRuleInvalidDirection"),
    ],
)
def test_invalid_security_rules(env: Env, net: NetworkManagementClient, change: dict[str, Any], code: str) -> None:
    net.network_security_groups.begin_create_or_update(RG, "nsg-a", NetworkSecurityGroup(location=LOCATION)).result()
    bad = rule("bad", 100)
    for key, value in change.items():
        setattr(bad, key, value)
    with pytest.raises(HttpResponseError) as caught:
        net.security_rules.begin_create_or_update(RG, "nsg-a", "bad", bad)
    assert (caught.value.status_code, caught.value.error.code) == (400, code)


def test_nsg_in_use_cannot_be_deleted_and_shows_its_users(env: Env, net: NetworkManagementClient) -> None:
    net.network_security_groups.begin_create_or_update(RG, "nsg-a", NetworkSecurityGroup(location=LOCATION)).result()
    make_vnet(net, env, nsg="nsg-a")
    nsg = net.network_security_groups.get(RG, "nsg-a")
    assert [s.id for s in nsg.subnets] == [nid(env, "virtualNetworks", "vnet-a") + "/subnets/snet-a"]
    with pytest.raises(HttpResponseError) as caught:
        net.network_security_groups.begin_delete(RG, "nsg-a").result()
    assert caught.value.status_code == 400
    assert caught.value.error.code == "InUseNetworkSecurityGroupCannotBeDeleted"
    assert caught.value.error.message.startswith(f"Network security group {nsg.id} cannot be deleted because it is in")
    # Detach it, and the delete goes through.
    make_vnet(net, env)
    net.network_security_groups.begin_delete(RG, "nsg-a").result()
    assert [n.name for n in net.network_security_groups.list(RG)] == []


def test_nic_nsg_back_reference(env: Env, net: NetworkManagementClient) -> None:
    net.network_security_groups.begin_create_or_update(RG, "nsg-a", NetworkSecurityGroup(location=LOCATION)).result()
    make_vnet(net, env)
    ip = NetworkInterfaceIPConfiguration(
        name="ipconfig1", subnet=Subnet(id=nid(env, "virtualNetworks", "vnet-a") + "/subnets/snet-a")
    )
    nic = net.network_interfaces.begin_create_or_update(
        RG,
        "nic-a",
        NetworkInterface(
            location=LOCATION,
            ip_configurations=[ip],
            network_security_group=NetworkSecurityGroup(id=nid(env, "networkSecurityGroups", "nsg-a")),
        ),
    ).result()
    nsg = net.network_security_groups.get(RG, "nsg-a")
    assert [n.id for n in nsg.network_interfaces] == [nic.id]


def test_missing_resource_is_resource_not_found(env: Env, net: NetworkManagementClient) -> None:
    with pytest.raises(ResourceNotFoundError) as caught:
        net.network_security_groups.get(RG, "nope")
    assert caught.value.error.code == "ResourceNotFound"
    assert caught.value.error.message == (
        f"The Resource 'Microsoft.Network/networkSecurityGroups/nope' under resource group '{RG}' was not found."
        " For more details please go to https://aka.ms/ARMResourceNotFoundFix"
    )
    with pytest.raises(ResourceNotFoundError) as rg_missing:
        net.network_security_groups.get("rg-missing", "nope")
    assert rg_missing.value.error.code == "ResourceGroupNotFound"
    net.network_security_groups.begin_delete(RG, "nope").result()  # 204: nothing to delete is not an error


def test_location_and_name_are_checked(env: Env, net: NetworkManagementClient) -> None:
    with pytest.raises(HttpResponseError) as no_location:
        net.network_security_groups.begin_create_or_update(RG, "nsg-a", NetworkSecurityGroup())
    assert no_location.value.error.code == "LocationRequired"
    with pytest.raises(HttpResponseError) as bad_name:
        net.network_security_groups.begin_create_or_update(RG, "-bad-", NetworkSecurityGroup(location=LOCATION))
    assert bad_name.value.error.code == "InvalidResourceName"
    assert bad_name.value.error.message.startswith("Resource name -bad- is invalid.")


def test_lists_page_through_next_link(env: Env, net: NetworkManagementClient) -> None:
    for index in range(5):
        net.network_security_groups.begin_create_or_update(
            RG, f"nsg-{index}", NetworkSecurityGroup(location=LOCATION)
        ).result()
    env.settings(page_size=2)
    env.control("DELETE", "requests")
    assert [n.name for n in net.network_security_groups.list(RG)] == [f"nsg-{i}" for i in range(5)]
    pages = [e for e in env.request_log() if e["path"].endswith("/networkSecurityGroups")]
    assert [e["query"].count("skipToken") for e in pages] == [0, 1, 1]
    first = env.arm("GET", f"{env.rg_id(RG)}/providers/Microsoft.Network/networkSecurityGroups", "2024-05-01").json()
    assert len(first["value"]) == 2
    assert first["nextLink"].startswith(f"{env.url}{env.rg_id(RG)}/providers/Microsoft.Network/networkSecurityGroups?")
    assert "%24skipToken=2" in first["nextLink"] and "api-version=2024-05-01" in first["nextLink"]


# -- network interfaces and public IPs --------------------------------------------------------------------------


def test_nic_private_ip_allocation(env: Env, net: NetworkManagementClient) -> None:
    make_vnet(net, env)
    first = make_nic(net, env, "nic-a")
    second = make_nic(net, env, "nic-b")
    static = make_nic(net, env, "nic-c", private_ip_address="10.1.1.50", private_ip_allocation_method="Static")
    config = first.ip_configurations[0]
    # Azure keeps .0-.3 of every subnet: the first address handed out is .4.
    assert (config.private_ip_address, config.private_ip_allocation_method) == ("10.1.1.4", "Dynamic")
    assert second.ip_configurations[0].private_ip_address == "10.1.1.5"
    assert static.ip_configurations[0].private_ip_address == "10.1.1.50"
    assert static.ip_configurations[0].private_ip_allocation_method == "Static"
    assert config.id == f"{first.id}/ipConfigurations/ipconfig1" and config.primary is True
    again = net.network_interfaces.begin_create_or_update(RG, "nic-a", first).result()
    assert again.ip_configurations[0].private_ip_address == "10.1.1.4"  # a dynamic address is kept on update


def test_nic_needs_an_existing_subnet(env: Env, net: NetworkManagementClient) -> None:
    with pytest.raises(HttpResponseError) as caught:
        net.network_interfaces.begin_create_or_update(
            RG,
            "nic-x",
            NetworkInterface(
                location=LOCATION,
                ip_configurations=[
                    NetworkInterfaceIPConfiguration(
                        name="c", subnet=Subnet(id=nid(env, "virtualNetworks", "no/subnets/x"))
                    )
                ],
            ),
        )
    assert caught.value.error.code == "InvalidResourceReference"


def test_public_ip_allocation_and_back_references(env: Env, net: NetworkManagementClient) -> None:
    make_vnet(net, env)
    pip = net.public_ip_addresses.begin_create_or_update(
        RG, "pip-a", PublicIPAddress(location=LOCATION, sku=PublicIPAddressSku(name="Standard"))
    ).result()
    assert pip.ip_address.startswith("198.51.100.")  # the RFC 5737 documentation range
    assert pip.public_ip_allocation_method == "Static" and pip.provisioning_state == "Succeeded"
    nic = make_nic(net, env, "nic-a", public_ip_address=PublicIPAddress(id=pip.id))
    assert net.public_ip_addresses.get(RG, "pip-a").ip_configuration.id == nic.ip_configurations[0].id
    with pytest.raises(HttpResponseError) as caught:
        net.public_ip_addresses.begin_delete(RG, "pip-a").result()
    assert caught.value.error.code == "PublicIPAddressCannotBeDeleted"
    other = net.public_ip_addresses.begin_create_or_update(RG, "pip-b", PublicIPAddress(location=LOCATION)).result()
    assert other.ip_address != pip.ip_address
    assert {p.name for p in net.public_ip_addresses.list(RG)} == {"pip-a", "pip-b"}


def test_nic_back_reference_to_its_vm_and_in_use_delete(env: Env, net: NetworkManagementClient) -> None:
    make_vnet(net, env)
    nic = make_nic(net, env, "nic-a")
    vm = f"{env.rg_id(RG)}/providers/Microsoft.Compute/virtualMachines/vm-a"
    body = {
        "location": LOCATION,
        "properties": {
            "storageProfile": {"osDisk": {"osType": "Linux"}},
            "networkProfile": {"networkInterfaces": [{"id": nic.id}]},
        },
    }
    assert env.arm("PUT", vm, COMPUTE_API, body).status_code == 201
    assert net.network_interfaces.get(RG, "nic-a").virtual_machine.id == vm
    with pytest.raises(HttpResponseError) as caught:
        net.network_interfaces.begin_delete(RG, "nic-a").result()
    assert caught.value.error.code == "NicInUse"
    assert env.arm("DELETE", vm, COMPUTE_API).status_code == 200
    assert net.network_interfaces.get(RG, "nic-a").virtual_machine is None
    net.network_interfaces.begin_delete(RG, "nic-a").result()


# -- Azure Firewall ------------------------------------------------------------------------------------------------


def test_azure_firewall_with_classic_rules(env: Env, net: NetworkManagementClient) -> None:
    make_vnet(net, env)
    pip = net.public_ip_addresses.begin_create_or_update(RG, "pip-fw", PublicIPAddress(location=LOCATION)).result()
    nat = AzureFirewallNatRuleCollection(
        name="existing",
        priority=200,
        action=AzureFirewallNatRCAction(type="Dnat"),
        rules=[
            AzureFirewallNatRule(
                name="web",
                source_addresses=["*"],
                destination_addresses=[pip.ip_address],
                destination_ports=["443"],
                protocols=["TCP"],
                translated_address="10.1.1.10",
                translated_port="443",
            )
        ],
    )
    poller = net.azure_firewalls.begin_create_or_update(
        RG,
        "fw-a",
        AzureFirewall(
            location=LOCATION,
            ip_configurations=[
                AzureFirewallIPConfiguration(
                    name="fw-ip",
                    subnet=SubResource(id=nid(env, "virtualNetworks", "vnet-a") + "/subnets/AzureFirewallSubnet"),
                    public_ip_address=SubResource(id=pip.id),
                )
            ],
            nat_rule_collections=[nat],
        ),
    )
    firewall = poller.result()
    assert firewall.provisioning_state == "Succeeded"
    config = firewall.ip_configurations[0]
    assert config.private_ip_address == "10.1.255.4"
    assert config.public_ip_address.id == pip.id
    assert firewall.nat_rule_collections[0].rules[0].translated_port == "443"
    assert net.azure_firewalls.get(RG, "fw-a").sku.tier == "Standard"
    assert [f.name for f in net.azure_firewalls.list(RG)] == ["fw-a"]
    assert {f.name for f in net.azure_firewalls.list_all()} == {"fw-hub", "fw-edge", "fw-a"}


def test_azure_firewall_needs_the_azure_firewall_subnet(env: Env, net: NetworkManagementClient) -> None:
    make_vnet(net, env)
    with pytest.raises(HttpResponseError) as caught:
        net.azure_firewalls.begin_create_or_update(
            RG,
            "fw-b",
            AzureFirewall(
                location=LOCATION,
                ip_configurations=[
                    AzureFirewallIPConfiguration(
                        name="c", subnet=SubResource(id=nid(env, "virtualNetworks", "vnet-a") + "/subnets/snet-a")
                    )
                ],
            ),
        )
    assert caught.value.error.code == "AzureFirewallSubnetInvalidName"
