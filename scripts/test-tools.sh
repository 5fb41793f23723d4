#!/usr/bin/env bash
# System tools the role tests use: headless Chromium (the report's HTML page is checked in a real browser)
# and OpenSSH (the Molecule scenario connects to each host through its grant). Installed with apt-get when
# missing and the machine allows it (root, Debian/Ubuntu); otherwise the tests that need them say so.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || missing+=(chromium)
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v ssh >/dev/null 2>&1 || missing+=(openssh-client)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing ${missing[*]} (apt-get)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}") >/dev/null
else
  echo "note: ${missing[*]} missing and not installable here (needs root and apt-get); the role tests need them" >&2
fi
