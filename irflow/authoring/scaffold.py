"""`irflow new playbook NAME` and `irflow new task NAME`: a starting point that lints clean and passes its tests.

A task is one module under `tasks/` (docstring with its example event, input model,
`TASK = TaskSpec.declare(...)`, a plain `run`, the Lambda `handler`) and its test under
`tests/tasks/`. A playbook is a folder under `workflows/` (definition, playbook.yaml, README,
one scenario with an `expect:` block) and its test under `tests/workflows/`. The registries find
both by themselves, so nothing else changes; the tests prove the generated files work.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


class ScaffoldError(Exception):
    """A name that cannot be used or files that already exist; one line for the user."""


def snake(name: str) -> str:
    return name.replace("-", "_")


def camel(name: str) -> str:
    return "".join(word.capitalize() for word in name.split("-"))


def _check_name(name: str, what: str) -> None:
    if not NAME.match(name):
        raise ScaffoldError(f"{what} name {name!r} must be kebab-case (e.g. quarantine-bucket)")


def _write(files: dict[Path, str]) -> list[Path]:
    existing = [p for p in files if p.exists()]
    if existing:
        raise ScaffoldError(f"{existing[0]} already exists; nothing was written")
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return list(files)


# --- tasks ------------------------------------------------------------------------------------------

EXAMPLE_INCIDENT = {
    "incident_id": "inc-0123456789abcdef", "finding_id": "96c7b8e1f2a34d5c9e0b1a2f3c4d5e6f",
    "finding_type": "UnauthorizedAccess:EC2/SSHBruteForce", "severity": 8, "severity_band": "high",
    "account_id": "222222222222", "region": "us-east-1", "instance_id": "i-0a1b2c3d4e5f60718",
}

TASK_MODULE = '''"""{name}: say in one line what this task does and why a playbook needs it.

Say here what it reads and changes, in which account, and what it records; then keep the example
event below valid (the registry parses it into TaskSpec.example and the tests run it).

Example event:

    {example}
"""

from __future__ import annotations

from typing import Any

from tasks.common.handler import task_handler
from tasks.common.models import IncidentRef, Strict
from tasks.registry import TaskSpec

TASK = TaskSpec.declare(
    __name__, __doc__, name="{name}", member_permissions=(), central_permissions=(), destructive=False,
    model="{module}.{model}")


class {model}(Strict):
    """What the playbook passes in."""

    incident: IncidentRef
    note: str | None = None


def run(data: {model}) -> dict[str, Any]:
    """The task itself, a plain function of its validated input (create AWS clients here, not at import)."""
    incident = data.incident
    return {{
        "incident_id": incident.incident_id,
        "target": incident.instance_id,
        "summary": f"{{incident.finding_type}} on {{incident.instance_id}} in {{incident.account_id}}",
        "note": data.note,
    }}


handler = task_handler(TASK, {model}, run)
'''

TASK_TEST = '''"""The {name} task: registered, its example valid, and its handler runs it."""

from __future__ import annotations

import pytest

{imports}


def test_the_registry_finds_it() -> None:
    assert all_tasks()["{name}"] == TASK
    assert TASK.placeholder == "{camel}FunctionArn"


def test_run_on_the_documented_example() -> None:
    result = run({model}.model_validate(TASK.example))
    assert result["incident_id"] == TASK.example["incident"]["incident_id"]
    assert result["target"] == TASK.example["incident"]["instance_id"]


def test_the_lambda_handler_validates_and_runs() -> None:
    handler = load_handler(TASK)
    assert handler(TASK.example, None) == run({model}.model_validate(TASK.example))
    with pytest.raises(InvalidInput):
        handler({{"incident": {{}}}}, None)
'''


def new_task(name: str, root: Path) -> list[Path]:
    """Write tasks/<name>.py and tests/tasks/test_<name>.py under `root`."""
    _check_name(name, "task")
    module = f"tasks.{snake(name)}"
    model = f"{camel(name)}Input"
    imports = sorted([("tasks.common.errors", "InvalidInput"), ("tasks.registry", "all_tasks, load_handler"),
                      (module, f"TASK, {model}, run")])
    values = {"name": name, "module": module, "model": model, "camel": camel(name),
              "imports": "\n".join(f"from {m} import {names}" for m, names in imports),
              "example": json.dumps({"incident": EXAMPLE_INCIDENT, "note": "generated example"})}
    return _write({
        root / "tasks" / f"{snake(name)}.py": TASK_MODULE.format(**values),
        root / "tests" / "tasks" / f"test_{snake(name)}.py": TASK_TEST.format(**values),
    })


# --- playbooks --------------------------------------------------------------------------------------

RETRY = [{"ErrorEquals": ["irflow.Throttled", "Lambda.TooManyRequestsException", "Lambda.ServiceException",
                          "Lambda.AWSLambdaException", "Lambda.SdkClientException"],
          "IntervalSeconds": 2, "MaxAttempts": 4, "BackoffRate": 2, "JitterStrategy": "FULL"}]


def _task_state(placeholder: str, payload: dict[str, Any], next_state: str | None, on_failure: str,
                selector: dict[str, Any] | None = None, result_path: str | None = None) -> dict[str, Any]:
    """A Lambda task state the house way: lambda:invoke, throttling retried, failures caught and recorded.

    `selector` picks what to keep of the task's result, placed at `result_path` (None: the
    result is dropped and the state's input passes on).
    """
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": f"${{{placeholder}}}", "Payload": payload},
    }
    if selector is not None:
        state["ResultSelector"] = selector
    state["ResultPath"] = result_path
    state["Retry"] = RETRY
    state["Catch"] = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": on_failure}]
    if next_state is None:
        state["End"] = True
    else:
        state["Next"] = next_state
    return state


def playbook_definition(name: str, placeholders: dict[str, str]) -> dict[str, Any]:
    """Take the request, open (or join) its incident, notify, record, end; every failure recorded."""
    incident = {"incident.$": "$.incident"}
    record = placeholders["record"]
    return {
        "Comment": f"{name}: generated by `irflow new playbook`; build the response here (see CONTRIBUTING.md).",
        "StartAt": "TakeRequest",
        "States": {
            "TakeRequest": {
                "Type": "Pass",
                "Comment": "The event carries the incident; a playbook for a finding source parses it here instead.",
                "Parameters": {"incident.$": "$.detail.incident", "policy": {}},
                "Next": "OpenIncident",
            },
            "OpenIncident": _task_state(
                placeholders["open-incident"],
                {**incident, "policy.$": "$.policy", "execution_arn.$": "$$.Execution.Id"},
                "AlreadyOpen?", "RecordFailure", {"joined.$": "$.Payload.joined"}, "$.opened"),
            "AlreadyOpen?": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.opened.joined", "BooleanEquals": True, "Next": "Joined"}],
                "Default": "Notify",
            },
            "Joined": {"Type": "Succeed", "Comment": "A repeated request joined the open incident."},
            "Notify": _task_state(placeholders["notify"], {**incident, "kind": "summary"}, "Record",
                                  "RecordFailure"),
            "Record": _task_state(record, {**incident, "step": name, "message": f"{name} notified the responders",
                                           "report": True}, None, "Failed"),
            "RecordFailure": _task_state(
                record, {**incident, "step": name, "message": "a step failed", "status": "failed",
                         "failure.$": "$.failure"}, "Failed", "Failed"),
            "Failed": {"Type": "Fail", "Error": "irflow.PlaybookFailed",
                       "Cause": "A step failed; the incident record has its error."},
        },
    }


PLAYBOOK_YAML = """name: {name}
description: >-
  Say what this playbook answers and what it does about it. Generated by `irflow new playbook`.
triggers:
  # EventBridge event patterns that start this playbook. Generated: a responder's manual request
  # carrying the incident. For a finding source, match its events here and parse them in the
  # definition's first step (as ec2-compromise does with parse-finding).
  - source: [irflow.manual]
    detail-type: ["{name} request"]
policy: {{}}
# placeholders:            # policy key -> the placeholder it fills in the definition
"""

README = """# {name}

Say what this playbook answers, what it does, and what needs a person's approval.

- `definition.asl.json`: the state machine, plain ASL (`irflow lint`, `irflow graph {name}`).
- `playbook.yaml`: name, description, triggers (EventBridge event patterns), policy.
- `scenarios/`: findings and the world they happen in, each with an `expect:` block (`irflow test`).
"""

SCENARIO = """# The playbook's first scenario: a request about an instance in a member account.
name: {name} answers a request
accounts:
  members:
    "222222222222": {{role: present}}
resources:
  target:
    type: ec2-instance
    account: "222222222222"
    region: us-east-1
    tags: {{Name: target-1}}
event:
  version: "0"
  id: 5d1c3c39-0b9e-4b2f-9d64-0f6f2c1a7e01
  detail-type: {name} request
  source: irflow.manual
  account: "222222222222"
  time: "2025-01-01T09:00:00Z"
  region: us-east-1
  resources: []
  detail:
    incident:
      incident_id: {incident_id}
      finding_id: {name}-request-1
      finding_type: "{finding_type}"
      title: "A responder asked {name} to look at ${{target.id}}"
      severity: 2
      severity_band: low
      account_id: "222222222222"
      region: us-east-1
      instance_id: "${{target.id}}"
expect:
  playbook: {name}
  status: SUCCEEDED
  visited: [TakeRequest, OpenIncident, Notify, Record]
  not_visited: [Joined, RecordFailure]
  incident:
    status: open
"""

PLAYBOOK_TEST = '''"""The {name} playbook: lints clean, and its scenarios meet their expect: blocks."""

from __future__ import annotations

from pathlib import Path

from irflow.authoring.catalog import Catalog
from irflow.authoring.lint import lint_file
from irflow.authoring.scenarios import find_scenarios, run_scenarios

PLAYBOOK = Path(__file__).resolve().parents[2] / "workflows" / "{name}"


def test_it_lints_clean() -> None:
    assert lint_file(PLAYBOOK / "definition.asl.json", Catalog.from_registry()) == []


def test_its_scenarios_meet_their_expectations() -> None:
    run = run_scenarios(find_scenarios([PLAYBOOK / "scenarios"]), {{"workflows_dir": PLAYBOOK.parent}})
    assert run.results and all(r.checked for r in run.results)
    assert [(r.path, r.failures) for r in run.results if not r.passed] == []
'''


def new_playbook(name: str, root: Path) -> list[Path]:
    """Write workflows/<name>/ (definition, playbook.yaml, README, a scenario) and its test under `root`."""
    _check_name(name, "playbook")
    from tasks.registry import all_tasks

    tasks = all_tasks()
    needed = ("open-incident", "notify", "record")
    missing = [t for t in needed if t not in tasks]
    if missing:
        raise ScaffoldError(f"the generated playbook calls {', '.join(needed)}; not registered: {', '.join(missing)}")
    placeholders = {t: tasks[t].placeholder for t in needed}
    folder = root / "workflows" / name
    values = {"name": name, "finding_type": f"Manual:EC2/{camel(name)[:30]}",
              "incident_id": "inc-" + hashlib.sha256(name.encode()).hexdigest()[:16]}
    files = {
        folder / "definition.asl.json": json.dumps(playbook_definition(name, placeholders), indent=2) + "\n",
        folder / "playbook.yaml": PLAYBOOK_YAML.format(**values),
        folder / "README.md": README.format(**values),
        folder / "scenarios" / "basic.yaml": SCENARIO.format(**values),
        root / "tests" / "workflows" / f"test_{snake(name)}.py": PLAYBOOK_TEST.format(**values),
    }
    package = root / "tests" / "workflows" / "__init__.py"
    if not package.exists():
        files[package] = ""
    return _write(files)


# --- the command ------------------------------------------------------------------------------------


def main(kind: str, name: str, root: Path | None = None, out: Any = None) -> int:
    out = out or sys.stdout
    try:
        written = new_task(name, root or Path.cwd()) if kind == "task" else new_playbook(name, root or Path.cwd())
    except ScaffoldError as error:
        print(f"irflow new: {error}", file=sys.stderr)
        return 2
    for path in written:
        out.write(f"created {path}\n")
    return 0


def register(subparsers: Any) -> None:
    """Add `irflow new playbook|task NAME` to the CLI."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "new", help="scaffold a playbook or a task that lints clean and passes its tests",
        description="Create a new playbook folder (definition, playbook.yaml, README, a scenario) or task module "
                    "(handler, model, permissions), each with its test.")
    parser.add_argument("kind", choices=("playbook", "task"), help="what to create")
    parser.add_argument("name", help="kebab-case name, e.g. s3-data-exposure or quarantine-bucket")
    parser.add_argument("--root", type=Path, help="the repository to write into (default: the current directory)")
    parser.set_defaults(run=lambda args: main(args.kind, args.name, args.root))
