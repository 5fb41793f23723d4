"""The emulator application: TLS, dispatch, authentication, authorisation, faults and the request log.

Requests are dispatched by path: `/metadata/endpoints` (cloud metadata), `/_emulator/...`
(control API, loopback only), Entra ID paths (`/{tenant}/oauth2/...`, discovery), and
everything else is ARM. An ARM call goes: faults -> token -> route -> api-version -> RBAC ->
handler in one transaction -> request log.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import random
import re
import secrets
import socket
import struct
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import trustme
from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter
from werkzeug.wrappers import Request as WzRequest
from werkzeug.wrappers import Response as WzResponse

from . import control, identity, rbac
from .arm import Context, Registry, Response, arm_headers, check_api_version
from .clock import Clock, http_date
from .errors import ArmError
from .providers import insights, register_all
from .store import Store

log = logging.getLogger("jit_emulator")

DEFAULT_SETTINGS: dict[str, Any] = {
    "page_size": 10,
    "home_location": "westeurope",
    "rule_delay_seconds": 0.0,
    # How long a JIT policy written by a PUT reads `Updating` before `Succeeded` (emulator clock).
    "jit_settle_seconds": 10.0,
    # Microsoft.Network writes: the Retry-After (seconds) of their answers, and how long their operations
    # stay InProgress (emulator clock).
    "network_retry_after": 1,
    "network_operation_seconds": 0.0,
}

_IDENTITY_PREFIXES = ("oauth2", "v2.0", ".well-known", "discovery", "kerberos")


@dataclass
class Fault:
    status: int = 0
    rate: float = 1.0
    count: int | None = None
    retry_after: int | None = None
    latency_ms: int = 0
    path: str | None = None
    method: str | None = None
    code: str | None = None
    message: str | None = None
    # Cut the connection without answering (a reset, or a load balancer's cut): "before" the request is
    # processed, or "after" it (the change is made and the answer is lost).
    drop: str | None = None

    def applies(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        if self.path and not re.search(self.path, path, re.IGNORECASE):
            return False
        return self.count is None or self.count > 0


# ARM's codes for injected faults. 429 is ARM's throttling answer (its message names the subscription,
# the operation and the wait); the 5xx bodies are not documented anywhere (azure-wire-shapes.md §a.6).
_FAULT_CODES = {
    429: (
        "SubscriptionRequestsThrottled",
        "Number of requests for subscription '{subscription}' and operation '{operation}' exceeded the backend"
        " storage limit. Please try again after '{retry_after}' seconds.",
    ),
    500: (
        "InternalServerError",
        "Encountered internal server error. Diagnostic information: emulator fault.",
    ),
    502: ("BadGateway", "The gateway did not receive a response from the service."),
    503: ("ServiceUnavailable", "The service is temporarily unavailable. Please try again later."),
    504: ("GatewayTimeout", "The gateway did not receive a response within the specified time period."),
}


class Emulator:
    """One emulator instance: state, clock, keys, routes."""

    def __init__(
        self,
        state_path: str | None = None,
        *,
        tls_hostnames: tuple[str, ...] = (),
        settings: dict[str, Any] | None = None,
        seed: int | None = None,
    ) -> None:
        self._tmpdir = tempfile.mkdtemp(prefix="jit-emulator-")
        self.state_path = state_path or os.path.join(self._tmpdir, "state.sqlite")
        self.store = Store(self.state_path)
        self.clock = Clock(self.store)
        self.key = identity.SigningKey(self.store)
        self.tls_hostnames = tls_hostnames
        self.registry = Registry()
        self.sweepers: list[Any] = []
        register_all(self)
        self._faults_lock = threading.Lock()
        self._rng = random.Random(seed)
        with self.store.write() as tx:
            stored = tx.kv_get("settings", {})
            _check_settings(settings or {})
            merged = {**DEFAULT_SETTINGS, **stored, **(settings or {})}
            tx.kv_set("settings", merged)
            self.faults = [Fault(**f) for f in tx.kv_get("faults", [])]
        self.settings = merged
        # What a reset returns to: the defaults plus the settings given when the emulator was started.
        self._initial_settings = {**DEFAULT_SETTINGS, **(settings or {})}
        self.ident = control.ensure_identity(self)
        # With a token, the control API also answers callers off loopback that send it (a CI service).
        self.control_token: str | None = None

    @property
    def tmpdir(self) -> str:
        """The emulator's temporary directory (server key; CA and state when no state file is given)."""
        return self._tmpdir

    # -- configuration used by the control API ----------------------------------------------------------
    def update_settings(self, changes: dict[str, Any]) -> dict[str, Any]:
        _check_settings(changes)
        self.settings = {**self.settings, **changes}
        with self.store.write() as tx:
            tx.kv_set("settings", self.settings)
        return self.settings

    def reset(self) -> None:
        """Back to a fresh emulator with the same identity, keys, CA and start-up settings."""
        self.store.reset()
        self.clock.reset()
        self.set_faults([])
        self.settings = dict(self._initial_settings)
        with self.store.write() as tx:
            tx.kv_set("settings", self.settings)
        control.seed_identity(self, self.ident)

    def set_faults(self, faults: list[Fault]) -> None:
        with self._faults_lock:
            self.faults = faults
            self._save_faults()

    def _save_faults(self) -> None:
        with self.store.write() as tx:
            tx.kv_set("faults", [f.__dict__ for f in self.faults])

    def _pick_fault(self, method: str, path: str) -> Fault | None:
        with self._faults_lock:
            for fault in self.faults:
                if fault.applies(method, path) and self._rng.random() < fault.rate:
                    if fault.count is not None:
                        fault.count -= 1
                        self._save_faults()
                    return fault
        return None

    # -- WSGI ---------------------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = WzRequest(environ)
        try:
            response = self._dispatch(request)
        except _Dropped:
            drop = environ.get(DROP_KEY)
            if drop is None:  # not served by HttpsServer (an in-process WSGI test client): nothing to cut
                response = Response(500, ArmError(500, "InternalServerError", "Connection dropped.").body())
            else:
                drop()
                # cheroot insists on a status; it cannot reach the client any more.
                start_response("500 Internal Server Error", [("Content-Length", "0")])
                return []
        except ArmError as err:
            response = Response(err.status, err.body(), err.headers)
        except Exception as exc:  # a bug must still answer like ARM, and be visible in the log
            log.exception("unhandled error")
            response = Response(500, ArmError(500, "InternalServerError", f"Emulator error: {exc!r}").body())
        return self._to_wsgi(response)(environ, start_response)

    def _to_wsgi(self, response: Response) -> WzResponse:
        headers = {
            "Date": http_date(self.clock.now()),
            "x-ms-request-id": str(uuid.uuid4()),
            "Cache-Control": "no-cache",
            **response.headers,
        }
        if response.body is None:
            return WzResponse(b"", status=response.status, headers=headers)
        payload = json.dumps(response.body)
        return WzResponse(
            payload, status=response.status, headers=headers, content_type="application/json; charset=utf-8"
        )

    def base_url(self, request: WzRequest) -> str:
        return f"https://{request.host}"

    def _dispatch(self, request: WzRequest) -> Response:
        path = request.path
        first = path.strip("/").split("/", 1)[0].lower()
        if first == "_emulator":
            _require_control_access(request, self.control_token)
            return control.handle(self, request)
        if first == "metadata" and path.rstrip("/").lower() == "/metadata/endpoints":
            return identity.cloud_metadata(
                self.base_url(request), request.args.get("api-version"), self.ident["tenant_id"]
            )
        if first == "msi" and path.rstrip("/").lower() == "/msi/token":
            with self.store.read() as tx:
                return identity.managed_identity_token(
                    tx,
                    self.key,
                    self.ident["tenant_id"],
                    self.ident,
                    request.headers.get("X-IDENTITY-HEADER"),
                    dict(request.args),
                )
        if self._is_identity_path(path):
            return self._identity(request)
        return self._arm(request)

    def _is_identity_path(self, path: str) -> bool:
        parts = [p.lower() for p in path.strip("/").split("/")]
        if parts[:3] == ["common", "discovery", "instance"]:
            return True
        return len(parts) >= 2 and parts[0] not in ("subscriptions", "providers") and parts[1] in _IDENTITY_PREFIXES

    def _identity(self, request: WzRequest) -> Response:
        parts = request.path.strip("/").split("/")
        lowered = [p.lower() for p in parts]
        base = self.base_url(request)
        tenant_id = self.ident["tenant_id"]
        if lowered[:3] == ["common", "discovery", "instance"]:
            return Response(200, identity.instance_discovery(base, dict(request.args)))
        tenant = parts[0]
        rest = lowered[1:]
        if rest in (["v2.0", ".well-known", "openid-configuration"], [".well-known", "openid-configuration"]):
            return Response(200, identity.openid_configuration(base, tenant, tenant_id, v2=rest[0] == "v2.0"))
        if rest in (["discovery", "v2.0", "keys"], ["discovery", "keys"]):
            return Response(200, {"keys": [self.key.jwk()]})
        if rest in (["oauth2", "v2.0", "token"], ["oauth2", "token"]) and request.method == "POST":
            with self.store.read() as tx:
                return identity.token(tx, self.key, base, tenant, tenant_id, request.get_data(), v2=rest[1] == "v2.0")
        return Response(404, {"error": "not_found", "error_description": f"No identity endpoint at {request.path}."})

    # -- ARM -------------------------------------------------------------------------------------------------
    def _arm(self, request: WzRequest) -> Response:
        method = request.method.upper()
        path = request.path
        query = dict(parse_qsl(request.query_string.decode("latin-1"), keep_blank_values=True))
        principal: dict[str, str] | None = None
        status = 500
        error: dict[str, Any] | None = None
        try:
            fault = self._pick_fault(method, path)
            if fault is not None:
                if fault.latency_ms:
                    time.sleep(fault.latency_ms / 1000.0)
                if fault.drop == "before":
                    status = 0  # logged as 0: no answer was sent
                    raise _Dropped
                if fault.status:
                    raise _fault_error(fault, method, path)
            with self.store.read() as tx:
                principal = identity.authenticate(
                    tx,
                    self.key,
                    request.headers.get("Authorization"),
                    self.base_url(request),
                    self.ident["tenant_id"],
                )
            body = _parse_body(request)
            response = self.execute(
                method,
                path,
                query,
                body,
                principal=principal,
                base_url=self.base_url(request),
                caller_ip=request.remote_addr or "127.0.0.1",
                if_match=request.headers.get("If-Match"),
            )
            status = response.status
            if fault is not None and fault.drop == "after":
                status = 0
                raise _Dropped
        except ArmError as err:
            status = err.status
            error = err.body()
            response = Response(err.status, error, err.headers)
        finally:
            self._log(method, path, request.query_string.decode("latin-1"), status, principal)
            if principal is not None:
                self._record_activity(method, path, status, principal, request.remote_addr or "", error)
        headers = arm_headers(
            method,
            path,
            str(self.settings.get("home_location") or "westeurope"),
            self.clock.now(),
            request.headers.get("x-ms-correlation-request-id"),
        )
        response.headers = {**headers, **response.headers}
        return response

    def execute(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        body: Any,
        *,
        principal: dict[str, str] | None,
        base_url: str,
        caller_ip: str = "127.0.0.1",
        if_match: str | None = None,
    ) -> Response:
        """Run one ARM operation. `principal=None` is the emulator itself (world loading): no RBAC."""
        self.sweep()
        route, params = self.registry.match(method, path)
        api_version = next((v for k, v in query.items() if k.lower() == "api-version"), None)
        check_api_version(route, api_version)
        # OData parameters ($filter, $skipToken, ...) are case-insensitive in ARM: handlers see them lower-cased.
        lowered_query = {k.lower() if k.startswith("$") else k: v for k, v in query.items()}
        store_cm = self.store.write() if route.write else self.store.read()
        with store_cm as tx:
            ctx = Context(
                tx=tx,
                now=self.clock.now(),
                base_url=base_url,
                settings=self.settings,
                principal=principal,
                caller_ip=caller_ip,
                method=method,
                path=path,
                params=params,
                query=lowered_query,
                body=body,
                api_version=api_version,
                app=self,
                if_match=if_match,
            )
            if principal is not None:
                action = route.action(ctx)
                scope = route.scope(ctx)
                if action and not rbac.is_authorized(tx, principal["object_id"], action, scope):
                    raise ArmError(
                        403,
                        "AuthorizationFailed",
                        rbac.authorization_failed_message(principal, action, scope),
                    )
            return route.handler(ctx)

    def sweep(self) -> None:
        """Apply what the clock made due (pending JIT rules, expiries) before serving a request."""
        for sweeper in self.sweepers:
            sweeper(self)

    def _record_activity(
        self, method: str, path: str, status: int, principal: dict[str, str], caller_ip: str, error: Any
    ) -> None:
        """Every write and action, succeeded or failed, goes to the Activity Log (providers/insights.py)."""
        try:
            route, _params = self.registry.match(method, path)
        except ArmError:
            return  # no such operation: ARM records nothing either
        insights.record(
            self,
            method=method,
            path=path,
            action=route.action(None),  # type: ignore[arg-type]  # actions are static strings
            status=status,
            principal=principal,
            caller_ip=caller_ip,
            error=error,
        )

    def _log(self, method: str, path: str, query: str, status: int, principal: dict[str, str] | None) -> None:
        with self.store.write() as tx:
            tx.log_request(
                self.clock.now().isoformat().replace("+00:00", "Z"),
                method,
                path,
                query,
                status,
                principal["object_id"] if principal else None,
                principal["display_name"] if principal else None,
            )

    # -- TLS and serving ----------------------------------------------------------------------------------
    def ca(self) -> trustme.CA:
        with self.store.write() as tx:
            stored = tx.kv_get("ca")
            if stored is None:
                ca = trustme.CA(organization_name="jit-emulator")
                stored = {"cert": ca.cert_pem.bytes().decode(), "key": ca.private_key_pem.bytes().decode()}
                tx.kv_set("ca", stored)
        return trustme.CA.from_pem(stored["cert"].encode(), stored["key"].encode())

    def tls_files(self) -> tuple[str, str]:
        """(server certificate + key PEM, CA bundle PEM) on disk, for the server and for clients."""
        ca = self.ca()
        cert = ca.issue_cert("127.0.0.1", "localhost", "::1", *self.tls_hostnames)
        outside = not self.state_path.startswith(self._tmpdir)
        bundle = (self.state_path + ".ca.pem") if outside else os.path.join(self._tmpdir, "ca.pem")
        ca.cert_pem.write_to_path(bundle)
        server_pem = os.path.join(self._tmpdir, "server.pem")
        cert.private_key_and_cert_chain_pem.write_to_path(server_pem)
        os.chmod(server_pem, 0o600)
        return server_pem, bundle

    def make_server(self, host: str = "127.0.0.1", port: int = 0) -> tuple[HttpsServer, dict[str, Any]]:
        server_pem, bundle = self.tls_files()
        server = HttpsServer(host, port, self, server_pem)
        url = f"https://{_shown_host(host)}:{server.server_port}"
        info = {
            "url": url,
            "ca_bundle": bundle,
            "cloud_environment": url,
            "metadata_url": f"{url}/metadata/endpoints?api-version=2022-09-01",
            "tenant_id": self.ident["tenant_id"],
            "subscription_id": self.ident["subscription_id"],
            "client_id": self.ident["client_id"],
            "secret": self.ident["secret"],
            "object_id": self.ident["object_id"],
            # A managed identity, as App Service offers one: set IDENTITY_ENDPOINT and IDENTITY_HEADER.
            "identity_endpoint": f"{url}/msi/token",
            "identity_header": self.ident["identity_header"],
            "state": self.state_path,
            "pid": os.getpid(),
        }
        return server, info

    def start_in_thread(self, host: str = "127.0.0.1", port: int = 0) -> RunningEmulator:
        server, info = self.make_server(host, port)
        thread = threading.Thread(target=server.serve_forever, name="jit-emulator", daemon=True)
        thread.start()
        return RunningEmulator(self, server, thread, info)


class _Dropped(Exception):
    """A drop fault: the connection is cut without an answer."""


DROP_KEY = "jit_emulator.drop_connection"


class _Gateway(wsgi.Gateway_10):
    """cheroot's WSGI 1.0 gateway, plus a way for a fault to cut the connection (RST, no response)."""

    # cheroot's stub types Gateway.get_environ as returning None; Gateway_10's returns the environ dict.
    def get_environ(self) -> dict[str, Any]:  # type: ignore[override]
        environ = super().get_environ()
        environ[DROP_KEY] = self._cut
        return environ

    def _cut(self) -> None:
        # Shut the socket down under cheroot: the client reads a reset instead of a status line, and
        # cheroot's own attempt to answer and close then fails quietly (EPIPE, ENOTCONN are ignored).
        self.req.close_connection = True
        sock = self.req.conn.socket
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


KEEP_ALIVE_CONNECTIONS = 512


class HttpsServer:
    """cheroot's WSGI server over TLS: threads, HTTP/1.1 keep-alive, chunked bodies, 100-continue.

    (werkzeug's development server closes every connection, so each SDK call paid a TLS handshake.)
    """

    def __init__(self, host: str, port: int, app: Any, server_pem: str, threads: int = 16) -> None:
        self._server = wsgi.Server((host, port), app, numthreads=threads, server_name="jit-emulator", timeout=120)
        # cheroot answers "Connection: close" once 10 idle kept-alive connections are open (its
        # keep_alive_conn_limit); Ansible forks, parallel tests and SDK pools each keep one, and ARM keeps
        # them all. Each idle connection is only a socket in cheroot's selector, not a thread.
        self._server.keep_alive_conn_limit = KEEP_ALIVE_CONNECTIONS
        self._server.ssl_adapter = BuiltinSSLAdapter(server_pem, server_pem)
        self._server.gateway = _Gateway
        self._server.prepare()  # binds now, so the port is known before the ready line
        # cheroot skips SO_REUSEADDR for port 0; the connections it accepts inherit the option, and a
        # restart on the same port (same --state, clients keeping their URL) needs it.
        self._server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server_port = int(self._server.bind_addr[1])

    def serve_forever(self) -> None:
        self._server.serve()

    def shutdown(self) -> None:
        self._server.stop()


class RunningEmulator:
    def __init__(self, emulator: Emulator, server: HttpsServer, thread: threading.Thread, info: dict[str, Any]):
        self.emulator = emulator
        self.server = server
        self.thread = thread
        self.info = info

    def stop(self) -> None:
        """Stop serving: no new connections, and the kept-alive ones are closed too."""
        self.server.shutdown()
        self.thread.join(timeout=10)


def _check_settings(changes: dict[str, Any]) -> None:
    unknown = set(changes) - set(DEFAULT_SETTINGS)
    if unknown:
        raise ArmError(400, "InvalidSetting", f"Unknown settings {sorted(unknown)}; known: {sorted(DEFAULT_SETTINGS)}.")
    size = changes.get("page_size", 1)
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ArmError(400, "InvalidSetting", f"page_size must be an integer of at least 1, got {size!r}.")
    delay = changes.get("rule_delay_seconds", 0)
    if not isinstance(delay, (int, float)) or isinstance(delay, bool) or delay < 0:
        raise ArmError(400, "InvalidSetting", f"rule_delay_seconds must be a number of at least 0, got {delay!r}.")
    retry = changes.get("network_retry_after", 0)
    if not isinstance(retry, int) or isinstance(retry, bool) or retry < 0:
        raise ArmError(400, "InvalidSetting", f"network_retry_after must be a whole number of seconds, got {retry!r}.")
    for key in ("jit_settle_seconds", "network_operation_seconds"):
        value = changes.get(key, 0)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            raise ArmError(400, "InvalidSetting", f"{key} must be a number of at least 0, got {value!r}.")
    home = changes.get("home_location", "x")
    if not isinstance(home, str) or not home.strip():
        raise ArmError(400, "InvalidSetting", f"home_location must be a region name such as westeurope, got {home!r}.")


def _shown_host(host: str) -> str:
    """The host for the URL: a wildcard address is reached through loopback; IPv6 gets brackets."""
    if not host:  # '' listens on every IPv4 interface
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host  # a name such as localhost
    if address.is_unspecified:
        address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
    return f"[{address}]" if address.version == 6 else str(address)


def _require_control_access(request: WzRequest, token: str | None) -> None:
    addr = (request.remote_addr or "").split("%", 1)[0]
    try:
        loopback = ipaddress.ip_address(addr).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        return
    sent = request.headers.get("Authorization", "")
    if token and sent.startswith("Bearer ") and secrets.compare_digest(sent[7:].strip().encode(), token.encode()):
        return
    raise ArmError(
        403,
        "Forbidden",
        "The emulator's control API answers loopback callers only, and others that send 'Authorization: Bearer"
        " <token>' when it was started with --control-token.",
    )


def _parse_body(request: WzRequest) -> Any:
    raw = request.get_data()
    if not raw or not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ArmError(
            400,
            "InvalidRequestContent",
            f"The request content was invalid and could not be deserialized: '{exc}'.",
        ) from exc


# ARM always tells a throttled client when to come back; a 429 fault without retry_after waits this long.
DEFAULT_THROTTLE_RETRY_AFTER = 1


def _fault_error(fault: Fault, method: str, path: str) -> ArmError:
    code, message = _FAULT_CODES.get(fault.status, ("EmulatedFault", f"Emulated fault {fault.status}."))
    retry_after = fault.retry_after
    if retry_after is None and fault.status == 429:
        retry_after = DEFAULT_THROTTLE_RETRY_AFTER
    headers: dict[str, str] = {}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    parts = path.strip("/").split("/")
    subscription = parts[1] if len(parts) > 1 and parts[0].lower() == "subscriptions" else ""
    message = message.format(
        subscription=subscription, operation=f"{method.upper()} {path}", retry_after=retry_after or 0
    )
    return ArmError(fault.status, fault.code or code, fault.message or message, headers=headers)
