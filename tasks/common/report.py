"""Human-readable views of an incident: the Markdown report in the evidence bucket and notification bodies.

Both are built from `incidents.load_incident`, so what people read is what the record holds.
"""

from __future__ import annotations

import json
from typing import Any


def failure_text(error: str, cause: str | None) -> str:
    """A Catch's Error/Cause as one line; a Lambda cause is a JSON payload whose errorMessage is what matters."""
    message = cause or ""
    try:
        parsed = json.loads(message)
        if isinstance(parsed, dict) and parsed.get("errorMessage"):
            message = str(parsed["errorMessage"])
    except ValueError:
        pass
    message = " ".join(message.split())
    return f"{error}: {message[:500]}" if message else error


def _cell(value: Any) -> str:
    return str(value if value is not None else "").replace("|", "\\|").replace("\n", " ")


def markdown(incident: dict[str, Any]) -> str:
    """The incident report: summary, timeline, actions, evidence with SHA-256, approvals, failures."""
    resource = incident.get("resource") or {}
    lines = [
        f"# Incident {incident['id']}",
        "",
        f"- **Status:** {incident.get('status')}",
        f"- **Finding:** {incident.get('finding_type')} (severity {incident.get('severity')}, "
        f"{incident.get('severity_band')}), {incident.get('source', 'GuardDuty')} finding `{incident.get('finding_id')}`",
        f"- **Title:** {incident.get('title') or ''}",
        f"- **Resource:** {resource.get('type')} `{resource.get('id')}` in account {incident.get('account_id')}, "
        f"{incident.get('region')}",
        f"- **Opened:** {incident.get('created_at')}; **last update:** {incident.get('updated_at')}",
        f"- **Times {incident.get('source', 'GuardDuty')} reported it:** {incident.get('count', 1)}",
        "",
        "## Timeline",
        "",
        "| Time (UTC) | Step | What happened |",
        "|---|---|---|",
    ]
    for entry in incident.get("timeline", []):
        text = entry["message"]
        if entry.get("failure"):
            text += " (" + failure_text(entry["failure"].get("Error", ""), entry["failure"].get("Cause")) + ")"
        lines.append(f"| {_cell(entry['at'])} | {_cell(entry['step'])} | {_cell(text)} |")
    lines += ["", "## Actions", "", "| Action | Target | Result | Time (UTC) |", "|---|---|---|---|"]
    for action in incident.get("action_detail", []):
        lines.append(f"| {_cell(action['name'])} | `{_cell(action['target'])}` | {_cell(action['result'])} | "
                     f"{_cell(action.get('at'))} |")
    lines += ["", "## Evidence", "", "| Object | SHA-256 | Kind | Bytes |", "|---|---|---|---|"]
    for item in incident.get("evidence_detail", []):
        lines.append(f"| `{_cell(item['uri'])}` | `{_cell(item['sha256'])}` | {_cell(item.get('kind'))} | "
                     f"{_cell(item.get('size'))} |")
    lines += ["", "## Approvals", "", "| Approval | Action | Target | Decision | By | Decided (UTC) |",
              "|---|---|---|---|---|---|"]
    for approval in incident.get("approval_detail", []):
        lines.append(f"| `{_cell(approval['approval_id'])}` | {_cell(approval['action'])} | `{_cell(approval['target'])}` "
                     f"| {_cell(approval['decision'])} | {_cell(approval.get('by'))} | {_cell(approval.get('decided_at'))} |")
    failures = incident.get("failures", [])
    if failures:
        lines += ["", "## Failures", ""]
        lines += [f"- {f['at']} **{f['step']}**: {failure_text(f.get('Error', ''), f.get('Cause'))}" for f in failures]
    lines += ["", "_Written by irflow. Evidence objects are under Object Lock; their SHA-256 digests are listed "
              "above._", ""]
    return "\n".join(lines)


def plain_summary(incident: dict[str, Any]) -> list[str]:
    """A notification's body after its headline: what irflow did and found."""
    lines = [f"Incident {incident['id']}: status {incident.get('status')}",
             f"Finding: {incident.get('finding_type')} (severity {incident.get('severity')}, "
             f"{incident.get('severity_band')})",
             f"Resource: {(incident.get('resource') or {}).get('id')} in {incident.get('account_id')} "
             f"{incident.get('region')}"]
    if incident.get("actions"):
        lines += ["", "What irflow did:"]
        lines += [f"  - {a['name']} {a['target']}: {a['result']}" for a in incident["actions"]]
    if incident.get("evidence"):
        lines += ["", "Evidence (SHA-256):"]
        lines += [f"  - {e['uri']}  {e['sha256']}" for e in incident["evidence"]]
    if incident.get("approvals"):
        lines += ["", "Approvals:"]
        lines += [f"  - {a['id']}: {a['decision']}" + (f" by {a['by']}" if a.get("by") else "")
                  for a in incident["approvals"]]
    if incident.get("failures"):
        lines += ["", "Steps that failed (the response went on):"]
        lines += [f"  - {f['step']}: {failure_text(f.get('Error', ''), f.get('Cause'))}" for f in incident["failures"]]
    return lines
