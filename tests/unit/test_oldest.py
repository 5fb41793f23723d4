"""tests/oldest.txt (what `make integration-oldest` installs) pins exactly the lower bounds the collection declares."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def _lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def test_oldest_pins_the_lower_bound_of_every_runtime_requirement() -> None:
    declared = dict(re.fullmatch(r"([\w.-]+)>=([\w.]+)", line).groups() for line in _lines(REPO / "requirements.txt"))
    pinned = dict(
        m.groups() for m in (re.fullmatch(r"([\w.-]+)==([\w.]+)", x) for x in _lines(REPO / "tests/oldest.txt")) if m
    )
    assert pinned == declared


def test_oldest_ansible_core_is_the_lowest_runtime_yml_allows() -> None:
    required = yaml.safe_load((REPO / "meta/runtime.yml").read_text())["requires_ansible"]
    low = re.fullmatch(r">=(\d+)\.(\d+)(?:\.\d+)?", required).groups()
    assert f"ansible-core>={low[0]}.{low[1]},<{low[0]}.{int(low[1]) + 1}" in _lines(REPO / "tests/oldest.txt")
