"""The control API under /_emulator/: clock, request log, faults, principals, settings, world, reset, state."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError, ServiceResponseError
from conftest import NETWORK_API, Env
from werkzeug.test import Client

NSG_PATH_FILTER = "networkSecurityGroups/nsg-web-01$"


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# -- health, clock, settings, state ----------------------------------------------------------------------


def test_health(emu: Env) -> None:
    response = emu.control("GET", "health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_clock_advance_and_set(env: Env) -> None:
    start = parse(env.control("GET", "clock").json()["now"])
    advanced = parse(env.advance("PT2H"))
    assert timedelta(hours=2) <= advanced - start < timedelta(hours=2, seconds=30)
    response = env.control("POST", "clock", {"set": "2031-05-06T07:08:09Z"})
    assert response.status_code == 200
    assert response.json()["now"].startswith("2031-05-06T07:08:")
    for bad in ({"advance": "two hours"}, {"set": "yesterday"}, {"advance": "P1M"}, {}):
        assert env.control("POST", "clock", bad).status_code == 400, bad


def test_settings(env: Env) -> None:
    assert env.control("GET", "settings").json() == {
        "page_size": 10,
        "home_location": "westeurope",
        "rule_delay_seconds": 0.0,
        "jit_settle_seconds": 10.0,
        "network_retry_after": 1,
        "network_operation_seconds": 0.0,
    }
    assert env.settings(page_size=3)["page_size"] == 3
    for bad in (
        {"page_size": 0},
        {"rule_delay_seconds": -1},
        {"jit_settle_seconds": -1},
        {"network_retry_after": 0.5},
        {"network_operation_seconds": -1},
        {"colour": "blue"},
        {"home_location": ""},
    ):
        assert env.control("PUT", "settings", bad).status_code == 400, bad


def test_state_summary(env: Env) -> None:
    state = env.control("GET", "state").json()
    assert state["resources"]["microsoft.compute/virtualmachines"] == 9
    assert state["grants"] == {}
    assert state["settings"]["page_size"] == 10


def test_reset_returns_to_a_fresh_emulator(env: Env) -> None:
    env.settings(page_size=2)
    env.advance("P1D")
    env.control("PUT", "faults", {"faults": [{"status": 500, "path": "nothing-matches"}]})
    assert env.control("POST", "reset").json() == {"status": "reset"}
    assert env.control("GET", "settings").json()["page_size"] == 10
    assert env.control("GET", "faults").json() == {"faults": []}
    assert abs(parse(env.control("GET", "clock").json()["now"]).timestamp() - time.time()) < 60
    state = env.control("GET", "state").json()["resources"]
    assert "microsoft.compute/virtualmachines" not in state
    # The built-in owner, its subscription and its token survive a reset.
    assert env.arm("GET", f"/subscriptions/{env.sub}", "2022-12-01").status_code == 200


def test_control_api_answers_only_on_loopback(emu: Env) -> None:
    client = Client(emu.emulator)
    remote = client.get("/_emulator/health", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert remote.status_code == 403
    assert remote.json["error"]["code"] == "Forbidden"
    local = client.get("/_emulator/health", environ_base={"REMOTE_ADDR": "::1"})
    assert local.status_code == 200


def test_unknown_control_endpoint(emu: Env) -> None:
    assert emu.control("GET", "nothing").status_code == 404


# -- request log --------------------------------------------------------------------------------------------


def test_request_log_records_every_arm_call(env: Env) -> None:
    assert env.control("DELETE", "requests").status_code == 204
    net = env.network()
    net.network_security_groups.get("rg-app", "nsg-web-01")
    with pytest.raises(HttpResponseError):
        net.network_security_groups.get("rg-app", "nope")
    log = env.request_log()
    assert [(e["method"], e["status"]) for e in log] == [("GET", 200), ("GET", 404)]
    first = log[0]
    assert first["path"] == f"{env.rg_id('rg-app')}/providers/Microsoft.Network/networkSecurityGroups/nsg-web-01"
    assert re.fullmatch(r"api-version=\d{4}-\d\d-\d\d", first["query"])
    assert first["principal"] == env.info["object_id"] and first["principal_name"] == "jit-emulator-owner"
    assert parse(first["time"]) <= parse(log[1]["time"])
    assert env.control("DELETE", "requests").status_code == 204
    assert env.request_log() == []


def test_request_log_shows_unauthenticated_calls(env: Env) -> None:
    import requests

    env.control("DELETE", "requests")
    requests.get(f"{env.url}/subscriptions/{env.sub}?api-version=2022-12-01", verify=env.ca, timeout=10)
    (entry,) = env.request_log()
    assert (entry["status"], entry["principal"]) == (401, None)


# -- faults --------------------------------------------------------------------------------------------------


def set_faults(env: Env, *faults: dict[str, object]) -> None:
    response = env.control("PUT", "faults", {"faults": list(faults)})
    assert response.status_code == 200, response.text


def test_throttling_converges_through_sdk_retries(env: Env) -> None:
    set_faults(env, {"status": 429, "count": 1, "path": NSG_PATH_FILTER})
    env.control("DELETE", "requests")
    net = env.network(retry_total=3)
    started = time.monotonic()
    assert net.network_security_groups.get("rg-app", "nsg-web-01").name == "nsg-web-01"
    elapsed = time.monotonic() - started
    assert [e["status"] for e in env.request_log()] == [429, 200]
    assert elapsed >= 0.9  # the SDK waited for the default Retry-After of 1 second


def test_throttling_answer_is_arms(env: Env) -> None:
    set_faults(env, {"status": 429, "retry_after": 7, "path": NSG_PATH_FILTER})
    response = env.arm(
        "GET", f"{env.rg_id('rg-app')}/providers/Microsoft.Network/networkSecurityGroups/nsg-web-01", NETWORK_API
    )
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    error = response.json()["error"]
    assert error["code"] == "SubscriptionRequestsThrottled"
    assert f"subscription '{env.sub}'" in error["message"] and "after '7' seconds" in error["message"]


def test_default_retry_after_is_one_second(env: Env) -> None:
    set_faults(env, {"status": 429})
    response = env.arm("GET", f"/subscriptions/{env.sub}", "2022-12-01")
    assert (response.status_code, response.headers["Retry-After"]) == (429, "1")


def test_server_errors_and_count(env: Env) -> None:
    set_faults(env, {"status": 503, "count": 2, "path": NSG_PATH_FILTER})
    env.control("DELETE", "requests")
    no_retry = env.network()
    with pytest.raises(HttpResponseError) as caught:
        no_retry.network_security_groups.get("rg-app", "nsg-web-01")
    assert (caught.value.status_code, caught.value.error.code) == (503, "ServiceUnavailable")
    assert "Retry-After" not in caught.value.response.headers
    retrying = env.network(retry_total=3, retry_backoff_factor=0.01)
    assert retrying.network_security_groups.get("rg-app", "nsg-web-01").name == "nsg-web-01"
    assert [e["status"] for e in env.request_log()] == [503, 503, 200]
    assert env.control("GET", "faults").json()["faults"][0]["count"] == 0


def test_dropped_connections_are_retried_by_the_sdk_for_reads(env: Env) -> None:
    set_faults(env, {"drop": "before", "count": 2, "path": NSG_PATH_FILTER})
    env.control("DELETE", "requests")
    with pytest.raises(ServiceResponseError):  # no answer at all: the connection is cut
        env.network(retry_total=0).network_security_groups.get("rg-app", "nsg-web-01")
    retrying = env.network(retry_total=3, retry_backoff_factor=0.01)
    assert retrying.network_security_groups.get("rg-app", "nsg-web-01").name == "nsg-web-01"
    assert [e["status"] for e in env.request_log()] == [0, 0, 200]  # 0: no answer was sent
    # The server is unharmed: the next call on a fresh connection works.
    assert env.network().network_security_groups.get("rg-app", "nsg-both-01").name == "nsg-both-01"


def test_a_connection_dropped_after_the_change_loses_only_the_answer(env: Env) -> None:
    set_faults(env, {"drop": "after", "count": 1, "method": "DELETE"})
    net = env.network(retry_total=0)
    with pytest.raises(ServiceResponseError):
        net.security_rules.begin_delete("rg-app", "nsg-ssh-open", "allow-ssh-from-anywhere").result()
    assert [r.name for r in net.security_rules.list("rg-app", "nsg-ssh-open")] == []  # it was deleted
    assert [(e["method"], e["status"]) for e in env.request_log()][-2] == ("DELETE", 0)


def test_path_and_method_filters(env: Env) -> None:
    set_faults(env, {"status": 500, "path": "nsg-web-01$", "method": "PUT"})
    net = env.network()
    nsg = net.network_security_groups.get("rg-app", "nsg-web-01")  # a GET is not affected
    assert net.network_security_groups.get("rg-app", "nsg-both-01").name == "nsg-both-01"
    with pytest.raises(HttpResponseError) as caught:
        net.network_security_groups.begin_create_or_update("rg-app", "nsg-web-01", nsg)
    assert (caught.value.status_code, caught.value.error.code) == (500, "InternalServerError")


def test_latency(env: Env) -> None:
    set_faults(env, {"latency_ms": 300, "path": NSG_PATH_FILTER})
    net = env.network()
    started = time.monotonic()
    net.network_security_groups.get("rg-app", "nsg-web-01")
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    net.network_security_groups.get("rg-app", "nsg-both-01")
    assert time.monotonic() - started < 0.3


def test_rate_zero_never_fires_and_delete_clears(env: Env) -> None:
    set_faults(env, {"status": 500, "rate": 0.0})
    assert env.arm("GET", f"/subscriptions/{env.sub}", "2022-12-01").status_code == 200
    assert env.control("DELETE", "faults").status_code == 204
    assert env.control("GET", "faults").json() == {"faults": []}


def test_invalid_faults(emu: Env) -> None:
    for bad in (
        {"faults": [{"status": 429, "rate": 2}]},
        {"faults": [{"colour": "red"}]},
        {"faults": "all"},
        {"faults": [{"status": 200}]},
        {"faults": [{"status": 500, "path": "(unclosed"}]},
        {"faults": [{"latency_ms": -5}]},
        {"faults": [{"drop": "yes"}]},
        {"faults": [{"drop": "before", "status": 503}]},
    ):
        assert emu.control("PUT", "faults", bad).status_code == 400, bad


# -- principals and worlds ---------------------------------------------------------------------------------------


def test_add_principal_with_roles(env: Env) -> None:
    made = env.control(
        "POST",
        "principals",
        {
            "client_id": "c0ffee00-0000-4000-8000-000000000001",
            "secret": "s3cret",
            "display_name": "ci-bot",
            "roles": [{"role": "Reader", "scope": env.rg_id("rg-app")}],
        },
    )
    assert made.status_code == 201
    body = made.json()
    assert (body["client_id"], body["secret"], body["display_name"]) == (
        "c0ffee00-0000-4000-8000-000000000001",
        "s3cret",
        "ci-bot",
    )
    principal = (body["client_id"], body["secret"], body["object_id"])
    assert env.network(principal).network_security_groups.get("rg-app", "nsg-web-01").name == "nsg-web-01"
    listed = env.control("GET", "principals").json()["value"]
    assert "ci-bot" in [p["display_name"] for p in listed]
    assert all("secret" not in p for p in listed)
    bad = env.control("POST", "principals", {"display_name": "x", "roles": [{"role": "Reader"}]})
    assert bad.status_code == 400


def test_load_world_inline_and_errors(env: Env) -> None:
    world = {
        "resources": [
            {"id": "/subscriptions/${subscription_id}/resourceGroups/rg-extra", "body": {"location": "westeurope"}},
            {
                "id": "/subscriptions/${subscription_id}/resourceGroups/rg-extra/providers/Microsoft.Network/"
                "networkSecurityGroups/nsg-extra",
                "body": {"location": "westeurope"},
            },
        ]
    }
    loaded = env.control("POST", "world", {"world": world})
    assert loaded.status_code == 200 and loaded.json() == {"principals": 0, "resources": 2}
    assert env.network().network_security_groups.get("rg-extra", "nsg-extra").name == "nsg-extra"
    broken = {
        "resources": [
            {
                "id": "/subscriptions/${subscription_id}/resourceGroups/rg-x/providers/Microsoft.Network/"
                "networkSecurityGroups/n",
                "body": {"location": "westeurope"},
            }
        ]
    }
    failed = env.control("POST", "world", {"world": broken})
    assert failed.status_code == 404
    assert failed.json()["error"]["message"].startswith("world resources[0]")
    assert env.control("POST", "world", {"nothing": 1}).status_code == 400


def test_a_world_loads_completely_or_not_at_all(env: Env) -> None:
    world = {
        "principals": [
            {"display_name": "half-loaded", "roles": [{"role": "Reader", "scope": "/subscriptions/${subscription_id}"}]}
        ],
        "resources": [
            {"id": "/subscriptions/${subscription_id}/resourceGroups/rg-half", "body": {"location": "westeurope"}},
            {
                "id": "/subscriptions/${subscription_id}/resourceGroups/rg-half/providers/Microsoft.Compute/"
                "virtualMachines/v"
            },
        ],
    }
    failed = env.control("POST", "world", {"world": world})
    assert failed.status_code == 400
    assert failed.json()["error"]["message"].startswith("world resources[1]")
    assert env.arm("GET", env.rg_id("rg-half"), "2021-04-01").status_code == 404
    assert "half-loaded" not in [p["display_name"] for p in env.control("GET", "principals").json()["value"]]


def test_load_world_from_a_file(env: Env, tmp_path: Path) -> None:
    path = tmp_path / "world.yml"
    rg = "/subscriptions/${subscription_id}/resourceGroups/rg-file"
    path.write_text(f"resources:\n  - id: {rg}\n    body: {{location: westeurope}}\n")
    assert env.control("POST", "world", {"path": str(path)}).json() == {"principals": 0, "resources": 1}
    assert env.arm("GET", env.rg_id("rg-file"), "2021-04-01").status_code == 200
