"""`irflow console`: the console over the local runtime, in real time, with its approval server.

`LocalConsole` starts what `irflow simulate` uses (the engine, the embedded AWS, every playbook
and task) on a real-time clock (`--speed` runs it faster), and the approval server of
`irflow/local/approval_server.py` beside it on loopback. The console serves everything on one
origin: its own pages, and the approval API's pages and sign-in, which it passes to the approval
server unchanged (`/approvals/...`, `/signin`, `/signout`), so one sign-in serves both and the
approval API's own checks (signed link, origin, CSRF, approver, once only) decide every approval.
Approval links in notifications point at the console. The approval server also leaves its
address for `irflow approve ID --local`.

Local only for now: the pages read through `source.Source`, which speaks the Step Functions API
and the incidents table, so a deployment could be read with boto3 clients in its place, but
`irflow console` does not offer that mode yet.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import secrets
import threading
import time
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qs, quote, urlsplit

from . import views
from .cli import DEFAULT_PORT
from .graphs import Graphs, GraphUnavailable
from .server import Changes, ConsoleServer, Request, Response
from .source import Source
from .templates import Target, Template, load_templates, prepare

REPO = Path(__file__).resolve().parents[2]
PROXIED = ("/approvals/", "/signin", "/signout")
NONCE_MAX_AGE = 7 * 24 * 3600
PREFERRED_TEMPLATE = "guardduty-ssh-bruteforce-high"
MODE = "local · embedded AWS"


@dataclass
class ScenarioRun:
    """A scenario the console ran (or failed to): its resources become targets for manual runs."""

    key: str
    name: str
    targets: list[Target]
    error: str | None = None


class LocalConsole:
    """The local runtime on a real-time clock, its approval server, and the console in front."""

    def __init__(self, people: list[str], speed: float = 1.0, root: Path = REPO, host: str = "127.0.0.1",
                 port: int = DEFAULT_PORT, write_state: bool = True, log: TextIO | None = None) -> None:
        if not people:
            raise ValueError("the console needs at least one person to sign in")
        self.people = list(dict.fromkeys(people))
        self.speed = speed
        self.root = root
        self.host, self.port = host, port
        self.write_state = write_state
        self.log = log
        self.changes = Changes()
        self.graphs = Graphs(root / "workflows")
        self.templates: list[Template] = load_templates(root)
        self.runs: dict[str, ScenarioRun] = {}
        self.flashes: dict[str, tuple[str, str]] = {}  # session -> (message, kind), shown once
        self.runtime: Any = None
        self.approvals: Any = None
        self.server: ConsoleServer | None = None
        self.source: Source | None = None
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
            self.runtime.close()

    def __enter__(self) -> LocalConsole:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

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

    # --- what the server asks ------------------------------------------------------------------------------------
    def person(self, cookies: dict[str, str]) -> str | None:
        found: str | None = self.approvals.person_for(cookies)
        return found

    def proxied(self, path: str) -> bool:
        return path.startswith(PROXIED[0]) or path in PROXIED[1:]

    def proxy(self, request: Request) -> Response:
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

    def unauthorised(self, request: Request) -> Response:
        return Response.html(views.sign_in_page(self._frame(None, request)), HTTPStatus.UNAUTHORIZED)

    def get(self, request: Request) -> Response | None:
        path = request.path
        parts = [p for p in path.split("/") if p]
        if path == "/":
            return self._overview(request)
        if len(parts) == 3 and parts[0] == "executions":
            return self._execution(request, parts[1], parts[2])
        if len(parts) == 2 and parts[0] == "incidents":
            return self._incident(request, parts[1])
        if path == "/start":
            return self._start_form(request)
        if path == "/evidence":
            return self._evidence(request)
        return None

    def post(self, request: Request) -> Response | None:
        if request.path == "/start":
            return self._start(request)
        if request.path == "/scenarios":
            return self._scenario(request)
        return None

    # --- pages -------------------------------------------------------------------------------------------------
    def _frame(self, person: str | None, request: Request) -> views.Frame:
        assert self.source is not None
        session = request.cookies.get(self.session_cookie, "")
        message, kind = self.flashes.pop(session, (None, "info")) if not request.headers.get("x-irflow-poll") \
            else (None, "info")
        return views.Frame(person, MODE, self.source.now(), self.speed, self.changes.version, message, kind)

    def _flash(self, request: Request, message: str, kind: str = "info") -> None:
        self.flashes[request.cookies.get(self.session_cookie, "")] = (message, kind)

    def _overview(self, request: Request) -> Response:
        assert self.source is not None
        cards, cookies = self._cards(request)
        executions = self.source.executions()
        incidents = self.source.incidents()
        rows = [views.ScenarioRow(key, self.runs[key].name if key in self.runs else _scenario_name(path),
                                  key in self.runs, self.runs[key].error if key in self.runs else None)
                for key, path in self.scenario_paths().items()]
        text = views.overview(self._frame(request.person, request), cards, executions, incidents, rows, request.csrf)
        return Response.html(text, headers=cookies)

    def _cards(self, request: Request) -> tuple[list[views.ApprovalCard], list[tuple[str, str]]]:
        """Pending approvals with forms that post to the approval API (its CSRF token for this browser)."""
        from tasks.approval_api import COOKIE_HTTP
        from tasks.common import approval_links
        from tasks.request_approval import WHAT

        assert self.source is not None and request.person is not None
        cookies: list[tuple[str, str]] = []
        nonce = request.cookies.get(COOKIE_HTTP)
        cards = []
        pending = self.source.pending_approvals()
        waiting = self._waiting_incidents() if pending else set()
        for approval in pending:
            what = WHAT.get(str(approval["action"]), "{action} {target}").format(
                target=approval["target"], incident=approval["incident_id"], action=approval["action"])
            link = self.source.approval_link(approval)
            if link is None:
                cards.append(views.ApprovalCard(approval, what, note="No approval API is listening."))
                continue
            if approval["incident_id"] not in waiting:
                cards.append(views.ApprovalCard(approval, what, note="The playbook is still handing this request "
                                                                     "over; Approve and Reject appear in a moment."))
                continue
            parts = urlsplit(link)
            signature = parse_qs(parts.query).get("sig", [""])[0]
            if not approval_links.valid_nonce(nonce):
                nonce = approval_links.new_nonce()
                cookies.append(("Set-Cookie", f"{COOKIE_HTTP}={nonce}; Path=/; Max-Age={NONCE_MAX_AGE}; HttpOnly; "
                                              "SameSite=Strict"))
            assert nonce is not None and self.source is not None
            with self.source.lock:
                token = approval_links.csrf_token(str(approval["approval_id"]), signature, nonce, request.person)
            cards.append(views.ApprovalCard(approval, what, f"{parts.path}?{parts.query}", token))
        return cards, cookies

    def _waiting_incidents(self) -> set[str]:
        """Incidents with an execution waiting on a person now: only then can a decision resume it
        (the approval is stored while request-approval still runs, before its task token is awaited)."""
        assert self.source is not None
        found = set()
        for listed in self.source.executions():
            if listed.waiting:
                execution = self.source.execution(listed.playbook, listed.name)
                if execution is not None and execution.incident_id:
                    found.add(execution.incident_id)
        return found

    def _execution(self, request: Request, playbook: str, name: str) -> Response:
        assert self.source is not None
        execution = self.source.execution(playbook, name)
        frame = self._frame(request.person, request)
        if execution is None:
            return Response.html(views.not_found_page(frame, f"No execution {name} of {playbook}."), 404)
        svg: str | None = None
        note: str | None = None
        order: tuple[str, ...] = ()
        try:
            order = self.graphs.drawing(playbook).order
            svg = self.graphs.marked(playbook, execution.state_status())
        except GraphUnavailable as error:
            note = str(error)
        cards: list[views.ApprovalCard] = []
        cookies: list[tuple[str, str]] = []
        if execution.waiting and execution.incident_id:
            cards, cookies = self._cards(request)
            cards = [c for c in cards if c.approval.get("incident_id") == execution.incident_id]
        return Response.html(views.execution_page(frame, execution, svg, note, order, cards), headers=cookies)

    def _incident(self, request: Request, incident_id: str) -> Response:
        assert self.source is not None
        incident = self.source.incident(incident_id)
        frame = self._frame(request.person, request)
        if incident is None:
            return Response.html(views.not_found_page(frame, f"No incident {incident_id}."), 404)
        arns = set(incident.get("executions") or [])
        executions = [x for x in self.source.executions() if x.arn in arns]
        checks = self._verify(incident) if request.query.get("verify") else None
        return Response.html(views.incident_page(frame, incident, executions, checks))

    def _read_evidence(self, item: dict[str, Any]) -> bytes:
        """One piece of evidence as the evidence bucket holds it (the recorded version when there is one)."""
        assert self.source is not None
        bucket, _, key = str(item["uri"]).removeprefix("s3://").partition("/")
        extra = {"VersionId": item["version_id"]} if item.get("version_id") else {}
        with self.source.lock:
            body: bytes = self.runtime.aws.client("s3").get_object(Bucket=bucket, Key=key, **extra)["Body"].read()
        return body

    def _verify(self, incident: dict[str, Any]) -> dict[str, views.EvidenceCheck]:
        """Read every S3 evidence object back and compare its SHA-256 with the recorded one."""
        checks = {}
        for item in incident.get("evidence_detail") or []:
            uri = str(item["uri"])
            if not uri.startswith("s3://"):
                continue
            try:
                digest = hashlib.sha256(self._read_evidence(item)).hexdigest()
            except Exception as error:  # missing object, refused read: say so, do not fail the page
                checks[uri] = views.EvidenceCheck(False, f"unreadable: {type(error).__name__}")
                continue
            same = digest == item.get("sha256")
            checks[uri] = views.EvidenceCheck(same, "matches" if same else f"differs: {digest[:16]}…")
        return checks

    def _evidence(self, request: Request) -> Response | None:
        """Download one piece of evidence an incident records (nothing else in the bucket)."""
        assert self.source is not None
        incident = self.source.incident(request.query.get("incident", ""))
        uri = request.query.get("uri", "")
        item = next((i for i in (incident or {}).get("evidence_detail") or [] if i.get("uri") == uri), None)
        if item is None or not uri.startswith("s3://"):
            return None
        name = uri.rsplit("/", 1)[-1] or "evidence"
        return Response(200, self._read_evidence(item), "application/octet-stream",
                        [("Content-Disposition", f"attachment; filename*=UTF-8''{quote(name)}")])

    # --- starting things -------------------------------------------------------------------------------------
    def _start_form(self, request: Request, input_text: str | None = None, errors: list[str] | None = None,
                    status: int = 200) -> Response:
        assert self.source is not None
        query = request.query if request.method == "GET" else request.form
        playbooks = sorted(self.source.playbooks())
        targets = self.targets()
        keys = {t.key: t for t in self.templates}
        chosen = query.get("template") or (PREFERRED_TEMPLATE if PREFERRED_TEMPLATE in keys else
                                            next(iter(keys), None))
        target_id = query.get("target") if "target" in query else (targets[0].id if targets else "")
        target = next((t for t in targets if t.id == target_id), None)
        playbook = query.get("playbook") if query.get("playbook") in playbooks else next(iter(playbooks), None)
        if input_text is None:
            template = keys.get(chosen or "")
            input_text = json.dumps(prepare(template.event, target, self.source.now()), indent=2) if template else "{}"
        form = views.StartForm(playbooks, self.templates, targets, chosen, target.id if target else "", playbook,
                               input_text, request.csrf, errors or [])
        return Response.html(views.start_page(self._frame(request.person, request), form), status)

    def _start(self, request: Request) -> Response:
        assert self.source is not None
        form = request.form
        playbook = form.get("playbook", "")
        text = form.get("input", "")
        errors = []
        if playbook not in self.source.playbooks():
            errors.append(f"There is no playbook {playbook!r}.")
        try:
            finding = json.loads(text)
        except ValueError as error:
            finding = None
            errors.append(f"The input is not JSON: {error}.")
        if errors:
            return self._start_form(request, text, errors, HTTPStatus.BAD_REQUEST)
        name = f"manual-{self.source.now().strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"
        try:
            self.source.start(playbook, finding, name)
        except Exception as error:  # the engine refused it (input too large, ...), as Step Functions would
            return self._start_form(request, text, [f"{type(error).__name__}: {error}"], HTTPStatus.BAD_REQUEST)
        self.changes.bump()
        self._flash(request, f"Started {playbook} by hand as {name}.", "ok")
        return Response.redirect(f"/executions/{quote(playbook, safe='')}/{quote(name, safe='')}")

    def _scenario(self, request: Request) -> Response:
        form = request.form
        path = self.scenario_paths().get(form.get("scenario", ""))
        if path is None:
            self._flash(request, "There is no such scenario.", "bad")
        elif path.stem in self.runs:
            self._flash(request, f"Scenario {path.stem} already ran in this console.", "bad")
        else:
            run = self.run_scenario(path, send_events=form.get("events") != "none")
            if run.error:
                self._flash(request, f"Scenario {path.stem}: {run.error}", "bad")
            else:
                what = "its events sent" if form.get("events") != "none" else "its resources created"
                self._flash(request, f"Scenario {run.name}: {what}.", "ok")
        return Response.redirect("/")


def _scenario_name(path: Path) -> str:
    """The scenario's `name:` line, read without loading it (the list is shown often)."""
    with contextlib.suppress(OSError):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("name:"):
                return line.removeprefix("name:").strip().strip("'\"")
    return path.stem


# --- serving -------------------------------------------------------------------------------------------------


def serve(console: LocalConsole, scenarios: list[Path], out: TextIO, until: threading.Event | None = None) -> int:
    """Run the scenarios, print the sign-in links, and serve until interrupted (or `until` is set)."""
    try:
        for path in scenarios:
            run = console.run_scenario(path)
            out.write(f"scenario {run.name}: {run.error or 'events sent'}\n")
        out.write(f"irflow console at {console.url}  ({MODE}, real time{f' x{console.speed:g}' if console.speed != 1 else ''})\n")
        for person in console.people:
            out.write(f"  sign in as {person}: {console.sign_in_url(person)}\n")
        out.write("  keep these links secret; Ctrl-C stops the console (and the embedded AWS with it)\n")
        out.flush()
        while not (until and until.is_set()):
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        console.close()
    return 0
