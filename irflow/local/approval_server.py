"""The approval API on a laptop: HTTP requests become API Gateway proxy events for the real handler.

`ApprovalServer` listens on loopback and hands every `/approvals/...` request, as an API Gateway
REST (payload 1.0) proxy event, to `tasks.approval_api.make_handler(sfn=engine)`: the deployed
handler, resuming executions on the local engine instead of Step Functions. While it runs, the
world's `IRFLOW_APPROVAL_URL` points at it, so approval notifications carry working links.

Who is signed in (honestly, for one machine): the server is started for one or more named
people and prints a secret sign-in link for each (`/signin?token=...`, like a notebook server's
token). Opening it sets a random session cookie (HttpOnly, SameSite=Strict); requests with a live
session reach the handler with `requestContext.authorizer = {"principalId": <person>, "via":
"local-session"}`, which is exactly where a deployed Lambda authoriser puts its principal. No
header a client sends can set it. Anyone who can read the terminal (or the state file below) is
trusted as those people: it is a single-user tool on loopback, not a shared service.

A terminal reaches a running local server through a state file (`$IRFLOW_STATE_DIR` or
`~/.irflow`, `local-approvals.json`, mode 0600: URL, process id and a bearer token for the first
person): `irflow approve ID --local` posts to `/local/decisions` with that token and the decision
goes through `approval_gate.decide_as` as that person (`via: local-cli`), the same gate the page
uses. `python -m irflow.local.approval_server SCENARIO` runs a scenario on the local runtime,
leaves its approvals waiting, and serves them until every execution has ended.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import secrets
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qs, quote, urlsplit

SESSION_COOKIE = "irflow-session"
STATE_FILE = "local-approvals.json"
API_ID = "local"
STAGE = "local"
MAX_BODY_BYTES = 64 * 1024
DEFAULT_PORT = 8642


# Where a sign-in may send the browser on: a path of this server.
LOCAL_PATH = re.compile(r"/(?![/\\])[\w\-./?=&%]*")


def state_dir() -> Path:
    """Where a running local server leaves its address for terminals."""
    return Path(os.environ.get("IRFLOW_STATE_DIR") or Path.home() / ".irflow")


def read_state() -> dict[str, Any] | None:
    """The running local server's URL, process id, bearer token and person, or None."""
    try:
        data = json.loads((state_dir() / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def configure_approvers(world: Any, rules: Mapping[str, Any]) -> None:
    """Write the approvers parameter (see `tasks.common.approval_gate` for its shape)."""
    assert world.central is not None
    world.client("ssm").put_parameter(Name=world.central.approvers_parameter, Type="String",
                                      Value=json.dumps(dict(rules)), Overwrite=True)


class ApprovalServer:
    """The approval page, sign-in and the terminal endpoint on loopback; `start()`/`stop()` or `with`."""

    def __init__(self, sfn: Any, people: Sequence[str], world: Any = None, host: str = "127.0.0.1", port: int = 0,
                 lock: Any = None, logs: TextIO | None = None, write_state: bool = True) -> None:
        if not people:
            raise ValueError("an approval server needs at least one person to sign in")
        from tasks.approval_api import make_handler

        self.handler = make_handler(sfn=sfn)
        self.sfn = sfn
        self.people = list(dict.fromkeys(people))
        self.world = world
        self.lock = lock or threading.RLock()  # moto's backends are not thread-safe: one request at a time
        self.logs = logs if logs is not None else io.StringIO()
        self.write_state = write_state
        self.sign_in_tokens = {secrets.token_urlsafe(32): person for person in self.people}
        self.cli_token = secrets.token_urlsafe(32)
        self.sessions: dict[str, str] = {}
        self._server = ThreadingHTTPServer((host, port), _handler_class(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> ApprovalServer:
        if self.world is not None:
            self.world.set_approval_url(self.url + "/approvals")
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="irflow-approvals", daemon=True)
        self._thread.start()
        if self.write_state:
            self._write_state()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self.world is not None and self.world.central is not None:
            self.world.set_approval_url(None)
        if self.write_state and (read_state() or {}).get("token") == self.cli_token:
            (state_dir() / STATE_FILE).unlink(missing_ok=True)

    def __enter__(self) -> ApprovalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _write_state(self) -> None:
        directory = state_dir()
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = directory / STATE_FILE
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            json.dump({"url": self.url, "pid": os.getpid(), "token": self.cli_token, "person": self.people[0]}, out)
        os.replace(temporary, path)

    # --- people -----------------------------------------------------------------------------------
    def sign_in_url(self, person: str, next_path: str = "/") -> str:
        """The secret link that signs `person` in on this server."""
        token = next(t for t, p in self.sign_in_tokens.items() if p == person)
        return f"{self.url}/signin?token={token}&next={quote(next_path, safe='/')}"

    def person_for(self, cookies: Mapping[str, str]) -> str | None:
        session = cookies.get(SESSION_COOKIE)
        return self.sessions.get(session) if session else None

    def link(self, approval_id: str, expires_at: str) -> str | None:
        """The signed approval link for one of this server's approvals."""
        from tasks.common import approval_links

        with self.lock:
            return approval_links.link(approval_id, expires_at)

    # --- requests ---------------------------------------------------------------------------------
    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        """Run the real handler on one proxy event (one at a time; its log lines go to `logs`, as the runtime's do)."""
        with self.lock, contextlib.redirect_stdout(self.logs):
            return self.handler(event, _Context())

    def decide(self, approval_id: str, decision: str, person: str, reason: str | None, source_ip: str | None,
               user_agent: str | None) -> dict[str, Any]:
        """The terminal's decision, through the same gate as the page; raises what the gate raises."""
        from tasks.common.approval_gate import Person, decide_as

        with self.lock, contextlib.redirect_stdout(self.logs):
            outcome = decide_as(approval_id, decision, Person(person, "local-cli", source_ip, user_agent), self.sfn,
                                reason=reason)
        return {"status": outcome.status, "approvers": list(outcome.approvers), "approval": outcome.approval}


class _Context:
    """The parts of a Lambda context the handler reads."""

    function_name = "irflow-approval-api"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:111111111111:function:irflow-approval-api"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())


def to_event(method: str, target: str, headers: Mapping[str, str], body: bytes, source_ip: str,
             person: str | None) -> dict[str, Any]:
    """An API Gateway REST proxy event (payload 1.0), as the deployed API would send it."""
    parts = urlsplit(target)
    query = parse_qs(parts.query, keep_blank_values=True)
    path = parts.path or "/"
    segments = path.strip("/").split("/")
    path_parameters = {"approvalId": segments[1]} if len(segments) == 2 and segments[0] == "approvals" else None
    multi_headers: dict[str, list[str]] = {}
    for name, value in headers.items():
        multi_headers.setdefault(name, []).append(value)
    now = datetime.now(UTC)
    identity: dict[str, Any] = {"sourceIp": source_ip, "userAgent": headers.get("User-Agent"), "userArn": None,
                                "caller": None, "accountId": None, "cognitoIdentityId": None}
    context: dict[str, Any] = {
        "accountId": "111111111111", "apiId": API_ID, "stage": STAGE, "requestId": str(uuid.uuid4()),
        "httpMethod": method, "path": f"/{STAGE}{path}", "protocol": "HTTP/1.1",
        "resourcePath": "/approvals/{approvalId}" if path_parameters else path,
        "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"), "requestTimeEpoch": int(now.timestamp() * 1000),
        "identity": identity,
    }
    if person is not None:
        context["authorizer"] = {"principalId": person, "via": "local-session"}
    text = body.decode("utf-8", "replace") if body else None
    return {
        "resource": "/approvals/{approvalId}" if path_parameters else path, "path": path, "httpMethod": method,
        "headers": {name: values[-1] for name, values in multi_headers.items()}, "multiValueHeaders": multi_headers,
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None, "pathParameters": path_parameters,
        "stageVariables": None, "requestContext": context, "body": text, "isBase64Encoded": False,
    }


def _handler_class(server: ApprovalServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "irflow-local-approvals"
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
            server.logs.write(f"{self.address_string()} {format % args}\n")

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self._route("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._route("POST")

        def _route(self, method: str) -> None:
            path = urlsplit(self.path).path
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self._send(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "text/plain", b"request too large\n")
                return
            body = self.rfile.read(length) if length else b""
            if method == "GET" and path == "/signin":
                self._sign_in()
            elif method == "GET" and path == "/signout":
                self._sign_out()
            elif method == "POST" and path == "/local/decisions":
                self._terminal_decision(body)
            elif method == "GET" and path == "/":
                self._index()
            else:
                self._proxy(method, body)

        def _cookies(self) -> dict[str, str]:
            from tasks.approval_api import parse_cookies

            return parse_cookies(self.headers.get("Cookie", ""))

        def _proxy(self, method: str, body: bytes) -> None:
            headers = {name: value for name, value in self.headers.items()}
            headers["X-Forwarded-Proto"] = "http"  # what this server speaks; the page sets cookies to match
            headers["X-Forwarded-For"] = self.client_address[0]
            event = to_event(method, self.path, headers, body, self.client_address[0],
                             server.person_for(self._cookies()))
            result = server.invoke(event)
            self.send_response(int(result["statusCode"]))
            sent = set()
            for name, values in (result.get("multiValueHeaders") or {}).items():
                for value in values:
                    self.send_header(name, str(value))
                sent.add(name.lower())
            for name, value in (result.get("headers") or {}).items():
                if name.lower() not in sent:
                    self.send_header(name, str(value))
            payload = (result.get("body") or "").encode()
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _sign_in(self) -> None:
            query = parse_qs(urlsplit(self.path).query)
            person = server.sign_in_tokens.get((query.get("token") or [""])[0])
            if person is None:
                self._send(HTTPStatus.FORBIDDEN, "text/plain", b"That sign-in link is not valid for this server.\n")
                return
            session = secrets.token_urlsafe(32)
            server.sessions[session] = person
            target = (query.get("next") or ["/"])[0]
            if not LOCAL_PATH.fullmatch(target):  # only a path of this server: no //host, /\host, header break
                target = "/"
            self.send_response(HTTPStatus.SEE_OTHER)
            self.send_header("Set-Cookie", f"{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Strict")
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _sign_out(self) -> None:
            server.sessions.pop(self._cookies().get(SESSION_COOKIE, ""), None)
            self.send_response(HTTPStatus.SEE_OTHER)
            self.send_header("Set-Cookie", f"{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
            self.send_header("Location", "/")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _index(self) -> None:
            """Pending approvals with their links, for the signed-in person."""
            import html

            from tasks.common.incidents import list_pending_approvals

            person = server.person_for(self._cookies())
            if person is None:
                text = "<p>Sign in with the link the server printed in its terminal.</p>"
            else:
                with server.lock:
                    pending = list_pending_approvals()
                rows = "".join(
                    f'<li><a href="{html.escape(server.link(p["approval_id"], p["expires_at"]) or "")}">'
                    f'{html.escape(p["action"])} {html.escape(p["target"])}</a> (incident '
                    f'{html.escape(p["incident_id"])}, expires {html.escape(str(p["expires_at"]))})</li>'
                    for p in pending)
                text = (f"<p>Signed in as {html.escape(person)}. <a href=\"/signout\">Sign out</a></p>"
                        + (f"<ul>{rows}</ul>" if rows else "<p>No approval is waiting.</p>"))
            page = f"<!doctype html><title>irflow approvals</title><h1>Pending approvals</h1>{text}"
            self._send(HTTPStatus.OK, "text/html; charset=utf-8", page.encode())

        def _terminal_decision(self, body: bytes) -> None:
            from tasks.common.errors import IrflowError

            if self.headers.get("Authorization", "") != f"Bearer {server.cli_token}":
                self._json(HTTPStatus.UNAUTHORIZED, {"error": "Unauthorized",
                                                     "message": "not this server's terminal token"})
                return
            try:
                request = json.loads(body or b"{}")
                approval_id, decision = str(request["approval_id"]), str(request["decision"])
            except (ValueError, KeyError, TypeError):
                self._json(HTTPStatus.BAD_REQUEST, {"error": "BadRequest",
                                                    "message": "expected approval_id and decision"})
                return
            try:
                result = server.decide(approval_id, decision, server.people[0], request.get("reason"),
                                       self.client_address[0], self.headers.get("User-Agent"))
            except ValueError as error:
                self._json(HTTPStatus.BAD_REQUEST, {"error": "BadRequest", "message": str(error)})
                return
            except IrflowError as error:
                self._json(HTTPStatus.CONFLICT, {"error": error.error_name, "message": str(error)})
                return
            self._json(HTTPStatus.OK, result)

        def _json(self, status: HTTPStatus, document: Any) -> None:
            self._send(status, "application/json", json.dumps(document, default=str).encode())

        def _send(self, status: HTTPStatus, content_type: str, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


# --- python -m irflow.local.approval_server SCENARIO --------------------------------------------------------


def serve_scenario(path: str, people: Sequence[str], port: int, approvers: Mapping[str, Any] | None,
                   out: TextIO, until: Callable[[], bool] | None = None,
                   then: Callable[[Any, dict[str, Any]], None] | None = None) -> int:
    """Run a scenario up to its approvals and serve them until every execution has ended (or `until()`).

    `then(runtime, created)` runs before the embedded AWS goes away (to read the resources' state).
    """
    from .runtime import Runtime
    from .scenario import accounts_of, create, load, substitute

    scenario = load(path)
    with Runtime(security_account=scenario.security_account) as runtime:
        world = runtime.aws
        default_account = scenario.event_account() or next(iter(scenario.members), "222222222222")
        for account, role in accounts_of(scenario, default_account).items():
            world.add_member(account, role)
        created = create(world, scenario)
        configure_approvers(world, approvers or {"*": list(people)})
        with ApprovalServer(runtime.engine, people, world=world, port=port, logs=runtime.logs) as server:
            for event in (substitute(e, created) for e in scenario.events):
                with server.lock:
                    runtime.put_event(event)
            with server.lock:
                runtime.run_until_idle()
            out.write(f"irflow approvals for {scenario.name} at {server.url}\n")
            for person in server.people:
                out.write(f"  sign in as {person}: {server.sign_in_url(person)}\n")
            for pending in _pending(runtime, server):
                out.write(f"  waiting: {pending['action']} {pending['target']} ({pending['approval_id']})\n"
                          f"    {server.link(pending['approval_id'], pending['expires_at'])}\n")
            out.write(f"  from a terminal: irflow approve APPROVAL_ID --local (as {server.people[0]})\n")
            out.flush()
            for _ in _waiting(runtime, server, until):
                time.sleep(0.2)
            statuses = [e["status"] for e in runtime.executions()]
            if then is not None:
                then(runtime, created)
    out.write(f"executions: {', '.join(statuses) or 'none'}\n")
    return 0 if statuses and all(s == "SUCCEEDED" for s in statuses) else 1


def _pending(runtime: Any, server: ApprovalServer) -> list[dict[str, Any]]:
    with server.lock:
        pending: list[dict[str, Any]] = runtime.pending_approvals()
    return pending


def _waiting(runtime: Any, server: ApprovalServer, until: Callable[[], bool] | None) -> Iterator[None]:
    while not (until and until()):
        with server.lock:
            running = any(e["status"] == "RUNNING" for e in runtime.executions())
        if not running:
            return
        yield None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m irflow.local.approval_server",
                                     description="Run a scenario locally and serve its approvals on loopback.")
    parser.add_argument("scenario")
    parser.add_argument("--person", action="append", dest="people",
                        help="who may sign in (repeat; default: you, by your login name); they are the approvers "
                             "unless --approvers says otherwise")
    parser.add_argument("--approvers", help="approvers parameter JSON (see tasks/common/approval_gate.py)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    import getpass

    from . import speed

    speed.apply()
    people = args.people or [getpass.getuser()]
    try:
        return serve_scenario(args.scenario, people, args.port, json.loads(args.approvers) if args.approvers else None,
                              sys.stdout)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
