"""`irflow console --deployment`: the console over a deployment, read with your AWS credentials.

Executions come from Step Functions (the state machines named `irflow-<playbook>`); incidents,
their evidence records and pending approvals from the incidents table; evidence objects from the
evidence bucket, read with your credentials (S3 and KMS permissions decide what you may download
and re-hash). Starting a playbook by hand calls StartExecution. AWS is read again at every page
and the pages refresh every `REFRESH_SECONDS`.

Nothing is decided here: the deployed approval API signs people in itself (an authoriser), and
the console does not hold its signing key. Each pending approval says how to decide it from a
terminal (`irflow approve ID` / `irflow reject ID`, which authenticate you with your AWS
credentials), or from the link in its notification.

Sign-in: the console acts with your AWS credentials, so whoever uses it acts as you. It listens
on loopback and prints a secret sign-in link; a session is an HttpOnly, SameSite=Strict cookie.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

from . import views
from .cli import DEFAULT_PORT
from .pages import REPO, Console
from .server import ConsoleServer, Request, Response
from .source import PREFIX, Source

REFRESH_SECONDS = 10.0
MACHINES_SECONDS = 60.0  # how long the list of state machines is reused
SESSION_COOKIE = "irflow-console-session"
# Where a sign-in may send the browser on: a path of this console (not //host, /\host, nor a header break).
LOCAL_PATH = re.compile(r"/(?![/\\])[\w\-./?=&%]*")


class Sessions:
    """Secret sign-in links for named people, and the sessions they open."""

    def __init__(self, people: list[str]) -> None:
        self.tokens = {secrets.token_urlsafe(32): person for person in people}
        self._sessions: dict[str, str] = {}
        self._lock = threading.Lock()

    def token_for(self, person: str) -> str:
        return next(token for token, who in self.tokens.items() if who == person)

    def sign_in(self, token: str) -> str | None:
        """A new session for the token's person, or None for a token that is not one of ours."""
        person = self.tokens.get(token)
        if person is None:
            return None
        session = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[session] = person
        return session

    def person(self, session: str | None) -> str | None:
        with self._lock:
            return self._sessions.get(session or "")

    def sign_out(self, session: str | None) -> None:
        with self._lock:
            self._sessions.pop(session or "", None)


class DeployedConsole(Console):
    """The console over a deployment's Step Functions, incidents table and evidence bucket."""

    mode = "deployed · AWS"
    session_cookie = SESSION_COOKIE
    decides_here = False

    def __init__(self, people: list[str], session: Any, root: Path = REPO, host: str = "127.0.0.1",
                 port: int = DEFAULT_PORT, log: TextIO | None = None, refresh: float = REFRESH_SECONDS) -> None:
        if not people:
            raise ValueError("the console needs at least one person to sign in")
        super().__init__(root)
        self.people = list(dict.fromkeys(people))
        self.session = session
        self.host, self.port = host, port
        self.log = log
        self.refresh = refresh
        self.sessions = Sessions(self.people)
        self._machines: tuple[float, dict[str, str]] = (0.0, {})
        self._stop = threading.Event()

    def start(self) -> DeployedConsole:
        self.source = Source(self.session.client("stepfunctions"), self.machines, ddb=self.session.client("dynamodb"))
        self.server = ConsoleServer(self, self.changes, self.host, self.port, log=self._log).start()
        threading.Thread(target=self._tick, name="irflow-console-refresh", daemon=True).start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self.server is not None:
            self.server.stop()

    def __enter__(self) -> DeployedConsole:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _tick(self) -> None:
        """Nothing tells a console about AWS's changes: let the pages read again now and then."""
        while not self._stop.wait(self.refresh):
            self.changes.bump()

    def _log(self, line: str) -> None:
        if self.log is not None:
            self.log.write(line + "\n")
            self.log.flush()

    def machines(self) -> dict[str, str]:
        """Playbook -> state machine ARN, for every `irflow-*` state machine in the account and region."""
        fetched, known = self._machines
        if time.monotonic() - fetched < MACHINES_SECONDS and known:
            return known
        found: dict[str, str] = {}
        for page in self.session.client("stepfunctions").get_paginator("list_state_machines").paginate():
            for machine in page["stateMachines"]:
                if machine["name"].startswith(PREFIX):
                    found[machine["name"].removeprefix(PREFIX)] = machine["stateMachineArn"]
        self._machines = (time.monotonic(), found)
        return found

    # --- what the pages ask --------------------------------------------------------------------------------------
    def sign_in_url(self, person: str, next_path: str = "/") -> str:
        return f"{self.url}/signin?token={self.sessions.token_for(person)}&next={quote(next_path, safe='/')}"

    def person(self, cookies: dict[str, str]) -> str | None:
        return self.sessions.person(cookies.get(SESSION_COOKIE))

    def public(self, path: str) -> bool:
        return path in ("/signin", "/signout")

    def serve_public(self, request: Request) -> Response:
        if request.path == "/signout":
            self.sessions.sign_out(request.cookies.get(SESSION_COOKIE))
            answer = Response.redirect("/")
            answer.headers.append(("Set-Cookie", f"{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"))
            return answer
        session = self.sessions.sign_in(request.query.get("token", ""))
        if session is None:
            return Response(403, b"That sign-in link is not valid for this console.\n", "text/plain")
        target = request.query.get("next") or "/"
        answer = Response.redirect(target if LOCAL_PATH.fullmatch(target) else "/")
        answer.headers.append(("Set-Cookie", f"{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Strict"))
        return answer

    def card(self, approval: dict[str, Any], what: str, request: Request, waiting: set[str],
             cookies: list[tuple[str, str]]) -> views.ApprovalCard:
        approval_id = approval["approval_id"]
        return views.ApprovalCard(approval, what, note=(
            f"Decide from a terminal with your AWS credentials: irflow approve {approval_id} (or irflow reject "
            f"{approval_id} --reason \"...\"), or from the link in its notification."))

    def read_object(self, bucket: str, key: str, version: str | None) -> bytes:
        s3 = self.session.client("s3")
        body: bytes = s3.get_object(Bucket=bucket, Key=key, **({"VersionId": version} if version else {}))[
            "Body"].read()
        return body
