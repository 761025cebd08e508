"""LocalStack-style snapshot normalisation of a Step Functions execution history.

The conformance recordings (``../shared/conformance``) went through LocalStack's snapshot
machinery before they were stored. To compare irflow with them, irflow's own history goes through
the same steps (the data README, "Snapshot form and placeholder tokens"). The work happens in two
phases, as in LocalStack: first *structural* steps on the parsed document (snapshot form, sorted
keys, parallel masking, JSONPath/key replacements, fixed values, date and timestamp values), which
also *discover* values to be replaced everywhere; then *text* steps on the serialised JSON (names,
literals, regexes, map-run ARN parts, account, region, partition, the discovered references).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

PARTITION_ACCOUNT = "111111111111"
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# ISO-8601 date-time with a zone, fields in range (a month 13 or hour 25 is not a date here either).
ISO_DATETIME = re.compile(
    r"[1-9]\d{3}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
    r"T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,9})?(?:Z|[+-][01]\d:?(?:[0-5]\d)?)"
)
JSON_INPUT_CAUSE = re.compile(r"'(\{.*\})'\s*$", re.DOTALL)
JSONPATH_STEP = re.compile(r"(\.\.|\.)([^.\[\]]+)")
TIMESTAMP_KEY = re.compile(r"timestamp", re.IGNORECASE)
PARALLEL_REGION_ENDS = frozenset(
    {"ParallelStateSucceeded", "ParallelStateAborted", "ParallelStateExited", "ParallelStateFailed"}
)
# Fixed values of Lambda/SDK response metadata: (JSONPath, token).
FIXED_VALUES = (
    ("$..SdkHttpMetadata..Date", "date"),
    ("$..SdkResponseMetadata..RequestId", "RequestId"),
    ("$..X-Amzn-Trace-Id", "X-Amzn-Trace-Id"),
    ("$..x-amz-crc32", "x-amz-crc32"),
    ("$..x-amzn-RequestId", "x-amzn-RequestId"),
)
MASKED_ID = [0]


@dataclass(frozen=True)
class Names:
    """The concrete values of one run that the recordings show as tokens."""

    state_machine_name: str
    execution_name: str
    role_arn: str
    account_id: str = PARTITION_ACCOUNT
    region: str = "us-east-1"

    def var(self, name: str) -> str:
        """The value a ``{"var": name}`` replacement stands for."""
        values = {
            "stateMachineName": self.state_machine_name,
            "executionName": self.execution_name,
            "roleArn": self.role_arn,
            "roleName": self.role_arn.rsplit("/", 1)[-1],
        }
        if name not in values:
            raise ValueError(f"unknown normalise var {name!r}")
        return values[name]


@dataclass
class _TextPhase:
    """Replacements on the serialised document, run in the order they were registered."""

    steps: list[Callable[[str], str]] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)
    referenced: set[tuple[str, str]] = field(default_factory=set)

    def literal(self, value: str, token: str) -> None:
        if value:
            self.steps.append(lambda text: text.replace(value, token))

    def regex(self, pattern: str, token: str) -> None:
        compiled = re.compile(pattern)
        self.steps.append(lambda text: compiled.sub(lambda _m: token, text))

    def reference(self, value: Any, token: str) -> None:
        """Replace `value` everywhere by ``<token:N>``, N counting distinct values per token."""
        text = value if isinstance(value, str) else json.dumps(value)
        if not text or (token, text) in self.referenced:
            return
        self.referenced.add((token, text))
        self.counters[token] = self.counters.get(token, 0) + 1
        replacement = f"<{token}:{self.counters[token]}>"
        escaped = json.dumps(text)[1:-1]  # as the value appears inside serialised JSON strings
        self.steps.append(lambda s: s.replace(escaped, replacement))

    def apply(self, document: Any) -> Any:
        text = json.dumps(document, default=str)
        for step in self.steps:
            text = step(text)
        return json.loads(text)


# --- structural steps -------------------------------------------------------------------------


def snapshot_form(value: Any) -> Any:
    """A copy where every string *inside an object* that is JSON-object text is parsed.

    As LocalStack does it: one level only (a parsed value is not searched again), and strings that
    are list items stay text; lists are searched for objects, lists inside lists are not.
    """
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(item, str) and item.startswith("{"):
                try:
                    out[key] = json.loads(item)
                    continue
                except json.JSONDecodeError:
                    pass
            if isinstance(item, dict):
                out[key] = snapshot_form(item)
            elif isinstance(item, list):
                out[key] = [snapshot_form(x) if isinstance(x, dict) else copy.deepcopy(x) for x in item]
            else:
                out[key] = copy.deepcopy(item)
        return out
    if isinstance(value, list):
        return [snapshot_form(x) if isinstance(x, dict) else copy.deepcopy(x) for x in value]
    return copy.deepcopy(value)


def sort_keys(value: Any) -> Any:
    """Objects with their keys in sorted order, at every depth."""
    if isinstance(value, dict):
        return {key: sort_keys(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [sort_keys(x) for x in value]
    return value


def _json_key(event: Any) -> str:
    return json.dumps(event, default=str)


def mask_parallel(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Make the events of Parallel branches order-independent, as LocalStack's recordings are.

    After ``ParallelStateStarted`` every event gets ``id == [0]`` and ``previousEventId == 0`` and
    is collected; at each ``ParallelState{Succeeded,Aborted,Exited,Failed}`` the slice from the
    region start up to that event is replaced by the collected events sorted by their JSON text.
    The collection is not emptied at the first end event, so at ``ParallelStateExited`` the
    slice (now including ``ParallelStateSucceeded``) is replaced again and that event drops out;
    the list shrinks while it is walked, so the event after the exit is stepped over, exactly as
    in the recordings. Returns a new list; the events themselves are updated in place.
    """
    out = list(events)
    start = 0
    collected: list[dict[str, Any]] = []
    collecting = False
    i = 0
    while i < len(out):
        event = out[i]
        event_type = event.get("type")
        if event_type is None:
            collecting = False
        elif event_type in PARALLEL_REGION_ENDS:
            out[start:i] = sorted(collected, key=_json_key)
            collecting = False
        elif event_type == "ParallelStateStarted":
            collecting = True
            collected = []
            start = i + 1
        elif collecting:
            event["id"] = list(MASKED_ID)
            event["previousEventId"] = 0
            collected.append(event)
        i += 1
    return out


def parse_output_fields(node: dict[str, Any]) -> None:
    """``normalise.outputFieldsParsed``: in each object, the first child object whose ``output`` is
    JSON text gets it parsed, and that object's remaining children are left alone."""
    for value in node.values():
        if isinstance(value, dict):
            output = value.get("output")
            if isinstance(output, str):
                try:
                    value["output"] = json.loads(output)
                    return
                except json.JSONDecodeError:
                    pass
            parse_output_fields(value)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    parse_output_fields(item)


def _jsonpath_steps(path: str) -> list[tuple[bool, str]]:
    """``$..a.b..c`` -> [(True, "a"), (False, "b"), (True, "c")]: (recursive?, key)."""
    if not path.startswith("$"):
        raise ValueError(f"unsupported JSONPath {path!r}")
    matches = list(JSONPATH_STEP.finditer(path, 1))
    if "".join(m.group(0) for m in matches) != path[1:]:
        raise ValueError(f"unsupported JSONPath {path!r}")
    return [(m.group(1) == "..", m.group(2)) for m in matches]


def _descendant_holders(node: Any) -> Iterator[Any]:
    """`node` and every object/list below it, depth first."""
    yield node
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    for child in children:
        if isinstance(child, dict | list):
            yield from _descendant_holders(child)


def find_paths(document: Any, path: str) -> list[tuple[dict[str, Any], str]]:
    """Locations (holder object, key) that a dotted JSONPath with ``..`` selects."""
    current: list[Any] = [document]
    locations: list[tuple[dict[str, Any], str]] = []
    steps = _jsonpath_steps(path)
    for index, (recursive, key) in enumerate(steps):
        holders = [h for node in current for h in (_descendant_holders(node) if recursive else [node])]
        locations = [(h, key) for h in holders if isinstance(h, dict) and key in h]
        if index < len(steps) - 1:
            current = [h[k] for h, k in locations]
    return locations


def _walk_items(node: Any) -> Iterator[tuple[dict[str, Any], str, Any]]:
    """(holder, key, value) for every object entry, depth first in key order (as LocalStack's
    key/value transformers walk: into objects, and into objects that are list items)."""
    if isinstance(node, dict):
        for key, value in list(node.items()):
            yield node, key, value
            if isinstance(value, dict):
                yield from _walk_items(value)
            elif isinstance(value, list):
                for item in value:
                    if isinstance(item, dict):
                        yield from _walk_items(item)


def _replace_times(node: Any) -> None:
    """Datetime objects -> "datetime", then values of keys like /timestamp/ -> "timestamp" unless
    they read as an ISO date-time (those become "date" in the text phase, like every other one)
    or already are the "date" token (so that normalising a recording changes nothing)."""
    for holder, key, value in _walk_items(node):
        if isinstance(value, datetime | date):
            holder[key] = "datetime"
    for holder, key, _value in _walk_items(node):
        current = holder[key]
        if TIMESTAMP_KEY.search(key) and current != "date" and not ISO_DATETIME.match(str(current)):
            holder[key] = "timestamp"


def mask_fixed_values(document: Any) -> Any:
    """Lambda/SDK response metadata (request ids, dates, trace ids) -> fixed tokens, in place.

    Recordings made before LocalStack masked these show ``<uuid:N>`` there instead; the runner
    applies this to the recorded side too, so both eras compare alike.
    """
    for path, token in FIXED_VALUES:
        for holder, key in find_paths(document, path):
            holder[key] = token
    return document


# --- the whole pipeline -----------------------------------------------------------------------


def normalise_history(
    events: list[dict[str, Any]],
    spec: Mapping[str, Any],
    names: Names,
    output: Any = None,
) -> list[dict[str, Any]]:
    """Normalise a ``get_execution_history`` event list the way the recordings were.

    `spec` is the case's ``normalise`` object; `output` the execution output (parsed), needed only
    by ``fromOutputJsonpath`` replacements.
    """
    document: dict[str, Any] = sort_keys(snapshot_form({"events": events}))
    if spec.get("parallelBranchEventsMasked"):
        document["events"] = mask_parallel(document["events"])
    if spec.get("outputFieldsParsed"):
        parse_output_fields(document)

    text = _TextPhase()
    # The json-input references belong to the Step Functions transformers LocalStack registers
    # first; the test's own replacements come next, then the global ones.
    for _holder, key, value in _walk_items(document):
        if key == "cause" and isinstance(value, str) and (m := JSON_INPUT_CAUSE.search(value)):
            text.reference(m.group(1), "json-input")
    for rule in spec.get("replace", []):
        _register_rule(rule, document, text, names, output)
    if spec.get("mapRunArns"):
        _register_map_runs(document, text)
    mask_fixed_values(document)
    text.literal(names.account_id, PARTITION_ACCOUNT)
    text.literal(names.region, "<region>")
    text.literal("arn:aws:", "arn:<partition>:")
    for _holder, key, value in _walk_items(document):
        if key.lower().endswith("id") and isinstance(value, str) and UUID.match(value):
            text.reference(value, "uuid")
    _replace_times(document)
    text.regex(ISO_DATETIME.pattern, "date")
    result: list[dict[str, Any]] = text.apply(document)["events"]
    return result


def _register_rule(
    rule: Mapping[str, Any], document: dict[str, Any], text: _TextPhase, names: Names, output: Any
) -> None:
    """One ``normalise.replace`` entry: structural now, or queued for the text phase."""
    token = rule["token"]
    if "var" in rule:
        text.literal(names.var(rule["var"]), token)
    elif "literal" in rule:
        text.literal(rule["literal"], token)
    elif "regex" in rule:
        text.regex(rule["regex"], token)
    elif "jsonpath" in rule or "key" in rule:
        if "jsonpath" in rule:
            locations = find_paths(document, rule["jsonpath"])
        else:
            locations = [(h, k) for h, k, _v in _walk_items(document) if k == rule["key"]]
        for holder, key in locations:
            if rule.get("referenceReplacement"):
                text.reference(holder[key], token)
            else:
                holder[key] = token
    elif "fromOutputJsonpath" in rule:
        for holder, key in find_paths(output, rule["fromOutputJsonpath"]):
            value = holder[key]
            text.literal(value if isinstance(value, str) else json.dumps(value), token)
    else:
        raise ValueError(f"unknown normalise rule {dict(rule)!r}")


def _register_map_runs(document: dict[str, Any], text: _TextPhase) -> None:
    """Each distinct mapRunArn i: its last two parts -> ``<MapRunArnPart0/1_{i}idx>``."""
    seen: list[str] = []
    for _holder, key, value in _walk_items(document):
        if key == "mapRunArn" and isinstance(value, str) and value not in seen:
            seen.append(value)
    for index, arn in enumerate(seen):
        parts = arn.split("/")[-1].split(":")
        if len(parts) > 1:
            text.literal(parts[1], f"<MapRunArnPart1_{index}idx>")
        if UUID.fullmatch(parts[0]):
            text.literal(parts[0], f"<MapRunArnPart0_{index}idx>")


# --- comparison helpers -----------------------------------------------------------------------

REFERENCE_TOKEN = re.compile(r"<([A-Za-z][\w-]*):(\d+)>")


def renumber_references(value: Any) -> Any:
    """Renumber ``<token:N>`` placeholders by order of first appearance (per token).

    N depends on discovery order over the whole recording (the README's caveat); two values that
    agree up to a consistent renaming of those placeholders compare equal after this.
    """
    mapping: dict[tuple[str, str], str] = {}
    counters: dict[str, int] = {}

    def rename(match: re.Match[str]) -> str:
        key = (match.group(1), match.group(2))
        if key not in mapping:
            counters[key[0]] = counters.get(key[0], 0) + 1
            mapping[key] = f"<{key[0]}:{counters[key[0]]}>"
        return mapping[key]

    text = json.dumps(value, sort_keys=True)
    if not REFERENCE_TOKEN.search(text):
        return value
    return json.loads(REFERENCE_TOKEN.sub(rename, text))


def parse_if_json(value: Any) -> Any:
    """A JSON text parsed, anything else unchanged (recordings keep non-object JSON as text)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def first_difference(expected: Any, actual: Any, path: str = "$") -> str | None:
    """Where two JSON values first differ, as ``path: expected != actual``; None if equal."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in sorted(set(expected) | set(actual)):
            if key not in actual:
                return f"{path}.{key}: missing (expected {_short(expected[key])})"
            if key not in expected:
                return f"{path}.{key}: unexpected {_short(actual[key])}"
            found = first_difference(expected[key], actual[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(expected, list) and isinstance(actual, list):
        for index, (e, a) in enumerate(zip(expected, actual, strict=False)):
            found = first_difference(e, a, f"{path}[{index}]")
            if found:
                return found
        if len(expected) != len(actual):
            return f"{path}: length {len(expected)} != {len(actual)}"
        return None
    if expected == actual and type(expected) is type(actual):
        return None
    return f"{path}: expected {_short(expected)} != actual {_short(actual)}"


def _short(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."
