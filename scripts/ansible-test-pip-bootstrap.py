"""Provide ansible-test's pip bootstrap script without its download.

`ansible-test --venv` fetches get-pip-<version>.py from ci-files.testing.ansible.com, which this
project's CI cannot reach (only the package registries are). Its own error message says the
script may be saved by hand to ~/.ansible/test/cache/get_pip_<version>.py; this writes an
equivalent there: pip from the standard library's ensurepip, then `pip install --upgrade` of
the exact versions ansible-test asks for, from PyPI.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import ansible_test

SCRIPT = '''"""Stand-in for get-pip.py, written by azsecops.jit's scripts/ansible-test-pip-bootstrap.py."""
import subprocess
import sys

# get-pip.py's own options: leave out setuptools/wheel, which ensurepip may bring on older Pythons.
own = {"--no-setuptools", "--no-wheel"}
flags = [a for a in sys.argv[1:] if a in own]
args = [a for a in sys.argv[1:] if a not in own]
# In a child process: ensurepip points PIP_CONFIG_FILE at /dev/null in its own process, which would
# drop the machine's pip configuration (index, CA bundle) for the install below.
status = subprocess.call([sys.executable, "-m", "ensurepip"])
status = status or subprocess.call([sys.executable, "-m", "pip", "install", "--upgrade", *args])
for flag, package in (("--no-setuptools", "setuptools"), ("--no-wheel", "wheel")):
    if not status and flag in flags:
        subprocess.call([sys.executable, "-m", "pip", "uninstall", "--yes", "--quiet", package])
sys.exit(status)
'''


def main() -> int:
    source = Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"
    match = re.search(r"pip='([0-9.]+)'", source.read_text())
    if not match:
        print("cannot find the pip version ansible-test bootstraps", file=sys.stderr)
        return 1
    version = match.group(1)
    target = Path(os.path.expanduser(f"~/.ansible/test/cache/get_pip_{version.replace('.', '_')}.py"))
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists() or target.read_text() != SCRIPT:
        target.write_text(SCRIPT)
    print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
