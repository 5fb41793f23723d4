"""The control API under /_emulator/ (JSON, loopback only) and the emulator's built-in identity."""

from __future__ import annotations

import json
import re
import secrets
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from cryptography import x509
from werkzeug.wrappers import Request as WzRequest

from . import identity, jit
from .arm import Response
from .errors import ArmError

if TYPE_CHECKING:
    from .server import Emulator

OWNER_ROLE = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"


def ensure_identity(emulator: Emulator) -> dict[str, str]:
    """The tenant, default subscription and built-in Owner principal, created once per state file."""
    with emulator.store.write() as tx:
        ident = tx.kv_get("identity")
        if ident is None:
            ident = {
                "tenant_id": str(uuid.uuid4()),
                "subscription_id": str(uuid.uuid4()),
                "client_id": str(uuid.uuid4()),
                "object_id": str(uuid.uuid4()),
                "secret": secrets.token_urlsafe(24),
            }
            tx.kv_set("identity", ident)
        if "identity_header" not in ident:  # states written before the managed-identity endpoint existed
            ident = {**ident, "identity_header": secrets.token_urlsafe(24)}
            tx.kv_set("identity", ident)
    emulator.ident = ident
    seed_identity(emulator, ident)
    return ident


def seed_identity(emulator: Emulator, ident: dict[str, str]) -> None:
    with emulator.store.write() as tx:
        tx.put_principal(
            ident["client_id"], ident["object_id"], ident["secret"], "jit-emulator-owner", "ServicePrincipal"
        )
        present = tx.exists(f"/subscriptions/{ident['subscription_id']}")
    if not present:
        emulator.execute(
            "PUT",
            f"/subscriptions/{ident['subscription_id']}",
            {"api-version": "2022-12-01"},
            {"displayName": "jit-emulator subscription"},
            principal=None,
            base_url="https://127.0.0.1",
        )
    assign_role(emulator, ident["object_id"], "Owner", "/", assignment_name="00000000-0000-0000-0000-00000000a11c")


def assign_role(
    emulator: Emulator, object_id: str, role: str, scope: str, *, assignment_name: str | None = None
) -> dict[str, Any]:
    """Create a role assignment through the same path as an ARM PUT."""
    from . import rbac

    definition = rbac.builtin_by_name(role)
    if definition is not None:
        role_id = f"/providers/Microsoft.Authorization/roleDefinitions/{definition['name']}"
    elif role.startswith("/"):
        role_id = role
    else:
        role_id = _custom_role_id(emulator, role, scope)
    name = assignment_name or str(
        uuid.uuid5(uuid.NAMESPACE_URL, f"{scope.lower()}|{object_id.lower()}|{role_id.lower()}")
    )
    prefix = "" if scope.rstrip("/") == "" else scope.rstrip("/")
    response = emulator.execute(
        "PUT",
        f"{prefix}/providers/Microsoft.Authorization/roleAssignments/{name}",
        {"api-version": "2022-04-01"},
        {"properties": {"roleDefinitionId": role_id, "principalId": object_id}},
        principal=None,
        base_url="https://127.0.0.1",
    )
    return response.body


def _custom_role_id(emulator: Emulator, role_name: str, scope: str) -> str:
    from . import rbac

    with emulator.store.read() as tx:
        for custom in tx.list_all_type(rbac.ROLE_DEFINITION_TYPE):
            if custom["properties"].get("roleName", "").lower() == role_name.lower():
                return custom["id"]
    raise ArmError(
        400,
        "RoleDefinitionDoesNotExist",
        f"The role '{role_name}' is neither a built-in role nor a custom role defined in this emulator"
        f" (scope {scope}).",
    )


def add_principal(emulator: Emulator, spec: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(spec, dict):
        raise ArmError(400, "InvalidPrincipal", "A principal is an object with client_id, secret, display_name.")
    kind = str(spec.get("kind", "ServicePrincipal"))
    if kind == "User":
        # A user signs in with its name and password (grant_type=password); stored in the same columns.
        upn = str(spec.get("user_principal_name") or "")
        if "@" not in upn:
            raise ArmError(
                400, "InvalidPrincipal", "A User needs user_principal_name (a sign-in name like alice@contoso.com)."
            )
        spec = {**spec, "client_id": upn, "secret": spec.get("password")}
    client_id = str(spec.get("client_id") or uuid.uuid4())
    object_id = str(spec.get("object_id") or uuid.uuid4())
    secret = str(spec.get("secret") or secrets.token_urlsafe(24))
    display_name = str(spec.get("display_name") or client_id)
    certificate = spec.get("certificate")
    if certificate is not None:
        _check_certificate(certificate)
    with emulator.store.write() as tx:
        tx.put_principal(client_id, object_id, secret, display_name, kind)
        if certificate is not None:  # a certificate credential: MSAL's client assertions verify against it
            tx.kv_set(identity.certificate_key(client_id), certificate)
    for grant in spec.get("roles", []) or []:
        if not isinstance(grant, dict) or "role" not in grant or "scope" not in grant:
            raise ArmError(400, "InvalidPrincipal", f"Each entry of roles needs 'role' and 'scope'; got {grant!r}.")
        assign_role(emulator, object_id, str(grant["role"]), str(grant["scope"]))
    made = {"client_id": client_id, "object_id": object_id, "secret": secret, "display_name": display_name}
    if kind == "User":
        made.update({"user_principal_name": client_id, "password": secret})
    return made


def _check_certificate(pem: Any) -> None:
    try:
        x509.load_pem_x509_certificate(str(pem).encode())
    except ValueError as exc:
        raise ArmError(
            400, "InvalidPrincipal", f"certificate must be a PEM certificate (the public part only): {exc}"
        ) from exc


def handle(emulator: Emulator, request: WzRequest) -> Response:
    parts = [p for p in request.path.strip("/").split("/")[1:] if p]
    what = parts[0].lower() if parts else ""
    method = request.method.upper()
    body = _json(request)
    if what == "health" and method == "GET":
        return Response(200, {"status": "ok", "now": _iso(emulator.clock.now())})
    if what == "clock":
        return _clock(emulator, method, body)
    if what == "requests":
        if method == "GET":
            with emulator.store.read() as tx:
                return Response(200, {"value": tx.request_log()})
        if method == "DELETE":
            with emulator.store.write() as tx:
                tx.clear_request_log()
            return Response(204)
    if what == "faults":
        return _faults(emulator, method, body)
    if what == "principals":
        if method == "POST":
            return Response(201, add_principal(emulator, body))
        if method == "GET":
            with emulator.store.read() as tx:
                return Response(
                    200, {"value": [{k: v for k, v in p.items() if k != "secret"} for p in tx.principals()]}
                )
    if what == "settings":
        if method == "GET":
            return Response(200, emulator.settings)
        if method in ("PUT", "PATCH"):
            return Response(200, emulator.update_settings(body or {}))
    if what == "world" and method == "POST":
        from .world import load_world

        if not isinstance(body, dict) or not ("path" in body or "world" in body):
            raise ArmError(400, "InvalidWorld", 'POST /_emulator/world takes {"path": FILE} or {"world": {...}}.')
        summary = load_world(emulator, body.get("world") or body["path"])
        return Response(200, summary)
    if what == "reset" and method == "POST":
        emulator.reset()
        world = (body or {}).get("world") if isinstance(body, dict) else None
        summary = {"status": "reset"}
        if world:
            from .world import load_world

            summary["world"] = load_world(emulator, world)
        return Response(200, summary)
    if what == "rule-naming":
        from .providers import security

        with emulator.store.write() as tx:
            if method == "GET":
                return Response(200, security.rule_naming(tx))
            if method == "PUT":
                return Response(200, security.set_rule_naming(tx, body or {}))
    if what == "state" and method == "GET":
        return Response(200, _state_summary(emulator))
    raise ArmError(404, "NotFound", f"No control endpoint {method} {request.path}.")


def _clock(emulator: Emulator, method: str, body: Any) -> Response:
    if method == "GET":
        return Response(200, {"now": _iso(emulator.clock.now())})
    if method != "POST" or not isinstance(body, dict):
        raise ArmError(
            400,
            "InvalidClockRequest",
            'POST /_emulator/clock takes {"advance": "2h"} (or ISO 8601 "PT2H") or {"set": "<UTC time>"}.',
        )
    if "advance" in body:
        delta = _clock_duration(body["advance"])
        emulator.clock.advance(delta)
    elif "set" in body:
        try:
            when = datetime.fromisoformat(str(body["set"]).replace("Z", "+00:00"))
        except ValueError as exc:
            raise ArmError(400, "InvalidClockRequest", f"set must be an ISO 8601 UTC time: {exc}") from exc
        emulator.clock.set(when)
    else:
        raise ArmError(
            400,
            "InvalidClockRequest",
            'POST /_emulator/clock takes {"advance": "2h"} (or ISO 8601 "PT2H") or {"set": "<UTC time>"}.',
        )
    emulator.sweep()
    return Response(200, {"now": _iso(emulator.clock.now())})


# The short form the modules take for durations ('2h', '90m', '1d', '1h30m'), plus seconds for the clock.
_SHORT_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", re.IGNORECASE)


def _clock_duration(value: Any) -> timedelta:
    text = value.strip().replace(" ", "") if isinstance(value, str) else ""
    match = _SHORT_DURATION.fullmatch(text)
    if text and match and any(match.groups()):
        days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
        return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    try:
        return jit.parse_duration(value, "advance", code="InvalidClockRequest")
    except ArmError as err:
        raise ArmError(
            400,
            "InvalidClockRequest",
            f"advance must be a duration such as '2h', '90m', '1d' or 'PT2H', got {value!r}.",
        ) from err


def _faults(emulator: Emulator, method: str, body: Any) -> Response:
    from .server import Fault

    if method == "GET":
        return Response(200, {"faults": [f.__dict__ for f in emulator.faults]})
    if method == "DELETE":
        emulator.set_faults([])
        return Response(204)
    if method != "PUT":
        raise ArmError(405, "MethodNotAllowed", "faults takes GET, PUT and DELETE.")
    items = body.get("faults") if isinstance(body, dict) else body
    if not isinstance(items, list):
        raise ArmError(400, "InvalidFaults", 'PUT /_emulator/faults takes {"faults": [{"status": 429, ...}]}.')
    faults = []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("drop"), bool):
            # true = cut before the request is processed (nothing happens, the client sees a reset),
            # false = no drop; "before" and "after" (the change is made, only the answer is lost) as they are.
            item = {**item, "drop": "before" if item["drop"] else None}
        try:
            fault = Fault(**item)
        except TypeError as exc:
            raise ArmError(400, "InvalidFaults", f"Invalid fault {item!r}: {exc}") from exc
        if not isinstance(fault.rate, (int, float)) or not 0.0 <= fault.rate <= 1.0:
            raise ArmError(400, "InvalidFaults", f"rate must be between 0 and 1, got {fault.rate!r}.")
        if not isinstance(fault.status, int) or not (fault.status == 0 or 400 <= fault.status <= 599):
            raise ArmError(400, "InvalidFaults", f"status must be 0 (latency only) or 400-599, got {fault.status!r}.")
        if fault.drop not in (None, "before", "after"):
            raise ArmError(400, "InvalidFaults", f'drop must be true, false, "before" or "after", got {fault.drop!r}.')
        if fault.drop and fault.status:
            raise ArmError(400, "InvalidFaults", "a fault either drops the connection or answers a status, not both.")
        if not isinstance(fault.latency_ms, int) or fault.latency_ms < 0:
            raise ArmError(400, "InvalidFaults", f"latency_ms must be a whole number >= 0, got {fault.latency_ms!r}.")
        try:
            re.compile(fault.path or "")
        except re.error as exc:
            raise ArmError(400, "InvalidFaults", f"path must be a regular expression: {exc}.") from exc
        faults.append(fault)
    emulator.set_faults(faults)
    return Response(200, {"faults": [f.__dict__ for f in faults]})


def _state_summary(emulator: Emulator) -> dict[str, Any]:
    with emulator.store.read() as tx:
        resources, grants = tx.counts()
    return {
        "resources": resources,
        "grants": grants,
        "now": _iso(emulator.clock.now()),
        "settings": emulator.settings,
    }


def _json(request: WzRequest) -> Any:
    raw = request.get_data()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ArmError(400, "InvalidRequestContent", f"The control API takes JSON: {exc}") from exc


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")
