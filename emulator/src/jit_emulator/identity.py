"""Cloud metadata and a Microsoft Entra ID token service, as azure-identity/MSAL use them.

Tokens are RS256 JWTs carrying the principal's object id. They are issued and validated
against the wall clock (not the emulator's movable clock) so a client's cached token stays
valid when a test moves the emulator's time forward.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import uuid
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .arm import Response
from .errors import ArmError
from .store import Store, Tx

TOKEN_LIFETIME = 3600
# Audiences an ARM token may carry: this emulator's own URL is added per request; the public
# ARM audiences are accepted so clients pointed here through a hosts-file entry work unchanged.
PUBLIC_AUDIENCES = ("https://management.azure.com", "https://management.core.windows.net")


class SigningKey:
    def __init__(self, store: Store) -> None:
        with store.write() as tx:
            pem = tx.kv_get("signing_key")
            if pem is None:
                key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
                pem = key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ).decode()
                tx.kv_set("signing_key", pem)
        private_key = serialization.load_pem_private_key(pem.encode(), password=None)
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise ValueError("the stored signing key is not an RSA key (RS256 tokens need one)")
        self.private_key = private_key
        self.public_key = private_key.public_key()
        der = self.public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.kid = base64.urlsafe_b64encode(hashlib.sha1(der).digest()).decode().rstrip("=")  # noqa: S324

    def jwk(self) -> dict[str, Any]:
        numbers = self.public_key.public_numbers()

        def b64(n: int) -> str:
            raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
            return base64.urlsafe_b64encode(raw).decode().rstrip("=")

        return {"kty": "RSA", "use": "sig", "kid": self.kid, "n": b64(numbers.n), "e": b64(numbers.e)}


# -- cloud metadata ------------------------------------------------------------------------------------


# 2019-05-01 list entries carry fewer keys than the 2022-09-01 object (azure-wire-shapes.md §e).
_LIST_KEYS = (
    "portal",
    "authentication",
    "media",
    "graphAudience",
    "graph",
    "name",
    "suffixes",
    "batch",
    "resourceManager",
    "vmImageAliasDoc",
    "activeDirectoryDataLake",
    "sqlManagement",
)
_LIST_SUFFIXES = (
    "azureDataLakeStoreFileSystem",
    "acrLoginServer",
    "sqlServerHostname",
    "azureDataLakeAnalyticsCatalogAndJob",
    "keyVaultDns",
    "storage",
    "azureFrontDoorEndpointSuffix",
)
METADATA_VERSIONS = ("2022-09-01", "2020-06-01", "2019-05-01", "2015-01-01", "1.0")


def cloud_metadata(base_url: str, api_version: str | None, tenant_id: str) -> Response:
    """ARM's `/metadata/endpoints`, naming this emulator as resource manager and login endpoint.

    The shapes follow the public fixtures (emulator/docs/azure-wire-shapes.md §e): 2022-09-01 is one
    object whose `authentication.loginEndpoint` has no trailing slash; 2019-05-01 is a list of such
    objects whose `loginEndpoint` ends with '/'; 2015-01-01 (and 1.0) is the short msrestazure form.
    """
    root = base_url.rstrip("/") + "/"
    modern: dict[str, Any] = {
        "portal": root.rstrip("/"),
        "authentication": {
            "loginEndpoint": root.rstrip("/"),
            "audiences": [root],
            "tenant": "common",
            "identityProvider": "AAD",
        },
        "media": root,
        "graphAudience": root,
        "graph": root,
        "name": "JitEmulator",
        "suffixes": {
            "azureDataLakeStoreFileSystem": "azuredatalakestore.net",
            "acrLoginServer": "azurecr.io",
            "sqlServerHostname": "database.windows.net",
            "azureDataLakeAnalyticsCatalogAndJob": "azuredatalakeanalytics.net",
            "keyVaultDns": "vault.azure.net",
            "storage": "core.windows.net",
            "azureFrontDoorEndpointSuffix": "azurefd.net",
            "storageSyncEndpointSuffix": "afs.azure.net",
            "mhsmDns": "managedhsm.azure.net",
            "mysqlServerEndpoint": "mysql.database.azure.com",
            "postgresqlServerEndpoint": "postgres.database.azure.com",
            "mariadbServerEndpoint": "mariadb.database.azure.com",
            "synapseAnalytics": "dev.azuresynapse.net",
            "attestationEndpoint": "attest.azure.net",
        },
        "batch": root,
        "resourceManager": root,
        "vmImageAliasDoc": root,
        "activeDirectoryDataLake": root,
        "sqlManagement": root,
        "microsoftGraphResourceId": root,
        "appInsightsResourceId": root,
        "appInsightsTelemetryChannelResourceId": root,
        "attestationResourceId": root,
        "synapseAnalyticsResourceId": root,
        "logAnalyticsResourceId": root,
        "ossrDbmsResourceId": root,
    }
    if api_version in ("2022-09-01", "2020-06-01"):
        return Response(200, modern)
    if api_version == "2019-05-01":
        listed = {key: modern[key] for key in _LIST_KEYS}
        listed["authentication"] = {**modern["authentication"], "loginEndpoint": root}
        listed["suffixes"] = {key: modern["suffixes"][key] for key in _LIST_SUFFIXES}
        listed["gallery"] = root
        return Response(200, [listed])
    if api_version in ("2015-01-01", "1.0"):
        return Response(
            200,
            {
                "galleryEndpoint": root,
                "graphEndpoint": root,
                "portalEndpoint": root,
                "authentication": {"loginEndpoint": root, "audiences": [root]},
            },
        )
    raise ArmError(
        400,
        "InvalidApiVersionParameter",
        f"The api-version '{api_version}' is invalid. The supported versions are '{','.join(METADATA_VERSIONS)}'.",
    )


# -- Entra ID endpoints -------------------------------------------------------------------------------


def openid_configuration(base_url: str, tenant: str, tenant_id: str, v2: bool) -> dict[str, Any]:
    root = base_url.rstrip("/")
    tid = tenant_id if tenant.lower() in ("common", "organizations", "consumers") else tenant
    suffix = "/v2.0" if v2 else ""
    oauth = f"{root}/{tenant}/oauth2{suffix}"
    return {
        "token_endpoint": f"{oauth}/token",
        "token_endpoint_auth_methods_supported": [
            "client_secret_post",
            "private_key_jwt",
            "client_secret_basic",
        ],
        "jwks_uri": f"{root}/{tenant}/discovery{suffix}/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": f"{root}/{tid}/v2.0" if v2 else f"https://sts.windows.net/{tid}/",
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": f"{root}/oidc/userinfo",
        "authorization_endpoint": f"{oauth}/authorize",
        "device_authorization_endpoint": f"{oauth}/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{oauth}/logout",
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "oid", "tid", "ver"],
        "kerberos_endpoint": f"{root}/{tenant}/kerberos",
        "tenant_region_scope": "EU",
        "cloud_instance_name": "jit-emulator",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    }


def instance_discovery(base_url: str, query: dict[str, str]) -> dict[str, Any]:
    """`/common/discovery/instance`, as Entra answers for a known authority."""
    root = base_url.rstrip("/")
    endpoint = query.get("authorization_endpoint", f"{root}/common/oauth2/v2.0/authorize")
    # The tenant is the path segment before /oauth2 in the authorization endpoint.
    path = endpoint.split("://", 1)[-1].split("/", 1)[-1]
    tenant = path.split("/", 1)[0] or "common"
    host = root.split("://", 1)[-1]
    return {
        "tenant_discovery_endpoint": f"{root}/{tenant}/v2.0/.well-known/openid-configuration",
        "api-version": "1.1",
        "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
    }


def _aad_error(status: int, error: str, code: int, description: str) -> Response:
    now = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
    trace = str(uuid.uuid4())
    correlation = str(uuid.uuid4())
    return Response(
        status,
        {
            "error": error,
            "error_description": f"AADSTS{code}: {description} Trace ID: {trace} Correlation ID: {correlation}"
            f" Timestamp: {now}",
            "error_codes": [code],
            "timestamp": now,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": "https://login.microsoftonline.com/error?code=" + str(code),
        },
    )


def token(
    tx: Tx,
    key: SigningKey,
    base_url: str,
    tenant: str,
    tenant_id: str,
    raw_body: bytes,
    v2: bool,
) -> Response:
    form = {k: v[0] for k, v in parse_qs(raw_body.decode("utf-8", "replace")).items()}
    if tenant.lower() not in (tenant_id.lower(), "common", "organizations"):
        return _aad_error(
            400,
            "invalid_request",
            90002,
            f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing"
            " into the correct cloud.",
        )
    grant = form.get("grant_type", "")
    if grant == "password":
        return _password_token(tx, key, base_url, tenant_id, form, v2)
    if grant != "client_credentials":
        return _aad_error(
            400,
            "unsupported_grant_type",
            70003,
            f"The app requested an unsupported grant type '{grant}'. This emulator issues tokens for"
            " client credentials (client id and secret) and for a user's name and password only.",
        )
    client_id = form.get("client_id", "")
    principal = tx.principal_by_client(client_id) if client_id else None
    if principal is not None and principal.get("kind") == "User":
        principal = None  # a user signs in with grant_type=password, not as an application
    if principal is None:
        return _aad_error(
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{client_id}' was not found in the directory '{tenant_id}'.",
        )
    if "client_assertion" in form:
        problem = _assertion_problem(tx, principal, form, base_url, tenant, tenant_id)
        if problem:
            return _aad_error(401, "invalid_client", 700027, f"Client assertion failed signature validation. {problem}")
    elif form.get("client_secret") != principal["secret"]:
        return _aad_error(
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret"
            f" value, not the client secret ID, for a secret added to app '{client_id}'.",
        )
    audience = _audience(form, v2)
    if isinstance(audience, Response):
        return audience
    now = int(time.time())
    return _token_response(_access_token(key, principal, audience, tenant_id, now), audience, now, v2)


def _audience(form: dict[str, str], v2: bool) -> str | Response:
    """The resource a token request asks for (v2: `<resource>/.default` in scope; v1: `resource`), or the error."""
    if not v2:
        resource = form.get("resource", "")
        if resource:
            return resource
        return _aad_error(400, "invalid_request", 900144, "The request body must contain the parameter: 'resource'.")
    scope = form.get("scope", "")
    default = next((s for s in scope.split() if s.endswith("/.default")), "")
    if default:
        return default[: -len(".default")]
    return _aad_error(400, "invalid_scope", 1002012, f"The provided value for scope {scope or '(none)'} is not valid.")


def _token_response(access_token: str, audience: str, now: int, v2: bool, **extra: str) -> Response:
    """A token endpoint's 200: the v2 fields, plus expires_on, not_before and resource on v1."""
    body: dict[str, Any] = {
        "token_type": "Bearer",
        "expires_in": TOKEN_LIFETIME - 1,
        "ext_expires_in": TOKEN_LIFETIME - 1,
        "access_token": access_token,
        **extra,
    }
    if not v2:
        body.update({"expires_on": str(now + TOKEN_LIFETIME - 1), "not_before": str(now), "resource": audience})
    return Response(200, body)


_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def certificate_key(client_id: str) -> str:
    """Where a principal's registered certificate (PEM) is kept in the store's key-value table."""
    return f"certificate:{client_id.lower()}"


def _assertion_problem(
    tx: Tx, principal: dict[str, str], form: dict[str, str], base_url: str, tenant: str, tenant_id: str
) -> str | None:
    """Why a certificate credential's client assertion is refused, or None when it is valid.

    The JWT (PS256 or RS256, as MSAL signs it) must verify with the certificate registered for the
    principal, be addressed to this token endpoint, be issued by and about the client, and not be expired.
    """
    if form.get("client_assertion_type") != _ASSERTION_TYPE:
        return f"client_assertion_type must be '{_ASSERTION_TYPE}'."
    pem = tx.kv_get(certificate_key(principal["client_id"]))
    if not pem:
        return f"No certificate is registered for app '{principal['client_id']}'."
    public_key = x509.load_pem_x509_certificate(pem.encode()).public_key()
    root = base_url.rstrip("/")
    audiences = [f"{root}/{t}/oauth2{v}/token" for t in {tenant, tenant_id} for v in ("/v2.0", "")]
    try:
        claims = jwt.decode(
            form["client_assertion"],
            public_key,  # type: ignore[arg-type]
            algorithms=["PS256", "RS256"],
            audience=audiences,
            options={"require": ["exp", "aud", "iss", "sub"]},
            leeway=300,
        )
    except jwt.PyJWTError as exc:
        return f"The assertion is not valid for the registered certificate: {exc}."
    if claims["iss"] != principal["client_id"] or claims["sub"] != principal["client_id"]:
        return "The assertion's iss and sub must be the client id."
    return None


def _password_token(tx: Tx, key: SigningKey, base_url: str, tenant_id: str, form: dict[str, str], v2: bool) -> Response:
    """The resource owner password grant (what UsernamePasswordCredential and `ad_user`/`password` use).

    Users are world principals of kind User (`user_principal_name`, `password`). Any `client_id` is taken
    as the public client (Entra checks that the app exists; the Azure CLI's id is the usual one). The answer
    carries an ID token and client_info, which MSAL needs to build the account.
    """
    username = form.get("username", "")
    public_client = form.get("client_id", "")
    if not username or "password" not in form or not public_client:
        return _aad_error(
            400, "invalid_request", 900144, "The request body must contain client_id, username and password."
        )
    principal = tx.principal_by_client(username)
    if principal is None or principal.get("kind") != "User":
        return _aad_error(
            400,
            "invalid_grant",
            50034,
            f"The user account {username} does not exist in the {tenant_id} directory. To sign into this"
            " application, the account must be added to the directory.",
        )
    if form["password"] != principal["secret"]:
        return _aad_error(
            400, "invalid_grant", 50126, "Error validating credentials due to invalid username or password."
        )
    audience = _audience(form, v2)
    if isinstance(audience, Response):
        return audience
    now = int(time.time())
    user = {**principal, "client_id": public_client}
    id_claims = {
        "aud": public_client,
        "iss": f"{base_url.rstrip('/')}/{tenant_id}/v2.0",
        "iat": now,
        "nbf": now,
        "exp": now + TOKEN_LIFETIME,
        "name": principal["display_name"],
        "oid": principal["object_id"],
        "preferred_username": username,
        "sub": principal["object_id"],
        "tid": tenant_id,
        "ver": "2.0",
    }
    info = json.dumps({"uid": principal["object_id"], "utid": tenant_id}, separators=(",", ":")).encode()
    return _token_response(
        _access_token(key, user, audience.rstrip("/"), tenant_id, now, upn=username),
        audience,
        now,
        v2,
        scope=f"{audience}/user_impersonation",
        refresh_token=secrets.token_urlsafe(32),
        id_token=jwt.encode(id_claims, key.private_key, algorithm="RS256", headers={"kid": key.kid}),
        client_info=base64.urlsafe_b64encode(info).decode().rstrip("="),
    )


def _access_token(
    key: SigningKey, principal: dict[str, str], audience: str, tenant_id: str, now: int, upn: str | None = None
) -> str:
    """An RS256 access token for `principal`, as Entra issues one to an application (or, with `upn`, a user)."""
    claims: dict[str, Any] = {
        "aud": audience,
        "iss": f"https://sts.windows.net/{tenant_id}/",
        "iat": now,
        "nbf": now,
        "exp": now + TOKEN_LIFETIME,
        "appid": principal["client_id"],
        "appidacr": "1",
        "idtyp": "app",
        "oid": principal["object_id"],
        "sub": principal["object_id"],
        "tid": tenant_id,
        "ver": "1.0",
        "name": principal["display_name"],
    }
    if upn:
        claims.update({"idtyp": "user", "upn": upn, "unique_name": upn, "scp": "user_impersonation"})
        del claims["appidacr"]
    return jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid})


# The selectors of a user-assigned identity a managed-identity request may carry (App Service 2019-08-01).
_IDENTITY_SELECTORS = ("client_id", "object_id", "principal_id", "mi_res_id")


def managed_identity_token(
    tx: Tx, key: SigningKey, tenant_id: str, ident: dict[str, str], header: str | None, query: dict[str, str]
) -> Response:
    """The App Service managed-identity endpoint (`IDENTITY_ENDPOINT`, api-version 2019-08-01).

    What azure-identity's ManagedIdentityCredential calls when IDENTITY_ENDPOINT and IDENTITY_HEADER are
    set. The system-assigned identity is the built-in Owner; `client_id` or `object_id` (`principal_id`)
    selects another principal of the world as a user-assigned identity.
    """
    if header != ident["identity_header"]:
        return Response(401, {"statusCode": 401, "message": "The X-IDENTITY-HEADER header is missing or wrong."})
    if query.get("api-version") != "2019-08-01":
        return Response(400, {"statusCode": 400, "message": "api-version must be 2019-08-01."})
    resource = query.get("resource", "")
    if not resource:
        return Response(400, {"statusCode": 400, "message": "The resource parameter is required."})
    asked = {k: query[k] for k in _IDENTITY_SELECTORS if query.get(k)}
    if "mi_res_id" in asked:
        return Response(400, {"statusCode": 400, "message": "mi_res_id is not supported here; use client_id."})
    if not asked:
        principal = tx.principal_by_client(ident["client_id"])
    elif "client_id" in asked:
        principal = tx.principal_by_client(asked["client_id"])
    else:
        principal = tx.principal_by_object(asked.get("object_id") or asked["principal_id"])
    if principal is None:
        return Response(400, {"statusCode": 400, "message": f"Identity not found: {asked}."})
    now = int(time.time())
    audience = resource[: -len("/.default")] if resource.endswith("/.default") else resource
    return Response(
        200,
        {
            "access_token": _access_token(key, principal, audience, tenant_id, now),
            "expires_on": str(now + TOKEN_LIFETIME - 1),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": principal["client_id"],
        },
    )


def _www_authenticate(tenant_id: str, description: str) -> dict[str, str]:
    return {
        "WWW-Authenticate": f'Bearer authorization_uri="https://login.windows.net/{tenant_id}", '
        f'error="invalid_token", error_description="{description}"'
    }


def authenticate(tx: Tx, key: SigningKey, header: str | None, base_url: str, tenant_id: str) -> dict[str, str]:
    """The principal behind an ARM call's bearer token, or ARM's 401."""
    if not header:
        msg = "Authentication failed. The 'Authorization' header is missing."
        raise ArmError(
            401,
            "AuthenticationFailed",
            msg,
            headers=_www_authenticate(
                tenant_id, "The authentication failed because of missing 'Authorization' header."
            ),
        )
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer" or not raw:
        raise ArmError(
            401,
            "AuthenticationFailedInvalidHeader",
            "Authentication failed. The 'Authorization' header is provided in an invalid format.",
            headers=_www_authenticate(
                tenant_id, "The authentication failed because of an invalid 'Authorization' header."
            ),
        )
    try:
        claims = jwt.decode(
            raw.strip(),
            key.public_key,
            algorithms=["RS256"],
            options={"verify_aud": False},
            leeway=300,
        )
    except jwt.ExpiredSignatureError as exc:
        raise ArmError(
            401,
            "ExpiredAuthenticationToken",
            "The access token expiry UTC time is earlier than current UTC time.",
            headers=_www_authenticate(tenant_id, "The access token has expired."),
        ) from exc
    except jwt.PyJWTError as exc:
        raise ArmError(
            401,
            "InvalidAuthenticationToken",
            "The access token is invalid.",
            headers=_www_authenticate(tenant_id, "The access token is invalid."),
        ) from exc
    audience = str(claims.get("aud", "")).rstrip("/").lower()
    accepted = {a.lower() for a in PUBLIC_AUDIENCES} | {base_url.rstrip("/").lower()}
    if audience not in accepted:
        raise ArmError(
            401,
            "InvalidAuthenticationTokenAudience",
            f"The access token has been obtained for wrong audience or resource '{claims.get('aud')}'. It should"
            f" exactly match with one of the allowed audiences '{base_url.rstrip('/')}/'.",
            headers=_www_authenticate(tenant_id, "The access token has an invalid audience."),
        )
    principal = tx.principal_by_object(str(claims.get("oid", "")))
    if principal is None:
        raise ArmError(
            401,
            "InvalidAuthenticationToken",
            "The access token is invalid: its principal no longer exists.",
            headers=_www_authenticate(tenant_id, "The access token is invalid."),
        )
    return principal
