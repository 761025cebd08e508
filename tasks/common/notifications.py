"""SNS notifications: a short subject and a plain-text body that reads well in email and chat.

Subjects are trimmed to SNS's 100 printable ASCII characters; message attributes (incident id,
kind, severity) let subscribers filter. Nothing secret goes in: approvals are named by their
approval id, never by a task token; an approval link is signed and decides nothing by itself.

One publish serves every kind of subscriber (SNS `MessageStructure=json`): e-mail (and SQS, and
anything else, through `default`) gets the plain text with the link and the next steps on lines
of their own; HTTPS subscribers get an AWS Chatbot custom notification (`version` 1.0, `source`
custom, client-markdown title/description/nextSteps/keywords, threaded per incident through
`metadata.threadId`), which is how the topic reaches Slack or Teams: subscribe a Chatbot channel
configuration to the topic. Text that may come from a finding is escaped for Slack's markup.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .aws import client
from .config import settings

SUBJECT_LIMIT = 100
CHAT_DESCRIPTION_LIMIT = 3800  # keep a chat message readable; the full record is one link or command away
CHAT_EMOJI = {"approval-request": ":raised_hand:", "escalation": ":rotating_light:", "access-denied": ":warning:",
              "failure": ":warning:", "contained": ":lock:", "remediated": ":white_check_mark:"}


def subject_line(text: str) -> str:
    """Printable ASCII, one line, at most 100 characters (SNS's rule for Subject)."""
    clean = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in " ".join(text.split()))
    return clean if len(clean) <= SUBJECT_LIMIT else clean[: SUBJECT_LIMIT - 3] + "..."


def publish(subject: str, message: str, attributes: dict[str, str], sns: Any = None, link: str | None = None,
            next_steps: Sequence[str] = ()) -> str:
    """Publish to the irflow topic (text for e-mail, Chatbot JSON for chat); returns the message id.

    `link` (an approval page) and `next_steps` (what the reader is asked to do) are set apart
    from the body in both forms.
    """
    topic = settings().topic_arn
    if not topic:
        raise RuntimeError("IRFLOW_TOPIC_ARN is not set")
    text = email_text(message, link, next_steps)
    chat = chatbot_message(subject, message, attributes, link, next_steps)
    response = (sns or client("sns")).publish(
        TopicArn=topic, Subject=subject_line(subject), MessageStructure="json",
        Message=json.dumps({"default": text, "email": text, "https": json.dumps(chat)}),
        MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items() if v})
    return str(response["MessageId"])


def email_text(message: str, link: str | None = None, next_steps: Sequence[str] = ()) -> str:
    """The plain-text body: the message, then what to do, then the link alone on its line (mail clients link it)."""
    lines = [message.rstrip()]
    if next_steps:
        lines += ["", "What to do:", *(f"  - {step}" for step in next_steps)]
    if link:
        lines += ["", "Review and decide on the approval page (sign-in required; the link expires with the approval):",
                  link]
    return "\n".join(lines)


def slack_escape(text: str) -> str:
    """Escape &, < and > as Slack's markup requires, so text from a finding cannot forge links or mentions."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def chatbot_message(subject: str, message: str, attributes: dict[str, str], link: str | None = None,
                    next_steps: Sequence[str] = ()) -> dict[str, Any]:
    """An AWS Chatbot custom notification, threaded per incident."""
    kind = attributes.get("kind", "")
    description = slack_escape(message.strip())
    if len(description) > CHAT_DESCRIPTION_LIMIT:
        description = description[:CHAT_DESCRIPTION_LIMIT].rsplit("\n", 1)[0] + "\n(... shortened: see the incident)"
    steps = [slack_escape(step) for step in next_steps]
    if link:
        steps.insert(0, f"Review and decide: {link}")
    title = " ".join(subject.split())
    content: dict[str, Any] = {
        "textType": "client-markdown",
        "title": f"{CHAT_EMOJI[kind]} {slack_escape(title)}" if kind in CHAT_EMOJI else slack_escape(title),
        "description": description,
        "keywords": [v for v in (kind, attributes.get("severity_band"), attributes.get("incident_id")) if v],
    }
    if steps:
        content["nextSteps"] = steps
    metadata: dict[str, Any] = {"summary": title, "eventType": kind or "irflow",
                                "additionalContext": {k: v for k, v in attributes.items() if v}}
    if attributes.get("incident_id"):
        metadata["threadId"] = attributes["incident_id"]
    return {"version": "1.0", "source": "custom", "content": content, "metadata": metadata}
