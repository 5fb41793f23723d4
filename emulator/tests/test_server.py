"""The HTTP layer: keep-alive, one Date header from the emulator's clock, request bodies, ARM headers."""

from __future__ import annotations

import http.client
import json
import ssl
from email.utils import parsedate_to_datetime

import pytest
from conftest import Env
from jit_emulator.server import Emulator


def connection(emu: Env) -> http.client.HTTPSConnection:
    host, port = emu.url.split("//", 1)[1].rsplit(":", 1)
    return http.client.HTTPSConnection(host, int(port), context=ssl.create_default_context(cafile=emu.ca), timeout=10)


def test_connections_are_kept_alive(emu: Env) -> None:
    conn = connection(emu)
    peers = set()
    for _ in range(3):
        conn.request("GET", "/_emulator/health")
        response = conn.getresponse()
        assert response.status == 200 and json.loads(response.read())["status"] == "ok"
        assert response.getheader("Connection") is None
        peers.add(conn.sock.getsockname())
    conn.request("DELETE", "/_emulator/requests")  # a 204 has no body and must not break the next request
    response = conn.getresponse()
    assert (response.status, response.read(), response.getheader("Content-Length")) == (204, b"", None)
    conn.request(
        "POST", "/_emulator/clock", body=json.dumps({"advance": "PT1S"}), headers={"Content-Type": "application/json"}
    )
    response = conn.getresponse()
    assert response.status == 200 and "now" in json.loads(response.read())
    peers.add(conn.sock.getsockname())
    assert len(peers) == 1  # one TCP connection served every request
    conn.close()


def test_many_idle_connections_stay_kept_alive(emu: Env) -> None:
    # cheroot's default closes every connection once 10 idle ones are open; SDK pools and forks hold more.
    idle = [connection(emu) for _ in range(24)]
    try:
        for conn in idle:
            conn.request("GET", "/_emulator/health")
            response = conn.getresponse()
            response.read()
            assert response.getheader("Connection") is None
        first = idle[0].sock.getsockname()
        idle[0].request("GET", "/_emulator/health")
        idle[0].getresponse().read()
        assert idle[0].sock.getsockname() == first
    finally:
        for conn in idle:
            conn.close()


def test_chunked_request_body(emu: Env) -> None:
    conn = connection(emu)
    body = json.dumps({"advance": "PT1S"}).encode()
    conn.request(
        "POST",
        "/_emulator/clock",
        body=iter([body[:5], body[5:]]),
        encode_chunked=True,
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
    )
    response = conn.getresponse()
    assert response.status == 200 and "now" in json.loads(response.read())
    conn.request("GET", "/_emulator/health")
    assert conn.getresponse().status == 200
    conn.close()


def test_one_date_header_and_arm_headers(env: Env) -> None:
    env.control("POST", "clock", {"set": "2032-02-03T04:05:06Z"})
    response = env.arm("GET", f"/subscriptions/{env.sub}", "2022-12-01")
    assert response.status_code == 200
    dates = [value for key, value in response.headers.items() if key.lower() == "date"]
    assert len(dates) == 1 and "," not in dates[0].split(",", 1)[1]
    assert parsedate_to_datetime(dates[0]).year == 2032
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["x-ms-request-id"]
    assert response.headers["Cache-Control"] == "no-cache"


def test_stop_closes_kept_alive_connections() -> None:
    running = Emulator().start_in_thread()
    other = Env(running)
    conn = connection(other)
    conn.request("GET", "/_emulator/health")
    assert conn.getresponse().read()
    running.stop()
    with pytest.raises((OSError, http.client.HTTPException)):
        conn.request("GET", "/_emulator/health")
        conn.getresponse().read()
    conn.close()
