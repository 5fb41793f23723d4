"""ARM's checks of the names in a URL (subscription id, resource group), as pure functions.

Both the ARM framework (`arm.py`, every resource-group scoped route) and the JIT semantics
(`jit.py`) use them, so a bad name gets the same code and message wherever it appears.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import ArmError

GUID_RE = re.compile(r"^[0-9A-Fa-f]{8}-([0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}$")
RESOURCE_GROUP_RE = re.compile(r"^[-\w\._\(\)]+$")


def validate_subscription_id(subscription_id: Any) -> None:
    """ARM's 400 InvalidSubscriptionId for anything but a GUID."""
    if not isinstance(subscription_id, str) or not GUID_RE.match(subscription_id):
        raise ArmError(
            400,
            "InvalidSubscriptionId",
            f"The provided subscription identifier '{subscription_id}' is malformed or invalid.",
        )


def validate_resource_group(name: Any) -> None:
    """ARM's 400 InvalidResourceGroup: 1-90 letters, digits, '-', '.', '(', ')' or '_', not ending in '.'."""
    if not isinstance(name, str) or not 1 <= len(name) <= 90:
        length = len(name) if isinstance(name, str) else 0
        raise ArmError(
            400,
            "InvalidResourceGroup",
            f"The provided resource group name '{name}' is {length} characters long; it must be 1 to 90 characters.",
        )
    if not RESOURCE_GROUP_RE.match(name):
        bad = "".join(sorted({c for c in name if not RESOURCE_GROUP_RE.match(c)}))
        raise ArmError(
            400,
            "InvalidResourceGroup",
            f"The provided resource group name '{name}' has these invalid characters: '{bad}'. "
            "The name can only be a letter, digit, '-', '.', '(', ')' or '_'.",
        )
    if name.endswith("."):
        raise ArmError(
            400,
            "InvalidResourceGroup",
            f"The provided resource group name '{name}' must not end with a period ('.').",
        )
