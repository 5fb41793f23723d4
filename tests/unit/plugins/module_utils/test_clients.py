# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_clients: an answer that is not JSON is an Azure error (DecodeError), not a Python ValueError."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from ansible_collections.azsecops.jit.plugins.module_utils._clients import _raw
from ansible_collections.azsecops.jit.plugins.module_utils._errors import _azure_errors
from azure.core.exceptions import DecodeError


def pipeline_response(text: str) -> SimpleNamespace:
    return SimpleNamespace(http_response=SimpleNamespace(text=lambda: text, status_code=200, reason="OK"))


def test_raw_returns_the_json_as_sent() -> None:
    assert _raw(pipeline_response('{"properties": {"a": 1}}'), None, {}) == {"properties": {"a": 1}}
    assert _raw(pipeline_response(""), None, {}) == {}


def test_raw_answer_that_is_not_json_is_an_azure_error() -> None:
    with pytest.raises(DecodeError, match="Azure's answer is not JSON") as raised:
        _raw(pipeline_response("<html>Gateway Timeout</html>"), None, {})
    assert isinstance(raised.value, _azure_errors())
