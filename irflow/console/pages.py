"""The console's pages and actions, the same over the local runtime and over a deployment.

`Console` answers the server (`server.App`): the overview, one execution (graph, timeline, the
approvals it waits on), one incident (evidence downloadable and re-hashed on demand), and
starting a playbook by hand from a finding template. What differs between the modes is left to
subclasses: who is signed in and the pages served before sign-in (`public`), how a pending
approval can be decided from the page (`card`), which instances a manual run may be about,
which scenarios can be run, and how an evidence object is read.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from http import HTTPStatus
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

from . import views
from .graphs import Graphs, GraphUnavailable
from .server import Changes, ConsoleServer, Request, Response
from .source import Source
from .templates import Target, Template, load_templates, prepare

REPO = Path(__file__).resolve().parents[2]
PREFERRED_TEMPLATE = "guardduty-ssh-bruteforce-high"


class Console:
    """Pages over a `Source`; a subclass sets `source` and `server` when it starts."""

    mode = ""
    session_cookie = ""
    local = False
    decides_here = True  # pending approvals get Approve / Reject on the page

    def __init__(self, root: Path = REPO, speed: float = 1.0) -> None:
        self.root = root
        self.speed = speed
        self.changes = Changes()
        self.graphs = Graphs(root / "workflows")
        self.templates: list[Template] = load_templates(root)
        self.flashes: dict[str, tuple[str, str]] = {}  # session -> (message, kind), shown once
        self._flash_lock = threading.Lock()
        self.source: Source | None = None
        self.server: ConsoleServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    # --- what a mode provides -----------------------------------------------------------------------------------
    def person(self, cookies: dict[str, str]) -> str | None:
        raise NotImplementedError

    def public(self, path: str) -> bool:
        """Paths served before the sign-in check (signing in itself, and pages with their own checks)."""
        raise NotImplementedError

    def serve_public(self, request: Request) -> Response:
        raise NotImplementedError

    def card(self, approval: dict[str, Any], what: str, request: Request, waiting: set[str],
             cookies: list[tuple[str, str]]) -> views.ApprovalCard:
        """How this approval shows (with a form where it can be decided here); may add cookies."""
        raise NotImplementedError

    people: list[str]

    def sign_in_url(self, person: str, next_path: str = "/") -> str:
        """The secret link that signs `person` in."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def run_scenario(self, path: Path, send_events: bool = True) -> Any:
        raise NotImplementedError(f"{self.mode}: scenarios run only on the local runtime")

    def targets(self) -> list[Target]:
        """Instances a manual run may be about."""
        return []

    def scenario_rows(self) -> list[views.ScenarioRow]:
        return []

    def run_scenario_form(self, request: Request) -> Response | None:
        return None

    def read_object(self, bucket: str, key: str, version: str | None) -> bytes:
        raise NotImplementedError

    # --- routing --------------------------------------------------------------------------------------------------
    def unauthorised(self, request: Request) -> Response:
        return Response.html(views.sign_in_page(self.frame(None, request)), HTTPStatus.UNAUTHORIZED)

    def get(self, request: Request) -> Response | None:
        path = request.path
        parts = [p for p in path.split("/") if p]
        if path == "/":
            return self.overview(request)
        if len(parts) == 3 and parts[0] == "executions":
            return self.execution(request, parts[1], parts[2])
        if len(parts) == 2 and parts[0] == "incidents":
            return self.incident(request, parts[1])
        if path == "/start":
            return self.start_form(request)
        if path == "/evidence":
            return self.evidence(request)
        return None

    def post(self, request: Request) -> Response | None:
        if request.path == "/start":
            return self.start_execution(request)
        if request.path == "/scenarios":
            return self.run_scenario_form(request)
        return None

    # --- the frame around every page ------------------------------------------------------------------------------
    def frame(self, person: str | None, request: Request) -> views.Frame:
        assert self.source is not None
        message, kind = None, "info"
        if not request.headers.get("x-irflow-poll"):  # a flash shows on the page the person sees, not to the poll
            with self._flash_lock:
                message, kind = self.flashes.pop(request.cookies.get(self.session_cookie, ""), (None, "info"))
        return views.Frame(person, self.mode, self.source.now(), self.speed, self.changes.version, message, kind,
                           self.local)

    def flash(self, request: Request, message: str, kind: str = "info") -> None:
        with self._flash_lock:
            self.flashes[request.cookies.get(self.session_cookie, "")] = (message, kind)

    # --- pages ------------------------------------------------------------------------------------------------------
    def overview(self, request: Request) -> Response:
        assert self.source is not None
        cards, cookies = self.cards(request)
        text = views.overview(self.frame(request.person, request), cards, self.source.executions(),
                              self.source.incidents(), self.scenario_rows(), request.csrf)
        return Response.html(text, headers=cookies)

    def cards(self, request: Request) -> tuple[list[views.ApprovalCard], list[tuple[str, str]]]:
        """Every pending approval, as this mode lets the signed-in person decide it."""
        from tasks.request_approval import WHAT

        assert self.source is not None
        cookies: list[tuple[str, str]] = []
        pending = self.source.pending_approvals()
        waiting = self.waiting_incidents() if pending and self.decides_here else set()
        found = []
        for approval in pending:
            what = WHAT.get(str(approval["action"]), "{action} {target}").format(
                target=approval["target"], incident=approval["incident_id"], action=approval["action"])
            found.append(self.card(approval, what, request, waiting, cookies))
        return found, cookies

    def waiting_incidents(self) -> set[str]:
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

    def execution(self, request: Request, playbook: str, name: str) -> Response:
        assert self.source is not None
        execution = self.source.execution(playbook, name)
        frame = self.frame(request.person, request)
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
            cards, cookies = self.cards(request)
            cards = [c for c in cards if c.approval.get("incident_id") == execution.incident_id]
        return Response.html(views.execution_page(frame, execution, svg, note, order, cards), headers=cookies)

    def incident(self, request: Request, incident_id: str) -> Response:
        assert self.source is not None
        incident = self.source.incident(incident_id)
        frame = self.frame(request.person, request)
        if incident is None:
            return Response.html(views.not_found_page(frame, f"No incident {incident_id}."), 404)
        arns = set(incident.get("executions") or [])
        executions = [x for x in self.source.executions() if x.arn in arns]
        checks = self.verify(incident) if request.query.get("verify") else None
        return Response.html(views.incident_page(frame, incident, executions, checks))

    def read_evidence(self, item: dict[str, Any]) -> bytes:
        """One piece of evidence as the evidence bucket holds it (the recorded version when there is one)."""
        bucket, _, key = str(item["uri"]).removeprefix("s3://").partition("/")
        return self.read_object(bucket, key, item.get("version_id"))

    def verify(self, incident: dict[str, Any]) -> dict[str, views.EvidenceCheck]:
        """Read every S3 evidence object back and compare its SHA-256 with the recorded one."""
        checks = {}
        for item in incident.get("evidence_detail") or []:
            uri = str(item["uri"])
            if not uri.startswith("s3://"):
                continue
            try:
                digest = hashlib.sha256(self.read_evidence(item)).hexdigest()
            except Exception as error:  # missing object, refused read: say so, do not fail the page
                checks[uri] = views.EvidenceCheck(False, f"unreadable: {_code(error)}")
                continue
            same = digest == item.get("sha256")
            checks[uri] = views.EvidenceCheck(same, "matches" if same else f"differs: {digest[:16]}…")
        return checks

    def evidence(self, request: Request) -> Response | None:
        """Download one piece of evidence an incident records (nothing else in the bucket)."""
        assert self.source is not None
        incident = self.source.incident(request.query.get("incident", ""))
        uri = request.query.get("uri", "")
        item = next((i for i in (incident or {}).get("evidence_detail") or [] if i.get("uri") == uri), None)
        if item is None or not uri.startswith("s3://"):
            return None
        name = uri.rsplit("/", 1)[-1] or "evidence"
        return Response(200, self.read_evidence(item), "application/octet-stream",
                        [("Content-Disposition", f"attachment; filename*=UTF-8''{quote(name)}")])

    # --- starting a playbook by hand ---------------------------------------------------------------------------------
    def start_form(self, request: Request, input_text: str | None = None, errors: list[str] | None = None,
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
        return Response.html(views.start_page(self.frame(request.person, request), form), status)

    def start_execution(self, request: Request) -> Response:
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
            return self.start_form(request, text, errors, HTTPStatus.BAD_REQUEST)
        name = f"manual-{self.source.now().strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"
        try:
            self.source.start(playbook, finding, name)
        except Exception as error:  # Step Functions (or the engine) refused it: input too large, no permission, ...
            return self.start_form(request, text, [f"{_code(error)}: {error}"], HTTPStatus.BAD_REQUEST)
        self.changes.bump()
        self.flash(request, f"Started {playbook} by hand as {name}.", "ok")
        return Response.redirect(f"/executions/{quote(playbook, safe='')}/{quote(name, safe='')}")


def _code(error: Exception) -> str:
    """An AWS error's code (AccessDenied, NoSuchKey, ...), else the exception's name."""
    response = getattr(error, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return str(code or type(error).__name__)


def serve(console: Console, scenarios: list[Path], out: TextIO, until: threading.Event | None = None) -> int:
    """Run the scenarios, print the sign-in links, and serve until interrupted (or `until` is set)."""
    try:
        for path in scenarios:
            run = console.run_scenario(path)
            out.write(f"scenario {run.name}: {run.error or 'events sent'}\n")
        clock = "real time" + (f" x{console.speed:g}" if console.speed != 1 else "")
        out.write(f"irflow console at {console.url}  ({console.mode}, {clock})\n")
        for person in console.people:
            out.write(f"  sign in as {person}: {console.sign_in_url(person)}\n")
        out.write("  keep these links secret; Ctrl-C stops the console\n")
        out.flush()
        while not (until and until.is_set()):
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        console.close()
    return 0
