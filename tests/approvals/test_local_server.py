"""The local approval server: real HTTP to the real handler, sign-in, and the terminal's `irflow approve --local`."""

from __future__ import annotations

import http.cookiejar
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from irflow import cli
from irflow.local.approval_server import ApprovalServer, read_state, to_event
from tasks.common import approvals
from tests.approvals.conftest import Gate, world_state

PEOPLE = ["alice@example.com", "bob@example.com"]


class HttpBrowser:
    """urllib with a cookie jar: what a browser on loopback does."""

    def __init__(self) -> None:
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def open(self, url: str, form: dict[str, str] | None = None, headers: dict[str, str] | None = None):
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(url, data=data, headers={"User-Agent": "test-browser/1.0", **(headers or {})})
        try:
            with self.opener.open(request, timeout=10) as response:
                return response.status, response.read().decode(), dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(), dict(error.headers)


@pytest.fixture
def server(runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ApprovalServer]:
    monkeypatch.setenv("IRFLOW_STATE_DIR", str(tmp_path / "state"))
    with ApprovalServer(runtime.engine, PEOPLE, world=runtime.aws) as running:
        yield running


def test_links_point_at_the_server_while_it_runs(runtime, server):
    gate = Gate(runtime)
    assert gate.link.startswith(f"{server.url}/approvals/{gate.approval_id}?exp=")
    notes = runtime.aws.drain_notifications()
    asked = next(n for n in notes if "Approval needed" in n["subject"])
    assert gate.link in asked["message"].splitlines()


def test_approve_in_a_browser_over_http(runtime, server):
    gate = Gate(runtime)
    browser = HttpBrowser()
    status, body, _ = browser.open(gate.link)
    assert status == 200 and "Nobody is signed in" in body and "<form" not in body
    status, body, _ = browser.open(server.sign_in_url("alice@example.com", next_path="/"))
    assert status == 200 and "Signed in as alice@example.com" in body and gate.approval_id in body
    status, body, headers = browser.open(gate.link)
    assert status == 200 and "Signed in as <strong>alice@example.com</strong> (local-session)" in body
    assert {c.name for c in browser.jar} == {"irflow-session", "irflow-csrf"}
    csrf = re.search(r'name="csrf" value="([^"]+)"', body).group(1)
    before = world_state(runtime)
    status, body, _ = browser.open(gate.link, {"decision": "approve", "reason": "", "csrf": csrf},
                                   {"Origin": "http://evil.example"})
    assert status == 403 and world_state(runtime) == before
    status, body, _ = browser.open(gate.link, {"decision": "approve", "reason": "seen it", "csrf": csrf},
                                   {"Origin": server.url})
    assert status == 200 and "Approved by alice@example.com" in body
    assert gate.status() == "SUCCEEDED"
    decided = approvals.get(gate.approval_id)
    assert decided["decided_from"] == {"via": "local-session", "source_ip": "127.0.0.1", "user_agent": "test-browser/1.0"}


def test_identity_cannot_be_claimed_by_headers_or_a_made_up_session(runtime, server):
    gate = Gate(runtime)
    browser = HttpBrowser()
    status, body, _ = browser.open(gate.link, headers={"Cookie": "irflow-session=made-up",
                                                       "X-Amzn-Oidc-Identity": "alice@example.com",
                                                       "Authorization": "Bearer alice"})
    assert status == 200 and "Nobody is signed in" in body
    status, body, _ = browser.open(f"{server.url}/signin?token=guessed")
    assert status == 403 and not any(c.name == "irflow-session" for c in browser.jar)


def test_the_proxy_event_is_an_api_gateway_rest_event():
    event = to_event("POST", "/approvals/0f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a?exp=1&sig=s",
                     {"Host": "127.0.0.1:8642", "User-Agent": "ua"}, b"decision=approve", "127.0.0.1", "alice")
    assert event["resource"] == "/approvals/{approvalId}"
    assert event["pathParameters"] == {"approvalId": "0f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"}
    assert event["queryStringParameters"] == {"exp": "1", "sig": "s"}
    assert event["requestContext"]["identity"]["sourceIp"] == "127.0.0.1"
    assert event["requestContext"]["authorizer"] == {"principalId": "alice", "via": "local-session"}
    assert event["body"] == "decision=approve" and event["isBase64Encoded"] is False
    assert "authorizer" not in to_event("GET", "/", {}, b"", "127.0.0.1", None)["requestContext"]


def test_irflow_approve_local_reaches_the_running_server(runtime, server, capsys):
    gate = Gate(runtime)
    state = read_state()
    assert state is not None and state["url"] == server.url and state["person"] == "alice@example.com"
    assert (Path(server_state_file()).stat().st_mode & 0o777) == 0o600
    assert cli.main(["approve", gate.approval_id, "--local", "--reason", "from the terminal"]) == 0
    assert "approved remediate-instance of i-0a1b2c3d4e5f60718" in capsys.readouterr().out
    assert gate.status() == "SUCCEEDED"
    decided = approvals.get(gate.approval_id)
    assert decided["decided_by"] == "alice@example.com" and decided["decision_reason"] == "from the terminal"
    assert decided["decided_from"]["via"] == "local-cli" and decided["decided_from"]["source_ip"] == "127.0.0.1"
    before = world_state(runtime)
    assert cli.main(["reject", gate.approval_id, "--local"]) == 1
    assert "refused (irflow.ApprovalAlreadyDecided)" in capsys.readouterr().out
    assert world_state(runtime) == before


def test_the_terminal_endpoint_needs_the_servers_token(runtime, server):
    gate = Gate(runtime)
    before = world_state(runtime)
    request = urllib.request.Request(f"{server.url}/local/decisions", method="POST",
                                     data=json.dumps({"approval_id": gate.approval_id, "decision": "approve"}).encode(),
                                     headers={"Authorization": "Bearer guessed"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 401 and world_state(runtime) == before


def test_irflow_approve_local_without_a_server(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("IRFLOW_STATE_DIR", str(tmp_path))
    assert cli.main(["approve", "0f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a", "--local"]) == 2
    assert "no local irflow runtime is serving approvals" in capsys.readouterr().out


def test_stopping_the_server_removes_its_state_and_its_links(runtime, tmp_path, monkeypatch):
    monkeypatch.setenv("IRFLOW_STATE_DIR", str(tmp_path))
    with ApprovalServer(runtime.engine, PEOPLE, world=runtime.aws):
        assert read_state() is not None
    assert read_state() is None
    import os

    assert "IRFLOW_APPROVAL_URL" not in os.environ


def server_state_file() -> str:
    import os

    return os.path.join(os.environ["IRFLOW_STATE_DIR"], "local-approvals.json")


@pytest.mark.parametrize("target", ["//evil.example/x", "/\\evil.example", "https://evil.example/", "/a\r\nSet-Cookie: x=1"])
def test_sign_in_only_sends_the_browser_on_to_a_path_of_this_server(runtime, server, target):
    url = server.sign_in_url("alice@example.com", next_path="/")
    url = url.replace("next=/", "next=" + urllib.parse.quote(target, safe=""))
    request = urllib.request.Request(url)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            return None

    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as answered:
        opener.open(request, timeout=10)
    assert answered.value.code == 303 and answered.value.headers["Location"] == "/"
