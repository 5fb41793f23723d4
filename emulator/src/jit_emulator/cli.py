"""`jit-emulator serve`: start the emulator and print one JSON line once it is ready."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from typing import Any

from .errors import ArmError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jit-emulator", description=__doc__)
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
    serve.add_argument("--page-size", type=int, default=None, help="items per page of every list")
    serve.add_argument("--home-location", default=None, help="the ASC home region (default westeurope)")
    serve.add_argument("--log-level", default="WARNING")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    from .server import Emulator
    from .world import load_world

    settings: dict[str, Any] = {}
    if args.page_size is not None:
        settings["page_size"] = args.page_size
    if args.home_location:
        settings["home_location"] = args.home_location
    emulator = Emulator(args.state, tls_hostnames=tuple(args.tls_hostname), settings=settings)
    if args.world:
        try:
            load_world(emulator, args.world)
        except (ArmError, OSError) as err:
            print(f"jit-emulator: cannot load world {args.world}: {err}", file=sys.stderr)
            return 2
    server, info = emulator.make_server(args.host, args.port)

    def _stop(signum: int, frame: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(json.dumps(info), flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
