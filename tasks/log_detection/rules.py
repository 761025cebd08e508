"""Detection rules as data: one YAML file per rule under `rules/`, matched against decoded log records.

A rule names the log source it reads, the conditions a record must meet, how bad a match is,
which playbook answers it, what the incident is about and, optionally, a threshold (so many
matching records from one source within a window) and an embedded metric to count matches.
Authors add rules without code; `load_rules` refuses a rule it cannot apply with the file and
the problem, so a mistake fails the tests instead of silently never matching.

The condition language (`match:`), documented in CONTRIBUTING.md:

- a mapping of dotted paths into the record to tests, every one of which must hold; `any_of`,
  `all_of` and `none_of` take lists of such mappings;
- a test is a value (equal), a list of values (equal to one of them) or a mapping of operators,
  all of which must hold: `equals`, `in`, `not`, `not_in`, `prefix`, `suffix`, `contains`,
  `matches` (a regular expression), `exists` (true/false), `lt`, `le`, `gt`, `ge`, `cidr` and
  `not_cidr` (an address inside / outside the networks given), `listed` / `not_listed` (an
  address inside / outside the networks of a list file under `rules/lists/`), and `any` / `all`
  (the value is a list; some / every element meets the nested mapping, whose paths are relative
  to the element).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RULES_DIR = Path(__file__).resolve().parent / "rules"
SOURCES = ("cloudtrail", "vpc-flow-logs")
RULE_ID = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_.]+)\}")
RULE_KEYS = {"id", "description", "source", "severity", "match", "playbook", "title", "resource", "threshold",
             "metric"}
GROUPS = {"any_of", "all_of", "none_of"}
MISSING = object()

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class RuleError(ValueError):
    """A rule file that cannot be applied; the message names the file and the problem."""


@dataclass(frozen=True)
class Threshold:
    """At least `count` matching records with the same `group_by` values within `within_seconds`."""

    group_by: tuple[str, ...]
    count: int
    within_seconds: int


@dataclass(frozen=True)
class Metric:
    """An embedded-metric count of the matching records, per the values of `dimensions` (name -> path)."""

    name: str
    namespace: str
    dimensions: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Rule:
    id: str
    description: str
    source: str
    severity: float
    match: Mapping[str, Any]
    playbook: str | None  # None: a metric-only rule, no detection event
    title: str
    resource_type: str
    resource_id: str  # a template: "{path}" parts are filled from the record
    threshold: Threshold | None = None
    metric: Metric | None = None
    path: str = ""
    test: Callable[[Any], bool] = field(default=lambda _: False, compare=False, repr=False)

    def matches(self, record: Any) -> bool:
        return self.test(record)


def lookup(record: Any, path: str) -> Any:
    """The value at a dotted path (`a.b.0.c`), or MISSING."""
    value = record
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return MISSING
    return value


def fill(template: str, record: Any) -> str:
    """`{path}` parts of a template replaced by the record's values (`?` where it has none)."""
    def value(match: re.Match[str]) -> str:
        found = lookup(record, match.group(1))
        return "?" if found is MISSING or found is None else str(found)

    return PLACEHOLDER.sub(value, template)


# --- compiling a condition set into a predicate ----------------------------------------------------


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _same(a: Any, b: Any) -> bool:
    """Equal, with a number and its text the same (CloudTrail and YAML disagree on what is a number)."""
    if a is MISSING or b is MISSING:
        return False
    return bool(a == b) or (not isinstance(a, Mapping | list) and not isinstance(b, Mapping | list)
                            and _text(a) == _text(b))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is MISSING:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _address(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(str(value)) if isinstance(value, str) else None
    except ValueError:
        return None


def _networks(values: Any, where: str) -> tuple[Network, ...]:
    items = values if isinstance(values, list) else [values]
    try:
        return tuple(ipaddress.ip_network(str(v), strict=False) for v in items)
    except ValueError as error:
        raise RuleError(f"{where}: {error}") from None


def _inside(value: Any, networks: tuple[Network, ...]) -> bool:
    address = _address(value)
    return address is not None and any(address.version == n.version and address in n for n in networks)


def load_list(name: str, lists_dir: Path) -> tuple[Network, ...]:
    """A list file (`rules/lists/<name>.txt`): one address or network a line, `#` comments."""
    path = lists_dir / f"{name}.txt"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        raise RuleError(f"list {name!r}: no file {path.name} in {lists_dir}") from None
    entries = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    return _networks([e for e in entries if e], f"list {name}")


Predicate = Callable[[Any], bool]


def compile_conditions(conditions: Any, where: str, lists: Callable[[str], tuple[Network, ...]]) -> Predicate:
    """A predicate for a condition set (a mapping of paths to tests, with any_of/all_of/none_of)."""
    if not isinstance(conditions, Mapping) or not conditions:
        raise RuleError(f"{where}: expected a mapping of paths to tests")
    checks: list[Predicate] = []
    for key, test in conditions.items():
        if key in GROUPS:
            if not isinstance(test, list) or not test:
                raise RuleError(f"{where}.{key}: expected a list of condition mappings")
            parts = [compile_conditions(c, f"{where}.{key}[{i}]", lists) for i, c in enumerate(test)]
            checks.append(_group(key, parts))
        else:
            checks.append(_at(str(key), compile_test(test, f"{where}.{key}", lists)))
    return lambda record: all(check(record) for check in checks)


def _group(kind: str, parts: list[Predicate]) -> Predicate:
    if kind == "any_of":
        return lambda record: any(p(record) for p in parts)
    if kind == "all_of":
        return lambda record: all(p(record) for p in parts)
    return lambda record: not any(p(record) for p in parts)


def _at(path: str, test: Predicate) -> Predicate:
    return lambda record: test(lookup(record, path))


def compile_test(test: Any, where: str, lists: Callable[[str], tuple[Network, ...]]) -> Predicate:
    """A predicate on one value: a value, a list of values, or a mapping of operators."""
    if isinstance(test, list):
        options = list(test)
        return lambda value: any(_same(value, option) for option in options)
    if not isinstance(test, Mapping):
        return lambda value: _same(value, test)
    if not test:
        raise RuleError(f"{where}: an empty operator mapping tests nothing")
    checks = [_operator(str(op), arg, f"{where}.{op}", lists) for op, arg in test.items()]
    return lambda value: all(check(value) for check in checks)


def _operator(op: str, arg: Any, where: str, lists: Callable[[str], tuple[Network, ...]]) -> Predicate:
    if op == "equals":
        return lambda v: _same(v, arg)
    if op in ("in", "not_in"):
        if not isinstance(arg, list):
            raise RuleError(f"{where}: expected a list")
        inside = compile_test(list(arg), where, lists)
        return inside if op == "in" else (lambda v: v is not MISSING and not inside(v))
    if op == "not":
        same = compile_test(arg, where, lists)
        return lambda v: v is not MISSING and not same(v)
    if op in ("prefix", "suffix", "contains"):
        text = _text(arg)
        if op == "prefix":
            return lambda v: isinstance(v, str) and v.startswith(text)
        if op == "suffix":
            return lambda v: isinstance(v, str) and v.endswith(text)
        return lambda v: (isinstance(v, str) and text in v) or (isinstance(v, list) and any(_same(i, arg) for i in v))
    if op == "matches":
        try:
            pattern = re.compile(str(arg))
        except re.error as error:
            raise RuleError(f"{where}: not a regular expression: {error}") from None
        return lambda v: isinstance(v, str | int | float) and pattern.search(_text(v)) is not None
    if op == "exists":
        if not isinstance(arg, bool):
            raise RuleError(f"{where}: expected true or false")
        return lambda v: (v is not MISSING and v is not None) == arg
    if op in ("lt", "le", "gt", "ge"):
        bound = _number(arg)
        if bound is None:
            raise RuleError(f"{where}: expected a number")
        compare = {"lt": float.__lt__, "le": float.__le__, "gt": float.__gt__, "ge": float.__ge__}[op]
        return lambda v: (n := _number(v)) is not None and compare(n, bound)
    if op in ("cidr", "not_cidr"):
        networks = _networks(arg, where)
        if op == "cidr":
            return lambda v: _inside(v, networks)
        return lambda v: _address(v) is not None and not _inside(v, networks)
    if op in ("listed", "not_listed"):
        listed = lists(str(arg))
        if op == "listed":
            return lambda v: _inside(v, listed)
        return lambda v: _address(v) is not None and not _inside(v, listed)
    if op in ("any", "all"):
        inner = compile_conditions(arg, where, lists)
        if op == "any":
            return lambda v: isinstance(v, list) and any(inner(item) for item in v)
        return lambda v: isinstance(v, list) and bool(v) and all(inner(item) for item in v)
    raise RuleError(f"{where}: unknown operator {op!r}")


# --- reading rule files ---------------------------------------------------------------------------


def parse_rule(data: Any, path: str, lists: Callable[[str], tuple[Network, ...]]) -> Rule:
    """A Rule from one file's YAML; RuleError naming the file and the problem otherwise."""
    if not isinstance(data, Mapping):
        raise RuleError(f"{path}: expected a mapping")
    unknown = set(data) - RULE_KEYS
    if unknown:
        raise RuleError(f"{path}: unknown key {sorted(unknown)[0]!r} (allowed: {', '.join(sorted(RULE_KEYS))})")
    for key in ("id", "description", "source", "severity", "match"):
        if key not in data:
            raise RuleError(f"{path}: missing {key!r}")
    rule_id = str(data["id"])
    if not RULE_ID.match(rule_id):
        raise RuleError(f"{path}: id {rule_id!r} must be kebab-case")
    if data["source"] not in SOURCES:
        raise RuleError(f"{path}: source must be one of {', '.join(SOURCES)}, not {data['source']!r}")
    severity = _number(data["severity"])
    if severity is None or not 0 <= severity <= 10:
        raise RuleError(f"{path}: severity must be a number from 0 to 10")
    test = compile_conditions(data["match"], f"{path}: match", lists)
    playbook = data.get("playbook")
    if playbook is not None and not (isinstance(playbook, str) and RULE_ID.match(playbook)):
        raise RuleError(f"{path}: playbook must be a playbook name")
    metric = _metric(data.get("metric"), path)
    if playbook is None and metric is None:
        raise RuleError(f"{path}: a rule starts a playbook, counts a metric, or both")
    resource = data.get("resource") or {}
    if not isinstance(resource, Mapping) or set(resource) - {"type", "id"}:
        raise RuleError(f"{path}: resource must be a mapping with type and id")
    return Rule(
        id=rule_id, description=str(data["description"]).strip(), source=str(data["source"]), severity=severity,
        match=data["match"], playbook=playbook, title=str(data.get("title") or data["description"]).strip(),
        resource_type=str(resource.get("type", "aws-account")), resource_id=str(resource.get("id", "{account}")),
        threshold=_threshold(data.get("threshold"), path), metric=metric, path=path, test=test)


def _threshold(value: Any, path: str) -> Threshold | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) - {"group_by", "count", "within_seconds"}:
        raise RuleError(f"{path}: threshold takes group_by, count and within_seconds")
    group_by = value.get("group_by") or []
    group = (group_by,) if isinstance(group_by, str) else tuple(str(g) for g in group_by)
    count, within = value.get("count"), value.get("within_seconds", 300)
    if not isinstance(count, int) or count < 2 or not isinstance(within, int) or within < 1:
        raise RuleError(f"{path}: threshold count must be an integer of at least 2 and within_seconds positive")
    return Threshold(group, count, within)


def _metric(value: Any, path: str) -> Metric | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or "name" not in value or set(value) - {"name", "namespace", "dimensions"}:
        raise RuleError(f"{path}: metric takes name, namespace and dimensions (name -> path)")
    dimensions = value.get("dimensions") or {}
    if not isinstance(dimensions, Mapping) or len(dimensions) > 30:
        raise RuleError(f"{path}: metric dimensions map dimension names to record paths")
    return Metric(str(value["name"]), str(value.get("namespace", "irflow/detections")),
                  tuple((str(k), str(v)) for k, v in dimensions.items()))


def load_rules(directory: Path = RULES_DIR) -> tuple[Rule, ...]:
    """Every `*.yaml` rule in `directory` (lists from `directory/lists`), in file-name order."""
    import yaml

    cache: dict[str, tuple[Network, ...]] = {}

    def lists(name: str) -> tuple[Network, ...]:
        if name not in cache:
            cache[name] = load_list(name, directory / "lists")
        return cache[name]

    rules: list[Rule] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as error:
            raise RuleError(f"{path.name}: not valid YAML: {str(error).splitlines()[0]}") from None
        rules.append(parse_rule(data, path.name, lists))
    seen: set[str] = set()
    for rule in rules:
        if rule.id in seen:
            raise RuleError(f"{rule.path}: another rule already has the id {rule.id!r}")
        seen.add(rule.id)
    return tuple(rules)


def rules_for(rules: Iterable[Rule], source: str) -> list[Rule]:
    return [r for r in rules if r.source == source]
