"""Microsoft.Insights: the subscription's Activity Log (`eventtypes/management/values`, 2015-04-01).

Events are written by the server after every ARM write or action (`jit_emulator.activity`), in their own
transaction, so a failed call (a 403, a refused JIT request) is recorded although its own changes were
rolled back. They are stored as resources of a pseudo type keyed by their event id, so a reset clears them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .. import activity
from ..arm import Context, Response, check_subscription, page

if TYPE_CHECKING:
    from ..server import Emulator

API_VERSIONS = ("2015-04-01",)


def record(emulator: Emulator, **fields: Any) -> None:
    """Write the event of one finished ARM call (no-op for calls the Activity Log does not record)."""
    item = activity.event(now=emulator.clock.now(), tenant_id=emulator.ident["tenant_id"], **fields)
    if item is None:
        return
    with emulator.store.write() as tx:
        tx.put(item["id"], activity.EVENT_TYPE, item["resourceId"], item)


def register(emulator: Emulator) -> None:
    def list_events(ctx: Context) -> Response:
        sub = ctx.params["sub"]
        check_subscription(ctx, sub)
        clauses = activity.parse_filter(ctx.query.get("$filter"))
        texts = ctx.tx.list_type_text(activity.EVENT_TYPE, sub)
        items = [item for item in (json.loads(t) for t in texts) if activity.matches(item, clauses)]
        # Newest first, as the Activity Log lists events.
        items.sort(key=lambda item: item["eventTimestamp"], reverse=True)
        return page(ctx, items)

    emulator.registry.add(
        "GET",
        "/subscriptions/<sub>/providers/Microsoft.Insights/eventtypes/management/values",
        list_events,
        action="Microsoft.Insights/eventtypes/values/read",
        scope=lambda ctx: f"/subscriptions/{ctx.params['sub']}",
        api_versions=API_VERSIONS,
    )
