"""The report role against jit-emulator; its HTML page checked in real headless Chromium against its JSON."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from support.ansible import run_playbook
from support.emulator import EmulatorProcess
from test_jit_request import nsg, onboard, request_task, ssh_from
from test_role_access import run

LOCAL = {"all": {"hosts": {"localhost": {}}}}
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium with a fresh profile, no network side traffic (Debian's `chromium`)."""
    assert CHROMIUM, "headless Chromium is required: apt-get install chromium (make test installs it as root)"
    with tempfile.TemporaryDirectory() as profile:
        cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
        cmd += ["--disable-background-networking", "--disable-component-update", "--disable-sync"]
        cmd += [f"--user-data-dir={profile}", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


class Dom(HTMLParser):
    """Elements with their attributes, and the text inside each element id."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str], list[str]]] = []
        self._open: list[tuple[str, dict[str, str], list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = (tag, {k: v or "" for k, v in attrs}, [tag])
        self.elements.append(element)
        self._open.append(element)
        for _tag, _attrs, path in self._open[:-1]:
            path.append(tag)

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def find(self, tag: str | None = None, **attrs: str) -> list[dict[str, str]]:
        return [
            a
            for t, a, _p in self.elements
            if (tag is None or t == tag) and all(a.get(k) == v for k, v in attrs.items())
        ]

    def rows(self, table_id: str) -> int:
        """Rows of a table's tbody (the parser keeps document order, so count tr after the table's tbody)."""
        inside, count = False, 0
        for tag, attrs, _path in self.elements:
            if tag == "table":
                inside = attrs.get("id") == table_id
            elif inside and tag == "tr" and count >= 0:
                count += 1
        return max(count - 1, 0)  # the header row


def deny_rules(emu: EmulatorProcess, name: str) -> list[dict[str, Any]]:
    # deny rules of both naming generations (Azure writes MicrosoftDefenderForCloud-JITRule_ today)
    prefixes = ("SecurityCenter-JITRule_", "MicrosoftDefenderForCloud-JITRule_")
    return [r for r in nsg(emu, name)["properties"]["securityRules"] if r["name"].startswith(prefixes)]


def report_play(out: Path, **role_vars: Any) -> list[dict[str, Any]]:
    return [
        {
            "name": "report",
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
            "roles": [{"role": "azsecops.jit.report", "vars": {"report_dir": str(out), **role_vars}}],
        }
    ]


def test_report_files_numbers_and_fail_on(tmp_path: Path, emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    onboard(emu)
    # a grant superseded by a newer one, which then expires; a live grant; a deny rule deleted by hand
    for source in ("203.0.113.5", "203.0.113.6"):
        grant = run_playbook([request_task(ssh_from(source), justification="CHG-1")], owner_env)
        assert grant.rc == 0, grant.stdout[-2000:]
    emu.advance("PT2H")
    live = run_playbook([request_task(ssh_from("203.0.113.7", vm="vm-both-01"), justification="CHG-2")], owner_env)
    assert live.rc == 0, live.stdout[-2000:]
    sub = emu.info["subscription_id"]
    gone = deny_rules(emu, "nsg-both-01")[0]["name"]
    emu.arm(
        "DELETE",
        f"/subscriptions/{sub}/resourceGroups/rg-app/providers/Microsoft.Network/networkSecurityGroups/nsg-both-01"
        f"/securityRules/{gone}",
        "2024-05-01",
    )
    emu.clear_requests()

    out = tmp_path / "report"
    result = run(
        tmp_path,
        report_play(out, report_fail_on="missing,drifted,exposed"),
        {"all": {"hosts": {"localhost": {}}}},
        owner_env,
    )
    # the missing deny rule and the SSH port open to the Internet fail the job, after the files are written
    assert result.returncode == 2, result.stdout[-3000:]
    assert "JIT report findings: missing, exposed" in result.stdout
    assert "port 22 of vm-ssh-open open to the Internet without JIT" in result.stdout
    assert emu.writes() == []
    # one jit_rule_facts and one jit_vm_info per subscription: the VMs are listed once, whatever their number
    vm_lists = [r for r in emu.requests() if r["path"].endswith("/providers/Microsoft.Compute/virtualMachines")]
    assert len(vm_lists) == 2, [r["path"] for r in vm_lists]
    data = json.loads((out / "jit-report.json").read_text())
    assert data["summary"]["active_grants"] == 1 and data["grants"][0]["vm"] == "vm-both-01"
    assert data["grants"][0]["justification"] == "CHG-2" and data["grants"][0]["seconds_left"] > 0
    assert sorted(h["outcome"] for h in data["history"]) == ["expired", "superseded"]
    # the demo world: two VMs onboarded, five eligible ones not, three JIT cannot protect (with the reason)
    assert data["coverage"] == {"protected": 1, "protected_rules_missing": 1, "not_configured": 5, "unsupported": 3}
    assert sorted(v["vm"] for v in data["not_configured_vms"]) == [
        "vm-db-01",
        "vm-fw-01",
        "vm-north-01",
        "vm-ssh-open",
        "vm-win-01",
    ]
    assert {v["vm"]: v["reason_code"] for v in data["unsupported_vms"]} == {
        "classic-vm-01": "classic_vm",
        "vm-nonsg-01": "no_nsg_or_firewall",
        "vm-fwpol-01": "firewall_policy",
    }
    assert all(v["reason"] for v in data["unsupported_vms"])
    assert [(v["vm"], v["ports"], v["exposure"]) for v in data["exposed_vms"]] == [
        ("vm-ssh-open", [22], [{"port": 22, "nsg": "nsg-ssh-open", "rule": "allow-ssh-from-anywhere"}])
    ]
    assert (data["summary"]["not_configured"], data["summary"]["unsupported"], data["summary"]["exposed_vms"]) == (
        5,
        3,
        1,
    )
    missing = [f for f in data["findings"] if f["kind"] == "missing"]
    assert missing and all(f["vm"] == "vm-both-01" for f in missing)
    assert data["findings_by_kind"]["not_configured"] == 5 and data["findings_by_kind"]["unsupported"] == 3
    assert data["failed_on"] == ["missing", "exposed"]
    assert sum(b["total"] for b in data["grants_over_time"]) == 3
    md = (out / "jit-report.md").read_text()
    assert "| VMs under JIT with deny rules missing | 1 |" in md and "CHG-2" in md
    assert "| VMs JIT cannot protect (unsupported) | 3 |" in md
    assert "| vm-ssh-open | rg-app | not configured | 22 | 22: nsg-ssh-open/allow-ssh-from-anywhere |" in md

    # the page, as a browser renders it
    page = (out / "jit-report.html").resolve().as_uri()
    dumped = chromium("--dump-dom", page)
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = Dom()
    dom.feed(dumped.stdout)
    assert dom.find("h1", id="title")
    for key, value in data["summary"].items():
        cards = dom.find("div", id=f"summary-{key.replace('_', '-')}")
        if cards:
            assert cards[0]["data-value"] == str(value), key
    assert len(dom.find("div", **{"class": "card"})) + len(dom.find("div", **{"class": "card bad"})) == 9
    assert dom.find("div", id="summary-exposed-vms")[0]["data-value"] == "1"
    segments = {a["data-series"]: int(a["data-value"]) for a in dom.find("rect", **{"class": "segment"})}
    assert segments == data["coverage"]
    assert dom.find("svg", id="chart-grants")[0]["data-total"] == "3"
    buckets = dom.find("g", **{"class": "bucket"})
    assert [b["data-total"] for b in buckets] == [str(b["total"]) for b in data["grants_over_time"]]
    assert dom.rows("grants") == 1 and dom.rows("history") == 2 and dom.rows("findings") == len(data["findings"])
    assert dom.rows("not-configured") == 5 and dom.rows("unsupported") == 3 and dom.rows("exposed") == 1
    assert {a["data-vm"]: a["data-reason-code"] for a in dom.find("tr") if "data-reason-code" in a} == {
        v["vm"]: v["reason_code"] for v in data["unsupported_vms"]
    }
    assert [(a["data-vm"], a["data-ports"]) for a in dom.find("tr") if "data-ports" in a] == [("vm-ssh-open", "22")]
    # self-contained: no script, stylesheet link, image or frame, and nothing fetched from anywhere
    assert not [t for t, _a, _p in dom.elements if t in ("script", "link", "img", "iframe", "object", "embed")]
    assert not [a for _t, a, _p in dom.elements if any(v.startswith(("http:", "https:", "//")) for v in a.values())]
    shot = tmp_path / "page.png"
    picture = chromium("--window-size=1200,1600", f"--screenshot={shot}", page)
    assert picture.returncode == 0 and shot.stat().st_size > 20_000, picture.stderr[-2000:]

    # the same estate again: the report's substance did not change, so no task reports a change
    again = run(tmp_path, report_play(out), LOCAL, owner_env)
    assert again.returncode == 0, again.stdout[-3000:]
    assert "changed=0" in again.stdout


def test_bad_window_is_named(tmp_path: Path, emu: EmulatorProcess, owner_env: dict[str, str]) -> None:
    result = run(
        tmp_path, report_play(tmp_path / "r", report_window="a week"), {"all": {"hosts": {"localhost": {}}}}, owner_env
    )
    assert result.returncode != 0
    assert "report_window must look like 7d, 24h or 90m (got a week)" in result.stdout
    assert emu.requests() == []
