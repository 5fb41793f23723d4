"""README.md's "Try it against the emulator" block, run as written in a shell, as a new user pastes it
after `make demo`: the collection resolves, the exports come from `jit-emulator env`, the playbooks work."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from support.ansible import REPO, collections_path


def readme_block() -> str:
    text = (REPO / "README.md").read_text()
    section = text.split("## Try it against the emulator", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert match, "no sh block under 'Try it against the emulator'"
    return match.group(1)


def test_the_readme_quick_start_block_works(tmp_path: Path) -> None:
    block = readme_block()
    # A checkout after `make demo`, in its own directory so that the block's state file is private to this
    # test: the virtualenv (the one running the tests, so the oldest-versions run uses its own), the
    # playbooks, and the collection link that make demo creates (collections_path() is what it calls).
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / ".venv").symlink_to(Path(sys.executable).parent.parent, target_is_directory=True)
    (checkout / "playbooks").symlink_to(REPO / "playbooks", target_is_directory=True)
    (checkout / ".build").mkdir()
    (checkout / ".build" / "collections").symlink_to(collections_path(), target_is_directory=True)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),  # no ~/.azure, no ansible.cfg of the user
        "LANG": "C.UTF-8",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / ".ansible-tmp"),
    }
    run = subprocess.run(
        ["bash", "-e", "-c", block], cwd=checkout, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    assert "azsecops.jit.jit_policy" in run.stdout.lower()  # ansible-doc found it (2.16 prints it upper-case)
    assert re.search(r"vm-web-01\s+onboarded\s+policy default", run.stdout)  # the onboard role's table
    recaps = re.findall(r"localhost\s+: ok=\d+\s+changed=(\d+)\s+unreachable=0\s+failed=0", run.stdout)
    assert len(recaps) == 2 and recaps[0] == "1", run.stdout[-3000:]  # onboard changed the policy
    assert "1 VM(s) under JIT in 1 policies (0 with deny rules missing)" in run.stdout  # the report's summary
    html = checkout / ".build" / "report" / "jit-report.html"
    assert html.is_file() and "vm-web-01" in html.read_text()
    # The one warning: the playbook's default ports take requests from any source, and jit_policy says so.
    warnings = [line for line in output.splitlines() if line.startswith("[WARNING]")]
    assert all("allows requests from any source (*)" in w for w in warnings), warnings
    # The emulator was stopped by the block's last line: it removes its ready file on the way out.
    ready = checkout / ".build" / "try.sqlite.ready.json"
    deadline = time.monotonic() + 20
    while ready.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not ready.exists()
