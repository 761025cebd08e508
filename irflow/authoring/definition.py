"""A playbook definition as authors see it: the JSON text, where each value sits in it, and its state graph.

The graph spans nested Parallel branches and Map processors, so rules about ordering (approval
before destructive action, evidence before destructive action) see the whole playbook. Every
state is known by its JSON pointer (`("States", "Isolate")`, or deeper for nested states), which
also finds its line in the file for `file:line:` messages.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Pointer = tuple[str | int, ...]
PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
LAMBDA_INVOKE = re.compile(r"^arn:aws[\w-]*:states:::lambda:invoke(\.waitForTaskToken)?$")
# What a placeholder stands for while the definition is checked as ASL (a well-formed Lambda ARN:
# valid wherever a placeholder may stand, as a Resource, a FunctionName or any other string).
STAND_IN = "arn:aws:lambda:us-east-1:123456789012:function:{name}"
# Errors no Retry or Catch handles.
TERMINAL_ERRORS = {"States.Runtime", "States.DataLimitExceeded"}


class DefinitionLoadError(Exception):
    """The file is not a JSON object; `line` is where the parser stopped."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass(frozen=True)
class StateRef:
    """One state anywhere in the machine."""

    pointer: Pointer
    name: str
    body: Mapping[str, Any]
    language: str

    @property
    def type(self) -> str:
        return str(self.body.get("Type", ""))

    @property
    def scope(self) -> Pointer:
        """The pointer of the `States` object this state belongs to."""
        return self.pointer[:-1]


@dataclass(frozen=True)
class Edge:
    """A transition: `kind` is next, choice, default, catch, branch (into a Parallel/Map) or join (out of one)."""

    source: Pointer
    target: Pointer
    kind: str
    index: int | None = None


@dataclass
class Graph:
    """All states of a machine and every transition between them."""

    start: Pointer
    states: dict[Pointer, StateRef] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)

    def successors(self, pointer: Pointer) -> list[Edge]:
        return [e for e in self.edges if e.source == pointer]

    def reachable(self, starts: list[Pointer], expand: Any = None) -> set[Pointer]:
        """States reachable from `starts`; `expand(edge)` may refuse to follow an edge."""
        seen = set(starts)
        queue = list(starts)
        while queue:
            for edge in self.successors(queue.pop()):
                if edge.target in seen or (expand is not None and not expand(edge)):
                    continue
                seen.add(edge.target)
                queue.append(edge.target)
        return seen

    def nested(self, pointer: Pointer) -> list[StateRef]:
        """The states inside a Parallel's branches or a Map's processor (all levels down)."""
        size = len(pointer)
        return [s for p, s in self.states.items() if len(p) > size and p[:size] == pointer]

    def by_name(self, name: str) -> list[StateRef]:
        return [s for s in self.states.values() if s.name == name]


@dataclass
class Definition:
    """A parsed definition file with the line of every value in it."""

    path: Path
    text: str
    data: dict[str, Any]
    lines: dict[Pointer, int]

    def line_of(self, pointer: Pointer) -> int:
        """The line of the deepest value of `pointer` present in the file (1 when nothing matches)."""
        for size in range(len(pointer), -1, -1):
            line = self.lines.get(pointer[:size])
            if line is not None:
                return line
        return 1

    @property
    def language(self) -> str:
        return str(self.data.get("QueryLanguage", "JSONPath"))

    def substituted(self) -> Any:
        """The definition with every placeholder replaced by a stand-in ARN, as it is validated as ASL."""
        return _substitute(self.data)

    def graph(self) -> Graph:
        return build_graph(self.data)


def load(path: Path) -> Definition:
    """Read and parse a definition file; raise DefinitionLoadError when it is not a JSON object."""
    return parse(path.read_text(encoding="utf-8"), path)


def parse(text: str, path: Path) -> Definition:
    """Parse definition text; raise DefinitionLoadError when it is not a JSON object."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        if text.startswith("${", err.pos):
            raise DefinitionLoadError(
                "a placeholder outside a JSON string: definitions must stay plain JSON, put it in quotes",
                err.lineno) from None
        raise DefinitionLoadError(f"not valid JSON: {err.msg}", err.lineno) from None
    if not isinstance(data, dict):
        raise DefinitionLoadError("a definition must be a JSON object", 1)
    return Definition(path, text, data, locate(text))


def _substitute(value: Any) -> Any:
    if isinstance(value, str):
        return PLACEHOLDER.sub(lambda m: STAND_IN.format(name=m.group(1)), value)
    if isinstance(value, dict):
        return {k: _substitute(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v) for v in value]
    return value


# --- where values sit in the text -------------------------------------------------------------------


def locate(text: str) -> dict[Pointer, int]:
    """Map the pointer of every value of a valid JSON text to its line (an object member: its key's line)."""
    lines: dict[Pointer, int] = {}
    _Locator(text, lines).value((), 1)
    return lines


class _Locator:
    """A small JSON scanner that only records positions (the json module does not give them)."""

    def __init__(self, text: str, lines: dict[Pointer, int]) -> None:
        self.text = text
        self.pos = 0
        self.lines = lines

    def line(self) -> int:
        return self.text.count("\n", 0, self.pos) + 1

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\r\n":
            self.pos += 1

    def value(self, pointer: Pointer, line: int) -> None:
        self.skip()
        self.lines[pointer] = line
        char = self.text[self.pos]
        if char == "{":
            self.pos += 1
            self.skip()
            while self.text[self.pos] != "}":
                self.skip()
                key_line = self.line()
                key = self.string()
                self.skip()
                self.pos += 1  # ':'
                self.value((*pointer, key), key_line)
                self.skip()
                if self.text[self.pos] == ",":
                    self.pos += 1
                    self.skip()
            self.pos += 1
        elif char == "[":
            self.pos += 1
            self.skip()
            index = 0
            while self.text[self.pos] != "]":
                self.skip()
                self.value((*pointer, index), self.line())
                index += 1
                self.skip()
                if self.text[self.pos] == ",":
                    self.pos += 1
                    self.skip()
            self.pos += 1
        elif char == '"':
            self.string()
        else:
            while self.pos < len(self.text) and self.text[self.pos] not in ",}] \t\r\n":
                self.pos += 1

    def string(self) -> str:
        start = self.pos
        self.pos += 1
        while self.text[self.pos] != '"':
            self.pos += 2 if self.text[self.pos] == "\\" else 1
        self.pos += 1
        decoded: str = json.loads(self.text[start:self.pos])
        return decoded


def pointer_from_path(where: str) -> Pointer:
    """`/States/A/Retry[0]/BackoffRate` (the engine's locations) -> ("States", "A", "Retry", 0, "BackoffRate")."""
    out: list[str | int] = []
    for part in where.strip("/").split("/"):
        if not part:
            continue
        match = re.fullmatch(r"(.*?)((?:\[\d+\])+)", part)
        if match:
            out.append(match.group(1))
            out.extend(int(i) for i in re.findall(r"\[(\d+)\]", match.group(2)))
        else:
            out.append(part)
    return tuple(out)


def pointer_from_dotted(data: Any, dotted: str) -> Pointer:
    """`States.My.State.Retry[0]` (statelint's locations; names may hold dots) -> the pointer it names."""
    out: list[str | int] = []
    rest = dotted
    node = data
    while rest:
        rest = rest.lstrip(".")
        index = re.match(r"\[(\d+)\]", rest)
        if index and isinstance(node, list):
            i = int(index.group(1))
            out.append(i)
            rest = rest[index.end():]
            node = node[i] if i < len(node) else None
            continue
        if not isinstance(node, dict):
            break
        keys = sorted((k for k in node if rest.startswith(k) and rest[len(k):len(k) + 1] in ("", ".", "[", " ", ",")),
                      key=len, reverse=True)
        if not keys:
            break
        out.append(keys[0])
        node = node[keys[0]]
        rest = rest[len(keys[0]):]
    return tuple(out)


# --- the state graph --------------------------------------------------------------------------------


def iter_states(machine: Mapping[str, Any], prefix: Pointer = (), language: str | None = None) -> Iterator[StateRef]:
    """Every state of `machine`, nested ones included, in document order."""
    language = str(machine.get("QueryLanguage", language or "JSONPath"))
    states = machine.get("States")
    if not isinstance(states, dict):
        return
    for name, body in states.items():
        if not isinstance(body, dict):
            continue
        pointer: Pointer = (*prefix, "States", name)
        state_language = str(body.get("QueryLanguage", language))
        yield StateRef(pointer, name, body, state_language)
        for sub, sub_prefix in sub_machines(body, pointer):
            yield from iter_states(sub, sub_prefix, state_language)


def sub_machines(body: Mapping[str, Any], pointer: Pointer) -> Iterator[tuple[Mapping[str, Any], Pointer]]:
    """The machines nested in a Parallel (Branches) or Map (ItemProcessor / Iterator) state."""
    if body.get("Type") == "Parallel" and isinstance(body.get("Branches"), list):
        for i, branch in enumerate(body["Branches"]):
            if isinstance(branch, dict):
                yield branch, (*pointer, "Branches", i)
    if body.get("Type") == "Map":
        for key in ("ItemProcessor", "Iterator"):
            if isinstance(body.get(key), dict):
                yield body[key], (*pointer, key)


def build_graph(data: Mapping[str, Any]) -> Graph:
    """The transitions of a machine; Parallel/Map states lead into their branches and out of them."""
    graph = Graph(start=("States", str(data.get("StartAt"))))
    for ref in iter_states(data):
        graph.states[ref.pointer] = ref
    for ref in list(graph.states.values()):
        body = ref.body

        def target(name: Any, ref: StateRef = ref) -> Pointer | None:
            pointer = (*ref.scope, name) if isinstance(name, str) else None
            return pointer if pointer in graph.states else None

        def add(name: Any, kind: str, index: int | None = None, ref: StateRef = ref) -> None:
            found = target(name)
            if found is not None:
                graph.edges.append(Edge(ref.pointer, found, kind, index))

        add(body.get("Next"), "next")
        for i, rule in enumerate(body.get("Choices") or ()):
            if isinstance(rule, dict):
                add(rule.get("Next"), "choice", i)
        add(body.get("Default"), "default")
        for i, catcher in enumerate(body.get("Catch") or ()):
            if isinstance(catcher, dict):
                add(catcher.get("Next"), "catch", i)
        after = target(body.get("Next"))
        for sub, prefix in sub_machines(body, ref.pointer):
            first = (*prefix, "States", sub.get("StartAt"))
            if first in graph.states:
                graph.edges.append(Edge(ref.pointer, first, "branch"))
            if after is None:
                continue
            for inner in iter_states(sub, prefix):
                ends = inner.body.get("End") is True or inner.type == "Succeed"
                if inner.scope == (*prefix, "States") and ends:
                    graph.edges.append(Edge(inner.pointer, after, "join"))
    return graph


def placeholders(value: Any, pointer: Pointer = ()) -> Iterator[tuple[Pointer, str]]:
    """Every `${Name}` in string values, with where it is."""
    if isinstance(value, str):
        for match in PLACEHOLDER.finditer(value):
            yield pointer, match.group(1)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from placeholders(item, (*pointer, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from placeholders(item, (*pointer, i))


def called_placeholder(body: Mapping[str, Any]) -> str | None:
    """The placeholder a Task calls: its bare `Resource`, or `FunctionName` of `lambda:invoke`."""
    if body.get("Type") != "Task":
        return None
    resource = body.get("Resource")
    if not isinstance(resource, str):
        return None
    whole = PLACEHOLDER.fullmatch(resource)
    if whole:
        return whole.group(1)
    if LAMBDA_INVOKE.match(resource):
        for key in ("Parameters", "Arguments"):
            args = body.get(key)
            name = args.get("FunctionName") if isinstance(args, dict) else None
            if isinstance(name, str):
                match = PLACEHOLDER.match(name)
                if match:
                    return match.group(1)
    return None


def waits_for_token(body: Mapping[str, Any]) -> bool:
    resource = body.get("Resource")
    return isinstance(resource, str) and resource.endswith(".waitForTaskToken")


def error_matches(error_equals: list[str], error: str) -> bool:
    """Whether a Retry/Catch `ErrorEquals` handles `error`, as Step Functions decides it.

    States.ALL matches everything but the terminal errors; States.TaskFailed matches every error
    that is not one of Step Functions' own `States.*` errors (so not States.Timeout).
    """
    if error in error_equals:
        return True
    if error in TERMINAL_ERRORS:
        return False
    if "States.ALL" in error_equals:
        return True
    return "States.TaskFailed" in error_equals and not error.startswith("States.")


def describe_rule(rule: Any) -> str:
    """A short reading of a Choice rule, for reports and graph edges: `$.severity >= 7`."""
    if not isinstance(rule, dict):
        return "?"
    if "Condition" in rule:
        return str(rule["Condition"]).removeprefix("{%").removesuffix("%}").strip()
    for combinator, joiner in (("And", " and "), ("Or", " or ")):
        if combinator in rule and isinstance(rule[combinator], list):
            return "(" + joiner.join(describe_rule(r) for r in rule[combinator]) + ")"
    if "Not" in rule:
        return f"not {describe_rule(rule['Not'])}"
    variable = rule.get("Variable", "?")
    for operator, operand in rule.items():
        if operator in ("Variable", "Next", "Assign", "Output", "Comment"):
            continue
        symbol = next((s for word, s in SYMBOLS if operator.removesuffix("Path").endswith(word)), None)
        shown = operand if operator.endswith("Path") else json.dumps(operand)
        if operator.startswith("Is"):
            return f"{variable} {operator[2:].lower()}" if operand is True else f"{variable} not {operator[2:].lower()}"
        if symbol is not None:
            return f"{variable} {symbol} {shown}"
        return f"{variable} {operator} {shown}"
    return str(variable)


SYMBOLS = (("LessThanEquals", "<="), ("GreaterThanEquals", ">="), ("LessThan", "<"), ("GreaterThan", ">"),
           ("Equals", "=="), ("Matches", "matches"))
