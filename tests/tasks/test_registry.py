"""Suite-wide checks over every task the registry finds: declarations, examples, handlers, import cost."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tasks.common.errors import AccessDenied, InvalidFinding, IrflowError
from tasks.registry import NAME, TaskSpec, all_tasks, example_from_doc, get, load_handler, load_model

REPO = Path(__file__).resolve().parents[2]
EXPECTED = {"parse-finding", "open-incident", "verify-access", "enrich-instance", "collect-volatile", "poll-command",
            "capture-memory", "snapshot-volumes", "isolate-instance", "request-approval", "remediate-instance",
            "notify", "record", "release-instance"}
# issue 5's iam-credential-compromise, s3-data-exposure and config-remediation: changes that need a person
# (destructive) and the reads that keep evidence before them
ISSUE5_IAM_S3_CONFIG = {
    "parse-iam-finding": "", "enrich-principal": "evidence", "contain-principal": "destructive",
    "parse-s3-finding": "", "enrich-bucket": "evidence", "remediate-bucket-exposure": "destructive",
    "parse-config-change": "", "enrich-security-group": "evidence", "revoke-ingress-rules": "destructive",
}
# issue 5's alarm-response and log detections
ISSUE5_ALARMS_LOGS = {
    "parse-alarm": "", "alarm-router": "", "keep-event": "evidence", "read-sampled-requests": "evidence",
    "block-ip-addresses": "destructive", "unblock-ip-addresses": "", "describe-protected-resource": "evidence",
    "log-detection": "", "parse-detection": "",
}
PURE = {"parse-finding", "parse-iam-finding", "parse-s3-finding", "parse-config-change", "parse-alarm",
        "parse-detection"}  # touch no AWS API at all
TASKS = all_tasks()


def test_every_issue_task_is_registered() -> None:
    assert EXPECTED | set(ISSUE5_IAM_S3_CONFIG) | set(ISSUE5_ALARMS_LOGS) <= set(TASKS)


@pytest.mark.parametrize("name", sorted(TASKS))
def test_declaration(name: str) -> None:
    spec = TASKS[name]
    assert NAME.match(spec.name) and spec.module == "tasks." + spec.name.replace("-", "_")
    assert spec.handler == spec.module + ".handler"
    assert spec.placeholder == "".join(w.capitalize() for w in name.split("-")) + "FunctionArn"
    assert spec.summary.startswith(f"{name}: ")
    assert (spec.member_permissions or spec.central_permissions) or name in PURE
    assert len(set(spec.member_permissions)) == len(spec.member_permissions)
    assert all(":" in action and "*" not in action for action in (*spec.member_permissions, *spec.central_permissions))
    if spec.member_permissions:
        assert "sts:AssumeRole" in spec.central_permissions, "member actions are reached through AssumeRole"
    assert 0 < spec.timeout_seconds <= 900


@pytest.mark.parametrize("name", sorted(TASKS))
def test_docstring_example_validates_against_the_model(name: str) -> None:
    spec = TASKS[name]
    module = __import__(spec.module, fromlist=["_"])
    assert "Example event:" in (module.__doc__ or "")
    assert spec.example == example_from_doc(module.__doc__, name)
    load_model(spec).model_validate(spec.example)
    assert callable(load_handler(spec))


def test_only_stopping_an_instance_is_destructive() -> None:
    issue3 = {n: s for n, s in TASKS.items() if n in EXPECTED}
    assert {n for n, s in issue3.items() if s.destructive} == {"remediate-instance"}
    assert {n for n, s in issue3.items() if s.evidence} == {"collect-volatile", "poll-command", "capture-memory",
                                                            "snapshot-volumes"}
    for name, kind in {**ISSUE5_IAM_S3_CONFIG, **ISSUE5_ALARMS_LOGS}.items():
        assert (TASKS[name].destructive, TASKS[name].evidence) == (kind == "destructive", kind == "evidence"), name


def test_get_names_the_known_tasks_when_asked_for_another() -> None:
    assert get("notify").name == "notify"
    with pytest.raises(KeyError, match="isolate-instance"):
        get("isolate")


def test_declaring_a_bad_task_fails_at_import() -> None:
    doc = 'x: y.\n\nExample event:\n\n    {"a": 1}\n'
    with pytest.raises(ValueError, match="kebab-case"):
        TaskSpec.declare("tasks.x", doc, name="Bad_Name", member_permissions=(), central_permissions=(),
                         destructive=False, model="m")
    with pytest.raises(ValueError, match="not an IAM action"):
        TaskSpec.declare("tasks.x", doc, name="x", member_permissions=("ec2 StopInstances",), central_permissions=(),
                         destructive=False, model="m")
    with pytest.raises(ValueError, match="no 'Example event:'"):
        TaskSpec.declare("tasks.x", "x: y.", name="x", member_permissions=(), central_permissions=(),
                         destructive=False, model="m")


def test_error_names_are_what_step_functions_catches() -> None:
    # The Lambda Python runtime reports errorType as type(exception).__name__.
    assert type(InvalidFinding("x")).__name__ == "irflow.InvalidFinding"
    assert AccessDenied.error_name == "irflow.AccessDenied"
    assert issubclass(AccessDenied, IrflowError)
    definition = json.loads((REPO / "workflows/ec2-compromise/definition.asl.json").read_text())
    caught = {e for state in _states(definition) for c in state.get("Catch", []) for e in c["ErrorEquals"]}
    declared = {cls.error_name for cls in _subclasses(IrflowError)}
    assert {e for e in caught if e.startswith("irflow.")} <= declared


def _subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    return found | {s for c in found for s in _subclasses(c)}


def _states(machine: dict) -> list[dict]:  # type: ignore[type-arg]
    out = []
    for state in machine["States"].values():
        out.append(state)
        for branch in state.get("Branches", []):
            out.extend(_states(branch))
    return out


def test_importing_every_task_creates_no_aws_client_and_stays_cheap() -> None:
    """Lambda cold start: importing a handler module loads neither boto3 nor Powertools."""
    code = ("import sys, time; t = time.perf_counter(); "
            "from tasks.registry import all_tasks; specs = all_tasks(); "
            "print(round(time.perf_counter() - t, 3)); "
            "print(sorted(m for m in ('boto3', 'botocore', 'aws_lambda_powertools', 'aws_xray_sdk') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    seconds, loaded = result.stdout.splitlines()
    assert loaded == "[]"
    assert float(seconds) < 1.0
