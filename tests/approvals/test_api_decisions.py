"""The approval page and its decisions, through the real handler, resuming a real execution on the engine."""

from __future__ import annotations

from tasks.approval_api import make_handler
from tasks.common import clock, incidents
from tests.approvals.conftest import INCIDENT, Browser, Gate, text_of


def test_the_page_shows_the_incident_what_will_be_done_and_the_evidence_with_sha256(runtime):
    gate = Gate(runtime)
    digest = "9f2c1d6be0a4f3c2d1e0b9a8f7e6d5c4b3a2918f7e6d5c4b3a2918f7e6d5c4b3"
    incidents.add_evidence(gate.incident_id, "s3://irflow-evidence/incidents/x/ps.txt", digest, "volatile", size=512)
    alice = Browser.cognito(make_handler(sfn=runtime.engine), "alice@example.com")
    page = alice.get(gate.link)
    assert page["statusCode"] == 200
    shown = text_of(page)
    assert "Approve: stop i-0a1b2c3d4e5f60718?" in shown
    assert "If approved, irflow will stop i-0a1b2c3d4e5f60718 (its volumes, snapshots and collected evidence are kept)" \
        in shown
    assert INCIDENT["incident_id"] in shown and "UnauthorizedAccess:EC2/SSHBruteForce" in shown
    assert "account 222222222222, us-east-1" in shown and "Playbook containment" in shown
    assert digest in shown and "s3://irflow-evidence/incidents/x/ps.txt" in shown
    assert "Signed in as alice@example.com (cognito)" in shown
    assert alice.csrf() and "__Host-irflow-csrf" in alice.cookies
    cookie = page["multiValueHeaders"]["Set-Cookie"][0]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    headers = page["multiValueHeaders"]
    assert headers["Content-Security-Policy"][0].startswith("default-src 'none'")
    assert headers["Referrer-Policy"] == ["same-origin"] and headers["X-Frame-Options"] == ["DENY"]
    assert gate.status() == "RUNNING"


def test_approve_resumes_the_execution_and_records_who_when_and_from_where(runtime):
    gate = Gate(runtime)
    alice = Browser.cognito(make_handler(sfn=runtime.engine), "alice@example.com", source_ip="198.51.100.20")
    alice.get(gate.link)
    runtime.advance(180)  # someone reads the page and decides
    when = clock.iso(runtime.now())
    response = alice.post(gate.link, "approve", reason="owner confirmed the host is compromised")
    assert response["statusCode"] == 200, text_of(response)
    assert "Approved by alice@example.com. The playbook resumes now" in text_of(response)
    assert gate.status() == "SUCCEEDED"
    approval = gate.output()["approval"]
    assert approval["decision"] == "approved" and approval["by"] == "alice@example.com"
    assert approval["approval_id"] == gate.approval_id and approval["at"] == when

    record = incidents.load_incident(gate.incident_id)
    assert record["approvals"] == [{"id": gate.approval_id, "decision": "approved", "by": "alice@example.com"}]
    stored = runtime.aws.client("dynamodb").get_item(
        TableName=runtime.aws.central.incidents_table,
        Key=incidents.key(incidents.incident_pk(gate.incident_id), incidents.APPROVAL_REF + gate.approval_id))["Item"]
    copy = incidents.from_ddb(stored)
    assert copy["decided_at"] == when and when.startswith("2025-03-14T09:33:")
    assert copy["decided_from"] == {"via": "cognito", "source_ip": "198.51.100.20",
                                    "user_agent": "Mozilla/5.0 (X11; Linux x86_64) irflow-test"}
    assert copy["reason"] == "owner confirmed the host is compromised"
    assert any("alice@example.com approved remediate-instance of i-0a1b2c3d4e5f60718" in t["message"]
               for t in record["timeline"])
    assert "task_token" not in runtime.aws.client("dynamodb").get_item(
        TableName=runtime.aws.central.incidents_table,
        Key=incidents.key(incidents.APPROVAL_PREFIX + gate.approval_id, incidents.META))["Item"]


def test_reject_fails_the_task_with_the_rejection_and_the_playbook_takes_its_rejected_path(runtime):
    gate = Gate(runtime)
    bob = Browser.cognito(make_handler(sfn=runtime.engine), "bob@example.com")
    bob.get(gate.link)
    response = bob.post(gate.link, "reject", reason="it is the red team")
    assert response["statusCode"] == 200 and "Rejected by bob@example.com" in text_of(response)
    assert gate.status() == "SUCCEEDED"
    rejection = gate.output()["rejection"]
    assert rejection["Error"] == "irflow.ApprovalRejected" and '"by": "bob@example.com"' in rejection["Cause"]
    record = incidents.load_incident(gate.incident_id)
    assert record["approvals"] == [{"id": gate.approval_id, "decision": "rejected", "by": "bob@example.com"}]


def test_the_incident_record_shows_who_decided_from_where(runtime):
    gate = Gate(runtime, action="isolate-instance")  # two-person rule
    handler = make_handler(sfn=runtime.engine)
    for email, ip in (("alice@example.com", "198.51.100.1"), ("bob@example.com", "198.51.100.2")):
        person = Browser.cognito(handler, email, source_ip=ip)
        person.get(gate.link)
        assert person.post(gate.link, "approve")["statusCode"] in (200, 202)
    detail = incidents.load_incident(gate.incident_id)["approval_detail"]
    assert len(detail) == 1
    assert detail[0]["decision"] == "approved" and detail[0]["by"] == "bob@example.com"
    assert detail[0]["approvers"] == ["alice@example.com", "bob@example.com"]
    assert detail[0]["first_approval"]["where"]["source_ip"] == "198.51.100.1"
    assert detail[0]["decided_from"]["source_ip"] == "198.51.100.2"


def test_logs_name_the_approval_and_who_but_never_the_signature_token_or_key(runtime, caplog):
    import json

    caplog.set_level("INFO")
    gate = Gate(runtime)
    alice = Browser.cognito(make_handler(sfn=runtime.engine), "alice@example.com")
    alice.get(gate.link)
    csrf = alice.csrf()
    alice.post(gate.link, "approve")
    key = runtime.aws.client("secretsmanager").get_secret_value(
        SecretId=runtime.aws.central.approval_key_secret_arn)["SecretString"]
    logged = [r.__dict__ for r in caplog.records if r.getMessage() == "approval request"]
    assert [(r["method"], r["status"], r["person"], r["approval_id"]) for r in logged] == [
        ("GET", 200, "alice@example.com", gate.approval_id), ("POST", 200, "alice@example.com", gate.approval_id)]
    text = json.dumps([r.__dict__ for r in caplog.records], default=str)
    assert gate.link.rsplit("sig=", 1)[1] not in text and csrf not in text and key not in text
    assert alice.cookies["__Host-irflow-csrf"] not in text


def test_the_page_shows_the_exact_sentence_the_request_stored(runtime):
    """A playbook's own action (here a WAF block) is described on the page in the request's words."""
    from tasks.approval_api import _what
    from tasks.common import approvals

    sentence = "block 203.0.113.7 and 198.51.100.9 in web ACL shop-acl until 2025-03-14T10:21:40Z"
    approvals.create(INCIDENT["incident_id"], "appr-waf-1", "block-ip-addresses", "shop-acl", "SQL injection",
                     "token-never-shown", 3600, what=sentence)
    stored = approvals.get("appr-waf-1")
    assert stored["what"] == sentence and "task_token" not in stored
    assert _what(stored) == sentence
