"""`irflow console [--port] [--scenario ...] [--person ...] [--speed] [--deployment ...]`: the arguments only
(the console itself is imported when the command runs, so `irflow` starts fast)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

DEFAULT_PORT = 8640
DEFAULT_TABLE = "irflow-incidents"  # deploy/central.yaml's TableName


def register(commands: Any) -> None:
    """Add `irflow console` to the CLI."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "console", help="a web console over the local engine and embedded AWS, in real time",
        description="Serve the incident console on loopback: incidents, executions with their state graph and "
                    "timeline, evidence with SHA-256, approvals to decide, scenarios to run and playbooks to start "
                    "by hand. Runs the same engine and embedded AWS as irflow simulate, on a real-time clock; "
                    "with --deployment, reads a deployment with your AWS credentials instead.")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port on 127.0.0.1 (default {DEFAULT_PORT})")
    parser.add_argument("--scenario", action="append", default=[], metavar="SCENARIO",
                        help="run this scenario at start (repeat for several)")
    parser.add_argument("--person", action="append", dest="people", metavar="NAME",
                        help="who signs in and approves (repeat; default: your login name)")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="run time this many times faster than real (default 1: follow along)")
    deployed = parser.add_argument_group("pointed at a deployment")
    deployed.add_argument("--deployment", action="store_true",
                          help="read the deployment's Step Functions, incidents table and evidence bucket instead")
    deployed.add_argument("--profile", help="AWS profile")
    deployed.add_argument("--region", help="region of the central stack")
    deployed.add_argument("--table", default=DEFAULT_TABLE, help=f"incidents table (default {DEFAULT_TABLE})")
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
    if args.deployment and (paths or args.speed != 1):
        print("irflow console: --scenario and --speed are for the local runtime, not --deployment", file=sys.stderr)
        return 2
    from .pages import Console, serve

    people = args.people or [getpass.getuser()]
    try:
        if args.deployment:
            console: Console = _deployed(args, people)
        else:
            speed.apply()
            from .app import LocalConsole

            console = LocalConsole(people, speed=args.speed, port=args.port).start()
    except OSError as error:
        print(f"irflow console: cannot listen on 127.0.0.1:{args.port}: {error.strerror or error}", file=sys.stderr)
        return 2
    except LookupError as error:
        print(f"irflow console: {error.args[0]}", file=sys.stderr)
        return 2
    return serve(console, paths, sys.stdout)


def _deployed(args: argparse.Namespace, people: list[str]) -> Any:
    """The console over a deployment, once the credentials are known to work."""
    import os

    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from .deployed import DeployedConsole

    try:
        session = boto3.Session(profile_name=args.profile, region_name=args.region)
        who = session.client("sts").get_caller_identity()["Arn"]
    except (BotoCoreError, ClientError) as error:
        raise LookupError(f"cannot tell who you are from your AWS credentials: {error}") from error
    os.environ["IRFLOW_INCIDENTS_TABLE"] = args.table  # tasks.common.incidents reads the table's name here
    print(f"irflow console: reading the deployment in {session.region_name} as {who}")
    return DeployedConsole(people, session, port=args.port).start()
