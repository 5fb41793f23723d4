"""The emulator's control API and plain ARM calls for Molecule's prepare, side_effect and verify steps.

    emulator_ctl.py READY.json advance PT2H
    emulator_ctl.py READY.json requests [--clear]
    emulator_ctl.py READY.json arm METHOD PATH API_VERSION [BODY_JSON] [--as CLIENT_ID:SECRET]

Prints JSON. ARM calls go as the emulator's built-in Owner unless --as names another principal (the
"other writer" of a side effect), so the request log tells the role's calls from everyone else's.
"""

from __future__ import annotations

import json
import ssl
import sys
import urllib.parse
import urllib.request
from typing import Any


def _call(info: dict[str, Any], method: str, url: str, body: Any = None, token: str | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    context = ssl.create_default_context(cafile=info["ca_bundle"])
    with urllib.request.urlopen(req, context=context, timeout=60) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def _token(info: dict[str, Any], client_id: str, secret: str) -> str:
    form = urllib.parse.urlencode(
        {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            "scope": f"{info['url']}/.default",
        }
    ).encode()
    req = urllib.request.Request(f"{info['url']}/{info['tenant_id']}/oauth2/v2.0/token", data=form, method="POST")
    context = ssl.create_default_context(cafile=info["ca_bundle"])
    with urllib.request.urlopen(req, context=context, timeout=60) as resp:
        return str(json.loads(resp.read())["access_token"])


def main(argv: list[str]) -> int:
    with open(argv[1]) as handle:
        info = json.load(handle)
    command, args = argv[2], argv[3:]
    principal = (info["client_id"], info["secret"])
    if "--as" in args:
        at = args.index("--as")
        client_id, secret = args[at + 1].split(":", 1)
        principal = (client_id, secret)
        del args[at : at + 2]
    if command == "advance":
        out = _call(info, "POST", f"{info['url']}/_emulator/clock", {"advance": args[0]})
    elif command == "requests":
        out = _call(info, "DELETE" if "--clear" in args else "GET", f"{info['url']}/_emulator/requests")
    elif command == "arm":
        method, path, api_version = args[:3]
        body = json.loads(args[3]) if len(args) > 3 else None
        sep = "&" if "?" in path else "?"
        token = _token(info, *principal)
        out = _call(info, method, f"{info['url']}{path}{sep}api-version={api_version}", body, token)
    else:
        raise SystemExit(f"unknown command {command!r}")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
