# Copyright (c) 2026, azsecops.jit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The names and descriptions JIT writes on NSGs and Azure Firewalls: recognise them, tell their generation (pure).

Private API of azsecops.jit: every name may change in any release. Nothing here imports Ansible or an
Azure SDK or does I/O.

Two generations of names exist side by side. In May 2023 Defender for Cloud renamed what JIT writes
(release notes, "Revised JIT (Just-In-Time) rule naming conventions",
https://learn.microsoft.com/azure/defender-for-cloud/release-notes-archive): NSG rules
``SecurityCenter-JITRule`` -> ``MicrosoftDefenderForCloud-JITRule``, rule descriptions ``ASC JIT Network
Access rule`` -> ``MDC JIT Network Access rule``, Azure Firewall rule collections and rules ``ASC-JIT`` ->
``MDC-JIT``. Rules written before stay as they are, so an older subscription holds the old names (here
``legacy``) and, once new requests or policy edits write rules, the new ones (``current``) in the same NSG.

The shapes are those of real NSG exports (Terraform, Bicep and ARM files people published), not the
documentation's placeholder notation ``SecurityCenter-JITRule_-xxxxxxx-xxxx...``:

* deny: ``<prefix>_<int>_<32 hex>``, e.g. ``SecurityCenter-JITRule_1170687618_62799A5740DE464DB71C4F619369BBAD``
  and ``MicrosoftDefenderForCloud-JITRule_-1151891693_545C5DBC675443D3BF179EFD1EF8254D``;
* allow: ``<prefix>-<int>-<32 hex>``, e.g. ``SecurityCenter-JITRule-1170687618-8C18BF8921F041989344B4F1E3A0C370``
  beside that VM's deny rule: the int is shared by a VM's deny and allow rules.

Decisions where the exports are silent, with the reasoning:

* ``<int>`` is a signed 32-bit integer in decimal (deny rules of real exports carry negative ones, the
  documented digit placeholder is seven to ten digits long). An allow rule shares its VM's int, so a VM
  whose deny rule carries ``-838343494`` gets allow rules ``<prefix>--838343494-<hex>``; no export shows
  one yet, but half of all VMs have a negative int, so it is accepted. No sign other than ``-``, no
  leading zero, nothing outside -2147483648..2147483647 (a decimal int never renders that way).
* The hex part is upper case in every export (2019 to 2024, both prefixes); a lower-case one has never
  been seen, so it is a look-alike. The prefix is matched case-sensitively for the same reason. ARM
  compares resource names case-insensitively, but JIT always writes the same spelling; a different one
  was typed by a person.
* A name that starts with either prefix (any case) but does not have these shapes is a look-alike: JIT
  did not write it and will never remove it, yet it reads as JIT's to whoever looks at the NSG.
* Firewall: the release notes name the collection and rule prefix only (``ASC-JIT``/``MDC-JIT``); a
  suffix after ``-`` or ``_`` is accepted, since no export of a JIT firewall collection has been published.
"""

from __future__ import annotations

import dataclasses
import re

_CURRENT = "current"
_LEGACY = "legacy"
_NAMINGS = (_CURRENT, _LEGACY)

_DENY = "deny"
_ALLOW = "allow"
_UNKNOWN = "unknown"

_PREFIXES = {"MicrosoftDefenderForCloud-JITRule": _CURRENT, "SecurityCenter-JITRule": _LEGACY}
_DESCRIPTION_WORDS = {"MDC": _CURRENT, "ASC": _LEGACY}
_FIREWALL_WORDS = {"MDC-JIT": _CURRENT, "ASC-JIT": _LEGACY}

_INT32_MIN = -(2**31)
_INT32_MAX = 2**31 - 1

_PREFIX = "(?P<prefix>MicrosoftDefenderForCloud-JITRule|SecurityCenter-JITRule)"
_INT = "(?P<int>-?(?:0|[1-9][0-9]{0,9}))"
_HEX = "(?P<hex>[0-9A-F]{32})"
_DENY_NAME_RE = re.compile(rf"{_PREFIX}_{_INT}_{_HEX}", re.ASCII)
_ALLOW_NAME_RE = re.compile(rf"{_PREFIX}-{_INT}-{_HEX}", re.ASCII)

_DESCRIPTION_RE = re.compile(
    r"(?P<word>ASC|MDC) JIT Network Access rule (?P<request>created by an initiation request )?"
    r"for policy '(?P<policy>[^']*)' of VM '(?P<vm>[^']*)'",
    re.IGNORECASE,
)
_FIREWALL_NAME_RE = re.compile(r"(?P<word>ASC-JIT|MDC-JIT)(?:[-_][0-9A-Za-z_-]+)?", re.ASCII)


@dataclasses.dataclass(frozen=True)
class _RuleName:
    """A JIT rule name taken apart: its kind, its generation, and the VM int and rule hex it carries."""

    kind: str  # deny / allow
    naming: str  # current / legacy
    vm_int: int
    hex: str


def _read_rule_name(name: object) -> _RuleName | None:
    """The parts of a real JIT NSG rule name; None for any other name (look-alikes included)."""
    if not isinstance(name, str):
        return None
    for kind, pattern in ((_DENY, _DENY_NAME_RE), (_ALLOW, _ALLOW_NAME_RE)):
        match = pattern.fullmatch(name)
        if match is not None:
            number = int(match.group("int"))
            if not _INT32_MIN <= number <= _INT32_MAX or match.group("int") == "-0":
                return None
            return _RuleName(kind, _PREFIXES[match.group("prefix")], number, match.group("hex"))
    return None


def _is_lookalike(name: str) -> bool:
    lowered = name.lower()
    return any(lowered.startswith(prefix.lower()) for prefix in _PREFIXES)


def _jit_rule_kind(name: object) -> str | None:
    """``deny`` / ``allow`` for JIT's two name shapes, ``unknown`` for a look-alike, None for any other name."""
    parsed = _read_rule_name(name)
    if parsed is not None:
        return parsed.kind
    if isinstance(name, str) and _is_lookalike(name):
        return _UNKNOWN
    return None


def _jit_rule_naming(name: object) -> str | None:
    """``current`` (MicrosoftDefenderForCloud-JITRule) or ``legacy`` (SecurityCenter-JITRule); None otherwise."""
    parsed = _read_rule_name(name)
    return parsed.naming if parsed is not None else None


def _parse_description(text: object) -> tuple[str | None, str | None, bool | None]:
    """(policy name, VM name, written for a request) from a JIT rule description, or (None, None, None).

    Both forms and both generations are understood: "MDC JIT Network Access rule for policy '<policy>' of
    VM '<vm>'." (deny) and "... rule created by an initiation request for policy '<policy>' of VM '<vm>'."
    (allow), with ``ASC`` instead of ``MDC`` on rules written before May 2023.
    """
    if not isinstance(text, str):
        return None, None, None
    match = _DESCRIPTION_RE.search(text)
    if match is None:
        return None, None, None
    return match.group("policy") or None, match.group("vm") or None, match.group("request") is not None


def _description_naming(text: object) -> str | None:
    """``current`` for an ``MDC JIT ...`` description, ``legacy`` for ``ASC JIT ...``, else None."""
    if not isinstance(text, str):
        return None
    match = _DESCRIPTION_RE.search(text)
    return _DESCRIPTION_WORDS[match.group("word").upper()] if match is not None else None


def _firewall_naming(name: object) -> str | None:
    """``current``/``legacy`` for a JIT firewall rule collection or rule name (``MDC-JIT``/``ASC-JIT``...)."""
    if not isinstance(name, str):
        return None
    match = _FIREWALL_NAME_RE.fullmatch(name)
    return _FIREWALL_WORDS[match.group("word")] if match is not None else None


def _lookalike_reason(name: str) -> str:
    return (
        f"the name {name} does not follow JIT's naming (<prefix>_<int>_<32 upper-case hex> for deny, "
        "<prefix>-<int>-<32 upper-case hex> for allow, the prefix MicrosoftDefenderForCloud-JITRule or, before "
        "May 2023, SecurityCenter-JITRule): JIT did not create this rule and will never remove it"
    )
