# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Azure credentials and cloud resolution for azsecops.jit.

Every name in this file is private (``_`` prefix): it is internal API of the collection and may change
in any release. Nothing here imports Ansible; azure-identity is imported only inside
``_build_credential``, so resolution is unit-tested without it.

Option names, environment variables, the ``~/.azure/credentials`` file and the ``auto`` precedence are
those of azure.azcollection (and so of the AWX "Microsoft Azure Resource Manager" credential), with its
bugs fixed:

* booleans from the environment or the INI file are parsed ("false" is False);
* ``cloud_environment`` given as a module parameter wins whatever the credential source, then the
  source's value, then AZURE_CLOUD_ENVIRONMENT, then AzureCloud;
* ``cert_validation_mode: ignore`` really turns verification off (``connection_verify`` False), and a
  CA bundle (``ca_bundle``, REQUESTS_CA_BUNDLE, SSL_CERT_FILE) is passed on; verification is never
  silently off;
* a ``cloud_environment`` URL is resolved from the ARM metadata endpoint (2022-09-01 object or list,
  falling back to the 2015-01-01 shape) instead of crashing;
* for such a cloud, Entra instance discovery is off unless ``disable_instance_discovery`` says otherwise
  (``_instance_discovery_disabled``), so the five variables AWX's credential injects are enough.
"""

from __future__ import annotations

import configparser
import dataclasses
import http.client
import importlib
import json
import os
import shutil
import ssl
import urllib.parse
import urllib.request
import warnings
from collections.abc import Callable, Mapping
from typing import Any

_AUTH_SOURCES = ("auto", "cli", "env", "credential_file", "msi")
_AUTH_SOURCE_ENV = "ANSIBLE_AZURE_AUTH_SOURCE"
# Module option -> environment variable, exactly as azure.azcollection (AWX injects these names).
_ENV_NAMES: dict[str, str] = {
    "profile": "AZURE_PROFILE",
    "subscription_id": "AZURE_SUBSCRIPTION_ID",
    "client_id": "AZURE_CLIENT_ID",
    "secret": "AZURE_SECRET",
    "tenant": "AZURE_TENANT",
    "ad_user": "AZURE_AD_USER",
    "password": "AZURE_PASSWORD",
    "cloud_environment": "AZURE_CLOUD_ENVIRONMENT",
    "cert_validation_mode": "AZURE_CERT_VALIDATION_MODE",
    "adfs_authority_url": "AZURE_ADFS_AUTHORITY_URL",
    "x509_certificate_path": "AZURE_X509_CERTIFICATE_PATH",
    "thumbprint": "AZURE_THUMBPRINT",
    "disable_instance_discovery": "AZURE_DISABLE_INSTANCE_DISCOVERY",
}
# Keys that identify a principal: taken from the chosen source only, never mixed across sources.
_CREDENTIAL_KEYS = (
    "client_id",
    "secret",
    "tenant",
    "ad_user",
    "password",
    "x509_certificate_path",
    "thumbprint",
)
# Keys whose presence shows the user meant that source (tenant alone may be meant for the Azure CLI).
_INTENT_KEYS = ("client_id", "ad_user", "secret", "password", "x509_certificate_path")
# Keys read from the credentials file (any key of the environment mapping but profile).
_FILE_KEYS = tuple(key for key in _ENV_NAMES if key != "profile")

_CREDENTIALS_FILE = "~/.azure/credentials"
_CA_BUNDLE_ENV = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")
_DEFAULT_CLOUD = "AzureCloud"
# Public client id of the Azure CLI, used by azure.azcollection for ad_user/password without client_id.
_CLI_CLIENT_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
_CLI_TENANT = "organizations"
_METADATA_API_VERSION = "2022-09-01"
_LEGACY_METADATA_API_VERSION = "2015-01-01"
_FETCH_TIMEOUT = 30.0
_MAX_METADATA_BYTES = 4 * 1024 * 1024

_TRUE = frozenset(("true", "1", "yes", "on"))
_FALSE = frozenset(("false", "0", "no", "off"))

_NO_CREDENTIALS_HINT = (
    "set client_id, secret and tenant (or AZURE_CLIENT_ID, AZURE_SECRET, AZURE_TENANT and "
    "AZURE_SUBSCRIPTION_ID), use a profile in ~/.azure/credentials, or log in with 'az login'"
)

# Argument spec of the authentication options, for the module base to merge. No env fallbacks and no
# defaults on purpose: _resolve_settings must see which values the task really gave to apply the
# precedence (a default "AzureCloud" is exactly what made azure.azcollection ignore the environment).
_AUTH_ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "auth_source": {"type": "str", "choices": list(_AUTH_SOURCES)},
    "profile": {"type": "str"},
    "subscription_id": {"type": "str"},
    "client_id": {"type": "str"},
    "secret": {"type": "str", "no_log": True},
    "tenant": {"type": "str"},
    "ad_user": {"type": "str"},
    "password": {"type": "str", "no_log": True},
    "cloud_environment": {"type": "str"},
    "cert_validation_mode": {"type": "str", "choices": ["validate", "ignore"]},
    "adfs_authority_url": {"type": "str"},
    "x509_certificate_path": {"type": "path"},
    "thumbprint": {"type": "str"},
    "disable_instance_discovery": {"type": "bool"},
    "ca_bundle": {"type": "path"},
}


class _AuthError(Exception):
    """Authentication settings that cannot work; the message says what is missing and how to fix it.

    Messages never contain a secret or a password.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclasses.dataclass(frozen=True)
class _Cloud:
    """Endpoints of one Azure cloud. URLs end with "/"; the token scope is the ARM URL + ".default"."""

    name: str
    resource_manager: str
    active_directory: str
    # True when the endpoints were read from the cloud's own metadata (cloud_environment was a URL).
    from_metadata: bool = False

    def __post_init__(self) -> None:
        for attribute in ("resource_manager", "active_directory"):
            value = getattr(self, attribute)
            if not value.endswith("/"):
                object.__setattr__(self, attribute, value + "/")

    @property
    def token_scope(self) -> str:
        # Like azure.azcollection: the scope is the ARM URL itself, not authentication.audiences[0].
        return self.resource_manager + ".default"


_CLOUDS: dict[str, _Cloud] = {
    cloud.name.lower(): cloud
    for cloud in (
        _Cloud("AzureCloud", "https://management.azure.com/", "https://login.microsoftonline.com/"),
        _Cloud("AzureUSGovernment", "https://management.usgovcloudapi.net/", "https://login.microsoftonline.us/"),
        _Cloud("AzureChinaCloud", "https://management.chinacloudapi.cn/", "https://login.chinacloudapi.cn/"),
    )
}


@dataclasses.dataclass(frozen=True)
class _AuthSettings:
    """Resolved authentication settings.

    ``source`` is where the credentials came from: "params", "env", "credential_file", "cli" or "msi".
    ``origin`` describes it for messages (e.g. "profile 'prod' of /home/me/.azure/credentials").
    Secrets are kept out of ``repr``.
    """

    source: str
    subscription_id: str | None = None
    client_id: str | None = None
    secret: str | None = dataclasses.field(default=None, repr=False)
    tenant: str | None = None
    ad_user: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    cloud_environment: str = _DEFAULT_CLOUD
    cert_validation_mode: str = "validate"
    adfs_authority_url: str | None = None
    x509_certificate_path: str | None = None
    thumbprint: str | None = None
    # None: not set anywhere; the cloud decides (_instance_discovery_disabled).
    disable_instance_discovery: bool | None = None
    ca_bundle: str | None = None
    profile: str | None = None
    origin: str = ""

    @property
    def connection_verify(self) -> bool | str:
        """``connection_verify`` for azure-core and azure-identity: False, a CA bundle path, or True."""
        if self.cert_validation_mode == "ignore":
            return False
        return self.ca_bundle or True

    @property
    def credential_kind(self) -> str:
        """The kind of credential: client_secret, certificate, username_password, msi or cli."""
        if self.source in ("msi", "cli"):
            return self.source
        kind = _credential_kind(
            self.client_id, self.secret, self.tenant, self.ad_user, self.password, self.x509_certificate_path
        )
        if kind is None:
            raise _AuthError(f"incomplete credentials from {self.origin or self.source}: {_NO_CREDENTIALS_HINT}")
        return kind


def _credential_kind(
    client_id: str | None,
    secret: str | None,
    tenant: str | None,
    ad_user: str | None,
    password: str | None,
    certificate: str | None,
) -> str | None:
    # The order azure.azcollection uses.
    if client_id and secret and tenant:
        return "client_secret"
    if client_id and tenant and certificate:
        return "certificate"
    if ad_user and password:
        return "username_password"
    return None


def _clean(value: Any) -> Any:
    """Strip strings; empty strings count as not set (AWX injects "" for unset inputs)."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _parse_bool(value: Any, name: str) -> bool:
    """Booleans from parameters, environment variables or INI files; ``name`` is used in the error."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _AuthError(f"{name} must be a boolean (true/false, yes/no, on/off, 1/0), not {str(value)!r}")


def _default_credentials_path() -> str:
    return os.path.expanduser(_CREDENTIALS_FILE)


def _describe_ini_error(exc: configparser.Error) -> str:
    # configparser's own messages quote the offending line, which may hold a secret: report line numbers.
    if isinstance(exc, configparser.MissingSectionHeaderError):
        return f"line {exc.lineno}: keys must follow a [section] header such as [default]"
    if isinstance(exc, configparser.ParsingError):
        lines = ", ".join(str(error[0]) for error in exc.errors)
        return f"line(s) {lines} are not 'key = value'"
    if isinstance(exc, configparser.DuplicateOptionError):
        return f"line {exc.lineno}: key {exc.option!r} appears twice in [{exc.section}]"
    if isinstance(exc, configparser.DuplicateSectionError):
        return f"line {exc.lineno}: section [{exc.section}] appears twice"
    return type(exc).__name__


def _read_profile(path: str, profile: str, *, required: bool) -> dict[str, Any] | None:
    """The keys of section ``profile`` in the INI file ``path``; None if absent and not ``required``."""
    if not os.path.isfile(path):
        if required:
            raise _AuthError(
                f"the credentials file {path} does not exist (needed for profile {profile!r}); create it "
                f"with a [{profile}] section holding subscription_id, client_id, secret and tenant, "
                "or choose another auth_source"
            )
        return None
    # No interpolation: a '%' in a secret is just a character.
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except configparser.Error as exc:
        raise _AuthError(f"cannot read the credentials file {path}: {_describe_ini_error(exc)}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _AuthError(f"cannot read the credentials file {path}: {exc}") from None
    if not parser.has_section(profile):
        if required:
            found = ", ".join(f"[{name}]" for name in parser.sections()) or "none"
            raise _AuthError(f"profile [{profile}] is not in {path} (sections found: {found})")
        return None
    return {key: _clean(value) for key, value in parser.items(profile) if key in _FILE_KEYS}


def _name_in(source: str, key: str, profile: str | None, path: str) -> str:
    """How the user spells ``key`` in that source, for messages."""
    if source == "env":
        return _ENV_NAMES[key]
    if source == "credential_file":
        return f"{key} in [{profile}] of {path}"
    return key


def _check_complete(values: Mapping[str, Any], source: str, origin: str, profile: str | None, path: str) -> None:
    """Raise if the source's credentials are not one usable combination, naming what is missing."""
    get = values.get
    if _credential_kind(
        get("client_id"),
        get("secret"),
        get("tenant"),
        get("ad_user"),
        get("password"),
        get("x509_certificate_path"),
    ):
        return

    def names(keys: tuple[str, ...]) -> str:
        return ", ".join(_name_in(source, key, profile, path) for key in keys)

    if get("client_id") or get("secret") or get("x509_certificate_path"):
        missing = tuple(key for key in ("client_id", "tenant") if not get(key))
        if not get("secret") and not get("x509_certificate_path"):
            missing += ("secret",)
        raise _AuthError(
            f"incomplete service principal credentials from {origin}: {names(missing)} missing; a service "
            f"principal needs {names(('client_id', 'secret', 'tenant'))} "
            f"(or {names(('x509_certificate_path',))} instead of the secret)"
        )
    if get("ad_user") or get("password"):
        missing = tuple(key for key in ("ad_user", "password") if not get(key))
        raise _AuthError(f"incomplete user credentials from {origin}: {names(missing)} missing")
    raise _AuthError(f"no credentials in {origin}: {_NO_CREDENTIALS_HINT}")


def _choose_auth_source(params: Mapping[str, Any], env: Mapping[str, str]) -> str:
    raw = _clean(params.get("auth_source"))
    name = "auth_source"
    if raw is None:
        raw = _clean(env.get(_AUTH_SOURCE_ENV))
        name = _AUTH_SOURCE_ENV
    if raw is None:
        return "auto"
    value = str(raw).lower()
    if value not in _AUTH_SOURCES:
        raise _AuthError(f"{name} is {raw!r}; use one of {', '.join(_AUTH_SOURCES)}")
    return value


def _resolve_settings(
    params: Mapping[str, Any],
    env: Mapping[str, str],
    credentials_path: str | None = None,
) -> _AuthSettings:
    """Resolve the authentication settings from module parameters, the environment and the INI file.

    auth_source ``auto`` (the default; ANSIBLE_AZURE_AUTH_SOURCE when the parameter is not given) tries,
    in order:

    1. parameters: ``profile`` -> that profile of the credentials file; else client_id or ad_user (or a
       secret, password or certificate) -> the parameters;
    2. the environment: AZURE_PROFILE -> that profile of the file; else credentials in AZURE_* with a
       subscription (AZURE_SUBSCRIPTION_ID or the subscription_id parameter);
    3. the [default] profile of the file, if it has subscription_id;
    4. the Azure CLI login ('az' must be on the PATH of ``env``).

    Explicit auth_source values force their source. The subscription_id parameter always wins; other
    settings (cloud_environment, cert_validation_mode, adfs_authority_url, disable_instance_discovery)
    go parameter -> source -> environment -> default. ``credentials_path`` defaults to
    ~/.azure/credentials (injectable for tests).
    """
    path = credentials_path or _default_credentials_path()
    auth_source = _choose_auth_source(params, env)
    p = {key: _clean(params.get(key)) for key in (*_ENV_NAMES, "ca_bundle")}
    e = {key: _clean(env.get(name)) for key, name in _ENV_NAMES.items()}

    source = ""
    values: dict[str, Any] = {}
    profile: str | None = None
    origin = ""

    def from_file(name: str, required: bool = True) -> dict[str, Any] | None:
        nonlocal profile, origin
        profile = name
        origin = f"profile [{name}] of {path}"
        return _read_profile(path, name, required=required)

    def env_has_credentials() -> bool:
        return any(e[key] for key in _INTENT_KEYS) and bool(e["subscription_id"] or p["subscription_id"])

    if auth_source == "auto":
        default_profile = None
        if p["profile"]:
            source, values = "credential_file", from_file(p["profile"]) or {}
        elif any(p[key] for key in _INTENT_KEYS):
            source, values, origin = "params", p, "the module parameters"
        elif e["profile"]:
            source, values = "credential_file", from_file(e["profile"]) or {}
        elif env_has_credentials():
            source, values, origin = "env", e, "the environment variables"
        else:
            default_profile = from_file("default", required=False)
            if default_profile and default_profile.get("subscription_id"):
                source, values = "credential_file", default_profile
            else:
                source, origin, profile = "cli", "the Azure CLI login", None
                if not _which("az", env):
                    hint = ""
                    if any(e[key] for key in _INTENT_KEYS):
                        hint = (
                            " (AZURE_* credentials are set but not AZURE_SUBSCRIPTION_ID: set it, or subscription_id)"
                        )
                    raise _AuthError(f"no credentials found{hint}: {_NO_CREDENTIALS_HINT}")
    elif auth_source == "env":
        if e["profile"]:
            source, values = "credential_file", from_file(e["profile"]) or {}
        else:
            source, values, origin = "env", e, "the environment variables"
    elif auth_source == "credential_file":
        source, values = "credential_file", from_file(p["profile"] or e["profile"] or "default") or {}
    elif auth_source == "cli":
        source, origin = "cli", "the Azure CLI login"
        if not _which("az", env):
            raise _AuthError(
                "auth_source is cli but the Azure CLI ('az') is not on the PATH; install it and run 'az login', "
                "or use another auth_source"
            )
    else:
        source, origin = "msi", "the managed identity"

    if source in ("params", "env", "credential_file"):
        _check_complete(values, source, origin, profile, path)

    def pick(key: str) -> Any:
        # Parameter, then the source, then the environment (ambient settings such as the cloud).
        for candidate in (p[key], values.get(key), e[key]):
            if candidate is not None:
                return candidate
        return None

    subscription_id = pick("subscription_id")
    if subscription_id is None and source in ("params", "env", "credential_file"):
        where = f", or subscription_id in [{profile}] of {path}" if source == "credential_file" else ""
        raise _AuthError(
            f"no subscription for the credentials from {origin}: set subscription_id (or AZURE_SUBSCRIPTION_ID{where})"
        )

    credentials: dict[str, Any] = {key: values.get(key) for key in _CREDENTIAL_KEYS}
    if source == "msi":
        # A user-assigned identity is chosen by its client id.
        credentials["client_id"] = p["client_id"] or e["client_id"]
    elif source == "cli":
        credentials["tenant"] = p["tenant"]

    cert_mode_raw = pick("cert_validation_mode")
    cert_mode = str(cert_mode_raw or "validate").lower()
    if cert_mode not in ("validate", "ignore"):
        raise _AuthError(
            f"cert_validation_mode (or AZURE_CERT_VALIDATION_MODE) is {cert_mode_raw!r}; use validate or ignore"
        )
    discovery_raw = pick("disable_instance_discovery")
    disable_discovery = (
        None
        if discovery_raw is None
        else _parse_bool(discovery_raw, _setting_name("disable_instance_discovery", p, values, source, profile, path))
    )

    return _AuthSettings(
        source=source,
        subscription_id=subscription_id,
        cloud_environment=pick("cloud_environment") or _DEFAULT_CLOUD,
        cert_validation_mode=cert_mode,
        adfs_authority_url=pick("adfs_authority_url"),
        disable_instance_discovery=disable_discovery,
        ca_bundle=_resolve_ca_bundle(p["ca_bundle"], env),
        profile=profile,
        origin=origin,
        **credentials,
    )


def _setting_name(
    key: str, p: Mapping[str, Any], values: Mapping[str, Any], source: str, profile: str | None, path: str
) -> str:
    """Which spelling of ``key`` supplied the value, for a precise error."""
    if p.get(key) is not None:
        return key
    if values.get(key) is not None and source == "credential_file":
        return _name_in(source, key, profile, path)
    return _ENV_NAMES[key]


def _which(program: str, env: Mapping[str, str]) -> str | None:
    # Search the PATH of the given environment, so that tests control it.
    search_path = env.get("PATH")
    if not search_path:
        return None
    return shutil.which(program, path=search_path)


def _resolve_ca_bundle(param: str | None, env: Mapping[str, str]) -> str | None:
    """``ca_bundle``, else REQUESTS_CA_BUNDLE, else SSL_CERT_FILE; a path that does not exist is an error
    (silently falling back to the default trust store would only fail later, less clearly)."""
    candidates = [("ca_bundle", param)] + [(name, _clean(env.get(name))) for name in _CA_BUNDLE_ENV]
    for name, value in candidates:
        if value:
            path = os.path.expanduser(str(value))
            if not os.path.exists(path):
                raise _AuthError(f"{name} is {path}, which does not exist; point it at a PEM CA bundle")
            return path
    return None


# ---------------------------------------------------------------------------------------------------
# Clouds
# ---------------------------------------------------------------------------------------------------


def _resolve_cloud(value: str | None, fetch_json: Callable[[str], Any]) -> _Cloud:
    """A cloud name (AzureCloud, AzureUSGovernment, AzureChinaCloud; any case) or an https ARM URL.

    A URL is read from ``<url>/metadata/endpoints?api-version=2022-09-01`` (an object, or a list from
    which the entry for the URL's host is taken), falling back to ``api-version=2015-01-01`` (the
    msrestazure shape, where the resource manager is the URL itself). A URL that already contains
    /metadata/endpoints is fetched as given. ``fetch_json(url)`` does the HTTPS GET.
    """
    text = (value or _DEFAULT_CLOUD).strip() or _DEFAULT_CLOUD
    known = _CLOUDS.get(text.lower())
    if known is not None:
        return known
    parsed = urllib.parse.urlsplit(text)
    scheme = parsed.scheme.lower()
    if scheme == "http":
        raise _AuthError(
            f"cloud_environment {text} uses http://; Azure tokens are only sent over TLS (azure-identity "
            "refuses plain http), so use the https:// URL of the Resource Manager endpoint"
        )
    if scheme != "https" or not parsed.netloc:
        names = ", ".join(cloud.name for cloud in _CLOUDS.values())
        raise _AuthError(
            f"unknown cloud_environment {text!r}: use one of {names}, or the https:// URL of an Azure "
            "Resource Manager endpoint (its endpoints are read from <url>/metadata/endpoints)"
        )
    marker = parsed.path.lower().find("/metadata/endpoints")
    if marker >= 0:
        base = urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, parsed.path[:marker], "", "")).rstrip("/")
        first = text
        if "api-version=" not in parsed.query.lower():
            first += ("&" if parsed.query else "?") + f"api-version={_METADATA_API_VERSION}"
    else:
        base = urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, parsed.path, "", "")).rstrip("/")
        first = f"{base}/metadata/endpoints?api-version={_METADATA_API_VERSION}"
    legacy = f"{base}/metadata/endpoints?api-version={_LEGACY_METADATA_API_VERSION}"

    problems: list[str] = []
    for url, reader in ((first, _cloud_from_arm_metadata), (legacy, _cloud_from_legacy_metadata)):
        try:
            data = fetch_json(url)
        except _AuthError:
            raise
        except (OSError, ValueError, http.client.HTTPException) as exc:
            # Network and TLS errors (URLError, HTTPError and ssl errors are OSErrors), a broken HTTP answer
            # (HTTPException) or a body that is not JSON (ValueError): try the other format, then report.
            problems.append(f"{url}: {exc}")
            continue
        cloud = reader(data, base, text)
        if cloud is not None:
            return cloud
        problems.append(f"{url}: no resourceManager and authentication.loginEndpoint in the answer")
    raise _AuthError(
        f"cloud_environment {text}: cannot read the cloud's endpoints ({'; '.join(problems)}); give the "
        "Resource Manager URL (e.g. https://management.example.com) and make sure its certificate is "
        "trusted (ca_bundle, REQUESTS_CA_BUNDLE or SSL_CERT_FILE)"
    )


def _host(url: Any) -> str:
    return urllib.parse.urlsplit(str(url or "")).netloc.lower()


def _https_endpoint(url: Any, what: str, value: str) -> str:
    text = str(url).strip()
    if urllib.parse.urlsplit(text).scheme.lower() != "https":
        raise _AuthError(
            f"cloud_environment {value}: the metadata gives {what} {text}, which is not https; azure-identity "
            "only talks to TLS endpoints"
        )
    return text


def _cloud_from_arm_metadata(data: Any, base: str, value: str) -> _Cloud | None:
    """2022-09-01 (object) or 2019-05-01 style (list) metadata."""
    if isinstance(data, Mapping):
        entries = [data]
    elif isinstance(data, list):
        entries = [entry for entry in data if isinstance(entry, Mapping)]
    else:
        return None
    if not entries:
        return None
    host = _host(base)
    names = {value.lower(), base.lower(), host, (urllib.parse.urlsplit(base).hostname or "").lower()}
    chosen = (
        next((entry for entry in entries if _host(entry.get("resourceManager")) == host), None)
        or next((entry for entry in entries if str(entry.get("name") or "").lower() in names), None)
        or entries[0]
    )
    resource_manager = chosen.get("resourceManager")
    authentication = chosen.get("authentication")
    login = authentication.get("loginEndpoint") if isinstance(authentication, Mapping) else None
    if not resource_manager or not login:
        return None
    return _Cloud(
        name=str(chosen.get("name") or value),
        resource_manager=_https_endpoint(resource_manager, "resourceManager", value),
        active_directory=_https_endpoint(login, "authentication.loginEndpoint", value),
        from_metadata=True,
    )


def _cloud_from_legacy_metadata(data: Any, base: str, value: str) -> _Cloud | None:
    """2015-01-01 metadata (msrestazure): no resourceManager, the URL given is the resource manager."""
    if not isinstance(data, Mapping):
        return None
    authentication = data.get("authentication")
    login = authentication.get("loginEndpoint") if isinstance(authentication, Mapping) else None
    if not login:
        return None
    return _Cloud(
        name=value,
        resource_manager=base + "/",
        active_directory=_https_endpoint(login, "authentication.loginEndpoint", value),
        from_metadata=True,
    )


def _ssl_context(verify: bool | str) -> ssl.SSLContext:
    if verify is False:
        # Only on cert_validation_mode: ignore, which the caller reports as a warning.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if isinstance(verify, str):
        if os.path.isdir(verify):
            return ssl.create_default_context(capath=verify)
        return ssl.create_default_context(cafile=verify)
    return ssl.create_default_context()


def _default_fetch_json(url: str, verify: bool | str = True, timeout: float = _FETCH_TIMEOUT) -> Any:
    """HTTPS GET of a JSON document with the standard library, honouring ``verify`` like azure-core's
    ``connection_verify`` (False, a CA bundle path, or True) and the usual proxy variables."""
    if urllib.parse.urlsplit(url).scheme.lower() != "https":
        raise ValueError(f"refusing to fetch {url} without TLS")
    # S310: the scheme is checked just above.
    request = urllib.request.Request(  # noqa: S310
        url, headers={"Accept": "application/json", "User-Agent": "azsecops.jit"}
    )
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=_ssl_context(verify)))
    with opener.open(request, timeout=timeout) as response:
        body = response.read(_MAX_METADATA_BYTES)
    return json.loads(body.decode("utf-8"))


# ---------------------------------------------------------------------------------------------------
# Credentials
# ---------------------------------------------------------------------------------------------------


def _scrub(text: str, settings: _AuthSettings) -> str:
    for secret in (settings.secret, settings.password):
        if secret:
            text = text.replace(secret, "********")
    return text


def _instance_discovery_disabled(settings: _AuthSettings, cloud: _Cloud) -> bool:
    """Whether azure-identity skips Entra instance discovery (MSAL's ``instance_discovery=False``).

    An explicit setting (parameter, AZURE_DISABLE_INSTANCE_DISCOVERY, the INI key) always wins. Unset, it
    is off for a cloud read from a metadata URL and on (azure-identity's default) for the named clouds.
    Why: MSAL asks https://login.microsoftonline.com/common/discovery/instance about any authority host
    it does not know (its WELL_KNOWN_AUTHORITY_HOSTS, the public and national clouds); that endpoint knows
    Microsoft's clouds only, so a private cloud's login host gets ``invalid_instance`` and an air-gapped one
    (no route to login.microsoftonline.com) a connection error. azure-identity documents the switch for
    exactly this case ("private clouds or Azure Stack"; it also turns off authority validation). Here the
    authority is not user-typed: it is the loginEndpoint of the metadata that the configured Resource
    Manager URL served over verified TLS, which is what validation would otherwise vouch for. For the
    named clouds MSAL skips discovery anyway (their hosts are well known), so nothing changes for them.
    Sources: https://learn.microsoft.com/python/api/azure-identity/azure.identity.clientsecretcredential
    (disable_instance_discovery) and MSAL Python's ``instance_discovery`` parameter
    (https://learn.microsoft.com/python/api/msal/msal.application.clientapplication).
    """
    if settings.disable_instance_discovery is not None:
        return settings.disable_instance_discovery
    return cloud.from_metadata


def _build_credential(settings: _AuthSettings, cloud: _Cloud) -> Any:
    """An azure-identity credential for the settings (a TokenCredential). No network at construction.

    For "cli" the subscription may be None: the caller asks 'az account show' or fails clearly.
    """
    try:
        identity = importlib.import_module("azure.identity")
    except ImportError as exc:
        raise _AuthError(
            f"the Python package azure-identity is required to authenticate to Azure ({exc}); install it "
            "with 'pip install azure-identity' (see the collection's requirements.txt)"
        ) from None

    kind = settings.credential_kind
    verify = settings.connection_verify
    common: dict[str, Any] = {
        "authority": settings.adfs_authority_url or cloud.active_directory,
        "disable_instance_discovery": _instance_discovery_disabled(settings, cloud),
        "connection_verify": verify,
    }
    try:
        if kind == "client_secret":
            return identity.ClientSecretCredential(settings.tenant, settings.client_id, settings.secret, **common)
        if kind == "certificate":
            return identity.CertificateCredential(
                settings.tenant, settings.client_id, certificate_path=settings.x509_certificate_path, **common
            )
        if kind == "username_password":
            credential_class = getattr(identity, "UsernamePasswordCredential", None)
            if credential_class is None:
                raise _AuthError(
                    "ad_user/password authentication needs azure-identity's UsernamePasswordCredential, which "
                    "this azure-identity no longer has; use a service principal (client_id, secret, tenant)"
                )
            with warnings.catch_warnings():
                # Deprecated upstream because it cannot do MFA; the user chose it, the module may warn.
                warnings.simplefilter("ignore", DeprecationWarning)
                return credential_class(
                    settings.client_id or _CLI_CLIENT_ID,
                    settings.ad_user,
                    settings.password,
                    tenant_id=settings.tenant or _CLI_TENANT,
                    **common,
                )
        if kind == "msi":
            return identity.ManagedIdentityCredential(client_id=settings.client_id, connection_verify=verify)
        # AzureCliCredential runs 'az' and takes no transport options.
        return identity.AzureCliCredential(**({"tenant_id": settings.tenant} if settings.tenant else {}))
    except _AuthError:
        raise
    except (ValueError, TypeError, OSError) as exc:
        raise _AuthError(_scrub(f"cannot set up {kind} credentials from {settings.origin}: {exc}", settings)) from None


def _mgmt_client_kwargs(settings: _AuthSettings, cloud: _Cloud) -> dict[str, Any]:
    """Keyword arguments for azure-mgmt-* clients: endpoint, token scope and TLS verification."""
    return {
        "base_url": cloud.resource_manager,
        "credential_scopes": [cloud.token_scope],
        "connection_verify": settings.connection_verify,
    }
