"""Cloud metadata, the Entra ID endpoints (openid configuration, keys, token, instance discovery) and ARM's 401s."""

from __future__ import annotations

import base64
import json
import time
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jwt
import pytest
import requests
import trustme
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import CertificateCredential, ClientSecretCredential, ManagedIdentityCredential
from azure.mgmt.network import NetworkManagementClient
from conftest import AZURE_CLI_CLIENT_ID, DEMO_READER, Env, error_of

# -- cloud metadata -----------------------------------------------------------------------------------


def metadata(emu: Env, version: str | None) -> requests.Response:
    query = f"?api-version={version}" if version else ""
    return requests.get(f"{emu.url}/metadata/endpoints{query}", verify=emu.ca, timeout=10)


def test_metadata_2022_09_01_is_one_object_naming_the_emulator(emu: Env) -> None:
    response = metadata(emu, "2022-09-01")
    assert response.status_code == 200
    body = response.json()
    assert isinstance(body, dict)
    assert body["resourceManager"] == emu.url + "/"
    auth = body["authentication"]
    # 2022-09-01 writes the login endpoint without a trailing slash (azure-wire-shapes.md §e).
    assert auth["loginEndpoint"] == emu.url
    assert auth["audiences"] == [emu.url + "/"]
    assert auth["tenant"] == "common" and auth["identityProvider"] == "AAD"
    assert "gallery" not in body
    assert {"portal", "media", "graph", "graphAudience", "name", "suffixes", "batch", "sqlManagement"} <= set(body)
    assert body["suffixes"]["keyVaultDns"] == "vault.azure.net"


def test_metadata_2019_05_01_is_a_list_with_a_slashed_login_endpoint(emu: Env) -> None:
    response = metadata(emu, "2019-05-01")
    assert response.status_code == 200
    body = response.json()
    assert isinstance(body, list) and len(body) == 1
    entry = body[0]
    assert entry["resourceManager"] == emu.url + "/"
    assert entry["authentication"]["loginEndpoint"] == emu.url + "/"
    assert entry["gallery"] == emu.url + "/"
    assert set(entry["suffixes"]) == {
        "azureDataLakeStoreFileSystem",
        "acrLoginServer",
        "sqlServerHostname",
        "azureDataLakeAnalyticsCatalogAndJob",
        "keyVaultDns",
        "storage",
        "azureFrontDoorEndpointSuffix",
    }
    assert "microsoftGraphResourceId" not in entry


@pytest.mark.parametrize("version", ["2015-01-01", "1.0"])
def test_metadata_2015_01_01_is_the_msrestazure_shape(emu: Env, version: str) -> None:
    response = metadata(emu, version)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"galleryEndpoint", "graphEndpoint", "portalEndpoint", "authentication"}
    assert body["authentication"] == {"loginEndpoint": emu.url + "/", "audiences": [emu.url + "/"]}


@pytest.mark.parametrize("version", ["2099-01-01", None])
def test_metadata_rejects_unknown_api_versions(emu: Env, version: str | None) -> None:
    response = metadata(emu, version)
    assert response.status_code == 400
    assert error_of(response)["code"] == "InvalidApiVersionParameter"


# -- openid configuration and keys --------------------------------------------------------------------


def test_openid_configuration_v2(emu: Env) -> None:
    response = requests.get(f"{emu.url}/{emu.tenant}/v2.0/.well-known/openid-configuration", verify=emu.ca, timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert body["token_endpoint"] == f"{emu.url}/{emu.tenant}/oauth2/v2.0/token"
    assert body["authorization_endpoint"] == f"{emu.url}/{emu.tenant}/oauth2/v2.0/authorize"
    assert body["issuer"] == f"{emu.url}/{emu.tenant}/v2.0"
    assert body["jwks_uri"] == f"{emu.url}/{emu.tenant}/discovery/v2.0/keys"
    assert "client_secret_post" in body["token_endpoint_auth_methods_supported"]


def test_openid_configuration_v1_and_common_tenant(emu: Env) -> None:
    v1 = requests.get(f"{emu.url}/{emu.tenant}/.well-known/openid-configuration", verify=emu.ca, timeout=10).json()
    assert v1["token_endpoint"] == f"{emu.url}/{emu.tenant}/oauth2/token"
    assert v1["issuer"] == f"https://sts.windows.net/{emu.tenant}/"
    common = requests.get(f"{emu.url}/common/v2.0/.well-known/openid-configuration", verify=emu.ca, timeout=10).json()
    assert common["token_endpoint"] == f"{emu.url}/common/oauth2/v2.0/token"
    assert common["issuer"] == f"{emu.url}/{emu.tenant}/v2.0"


def test_signing_keys_verify_issued_tokens(emu: Env) -> None:
    keys = requests.get(f"{emu.url}/{emu.tenant}/discovery/v2.0/keys", verify=emu.ca, timeout=10).json()["keys"]
    assert len(keys) == 1 and keys[0]["kty"] == "RSA"
    token = emu.credential().get_token(emu.url + "/.default").token
    header = jwt.get_unverified_header(token)
    assert header["kid"] == keys[0]["kid"] and header["alg"] == "RS256"
    public_key = jwt.PyJWK(keys[0]).key
    claims = jwt.decode(token, public_key, algorithms=["RS256"], audience=emu.url + "/")
    assert claims["oid"] == emu.info["object_id"]
    assert claims["tid"] == emu.tenant
    assert claims["appid"] == emu.info["client_id"]
    assert claims["iss"] == f"https://sts.windows.net/{emu.tenant}/"


# -- token endpoint -----------------------------------------------------------------------------------


def token_request(emu: Env, path: str, **form: str) -> requests.Response:
    return requests.post(f"{emu.url}/{path}", data=form, verify=emu.ca, timeout=10)


def test_token_v2_client_credentials(emu: Env) -> None:
    response = token_request(
        emu,
        f"{emu.tenant}/oauth2/v2.0/token",
        grant_type="client_credentials",
        client_id=emu.info["client_id"],
        client_secret=emu.info["secret"],
        scope=emu.url + "/.default",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert int(body["expires_in"]) > 300  # MSAL treats <= 300 s as expired (azure-wire-shapes.md §d.2)
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["aud"] == emu.url + "/"


def test_token_v1_takes_resource(emu: Env) -> None:
    response = token_request(
        emu,
        f"{emu.tenant}/oauth2/token",
        grant_type="client_credentials",
        client_id=emu.info["client_id"],
        client_secret=emu.info["secret"],
        resource="https://management.core.windows.net/",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["resource"] == "https://management.core.windows.net/"
    assert int(body["expires_on"]) > int(body["not_before"])
    # ARM accepts the public audiences too, so tools that ask for them work through a hosts-file entry.
    arm = requests.get(
        f"{emu.url}/subscriptions/{emu.sub}?api-version=2022-12-01",
        headers={"Authorization": f"Bearer {body['access_token']}"},
        verify=emu.ca,
        timeout=10,
    )
    assert arm.status_code == 200


def test_token_bad_secret_is_invalid_client_401(emu: Env) -> None:
    response = token_request(
        emu,
        f"{emu.tenant}/oauth2/v2.0/token",
        grant_type="client_credentials",
        client_id=emu.info["client_id"],
        client_secret="wrong",
        scope=emu.url + "/.default",
    )
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "invalid_client"
    assert body["error_codes"] == [7000215]
    assert body["error_description"].startswith("AADSTS7000215: Invalid client secret provided.")


def test_token_unknown_client_is_unauthorized_client(emu: Env) -> None:
    response = token_request(
        emu,
        f"{emu.tenant}/oauth2/v2.0/token",
        grant_type="client_credentials",
        client_id="11111111-2222-3333-4444-555555555555",
        client_secret="x",
        scope=emu.url + "/.default",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "unauthorized_client"
    assert "AADSTS700016" in body["error_description"]
    assert "11111111-2222-3333-4444-555555555555" in body["error_description"]


def test_token_wrong_tenant_is_invalid_request(emu: Env) -> None:
    response = token_request(
        emu,
        "99999999-0000-0000-0000-000000000000/oauth2/v2.0/token",
        grant_type="client_credentials",
        client_id=emu.info["client_id"],
        client_secret=emu.info["secret"],
        scope=emu.url + "/.default",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_request"
    assert body["error_description"].startswith("AADSTS90002: Tenant '99999999-0000-0000-0000-000000000000' not found")


def test_token_without_scope_or_with_other_grant(emu: Env) -> None:
    path = f"{emu.tenant}/oauth2/v2.0/token"
    creds = {"client_id": emu.info["client_id"], "client_secret": emu.info["secret"]}
    no_scope = token_request(emu, path, grant_type="client_credentials", **creds)
    assert (no_scope.status_code, no_scope.json()["error"]) == (400, "invalid_scope")
    password = token_request(emu, path, grant_type="password", scope=emu.url + "/.default", **creds)
    assert (password.status_code, password.json()["error"]) == (400, "invalid_request")  # no username/password
    device = token_request(emu, path, grant_type="device_code", scope=emu.url + "/.default", **creds)
    assert (device.status_code, device.json()["error"]) == (400, "unsupported_grant_type")


def test_client_secret_credential_works_unchanged(emu: Env) -> None:
    credential = ClientSecretCredential(
        emu.tenant,
        emu.info["client_id"],
        emu.info["secret"],
        authority=emu.url,
        disable_instance_discovery=True,
        connection_verify=emu.ca,
    )
    token = credential.get_token(emu.url + "/.default")
    assert token.expires_on > time.time() + 300


def test_client_secret_credential_reports_a_bad_secret(emu: Env) -> None:
    credential = ClientSecretCredential(
        emu.tenant,
        emu.info["client_id"],
        "not-the-secret",
        authority=emu.url,
        disable_instance_discovery=True,
        connection_verify=emu.ca,
    )
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
        credential.get_token(emu.url + "/.default")


# -- instance discovery ---------------------------------------------------------------------------------


def test_instance_discovery_answers_as_entra_does(emu: Env) -> None:
    """MSAL sends instance discovery for a host it does not know to login.microsoftonline.com itself, so a
    client reaches this endpoint only when the emulator answers for that name (a hosts-file entry and
    --tls-hostname login.microsoftonline.com, see the README); here the response shape is checked directly."""
    endpoint = f"{emu.url}/{emu.tenant}/oauth2/v2.0/authorize"
    response = requests.get(
        f"{emu.url}/common/discovery/instance?api-version=1.1&authorization_endpoint={quote(endpoint, safe='')}",
        verify=emu.ca,
        timeout=10,
    )
    assert response.status_code == 200
    body = response.json()
    host = emu.url.split("://", 1)[1]
    assert body["tenant_discovery_endpoint"] == f"{emu.url}/{emu.tenant}/v2.0/.well-known/openid-configuration"
    assert body["api-version"] == "1.1"
    assert body["metadata"] == [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}]
    # MSAL reads tenant_discovery_endpoint and then fetches it: it must answer.
    follow = requests.get(body["tenant_discovery_endpoint"], verify=emu.ca, timeout=10)
    assert follow.status_code == 200 and "token_endpoint" in follow.json()


def test_certificate_credential_works_unchanged(env: Env, tmp_path: Path) -> None:
    """A service principal with a certificate: MSAL's client assertion (PS256, x5t#S256) verified on its key."""
    leaf = trustme.CA().issue_cert("jit-automation", key_type=trustme.KeyType.RSA)
    key_and_cert = tmp_path / "sp.pem"
    leaf.private_key_and_cert_chain_pem.write_to_path(str(key_and_cert))
    app = env.control(
        "POST",
        "principals",
        {
            "display_name": "jit-automation",
            "certificate": leaf.cert_chain_pems[0].bytes().decode(),
            "roles": [{"role": "Reader", "scope": f"/subscriptions/{env.sub}"}],
        },
    ).json()
    credential = CertificateCredential(
        env.tenant,
        app["client_id"],
        certificate_path=str(key_and_cert),
        authority=env.url,
        disable_instance_discovery=True,
        connection_verify=env.ca,
    )
    client = NetworkManagementClient(
        credential, env.sub, base_url=env.url, credential_scopes=[env.url + "/.default"], connection_verify=env.ca
    )
    assert client.network_security_groups.get("rg-app", "nsg-web-01").name == "nsg-web-01"
    assert env.request_log()[-1]["principal"] == app["object_id"]
    # Another key is refused, naming the reason.
    other = tmp_path / "other.pem"
    trustme.CA().issue_cert("impostor", key_type=trustme.KeyType.RSA).private_key_and_cert_chain_pem.write_to_path(
        str(other)
    )
    impostor = CertificateCredential(
        env.tenant,
        app["client_id"],
        certificate_path=str(other),
        authority=env.url,
        disable_instance_discovery=True,
        connection_verify=env.ca,
    )
    with pytest.raises(ClientAuthenticationError) as caught:
        impostor.get_token(env.url + "/.default")
    assert "AADSTS700027" in str(caught.value) and "not valid for the registered certificate" in str(caught.value)
    # A principal without a certificate cannot use one.
    with pytest.raises(ClientAuthenticationError) as none:
        CertificateCredential(
            env.tenant,
            DEMO_READER[0],
            certificate_path=str(key_and_cert),
            authority=env.url,
            disable_instance_discovery=True,
            connection_verify=env.ca,
        ).get_token(env.url + "/.default")
    assert "No certificate is registered" in str(none.value)
    assert env.control("POST", "principals", {"certificate": "not a pem"}).status_code == 400


def test_password_grant_for_a_user(env: Env) -> None:
    """The resource owner password grant (ad_user/password), for a User principal of the world."""
    made = env.control(
        "POST",
        "principals",
        {"kind": "User", "user_principal_name": "Alice@Contoso.example", "password": "pa55", "roles": []},
    ).json()
    assert (made["user_principal_name"], made["password"]) == ("Alice@Contoso.example", "pa55")
    token_url = f"{env.url}/{env.tenant}/oauth2/v2.0/token"
    form = {
        "grant_type": "password",
        "client_id": AZURE_CLI_CLIENT_ID,
        "username": "alice@contoso.example",  # sign-in names are case-insensitive
        "password": "pa55",
        "scope": f"{env.url}/.default openid profile offline_access",
        "client_info": "1",
    }
    body = requests.post(token_url, data=form, verify=env.ca, timeout=10).json()
    assert {"access_token", "id_token", "client_info", "refresh_token", "expires_in", "scope"} <= set(body)
    access = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert (access["oid"], access["idtyp"], access["upn"], access["appid"]) == (
        made["object_id"],
        "user",
        "alice@contoso.example",
        AZURE_CLI_CLIENT_ID,
    )
    ident = jwt.decode(body["id_token"], options={"verify_signature": False})
    assert (ident["aud"], ident["preferred_username"], ident["tid"]) == (
        AZURE_CLI_CLIENT_ID,
        "alice@contoso.example",
        env.tenant,
    )
    info = json.loads(base64.urlsafe_b64decode(body["client_info"] + "=="))
    assert info == {"uid": made["object_id"], "utid": env.tenant}
    # The token works on ARM as that user; with no role, the refusal names the user by sign-in name.
    denied = requests.get(
        f"{env.url}/subscriptions/{env.sub}/resourceGroups?api-version=2021-04-01",
        headers={"Authorization": f"Bearer {body['access_token']}"},
        verify=env.ca,
        timeout=10,
    )
    assert denied.status_code == 403
    assert f"The client 'Alice@Contoso.example' with object id '{made['object_id']}'" in error_of(denied)["message"]

    def refused(changes: dict[str, str]) -> dict[str, Any]:
        response = requests.post(token_url, data={**form, **changes}, verify=env.ca, timeout=10)
        assert response.status_code == 400
        return response.json()

    assert refused({"password": "wrong"})["error_codes"] == [50126]
    assert refused({"username": "bob@contoso.example"})["error_codes"] == [50034]
    assert refused({"username": DEMO_READER[0], "password": DEMO_READER[1]})["error_codes"] == [50034]  # an app
    # ...and a user is not an application: no client-credentials token for it.
    as_app = requests.post(
        token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": "Alice@Contoso.example",
            "client_secret": "pa55",
            "scope": f"{env.url}/.default",
        },
        verify=env.ca,
        timeout=10,
    )
    assert as_app.json()["error"] == "unauthorized_client"


def test_managed_identity_credential_works_unchanged(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """App Service's managed-identity endpoint: ManagedIdentityCredential with IDENTITY_ENDPOINT/HEADER."""
    monkeypatch.setenv("IDENTITY_ENDPOINT", env.info["identity_endpoint"])
    monkeypatch.setenv("IDENTITY_HEADER", env.info["identity_header"])
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", env.ca)
    system = ManagedIdentityCredential().get_token(env.url + "/.default")
    claims = jwt.decode(system.token, options={"verify_signature": False})
    assert (claims["appid"], claims["aud"]) == (env.info["client_id"], env.url)
    assert system.expires_on > time.time() + 3000
    # A user-assigned identity: the Reader of the demo world, chosen by its client id; calls run as it.
    reader = ManagedIdentityCredential(client_id=DEMO_READER[0])
    client = NetworkManagementClient(reader, env.sub, base_url=env.url, credential_scopes=[env.url + "/.default"])
    assert client.network_security_groups.get("rg-app", "nsg-web-01").name == "nsg-web-01"
    assert env.request_log()[-1]["principal"] == DEMO_READER[2]  # the call ran as that identity


def test_managed_identity_endpoint_errors(emu: Env) -> None:
    endpoint = emu.info["identity_endpoint"]
    good = {"api-version": "2019-08-01", "resource": emu.url}
    header = {"X-IDENTITY-HEADER": emu.info["identity_header"]}

    def get(params: dict[str, str], headers: dict[str, str]) -> requests.Response:
        return requests.get(endpoint, params=params, headers=headers, verify=emu.ca, timeout=10)

    assert get(good, {"X-IDENTITY-HEADER": "guess"}).status_code == 401
    assert get(good, {}).status_code == 401
    assert get({**good, "api-version": "2017-09-01"}, header).status_code == 400
    assert get({"api-version": "2019-08-01"}, header).status_code == 400
    unknown = get({**good, "client_id": "00000000-0000-0000-0000-000000000000"}, header)
    assert unknown.status_code == 400 and "Identity not found" in unknown.json()["message"]
    answer = get(good, header).json()
    assert set(answer) == {"access_token", "expires_on", "resource", "token_type", "client_id"}
    assert answer["expires_on"].isdigit() and answer["token_type"] == "Bearer"


def test_unknown_identity_path_is_404(emu: Env) -> None:
    response = requests.get(f"{emu.url}/{emu.tenant}/oauth2/v2.0/nothing", verify=emu.ca, timeout=10)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


# -- ARM's 401s -------------------------------------------------------------------------------------------


def arm_get(emu: Env, headers: dict[str, str]) -> requests.Response:
    return requests.get(
        f"{emu.url}/subscriptions/{emu.sub}/resourcegroups?api-version=2021-04-01",
        headers=headers,
        verify=emu.ca,
        timeout=10,
    )


def www_authenticate(response: requests.Response) -> str:
    return response.headers["WWW-Authenticate"]


def test_no_token_is_authentication_failed(emu: Env) -> None:
    response = arm_get(emu, {})
    assert response.status_code == 401
    assert error_of(response) == {
        "code": "AuthenticationFailed",
        "message": "Authentication failed. The 'Authorization' header is missing.",
    }
    assert www_authenticate(response) == (
        f'Bearer authorization_uri="https://login.windows.net/{emu.tenant}", error="invalid_token",'
        " error_description=\"The authentication failed because of missing 'Authorization' header.\""
    )


def test_malformed_header_is_invalid_header(emu: Env) -> None:
    response = arm_get(emu, {"Authorization": "Basic dXNlcjpwYXNz"})
    assert response.status_code == 401
    assert error_of(response)["code"] == "AuthenticationFailedInvalidHeader"
    assert www_authenticate(response).startswith("Bearer authorization_uri=")


def test_bad_token_is_invalid_authentication_token(emu: Env) -> None:
    response = arm_get(emu, {"Authorization": "Bearer not.a.jwt"})
    assert response.status_code == 401
    assert error_of(response) == {"code": "InvalidAuthenticationToken", "message": "The access token is invalid."}
    assert 'error="invalid_token"' in www_authenticate(response)


def test_token_signed_by_another_key_is_rejected(emu: Env) -> None:
    forged = jwt.encode(
        {"oid": emu.info["object_id"], "aud": emu.url + "/"}, "not-the-emulator-key-" * 2, algorithm="HS256"
    )
    response = arm_get(emu, {"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert error_of(response)["code"] == "InvalidAuthenticationToken"


def signed(emu: Env, **claims: object) -> str:
    now = int(time.time())
    base = {"oid": emu.info["object_id"], "aud": emu.url + "/", "iat": now, "nbf": now, "exp": now + 600}
    key = emu.emulator.key
    return jwt.encode({**base, **claims}, key.private_key, algorithm="RS256", headers={"kid": key.kid})


def test_expired_token(emu: Env) -> None:
    now = int(time.time())
    response = arm_get(emu, {"Authorization": f"Bearer {signed(emu, iat=now - 7200, nbf=now - 7200, exp=now - 3600)}"})
    assert response.status_code == 401
    assert error_of(response)["code"] == "ExpiredAuthenticationToken"


def test_token_for_another_audience(emu: Env) -> None:
    response = arm_get(emu, {"Authorization": f"Bearer {signed(emu, aud='https://graph.microsoft.com/')}"})
    assert response.status_code == 401
    error = error_of(response)
    assert error["code"] == "InvalidAuthenticationTokenAudience"
    assert "'https://graph.microsoft.com/'" in error["message"]


def test_token_of_a_principal_that_no_longer_exists(emu: Env) -> None:
    response = arm_get(emu, {"Authorization": f"Bearer {signed(emu, oid='00000000-1111-2222-3333-444444444444')}"})
    assert response.status_code == 401
    assert error_of(response)["code"] == "InvalidAuthenticationToken"


def test_date_header_reports_the_emulator_clock(env: Env) -> None:
    env.control("POST", "clock", {"set": "2030-01-02T03:04:05Z"})
    response = arm_get(env, {"Authorization": f"Bearer {signed(env)}"})
    assert response.status_code == 200
    date = parsedate_to_datetime(response.headers["Date"])
    assert date.year == 2030 and (date.month, date.day, date.hour) == (1, 2, 3)
