"""Who may decide an approval, and the decision itself: approver lists, the two-person rule, who/when/where.

Every way of deciding ends in `decide_as`: the approval page (`tasks/approval_api.py`), the local
server's terminal endpoint, and `irflow approve/reject` against a deployment. The person is
whoever the layer in front authenticated (an API Gateway authoriser, the local server's
sign-in, the caller's AWS credentials); `decide_as` checks they are an approver of the
approval's playbook, applies the two-person rule, and takes the decision once through
`approvals.decide`, recording where it came from (channel, source IP, user agent).

The approvers live in the SSM parameter `IRFLOW_APPROVERS_PARAMETER` names (`/irflow/approvers`),
read on every decision so a removed approver loses the right at once. It is a JSON object keyed
by playbook name (`"*"` applies to playbooks not listed); each value is a list of identities or
an object:

    {"ec2-compromise": {"approvers": {"alice": ["alice@example.com",
                                                "arn:aws:sts::111111111111:assumed-role/Responder/alice"],
                                      "bob": ["bob@example.com"]},
                        "two_person": ["remediate-instance"]},
     "*": ["oncall@example.com"]}

An identity is an e-mail or user name (compared without case) or an IAM/STS ARN (exact). In
the object form `approvers` may map a person to all their identities, so the two-person rule
counts people, not sign-ins: Alice approving once in the browser and once from the terminal is
still one person. Actions named in `two_person` need two different people to approve before
the execution resumes; one rejection is enough to stop it. A playbook with no entry has no
approvers: nobody can decide (fail closed), and the refusal says how to fix the parameter.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import approvals, clock, incidents
from .aws import client, error_code
from .config import settings
from .errors import ApprovalAlreadyDecided, ApprovalExpired, ApprovalNotFound, IrflowError

ANY_PLAYBOOK = "*"
STATE_MACHINE_PREFIX = "irflow-"


class NotAnApprover(IrflowError):
    """The person is not listed as an approver for the approval's playbook."""


class SameApprover(IrflowError):
    """Under the two-person rule, the second approval came from the person who gave the first."""


class ApproversMisconfigured(IrflowError):
    """The approvers parameter is missing or not in the documented shape; nobody can decide until it is fixed."""


@dataclass(frozen=True)
class Person:
    """Someone deciding, as the layer in front of irflow authenticated them."""

    id: str  # e-mail, user name or ARN
    via: str  # cognito | iam | authorizer | local-session | local-cli | aws-cli
    source_ip: str | None = None
    user_agent: str | None = None

    def where(self) -> dict[str, str]:
        """Where the decision came from, as the incident records it."""
        found = {"via": self.via, "source_ip": self.source_ip, "user_agent": self.user_agent}
        return {k: v for k, v in found.items() if v}


@dataclass(frozen=True)
class Rule:
    """A playbook's approvers (identity -> person) and the actions that need two people."""

    people: dict[str, str] = field(default_factory=dict)
    two_person: frozenset[str] = frozenset()

    def person_of(self, identity: str) -> str | None:
        return self.people.get(canonical(identity))

    def needs_two(self, action: str) -> bool:
        return action in self.two_person


@dataclass(frozen=True)
class Outcome:
    """What a decision did: `approved`, `rejected`, or `awaiting-second` (two-person rule, first of two)."""

    status: str
    approval: dict[str, Any]
    approvers: tuple[str, ...] = ()


def canonical(identity: str) -> str:
    """ARNs exactly; e-mails and user names without case or surrounding blanks."""
    text = identity.strip()
    return text if text.startswith("arn:") else text.lower()


def parse_rules(text: str) -> dict[str, Rule]:
    """The approvers parameter's JSON, checked; `ApproversMisconfigured` naming what is wrong."""
    try:
        data = json.loads(text)
    except ValueError as error:
        raise ApproversMisconfigured(f"the approvers parameter is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise ApproversMisconfigured("the approvers parameter must be a JSON object keyed by playbook")
    return {str(name): _rule(str(name), value) for name, value in data.items()}


def _rule(playbook: str, value: Any) -> Rule:
    if isinstance(value, list):
        value = {"approvers": value}
    if not isinstance(value, dict) or set(value) - {"approvers", "two_person"}:
        raise ApproversMisconfigured(f"approvers for {playbook!r}: expected a list of identities or "
                                     "{\"approvers\": ..., \"two_person\": [actions]}")
    listed = value.get("approvers") or []
    people: dict[str, str] = {}
    groups = listed.items() if isinstance(listed, dict) else ((i, [i]) for i in listed) if isinstance(listed, list) \
        else None
    if groups is None:
        raise ApproversMisconfigured(f"approvers for {playbook!r} must be a list or a person -> identities object")
    for person, identities in groups:
        names = [identities] if isinstance(identities, str) else identities
        if not isinstance(person, str) or not isinstance(names, list) or \
                not all(isinstance(n, str) and n.strip() for n in names):
            raise ApproversMisconfigured(f"approvers for {playbook!r}: {person!r} must map to identities (strings)")
        for name in names:
            if people.setdefault(canonical(name), canonical(person)) != canonical(person):
                raise ApproversMisconfigured(f"approvers for {playbook!r}: {name!r} belongs to two people")
    two = value.get("two_person") or []
    if not isinstance(two, list) or not all(isinstance(a, str) for a in two):
        raise ApproversMisconfigured(f"two_person for {playbook!r} must be a list of action names")
    return Rule(people, frozenset(two))


def load_rules(ssm: Any = None) -> dict[str, Rule]:
    """Every playbook's rule, read now (never cached: removing an approver takes effect at once)."""
    name = settings().approvers_parameter
    if not name:
        raise ApproversMisconfigured("IRFLOW_APPROVERS_PARAMETER is not set: nobody can decide approvals")
    try:
        text = (ssm or client("ssm")).get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    except Exception as error:
        if error_code(error) == "ParameterNotFound":
            raise ApproversMisconfigured(f"the approvers parameter {name} does not exist") from None
        raise
    return parse_rules(text)


def rule_for(playbook: str | None, rules: dict[str, Rule]) -> Rule:
    """The playbook's rule, else the `*` rule, else nobody."""
    if playbook and playbook in rules:
        return rules[playbook]
    return rules.get(ANY_PLAYBOOK, Rule())


def pending_item(approval_id: str, ddb: Any) -> dict[str, Any]:
    """The stored approval (task token included: never show it); `irflow.ApprovalNotFound` if none."""
    found = ddb.get_item(TableName=incidents._table(),
                         Key=incidents.key(incidents.APPROVAL_PREFIX + approval_id, incidents.META),
                         ConsistentRead=True).get("Item")
    if not found:
        raise ApprovalNotFound(f"no approval {approval_id}")
    return incidents.from_ddb(found)


def playbook_of(item: dict[str, Any], ddb: Any) -> str | None:
    """The playbook waiting on an approval: recorded on it, else the one whose execution opened the incident."""
    if item.get("playbook"):
        return str(item["playbook"])
    meta = incidents.get_meta(item["incident_id"], ddb) or {}
    arn = str(meta.get("opened_by") or "")
    parts = arn.split(":")  # arn:aws:states:region:account:execution:irflow-<playbook>:<name>
    if len(parts) >= 8 and parts[5] == "execution" and parts[6].startswith(STATE_MACHINE_PREFIX):
        return parts[6][len(STATE_MACHINE_PREFIX):]
    return None


def check(item: dict[str, Any], person: Person, rule: Rule, playbook: str | None) -> str:
    """The person's name under `rule` if they may decide this pending approval now; raises otherwise."""
    if item.get("status") != approvals.PENDING:
        raise ApprovalAlreadyDecided(f"approval {item['approval_id']} is already {item.get('status')}"
                                     + (f" (by {item['decided_by']} at {item.get('decided_at')})"
                                        if item.get("decided_by") else ""))
    if clock.now() >= _time(item["expires_at"]):
        raise ApprovalExpired(f"approval {item['approval_id']} expired at {item['expires_at']}")
    name = rule.person_of(person.id)
    if name is None:
        where = f"playbook {playbook}" if playbook else "this approval's playbook"
        raise NotAnApprover(f"{person.id} is not an approver for {where} (the approvers parameter "
                            f"{settings().approvers_parameter or '(unset)'} lists who is)")
    return name


def decide_as(approval_id: str, decision: str, person: Person, sfn: Any, reason: str | None = None,
              ddb: Any = None, ssm: Any = None) -> Outcome:
    """Decide for `person` if they may; under the two-person rule the first approval waits for a second.

    Raises `NotAnApprover`, `SameApprover`, `ApproversMisconfigured`, or what `approvals.decide`
    raises (`ApprovalNotFound`, `ApprovalAlreadyDecided`, `ApprovalExpired`); each refusal
    changes nothing.
    """
    if decision not in ("approve", "reject"):
        raise ValueError("decision must be 'approve' or 'reject'")
    ddb = ddb or client("dynamodb")
    item = pending_item(approval_id, ddb)
    playbook = playbook_of(item, ddb)
    rule = rule_for(playbook, load_rules(ssm))
    name = check(item, person, rule, playbook)
    context: dict[str, Any] = {"decided_from": person.where()}
    if decision == "approve" and rule.needs_two(item["action"]):
        first = item.get("first_approval")
        if not first or rule.person_of(str(first.get("by"))) is None:
            # none yet, or given by someone who is no longer an approver: this one is the first
            return _first_of_two(item, person, name, reason, ddb, replaces=first)
        if first.get("person") == name:
            raise SameApprover(f"{item['action']} of {item['target']} needs two different approvers; {name} already "
                               f"approved at {first.get('at')} (as {first.get('by')})")
        context["approvers"] = [first.get("by"), person.id]
    decided = approvals.decide(approval_id, decision, person.id, sfn, reason=reason, ddb=ddb, context=context)
    return Outcome(decided["status"], decided, tuple(context.get("approvers") or [person.id]))


def _first_of_two(item: dict[str, Any], person: Person, name: str, reason: str | None, ddb: Any,
                  replaces: dict[str, Any] | None) -> Outcome:
    """Record the first of two approvals (once, conditionally); the execution keeps waiting."""
    approval_id = item["approval_id"]
    first = {"by": person.id, "person": name, "at": clock.iso(), "reason": reason, "where": person.where()}
    values: dict[str, Any] = {":first": incidents.to_ddb(first), ":pending": {"S": approvals.PENDING}}
    if replaces:
        values[":old"] = incidents.to_ddb(replaces)
    try:
        ddb.update_item(
            TableName=incidents._table(),
            Key=incidents.key(incidents.APPROVAL_PREFIX + approval_id, incidents.META),
            UpdateExpression="SET first_approval = :first",
            ConditionExpression="#status = :pending AND " + (
                "first_approval = :old" if replaces else "attribute_not_exists(first_approval)"),
            ExpressionAttributeNames={"#status": "status"}, ExpressionAttributeValues=values)
    except Exception as error:
        if error_code(error) != "ConditionalCheckFailedException":
            raise
        now = pending_item(approval_id, ddb)
        if now.get("status") != approvals.PENDING:
            raise ApprovalAlreadyDecided(f"approval {approval_id} was decided just now") from None
        other = now.get("first_approval") or {}
        if other.get("person") == name:
            raise SameApprover(f"{name} already gave the first of the two approvals") from None
        raise ApprovalAlreadyDecided(f"{other.get('by')} gave the first approval just now: try again to give "
                                     "the second") from None
    incident_id = item["incident_id"]
    ddb.update_item(TableName=incidents._table(),
                    Key=incidents.key(incidents.incident_pk(incident_id), incidents.APPROVAL_REF + approval_id),
                    UpdateExpression="SET first_approval = :first",
                    ExpressionAttributeValues={":first": incidents.to_ddb(first)})
    incidents.add_timeline(incident_id, "approval",
                           f"{person.id} approved {item['action']} of {item['target']} (1 of 2: a second, different "
                           "approver is needed)", ddb=ddb)
    view = {**approvals.public(item), "first_approval": {k: v for k, v in first.items() if k != "person"}}
    return Outcome("awaiting-second", view, (person.id,))


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
