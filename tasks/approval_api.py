"""approval-api: the page behind an approval link, and the decision it posts (API Gateway + Lambda).

Deployed behind the REST API `irflow-approvals` (resource `/approvals/{approvalId}`, Lambda proxy
integration, deploy/central.yaml) through Powertools' `APIGatewayRestResolver`; locally the same
handler runs behind `irflow/local/approval_server.py`, which turns HTTP requests into the same
proxy events. It is not a playbook step, so it declares no `TASK` (the deploy templates give it
its own function and role: `irflow/deploy/templates.py`, `ApprovalApiSpec`).

    GET  /approvals/{id}?exp=..&sig=..   the page: the incident, what irflow did so far, the evidence
                                         with SHA-256, exactly what will be done to what, and
                                         Approve / Reject for an approver
    POST /approvals/{id}?exp=..&sig=..   form fields decision (approve|reject), reason, csrf

Checks, in this order; a refusal is a page saying what is wrong and that nothing changed:

1. the link's HMAC signature (403: forged, altered, or not issued by irflow) and expiry (410);
2. POST only: the request comes from the page itself (Origin, else Referer, must be this API's
   origin: 403), a person is signed in (401), and the form carries the page's CSRF token for this
   approval, link, browser nonce cookie (HttpOnly, SameSite=Strict, `__Host-` over HTTPS) and person (403);
3. `approval_gate.decide_as`: an approver of the playbook (403), the approval still pending (404
   gone, 409 already decided or replayed, 410 expired), two-person rule (409 same person twice).

Who is asking comes only from what API Gateway adds to `requestContext` after it authenticated
the caller, which no client can set: a Cognito user pool authoriser's claims (the e-mail if
verified, else `cognito:username`), a Lambda authoriser's `principalId` (what the local server
provides for its signed-in users), or IAM authorisation's `userArn`. Without an authoriser (the
API's methods are AuthorizationType NONE until one is configured) nobody is signed in: the page
shows everything but offers no buttons and says to decide with `irflow approve` / `irflow reject`,
which authenticate with the caller's AWS credentials. The link itself never authorises anything.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tasks.common import approval_gate, approval_links, approvals, incidents
from tasks.common.approval_gate import Person
from tasks.common.aws import client
from tasks.common.config import settings
from tasks.common.errors import ApprovalAlreadyDecided, ApprovalExpired, ApprovalNotFound

MAX_REASON_CHARS = 500
MAX_FORM_FIELDS = 8
TIMELINE_SHOWN = 12
COOKIE_HTTPS = "__Host-irflow-csrf"  # __Host-: Secure, Path=/, no Domain: only this origin can set or read it
COOKIE_HTTP = "irflow-csrf"  # the local server, on plain HTTP over loopback
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # same-origin: the signed link never leaves in a Referer, and our own form posts keep a full Origin.
    "Referrer-Policy": "same-origin",
}


@dataclass
class Request:
    """What the page needs of one HTTP request, whatever carried it."""

    method: str
    approval_id: str
    query: dict[str, str]
    headers: dict[str, str]  # names in lower case
    form: dict[str, str]
    person: Person | None
    cookies: dict[str, str] = field(default_factory=dict)
    source_ip: str | None = None
    request_id: str | None = None  # API Gateway's, to find the request in its access logs

    @property
    def https(self) -> bool:
        return self.headers.get("x-forwarded-proto", "https").lower() == "https"

    @property
    def cookie_name(self) -> str:
        return COOKIE_HTTPS if self.https else COOKIE_HTTP


@dataclass
class Page:
    """An HTML answer: status, title, body fragment, and Set-Cookie values."""

    status: int
    title: str
    body: str
    cookies: list[str] = field(default_factory=list)

    def html(self) -> str:
        return PAGE.format(title=html.escape(self.title), body=self.body)


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{title} - irflow</title>
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #1b1f24; }}
header {{ color: #57606a; font-size: 13px; letter-spacing: .04em; text-transform: uppercase; }}
h1 {{ font-size: 1.5rem; margin: .3rem 0 1rem; }} h2 {{ font-size: 1.1rem; margin-top: 1.6rem; }}
.ask {{ font-size: 1.1rem; background: #fff8c5; border-left: 4px solid #d4a72c; padding: .6rem .8rem; }}
.refused {{ background: #ffebe9; border-left: 4px solid #cf222e; padding: .6rem .8rem; }}
.done {{ background: #dafbe1; border-left: 4px solid #1a7f37; padding: .6rem .8rem; }}
dl {{ display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }} dt {{ color: #57606a; }}
table {{ border-collapse: collapse; width: 100%; font-size: 13px; }}
th, td {{ text-align: left; border-bottom: 1px solid #d0d7de; padding: .25rem .4rem; vertical-align: top; }}
code {{ font: 12px ui-monospace, monospace; word-break: break-all; }} h1 code {{ font-size: 1.3rem; }}
textarea {{ width: 100%; min-height: 3.5rem; }}
button {{ font-size: 1rem; padding: .45rem 1.1rem; margin: .6rem .6rem 0 0; cursor: pointer; }}
.approve {{ background: #1a7f37; color: #fff; border: 0; }} .reject {{ background: #cf222e; color: #fff; border: 0; }}
</style></head>
<body><header>irflow &middot; approval</header>
{body}
</body></html>
"""


# --- Lambda entry points ---------------------------------------------------------------------------


def make_handler(sfn: Any = None) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """A Lambda handler for API Gateway proxy events; `sfn` resumes executions (default: Step Functions).

    The local runtime passes its engine, which answers the same `send_task_success/failure` calls.
    Powertools is imported on the first request, not at import (cold start).
    """
    resolver: list[Any] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if not resolver:
            resolver.append(_resolver(sfn))
        result: dict[str, Any] = resolver[0].resolve(event, context)
        return result

    return handler


def _resolver(sfn: Any) -> Any:
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

    app = APIGatewayRestResolver()

    def respond(page: Page) -> Response[str]:
        headers: dict[str, str | list[str]] = dict(SECURITY_HEADERS)
        if page.cookies:
            headers["Set-Cookie"] = page.cookies
        return Response(status_code=page.status, content_type="text/html; charset=utf-8", body=page.html(),
                        headers=headers)

    @app.route("/approvals/<approval_id>", method=["GET", "POST"])
    def approval(approval_id: str) -> Response[str]:
        event = app.current_event
        request = request_from_event(event.raw_event, approval_id)
        return respond(serve(request, lambda: sfn or client("stepfunctions")))

    @app.not_found
    def not_found(_: Exception) -> Response[str]:
        return respond(refusal(404, "Nothing here", "This address is not an irflow approval page."))

    return app


handler = make_handler()


# --- the request -------------------------------------------------------------------------------------


def request_from_event(event: Mapping[str, Any], approval_id: str) -> Request:
    """A `Request` from an API Gateway (REST, payload 1.0) proxy event."""
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items() if v is not None}
    for name, values in (event.get("multiValueHeaders") or {}).items():
        if values and name.lower() not in headers:
            headers[name.lower()] = str(values[-1])
    query = {str(k): str(v) for k, v in (event.get("queryStringParameters") or {}).items() if v is not None}
    method = str(event.get("httpMethod") or "GET").upper()
    form: dict[str, str] = {}
    if method == "POST":
        body = event.get("body") or ""
        if event.get("isBase64Encoded"):
            import base64

            body = base64.b64decode(body).decode("utf-8", "replace")
        parsed = parse_qs(str(body), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
        form = {k: v[0] for k, v in parsed.items() if v}
    context = event.get("requestContext") or {}
    return Request(method, approval_id, query, headers, form, person_from_context(event, headers),
                   parse_cookies(headers.get("cookie", "")), (context.get("identity") or {}).get("sourceIp"),
                   context.get("requestId"))


def person_from_context(event: Mapping[str, Any], headers: Mapping[str, str]) -> Person | None:
    """Who API Gateway authenticated (Cognito claims, Lambda authoriser, IAM), or None."""
    context = event.get("requestContext") or {}
    identity = context.get("identity") or {}
    source_ip = identity.get("sourceIp")
    user_agent = identity.get("userAgent") or headers.get("user-agent")
    authorizer = context.get("authorizer") or {}
    claims = authorizer.get("claims") or {}
    if claims:
        verified = str(claims.get("email_verified", "")).lower() == "true"
        who = claims.get("email") if claims.get("email") and verified else claims.get("cognito:username")
        if who:
            return Person(str(who), "cognito", source_ip, user_agent)
    if authorizer.get("principalId"):
        return Person(str(authorizer["principalId"]), str(authorizer.get("via") or "authorizer"), source_ip,
                      user_agent)
    if identity.get("userArn"):
        return Person(str(identity["userArn"]), "iam", source_ip, user_agent)
    return None


def parse_cookies(header: str) -> dict[str, str]:
    """`a=1; b=2` -> {"a": "1", "b": "2"} (the first of repeated names wins, as browsers send the most specific first)."""
    found: dict[str, str] = {}
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name and name not in found:
            found[name] = value.strip().strip('"')
    return found


# --- the pages ---------------------------------------------------------------------------------------


def serve(request: Request, sfn: Callable[[], Any]) -> Page:
    """The page for a request (every refusal, decision and view); logs the outcome, never the link."""
    try:
        page = _serve(request, sfn)
    except approval_links.NotConfigured as error:
        page = refusal(503, "Approvals are not configured", str(error))
    except approval_gate.ApproversMisconfigured as error:
        page = refusal(503, "Approvers are not configured", str(error))
    _log(request, page)
    return page


def _serve(request: Request, sfn: Callable[[], Any]) -> Page:
    approval_id = request.approval_id
    sig = request.query.get("sig")
    try:
        expires = approval_links.verify(approval_id, request.query.get("exp"), sig)
    except approval_links.LinkError as error:
        return refusal(403, "This link is not valid", f"{error}. Use the link from the notification as it was sent.")
    if approval_links.expired(expires):
        return refusal(410, "This link has expired",
                       f"It was valid until {_when(expires)}. Once an approval expires the playbook takes its safe "
                       "path (nothing destructive; the incident is escalated).")
    assert sig is not None
    if request.method == "POST":
        return _decide(request, sig, sfn)
    return _show(request, sig)


def _show(request: Request, sig: str) -> Page:
    from aws_lambda_powertools.shared.cookies import Cookie, SameSite

    ddb = client("dynamodb")
    try:
        item = approval_gate.pending_item(request.approval_id, ddb)
    except ApprovalNotFound:
        return refusal(404, "No such approval", f"irflow has no approval {request.approval_id}.")
    incident = incidents.load_incident(item["incident_id"], ddb)
    playbook = approval_gate.playbook_of(item, ddb)
    rule = approval_gate.rule_for(playbook, approval_gate.load_rules())
    nonce = request.cookies.get(request.cookie_name)
    cookies = []
    if not approval_links.valid_nonce(nonce):
        nonce = approval_links.new_nonce()
        cookies.append(str(Cookie(request.cookie_name, nonce, path="/", secure=request.https, http_only=True,
                                  same_site=SameSite.STRICT_MODE, max_age=7 * 24 * 3600)))
    assert nonce is not None
    body = [_summary(item, incident, playbook, rule)]
    body.append(_decision_box(request, item, rule, sig, nonce))
    body.append(_record(incident))
    return Page(200, f"Approve: {_verb(item)} {item['target']}?", "\n".join(body), cookies)


def _decide(request: Request, sig: str, sfn: Callable[[], Any]) -> Page:
    if not _same_origin(request):
        return refusal(403, "Request refused", "The decision did not come from the approval page itself (its Origin "
                                               "or Referer is another site), so it was not taken.")
    person = request.person
    if person is None:
        return refusal(401, "Sign-in needed", "Nobody is signed in, so irflow cannot tell who decides. "
                                              + _terminal_hint(request.approval_id))
    if not approval_links.csrf_ok(request.form.get("csrf"), request.approval_id, sig,
                                  request.cookies.get(request.cookie_name), person.id):
        return refusal(403, "Request refused", "The form's anti-forgery token does not match this page, browser and "
                                               "sign-in. Open the link again and decide from the page.")
    decision = request.form.get("decision", "")
    if decision not in ("approve", "reject"):
        return refusal(400, "No decision", "The form must say approve or reject.")
    reason = " ".join(request.form.get("reason", "").split())[:MAX_REASON_CHARS] or None
    try:
        outcome = approval_gate.decide_as(request.approval_id, decision, person, sfn(), reason=reason)
    except approval_gate.NotAnApprover as error:
        return refusal(403, "You are not an approver", str(error))
    except approval_gate.SameApprover as error:
        return refusal(409, "A second approver is needed", str(error))
    except ApprovalAlreadyDecided as error:
        return refusal(409, "Already decided", f"{error}. A decision is taken once.")
    except ApprovalExpired as error:
        if approval_gate.pending_item(request.approval_id, client("dynamodb")).get("status") != approvals.PENDING:
            # recorded, but Step Functions no longer waited on the token (the execution ended or timed out)
            return Page(410, "Too late", _message("refused", f"Your decision is recorded in the incident, but {error}. "
                                                             "The playbook had already taken its safe path."))
        return refusal(410, "Too late", f"{error}. The playbook has taken its safe path.")
    except ApprovalNotFound:
        return refusal(404, "No such approval", f"irflow has no approval {request.approval_id}.")
    return _decided(outcome, person)


def _decided(outcome: approval_gate.Outcome, person: Person) -> Page:
    item = outcome.approval
    what = f"{_verb(item)} {item['target']}"
    if outcome.status == "awaiting-second":
        text = (f"Your approval to {what} is recorded (1 of 2). This action needs a second, different approver; "
                f"the playbook keeps waiting until then, or until {item['expires_at']}.")
        return Page(202, "Approval recorded: one more needed", _message("done", text))
    if outcome.status == "approved":
        by = " and ".join(outcome.approvers)
        text = f"Approved by {by}. The playbook resumes now: irflow will {what}."
        return Page(200, "Approved", _message("done", text))
    return Page(200, "Rejected", _message("done", f"Rejected by {person.id}. Nothing destructive will be done to "
                                                   f"{item['target']}; the playbook records the rejection."))


# --- checks ---------------------------------------------------------------------------------------------


def _same_origin(request: Request) -> bool:
    """The POST's Origin (else Referer) is this API's: its configured URL's, or the Host it was sent to."""
    claimed = request.headers.get("origin")
    if not claimed or claimed == "null":
        referer = request.headers.get("referer")
        if not referer:
            return False
        parts = urlsplit(referer)
        claimed = f"{parts.scheme}://{parts.netloc}"
    allowed = set()
    configured = settings().approval_url
    if configured:
        parts = urlsplit(configured)
        allowed.add(f"{parts.scheme}://{parts.netloc}".lower())
    host = request.headers.get("host")
    if host:
        allowed.add(f"{'https' if request.https else 'http'}://{host}".lower())
    return claimed.lower() in allowed


# --- rendering -------------------------------------------------------------------------------------------


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _verb(item: Mapping[str, Any]) -> str:
    """The action as a verb ("stop"), in the words of the request (request-approval's VERB)."""
    from tasks.request_approval import VERB

    return VERB.get(str(item.get("action")), str(item.get("action")))


def _what(item: Mapping[str, Any]) -> str:
    """Exactly what the action does, in the words of the request (stored with it, else request-approval's WHAT)."""
    if item.get("what"):
        return str(item["what"])
    from tasks.request_approval import WHAT

    template = WHAT.get(str(item["action"]), "{action} {target}")
    return template.format(target=item["target"], incident=item["incident_id"], action=item["action"])


def _when(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def refusal(status: int, title: str, text: str) -> Page:
    """A page that says what is wrong; every refusal changes nothing."""
    return Page(status, title, f"<h1>{_e(title)}</h1>\n" + _message("refused", text + " Nothing was changed."))


def _message(kind: str, text: str) -> str:
    return f'<p class="{kind}">{_e(text)}</p>'


def _terminal_hint(approval_id: str) -> str:
    return (f"Decide from a terminal with your AWS credentials: irflow approve {approval_id} "
            f"(or irflow reject {approval_id} --reason \"...\").")


def _summary(item: Mapping[str, Any], incident: Mapping[str, Any], playbook: str | None,
             rule: approval_gate.Rule) -> str:
    resource = incident.get("resource") or {}
    rows = [
        ("Why", item.get("reason")),
        ("Incident", f"{incident['id']} ({incident.get('status')}): {incident.get('finding_type')}, severity "
                     f"{incident.get('severity')} ({incident.get('severity_band')})"
                     + (f" - {incident['title']}" if incident.get("title") else "")),
        ("Resource", f"{resource.get('type')} {resource.get('id')} in account {incident.get('account_id')}, "
                     f"{incident.get('region')}"),
        ("Playbook", playbook or "unknown"),
        ("Requested", f"{item.get('requested_at')}; expires {item.get('expires_at')}"),
        ("Approval id", item["approval_id"]),
    ]
    if rule.needs_two(str(item["action"])):
        rows.append(("Two-person rule", "two different approvers must approve before anything is done"))
    listing = "\n".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows)
    return (f"<h1>Approve: {_e(_verb(item))} <code>{_e(item['target'])}</code>?</h1>\n"
            f'<p class="ask">If approved, irflow will {_e(_what(item))}.</p>\n<dl>\n{listing}\n</dl>')


def _decision_box(request: Request, item: Mapping[str, Any], rule: approval_gate.Rule, sig: str, nonce: str) -> str:
    parts = ["<h2>Decision</h2>"]
    if item.get("status") != approvals.PENDING:
        decided = f"{item.get('status')} by {item.get('decided_by') or 'nobody'} at {item.get('decided_at')}"
        parts.append(_message("done", f"This approval is {decided}. A decision is taken once."))
        return "\n".join(parts)
    first = item.get("first_approval") or {}
    if first:
        parts.append(_message("ask", f"Approved by {first.get('by')} at {first.get('at')} (1 of 2): waiting for a "
                                     "second, different approver."))
    person = request.person
    if person is None:
        parts.append(_message("refused", "Nobody is signed in on this page (the approval API has no authoriser), "
                                         "so it cannot take a decision. " + _terminal_hint(item["approval_id"])))
        return "\n".join(parts)
    name = rule.person_of(person.id)
    if name is None:
        parts.append(_message("refused", f"Signed in as {person.id}, who is not an approver for this playbook."))
        return "\n".join(parts)
    if first and first.get("person") == name:
        parts.append(_message("refused", f"Signed in as {person.id}: you gave the first approval; a different "
                                         "approver must give the second."))
        return "\n".join(parts)
    token = approval_links.csrf_token(item["approval_id"], sig, nonce, person.id)
    action = f"{item['approval_id']}?exp={_e(request.query.get('exp'))}&amp;sig={_e(sig)}"
    parts.append(f"<p>Signed in as <strong>{_e(person.id)}</strong> ({_e(person.via)}).</p>")
    parts.append(
        f'<form method="post" action="{action}">\n'
        f'<input type="hidden" name="csrf" value="{_e(token)}">\n'
        f'<label for="reason">Reason (recorded in the incident)</label>\n'
        f'<textarea id="reason" name="reason" maxlength="{MAX_REASON_CHARS}"></textarea>\n'
        f'<button class="approve" name="decision" value="approve">Approve: {_e(_verb(item))} '
        f"{_e(item['target'])}</button>\n"
        f'<button class="reject" name="decision" value="reject">Reject</button>\n</form>')
    return "\n".join(parts)


def _record(incident: Mapping[str, Any]) -> str:
    actions = incident.get("action_detail") or []
    evidence = incident.get("evidence_detail") or []
    timeline = (incident.get("timeline") or [])[-TIMELINE_SHOWN:]
    out = ["<h2>What irflow has done so far</h2>"]
    out.append(_table(("Action", "Target", "Result", "When"),
                      [(a["name"], a["target"], a["result"], a.get("at")) for a in actions], "nothing yet"))
    out.append("<h2>Evidence so far</h2>")
    out.append(_table(("Object", "SHA-256", "Kind", "Bytes"),
                      [(e["uri"], e["sha256"], e.get("kind"), e.get("size")) for e in evidence], "none yet",
                      code=(0, 1)))
    out.append(f"<h2>Timeline (last {TIMELINE_SHOWN})</h2>")
    out.append(_table(("When", "Step", "What happened"), [(t["at"], t["step"], t["message"]) for t in timeline],
                      "empty"))
    return "\n".join(out)


def _table(heads: tuple[str, ...], rows: list[tuple[Any, ...]], empty: str, code: tuple[int, ...] = ()) -> str:
    if not rows:
        return f"<p>{_e(empty)}</p>"
    head = "".join(f"<th>{_e(h)}</th>" for h in heads)
    body = "\n".join("<tr>" + "".join(f"<td><code>{_e(v)}</code></td>" if i in code else f"<td>{_e(v)}</td>"
                                      for i, v in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>\n{body}\n</table>"


def _log(request: Request, page: Page) -> None:
    """One line per request: approval id, method, outcome, who and from where (never the link or token)."""
    from tasks.common.handler import tools

    person = request.person
    approval_id = request.approval_id if approval_links.APPROVAL_ID.match(request.approval_id) else "(invalid)"
    fields = {"approval_id": approval_id, "api_request_id": request.request_id, "method": request.method,
              "status": page.status, "outcome": page.title, "person": person.id if person else None,
              "via": person.via if person else None, "source_ip": request.source_ip}
    logger = tools().logger
    logger.remove_keys(["incident_id", "function_request_id"])  # a task's keys, where one process runs both
    logger.append_keys(task="approval-api")
    logger.set_correlation_id(approval_id)
    (logger.info if page.status < 400 else logger.warning)("approval request", extra=fields)
