"""The console's pages, rendered on the server from what `source` read; every value is escaped.

A finding's strings are attacker-controlled (a title, a tag, a user agent can carry markup), and
so is everything derived from them (incident titles, timeline messages, execution input), so
nothing reaches the page unescaped: `e()` on every value, and attribute values quoted. The only
markup not built here is the state graph, which Graphviz draws from the playbook definition.
Regions marked `data-live` are swapped in place when the page polls (see `assets.JS`).
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from .source import Execution
from .templates import Target, Template

ACTION_WORDS = {"isolate-instance": "Isolate", "remediate-instance": "Stop"}
STATUS_CLASS = {"RUNNING": "run", "WAITING": "wait", "SUCCEEDED": "ok", "FAILED": "bad", "TIMED_OUT": "bad",
                "ABORTED": "bad",  # executions
                "open": "run", "investigating": "run", "awaiting-approval": "wait", "contained": "ok",
                "remediated": "ok", "awaiting-human": "wait", "released": "mute", "closed": "mute",
                "failed": "bad",  # incidents
                "pending": "wait", "approved": "ok", "rejected": "bad", "timed-out": "bad",  # approvals
                "critical": "bad", "high": "bad", "medium": "wait", "low": "mute"}  # severity bands


def e(value: Any) -> str:
    """Escape for HTML text and quoted attributes (None is empty)."""
    return html.escape("" if value is None else str(value), quote=True)


@dataclass
class Frame:
    """What every page shows around its content: who, which mode, the clock, the change counter."""

    person: str | None
    mode: str
    now: datetime
    speed: float = 1.0
    version: int = 0
    flash: str | None = None
    flash_kind: str = "info"
    local: bool = True


@dataclass
class ApprovalCard:
    """A pending approval and how this browser may decide it (through the approval API)."""

    approval: dict[str, Any]
    what: str  # exactly what will be done, in the approval request's words
    action_url: str | None = None  # the approval API's signed page (the form posts there)
    csrf: str | None = None  # the approval page's anti-forgery token for this browser and person
    note: str | None = None  # why there are no buttons, when there are none


@dataclass
class ScenarioRow:
    key: str
    name: str
    ran: bool
    error: str | None = None


@dataclass
class EvidenceCheck:
    """The outcome of re-reading one piece of evidence and hashing it."""

    ok: bool
    text: str


@dataclass
class StartForm:
    playbooks: Sequence[str]
    templates: Sequence[Template]
    targets: Sequence[Target]
    template: str | None
    target: str | None
    playbook: str | None
    input_text: str
    csrf: str
    errors: list[str] = field(default_factory=list)


# --- formatting ----------------------------------------------------------------------------------


def when(value: Any) -> str:
    """A time as `HH:MM:SS` with the full UTC stamp on hover; text times (ISO 8601) accepted."""
    moment = _moment(value)
    if moment is None:
        return e(value or "")
    full = moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    return f'<time datetime="{e(moment.isoformat())}" title="{e(full)}">{e(moment.strftime("%H:%M:%S"))}</time>'


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def pill(status: Any, text: Any = None) -> str:
    kind = STATUS_CLASS.get(str(status), "mute")
    return f'<span class="pill {kind}">{e(text if text is not None else status)}</span>'


def size(value: Any) -> str:
    """Bytes for people: 812 B, 4.2 KB, 1.3 MB."""
    if not isinstance(value, int) or isinstance(value, bool):
        return ""
    if value < 1024:
        return f"{value} B"
    amount = float(value)
    for unit in ("KB", "MB", "GB"):
        amount /= 1024
        if amount < 1024 or unit == "GB":
            break
    return f"{amount:.1f} {unit}"


def execution_url(execution: Execution) -> str:
    return f"/executions/{quote(execution.playbook, safe='')}/{quote(execution.name, safe='')}"


def incident_url(incident_id: str) -> str:
    return f"/incidents/{quote(incident_id, safe='')}"


def _table(heads: Sequence[str], rows: Iterable[Sequence[str]], empty: str, css: str = "") -> str:
    """A table of already-escaped cells."""
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    if not body:
        return f'<p class="empty">{e(empty)}</p>'
    head = "".join(f"<th>{e(h)}</th>" for h in heads)
    return f'<table class="{e(css)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


# --- the frame -------------------------------------------------------------------------------------


def page(frame: Frame, title: str, body: str, active: str = "") -> str:
    """A whole page: header (navigation, mode, clock, who), the flash message, the body."""
    links = (("overview", "/", "Overview"), ("start", "/start", "Start a playbook"))
    nav = "".join(f'<a href="{href}" class="{"active" if key == active else ""}">{e(text)}</a>'
                  for key, href, text in links)
    who = (f'<span class="who" title="signed in">{e(frame.person)}</span><a class="signout" href="/signout">'
           "Sign out</a>" if frame.person else '<span class="who none">not signed in</span>')
    speed = f" · time ×{frame.speed:g}" if frame.speed != 1 else ""
    flash = (f'<div id="flash" class="flash {e(frame.flash_kind)}" role="status">{e(frame.flash)}</div>'
             if frame.flash else '<div id="flash" class="flash" role="status" hidden></div>')
    clock = (f'<span class="clock" data-now="{frame.now.timestamp() * 1000:.0f}" data-speed="{frame.speed:g}">'
             f'{e(frame.now.strftime("%H:%M:%S"))} UTC</span>')
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{e(title)} · irflow console</title>
<link rel="stylesheet" href="/static/console.css"><script src="/static/console.js" defer></script></head>
<body data-version="{frame.version}">
<header class="top"><a class="brand" href="/"><b>irflow</b> console</a><nav>{nav}</nav>
<div class="meta"><span class="mode">{e(frame.mode)}{e(speed)}</span>{clock}{who}</div></header>
{flash}
<main>
{body}
</main>
</body></html>
"""


def sign_in_page(frame: Frame) -> str:
    body = ('<section class="card narrow"><h1>Sign in</h1><p>Open the sign-in link <code>irflow console</code> '
            "printed in its terminal. It is secret: whoever has it acts as you, here and on the approval pages.</p>"
            "</section>")
    return page(frame, "Sign in", body)


def not_found_page(frame: Frame, what: str) -> str:
    return page(frame, "Not found", f'<section class="card narrow"><h1>Not found</h1><p>{e(what)}</p>'
                                    '<p><a href="/">Back to the overview</a></p></section>')


# --- overview ---------------------------------------------------------------------------------------


def overview(frame: Frame, cards: Sequence[ApprovalCard], executions: Sequence[Execution],
             incidents: Sequence[dict[str, Any]], scenarios: Sequence[ScenarioRow], csrf: str) -> str:
    body = [approvals_section(cards, frame.now),
            f'<section class="card" id="executions" data-live><h2>Executions <span class="count">{len(executions)}'
            f"</span></h2>{executions_table(executions, frame.now)}</section>",
            f'<section class="card" id="incidents" data-live><h2>Incidents <span class="count">{len(incidents)}</span>'
            f"</h2>{incidents_table(incidents)}</section>"]
    if frame.local:
        body.append(scenarios_section(scenarios, csrf))
    return page(frame, "Overview", "\n".join(body), active="overview")


def approvals_section(cards: Sequence[ApprovalCard], now: datetime) -> str:
    if not cards:
        inner = '<p class="empty">No approval is waiting. Playbooks ask here before anything destructive.</p>'
    else:
        inner = "\n".join(approval_card(card, now) for card in cards)
    return (f'<section class="card approvals{" waiting" if cards else ""}" id="approvals" data-live>'
            f'<h2>Waiting for a person <span class="count">{len(cards)}</span></h2>{inner}</section>')


def approval_card(card: ApprovalCard, now: datetime) -> str:
    item = card.approval
    verb = ACTION_WORDS.get(str(item.get("action")), str(item.get("action")))
    expires = _moment(item.get("expires_at"))
    left = duration((expires - now).total_seconds()) if expires is not None and expires > now else "expired"
    rows = [("Why", e(item.get("reason"))),
            ("Incident", f'<a href="{e(incident_url(str(item.get("incident_id"))))}">{e(item.get("incident_id"))}</a>'),
            ("Requested", when(item.get("requested_at"))),
            ("Expires", f'{when(item.get("expires_at"))} <span class="muted">({e(left)} left; then nothing '
                        "destructive is done and the incident is escalated)</span>"),
            ("Approval id", f'<code>{e(item.get("approval_id"))}</code>')]
    first = item.get("first_approval")
    if isinstance(first, dict) and first:
        rows.append(("First approval", f"{e(first.get('by'))} at {when(first.get('at'))}: a second, different "
                                       "approver is needed"))
    facts = "".join(f"<dt>{e(k)}</dt><dd>{v}</dd>" for k, v in rows)
    if card.action_url and card.csrf:
        decide = (f'<form class="decide" method="post" action="{e(card.action_url)}" data-decide>'
                  f'<input type="hidden" name="csrf" value="{e(card.csrf)}">'
                  f'<input class="reason" name="reason" maxlength="500" placeholder="Reason (recorded in the incident)" '
                  f'aria-label="Reason">'
                  f'<button class="approve" name="decision" value="approve">Approve</button>'
                  f'<button class="reject" name="decision" value="reject">Reject</button>'
                  f'<a class="full" href="{e(card.action_url)}">Approval page</a></form>')
    else:
        decide = f'<p class="note">{e(card.note or "This approval cannot be decided from here.")}</p>'
        if card.action_url:
            decide += f'<p><a class="full" href="{e(card.action_url)}">Open the approval page</a></p>'
    return (f'<article class="approval" data-approval="{e(item.get("approval_id"))}">'
            f'<h3><span class="tag">{e(verb)}</span> <code>{e(item.get("target"))}</code>?</h3>'
            f'<p class="ask">If approved, irflow will {e(card.what)}.</p><dl>{facts}</dl>{decide}</article>')


def current_text(execution: Execution) -> str:
    """The states an execution is in now, waiting ones flagged."""
    parts = []
    for step in execution.current:
        label = e(step.name)
        parts.append(f'<span class="waiting">{label} · waiting for a person</span>' if step.status == "WAITING"
                     else label)
    return ", ".join(parts)


def executions_table(executions: Sequence[Execution], now: datetime) -> str:
    rows = []
    for execution in executions:
        end = execution.stopped or now
        state = current_text(execution) if execution.status == "RUNNING" else e(execution.error or "")
        rows.append((pill("WAITING" if execution.waiting else execution.status,
                          "WAITING" if execution.waiting else execution.status),
                     e(execution.playbook),
                     f'<a href="{e(execution_url(execution))}" title="{e(execution.arn)}">{e(_short(execution.name))}</a>',
                     state, when(execution.started), e(duration((end - execution.started).total_seconds()))))
    return _table(("Status", "Playbook", "Execution", "Now / error", "Started", "Took"), rows,
                  "No execution yet: run a scenario or start a playbook.", "executions")


def _short(name: str, limit: int = 30) -> str:
    return name if len(name) <= limit else name[: limit - 11] + "…" + name[-10:]


def incidents_table(incidents: Sequence[dict[str, Any]]) -> str:
    rows = []
    for incident in incidents:
        resource = incident.get("resource") or {}
        severity = incident.get("severity")
        rows.append((pill(incident.get("status")),
                     f'<a href="{e(incident_url(str(incident.get("id"))))}">{e(incident.get("id"))}</a>',
                     pill(incident.get("severity_band"), f"{incident.get('severity_band')} {severity}"),
                     f'<span class="finding">{e(incident.get("finding_type"))}</span>',
                     f'<code>{e(resource.get("id"))}</code><br><span class="muted">{e(incident.get("account_id"))} '
                     f'{e(incident.get("region"))}</span>',
                     when(incident.get("updated_at"))))
    return _table(("Status", "Incident", "Severity", "Finding", "Resource", "Updated"), rows, "No incident yet.",
                  "incidents")


def scenarios_section(scenarios: Sequence[ScenarioRow], csrf: str) -> str:
    rows = []
    for row in scenarios:
        if row.ran:
            action = '<span class="muted">ran</span>'
        else:
            action = (f'<form method="post" action="/scenarios"><input type="hidden" name="csrf" value="{e(csrf)}">'
                      f'<input type="hidden" name="scenario" value="{e(row.key)}">'
                      '<button name="events" value="send">Run</button>'
                      '<button class="quiet" name="events" value="none" title="create its resources only, to start '
                      'a playbook on them by hand">Resources only</button></form>')
        rows.append((e(row.name), f"<code>{e(row.key)}</code>", action + (
            f'<div class="error">{e(row.error)}</div>' if row.error else "")))
    table = _table(("Scenario", "File", ""), rows, "No scenario found.", "scenarios")
    return (f'<section class="card" id="scenarios" data-live><h2>Scenarios</h2><p class="muted">Creates the '
            "scenario's resources in the embedded AWS and sends its events through EventBridge, as "
            f"<code>irflow simulate</code> does, but in real time and with approvals left to you.</p>{table}</section>")


# --- one execution ------------------------------------------------------------------------------------


def execution_page(frame: Frame, execution: Execution, graph_svg: str | None, graph_note: str | None,
                   state_order: Sequence[str], cards: Sequence[ApprovalCard] = ()) -> str:
    """One execution: its head, the approvals it waits on, the marked graph, the timeline, its data."""
    title = f"{execution.playbook} · {execution.name}"
    waiting = "".join(approval_card(card, frame.now) for card in cards)
    body = [f'<p class="crumbs"><a href="/">Overview</a> / {e(execution.playbook)} / <code>{e(execution.name)}</code>'
            "</p>",
            f'<div id="head" data-live>{execution_head(execution, frame.now)}</div>',
            f'<div id="approvals" class="inline-approvals" data-live>{waiting}</div>',
            '<div class="split">',
            '<section class="card graph-card"><h2>State graph</h2>'
            '<div class="legend"><span class="st st-running">running</span><span class="st st-waiting">waiting for a '
            'person</span><span class="st st-succeeded">done</span><span class="st st-failed">failed</span>'
            '<span class="zoom"><button type="button" data-zoom="-1" title="smaller">−</button>'
            '<button type="button" data-zoom="0" title="fit">fit</button>'
            '<button type="button" data-zoom="1" title="larger">+</button></span></div>'
            f'<div class="graph-scroll"><div id="graph" data-live>{graph_block(execution, graph_svg, graph_note, state_order)}'
            "</div></div></section>",
            f'<section class="card steps-card"><h2>Timeline</h2><div class="steps-scroll" id="steps" data-live>'
            f"{steps_list(execution)}</div></section>",
            "</div>",
            data_section(execution)]
    return page(frame, title, "\n".join(body))


def execution_head(execution: Execution, now: datetime) -> str:
    status = "WAITING" if execution.waiting else execution.status
    end = execution.stopped or now
    facts = [("Started", when(execution.started)),
             ("Took" if execution.stopped else "Running for", e(duration((end - execution.started).total_seconds())))]
    if execution.current:
        facts.append(("Now", current_text(execution)))
    if execution.incident_id:
        facts.append(("Incident", f'<a href="{e(incident_url(execution.incident_id))}">{e(execution.incident_id)}</a>'))
    facts.append(("ARN", f"<code>{e(execution.arn)}</code>"))
    if execution.error or execution.cause:
        facts.append(("Error", f'<span class="error">{e(execution.error)}</span> {e(execution.cause)}'))
    listing = "".join(f"<dt>{e(k)}</dt><dd>{v}</dd>" for k, v in facts)
    return f'<h1>{e(execution.playbook)} {pill(status)}</h1><dl class="facts">{listing}</dl>'


def graph_block(execution: Execution, svg: str | None, note: str | None, order: Sequence[str]) -> str:
    """The marked SVG, or the states as a list (no Graphviz), or a note."""
    if svg:
        return svg
    statuses = execution.state_status()
    if order:
        items = "".join(f'<li class="st st-{e(_st(statuses.get(name)))}">{e(name)}</li>' for name in order)
        return f'<p class="muted">{e(note or "")}</p><ol class="state-list">{items}</ol>'
    return f'<p class="muted">{e(note or "No picture of this playbook.")}</p>'


def _st(status: str | None) -> str:
    return {"RUNNING": "running", "WAITING": "waiting", "SUCCEEDED": "succeeded", None: "idle"}.get(status, "failed")


def steps_list(execution: Execution) -> str:
    if not execution.steps:
        return '<p class="empty">Nothing yet.</p>'
    items = []
    for step in execution.steps:
        offset = (step.entered - execution.started).total_seconds()
        status = _st(step.status)
        detail = [f'<span class="task">{e(step.task)}</span>'] if step.task else [f'<span class="type">{e(step.type)}</span>']
        if step.seconds is not None and step.seconds > 0:
            detail.append(e(duration(step.seconds)))
        if step.retries:
            detail.append(e(f"{step.retries} retr{'y' if step.retries == 1 else 'ies'}"))
        if step.status == "WAITING":
            detail.append('<span class="waiting">waiting for a person</span>')
        error = (f'<div class="error">{e(step.error)}: {e(_clip(step.cause))}</div>' if step.error else "")
        items.append(f'<li class="st-{status}"><span class="at">+{e(duration(offset) or "0.0 s")}</span>'
                     f'<span class="dot"></span><span class="name">{e(step.name)}</span>'
                     f'<span class="detail">{" · ".join(detail)}</span>{error}</li>')
    return f'<ol class="steps">{"".join(items)}</ol>'


def _clip(text: Any, limit: int = 300) -> str:
    value = " ".join(str(text or "").split())
    return value if len(value) <= limit else value[: limit - 1] + "…"


def data_section(execution: Execution) -> str:
    finding = execution.input if isinstance(execution.input, dict) else {}
    detail = finding.get("detail") if isinstance(finding.get("detail"), dict) else {}
    assert isinstance(detail, dict)
    summary = ""
    if detail:
        summary = (f'<p><span class="finding">{e(detail.get("type"))}</span> · severity {e(detail.get("severity"))}'
                   f' · {e(detail.get("title"))}</p>')
    parts = [f'<section class="card"><h2>Input</h2>{summary}<details><summary>The execution input (JSON)</summary>'
             f"<pre>{e(json.dumps(execution.input, indent=2, default=str))}</pre></details>"]
    if execution.output is not None:
        parts.append(f"<details><summary>The output (JSON)</summary><pre>"
                     f"{e(json.dumps(execution.output, indent=2, default=str))}</pre></details>")
    parts.append("</section>")
    return "".join(parts)


# --- one incident --------------------------------------------------------------------------------------


def incident_page(frame: Frame, incident: dict[str, Any], executions: Sequence[Execution],
                  checks: dict[str, EvidenceCheck] | None = None) -> str:
    body = [f'<p class="crumbs"><a href="/">Overview</a> / incident <code>{e(incident["id"])}</code></p>',
            f'<div id="incident" data-live>{incident_body(incident, executions, checks)}</div>']
    return page(frame, f"Incident {incident['id']}", "\n".join(body))


def incident_body(incident: dict[str, Any], executions: Sequence[Execution],
                  checks: dict[str, EvidenceCheck] | None) -> str:
    resource = incident.get("resource") or {}
    facts = [("Finding", f'<span class="finding">{e(incident.get("finding_type"))}</span>'),
             ("Title", e(incident.get("title"))),
             ("Severity", pill(incident.get("severity_band"), f"{incident.get('severity_band')} "
                                                               f"{incident.get('severity')}")),
             ("Resource", f'{e(resource.get("type"))} <code>{e(resource.get("id"))}</code> in '
                          f'{e(incident.get("account_id"))} {e(incident.get("region"))}'),
             ("Opened", when(incident.get("created_at"))), ("Updated", when(incident.get("updated_at"))),
             ("Finding id", f'<code>{e(incident.get("finding_id"))}</code>'
                            + (f' · seen {e(incident.get("count"))} times' if (incident.get("count") or 1) > 1 else ""))]
    if executions:
        links = ", ".join(f'<a href="{e(execution_url(x))}">{e(_short(x.name))}</a> {pill(x.status)}'
                          for x in executions)
        facts.append(("Executions", links))
    listing = "".join(f"<dt>{e(k)}</dt><dd>{v}</dd>" for k, v in facts)
    head = f'<h1>Incident {e(incident["id"])} {pill(incident.get("status"))}</h1><dl class="facts">{listing}</dl>'
    actions = _table(("Action", "Target", "Result", "When"),
                     ((e(a.get("name")), f"<code>{e(a.get('target'))}</code>", e(a.get("result")), when(a.get("at")))
                      for a in incident.get("action_detail") or []), "Nothing done yet.")
    approvals = _table(("Approval", "Action", "Target", "Decision", "By", "Decided", "Reason"),
                       ((f"<code>{e(a.get('approval_id'))}</code>", e(a.get("action")), f"<code>{e(a.get('target'))}</code>",
                         pill(a.get("decision")), e(a.get("by")), when(a.get("decided_at")), e(a.get("reason")))
                        for a in incident.get("approval_detail") or []), "No approval asked.")
    timeline = _table(("When", "Step", "What happened"),
                      ((when(t.get("at")), f'<span class="task">{e(t.get("step"))}</span>',
                        e(t.get("message")) + (f'<div class="error">{e((t.get("failure") or {}).get("Error"))}: '
                                               f'{e(_clip((t.get("failure") or {}).get("Cause")))}</div>'
                                               if t.get("failure") else ""))
                       for t in incident.get("timeline") or []), "Empty.", "timeline")
    return "\n".join([
        f'<section class="card">{head}</section>',
        f'<section class="card"><h2>Approvals</h2>{approvals}</section>',
        f'<section class="card"><h2>Actions</h2>{actions}</section>',
        f'<section class="card" id="evidence"><h2>Evidence</h2>{evidence_table(incident, checks)}</section>',
        f'<section class="card"><h2>Timeline</h2>{timeline}</section>'])


def evidence_table(incident: dict[str, Any], checks: dict[str, EvidenceCheck] | None) -> str:
    rows = []
    for item in incident.get("evidence_detail") or []:
        uri = str(item.get("uri"))
        check = (checks or {}).get(uri)
        verified = (f'<span class="pill {"ok" if check.ok else "bad"}">{e(check.text)}</span>' if check else "")
        download = (f' <a class="download" href="/evidence?{e(urlencode({"incident": incident["id"], "uri": uri}))}">'
                    "download</a>" if uri.startswith("s3://") else "")
        rows.append((f"<code>{e(uri)}</code>{download}", e(item.get("kind")), e(size(item.get("size"))),
                     f'<code class="hash">{e(item.get("sha256"))}</code>', verified, when(item.get("at"))))
    table = _table(("Object", "Kind", "Size", "SHA-256", "Check", "Collected"), rows, "No evidence yet.", "evidence")
    if rows and checks is None:
        table += (f'<p><a class="button quiet" href="{e(incident_url(str(incident["id"])))}?verify=1#evidence">'
                  "Verify: read every object back and hash it</a></p>")
    return table


# --- starting a playbook by hand ------------------------------------------------------------------------


def start_page(frame: Frame, form: StartForm) -> str:
    template_options = "".join(
        f'<option value="{e(t.key)}"{" selected" if t.key == form.template else ""}>{e(t.title)}</option>'
        for t in form.templates)
    target_options = '<option value="">as written in the template</option>' + "".join(
        f'<option value="{e(t.id)}"{" selected" if t.id == form.target else ""}>{e(t.label)}</option>'
        for t in form.targets)
    playbook_options = "".join(
        f'<option value="{e(p)}"{" selected" if p == form.playbook else ""}>{e(p)}</option>' for p in form.playbooks)
    errors = "".join(f'<p class="error">{e(text)}</p>' for text in form.errors)
    body = f"""<section class="card">
<h1>Start a playbook by hand</h1>
<p class="muted">What a responder does from the Step Functions console: pick a playbook and give it an event. The
template becomes a new finding about the instance you choose (a new finding id, the current time); edit it
freely before starting.</p>
<form class="pick" method="get" action="/start" data-autosubmit>
<label>Finding template <select name="template">{template_options}</select></label>
<label>About instance <select name="target">{target_options}</select></label>
<label>Playbook <select name="playbook">{playbook_options}</select></label>
<button class="quiet">Load</button>
</form>
{errors}
<form class="start" method="post" action="/start">
<input type="hidden" name="csrf" value="{e(form.csrf)}">
<input type="hidden" name="playbook" value="{e(form.playbook)}">
<label for="input">Input of <strong>{e(form.playbook)}</strong> (JSON)</label>
<textarea id="input" name="input" spellcheck="false" rows="24">{e(form.input_text)}</textarea>
<button class="primary">Start execution</button>
</form>
</section>"""
    return page(frame, "Start a playbook", body, active="start")
