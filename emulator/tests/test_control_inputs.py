"""The control API takes what its documentation promises: `"drop": true`, `2h`-style clock durations,
relative world paths (relative to the emulator's working directory), and answers 400 naming the path,
never 500, for a world it cannot read."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from azure.core.exceptions import ServiceResponseError
from conftest import Env


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize(
    ("advance", "expected"),
    [
        ("2h", timedelta(hours=2)),
        ("90m", timedelta(minutes=90)),
        ("1d", timedelta(days=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("45s", timedelta(seconds=45)),
        ("PT2H", timedelta(hours=2)),
    ],
)
def test_the_clock_takes_short_and_iso_durations(env: Env, advance: str, expected: timedelta) -> None:
    start = parse(env.control("GET", "clock").json()["now"])
    moved = parse(env.advance(advance))
    assert expected <= moved - start < expected + timedelta(seconds=30)


@pytest.mark.parametrize("bad", ["2x", "h", "", "2 hours", "P1M", 7])
def test_a_bad_clock_duration_is_a_400_naming_the_forms(emu: Env, bad: object) -> None:
    response = emu.control("POST", "clock", {"advance": bad})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "InvalidClockRequest"
    assert "'2h'" in response.json()["error"]["message"]


def test_drop_true_cuts_the_connection_before_the_request_and_false_is_no_drop(env: Env) -> None:
    set_ok = env.control("PUT", "faults", {"faults": [{"drop": True, "count": 1, "method": "DELETE"}]})
    assert set_ok.status_code == 200 and set_ok.json()["faults"][0]["drop"] == "before"
    net = env.network(retry_total=0)
    with pytest.raises(ServiceResponseError):
        net.security_rules.begin_delete("rg-app", "nsg-ssh-open", "allow-ssh-from-anywhere").result()
    # "before": the request was not processed, the rule is still there.
    assert [r.name for r in net.security_rules.list("rg-app", "nsg-ssh-open")] == ["allow-ssh-from-anywhere"]
    no_drop = env.control("PUT", "faults", {"faults": [{"drop": False, "latency_ms": 1}]})
    assert no_drop.status_code == 200 and no_drop.json()["faults"][0]["drop"] is None


def test_a_relative_world_path_is_relative_to_the_emulators_working_directory(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rg = "/subscriptions/${subscription_id}/resourceGroups/rg-relative"
    (tmp_path / "worlds").mkdir()
    (tmp_path / "worlds" / "extra.yml").write_text(f"resources:\n  - id: {rg}\n    body: {{location: westeurope}}\n")
    monkeypatch.chdir(tmp_path)  # the emulator runs in this process: its working directory is ours
    loaded = env.control("POST", "world", {"path": "worlds/extra.yml"})
    assert loaded.status_code == 200, loaded.text
    assert env.arm("GET", env.rg_id("rg-relative"), "2021-04-01").status_code == 200
    missing = env.control("POST", "world", {"path": "worlds/absent.yml"})
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "InvalidWorld"
    assert str(tmp_path / "worlds" / "absent.yml") in missing.json()["error"]["message"]
    reset = env.control("POST", "reset", {"world": "worlds/absent.yml"})
    assert reset.status_code == 400 and os.path.join("worlds", "absent.yml") in reset.json()["error"]["message"]


def test_a_world_file_with_a_yaml_error_is_a_400_with_the_position(env: Env, tmp_path: Path) -> None:
    path = tmp_path / "broken.yml"
    path.write_text("resources: [\n  - id: x\n")
    response = env.control("POST", "world", {"path": str(path)})
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert str(path) in message and "not valid YAML" in message and "line" in message
