"""`jit-emulator serve`: start the emulator and print one JSON line once it is ready.

`jit-emulator env --state FILE`: print `export ...` lines for a running emulator's state file, so a
shell (or a CI step) points Azure tools at it without copying values from the ready line.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import shutil
import signal
import sys
import threading
import time
import urllib.parse
from typing import Any

from . import __version__
from .errors import ArmError

# Written next to a --state file while the emulator serves (removed when it stops): the ready line,
# for `jit-emulator env`. It holds the built-in principal's secret, so it is readable by its owner only.
READY_SUFFIX = ".ready.json"
CONTROL_TOKEN_ENV = "JIT_EMULATOR_CONTROL_TOKEN"  # noqa: S105 (the variable's name, not a token)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jit-emulator", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the emulator over HTTPS until SIGTERM/SIGINT")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=0, help="port (default 0: any free port)")
    serve.add_argument("--state", default=None, help="SQLite state file; reusing it keeps everything")
    serve.add_argument("--world", default=None, help="world YAML to load at start ('demo' for the built-in one)")
    serve.add_argument(
        "--tls-hostname",
        action="append",
        default=[],
        help="extra name for the certificate (repeatable), e.g. management.azure.com",
    )
    serve.add_argument(
        "--advertise-url",
        default=None,
        help="the https URL clients reach the emulator by (a CI service or compose name, e.g. https://emulator"
        " or https://emulator:8443); it goes into the ready line and its host into the certificate",
    )
    serve.add_argument(
        "--control-token",
        default=None,
        help=f"let callers that are not on loopback use the control API with 'Authorization: Bearer TOKEN'"
        f" (or set {CONTROL_TOKEN_ENV}); without it the control API answers loopback callers only",
    )
    serve.add_argument("--page-size", type=int, default=None, help="items per page of every list")
    serve.add_argument("--home-location", default=None, help="the ASC home region (default westeurope)")
    serve.add_argument("--log-level", default="WARNING")

    env = sub.add_parser(
        "env",
        help="print 'export ...' lines for a running emulator (from its --state file)",
        description="Print the environment the azsecops.jit modules (and other Azure tools) need to reach a"
        ' running emulator: eval "$(jit-emulator env --state FILE)".',
    )
    env.add_argument("--state", required=True, help="the --state file the emulator was started with")
    env.add_argument(
        "--principal",
        default=None,
        help="client id or display name of a principal of the world (default: the built-in Owner)",
    )
    env.add_argument(
        "--wait",
        type=float,
        default=0,
        metavar="SECONDS",
        help="wait up to SECONDS for the emulator to be ready (after starting it in the background)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "env":
        return _env(args.state, args.principal, args.wait)
    return _serve(args)


def _advertised(url: str | None) -> tuple[str, str] | None:
    """(scheme://host[:port] as given, hostname) of --advertise-url; raises ValueError when unusable."""
    if url is None:
        return None
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme.lower() != "https" or not parts.hostname:
        raise ValueError(f"--advertise-url must be an https:// URL such as https://emulator:8443, got {url!r}")
    if parts.path.strip("/") or parts.query:
        raise ValueError(f"--advertise-url is a scheme, host and port only (no path), got {url!r}")
    return f"https://{parts.netloc}", parts.hostname


def _serve(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    from .server import Emulator
    from .world import load_world

    try:
        advertised = _advertised(args.advertise_url)
    except ValueError as err:
        print(f"jit-emulator: {err}", file=sys.stderr)
        return 2
    settings: dict[str, Any] = {}
    if args.page_size is not None:
        settings["page_size"] = args.page_size
    if args.home_location:
        settings["home_location"] = args.home_location
    # Absolute paths: the ready line is read by other processes, in other working directories.
    state = os.path.abspath(args.state) if args.state else None
    hostnames = tuple(args.tls_hostname) + ((advertised[1],) if advertised else ())
    emulator = Emulator(state, tls_hostnames=hostnames, settings=settings)
    emulator.control_token = args.control_token or os.environ.get(CONTROL_TOKEN_ENV) or None
    ready_file = (state + READY_SUFFIX) if state else None
    try:
        if args.world:
            try:
                load_world(emulator, args.world)
            except (ArmError, OSError) as err:
                print(f"jit-emulator: cannot load world {args.world}: {_reason(err)}", file=sys.stderr)
                return 2
        server, info = emulator.make_server(args.host, args.port)
        if advertised:
            info = _advertise(info, advertised[0], server.server_port)

        def _stop(signum: int, frame: Any) -> None:
            threading.Thread(target=server.shutdown, daemon=True).start()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        if ready_file:
            _write_private(ready_file, json.dumps(info))
        print(json.dumps(info), flush=True)
        server.serve_forever()
        return 0
    finally:
        if ready_file and os.path.exists(ready_file):
            os.unlink(ready_file)
        # The temporary directory holds the server key, and without --state also the CA and the state
        # (with every principal's secret): nothing of it outlives the process.
        shutil.rmtree(emulator.tmpdir, ignore_errors=True)


def _reason(err: ArmError | OSError) -> str:
    return err.message if isinstance(err, ArmError) else str(err)


def _advertise(info: dict[str, Any], base: str, port: int) -> dict[str, Any]:
    """The ready line with the advertised URL (the listening port is kept when the URL names none)."""
    if urllib.parse.urlsplit(base).port is None:
        base = f"{base}:{port}"
    listening = info["url"]
    return {
        k: (v.replace(listening, base, 1) if isinstance(v, str) and v.startswith(listening) else v)
        for k, v in info.items()
    }


def _write_private(path: str, text: str) -> None:
    # Written under another name and renamed: a reader polling for the file never sees half of it.
    temp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temp, path)


def _env(state: str, principal: str | None, wait: float = 0) -> int:
    state = os.path.abspath(state)
    ready_file = state + READY_SUFFIX
    deadline = time.monotonic() + wait
    while not os.path.exists(ready_file) and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        with open(ready_file, encoding="utf-8") as handle:
            info = json.load(handle)
    except FileNotFoundError:
        print(
            f"jit-emulator: no emulator is serving {state} ({ready_file} is absent); start one with"
            f" 'jit-emulator serve --state {shlex.quote(state)}'",
            file=sys.stderr,
        )
        return 2
    client_id, secret = info["client_id"], info["secret"]
    if principal:
        from .store import Store

        with Store(state).read() as tx:
            known = tx.principals()
        wanted = principal.lower()
        match = next((p for p in known if wanted in (p["client_id"].lower(), p["display_name"].lower())), None)
        if match is None:
            names = ", ".join(sorted(p["display_name"] for p in known))
            print(f"jit-emulator: no principal {principal!r} in {state}; known: {names}", file=sys.stderr)
            return 2
        client_id, secret = match["client_id"], match["secret"]
    exports = {
        # The five variables AWX's "Microsoft Azure Resource Manager" credential injects ...
        "AZURE_CLOUD_ENVIRONMENT": info["cloud_environment"],
        "AZURE_SUBSCRIPTION_ID": info["subscription_id"],
        "AZURE_TENANT": info["tenant_id"],
        "AZURE_CLIENT_ID": client_id,
        "AZURE_SECRET": secret,
        # ... and the emulator's CA, as a machine trusting a private cloud's CA would set it.
        "REQUESTS_CA_BUNDLE": info["ca_bundle"],
    }
    for name, value in exports.items():
        print(f"export {name}={shlex.quote(str(value))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
