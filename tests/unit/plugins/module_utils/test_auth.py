# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of credential and cloud resolution (azure.azcollection compatible, its bugs fixed)."""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import json
import ssl
import stat
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.azsecops.jit.plugins.module_utils._auth import (
    _AUTH_ARGUMENT_SPEC,
    _CLI_CLIENT_ID,
    _ENV_NAMES,
    _AuthError,
    _AuthSettings,
    _build_credential,
    _Cloud,
    _default_fetch_json,
    _instance_discovery_disabled,
    _mgmt_client_kwargs,
    _parse_bool,
    _resolve_cloud,
    _resolve_settings,
)

SUB_PARAM = "00000000-0000-0000-0000-0000000000aa"
SUB_ENV = "00000000-0000-0000-0000-0000000000bb"
SUB_FILE = "00000000-0000-0000-0000-0000000000cc"
SECRET = "s3cr3t-Value%with-percent"
PASSWORD = "p4ssw0rd-Value"

PARAM_CREDS = {"client_id": "param-client", "secret": SECRET, "tenant": "param-tenant", "subscription_id": SUB_PARAM}
ENV_CREDS = {
    "AZURE_CLIENT_ID": "env-client",
    "AZURE_SECRET": SECRET,
    "AZURE_TENANT": "env-tenant",
    "AZURE_SUBSCRIPTION_ID": SUB_ENV,
}
INI_DEFAULT = f"""
[default]
subscription_id = {SUB_FILE}
client_id = file-client
secret = {SECRET}
tenant = file-tenant

[other]
subscription_id = 00000000-0000-0000-0000-0000000000dd
ad_user = someone@example.com
password = {PASSWORD}
"""


@pytest.fixture
def home(tmp_path: Path) -> dict[str, Any]:
    """A credentials path (not created) and a PATH with a fake 'az'."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    az = bin_dir / "az"
    az.write_text("#!/bin/sh\nexit 0\n")
    az.chmod(az.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return {"credentials": str(tmp_path / "credentials"), "path": str(bin_dir), "tmp": tmp_path}


def resolve(
    home: dict[str, Any], params: dict | None = None, env: dict | None = None, ini: str | None = None, az: bool = True
) -> _AuthSettings:
    if ini is not None:
        Path(home["credentials"]).write_text(ini)
    full_env = dict(env or {})
    if az:
        full_env.setdefault("PATH", home["path"])
    return _resolve_settings(params or {}, full_env, home["credentials"])


# ---------------------------------------------------------------------------------------------------
# sources and precedence
# ---------------------------------------------------------------------------------------------------


def test_params_source(home: dict) -> None:
    settings = resolve(home, PARAM_CREDS)
    assert settings.source == "params"
    assert (settings.client_id, settings.secret, settings.tenant) == ("param-client", SECRET, "param-tenant")
    assert settings.subscription_id == SUB_PARAM
    assert settings.credential_kind == "client_secret"
    assert settings.cloud_environment == "AzureCloud"


def test_params_user_password(home: dict) -> None:
    settings = resolve(home, {"ad_user": "me@example.com", "password": PASSWORD, "subscription_id": SUB_PARAM})
    assert settings.source == "params"
    assert settings.credential_kind == "username_password"


def test_params_certificate(home: dict) -> None:
    settings = resolve(
        home,
        {"client_id": "c", "tenant": "t", "x509_certificate_path": "/cert.pem", "subscription_id": SUB_PARAM},
    )
    assert settings.credential_kind == "certificate"


def test_params_beat_env(home: dict) -> None:
    settings = resolve(home, PARAM_CREDS, ENV_CREDS, INI_DEFAULT)
    assert settings.source == "params"
    assert settings.client_id == "param-client"


def test_params_subscription_from_env_when_not_given(home: dict) -> None:
    params = {key: value for key, value in PARAM_CREDS.items() if key != "subscription_id"}
    settings = resolve(home, params, {"AZURE_SUBSCRIPTION_ID": SUB_ENV})
    assert settings.source == "params"
    assert settings.subscription_id == SUB_ENV


def test_env_source_as_awx_injects_it(home: dict) -> None:
    settings = resolve(home, {}, ENV_CREDS)
    assert settings.source == "env"
    assert (settings.client_id, settings.tenant, settings.subscription_id) == ("env-client", "env-tenant", SUB_ENV)
    assert settings.credential_kind == "client_secret"


def test_env_user_password_as_awx_injects_it(home: dict) -> None:
    env = {"AZURE_SUBSCRIPTION_ID": SUB_ENV, "AZURE_AD_USER": "me@example.com", "AZURE_PASSWORD": PASSWORD}
    settings = resolve(home, {}, env)
    assert settings.source == "env"
    assert settings.credential_kind == "username_password"


def test_env_empty_strings_count_as_unset(home: dict) -> None:
    # AWX sets the unused pair to "".
    env = {**ENV_CREDS, "AZURE_AD_USER": "", "AZURE_PASSWORD": ""}
    settings = resolve(home, {}, env)
    assert settings.ad_user is None
    assert settings.credential_kind == "client_secret"


def test_env_beats_file(home: dict) -> None:
    settings = resolve(home, {}, ENV_CREDS, INI_DEFAULT)
    assert settings.source == "env"
    assert settings.subscription_id == SUB_ENV


def test_env_credentials_with_subscription_param(home: dict) -> None:
    env = {key: value for key, value in ENV_CREDS.items() if key != "AZURE_SUBSCRIPTION_ID"}
    settings = resolve(home, {"subscription_id": SUB_PARAM}, env, INI_DEFAULT)
    assert settings.source == "env"
    assert settings.subscription_id == SUB_PARAM


def test_env_without_subscription_is_not_a_source(home: dict) -> None:
    env = {key: value for key, value in ENV_CREDS.items() if key != "AZURE_SUBSCRIPTION_ID"}
    assert resolve(home, {}, env, INI_DEFAULT).source == "credential_file"
    Path(home["credentials"]).unlink()
    with pytest.raises(_AuthError, match="AZURE_SUBSCRIPTION_ID") as err:
        resolve(home, {}, env, az=False)
    assert SECRET not in str(err.value)


def test_env_subscription_alone_goes_to_cli_with_that_subscription(home: dict) -> None:
    settings = resolve(home, {}, {"AZURE_SUBSCRIPTION_ID": SUB_ENV})
    assert settings.source == "cli"
    assert settings.subscription_id == SUB_ENV


def test_env_profile(home: dict) -> None:
    settings = resolve(home, {}, {"AZURE_PROFILE": "other", "AZURE_SUBSCRIPTION_ID": SUB_ENV}, INI_DEFAULT)
    assert settings.source == "credential_file"
    assert settings.profile == "other"
    assert settings.ad_user == "someone@example.com"
    assert settings.subscription_id == "00000000-0000-0000-0000-0000000000dd"


def test_param_profile(home: dict) -> None:
    settings = resolve(home, {"profile": "other"}, ENV_CREDS, INI_DEFAULT)
    assert settings.source == "credential_file"
    assert settings.credential_kind == "username_password"
    assert settings.password == PASSWORD


def test_param_profile_missing(home: dict) -> None:
    with pytest.raises(_AuthError, match=r"profile \[nope\] is not in .*sections found: \[default\], \[other\]"):
        resolve(home, {"profile": "nope"}, {}, INI_DEFAULT)


def test_file_default_beats_cli(home: dict) -> None:
    settings = resolve(home, {}, {}, INI_DEFAULT)
    assert settings.source == "credential_file"
    assert settings.profile == "default"
    assert settings.client_id == "file-client"
    assert settings.secret == SECRET  # '%' kept literally: no INI interpolation
    assert settings.subscription_id == SUB_FILE


def test_file_default_without_subscription_is_skipped(home: dict) -> None:
    settings = resolve(home, {}, {}, "[default]\nclient_id = x\nsecret = y\ntenant = z\n")
    assert settings.source == "cli"


def test_cli_is_the_last_resort(home: dict) -> None:
    settings = resolve(home, {"tenant": "cli-tenant"}, {})
    assert settings.source == "cli"
    assert settings.credential_kind == "cli"
    assert settings.subscription_id is None  # the caller asks 'az account show'
    assert settings.tenant == "cli-tenant"


def test_no_credentials_at_all(home: dict) -> None:
    with pytest.raises(_AuthError) as err:
        resolve(home, {}, {}, az=False)
    message = str(err.value)
    assert message.startswith("no credentials found")
    assert "client_id, secret and tenant" in message
    assert "AZURE_CLIENT_ID" in message
    assert "~/.azure/credentials" in message
    assert "az login" in message


def test_subscription_param_overrides_every_source(home: dict) -> None:
    sub = {"subscription_id": SUB_PARAM}
    assert resolve(home, sub, ENV_CREDS).subscription_id == SUB_PARAM
    assert resolve(home, sub, {}, INI_DEFAULT).subscription_id == SUB_PARAM
    assert resolve(home, {**sub, "profile": "other"}, {}, INI_DEFAULT).subscription_id == SUB_PARAM
    assert resolve(home, {**sub, "auth_source": "cli"}, ENV_CREDS).subscription_id == SUB_PARAM
    assert resolve(home, {**sub, "auth_source": "msi"}, ENV_CREDS).subscription_id == SUB_PARAM


# ---------------------------------------------------------------------------------------------------
# explicit auth_source
# ---------------------------------------------------------------------------------------------------


def test_explicit_env_ignores_params_credentials(home: dict) -> None:
    settings = resolve(home, {**PARAM_CREDS, "auth_source": "env"}, ENV_CREDS)
    assert settings.source == "env"
    assert settings.client_id == "env-client"
    assert settings.subscription_id == SUB_PARAM  # the parameter still wins for the subscription


def test_explicit_env_with_azure_profile(home: dict) -> None:
    settings = resolve(home, {"auth_source": "env"}, {"AZURE_PROFILE": "other"}, INI_DEFAULT)
    assert settings.source == "credential_file"
    assert settings.profile == "other"


def test_explicit_env_without_credentials(home: dict) -> None:
    with pytest.raises(_AuthError, match="no credentials in the environment variables"):
        resolve(home, {"auth_source": "env"}, {"AZURE_SUBSCRIPTION_ID": SUB_ENV})


def test_explicit_credential_file(home: dict) -> None:
    settings = resolve(home, {**PARAM_CREDS, "auth_source": "credential_file"}, ENV_CREDS, INI_DEFAULT)
    assert settings.source == "credential_file"
    assert settings.client_id == "file-client"
    settings = resolve(home, {"auth_source": "credential_file"}, {"AZURE_PROFILE": "other"}, INI_DEFAULT)
    assert settings.profile == "other"


def test_explicit_credential_file_missing(home: dict) -> None:
    with pytest.raises(_AuthError, match="does not exist"):
        resolve(home, {"auth_source": "credential_file"}, {})


def test_explicit_cli(home: dict) -> None:
    settings = resolve(home, {**PARAM_CREDS, "auth_source": "cli"}, {})
    assert settings.source == "cli"
    assert settings.client_id is None and settings.secret is None
    with pytest.raises(_AuthError, match="not on the PATH"):
        resolve(home, {"auth_source": "cli"}, {}, az=False)


def test_explicit_msi(home: dict) -> None:
    settings = resolve(home, {"auth_source": "msi", "client_id": "uami-client"}, {})
    assert settings.source == "msi"
    assert settings.client_id == "uami-client"
    assert settings.subscription_id is None
    assert resolve(home, {"auth_source": "msi"}, {"AZURE_CLIENT_ID": "env-uami"}).client_id == "env-uami"
    assert resolve(home, {"auth_source": "msi"}, {"AZURE_SUBSCRIPTION_ID": SUB_ENV}).subscription_id == SUB_ENV


def test_auth_source_from_ansible_env(home: dict) -> None:
    assert resolve(home, {}, {"ANSIBLE_AZURE_AUTH_SOURCE": "msi"}).source == "msi"
    # The parameter beats the variable.
    assert resolve(home, {"auth_source": "cli"}, {"ANSIBLE_AZURE_AUTH_SOURCE": "msi"}).source == "cli"


@pytest.mark.parametrize(
    ("params", "env", "name"),
    [({"auth_source": "magic"}, {}, "auth_source"), ({}, {"ANSIBLE_AZURE_AUTH_SOURCE": "magic"}, "ANSIBLE_AZURE")],
)
def test_invalid_auth_source(home: dict, params: dict, env: dict, name: str) -> None:
    with pytest.raises(_AuthError, match=f"{name}.*auto, cli, env, credential_file, msi"):
        resolve(home, params, env)


# ---------------------------------------------------------------------------------------------------
# incomplete credentials, secrets
# ---------------------------------------------------------------------------------------------------


def test_incomplete_params_name_what_is_missing(home: dict) -> None:
    with pytest.raises(_AuthError) as err:
        resolve(home, {"client_id": "c", "secret": SECRET, "subscription_id": SUB_PARAM})
    assert "tenant missing" in str(err.value)
    assert SECRET not in str(err.value)


def test_secret_without_client_id_is_not_silently_ignored(home: dict) -> None:
    with pytest.raises(_AuthError, match="client_id, tenant missing"):
        resolve(home, {"secret": SECRET, "subscription_id": SUB_PARAM})


def test_incomplete_env_names_variables(home: dict) -> None:
    env = {"AZURE_SUBSCRIPTION_ID": SUB_ENV, "AZURE_CLIENT_ID": "c", "AZURE_TENANT": "t"}
    with pytest.raises(_AuthError, match="AZURE_SECRET missing"):
        resolve(home, {}, env)
    with pytest.raises(_AuthError, match="AZURE_PASSWORD missing"):
        resolve(home, {}, {"AZURE_SUBSCRIPTION_ID": SUB_ENV, "AZURE_AD_USER": "u"})


def test_incomplete_file_names_profile_and_path(home: dict) -> None:
    with pytest.raises(_AuthError, match=r"secret in \[default\] of .*credentials missing"):
        resolve(home, {}, {}, f"[default]\nsubscription_id = {SUB_FILE}\nclient_id = c\ntenant = t\n")


def test_no_subscription(home: dict) -> None:
    params = {key: value for key, value in PARAM_CREDS.items() if key != "subscription_id"}
    with pytest.raises(_AuthError, match=r"no subscription.*subscription_id"):
        resolve(home, params, {})


def test_secrets_not_in_repr(home: dict) -> None:
    text = repr(resolve(home, PARAM_CREDS)) + repr(resolve(home, {}, {}, INI_DEFAULT.replace("[other]", "[x]")))
    text += repr(resolve(home, {"profile": "other"}, {}, INI_DEFAULT))
    assert SECRET not in text
    assert PASSWORD not in text
    assert "param-client" in text  # the rest is there, for debugging


def test_ini_parse_error_does_not_leak_lines(home: dict) -> None:
    with pytest.raises(_AuthError) as err:
        resolve(home, {}, {}, f"secret = {SECRET}\n[default]\n")
    assert SECRET not in str(err.value)
    assert "line 1" in str(err.value)
    with pytest.raises(_AuthError) as err:
        resolve(home, {}, {}, f"[default]\nsubscription_id = x\nthis line {SECRET} is broken\n")
    assert SECRET not in str(err.value)


# ---------------------------------------------------------------------------------------------------
# booleans (azure.azcollection read "false" as true)
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("false", False),
        ("False", False),
        ("0", False),
        ("no", False),
        ("off", False),
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        ("on", True),
    ],
)
def test_bool_from_env(home: dict, text: str, expected: bool) -> None:
    settings = resolve(home, {}, {**ENV_CREDS, "AZURE_DISABLE_INSTANCE_DISCOVERY": text})
    assert settings.disable_instance_discovery is expected


@pytest.mark.parametrize(("text", "expected"), [("false", False), ("no", False), ("true", True), ("1", True)])
def test_bool_from_ini(home: dict, text: str, expected: bool) -> None:
    settings = resolve(home, {}, {}, INI_DEFAULT.replace("[other]", f"disable_instance_discovery = {text}\n[other]"))
    assert settings.disable_instance_discovery is expected


def test_bool_invalid_names_the_variable(home: dict) -> None:
    with pytest.raises(_AuthError, match="AZURE_DISABLE_INSTANCE_DISCOVERY must be a boolean"):
        resolve(home, {}, {**ENV_CREDS, "AZURE_DISABLE_INSTANCE_DISCOVERY": "maybe"})
    ini = INI_DEFAULT.replace("[other]", "disable_instance_discovery = sometimes\n[other]")
    with pytest.raises(_AuthError, match=r"disable_instance_discovery in \[default\] of .* must be a boolean"):
        resolve(home, {}, {}, ini)


def test_bool_param_beats_env(home: dict) -> None:
    env = {**ENV_CREDS, "AZURE_DISABLE_INSTANCE_DISCOVERY": "true"}
    assert resolve(home, {"disable_instance_discovery": False}, env).disable_instance_discovery is False
    assert resolve(home, {}, ENV_CREDS).disable_instance_discovery is None  # unset: the cloud decides
    # Ambient: credentials from parameters, the switch from the environment.
    assert resolve(home, PARAM_CREDS, {"AZURE_DISABLE_INSTANCE_DISCOVERY": "yes"}).disable_instance_discovery


def test_parse_bool() -> None:
    assert _parse_bool(True, "x") is True
    with pytest.raises(_AuthError, match="flag must be a boolean"):
        _parse_bool("2", "flag")


# ---------------------------------------------------------------------------------------------------
# cloud_environment precedence in every source (azure.azcollection ignored one or the other)
# ---------------------------------------------------------------------------------------------------

CLOUD_PARAM = "AzureUSGovernment"
CLOUD_SOURCE = "https://source.example"
CLOUD_ENV = "AzureChinaCloud"


def _source_case(home: dict, source: str, cloud_in_source: bool) -> tuple[dict, dict, str | None]:
    """params, env and INI for a source; the source's own cloud value if ``cloud_in_source``."""
    if source == "params":
        return dict(PARAM_CREDS), {}, None
    if source == "env":
        env = dict(ENV_CREDS)
        if cloud_in_source:
            env["AZURE_CLOUD_ENVIRONMENT"] = CLOUD_SOURCE
        return {}, env, None
    if source == "credential_file":
        ini = INI_DEFAULT
        if cloud_in_source:
            ini = ini.replace("[other]", f"cloud_environment = {CLOUD_SOURCE}\n[other]")
        return {}, {}, ini
    return {"auth_source": source}, {}, None


@pytest.mark.parametrize("source", ["params", "env", "credential_file", "cli", "msi"])
def test_cloud_param_wins_in_every_source(home: dict, source: str) -> None:
    params, env, ini = _source_case(home, source, cloud_in_source=True)
    env.setdefault("AZURE_CLOUD_ENVIRONMENT", CLOUD_ENV)
    settings = resolve(home, {**params, "cloud_environment": CLOUD_PARAM}, env, ini)
    assert settings.source == source
    assert settings.cloud_environment == CLOUD_PARAM


@pytest.mark.parametrize("source", ["env", "credential_file"])
def test_cloud_from_the_source(home: dict, source: str) -> None:
    params, env, ini = _source_case(home, source, cloud_in_source=True)
    settings = resolve(home, params, env, ini)
    assert settings.cloud_environment == CLOUD_SOURCE


@pytest.mark.parametrize("source", ["params", "credential_file", "cli", "msi"])
def test_cloud_from_ambient_env(home: dict, source: str) -> None:
    params, env, ini = _source_case(home, source, cloud_in_source=False)
    env["AZURE_CLOUD_ENVIRONMENT"] = CLOUD_ENV
    settings = resolve(home, params, env, ini)
    assert settings.source == source
    assert settings.cloud_environment == CLOUD_ENV


def test_cloud_ini_beats_ambient_env(home: dict) -> None:
    _params, _env, ini = _source_case(home, "credential_file", cloud_in_source=True)
    settings = resolve(home, {}, {"AZURE_CLOUD_ENVIRONMENT": CLOUD_ENV}, ini)
    assert settings.cloud_environment == CLOUD_SOURCE


@pytest.mark.parametrize("source", ["params", "env", "credential_file", "cli", "msi"])
def test_cloud_default(home: dict, source: str) -> None:
    params, env, ini = _source_case(home, source, cloud_in_source=False)
    assert resolve(home, params, env, ini).cloud_environment == "AzureCloud"


# ---------------------------------------------------------------------------------------------------
# TLS verification
# ---------------------------------------------------------------------------------------------------


def test_connection_verify(home: dict) -> None:
    tmp = home["tmp"]
    a, b, c = (tmp / "a.pem", tmp / "b.pem", tmp / "c.pem")
    for path in (a, b, c):
        path.write_text("-----BEGIN CERTIFICATE-----\n")
    assert resolve(home, PARAM_CREDS).connection_verify is True
    assert resolve(home, PARAM_CREDS, {"SSL_CERT_FILE": str(c)}).connection_verify == str(c)
    env = {"REQUESTS_CA_BUNDLE": str(b), "SSL_CERT_FILE": str(c)}
    assert resolve(home, PARAM_CREDS, env).connection_verify == str(b)
    assert resolve(home, {**PARAM_CREDS, "ca_bundle": str(a)}, env).connection_verify == str(a)
    ignore = resolve(home, {**PARAM_CREDS, "ca_bundle": str(a), "cert_validation_mode": "ignore"}, env)
    assert ignore.connection_verify is False


def test_cert_validation_mode_sources(home: dict) -> None:
    env = {**ENV_CREDS, "AZURE_CERT_VALIDATION_MODE": "ignore"}
    assert resolve(home, {}, env).connection_verify is False
    assert resolve(home, {"cert_validation_mode": "validate"}, env).connection_verify is True
    ini = INI_DEFAULT.replace("[other]", "cert_validation_mode = ignore\n[other]")
    assert resolve(home, {}, {}, ini).connection_verify is False
    with pytest.raises(_AuthError, match="use validate or ignore"):
        resolve(home, {}, {**ENV_CREDS, "AZURE_CERT_VALIDATION_MODE": "skip"})


def test_ca_bundle_must_exist(home: dict) -> None:
    with pytest.raises(_AuthError, match=r"REQUESTS_CA_BUNDLE is .* does not exist"):
        resolve(home, PARAM_CREDS, {"REQUESTS_CA_BUNDLE": "/nonexistent/ca.pem"})
    with pytest.raises(_AuthError, match="ca_bundle is"):
        resolve(home, {**PARAM_CREDS, "ca_bundle": "/nonexistent/ca.pem"})


def test_argument_spec_has_no_defaults_that_hide_the_environment() -> None:
    assert set(_AUTH_ARGUMENT_SPEC) == {*_ENV_NAMES, "auth_source", "ca_bundle"}
    assert all("default" not in spec for spec in _AUTH_ARGUMENT_SPEC.values())
    assert _AUTH_ARGUMENT_SPEC["secret"]["no_log"] and _AUTH_ARGUMENT_SPEC["password"]["no_log"]


# ---------------------------------------------------------------------------------------------------
# clouds
# ---------------------------------------------------------------------------------------------------


class FakeFetch:
    """Answers by api-version; records the URLs asked."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.urls: list[str] = []

    def __call__(self, url: str) -> Any:
        self.urls.append(url)
        for marker, answer in self.answers.items():
            if marker in url:
                if isinstance(answer, Exception):
                    raise answer
                return answer
        raise OSError(f"404 for {url}")


ARM_2022 = {
    "name": "Emulator",
    "resourceManager": "https://127.0.0.1:8443/",
    "portal": "https://portal.example/",
    "authentication": {
        "loginEndpoint": "https://127.0.0.1:8443/login/",
        "audiences": ["https://management.core.windows.net/"],
        "tenant": "common",
        "identityProvider": "AAD",
    },
}
LEGACY_2015 = {
    "galleryEndpoint": "https://gallery.example/",
    "graphEndpoint": "https://graph.example/",
    "authentication": {"loginEndpoint": "https://login.legacy.example/", "audiences": ["https://management.example/"]},
}


def never(url: str) -> Any:
    raise AssertionError(f"no fetch expected, got {url}")


@pytest.mark.parametrize(
    ("value", "arm", "login"),
    [
        ("AzureCloud", "https://management.azure.com/", "https://login.microsoftonline.com/"),
        ("azurecloud", "https://management.azure.com/", "https://login.microsoftonline.com/"),
        ("AzureUSGovernment", "https://management.usgovcloudapi.net/", "https://login.microsoftonline.us/"),
        ("AZURECHINACLOUD", "https://management.chinacloudapi.cn/", "https://login.chinacloudapi.cn/"),
        (None, "https://management.azure.com/", "https://login.microsoftonline.com/"),
    ],
)
def test_known_clouds(value: str | None, arm: str, login: str) -> None:
    cloud = _resolve_cloud(value, never)
    assert (cloud.resource_manager, cloud.active_directory) == (arm, login)
    assert cloud.token_scope == arm + ".default"


def test_unknown_cloud_name_lists_valid_names() -> None:
    with pytest.raises(_AuthError) as err:
        _resolve_cloud("AzureGermanCloud", never)
    assert "AzureCloud, AzureUSGovernment, AzureChinaCloud" in str(err.value)
    assert "https://" in str(err.value)


def test_http_url_refused() -> None:
    with pytest.raises(_AuthError, match=r"http://.*TLS"):
        _resolve_cloud("http://127.0.0.1:8080", never)


@pytest.mark.parametrize("value", ["https://127.0.0.1:8443", "https://127.0.0.1:8443/"])
def test_metadata_2022_object(value: str) -> None:
    fetch = FakeFetch({"2022-09-01": ARM_2022})
    cloud = _resolve_cloud(value, fetch)
    assert fetch.urls == ["https://127.0.0.1:8443/metadata/endpoints?api-version=2022-09-01"]
    assert cloud == _Cloud("Emulator", "https://127.0.0.1:8443/", "https://127.0.0.1:8443/login/", from_metadata=True)
    assert cloud.token_scope == "https://127.0.0.1:8443/.default"


def test_metadata_list_picks_entry_for_the_host() -> None:
    other = {**ARM_2022, "name": "Other", "resourceManager": "https://other.example/"}
    mine = {**ARM_2022, "name": "Mine", "resourceManager": "https://arm.example/"}
    fetch = FakeFetch({"2019-05-01": [other, mine]})
    cloud = _resolve_cloud("https://arm.example/metadata/endpoints?api-version=2019-05-01", fetch)
    assert fetch.urls == ["https://arm.example/metadata/endpoints?api-version=2019-05-01"]  # used as given
    assert cloud.name == "Mine"
    assert cloud.resource_manager == "https://arm.example/"


def test_metadata_list_by_name_then_first() -> None:
    first = {**ARM_2022, "name": "First", "resourceManager": "https://a.example/"}
    named = {**ARM_2022, "name": "arm.example", "resourceManager": "https://b.example/"}
    assert _resolve_cloud("https://arm.example", FakeFetch({"2022": [first, named]})).name == "arm.example"
    assert _resolve_cloud("https://arm.example", FakeFetch({"2022": [first]})).name == "First"


def test_metadata_url_without_api_version_gets_one() -> None:
    fetch = FakeFetch({"2022-09-01": ARM_2022})
    _resolve_cloud("https://127.0.0.1:8443/metadata/endpoints", fetch)
    assert fetch.urls == ["https://127.0.0.1:8443/metadata/endpoints?api-version=2022-09-01"]


def test_metadata_2015_fallback_after_failure() -> None:
    fetch = FakeFetch({"2022-09-01": OSError("HTTP Error 400: Bad Request"), "2015-01-01": LEGACY_2015})
    cloud = _resolve_cloud("https://arm.example:4443/", fetch)
    assert fetch.urls == [
        "https://arm.example:4443/metadata/endpoints?api-version=2022-09-01",
        "https://arm.example:4443/metadata/endpoints?api-version=2015-01-01",
    ]
    assert cloud.resource_manager == "https://arm.example:4443/"  # the URL itself
    assert cloud.active_directory == "https://login.legacy.example/"
    assert cloud.name == "https://arm.example:4443/"


def test_metadata_2015_fallback_when_fields_are_missing() -> None:
    fetch = FakeFetch({"2022-09-01": {"unexpected": True}, "2015-01-01": LEGACY_2015})
    assert _resolve_cloud("https://arm.example", fetch).active_directory == "https://login.legacy.example/"
    assert len(fetch.urls) == 2


def test_metadata_fallback_from_a_given_metadata_url() -> None:
    fetch = FakeFetch({"2015-01-01": LEGACY_2015})
    cloud = _resolve_cloud("https://arm.example/metadata/endpoints?api-version=2019-05-01", fetch)
    assert fetch.urls[1] == "https://arm.example/metadata/endpoints?api-version=2015-01-01"
    assert cloud.resource_manager == "https://arm.example/"


def test_metadata_both_fail() -> None:
    fetch = FakeFetch({})
    with pytest.raises(_AuthError) as err:
        _resolve_cloud("https://arm.example", fetch)
    message = str(err.value)
    assert "api-version=2022-09-01" in message and "api-version=2015-01-01" in message
    assert "ca_bundle" in message


def test_metadata_http_login_endpoint_refused() -> None:
    bad = {**ARM_2022, "authentication": {"loginEndpoint": "http://127.0.0.1:8080/"}}
    with pytest.raises(_AuthError, match="not https"):
        _resolve_cloud("https://127.0.0.1:8443", FakeFetch({"2022": bad}))


def test_cloud_adds_trailing_slashes() -> None:
    cloud = _Cloud("x", "https://arm.example", "https://login.example")
    assert cloud.resource_manager == "https://arm.example/"
    assert cloud.active_directory == "https://login.example/"
    assert cloud.token_scope == "https://arm.example/.default"


# ---------------------------------------------------------------------------------------------------
# _default_fetch_json against a local HTTPS server
# ---------------------------------------------------------------------------------------------------


def _self_signed(tmp: Path, rsa_key: bool = False) -> tuple[str, str]:
    crypto = pytest.importorskip("cryptography")
    del crypto
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID

    # azure-identity signs client assertions with RS256, so certificate credentials need RSA.
    key = rsa.generate_private_key(65537, 2048) if rsa_key else ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)  # datetime.UTC needs Python 3.11
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_path), str(key_path)


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    cert, key = _self_signed(tmp_path)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"path": self.path}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", cert
    finally:
        server.shutdown()
        server.server_close()


def test_default_fetch_json_with_ca_bundle(https_server: tuple[str, str]) -> None:
    url, cert = https_server
    assert _default_fetch_json(url + "/metadata/endpoints?api-version=2022-09-01", cert) == {
        "path": "/metadata/endpoints?api-version=2022-09-01"
    }


def test_default_fetch_json_verifies_by_default(https_server: tuple[str, str], monkeypatch: Any) -> None:
    url, _cert = https_server
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    with pytest.raises(OSError):  # URLError wrapping the certificate failure
        _default_fetch_json(url + "/x", True, timeout=5)


def test_default_fetch_json_ignore(https_server: tuple[str, str]) -> None:
    url, _cert = https_server
    assert _default_fetch_json(url + "/x", False) == {"path": "/x"}


def test_default_fetch_json_refuses_http() -> None:
    with pytest.raises(ValueError, match="without TLS"):
        _default_fetch_json("http://127.0.0.1:1/x")


def test_resolve_cloud_with_default_fetch(https_server: tuple[str, str]) -> None:
    # The test server echoes the path, which has no endpoints: both formats are tried, then a clear error.
    url, cert = https_server
    with pytest.raises(_AuthError, match="no resourceManager"):
        _resolve_cloud(url, lambda u: _default_fetch_json(u, cert))


# ---------------------------------------------------------------------------------------------------
# _build_credential (azure-identity objects; no network at construction)
# ---------------------------------------------------------------------------------------------------

identity = pytest.importorskip("azure.identity")
PUBLIC = _Cloud("AzureCloud", "https://management.azure.com/", "https://login.microsoftonline.com/")


def _transport_verify(credential: Any) -> Any:
    """Best effort look at azure-core's transport setting (private attributes; skip if they moved)."""
    try:
        return credential._client._pipeline._transport.connection_config.verify
    except AttributeError:
        pytest.skip("azure-identity internals changed")


def test_build_client_secret(home: dict) -> None:
    ca = home["tmp"] / "ca.pem"
    ca.write_text("x")
    settings = resolve(home, {**PARAM_CREDS, "tenant": "contoso.onmicrosoft.com", "ca_bundle": str(ca)})
    credential = _build_credential(settings, PUBLIC)
    assert isinstance(credential, identity.ClientSecretCredential)
    assert _transport_verify(credential) == str(ca)


def test_build_client_secret_ignore_and_adfs(home: dict) -> None:
    settings = resolve(
        home,
        {
            **PARAM_CREDS,
            "cert_validation_mode": "ignore",
            "adfs_authority_url": "https://adfs.example/adfs",
            "disable_instance_discovery": True,
        },
    )
    credential = _build_credential(settings, PUBLIC)
    assert isinstance(credential, identity.ClientSecretCredential)
    assert _transport_verify(credential) is False
    assert "adfs.example" in str(getattr(credential, "_authority", "adfs.example"))


def test_build_certificate(home: dict) -> None:
    cert, key = _self_signed(home["tmp"], rsa_key=True)
    bundle = home["tmp"] / "bundle.pem"
    bundle.write_text(Path(key).read_text() + Path(cert).read_text())
    settings = resolve(
        home, {"client_id": "c", "tenant": "t", "x509_certificate_path": str(bundle), "subscription_id": SUB_PARAM}
    )
    assert isinstance(_build_credential(settings, PUBLIC), identity.CertificateCredential)


def test_build_certificate_unreadable(home: dict) -> None:
    settings = resolve(
        home,
        {"client_id": "c", "tenant": "t", "x509_certificate_path": "/nonexistent.pem", "subscription_id": SUB_PARAM},
    )
    with pytest.raises(_AuthError, match="cannot set up certificate credentials"):
        _build_credential(settings, PUBLIC)


def test_build_user_password_defaults_to_cli_client(home: dict) -> None:
    if not hasattr(identity, "UsernamePasswordCredential"):
        pytest.skip("this azure-identity has no UsernamePasswordCredential")
    settings = resolve(home, {"ad_user": "me@example.com", "password": PASSWORD, "subscription_id": SUB_PARAM})
    credential = _build_credential(settings, PUBLIC)
    assert isinstance(credential, identity.UsernamePasswordCredential)
    assert getattr(credential, "_client_id", _CLI_CLIENT_ID) == _CLI_CLIENT_ID
    assert getattr(credential, "_tenant_id", "organizations") == "organizations"


def test_build_msi_and_cli(home: dict) -> None:
    msi = _build_credential(resolve(home, {"auth_source": "msi", "client_id": "uami"}), PUBLIC)
    assert isinstance(msi, identity.ManagedIdentityCredential)
    cli = _build_credential(resolve(home, {"auth_source": "cli", "tenant": "t"}), PUBLIC)
    assert isinstance(cli, identity.AzureCliCredential)


def test_build_error_never_shows_the_secret(home: dict) -> None:
    settings = resolve(home, {**PARAM_CREDS, "tenant": "bad tenant!"})
    with pytest.raises(_AuthError) as err:
        _build_credential(settings, PUBLIC)
    assert SECRET not in str(err.value)


def test_build_without_azure_identity(home: dict, monkeypatch: Any) -> None:
    monkeypatch.setitem(sys.modules, "azure.identity", None)
    with pytest.raises(_AuthError, match="pip install azure-identity"):
        _build_credential(resolve(home, PARAM_CREDS), PUBLIC)


def test_build_incomplete_settings() -> None:
    with pytest.raises(_AuthError, match="incomplete credentials"):
        _build_credential(_AuthSettings(source="params", client_id="c"), PUBLIC)


def test_mgmt_client_kwargs(home: dict) -> None:
    settings = resolve(home, {**PARAM_CREDS, "cert_validation_mode": "ignore"})
    assert _mgmt_client_kwargs(settings, PUBLIC) == {
        "base_url": "https://management.azure.com/",
        "credential_scopes": ["https://management.azure.com/.default"],
        "connection_verify": False,
    }


def test_env_names_match_azcollection() -> None:
    assert _ENV_NAMES["secret"] == "AZURE_SECRET"
    assert _ENV_NAMES["tenant"] == "AZURE_TENANT"
    assert _ENV_NAMES["cert_validation_mode"] == "AZURE_CERT_VALIDATION_MODE"
    assert len(_ENV_NAMES) == 13


@pytest.mark.parametrize(
    ("env_value", "from_metadata", "expected"),
    [
        (None, True, True),  # a metadata URL cloud: off by default (the five AWX variables suffice)
        (None, False, False),  # a named cloud: azure-identity's default (MSAL knows those hosts)
        ("false", True, False),  # an explicit setting always wins
        ("true", False, True),
    ],
)
def test_instance_discovery_default_follows_the_cloud(
    home: dict, env_value: str | None, from_metadata: bool, expected: bool
) -> None:
    env = {**ENV_CREDS, **({"AZURE_DISABLE_INSTANCE_DISCOVERY": env_value} if env_value else {})}
    cloud = _Cloud("c", "https://arm.example/", "https://login.example/", from_metadata=from_metadata)
    assert _instance_discovery_disabled(resolve(home, {}, env), cloud) is expected


def test_clouds_from_metadata_are_marked() -> None:
    assert _resolve_cloud("https://arm.example", FakeFetch({"2022-09-01": ARM_2022})).from_metadata is True
    assert _resolve_cloud("https://arm.example", FakeFetch({"2015-01-01": LEGACY_2015})).from_metadata is True
    assert _resolve_cloud("AzureUSGovernment", never).from_metadata is False
