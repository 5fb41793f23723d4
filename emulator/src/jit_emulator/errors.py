"""ARM error responses (CloudError) as an exception every layer can raise."""

from __future__ import annotations

from typing import Any


class ArmError(Exception):
    """An error answered as ARM's CloudError body: {"error": {"code", "message", "target"?, "details"?}}."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        target: str | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.target = target
        self.details = details
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.target is not None:
            error["target"] = self.target
        if self.details is not None:
            error["details"] = self.details
        return {"error": error}


def bad_request(code: str, message: str, *, target: str | None = None) -> ArmError:
    return ArmError(400, code, message, target=target)


def not_found(code: str, message: str) -> ArmError:
    return ArmError(404, code, message)


def conflict(code: str, message: str, *, target: str | None = None) -> ArmError:
    return ArmError(409, code, message, target=target)
