"""`irflow` command line: parses arguments and hands over to the code that does the work.

Each subcommand imports what it needs only when it runs, so `irflow --help` and the start of
every command stay fast (the embedded AWS alone costs a few hundred milliseconds to import).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence


def _simulate(args: argparse.Namespace) -> int:
    from irflow.local import speed

    speed.apply(short_lived=True)
    from irflow.local.simulate import main

    return main(args.scenario, approve=args.approve, json_output=args.json)


def _release(args: argparse.Namespace) -> int:
    from irflow.local import speed

    speed.apply(short_lived=True)
    from irflow.local.release import main

    return main(args.scenario, args.incident_id, json_output=args.json)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="irflow", description="Incident response playbooks for AWS organisations.")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    simulate = commands.add_parser(
        "simulate", help="run a scenario end to end on the local engine and embedded AWS",
        description="Create the scenario's resources in an embedded AWS, send its events through EventBridge "
                    "to the playbooks and run them on the local engine. Exit 0 when every execution succeeded, "
                    "1 when one did not, 2 when the scenario or an event cannot be read.")
    simulate.add_argument("scenario", help="scenario YAML file")
    simulate.add_argument("--approve", choices=("approve", "reject", "timeout"),
                          help="answer every approval this way (overrides the scenario's 'approvals')")
    simulate.add_argument("--json", action="store_true", help="print one JSON document instead of the timeline")
    simulate.set_defaults(run=_simulate)

    release = commands.add_parser(
        "release", help="undo an isolation (locally: within a scenario run)",
        description="Locally there is no lasting AWS: runs the scenario, then releases the incident's instance "
                    "from isolation with the release-instance task, and prints the instance before and after.")
    release.add_argument("incident_id", help="incident id (as `irflow simulate` reports it)")
    release.add_argument("--scenario", required=True, help="scenario YAML file that produces the incident")
    release.add_argument("--json", action="store_true", help="print one JSON document")
    release.set_defaults(run=_release)

    from irflow import approvals
    from irflow.authoring import graph, lint, scaffold, scenarios
    from irflow.console import cli as console
    from irflow.deploy import cli as deploy

    lint.register(commands)
    scenarios.register(commands)
    graph.register(commands)
    scaffold.register(commands)
    deploy.register(commands)
    approvals.register(commands)
    console.register(commands)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Called as the `irflow` program (no `argv`), exit without tearing down.

    A simulation leaves a few hundred megabytes of moto objects behind; freeing them one by one
    at interpreter exit takes about half a second and serves nothing, so the program flushes
    its output and ends the process at once. Called with `argv` (tests, other code), it returns.
    """
    args = parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except BrokenPipeError:  # the reader went away (`irflow simulate ... | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 1
    if argv is None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
