"""The console pointed at a deployment: Step Functions, the incidents table and the evidence bucket through boto3.

The deployment is moto's: a state machine named as the deploy names it, an execution started on it
with a hostile finding, and an incident written by the tasks' own code (`tasks.common.incidents`,
`approvals`) with an evidence object in the bucket. moto does not run executions: it reports them
RUNNING with a canned history of one Pass state, so the steps seen here are moto's; the history
reading itself is tested over the engine (`test_views.py`).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from irflow.console.deployed import DeployedConsole

from .conftest import HEADLINE, HOSTILE_TITLE, REPO, Visitor

REGION = "us-east-1"
TABLE = "irflow-incidents"
BUCKET = "irflow-evidence-111111111111-us-east-1"
PERSON = "dana"


@dataclass
class Deployment:
    console: DeployedConsole
    visitor: Visitor
    execution_arn: str
    machine_arn: str
    incident_id: str
    approval_id: str
    evidence_uri: str
    evidence: bytes


def finding() -> dict[str, Any]:
    """The headline's finding, its title turned into markup."""
    event: dict[str, Any] = json.loads((HEADLINE.parent / "events" / "ssh-brute-force.json").read_text())
    event["detail"]["title"] = HOSTILE_TITLE
    return event


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    from tasks.common import approvals, incidents
    from tasks.common.models import incident_id_for

    with pytest.MonkeyPatch.context() as env, mock_aws():
        for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                            "AWS_DEFAULT_REGION": REGION, "IRFLOW_INCIDENTS_TABLE": TABLE}.items():
            env.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "IRFLOW_APPROVAL_URL"):
            env.delenv(name, raising=False)
        session = boto3.Session(region_name=REGION)
        session.client("dynamodb").create_table(
            TableName=TABLE, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "S"}])
        s3 = session.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        event = finding()
        detail = event["detail"]
        incident_id = incident_id_for(detail["accountId"], detail["region"], detail["id"])
        sfn = session.client("stepfunctions")
        definition = (REPO / "workflows" / "ec2-compromise" / "definition.asl.json").read_text()
        role = "arn:aws:iam::111111111111:role/irflow-ec2-compromise-execution"
        machine = sfn.create_state_machine(name="irflow-ec2-compromise", definition=definition,
                                           roleArn=role)["stateMachineArn"]
        sfn.create_state_machine(name="someone-elses-machine", definition=definition, roleArn=role)
        execution = sfn.start_execution(stateMachineArn=machine, name="7ac6f2a1-20250314T092140Z",
                                        input=json.dumps(event))["executionArn"]
        incidents.open_incident({"incident_id": incident_id, "finding_id": detail["id"],
                                 "finding_type": detail["type"], "title": detail["title"], "severity": 8,
                                 "severity_band": "high", "account_id": detail["accountId"],
                                 "region": detail["region"], "instance_id": "i-0a1b2c3d4e5f60718"},
                                {"approval_at": 4, "isolate_at": 7}, execution)
        key = f"incidents/{incident_id}/volatile/processes.txt"
        body = b"PID USER COMMAND\n1 root /sbin/init\n"
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        incidents.add_evidence(incident_id, f"s3://{BUCKET}/{key}", hashlib.sha256(body).hexdigest(), "volatile",
                               len(body))
        incidents.add_action(incident_id, "isolate-instance", "i-0a1b2c3d4e5f60718", "done")
        approval_id = str(uuid.uuid4())
        approvals.create(incident_id, approval_id, "remediate-instance", "i-0a1b2c3d4e5f60718",
                         "GuardDuty reported it", "a-task-token", 3600)
        with DeployedConsole([PERSON], session, port=0, refresh=0.2) as console:
            visitor = Visitor(console.url)
            status, _ = visitor.get(console.sign_in_url(PERSON).removeprefix(console.url))
            assert status == 200
            yield Deployment(console, visitor, execution, machine, incident_id, approval_id,
                             f"s3://{BUCKET}/{key}", body)


def test_overview_reads_the_deployment(deployment: Deployment) -> None:
    status, page = deployment.visitor.get("/")
    assert status == 200 and "deployed · AWS" in page
    assert "7ac6f2a1-20250314T092140Z" in page and "ec2-compromise" in page
    assert "someone-elses-machine" not in page
    assert f'href="/incidents/{deployment.incident_id}"' in page
    card = page[page.index(f'data-approval="{deployment.approval_id}"'):]
    card = card[:card.index("</article>")]
    assert f"irflow approve {deployment.approval_id}" in card and "<form" not in card  # decided from a terminal
    assert "Scenarios" not in page  # nothing to run against a deployment
    assert "<script>alert" not in page


def test_execution_page_reads_describe_and_history(deployment: Deployment) -> None:
    status, page = deployment.visitor.get("/executions/ec2-compromise/7ac6f2a1-20250314T092140Z")
    assert status == 200 and "RUNNING" in page
    assert f'href="/incidents/{deployment.incident_id}"' in page  # found from the input's finding
    assert "&lt;script&gt;alert(&quot;title&quot;)&lt;/script&gt;" in page and "<script>alert" not in page
    assert "A State" in page  # moto's canned history, read through GetExecutionHistory
    assert deployment.visitor.get("/executions/ec2-compromise/nope")[0] == 404


def test_incident_evidence_is_read_back_from_the_bucket(deployment: Deployment) -> None:
    status, page = deployment.visitor.get(f"/incidents/{deployment.incident_id}?verify=1")
    assert status == 200 and '<span class="pill ok">matches</span>' in page
    assert hashlib.sha256(deployment.evidence).hexdigest() in page
    from urllib.parse import urlencode

    status, body = deployment.visitor.get(
        f"/evidence?{urlencode({'incident': deployment.incident_id, 'uri': deployment.evidence_uri})}")
    assert status == 200 and body.encode() == deployment.evidence
    boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key=deployment.evidence_uri.split("/", 3)[3],
                                                      Body=b"tampered")
    page = deployment.visitor.get(f"/incidents/{deployment.incident_id}?verify=1")[1]
    assert "differs: " + hashlib.sha256(b"tampered").hexdigest()[:16] in page


def test_start_a_playbook_on_the_deployment(deployment: Deployment) -> None:
    page = deployment.visitor.get("/start?template=guardduty-ssh-bruteforce-low&playbook=ec2-compromise")[1]
    assert "as written in the template" in page
    token = re.search(r'action="/start">\s*<input type="hidden" name="csrf" value="([^"]+)"', page)
    assert token
    text = json.dumps({"detail-type": "GuardDuty Finding", "source": "aws.guardduty", "detail": {"id": "f-1"}})
    status, page = deployment.visitor.post("/start", {"csrf": token.group(1), "playbook": "ec2-compromise",
                                                      "input": text})
    assert status == 200 and "Started ec2-compromise by hand" in page
    listed = boto3.client("stepfunctions", region_name=REGION).list_executions(
        stateMachineArn=deployment.machine_arn)["executions"]
    manual = [e for e in listed if e["name"].startswith("manual-")]
    assert len(manual) == 1
    described = boto3.client("stepfunctions", region_name=REGION).describe_execution(
        executionArn=manual[0]["executionArn"])
    assert json.loads(described["input"]) == json.loads(text)


def test_sign_in_and_out(deployment: Deployment) -> None:
    stranger = Visitor(deployment.console.url)
    assert stranger.get("/")[0] == 401
    assert stranger.get("/signin?token=guess")[0] == 403
    visitor = Visitor(deployment.console.url)
    assert visitor.get(deployment.console.sign_in_url(PERSON, "/start").removeprefix(deployment.console.url))[0] == 200
    assert visitor.get("/")[0] == 200
    visitor.get("/signout")
    assert visitor.get("/")[0] == 401


@pytest.mark.parametrize("onward", ["//evil.example/", "/\\evil.example/", "/x\r\nSet-Cookie: a=b", "https://evil.example/"])
def test_sign_in_sends_the_browser_nowhere_else(deployment: Deployment, onward: str) -> None:
    import http.client
    from urllib.parse import quote, urlsplit

    console = deployment.console
    token = urlsplit(console.sign_in_url(PERSON)).query.split("&")[0].removeprefix("token=")
    address = urlsplit(console.url)
    connection = http.client.HTTPConnection(address.hostname or "", address.port)
    connection.request("GET", f"/signin?token={token}&next={quote(onward, safe='')}",
                       headers={"Host": address.netloc})
    answer = connection.getresponse()
    answer.read()
    connection.close()
    assert answer.status == 303 and answer.getheader("Location") == "/"
    assert "a=b" not in (answer.getheader("Set-Cookie") or "")


def test_pages_refresh_on_their_own(deployment: Deployment) -> None:
    started = time.monotonic()
    version = json.loads(deployment.visitor.get("/events?since=-1")[1])["version"]
    json.loads(deployment.visitor.get(f"/events?since={version}")[1])
    assert time.monotonic() - started < 3  # the refresh ticks every 0.2 s here (REFRESH_SECONDS when run)


def test_cli_refuses_local_options_with_a_deployment(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from irflow.cli import main

    assert main(["console", "--deployment", "--speed", "3"]) == 2
    assert "for the local runtime" in capsys.readouterr().err
