"""The console's reading and pages over a real run: the headline, stopped where it waits for a person.

The run is the local runtime's (virtual clock): moto holds the incident, the evidence and the
pending approval the tasks wrote; the engine holds the execution. The pages are rendered from what
`Source` reads there and checked for what a responder needs to see, and for the hostile finding's
markup appearing only as text.
"""

from __future__ import annotations

import hashlib
import html
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from irflow.console import views
from irflow.console.graphs import Graphs, GraphUnavailable
from irflow.console.source import Source, steps_of
from irflow.engine import Engine

from .conftest import HOSTILE_TITLE, REPO, WaitingRun

NOW = datetime(2025, 3, 14, 10, 0, tzinfo=UTC)


def source_of(run: WaitingRun) -> Source:
    engine = run.runtime.engine
    return Source(engine, lambda: dict(run.runtime.state_machines), lock=engine.scheduler.lock,
                  now=engine.clock.now)


def frame() -> views.Frame:
    return views.Frame("alice", "local · embedded AWS", NOW)


def assert_only_escaped(page: str) -> None:
    """The hostile finding's markup is on the page as text, never as markup."""
    for raw in ("<script>alert", "<img src=x", "<b onmouseover"):
        assert raw not in page
    assert html.escape('<script>alert("title")</script>') in page or "&lt;script&gt;" in page


def test_a_waiting_execution_shows_where_it_waits(waiting_run: WaitingRun) -> None:
    [execution] = source_of(waiting_run).executions()
    assert execution.playbook == "ec2-compromise" and execution.status == "RUNNING"
    assert execution.waiting
    assert [s.name for s in execution.current] == ["RequestRemediationApproval"]
    assert execution.current[0].task == "request-approval" and execution.current[0].status == "WAITING"


def test_execution_detail_reads_steps_input_and_its_incident(waiting_run: WaitingRun) -> None:
    source = source_of(waiting_run)
    [listed] = source.executions()
    execution = source.execution("ec2-compromise", listed.name)
    assert execution is not None
    names = [s.name for s in execution.steps]
    assert names[:3] == ["ParseFinding", "OpenIncident", "IsRepeatedFinding"]
    by_name = {s.name: s for s in execution.steps}
    assert by_name["ParseFinding"].task == "parse-finding" and by_name["ParseFinding"].status == "SUCCEEDED"
    # The Parallel's end is chained to its last branch's event; it still closes the Parallel itself.
    evidence = by_name["CollectEvidence"]
    assert evidence.status == "SUCCEEDED" and evidence.seconds and evidence.seconds >= 5  # WaitVolatile is 5 s
    assert by_name["VolatileDone"].seconds == 0
    assert by_name["IsolateInstance"].task == "isolate-instance"
    assert execution.input["detail"]["title"] == HOSTILE_TITLE
    [incident] = waiting_run.runtime.incidents()
    assert execution.incident_id == incident["id"]
    assert source.execution("ec2-compromise", "no-such-execution") is None
    assert source.execution("no-such-playbook", listed.name) is None


def test_overview_lists_the_approval_execution_and_incident(waiting_run: WaitingRun) -> None:
    source = source_of(waiting_run)
    [approval] = source.pending_approvals()
    assert approval["action"] == "remediate-instance" and approval["target"] == waiting_run.instance.id
    assert "task_token" not in approval
    card = views.ApprovalCard(approval, f"stop {approval['target']}", f"/approvals/{approval['approval_id']}?exp=1&sig=s",
                              "token-1")
    rows = [views.ScenarioRow("ssh-brute-force", "SSH brute force", True)]
    page = views.overview(frame(), [card], source.executions(), source.incidents(), rows, "csrf-1")
    assert f'data-approval="{approval["approval_id"]}"' in page
    assert f'action="/approvals/{approval["approval_id"]}?exp=1&amp;sig=s"' in page
    assert 'name="csrf" value="token-1"' in page
    assert 'value="approve">Approve</button>' in page and 'value="reject">Reject</button>' in page
    assert "RequestRemediationApproval" in page and "waiting for a person" in page
    [incident] = source.incidents()
    assert f'href="/incidents/{incident["id"]}"' in page and "awaiting-approval" in page
    assert_only_escaped(page)


def test_an_approval_without_a_link_offers_no_buttons() -> None:
    approval = {"approval_id": "a1", "action": "isolate-instance", "target": "i-1", "incident_id": "inc-1",
                "reason": "<script>x</script>", "expires_at": "2025-03-14T11:00:00.000Z"}
    page = views.approvals_section([views.ApprovalCard(approval, "isolate i-1", note="No approval API is listening.")],
                                   NOW)
    assert "<button" not in page and "No approval API is listening." in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page and "1h 00m left" in page


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed (make graphviz)")
def test_execution_page_marks_the_graph_and_lists_the_timeline(waiting_run: WaitingRun) -> None:
    source = source_of(waiting_run)
    execution = source.execution("ec2-compromise", source.executions()[0].name)
    assert execution is not None
    graphs = Graphs(REPO / "workflows")
    svg = graphs.marked("ec2-compromise", execution.state_status())
    page = views.execution_page(frame(), execution, svg, None, graphs.drawing("ec2-compromise").order)
    assert 'class="node st-waiting" data-state="RequestRemediationApproval"' in page
    assert 'class="node st-succeeded" data-state="IsolateInstance"' in page
    assert 'class="node st-idle" data-state="RecordAccessDenied"' in page  # never entered
    assert page.count("st-waiting") >= 2  # the graph node and the timeline entry
    assert '<span class="task">snapshot-volumes</span>' in page
    assert f'href="/incidents/{execution.incident_id}"' in page
    assert_only_escaped(page)


def test_without_a_picture_the_states_are_listed(waiting_run: WaitingRun) -> None:
    source = source_of(waiting_run)
    execution = source.execution("ec2-compromise", source.executions()[0].name)
    assert execution is not None
    page = views.graph_block(execution, None, "Graphviz is not installed", ("ParseFinding", "RequestRemediationApproval",
                                                                             "RecordAccessDenied"))
    assert '<li class="st st-succeeded">ParseFinding</li>' in page
    assert '<li class="st st-waiting">RequestRemediationApproval</li>' in page
    assert '<li class="st st-idle">RecordAccessDenied</li>' in page
    with pytest.raises(GraphUnavailable):
        Graphs(REPO / "workflows").drawing("no-such-playbook")


def test_incident_page_shows_actions_approvals_and_evidence_with_their_hashes(waiting_run: WaitingRun) -> None:
    source = source_of(waiting_run)
    [summary] = source.incidents()
    incident = source.incident(summary["id"])
    assert incident is not None and source.incident("inc-0000000000000000") is None
    page = views.incident_page(frame(), incident, source.executions())
    s3 = waiting_run.runtime.aws.client("s3")
    objects = [e for e in incident["evidence_detail"] if e["uri"].startswith("s3://")]
    assert objects, "the headline collects volatile data into the evidence bucket"
    for item in objects:
        bucket, _, key = item["uri"].removeprefix("s3://").partition("/")
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == item["sha256"]  # what the page shows is the object's real digest
        assert f'<code class="hash">{item["sha256"]}</code>' in page
    assert "isolate-network-interface" in page or "prepare-isolation-group" in page
    assert "remediate-instance" in page and "pending" in page
    assert "Verify: read every object back and hash it" in page
    checked = views.incident_page(frame(), incident, [], {objects[0]["uri"]: views.EvidenceCheck(True, "matches")})
    assert '<span class="pill ok">matches</span>' in checked and "Verify:" not in checked
    assert_only_escaped(page)


def test_steps_follow_retries_and_caught_failures() -> None:
    """A retry that worked leaves the state succeeded; a failure a Catch handled leaves it failed."""
    calls: list[str] = []

    def flaky(event: object, context: object) -> dict[str, str]:
        calls.append("flaky")
        if len(calls) == 1:
            raise RuntimeError("first call fails")
        return {"ok": "yes"}

    def broken(event: object, context: object) -> None:
        raise ValueError("always <fails>")

    engine = Engine()
    engine.register_lambda("irflow-flaky", flaky)
    engine.register_lambda("irflow-broken", broken)
    definition = {"StartAt": "Flaky", "States": {
        "Flaky": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:111111111111:function:irflow-flaky",
                  "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 2, "MaxAttempts": 1}], "Next": "Broken"},
        "Broken": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:111111111111:function:irflow-broken",
                   "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "After"}], "End": True},
        "After": {"Type": "Pass", "End": True}}}
    machine = engine.create_state_machine(name="irflow-small", definition=json.dumps(definition))["stateMachineArn"]
    arn = engine.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    events = engine.get_execution_history(executionArn=arn)["events"]
    steps = {s.name: s for s in steps_of(events, engine.describe_execution(executionArn=arn)["status"])}
    assert steps["Flaky"].status == "SUCCEEDED" and steps["Flaky"].retries == 1 and steps["Flaky"].error is None
    assert steps["Flaky"].task == "flaky" and steps["Flaky"].seconds == pytest.approx(2.0)
    assert steps["Broken"].status == "FAILED" and steps["Broken"].error == "ValueError"
    assert steps["After"].status == "SUCCEEDED"
    source = Source(engine, lambda: {"small": machine})
    [listed] = source.executions()
    assert listed.status == "SUCCEEDED" and not listed.current
    page = views.steps_list(source.execution("small", listed.name) or listed)
    assert "1 retry" in page and "always &lt;fails&gt;" in page


def test_formatting() -> None:
    assert views.duration(3.25) == "3.2 s" and views.duration(75) == "1m 15s" and views.duration(7322) == "2h 02m"
    assert views.size(812) == "812 B" and views.size(4300) == "4.2 KB" and views.size(None) == ""
    assert views.when("2025-03-14T09:26:41.000Z").endswith(">09:26:41</time>")
    assert views.when("not a time") == "not a time"
    assert views.e('"<x>&') == "&quot;&lt;x&gt;&amp;"


def test_evidence_download_links_only_for_objects(tmp_path: Path) -> None:
    incident = {"id": "inc-1", "evidence_detail": [
        {"uri": "s3://b/incidents/inc-1/volatile.txt", "sha256": "ab", "kind": "volatile", "size": 10},
        {"uri": "ebs-snapshot://snap-1", "sha256": "cd", "kind": "snapshot"}]}
    page = views.evidence_table(incident, None)
    assert page.count('class="download"') == 1
    assert "/evidence?incident=inc-1&amp;uri=s3%3A%2F%2Fb%2Fincidents%2Finc-1%2Fvolatile.txt" in page
