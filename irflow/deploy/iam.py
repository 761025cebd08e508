"""Least-privilege IAM from the actions tasks declare, and the checks every generated policy passes.

Which resources an action can be limited to comes from the AWS Service Authorization Reference
as cfn-lint ships it (`cfnlint/data/AdditionalSpecs/Policies.json`: per service, each action's
resource types and each type's ARN formats). An action with resource types gets those ARNs; an
action AWS cannot limit (most Describe*/List* calls) gets `"*"`, and only those do.

The same reference drives `policy_problems`, the check the tests and `irflow deploy` run on every
role of a template, and `allows`, a small evaluator of Allow/Deny statements that proves the
member role cannot reach the evidence bucket or change itself.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

Json = Any

# Verbs that read; a wildcard action is tolerated only when it starts with one of these.
READ_ONLY_PREFIXES = ("Describe", "Get", "List", "BatchGet", "Search")
# Resource types whose ARN may carry no account (AWS-owned SSM documents and AMIs): any account.
AWS_OWNED_TYPES = frozenset({("ssm", "document"), ("ec2", "image")})


class IamError(Exception):
    """An action the IAM reference does not know, or one irflow must never grant."""


@dataclass(frozen=True)
class Action:
    """One IAM action, as `service:Name`."""

    service: str
    name: str

    @classmethod
    def parse(cls, text: str) -> Action:
        service, sep, name = text.partition(":")
        if not sep or not service or not name:
            raise IamError(f"not an IAM action: {text!r}")
        return cls(service.lower(), name)

    def __str__(self) -> str:
        return f"{self.service}:{self.name}"


@cache
def _reference() -> dict[str, Json]:
    path = resources.files("cfnlint.data.AdditionalSpecs").joinpath("Policies.json")
    data: dict[str, Json] = json.loads(path.read_text(encoding="utf-8"))
    return data


def resource_types(action: Action) -> list[tuple[str, list[str]]]:
    """[(resource type, ARN formats)] the action can be limited to; [] when AWS allows only "*"."""
    service = _reference().get(action.service)
    if service is None:
        raise IamError(f"unknown IAM service in {action}")
    spec = service["Actions"].get(action.name.lower())
    if spec is None:
        raise IamError(f"unknown IAM action {action}")
    found = []
    for kind in spec.get("Resources", []):
        formats = _arn_formats(action.service, kind)
        if formats:
            found.append((kind, formats))
    return found


def _arn_formats(service: str, kind: str) -> list[str]:
    reference = _reference()
    own = {k.lower(): v for k, v in reference[service].get("Resources", {}).items()}
    spec = own.get(kind.lower())
    if spec is None:  # a type another service defines (ssm:SendCommand's output `bucket`, an s3 type)
        spec = next((v for other in reference.values()
                     for k, v in other.get("Resources", {}).items() if k.lower() == kind.lower()), None)
    return list(spec.get("ARNFormats", [])) if spec else []


def arn_pattern(service: str, kind: str, arn_format: str) -> str:
    """An ARN format as a policy resource: the type in any region of this account (`${AWS::AccountId}`)."""
    account = "*" if (service, kind) in AWS_OWNED_TYPES else "${AWS::AccountId}"
    text = arn_format.replace("${Partition}", "${AWS::Partition}").replace("${Account}", account)
    text = re.sub(r"\$\{(?!AWS::)[A-Za-z]+\}", "*", text).replace(".*", "*")
    return text


def limited_resources(action: Action) -> list[str]:
    """The ARN patterns `action` can be limited to in this account, or ["*"] when AWS allows nothing narrower."""
    return sorted({arn_pattern(action.service, kind, fmt)
                   for kind, formats in resource_types(action) for fmt in formats}) or ["*"]


def account_statements(actions: Iterable[str]) -> list[dict[str, Json]]:
    """Allow statements granting each action on its resource types in this account, grouped by resources."""
    by_resources: dict[tuple[str, ...], set[str]] = {}
    for text in sorted(set(actions)):
        action = Action.parse(text)
        by_resources.setdefault(tuple(limited_resources(action)), set()).add(str(action))
    statements = []
    for arns, grouped in sorted(by_resources.items(), key=lambda item: (item[0] != ("*",), sorted(item[1]))):
        statements.append({
            "Effect": "Allow",
            "Action": sorted(grouped),
            "Resource": arns[0] if arns == ("*",) else list(arns),
        })
    return with_sids(statements)


def with_sids(statements: Iterable[Mapping[str, Json]]) -> list[dict[str, Json]]:
    """The statements, each without a Sid given one from its services, unique within the policy."""
    named: list[dict[str, Json]] = []
    used: set[str] = set()
    for statement in statements:
        sid = statement.get("Sid")
        if not sid:
            services = sorted({str(a).split(":")[0] for a in _as_list(statement["Action"])})
            stem = "".join(s.title().replace("-", "") for s in services)[:50] + "Actions"
            sid, n = stem, 1
            while sid in used:
                n += 1
                sid = f"{stem}{n}"
        used.add(str(sid))
        named.append({"Sid": sid, **{k: v for k, v in statement.items() if k != "Sid"}})
    return named


# --- checks ---------------------------------------------------------------------------------------

def _as_list(value: Json) -> list[Json]:
    return value if isinstance(value, list) else [value]


def _role_policies(resource: Mapping[str, Json]) -> Iterator[tuple[str, Json]]:
    properties = resource.get("Properties", {})
    for policy in properties.get("Policies", []) or []:
        yield str(policy.get("PolicyName")), policy.get("PolicyDocument", {})


def identity_policies(template: Mapping[str, Json]) -> Iterator[tuple[str, str, Json]]:
    """(resource logical id, policy name, document) for every inline role policy and managed policy."""
    for logical, resource in template.get("Resources", {}).items():
        if resource.get("Type") == "AWS::IAM::Role":
            for name, document in _role_policies(resource):
                yield logical, name, document
        elif resource.get("Type") in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            props = resource.get("Properties", {})
            yield logical, str(props.get("PolicyName", logical)), props.get("PolicyDocument", {})


def policy_problems(template: Mapping[str, Json]) -> list[str]:
    """What breaks least privilege in the template's identity policies ([] when nothing does).

    - an Allow with a wildcard action that is not a read-only verb (`*`, `ec2:*`, `s3:Put*`);
    - an Allow with `Resource: "*"` for an action AWS lets a policy limit to narrower ARNs.
    """
    problems = []
    for logical, name, document in identity_policies(template):
        for statement in _as_list(document.get("Statement", [])):
            if statement.get("Effect") != "Allow":
                continue
            where = f"{logical}/{name}/{statement.get('Sid', '?')}"
            actions = [str(a) for a in _as_list(statement.get("Action", []))]
            for text in actions:
                if "*" in text:
                    verb = text.partition(":")[2]
                    if text == "*" or not verb.startswith(READ_ONLY_PREFIXES):
                        problems.append(f"{where}: wildcard action {text} on a service that changes things")
            if "*" in _as_list(statement.get("Resource", [])):
                for text in actions:
                    if "*" in text:
                        continue
                    try:
                        narrower = resource_types(Action.parse(text))
                    except IamError as error:
                        problems.append(f"{where}: {error}")
                        continue
                    if narrower:
                        kinds = ", ".join(kind for kind, _ in narrower)
                        problems.append(f"{where}: {text} on Resource \"*\" although it can be limited to {kinds}")
    return problems


def _matches(pattern: str, value: str) -> bool:
    return fnmatch.fnmatchcase(value.lower(), pattern.lower())


def _statement_matches(statement: Mapping[str, Json], action: str, resource: str) -> bool:
    actions = _as_list(statement.get("Action", []))
    if "NotAction" in statement:
        if any(_matches(str(a), action) for a in _as_list(statement["NotAction"])):
            return False
    elif not any(_matches(str(a), action) for a in actions):
        return False
    if "NotResource" in statement:
        return not any(_matches(str(r), resource) for r in _as_list(statement["NotResource"]))
    return any(_matches(str(r), resource) for r in _as_list(statement.get("Resource", [])))


def allows(statements: Sequence[Mapping[str, Json]], action: str, resource: str) -> bool:
    """Whether these identity-policy statements let `action` on `resource` through.

    Explicit Deny wins, then any Allow; conditions are taken as met, so an Allow counts even when
    its condition might not hold (the safe side for a check that something is impossible).
    Resources must be concrete (pseudo parameters already substituted).
    """
    if any(s.get("Effect") == "Deny" and _statement_matches(s, action, resource) for s in statements):
        return False
    return any(s.get("Effect") == "Allow" and _statement_matches(s, action, resource) for s in statements)


def service_actions(service: str) -> list[str]:
    """Every action of a service in the reference, as `service:Name` (names lower-cased)."""
    return [f"{service}:{name}" for name in sorted(_reference()[service]["Actions"])]
