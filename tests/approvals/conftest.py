"""Fixtures for approvals: a small playbook that opens an incident and waits on a person, on the real runtime.

The playbook `containment` runs the real open-incident and request-approval tasks on the engine
against the embedded AWS, then waits (`.waitForTaskToken`) for a decision: `Approved` or, on
`irflow.ApprovalRejected`, `Rejected`. `Browser` drives the real approval handler with API
Gateway proxy events as the deployed REST API sends them (Cognito or IAM identity in
`requestContext`, cookies kept between requests like a browser).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from irflow.local import speed
from irflow.local.approval_server import configure_approvers
from irflow.local.runtime import Runtime

speed.apply()

START = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
API = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/v1/approvals"
ORIGIN = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"
PLAYBOOK = "containment"
INCIDENT = {"incident_id": "inc-d38e539f762a60f7", "finding_id": "96c7b8e1f2a34d5c9e0b1a2f3c4d5e6f",
            "finding_type": "UnauthorizedAccess:EC2/SSHBruteForce", "title": "SSH brute force against i-0a1b2c3d4e5f60718",
            "severity": 8.0, "severity_band": "high", "account_id": "222222222222", "region": "us-east-1",
            "instance_id": "i-0a1b2c3d4e5f60718"}
APPROVERS = {PLAYBOOK: {"approvers": {"alice": ["alice@example.com", "arn:aws:iam::111111111111:user/alice"],
                                      "bob": ["bob@example.com"],
                                      "cli": ["arn:aws:iam::111111111111:user/irflow-local"]},
                        "two_person": ["isolate-instance"]}}
DEFINITION = {
    "StartAt": "Open",
    "States": {
        "Open": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                 "Parameters": {"FunctionName": "${OpenIncidentFunctionArn}",
                                "Payload": {"incident.$": "$.incident", "execution_arn.$": "$$.Execution.Id"}},
                 "ResultPath": None, "Next": "Ask"},
        "Ask": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Parameters": {"FunctionName": "${RequestApprovalFunctionArn}",
                               "Payload": {"incident.$": "$.incident", "approval_id.$": "States.UUID()",
                                           "action.$": "$.action", "task_token.$": "$$.Task.Token",
                                           "timeout_seconds": 3600}},
                "TimeoutSeconds": 3600, "ResultPath": "$.approval",
                "Catch": [{"ErrorEquals": ["irflow.ApprovalRejected"], "ResultPath": "$.rejection",
                           "Next": "Rejected"}],
                "Next": "Approved"},
        "Approved": {"Type": "Pass", "End": True},
        "Rejected": {"Type": "Pass", "End": True},
    },
}


@pytest.fixture(scope="session")
def workflows(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("workflows")
    (root / PLAYBOOK).mkdir()
    (root / PLAYBOOK / "definition.asl.json").write_text(json.dumps(DEFINITION))
    (root / PLAYBOOK / "playbook.yaml").write_text(f"name: {PLAYBOOK}\ntriggers: []\npolicy: {{}}\n")
    return root


@pytest.fixture(scope="session")
def task_specs() -> dict[str, Any]:
    from tasks.registry import all_tasks

    specs = all_tasks()
    return {name: specs[name] for name in ("open-incident", "request-approval")}


@pytest.fixture
def runtime(workflows: Path, task_specs: dict[str, Any]) -> Iterator[Runtime]:
    from tasks.registry import load_handler

    with Runtime(start_time=START, workflows_dir=workflows, tasks=task_specs, load_handler=load_handler) as rt:
        rt.aws.set_approval_url(API)
        configure_approvers(rt.aws, APPROVERS)
        yield rt


class Gate:
    """One waiting execution and its approval."""

    def __init__(self, runtime: Runtime, action: str = "remediate-instance", incident: dict[str, Any] | None = None):
        self.runtime = runtime
        before = {p["approval_id"] for p in runtime.pending_approvals()}
        self.execution = runtime.start_playbook(PLAYBOOK, {"incident": incident or INCIDENT, "action": action})
        runtime.run_until_idle()
        pending = [p for p in runtime.pending_approvals() if p["approval_id"] not in before]
        assert len(pending) == 1, pending
        self.approval_id: str = pending[0]["approval_id"]
        self.expires_at: str = pending[0]["expires_at"]
        self.incident_id: str = pending[0]["incident_id"]

    @property
    def link(self) -> str:
        from tasks.common.approval_links import link

        found = link(self.approval_id, self.expires_at)
        assert found is not None
        return found

    def status(self) -> str:
        return str(self.runtime.engine.describe_execution(executionArn=self.execution)["status"])

    def output(self) -> dict[str, Any]:
        return json.loads(self.runtime.engine.describe_execution(executionArn=self.execution)["output"])


def world_state(runtime: Runtime) -> tuple[Any, ...]:
    """Everything a decision could change: every item of the incidents table, every execution and its history."""
    central = runtime.aws.central
    assert central is not None
    items = runtime.aws.client("dynamodb").scan(TableName=central.incidents_table, ConsistentRead=True)["Items"]
    table = sorted(json.dumps(i, sort_keys=True) for i in items)
    executions = []
    for machine in runtime.state_machines.values():
        for listed in runtime.engine.list_executions(stateMachineArn=machine)["executions"]:
            arn = listed["executionArn"]
            described = runtime.engine.describe_execution(executionArn=arn)
            history = runtime.engine.get_execution_history(executionArn=arn)["events"]
            executions.append((arn, described["status"], described.get("output"), len(history)))
    return tuple(table), tuple(sorted(executions))


class Browser:
    """A browser on the deployed API: keeps cookies, sends what the page's form sends."""

    def __init__(self, handler: Any, claims: dict[str, str] | None = None, user_arn: str | None = None,
                 source_ip: str = "203.0.113.7", user_agent: str = "Mozilla/5.0 (X11; Linux x86_64) irflow-test"):
        self.handler = handler
        self.claims = claims
        self.user_arn = user_arn
        self.source_ip = source_ip
        self.user_agent = user_agent
        self.cookies: dict[str, str] = {}
        self.last: dict[str, Any] = {}

    @classmethod
    def cognito(cls, handler: Any, email: str, verified: bool = True, **kwargs: Any) -> Browser:
        return cls(handler, claims={"sub": "0c9a-" + email, "email": email, "email_verified": str(verified).lower(),
                                    "cognito:username": email.split("@")[0]}, **kwargs)

    def event(self, method: str, url: str, body: str | None = None, headers: dict[str, str] | None = None) -> dict:
        parts = urlsplit(url)
        path = parts.path.removeprefix("/v1")
        query = dict(q.split("=", 1) for q in parts.query.split("&") if "=" in q) or None
        sent = {"Host": parts.netloc, "X-Forwarded-Proto": parts.scheme, "User-Agent": self.user_agent,
                "X-Forwarded-For": self.source_ip}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        sent.update(headers or {})
        identity: dict[str, Any] = {"sourceIp": self.source_ip, "userAgent": self.user_agent, "userArn": self.user_arn}
        context: dict[str, Any] = {"resourcePath": "/approvals/{approvalId}", "httpMethod": method, "stage": "v1",
                                   "path": parts.path, "identity": identity, "requestId": "r-1"}
        if self.claims:
            context["authorizer"] = {"claims": self.claims}
        segments = path.strip("/").split("/")
        return {"resource": "/approvals/{approvalId}", "path": path, "httpMethod": method, "headers": sent,
                "multiValueHeaders": {k: [v] for k, v in sent.items()}, "queryStringParameters": query,
                "multiValueQueryStringParameters": {k: [v] for k, v in (query or {}).items()} or None,
                "pathParameters": {"approvalId": segments[-1]}, "requestContext": context, "body": body,
                "isBase64Encoded": False}

    def _send(self, event: dict[str, Any]) -> dict[str, Any]:
        response = self.handler(event, None)
        for cookie in (response.get("multiValueHeaders") or {}).get("Set-Cookie", []):
            name, _, rest = cookie.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        self.last = response
        return response

    def get(self, url: str) -> dict[str, Any]:
        return self._send(self.event("GET", url))

    def post(self, url: str, decision: str, reason: str = "", csrf: str | None = None,
             origin: str | None = ORIGIN) -> dict[str, Any]:
        form = {"decision": decision, "reason": reason, "csrf": csrf if csrf is not None else self.csrf()}
        headers = {"Origin": origin} if origin else {}
        return self._send(self.event("POST", url, urlencode(form), headers))

    def csrf(self) -> str:
        found = re.search(r'name="csrf" value="([^"]+)"', self.last.get("body") or "")
        return found.group(1) if found else ""


def text_of(response: dict[str, Any]) -> str:
    """The page's visible text, whitespace collapsed (assertions read what a person reads)."""
    import html

    body = re.sub(r"<style>.*?</style>", " ", response["body"], flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())
