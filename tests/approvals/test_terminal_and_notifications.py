"""`irflow approve/reject` against a deployment (boto3 on the embedded AWS), and what the notification says."""

from __future__ import annotations

import io
import json
from typing import Any

import boto3

from irflow.approvals import decide_deployed
from tasks.common import approval_links, approvals, notifications
from tests.approvals.conftest import Gate, world_state


class Session:
    """A boto3 session on the embedded AWS whose Step Functions is the local engine (the tokens live there)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.session = boto3.Session()

    def client(self, service: str) -> Any:
        return self.engine if service == "stepfunctions" else self.session.client(service)


def test_approve_as_yourself_against_a_deployment(runtime):
    gate = Gate(runtime)
    out = io.StringIO()
    code = decide_deployed(gate.approval_id, "approve", "checked with the owner", Session(runtime.engine),
                           runtime.aws.central.incidents_table, runtime.aws.central.approvers_parameter, out)
    assert code == 0, out.getvalue()
    assert "approved remediate-instance of i-0a1b2c3d4e5f60718" in out.getvalue()
    assert gate.status() == "SUCCEEDED"
    decided = approvals.get(gate.approval_id)
    assert decided["decided_by"] == "arn:aws:iam::111111111111:user/irflow-local"  # STS GetCallerIdentity
    assert decided["decided_from"]["via"] == "aws-cli"
    assert decided["decided_from"]["user_agent"].startswith("irflow-cli/")


def test_a_caller_who_is_not_an_approver_changes_nothing(runtime):
    from irflow.local.approval_server import configure_approvers

    gate = Gate(runtime)
    configure_approvers(runtime.aws, {"containment": ["alice@example.com"]})
    before = world_state(runtime)
    out = io.StringIO()
    code = decide_deployed(gate.approval_id, "reject", None, Session(runtime.engine),
                           runtime.aws.central.incidents_table, runtime.aws.central.approvers_parameter, out)
    assert code == 1
    assert "refused (irflow.NotAnApprover): arn:aws:iam::111111111111:user/irflow-local is not an approver" \
        in out.getvalue()
    assert world_state(runtime) == before and gate.status() == "RUNNING"


def test_the_approval_request_reads_well_and_carries_the_signed_link_not_the_token(runtime):
    gate = Gate(runtime)
    note = next(n for n in runtime.aws.drain_notifications() if "Approval needed" in n["subject"])
    assert note["subject"] == "[irflow] Approval needed: stop i-0a1b2c3d4e5f60718 (inc-d38e539f762a60f7)"
    text = note["message"]
    lines = text.splitlines()
    assert lines[0] == ("irflow asks for approval to stop i-0a1b2c3d4e5f60718 (its volumes, snapshots and collected "
                        "evidence are kept).")
    assert "What happened: GuardDuty reported UnauthorizedAccess:EC2/SSHBruteForce (severity 8, high)" in text
    assert "To what: instance i-0a1b2c3d4e5f60718 in account 222222222222, us-east-1" in text
    assert f"  - from a terminal: irflow approve {gate.approval_id}" in lines
    link = lines[-1]
    assert link == gate.link
    query = dict(p.split("=", 1) for p in link.split("?")[1].split("&"))
    assert approval_links.verify(gate.approval_id, query["exp"], query["sig"]) == \
        approval_links.expiry_of(gate.expires_at)
    token = runtime.aws.client("dynamodb").get_item(
        TableName=runtime.aws.central.incidents_table,
        Key={"pk": {"S": f"APPROVAL#{gate.approval_id}"}, "sk": {"S": "META"}})["Item"]["task_token"]["S"]
    assert token not in text and token not in json.dumps(note)
    assert note["attributes"]["kind"]["Value"] == "approval-request"


def test_chat_gets_an_aws_chatbot_custom_notification_threaded_per_incident():
    message = notifications.chatbot_message(
        "[irflow] Approval needed: stop i-0abc (inc-1)", "Why: <script> & <http://evil|click here>",
        {"incident_id": "inc-1", "kind": "approval-request", "severity_band": "high"},
        link="https://api.example/v1/approvals/x?exp=1&sig=s", next_steps=["irflow approve x"])
    assert message["version"] == "1.0" and message["source"] == "custom"
    content = message["content"]
    assert content["textType"] == "client-markdown"
    assert content["title"] == ":raised_hand: [irflow] Approval needed: stop i-0abc (inc-1)"
    assert content["description"] == "Why: &lt;script&gt; &amp; &lt;http://evil|click here&gt;"
    assert content["nextSteps"] == ["Review and decide: https://api.example/v1/approvals/x?exp=1&sig=s",
                                    "irflow approve x"]
    assert content["keywords"] == ["approval-request", "high", "inc-1"]
    assert message["metadata"]["threadId"] == "inc-1" and message["metadata"]["eventType"] == "approval-request"


def test_one_publish_serves_email_and_chat(runtime):
    sent: dict[str, Any] = {}

    class Sns:
        def publish(self, **request: Any) -> dict[str, str]:
            sent.update(request)
            return runtime.aws.client("sns").publish(**request)

    notifications.publish("[irflow] Contained: i-0abc isolated (inc-1)", "irflow isolated the instance.",
                          {"incident_id": "inc-1", "kind": "contained"}, sns=Sns())
    assert sent["MessageStructure"] == "json"
    body = json.loads(sent["Message"])
    assert body["default"] == body["email"] == "irflow isolated the instance."
    assert json.loads(body["https"])["content"]["title"] == ":lock: [irflow] Contained: i-0abc isolated (inc-1)"
    delivered = runtime.aws.drain_notifications()  # the local SQS subscriber gets the default text
    assert [n["message"] for n in delivered] == ["irflow isolated the instance."]
