"""The `irflow package`, `irflow deploy` and `irflow destroy` subcommands (argument parsing only).

The work is in `commands.py`, imported when a command runs, so `irflow --help` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEFAULT_STACK = "irflow"
DEFAULT_OUTPUT = Path("build") / "irflow-tasks.zip"


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _run(action: Callable[[], object]) -> int:
    """Run a command; a problem the user must fix (or AWS refused) is one line on stderr, exit status 1."""
    from botocore.exceptions import BotoCoreError, ClientError

    from . import commands, iam, package, stack, templates

    try:
        action()
    except (commands.CommandError, stack.StackError, templates.DeployError, package.PackageError,
            iam.IamError, BotoCoreError, ClientError) as error:
        print(f"irflow: {error}", file=sys.stderr)
        return 1
    return 0


def _package(args: argparse.Namespace) -> int:
    from . import commands

    return _run(lambda: commands.package_command(Path(args.output), sys.stdout))


def _deploy(args: argparse.Namespace) -> int:
    from . import commands

    options = commands.DeployOptions(
        stack_name=args.stack_name, dry_run=args.dry_run, organization_id=args.organization_id,
        org_units=_csv(args.org_units) if args.org_units is not None else None,
        member_regions=_csv(args.member_regions) if args.member_regions is not None else None,
        trail_regions=_csv(args.trail_regions) if args.trail_regions is not None else None,
        notification_email=args.notification_email, external_id=args.external_id,
        powertools_layer_arn=args.powertools_layer_arn)
    return _run(lambda: commands.deploy_command(commands.session(args.profile, args.region), options, sys.stdout))


def _destroy(args: argparse.Namespace) -> int:
    from . import commands

    if not args.dry_run and not args.yes:
        if not sys.stdin.isatty():
            print("irflow: destroy needs --yes when not run from a terminal", file=sys.stderr)
            return 1
        answer = input(f"Delete stack {args.stack_name} and irflow from every member account? "
                       "Type the stack name to confirm: ")
        if answer.strip() != args.stack_name:
            print("Not confirmed; nothing was deleted.")
            return 1
    return _run(lambda: commands.destroy_command(commands.session(args.profile, args.region), args.stack_name,
                                                 args.dry_run, sys.stdout))


def _aws_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--profile", help="AWS profile (default: the usual credential chain)")
    command.add_argument("--region", help="region of the central stack (default: the profile's)")
    command.add_argument("--stack-name", default=DEFAULT_STACK, help=f"central stack name (default {DEFAULT_STACK})")
    command.add_argument("--dry-run", action="store_true", help="show what would change, change nothing")


def register(commands: Any) -> None:
    """Add `package`, `deploy` and `destroy` to the `irflow` subcommands."""
    pack = commands.add_parser(
        "package", help="build the Lambda code zip and the CloudFormation templates",
        description="Zip tasks/ with the dependencies Lambda lacks (deterministic: same tree, same bytes) and "
                    "write the generated templates beside it.")
    pack.add_argument("--output", default=str(DEFAULT_OUTPUT), help=f"zip path (default {DEFAULT_OUTPUT})")
    pack.set_defaults(run=_package)

    deploy = commands.add_parser(
        "deploy", help="deploy irflow to the security account and, through StackSets, to the organisation",
        description="Create or update the central stack through a change set: prints the changes, then the "
                    "progress, and names the failing resource and reason if it fails.")
    _aws_options(deploy)
    deploy.add_argument("--organization-id", help="o-... (default: read from AWS Organizations)")
    deploy.add_argument("--org-units", help="comma-separated OU ids (or the root r-...) for the member StackSets")
    deploy.add_argument("--member-regions", help="comma-separated regions that forward findings (default: --region)")
    deploy.add_argument("--trail-regions", help="comma-separated regions for the member CloudTrail (default: none)")
    deploy.add_argument("--notification-email", help="e-mail address subscribed to notifications")
    deploy.add_argument("--external-id", help="ExternalId for IrflowMemberRole (default: generated on first deploy)")
    deploy.add_argument("--powertools-layer-arn", help="Powertools v3 layer ARN (default: AWS's public layer)")
    deploy.set_defaults(run=_deploy)

    destroy = commands.add_parser(
        "destroy", help="remove irflow (the evidence bucket is retained)",
        description="Delete the central stack and, with it, the StackSets in the member accounts. The evidence "
                    "bucket and its KMS key are retained by design.")
    _aws_options(destroy)
    destroy.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    destroy.set_defaults(run=_destroy)
