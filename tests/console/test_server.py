"""The console over HTTP: the checks every request passes, starting a playbook by hand, evidence, deciding.

One console (real-time clock, run `FAST` times faster) serves the hostile headline scenario; a
`Visitor` plays the browser. Decisions go through the approval API behind the console, and the
tests read the outcome back from the engine and from moto (the instance really stopped).
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from irflow.console.app import LocalConsole

from .conftest import FAST, HEADLINE, Visitor

PERSON = "alice"


@pytest.fixture(scope="module")
def console() -> Iterator[LocalConsole]:
    from irflow.local.scenario import accounts_of, create, substitute

    from .conftest import hostile_scenario

    with LocalConsole([PERSON], speed=FAST, port=0, write_state=False) as running:
        scenario = hostile_scenario()  # the headline, run as run_scenario does, with a hostile finding
        world = running.runtime.aws
        with running.runtime.engine.scheduler.lock:
            for account, role in accounts_of(scenario, "222222222222").items():
                world.add_member(account, role)
            created = create(world, scenario)
            for event in scenario.events:
                running.runtime.put_event(substitute(event, created))
        running.runs["ssh-brute-force"] = _run_record(running, scenario, created)
        yield running


def _run_record(console: LocalConsole, scenario: Any, created: dict[str, Any]) -> Any:
    from irflow.console.app import ScenarioRun
    from irflow.console.templates import Target

    return ScenarioRun(HEADLINE.stem, scenario.name,
                       [Target(c.id, c.account, c.region, c.name) for c in created.values()])


@pytest.fixture(scope="module")
def visitor(console: LocalConsole) -> Visitor:
    visitor = Visitor(console.url)
    status, page = visitor.get(console.sign_in_url(PERSON).removeprefix(console.url))
    assert status == 200 and PERSON in page
    return visitor


def locked(console: LocalConsole, read: Any) -> Any:
    """Read the runtime as the console does: moto is not thread-safe and the engine's thread uses it."""
    with console.runtime.engine.scheduler.lock:
        return read()


def wait_until(check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not true after {timeout}s: {check}")


def console_token(page: str) -> str:
    """The console's own form token (not an approval card's, which belongs to the approval API)."""
    found = re.search(r'action="/(?:start|scenarios)">\s*<input type="hidden" name="csrf" value="([^"]+)"', page)
    assert found, "no console form on the page"
    return found.group(1)


def pending_page(visitor: Visitor) -> str:
    """The overview once an approval can be decided (the execution waits on it)."""
    return str(wait_until(lambda: (lambda page: page if 'value="approve">Approve' in page else None)(
        visitor.get("/")[1])))


def test_nothing_without_signing_in(console: LocalConsole) -> None:
    stranger = Visitor(console.url)
    status, page = stranger.get("/")
    assert status == 401 and "Sign in" in page and "data-approval" not in page
    assert stranger.get("/events?since=0")[0] == 401
    assert stranger.get("/start")[0] == 401
    status, page = stranger.get("/signin?token=not-the-token&next=/")
    assert status == 403 and stranger.cookie("irflow-session") is None
    assert stranger.get("/static/console.css")[0] == 200  # the sign-in page needs its style


def test_answers_only_to_its_own_address(console: LocalConsole, visitor: Visitor) -> None:
    """A DNS-rebinding page reaches the port under another name: it gets nothing."""
    status, page = visitor.get("/", headers={"Host": f"evil.example:{console.server.port if console.server else 0}"})
    assert status == 421 and "irflow" not in page.lower().replace("this console", "")


def test_pages_forbid_framing_and_foreign_code(console: LocalConsole, visitor: Visitor) -> None:
    request = urllib.request.Request(console.url + "/")
    with visitor.opener.open(request, timeout=30) as response:
        headers = response.headers
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"
    assert "<script>" not in visitor.get("/")[1]  # no inline script: only /static/console.js


def test_overview_shows_the_pending_approval_escaped(console: LocalConsole, visitor: Visitor) -> None:
    page = pending_page(visitor)
    assert "RequestRemediationApproval" in page and 'value="approve">Approve</button>' in page
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&quot;title&quot;)&lt;/script&gt;" in page  # the reason quotes the finding's title
    assert visitor.cookie("irflow-csrf")  # the approval API's per-browser nonce, for the card's token


def test_events_answer_when_something_happened(console: LocalConsole, visitor: Visitor) -> None:
    started = time.monotonic()
    status, text = visitor.get("/events?since=-1")
    assert status == 200 and json.loads(text)["version"] >= 1 and time.monotonic() - started < 2


def test_a_post_from_another_site_changes_nothing(console: LocalConsole, visitor: Visitor) -> None:
    before = len(locked(console, console.runtime.executions))
    form = {"csrf": console_token(visitor.get("/start")[1]), "playbook": "ec2-compromise", "input": "{}"}
    assert visitor.post("/start", form, origin="http://evil.example")[0] == 403
    assert visitor.post("/start", form, origin=None)[0] == 403  # neither Origin nor Referer
    assert visitor.post("/start", {**form, "csrf": "forged"})[0] == 403
    assert len(locked(console, console.runtime.executions)) == before


def test_start_a_playbook_by_hand_from_a_template(console: LocalConsole, visitor: Visitor) -> None:
    target = console.targets()[0]
    status, page = visitor.get(f"/start?template=guardduty-backdoor-cc-activity&target={target.id}"
                               "&playbook=ec2-compromise")
    assert status == 200
    text = html.unescape(re.search(r"<textarea[^>]*>(.*?)</textarea>", page, re.S).group(1))  # type: ignore[union-attr]
    finding = json.loads(text)
    assert finding["detail"]["resource"]["instanceDetails"]["instanceId"] == target.id
    assert finding["detail"]["type"] == "Backdoor:EC2/C&CActivity.B"
    token = console_token(page)
    status, page = visitor.post("/start", {"csrf": token, "playbook": "ec2-compromise", "input": text})
    assert status == 200 and "Started ec2-compromise by hand" in page
    manual = [e for e in locked(console, console.runtime.executions) if e["name"].startswith("manual-")]
    assert len(manual) == 1 and json.loads(manual[0]["input"]) == finding
    status, page = visitor.post("/start", {"csrf": token, "playbook": "ec2-compromise", "input": "{not json"})
    assert status == 400 and "The input is not JSON" in page
    assert visitor.post("/start", {"csrf": token, "playbook": "nope", "input": "{}"})[0] == 400


def test_a_scenario_that_clashes_is_reported_not_half_run(console: LocalConsole, visitor: Visitor) -> None:
    token = console_token(visitor.get("/")[1])
    status, page = visitor.post("/scenarios", {"csrf": token, "scenario": "ssh-brute-force"})
    assert status == 200 and "already ran in this console" in page
    status, page = visitor.post("/scenarios", {"csrf": token, "scenario": "../../etc/passwd"})
    assert "There is no such scenario." in page
    before = len(locked(console, console.runtime.executions))
    status, page = visitor.post("/scenarios", {"csrf": token, "scenario": "low-severity"})
    assert "Scenario low-severity:" in page and "needs a fresh console" in page  # its web-sg exists already
    assert len(locked(console, console.runtime.executions)) == before


def test_evidence_downloads_and_verifies(console: LocalConsole, visitor: Visitor) -> None:
    pending_page(visitor)
    [summary] = [i for i in locked(console, console.runtime.incidents) if i["evidence"]][:1]
    incident_id = summary["id"]
    item = next(e for e in summary["evidence"] if e["uri"].startswith("s3://"))
    from urllib.parse import urlencode

    request = urllib.request.Request(f"{console.url}/evidence?{urlencode({'incident': incident_id, 'uri': item['uri']})}")
    with visitor.opener.open(request, timeout=30) as response:
        body = response.read()
        assert response.headers["Content-Disposition"].startswith("attachment;")
    assert hashlib.sha256(body).hexdigest() == item["sha256"]
    assert visitor.get(f"/evidence?{urlencode({'incident': incident_id, 'uri': 's3://other/secret'})}")[0] == 404
    status, page = visitor.get(f"/incidents/{incident_id}?verify=1")
    assert status == 200 and '<span class="pill ok">matches</span>' in page and "differs" not in page


def test_no_buttons_until_an_execution_waits_on_the_approval(console: LocalConsole, visitor: Visitor) -> None:
    """request-approval stores the approval before the execution awaits its token: deciding then could not resume it."""
    import uuid

    from tasks.common import approvals

    approval_id = str(uuid.uuid4())
    locked(console, lambda: approvals.create("inc-00000000000000aa", approval_id, "isolate-instance",
                                             "i-0123456789abcdef0", "a test", "not-a-real-token", 600))
    page = visitor.get("/")[1]
    card = page[page.index(f'data-approval="{approval_id}"'):]
    card = card[:card.index("</article>")]
    assert "still handing this request over" in card and "<form" not in card


def test_approve_from_the_overview_through_the_approval_api(console: LocalConsole, visitor: Visitor) -> None:
    target = console.targets()[0]
    page = pending_page(visitor)
    card = re.search(rf'<code>{target.id}</code>\?</h3>.*?<form class="decide" method="post" action="([^"]+)" '
                     r'data-decide><input type="hidden" name="csrf" value="([^"]+)">', page)
    assert card, "the headline instance's approval is on the overview"
    action, token = html.unescape(card.group(1)), card.group(2)
    assert action.startswith("/approvals/")
    status, answer = visitor.post(action, {"csrf": token, "decision": "approve", "reason": "seen it"})
    assert status == 200 and "Approved by alice" in answer
    replay_status, replay = visitor.post(action, {"csrf": token, "decision": "reject"})
    assert replay_status == 409 and "Nothing was changed" in replay
    headline = next(e for e in locked(console, console.runtime.executions) if not e["name"].startswith("manual-"))
    wait_until(lambda: locked(console, lambda: console.runtime.engine.describe_execution(
        executionArn=headline["executionArn"])["status"]) == "SUCCEEDED")
    with console.runtime.engine.scheduler.lock:
        ec2 = console.runtime.aws.client("ec2", target.account, target.region)
        state = ec2.describe_instances(InstanceIds=[target.id])["Reservations"][0]["Instances"][0]["State"]["Name"]
        incident = next(i for i in console.runtime.incidents() if i["approvals"])
    assert state == "stopped"
    assert incident["approvals"][0]["decision"] == "approved" and incident["approvals"][0]["by"] == PERSON
    approval_id = action.split("/")[2].split("?")[0]
    assert f'data-approval="{approval_id}"' not in visitor.get("/")[1]
