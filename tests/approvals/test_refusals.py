"""Every refusal gets a clear page and changes nothing: the incidents table and the executions are as before.

Each test brings the world to the moment of the refused request, takes `world_state` (every item
of the incidents table, every execution with its status, output and history length), sends the
request through the real handler, and compares.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from tasks.approval_api import make_handler
from tasks.common import approval_links
from tests.approvals.conftest import ORIGIN, Browser, Gate, text_of, world_state


def _handler(runtime):
    return make_handler(sfn=runtime.engine)


def _with(link: str, **changes: str) -> str:
    base, _, query = link.partition("?")
    params = dict(part.split("=", 1) for part in query.split("&"))
    params.update(changes)
    return base + "?" + "&".join(f"{k}={v}" for k, v in params.items())


def _refused(runtime, before, response, status: int, words: str) -> None:
    shown = text_of(response)
    assert response["statusCode"] == status, shown
    assert words in shown, shown
    assert "Nothing was changed." in shown
    assert "<form" not in response["body"]
    assert world_state(runtime) == before


def test_forged_signature(runtime):
    gate = Gate(runtime)
    mallory_key = b"not-irflow's-key-but-long-enough-to-look-real-0123456789"
    expires = approval_links.expiry_of(gate.expires_at)
    forged = base64.urlsafe_b64encode(hmac.new(
        mallory_key, f"irflow-approval-link\x1fv1\x1f{gate.approval_id}\x1f{expires}".encode(), hashlib.sha256)
        .digest()).rstrip(b"=").decode()
    alice = Browser.cognito(_handler(runtime), "alice@example.com")
    alice.get(gate.link)  # a real page and token, so only the signature is wrong
    before = world_state(runtime)
    link = _with(gate.link, sig=forged)
    _refused(runtime, before, alice.get(link), 403, "This link is not valid")
    _refused(runtime, before, alice.post(link, "approve", csrf=alice.csrf() or "x"), 403, "signature does not match")
    assert gate.status() == "RUNNING"


def test_tampered_approval_id_or_expiry(runtime):
    first, second = Gate(runtime), Gate(runtime)
    alice = Browser.cognito(_handler(runtime), "alice@example.com")
    alice.get(first.link)
    csrf = alice.csrf()
    before = world_state(runtime)
    swapped = first.link.replace(first.approval_id, second.approval_id)  # first's signature, second's id
    _refused(runtime, before, alice.get(swapped), 403, "altered or not issued by irflow")
    _refused(runtime, before, alice.post(swapped, "approve", csrf=csrf), 403, "altered or not issued by irflow")
    extended = _with(first.link, exp=str(approval_links.expiry_of(first.expires_at) + 86400))
    _refused(runtime, before, alice.post(extended, "approve", csrf=csrf), 403, "altered or not issued by irflow")
    _refused(runtime, before, alice.get(_with(first.link, exp="soon")), 403, "incomplete or malformed")
    assert (first.status(), second.status()) == ("RUNNING", "RUNNING")


def test_expired_link(runtime):
    gate = Gate(runtime)
    alice = Browser.cognito(_handler(runtime), "alice@example.com")
    alice.get(gate.link)
    csrf = alice.csrf()
    issued = approval_links.expiry_of(gate.expires_at) - 3000  # a genuine link, issued to last 10 minutes
    old = _with(gate.link, exp=str(issued), sig=approval_links.sign(gate.approval_id, issued))
    runtime.advance(601)
    before = world_state(runtime)
    _refused(runtime, before, alice.get(old), 410, "This link has expired")
    _refused(runtime, before, alice.post(old, "approve", csrf=csrf), 410, "This link has expired")
    assert gate.status() == "RUNNING"


def test_an_approval_past_its_time_is_refused_and_the_playbook_has_taken_its_timeout_path(runtime):
    gate = Gate(runtime)
    alice = Browser.cognito(_handler(runtime), "alice@example.com")
    alice.get(gate.link)
    csrf = alice.csrf()
    runtime.advance(3601)  # the state's TimeoutSeconds: Step Functions stops waiting
    assert gate.status() == "FAILED"
    before = world_state(runtime)
    _refused(runtime, before, alice.post(gate.link, "approve", csrf=csrf), 410, "This link has expired")


def test_replayed_decision(runtime):
    gate = Gate(runtime)
    alice = Browser.cognito(_handler(runtime), "alice@example.com")
    alice.get(gate.link)
    csrf = alice.csrf()
    assert alice.post(gate.link, "approve", csrf=csrf)["statusCode"] == 200
    assert gate.status() == "SUCCEEDED"
    before = world_state(runtime)
    _refused(runtime, before, alice.post(gate.link, "approve", csrf=csrf), 409, "Already decided")
    _refused(runtime, before, alice.post(gate.link, "reject", csrf=csrf), 409, "is already approved (by "
                                                                               "alice@example.com")
    bob = Browser.cognito(_handler(runtime), "bob@example.com")
    page = bob.get(gate.link)
    assert "This approval is approved by alice@example.com" in text_of(page) and "<form" not in page["body"]
    _refused(runtime, before, bob.post(gate.link, "reject", csrf="whatever"), 403, "anti-forgery token")


@pytest.mark.parametrize("how", ["missing", "other approval", "no cookie", "other person"])
def test_wrong_csrf_token(runtime, how):
    gate, other = Gate(runtime), Gate(runtime)
    handler = _handler(runtime)
    alice = Browser.cognito(handler, "alice@example.com")
    alice.get(other.link)
    token_for_other = alice.csrf()
    alice.get(gate.link)
    bob = Browser.cognito(handler, "bob@example.com")
    bob.cookies = dict(alice.cookies)  # even with alice's cookie, bob cannot use alice's token
    before = world_state(runtime)
    if how == "missing":
        response = alice.post(gate.link, "approve", csrf="")
    elif how == "other approval":
        response = alice.post(gate.link, "approve", csrf=token_for_other)
    elif how == "no cookie":
        csrf = alice.csrf()
        alice.cookies.clear()
        response = alice.post(gate.link, "approve", csrf=csrf)
    else:
        response = bob.post(gate.link, "approve", csrf=alice.csrf())
    _refused(runtime, before, response, 403, "anti-forgery token does not match")
    assert gate.status() == "RUNNING"


@pytest.mark.parametrize("origin", ["https://evil.example", "null", None])
def test_a_post_from_another_site(runtime, origin):
    gate = Gate(runtime)
    alice = Browser.cognito(_handler(runtime), "alice@example.com")
    alice.get(gate.link)
    before = world_state(runtime)
    _refused(runtime, before, alice.post(gate.link, "approve", origin=origin), 403,
             "did not come from the approval page")


def test_same_origin_referer_stands_in_for_a_missing_origin(runtime):
    gate = Gate(runtime)
    alice = Browser.cognito(_handler(runtime), "alice@example.com")
    alice.get(gate.link)
    event = alice.event("POST", gate.link, f"decision=approve&reason=&csrf={alice.csrf()}",
                        {"Referer": gate.link})
    assert alice.handler(event, None)["statusCode"] == 200
    assert gate.status() == "SUCCEEDED"
    assert ORIGIN in gate.link


def test_not_an_approver(runtime):
    gate = Gate(runtime)
    mallory = Browser.cognito(_handler(runtime), "mallory@example.com")
    page = mallory.get(gate.link)
    assert "Signed in as mallory@example.com, who is not an approver for this playbook" in text_of(page)
    assert "<form" not in page["body"]
    # she cannot get a token from the page, but even one minted for her is refused by the gate
    token = approval_links.csrf_token(gate.approval_id, gate.link.rsplit("sig=", 1)[1],
                                      mallory.cookies["__Host-irflow-csrf"], "mallory@example.com")
    before = world_state(runtime)
    _refused(runtime, before, mallory.post(gate.link, "approve", csrf=token), 403,
             "mallory@example.com is not an approver for playbook containment")


def test_an_unverified_email_is_not_the_approver_it_names(runtime):
    gate = Gate(runtime)
    claimer = Browser.cognito(_handler(runtime), "alice@example.com", verified=False)  # cognito:username "alice"
    page = claimer.get(gate.link)
    assert "Signed in as alice, who is not an approver" in text_of(page)


def test_nobody_signed_in(runtime):
    gate = Gate(runtime)
    anonymous = Browser(_handler(runtime))  # AuthorizationType NONE: no authoriser context
    page = anonymous.get(gate.link)
    shown = text_of(page)
    assert page["statusCode"] == 200 and "<form" not in page["body"]
    assert f"irflow approve {gate.approval_id}" in shown
    before = world_state(runtime)
    _refused(runtime, before, anonymous.post(gate.link, "approve", csrf="x"), 401, "Nobody is signed in")


def test_iam_identity_counts_as_the_person_it_belongs_to(runtime):
    gate = Gate(runtime)
    alice = Browser(_handler(runtime), user_arn="arn:aws:iam::111111111111:user/alice")
    alice.get(gate.link)
    assert alice.post(gate.link, "approve")["statusCode"] == 200
    assert gate.output()["approval"]["by"] == "arn:aws:iam::111111111111:user/alice"


def test_two_person_rule(runtime):
    gate = Gate(runtime, action="isolate-instance")
    handler = _handler(runtime)
    alice = Browser.cognito(handler, "alice@example.com")
    page = alice.get(gate.link)
    assert "two different approvers must approve" in text_of(page)
    response = alice.post(gate.link, "approve", reason="first look")
    assert response["statusCode"] == 202 and "recorded (1 of 2)" in text_of(response)
    assert gate.status() == "RUNNING"

    before = world_state(runtime)
    page = alice.get(gate.link)
    assert "you gave the first approval" in text_of(page) and "<form" not in page["body"]
    token = approval_links.csrf_token(gate.approval_id, gate.link.rsplit("sig=", 1)[1],
                                      alice.cookies["__Host-irflow-csrf"], "alice@example.com")
    _refused(runtime, before, alice.post(gate.link, "approve", csrf=token), 409, "needs two different approvers")
    alias = Browser(handler, user_arn="arn:aws:iam::111111111111:user/alice")  # the same person, signed in as IAM
    alias.get(gate.link)
    token = approval_links.csrf_token(gate.approval_id, gate.link.rsplit("sig=", 1)[1],
                                      alias.cookies["__Host-irflow-csrf"], "arn:aws:iam::111111111111:user/alice")
    _refused(runtime, before, alias.post(gate.link, "approve", csrf=token), 409, "alice already approved")

    bob = Browser.cognito(handler, "bob@example.com", source_ip="192.0.2.44")
    page = bob.get(gate.link)
    assert "Approved by alice@example.com" in text_of(page) and "(1 of 2)" in text_of(page)
    response = bob.post(gate.link, "approve")
    assert response["statusCode"] == 200
    assert "Approved by alice@example.com and bob@example.com" in text_of(response)
    assert gate.status() == "SUCCEEDED"
    from tasks.common import approvals

    decided = approvals.get(gate.approval_id)
    assert decided["status"] == "approved" and decided["decided_by"] == "bob@example.com"
    assert decided["approvers"] == ["alice@example.com", "bob@example.com"]
    assert decided["first_approval"]["by"] == "alice@example.com"
    assert decided["first_approval"]["where"]["source_ip"] == "203.0.113.7"
    assert decided["decided_from"]["source_ip"] == "192.0.2.44"


def test_under_the_two_person_rule_one_rejection_is_enough(runtime):
    gate = Gate(runtime, action="isolate-instance")
    bob = Browser.cognito(_handler(runtime), "bob@example.com")
    bob.get(gate.link)
    assert bob.post(gate.link, "reject", reason="known scanner")["statusCode"] == 200
    assert gate.status() == "SUCCEEDED" and gate.output()["rejection"]["Error"] == "irflow.ApprovalRejected"


def test_misconfigured_approvers_refuse_everyone(runtime):
    from irflow.local.approval_server import configure_approvers

    gate = Gate(runtime)
    alice = Browser.cognito(_handler(runtime), "alice@example.com")
    alice.get(gate.link)
    csrf = alice.csrf()
    configure_approvers(runtime.aws, {"containment": "alice@example.com"})  # a string, not a list
    before = world_state(runtime)
    _refused(runtime, before, alice.post(gate.link, "approve", csrf=csrf), 503, "Approvers are not configured")
    configure_approvers(runtime.aws, {"other-playbook": ["alice@example.com"]})
    before = world_state(runtime)
    _refused(runtime, before, alice.post(gate.link, "approve", csrf=csrf), 403, "not an approver")


def test_a_decision_for_an_execution_that_stopped_waiting_is_recorded_and_says_nothing_resumed(runtime):
    gate = Gate(runtime)
    alice = Browser.cognito(_handler(runtime), "alice@example.com")
    alice.get(gate.link)
    runtime.engine.stop_execution(executionArn=gate.execution, error="Operator", cause="stopped by hand")
    response = alice.post(gate.link, "approve")
    shown = text_of(response)
    assert response["statusCode"] == 410
    assert "Your decision is recorded in the incident, but approval" in shown
    assert "the execution no longer waits (TaskTimedOut" in shown and "Nothing was changed." not in shown
    from tasks.common import approvals

    assert approvals.get(gate.approval_id)["status"] == "approved"
    assert gate.status() == "ABORTED"
