"""`molecule test --all` over extensions/molecule/, and proof that every step of every scenario really ran.

Molecule 26 reports a step whose playbook it cannot find as "Missing playbook" (or skips a step that names its
own playbook without a word); the run still passes. So the summary is parsed and each scenario must show
every step of the sequence as "Executed: Successful".
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = sorted(p.parent.name for p in (REPO / "extensions" / "molecule").glob("*/molecule.yml"))
STEPS = ["create", "prepare", "check", "converge", "idempotence", "side_effect", "verify", "destroy"]
_ANSI = re.compile(r"\x1b\[[0-9;]*m|\x1b\]8;;[^\x1b]*\x1b\\")


@pytest.fixture(scope="module")
def molecule_run() -> str:
    link = REPO / ".build" / "collections" / "ansible_collections" / "azsecops" / "jit"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink():
        link.symlink_to(REPO, target_is_directory=True)
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "NO_COLOR": "1", "ANSIBLE_NOCOLOR": "1"}
    env = {k: v for k, v in env.items() if not k.startswith("AZURE_")}
    proc = subprocess.run(
        [f"{bin_dir}/molecule", "test", "--all"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )
    out = _ANSI.sub("", proc.stdout + proc.stderr)
    (REPO / ".build" / "molecule.log").write_text(out)
    assert proc.returncode == 0, out[-6000:]
    return out


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_step_ran(molecule_run: str, scenario: str) -> None:
    # "INFO [access > verify] Executed: Successful" without a terminal, "access ➜ verify: Executed: ..." with one
    name = re.escape(scenario)
    pattern = rf"(?:\[{name} > (\w+)\]|^{name} ➜ (\w+):) Executed: (.+?)\s*$"
    done = [(a or b, result) for a, b, result in re.findall(pattern, molecule_run, re.MULTILINE)]
    assert [step for step, _result in done] == STEPS, done
    assert all(result == "Successful" for _step, result in done), done


def test_all_scenarios_ran(molecule_run: str) -> None:
    assert SCENARIOS, "no scenario found"
    for scenario in SCENARIOS:
        assert re.search(rf"^{re.escape(scenario)}\s+: actions=8\s+successful=8", molecule_run, re.MULTILINE), scenario
