"""`irflow console`: the console over the local runtime, in real time, with its approval server.

`LocalConsole` starts what `irflow simulate` uses (the engine, the embedded AWS, every playbook
and task) on a real-time clock (`--speed` runs it faster), and the approval server of
`irflow/local/approval_server.py` beside it on loopback. The console serves everything on one
origin: its own pages, and the approval API's pages and sign-in, which it passes to the approval
server unchanged (`/approvals/...`, `/signin`, `/signout`), so one sign-in serves both and the
approval API's own checks (signed link, origin, CSRF, approver, once only) decide every approval.
Approval links in notifications point at the console. The approval server also leaves its
address for `irflow approve ID --local`. Scenarios run from the overview; their instances are
what a manual run can be about.
"""

from __future__ import annotations

import contextlib
import http.client
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qs, urlsplit

from . import views
from .cli import DEFAULT_PORT
from .pages import REPO, Console
from .server import ConsoleServer, Request, Response
from .source import Source
from .templates import Target

PUBLIC = ("/approvals/", "/signin", "/signout")
NONCE_MAX_AGE = 7 * 24 * 3600


@dataclass
class ScenarioRun:
    """A scenario the console ran (or failed to): its resources become targets for manual runs."""

    key: str
    name: str
    targets: list[Target]
    error: str | None = None


class LocalConsole(Console):
    """The local runtime on a real-time clock, its approval server, and the console in front."""

    mode = "local · embedded AWS"
    local = True

    def __init__(self, people: list[str], speed: float = 1.0, root: Path = REPO, host: str = "127.0.0.1",
                 port: int = DEFAULT_PORT, write_state: bool = True, log: TextIO | None = None) -> None:
        if not people:
            raise ValueError("the console needs at least one person to sign in")
        super().__init__(root, speed)
        self.people = list(dict.fromkeys(people))
        self.host, self.port = host, port
        self.write_state = write_state
        self.log = log
        self.runs: dict[str, ScenarioRun] = {}
        self.runtime: Any = None
        self.approvals: Any = None
        self.session_cookie = "irflow-session"

    # --- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> LocalConsole:
        from irflow.engine.scheduler import RealClock
        from irflow.local.approval_server import SESSION_COOKIE, ApprovalServer, configure_approvers
        from irflow.local.runtime import Runtime

        self.session_cookie = SESSION_COOKIE
        self.runtime = Runtime(clock=RealClock(self.speed), workflows_dir=self.root / "workflows").start()
        try:
            engine = self.runtime.engine
            lock = engine.scheduler.lock
            world = self.runtime.aws
            with lock:
                configure_approvers(world, {"*": self.people})
            self.approvals = ApprovalServer(engine, self.people, world=world, lock=lock, logs=self.runtime.logs,
                                            write_state=self.write_state).start()
            self.source = Source(engine, lambda: dict(self.runtime.state_machines), lock=lock,
                                 now=engine.clock.now, quiet=lambda: contextlib.redirect_stdout(self.runtime.logs))
            self.server = ConsoleServer(self, self.changes, self.host, self.port, log=self._log).start()
            world.set_approval_url(f"{self.server.url}/approvals")  # links in notifications open the console's origin
            engine.add_listener(self.changes.bump)
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
        if self.approvals is not None:
            self.approvals.stop()
        if self.runtime is not None:
            with self.runtime.engine.scheduler.lock:  # the engine's thread is between steps: no task runs on
                self.runtime.close()  # an embedded AWS already gone (moto stopped, calls would leave the process)

    def __enter__(self) -> LocalConsole:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def sign_in_url(self, person: str, next_path: str = "/") -> str:
        """The secret link that signs `person` in (on the console's origin)."""
        link: str = self.approvals.sign_in_url(person, next_path)
        return self.url + link.removeprefix(self.approvals.url)

    def _log(self, line: str) -> None:
        if self.log is not None:
            self.log.write(line + "\n")
            self.log.flush()

    # --- scenarios -----------------------------------------------------------------------------------------
    def scenario_paths(self) -> dict[str, Path]:
        return {path.stem: path for path in sorted((self.root / "scenarios").glob("*.yaml"))}

    def run_scenario(self, path: Path, send_events: bool = True) -> ScenarioRun:
        """Create a scenario's resources and (unless told not to) send its events, as `irflow simulate` does."""
        from irflow.local.events import EventError
        from irflow.local.scenario import ScenarioError, accounts_of, create, load, substitute

        key = path.stem
        try:
            scenario = load(path)
        except ScenarioError as error:
            run = ScenarioRun(key, key, [], str(error))
            self.runs[key] = run
            return run
        run = ScenarioRun(key, scenario.name, [])
        world = self.runtime.aws
        with self.runtime.engine.scheduler.lock, contextlib.redirect_stdout(self.runtime.logs):
            try:
                default_account = scenario.event_account() or next(iter(scenario.members), "222222222222")
                for account, role in accounts_of(scenario, default_account).items():
                    world.add_member(account, role)
                created = create(world, scenario)
                run.targets = [Target(c.id, c.account, c.region, c.name) for c in created.values()
                               if c.spec.type == "ec2-instance"]
                if send_events:
                    for event in (substitute(e, created) for e in scenario.events):
                        self.runtime.put_event(event)
            except (ScenarioError, EventError) as error:
                run.error = str(error)
            except Exception as error:  # moto refuses a second resource of the same name, and so on
                run.error = (f"{type(error).__name__}: {error} (a scenario whose resources share names with one "
                             "already run needs a fresh console)")
        self.runs[key] = run
        self.changes.bump()
        return run

    def targets(self) -> list[Target]:
        return [target for run in self.runs.values() for target in run.targets]

    # --- what the pages ask -------------------------------------------------------------------------------------------
    def person(self, cookies: dict[str, str]) -> str | None:
        found: str | None = self.approvals.person_for(cookies)
        return found

    def public(self, path: str) -> bool:
        return path.startswith(PUBLIC[0]) or path in PUBLIC[1:]

    def serve_public(self, request: Request) -> Response:
        """Pass a request to the approval server as it came, and its answer back as it went."""
        forwarded = {name: value for name, value in request.headers.items()
                     if name in ("cookie", "origin", "referer", "user-agent", "content-type", "accept", "host")}
        address = urlsplit(self.approvals.url)
        connection = http.client.HTTPConnection(address.hostname or "127.0.0.1", address.port, timeout=60)
        try:
            connection.request(request.method, request.headers["x-irflow-target"], body=request.body or None,
                               headers=forwarded)
            answer = connection.getresponse()
            body = answer.read()
            kept = [(name, value) for name, value in answer.getheaders()
                    if name.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server")]
        finally:
            connection.close()
        self.changes.bump()  # a decision changes what the console shows at once
        return Response(answer.status, body, answer.getheader("Content-Type") or "text/html; charset=utf-8", kept)

    def card(self, approval: dict[str, Any], what: str, request: Request, waiting: set[str],
             cookies: list[tuple[str, str]]) -> views.ApprovalCard:
        """A form that posts to the approval API, with the approval page's CSRF token for this browser."""
        from tasks.approval_api import COOKIE_HTTP
        from tasks.common import approval_links

        assert self.source is not None and request.person is not None
        link = self.source.approval_link(approval)
        if link is None:
            return views.ApprovalCard(approval, what, note="No approval API is listening.")
        if approval["incident_id"] not in waiting:
            return views.ApprovalCard(approval, what, note="The playbook is still handing this request over; "
                                                           "Approve and Reject appear in a moment.")
        parts = urlsplit(link)
        signature = parse_qs(parts.query).get("sig", [""])[0]
        nonce = request.cookies.get(COOKIE_HTTP)
        if not approval_links.valid_nonce(nonce):
            nonce = approval_links.new_nonce()
            request.cookies[COOKIE_HTTP] = nonce  # the next card on this page uses the same one
            cookies.append(("Set-Cookie", f"{COOKIE_HTTP}={nonce}; Path=/; Max-Age={NONCE_MAX_AGE}; HttpOnly; "
                                          "SameSite=Strict"))
        assert nonce is not None
        with self.source.lock:
            token = approval_links.csrf_token(str(approval["approval_id"]), signature, nonce, request.person)
        return views.ApprovalCard(approval, what, f"{parts.path}?{parts.query}", token)

    def read_object(self, bucket: str, key: str, version: str | None) -> bytes:
        assert self.source is not None
        with self.source.lock:
            s3 = self.runtime.aws.client("s3")
            body: bytes = s3.get_object(Bucket=bucket, Key=key, **({"VersionId": version} if version else {}))[
                "Body"].read()
        return body

    def scenario_rows(self) -> list[views.ScenarioRow]:
        return [views.ScenarioRow(key, self.runs[key].name if key in self.runs else _scenario_name(path),
                                  key in self.runs, self.runs[key].error if key in self.runs else None)
                for key, path in self.scenario_paths().items()]

    def run_scenario_form(self, request: Request) -> Response:
        form = request.form
        path = self.scenario_paths().get(form.get("scenario", ""))
        if path is None:
            self.flash(request, "There is no such scenario.", "bad")
        elif path.stem in self.runs:
            self.flash(request, f"Scenario {path.stem} already ran in this console.", "bad")
        else:
            run = self.run_scenario(path, send_events=form.get("events") != "none")
            if run.error:
                self.flash(request, f"Scenario {path.stem}: {run.error}", "bad")
            else:
                what = "its events sent" if form.get("events") != "none" else "its resources created"
                self.flash(request, f"Scenario {run.name}: {what}.", "ok")
        return Response.redirect("/")


def _scenario_name(path: Path) -> str:
    """The scenario's `name:` line, read without loading it (the list is shown often)."""
    with contextlib.suppress(OSError):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("name:"):
                return line.removeprefix("name:").strip().strip("'\"")
    return path.stem
