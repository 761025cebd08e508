"""CloudFormation through change sets: show what will change, apply it, follow it, explain a failure.

`deploy_stack` creates a change set (CREATE for a new stack, UPDATE otherwise), prints each change,
stops there on a dry run (leaving nothing behind), and otherwise executes it and prints the stack
events as they arrive until the stack settles. `destroy_stack` says which resources the template
retains, deletes the stack and follows it the same way. A failure names the first resource that
failed and CloudFormation's reason, which is the one a person needs (later ones are cancellations).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
CANCELLED = ("Resource creation cancelled", "Resource update cancelled", "Resource deletion cancelled")
CREATABLE = frozenset({"REVIEW_IN_PROGRESS"})
SUCCEEDED = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "DELETE_COMPLETE", "IMPORT_COMPLETE"})


class StackError(Exception):
    """A stack operation that cannot start or did not succeed; the message is for the user."""


@dataclass
class Waiting:
    """How to wait between polls (tests pass a zero interval)."""

    interval: float = 5.0
    timeout: float = 3 * 3600
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic


@dataclass(frozen=True)
class Change:
    action: str
    logical_id: str
    resource_type: str
    replacement: str = ""

    def line(self) -> str:
        replace = " (replacement)" if self.replacement == "True" else (
            " (may be replaced)" if self.replacement == "Conditional" else "")
        return f"  {self.action:<7} {self.logical_id:<44} {self.resource_type}{replace}"


@dataclass
class Outcome:
    """What happened: `created`, `updated`, `unchanged`, `dry-run`, `deleted`, `absent`."""

    result: str
    changes: list[Change] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)


def stack_status(cfn: Any, stack_name: str) -> str | None:
    """The stack's status, or None when there is no such stack."""
    try:
        stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except cfn.exceptions.ClientError as error:
        if "does not exist" in str(error):
            return None
        raise
    return str(stacks[0]["StackStatus"]) if stacks else None


def _ensure_settled(status: str | None, stack_name: str) -> None:
    if status is None or status in CREATABLE:
        return
    if status == "ROLLBACK_COMPLETE":
        raise StackError(f"stack {stack_name} is ROLLBACK_COMPLETE (its creation failed and was rolled back); "
                         "run `irflow destroy` and deploy again")
    if status.endswith("_IN_PROGRESS"):
        raise StackError(f"stack {stack_name} is busy ({status}); wait for it to finish")


def deploy_stack(cfn: Any, stack_name: str, *, parameters: Sequence[Mapping[str, Any]],
                 template_url: str | None = None, template_body: str | None = None,
                 tags: Mapping[str, str] | None = None, dry_run: bool = False,
                 out: TextIO, waiting: Waiting | None = None) -> Outcome:
    """Create or update `stack_name` through a change set; print the changes, then the progress."""
    waiting = waiting or Waiting()
    status = stack_status(cfn, stack_name)
    _ensure_settled(status, stack_name)
    change_type = "CREATE" if status is None or status in CREATABLE else "UPDATE"
    name = f"irflow-{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(3)}"  # unique even within a second
    request: dict[str, Any] = {
        "StackName": stack_name, "ChangeSetName": name, "ChangeSetType": change_type,
        "Parameters": list(parameters), "Capabilities": ["CAPABILITY_NAMED_IAM"],
        "Tags": [{"Key": k, "Value": v} for k, v in sorted((tags or {}).items())],
        "Description": "irflow deploy",
    }
    if template_url:
        request["TemplateURL"] = template_url
    else:
        request["TemplateBody"] = template_body
    change_set_id = cfn.create_change_set(**request)["Id"]
    print(f"Change set {name} ({change_type.lower()}) for stack {stack_name}: computing changes...", file=out)
    described = _wait_change_set(cfn, change_set_id, waiting)
    if described["Status"] == "FAILED":
        reason = str(described.get("StatusReason", ""))
        _discard(cfn, change_set_id, stack_name, change_type)
        if any(marker in reason for marker in NO_CHANGES):
            print("No changes: the stack already matches.", file=out)
            return Outcome("unchanged")
        raise StackError(f"change set failed: {reason}")
    changes = _changes(cfn, change_set_id, described)
    print(f"{len(changes)} change(s):", file=out)
    for change in changes:
        print(change.line(), file=out)
    if dry_run:
        _discard(cfn, change_set_id, stack_name, change_type)
        print("Dry run: change set deleted, nothing was changed.", file=out)
        return Outcome("dry-run", changes)
    stack_id = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]["StackId"]
    mark = _latest_event_id(cfn, stack_id)
    cfn.execute_change_set(ChangeSetName=change_set_id)
    print(f"Executing: {stack_name}", file=out)
    final = follow(cfn, stack_name, stack_id, mark, out, waiting, total=len(changes))
    if final not in SUCCEEDED:
        raise StackError(failure_message(stack_name, final, _events_after(cfn, stack_id, mark)))
    print(f"{stack_name}: {final}", file=out)
    return Outcome("created" if change_type == "CREATE" else "updated", changes, stack_outputs(cfn, stack_name))


def _wait_change_set(cfn: Any, change_set_id: str, waiting: Waiting) -> dict[str, Any]:
    deadline = waiting.clock() + waiting.timeout
    while True:
        described: dict[str, Any] = cfn.describe_change_set(ChangeSetName=change_set_id)
        if described["Status"] in ("CREATE_COMPLETE", "FAILED"):
            return described
        if waiting.clock() > deadline:
            raise StackError(f"change set still {described['Status']} after {waiting.timeout:.0f} s")
        waiting.sleep(waiting.interval)


def _changes(cfn: Any, change_set_id: str, first: Mapping[str, Any]) -> list[Change]:
    pages = [first]
    while pages[-1].get("NextToken"):
        pages.append(cfn.describe_change_set(ChangeSetName=change_set_id, NextToken=pages[-1]["NextToken"]))
    changes = []
    for page in pages:
        for item in page.get("Changes", []):
            rc = item.get("ResourceChange", {})
            changes.append(Change(str(rc.get("Action", "")), str(rc.get("LogicalResourceId", "")),
                                  str(rc.get("ResourceType", "")), str(rc.get("Replacement", ""))))
    return changes


def _discard(cfn: Any, change_set_id: str, stack_name: str, change_type: str) -> None:
    """Delete the change set, and the empty stack a CREATE change set leaves in REVIEW_IN_PROGRESS."""
    cfn.delete_change_set(ChangeSetName=change_set_id)
    if change_type == "CREATE" and stack_status(cfn, stack_name) == "REVIEW_IN_PROGRESS":
        cfn.delete_stack(StackName=stack_name)


def _latest_event_id(cfn: Any, stack: str) -> str | None:
    """The newest event's id: the mark after which an operation's events begin."""
    events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
    return str(events[0]["EventId"]) if events else None


def _events_after(cfn: Any, stack: str, mark: str | None) -> list[dict[str, Any]]:
    """The stack's events newer than `mark`, oldest first (no clock comparison, so no skew)."""
    events: list[dict[str, Any]] = []
    token = None
    while True:
        kwargs: dict[str, Any] = {"StackName": stack}
        if token:
            kwargs["NextToken"] = token
        page = cfn.describe_stack_events(**kwargs)
        for event in page["StackEvents"]:
            if event["EventId"] == mark:
                return list(reversed(events))
            events.append(event)
        token = page.get("NextToken")
        if not token:
            return list(reversed(events))


def follow(cfn: Any, stack_name: str, stack_id: str, mark: str | None, out: TextIO, waiting: Waiting,
           total: int = 0) -> str:
    """Print the stack's new events until it is no longer in progress; return its final status."""
    seen: set[str] = set()
    done = 0
    deadline = waiting.clock() + waiting.timeout
    while True:
        for event in _events_after(cfn, stack_id, mark):
            if event["EventId"] in seen:
                continue
            seen.add(event["EventId"])
            status = str(event["ResourceStatus"])
            if event["LogicalResourceId"] != stack_name and status.endswith("_COMPLETE"):
                done += 1
            progress = f"[{done}/{total}] " if total else ""
            reason = f": {event['ResourceStatusReason']}" if event.get("ResourceStatusReason") else ""
            stamp = event["Timestamp"].strftime("%H:%M:%S")
            print(f"  {stamp} {progress}{event['LogicalResourceId']} {status}{reason}", file=out)
        status = str(cfn.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"])
        if not status.endswith("_IN_PROGRESS"):
            return status
        if waiting.clock() > deadline:
            raise StackError(f"stack {stack_name} still {status} after {waiting.timeout:.0f} s")
        waiting.sleep(waiting.interval)


def failure_message(stack_name: str, status: str, events: Iterable[Mapping[str, Any]]) -> str:
    """`stack X ended STATUS: Resource (Type) FAILED-STATUS: reason` for the first real failure."""
    for event in events:
        reason = str(event.get("ResourceStatusReason") or "")
        if (str(event.get("ResourceStatus", "")).endswith("_FAILED") and event.get("LogicalResourceId") != stack_name
                and not any(reason.startswith(c) for c in CANCELLED)):
            return (f"stack {stack_name} ended {status}: {event['LogicalResourceId']} ({event.get('ResourceType')}) "
                    f"{event['ResourceStatus']}: {reason}")
    return f"stack {stack_name} ended {status} (no resource reported a failure; see the stack's events)"


def stack_outputs(cfn: Any, stack_name: str) -> dict[str, str]:
    stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs") or []}


def retained_resources(cfn: Any, stack_name: str) -> list[tuple[str, str, str]]:
    """(logical id, type, physical id) of every resource the deployed template keeps on deletion."""
    body = cfn.get_template(StackName=stack_name, TemplateStage="Original")["TemplateBody"]
    template = body if isinstance(body, dict) else json.loads(body)
    physical = {r["LogicalResourceId"]: r.get("PhysicalResourceId", "")
                for r in _stack_resources(cfn, stack_name)}
    return [(logical, str(spec["Type"]), physical[logical])
            for logical, spec in template.get("Resources", {}).items()
            if spec.get("DeletionPolicy") == "Retain" and logical in physical]


def _stack_resources(cfn: Any, stack_name: str) -> list[dict[str, Any]]:
    return [r for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack_name)
            for r in page["StackResourceSummaries"]]


def destroy_stack(cfn: Any, stack_name: str, *, dry_run: bool = False, out: TextIO,
                  waiting: Waiting | None = None, retained_note: Callable[[str, str, str], str] | None = None) -> Outcome:
    """Delete `stack_name`, saying first which resources stay (DeletionPolicy Retain) and why."""
    waiting = waiting or Waiting()
    status = stack_status(cfn, stack_name)
    if status is None:
        print(f"No stack {stack_name}: nothing to destroy.", file=out)
        return Outcome("absent")
    if status.endswith("_IN_PROGRESS") and status not in CREATABLE:
        raise StackError(f"stack {stack_name} is busy ({status}); wait for it to finish")
    retained = retained_resources(cfn, stack_name)
    for logical, kind, physical in retained:
        note = retained_note(logical, kind, physical) if retained_note else ""
        print(f"Retained by design: {logical} ({kind}) {physical}{': ' + note if note else ''}", file=out)
    kept = {logical for logical, _, _ in retained}
    removed = [Change("Remove", r["LogicalResourceId"], r["ResourceType"])
               for r in _stack_resources(cfn, stack_name) if r.get("LogicalResourceId") not in kept | {"", None}]
    print(f"{len(removed)} resource(s) to delete:", file=out)
    for change in removed:
        print(change.line(), file=out)
    if dry_run:
        print("Dry run: nothing was deleted.", file=out)
        return Outcome("dry-run", removed)
    stack_id = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]["StackId"]
    mark = _latest_event_id(cfn, stack_id)
    cfn.delete_stack(StackName=stack_id)
    print(f"Deleting: {stack_name}", file=out)
    final = follow(cfn, stack_name, stack_id, mark, out, waiting, total=len(removed))
    if final != "DELETE_COMPLETE":
        raise StackError(failure_message(stack_name, final, _events_after(cfn, stack_id, mark)))
    print(f"{stack_name}: DELETE_COMPLETE", file=out)
    return Outcome("deleted", removed)
