"""docs/as-recorded.md names, for each fact of Azure as recorded, the tests asserting it: every one must exist."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "emulator" / "docs" / "as-recorded.md"
ROOTS = {"E": "emulator/tests", "I": "tests/integration", "U": "tests/unit/plugins/module_utils"}
CITED = re.compile(r"`([EIU])/([\w/]+\.py)::(\w+)`")


def test_every_test_the_table_cites_exists() -> None:
    cited = CITED.findall(DOC.read_text(encoding="utf-8"))
    assert len(cited) > 50
    missing = []
    for root, path, name in sorted(set(cited)):
        source = (REPO / ROOTS[root] / path).read_text(encoding="utf-8")
        if not re.search(rf"^def {name}\(", source, re.MULTILINE):
            missing.append(f"{root}/{path}::{name}")
    assert missing == []


def test_every_fact_row_names_a_test() -> None:
    rows = [line for line in DOC.read_text(encoding="utf-8").splitlines() if re.match(r"^\| \d+\.\d+ \|", line)]
    assert len(rows) >= 35
    assert [row for row in rows if not CITED.search(row.rsplit("|", 2)[-2])] == []
