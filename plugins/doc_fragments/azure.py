# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Authentication and connection options shared by every module (azure.azcollection's names).
    DOCUMENTATION = r"""
options:
  auth_source:
    description:
      - Where the credentials come from.
      - V(auto) tries, in order, the module parameters (O(profile), or O(client_id)/O(ad_user)), the
        environment (C(AZURE_PROFILE), or C(AZURE_CLIENT_ID)/C(AZURE_AD_USER) with C(AZURE_SUBSCRIPTION_ID)),
        the C([default]) profile of C(~/.azure/credentials), then the Azure CLI login.
      - V(env) uses only the C(AZURE_*) environment variables, as the AWX/AAP
        C(Microsoft Azure Resource Manager) credential injects them.
      - V(credential_file) uses C(~/.azure/credentials) (O(profile), C(AZURE_PROFILE) or C([default])).
      - V(cli) uses the Azure CLI login (C(az login)); V(msi) uses a managed identity.
      - When not set, the environment variable C(ANSIBLE_AZURE_AUTH_SOURCE) is used, then V(auto).
    type: str
    choices: [auto, cli, env, credential_file, msi]
  profile:
    description:
      - Profile (INI section) of C(~/.azure/credentials) to use. Environment variable C(AZURE_PROFILE).
    type: str
  subscription_id:
    description:
      - The Azure subscription. Environment variable C(AZURE_SUBSCRIPTION_ID).
      - This parameter overrides the subscription of whichever credential source is used.
    type: str
  client_id:
    description:
      - Application (client) id of a service principal, or of a user-assigned managed identity with
        O(auth_source=msi). Environment variable C(AZURE_CLIENT_ID).
    type: str
  secret:
    description:
      - Client secret of the service principal. Environment variable C(AZURE_SECRET).
    type: str
  tenant:
    description:
      - Microsoft Entra tenant id. Environment variable C(AZURE_TENANT).
    type: str
  ad_user:
    description:
      - User name for username/password authentication (no MFA). Environment variable C(AZURE_AD_USER).
    type: str
  password:
    description:
      - Password of O(ad_user). Environment variable C(AZURE_PASSWORD).
    type: str
  cloud_environment:
    description:
      - The Azure cloud, by name (V(AzureCloud), V(AzureUSGovernment), V(AzureChinaCloud)) or as the
        Azure Resource Manager URL of another cloud (Azure Stack Hub, a sovereign cloud, or C(jit-emulator)),
        whose endpoints are read from C(<url>/metadata/endpoints).
      - Environment variable C(AZURE_CLOUD_ENVIRONMENT). A value given here wins over the credential
        source's; the default is V(AzureCloud).
    type: str
  cert_validation_mode:
    description:
      - V(validate) verifies TLS certificates (against O(ca_bundle) when set).
      - V(ignore) turns verification off for every connection and the module warns; never use it in
        production. Environment variable C(AZURE_CERT_VALIDATION_MODE).
    type: str
    choices: [validate, ignore]
  ca_bundle:
    description:
      - PEM file of the certificate authorities to trust, for Azure Stack Hub, a TLS-inspecting proxy or
        C(jit-emulator). When not set, C(REQUESTS_CA_BUNDLE) then C(SSL_CERT_FILE) are used, else the
        default trust store.
    type: path
  adfs_authority_url:
    description:
      - Login authority to use instead of the cloud's, for ADFS (Azure Stack Hub).
        Environment variable C(AZURE_ADFS_AUTHORITY_URL).
    type: str
  x509_certificate_path:
    description:
      - PEM certificate (with its private key) of the service principal, instead of O(secret).
        Environment variable C(AZURE_X509_CERTIFICATE_PATH).
    type: path
  thumbprint:
    description:
      - Thumbprint of O(x509_certificate_path). Environment variable C(AZURE_THUMBPRINT).
    type: str
  disable_instance_discovery:
    description:
      - Skip Microsoft Entra instance discovery (and authority validation), as needed for private or
        disconnected clouds. Environment variable C(AZURE_DISABLE_INSTANCE_DISCOVERY) (V(true)/V(false)).
      - When not set, it is V(true) for a O(cloud_environment) given as a Resource Manager URL (the login
        endpoint comes from that cloud's metadata) and V(false) for the named clouds.
    type: bool
  api_retries:
    description:
      - How many times a request is retried after a throttling (429), a server error (5xx) or a dropped
        connection. The retries honour the C(Retry-After) header and back off exponentially.
    type: int
    default: 6
  api_retry_timeout:
    description:
      - The most seconds spent retrying one request before giving up.
    type: int
    default: 300
notes:
  - Credentials can come from the task, the environment, C(~/.azure/credentials), the Azure CLI or a
    managed identity, with the option names and environment variables of C(azure.azcollection), so the
    AWX/AAP C(Microsoft Azure Resource Manager) credential works unchanged.
  - Use O(cloud_environment) with the ARM URL and O(ca_bundle) to point the module at another cloud,
    such as the C(jit-emulator) shipped with this collection for offline tests.
requirements:
  - python >= 3.10
  - azure-identity >= 1.15.0
  - azure-mgmt-security >= 6.0.0
  - azure-mgmt-network >= 25.0.0
seealso:
  - name: Just-in-time VM access in Microsoft Defender for Cloud
    description: How JIT works and how to enable it.
    link: https://learn.microsoft.com/azure/defender-for-cloud/just-in-time-access-usage
"""
