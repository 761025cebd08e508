"""`irflow approve APPROVAL_ID` / `irflow reject APPROVAL_ID [--reason ...]`: decide from a terminal.

Against a deployment (the default) it acts with your AWS credentials (`--profile`, `--region`):
who you are is the ARN STS returns for them (`GetCallerIdentity`), and the decision goes through
`tasks.common.approval_gate.decide_as`, the approval page's own gate: it reads the pending
approval from the incidents table, checks your ARN is an approver of the playbook in the approvers
parameter (two-person rule included), takes the decision once and resumes the execution with
`SendTaskSuccess` / `SendTaskFailure`, recording `via: aws-cli` and this machine in the incident.
The gate is what honest operators go through; the boundary against dishonest ones is IAM: only
people who may call `states:SendTaskSuccess` and write the incidents table could skip it, and
CloudTrail records who did.

With `--local` it decides in a running local runtime (`irflow console`, or
`python -m irflow.local.approval_server SCENARIO`), which leaves its address and a terminal
token in `~/.irflow/local-approvals.json` (see `irflow/local/approval_server.py`); the decision is
taken there, through the same gate, as the person the server was started for.

Exit status: 0 decided (or the first of two approvals recorded), 1 refused (not an approver,
already decided, expired, ...), 2 nothing to talk to (no local server, no credentials, bad input).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import socket
import sys
import urllib.error
import urllib.request
from typing import Any, TextIO

DEFAULT_TABLE = "irflow-incidents"  # deploy/central.yaml's TableName
DEFAULT_APPROVERS_PARAMETER = "/irflow/approvers"
LOCAL_TIMEOUT_SECONDS = 30


def register(commands: Any) -> None:
    """Add `approve` and `reject` to the CLI."""
    for name, verb in (("approve", "approve"), ("reject", "reject")):
        command = commands.add_parser(
            name, help=f"{verb} a pending approval (as yourself; deployed or --local)",
            description=f"{verb.capitalize()} a pending approval through the approver check and the two-person "
                        "rule, then resume (or, for a first of two approvals, keep waiting) the playbook. "
                        "Exit 0 decided, 1 refused, 2 nothing to talk to.")
        command.add_argument("approval_id", help="the approval id from the notification or the console")
        command.add_argument("--reason", help="recorded with the decision in the incident")
        command.add_argument("--local", action="store_true",
                             help="decide in the running local runtime (irflow console / local approval server)")
        command.add_argument("--profile", help="AWS profile (deployed)")
        command.add_argument("--region", help="AWS region of the central stack (deployed)")
        command.add_argument("--table", default=os.environ.get("IRFLOW_INCIDENTS_TABLE") or DEFAULT_TABLE,
                             help=f"incidents table (default {DEFAULT_TABLE})")
        command.add_argument("--approvers-parameter",
                             default=os.environ.get("IRFLOW_APPROVERS_PARAMETER") or DEFAULT_APPROVERS_PARAMETER,
                             help=f"approvers parameter (default {DEFAULT_APPROVERS_PARAMETER})")
        command.set_defaults(run=_run, decision=verb)


def _run(args: argparse.Namespace) -> int:
    if args.local:
        return decide_local(args.approval_id, args.decision, args.reason, sys.stdout)
    import boto3

    session = boto3.Session(profile_name=args.profile, region_name=args.region)
    return decide_deployed(args.approval_id, args.decision, args.reason, session, args.table,
                           args.approvers_parameter, sys.stdout)


def _user_agent() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = version("irflow")
    except PackageNotFoundError:
        release = "dev"
    return f"irflow-cli/{release} ({getpass.getuser()}@{socket.gethostname()})"


def decide_deployed(approval_id: str, decision: str, reason: str | None, session: Any, table: str,
                    approvers_parameter: str, out: TextIO) -> int:
    """Decide against a deployment with `session`'s credentials; returns the exit status."""
    from botocore.exceptions import BotoCoreError, ClientError

    from tasks.common.approval_gate import Person, decide_as
    from tasks.common.errors import IrflowError

    os.environ["IRFLOW_INCIDENTS_TABLE"] = table
    os.environ["IRFLOW_APPROVERS_PARAMETER"] = approvers_parameter
    try:
        arn = session.client("sts").get_caller_identity()["Arn"]
    except (BotoCoreError, ClientError) as error:
        out.write(f"irflow {decision}: cannot tell who you are from your AWS credentials: {error}\n")
        return 2
    person = Person(arn, "aws-cli", None, _user_agent())
    try:
        outcome = decide_as(approval_id, decision, person, session.client("stepfunctions"), reason=reason,
                            ddb=session.client("dynamodb"), ssm=session.client("ssm"))
    except IrflowError as error:
        out.write(f"irflow {decision}: refused ({error.error_name}): {error}\n")
        return 1
    except (BotoCoreError, ClientError) as error:
        out.write(f"irflow {decision}: AWS refused or failed: {error}\n")
        return 2
    out.write(describe(outcome.status, outcome.approval, list(outcome.approvers)) + "\n")
    return 0


def decide_local(approval_id: str, decision: str, reason: str | None, out: TextIO) -> int:
    """Decide in the running local runtime through its approval server; returns the exit status."""
    from irflow.local.approval_server import read_state

    state = read_state()
    if not state or not _alive(int(state.get("pid") or 0)):
        out.write(f"irflow {decision} --local: no local irflow runtime is serving approvals (start `irflow console`, "
                  "or `python -m irflow.local.approval_server SCENARIO`)\n")
        return 2
    request = urllib.request.Request(
        f"{state['url']}/local/decisions", method="POST",
        data=json.dumps({"approval_id": approval_id, "decision": decision, "reason": reason}).encode(),
        headers={"Authorization": f"Bearer {state['token']}", "Content-Type": "application/json",
                 "User-Agent": _user_agent()})
    try:
        with urllib.request.urlopen(request, timeout=LOCAL_TIMEOUT_SECONDS) as response:  # noqa: S310 (loopback)
            result = json.loads(response.read())
    except urllib.error.HTTPError as error:
        try:
            problem = json.loads(error.read())
        except ValueError:
            problem = {"error": str(error.code), "message": error.reason}
        out.write(f"irflow {decision}: refused ({problem.get('error')}): {problem.get('message')}\n")
        return 1 if error.code == 409 else 2
    except (urllib.error.URLError, OSError) as error:
        out.write(f"irflow {decision} --local: cannot reach the local server at {state['url']}: {error}\n")
        return 2
    out.write(describe(result["status"], result["approval"], result.get("approvers") or []) + "\n")
    return 0


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def describe(status: str, approval: dict[str, Any], approvers: list[str]) -> str:
    """One line for the terminal: what was decided, on what, by whom, and what happens next."""
    what = f"{approval.get('action')} of {approval.get('target')} (approval {approval.get('approval_id')}, " \
           f"incident {approval.get('incident_id')})"
    if status == "awaiting-second":
        return f"approval recorded for {what}: 1 of 2, a second, different approver is needed"
    if status == "approved":
        return f"approved {what} by {' and '.join(approvers)}: the playbook resumes"
    return f"rejected {what}: nothing destructive will be done"
