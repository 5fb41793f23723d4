# Test-only stdout callback: every task result as one JSON document (ansible-core 2.19 moved the json
# callback to ansible.posix, which is not installable here without Galaxy).
from __future__ import annotations

import json

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: results_json
type: stdout
short_description: task results as one JSON document, for the integration tests
description: Prints every task result as one JSON document at the end of the run.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "results_json"

    def __init__(self) -> None:
        super().__init__()
        self._tasks: list[dict] = []
        self._by_uuid: dict[str, dict] = {}

    def _entry(self, task) -> dict:
        uuid = task._uuid
        if uuid not in self._by_uuid:
            entry = {"task": {"name": task.get_name()}, "hosts": {}}
            self._by_uuid[uuid] = entry
            self._tasks.append(entry)
        return self._by_uuid[uuid]

    def _record(self, result, **extra) -> None:
        data = dict(result._result)
        data.update(extra)
        self._entry(result._task)["hosts"][result._host.get_name()] = data

    def v2_runner_on_ok(self, result) -> None:
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False) -> None:
        self._record(result, failed=True)

    def v2_runner_on_skipped(self, result) -> None:
        self._record(result, skipped=True)

    def v2_runner_on_unreachable(self, result) -> None:
        self._record(result, unreachable=True)

    def v2_playbook_on_stats(self, stats) -> None:
        self._display.display(json.dumps({"plays": [{"tasks": self._tasks}]}, default=str))
