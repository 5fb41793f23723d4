"""Asynchronous ARM operations as Microsoft.Network answers them: `Azure-AsyncOperation`, `Location`,
`Retry-After`, and the operation status and result URLs a client polls.

The emulator applies every write before it answers; what is asynchronous is the protocol. An operation
is `InProgress` until `network_operation_seconds` (a setting, 0 by default) have passed on the emulator's
clock, then `Succeeded`. The operation id carries its own end time (base64url JSON), so nothing is stored
per write. An action with a result (Network Watcher's IP flow verify, a long-running POST) stores it, and
its `Location` URL answers it once the operation is over.

References: Azure's long-running operation protocol (https://learn.microsoft.com/azure/azure-resource-manager/
management/async-operations) and the Network swagger's `x-ms-long-running-operation-options`
(`final-state-via: azure-async-operation` for PUT, `location` for DELETE).
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from typing import Any

from ..arm import Context, Response
from ..errors import ArmError

_RESULT_KEY = "network-operation-result:"


def _encode(done_at: float) -> str:
    raw = json.dumps({"doneAt": round(done_at, 3), "n": uuid.uuid4().hex[:8]}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _done_at(operation: str) -> float | None:
    try:
        raw = base64.urlsafe_b64decode(operation + "=" * (-len(operation) % 4))
        value = json.loads(raw)["doneAt"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        return None
    return float(value) if isinstance(value, (int, float)) else None


def retry_after(ctx: Context) -> str:
    return str(int(ctx.settings.get("network_retry_after", 1)))


def started(
    ctx: Context, namespace: str, location: str, *, delete: bool = False, result: dict[str, Any] | None = None
) -> dict[str, str]:
    """The headers of an answer that starts an operation. A DELETE, and an action with a `result` (kept for
    its `Location` URL to answer), also get `Location`."""
    seconds = float(ctx.settings.get("network_operation_seconds") or 0)
    operation = _encode(ctx.now.timestamp() + seconds)
    base = f"{ctx.base_url}/subscriptions/{ctx.params['sub']}/providers/{namespace}/locations/{location}"
    query = f"?api-version={ctx.api_version}"
    headers = {"Azure-AsyncOperation": f"{base}/operations/{operation}{query}", "Retry-After": retry_after(ctx)}
    if result is not None:
        ctx.tx.kv_set(_RESULT_KEY + operation, result)
    if delete or result is not None:
        headers["Location"] = f"{base}/operationResults/{operation}{query}"
    return headers


def _operation(ctx: Context) -> float:
    done_at = _done_at(ctx.params["operation"])
    if done_at is None:
        raise ArmError(404, "OperationNotFound", f"The operation '{ctx.params['operation']}' could not be found.")
    return done_at


def status(ctx: Context) -> Response:
    """GET of an `Azure-AsyncOperation` URL: InProgress, then Succeeded."""
    done = ctx.now.timestamp() >= _operation(ctx)
    headers = {} if done else {"Retry-After": retry_after(ctx)}
    return Response(200, {"status": "Succeeded" if done else "InProgress"}, headers)


def result(ctx: Context) -> Response:
    """GET of a `Location` URL: 202 (come back) while the operation runs, then the action's result (200) or,
    for a DELETE, 204."""
    if ctx.now.timestamp() < _operation(ctx):
        return Response(202, None, {"Location": ctx.base_url + ctx.path + f"?api-version={ctx.api_version}"})
    stored = ctx.tx.kv_get(_RESULT_KEY + ctx.params["operation"])
    return Response(204) if stored is None else Response(200, stored)


def register(registry: Any, namespace: str) -> None:
    base = f"/subscriptions/<sub>/providers/{namespace}/locations/<location>"
    scope = lambda ctx: f"/subscriptions/{ctx.params['sub']}"
    # ARM lets anyone who can see the subscription poll its operations.
    registry.add("GET", f"{base}/operations/<operation>", status, action="", scope=scope)
    registry.add("GET", f"{base}/operationResults/<operation>", result, action="", scope=scope)
