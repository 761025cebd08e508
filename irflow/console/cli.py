"""`irflow console [--port] [--scenario ...] [--person ...] [--speed]`: argument parsing only, so `irflow` starts fast."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

DEFAULT_PORT = 8640


def register(commands: Any) -> None:
    """Add `irflow console` to the CLI."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "console", help="a web console over the local engine and embedded AWS, in real time",
        description="Serve the incident console on loopback: incidents, executions with their state graph and "
                    "timeline, evidence with SHA-256, approvals to decide, scenarios to run and playbooks to start "
                    "by hand. Runs the same engine and embedded AWS as irflow simulate, on a real-time clock. "
                    "Local only for now.")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port on 127.0.0.1 (default {DEFAULT_PORT})")
    parser.add_argument("--scenario", action="append", default=[], metavar="SCENARIO",
                        help="run this scenario at start (repeat for several)")
    parser.add_argument("--person", action="append", dest="people", metavar="NAME",
                        help="who signs in and approves (repeat; default: your login name)")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="run time this many times faster than real (default 1: follow along)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Start the console and serve until Ctrl-C; exit 2 for what cannot start."""
    import getpass

    from irflow.local import speed

    if args.speed <= 0:
        print("irflow console: --speed must be positive", file=sys.stderr)
        return 2
    paths = [Path(p) for p in args.scenario]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        print(f"irflow console: no scenario file {missing[0]}", file=sys.stderr)
        return 2
    speed.apply()
    from .app import LocalConsole
    from .pages import serve

    try:
        console = LocalConsole(args.people or [getpass.getuser()], speed=args.speed, port=args.port).start()
    except OSError as error:
        print(f"irflow console: cannot listen on 127.0.0.1:{args.port}: {error.strerror or error}", file=sys.stderr)
        return 2
    return serve(console, paths, sys.stdout)
