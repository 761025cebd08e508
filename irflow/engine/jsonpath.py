"""The JSONPath dialect of Amazon States Language (Jayway JsonPath semantics, as AWS runs it).

A path is compiled once (`compile_path`, cached) into a root and a list of steps; evaluation then
walks the document without re-parsing. Behaviour follows Jayway, which AWS uses:

* a *definite* path (only single names / indexes, a trailing multi-name merge or a trailing
  function) returns one value and raises `PathNotFound` with Jayway's message when it does not
  resolve (``No results for path: $['a']['b']``, ``Missing property in path $['a']``);
* an *indefinite* path (wildcard, slice, deep scan, filter, index union, name union followed by more
  steps) returns a list, empty when nothing matches (AWS never fails these);
* ``$['a','b']`` as the last step merges the named properties into one object, as Jayway does;
* inside quoted bracket names a backslash only protects the next character from ending the name;
  it is kept in the name (AWS resolves ``$['Test\\""Name"']`` to the key ``Test\\""Name"``);
* filters: ``@``/``$`` paths, literals (strings, numbers, true/false/null, JSON arrays/objects),
  ``/regex/flags`` (whole-string match), ``== != < <= > >= =~ in nin subsetof anyof noneof size
  empty contains``, ``&& || !`` and parentheses; a bare path is an existence check.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

__all__ = [
    "Path",
    "json_equal",
    "PathNotFound",
    "PathSyntaxError",
    "compile_path",
    "is_reference_path",
    "java_str",
]


class PathSyntaxError(ValueError):
    """The text is not a valid JSONPath; the message says what is wrong and where."""


class PathNotFound(LookupError):
    """A definite path does not resolve; str() is the Jayway-style detail AWS shows."""


_PROVIDER = "com.jayway.jsonpath.spi.json.JacksonJsonProvider"
_MISSING: Any = object()

# Step kinds.
_PROP = 0  # one property name
_INDEX = 1  # one array index
_MERGE = 2  # several names as the last step: one object of those present
_PROPS = 3  # several names followed by more steps: iterate
_INDEXES = 4  # index union
_SLICE = 5
_WILD = 6
_SCAN = 7  # deep scan; the selector applied at every level is the step's argument
_FILTER = 8
_FUNC = 9

_DEFINITE_KINDS = frozenset({_PROP, _INDEX, _MERGE, _FUNC})

Predicate = Callable[[Any, Any], bool]


class _Step:
    """One compiled path step: its kind, argument, and Jayway's text for messages."""

    __slots__ = ("arg", "kind", "text")

    def __init__(self, kind: int, arg: Any, text: str) -> None:
        self.kind = kind
        self.arg = arg
        self.text = text


# --- Java renderings used in messages and by States.Format ------------------------------------------


def java_str(value: Any) -> str:
    """A JSON value rendered as Java's toString renders Jackson-parsed data (maps as {k=v, ...})."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _java_double(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={java_str(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(java_str(v) for v in value) + "]"
    return str(value)


def _java_double(x: float) -> str:
    """Java's Double.toString: plain between 1e-3 and 1e7, else d.dddE<exp>."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0 or 1e-3 <= abs(x) < 1e7:
        return repr(x)
    sign, digits, exponent = Decimal(repr(x)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    power = exponent + len(text) - 1
    mantissa = text[0] + "." + (text[1:] or "0")
    return ("-" if sign else "") + f"{mantissa}E{power}"


def _java_class(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "java.lang.Boolean"
    if isinstance(value, int):
        return "java.lang.Integer"
    if isinstance(value, float):
        return "java.lang.Double"
    if isinstance(value, str):
        return "java.lang.String"
    if isinstance(value, list):
        return "java.util.ArrayList"
    return "java.util.LinkedHashMap"


# --- JSON value comparison (Jayway's ValueNode semantics) --------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def json_equal(a: Any, b: Any) -> bool:
    """Structural JSON equality: booleans are not numbers, 1 == 1.0, objects compare by content."""
    if _is_number(a):
        return _is_number(b) and a == b
    if isinstance(a, bool) or a is None or isinstance(a, str):
        return type(a) is type(b) and a == b
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and a.keys() == b.keys()
            and all(json_equal(v, b[k]) for k, v in a.items())
        )
    return False


def _filter_equal(a: Any, b: Any) -> bool:
    """Jayway's == : as json_equal, plus a number equals a string that spells the same number."""
    if a is _MISSING or b is _MISSING:
        return False
    if _is_number(a) and isinstance(b, str):
        return _as_number(b) == a
    if isinstance(a, str) and _is_number(b):
        return _as_number(a) == b
    return json_equal(a, b)


def _as_number(text: str) -> float | None:
    try:
        return float(Decimal(text.strip()))
    except ArithmeticError:
        return None


# --- the compiled path ---------------------------------------------------------------------------------


class Path:
    """A compiled JSONPath: `root` names the document it reads, `evaluate`/`set` apply it."""

    __slots__ = ("_all_definite", "_fast", "_steps", "is_definite", "root", "text")

    def __init__(self, text: str, root: str, steps: list[_Step]) -> None:
        self.text = text
        self.root = root
        self._steps = steps
        self._all_definite = all(s.kind in _DEFINITE_KINDS for s in steps)
        # A trailing function (length(), sum()...) turns any list into one value.
        self.is_definite = self._all_definite or steps[-1].kind == _FUNC
        # Paths of plain names and indexes (the usual case) run through a tight loop.
        self._fast: tuple[tuple[bool, Any], ...] | None = None
        if all(s.kind in (_PROP, _INDEX) for s in steps):
            self._fast = tuple((s.kind == _INDEX, s.arg) for s in steps)

    def __repr__(self) -> str:
        return f"Path({self.text!r})"

    @property
    def is_reference(self) -> bool:
        """Only single names and indexes: the path names exactly one node."""
        return self._fast is not None

    # -- reading --------------------------------------------------------------------------------------
    def evaluate(self, document: Any) -> Any:
        """The value at this path (definite) or the list of matches (indefinite)."""
        fast = self._fast
        if fast is not None:
            current = document
            for is_index, key in fast:
                if is_index:
                    if type(current) is not list:
                        raise self._not_found(document)
                    try:
                        current = current[key]
                    except IndexError:
                        raise self._not_found(document) from None
                else:
                    if type(current) is not dict:
                        raise self._not_found(document)
                    try:
                        current = current[key]
                    except KeyError:
                        raise self._not_found(document) from None
            return current
        if self._all_definite:
            return self._evaluate_definite(document)
        return self._evaluate_indefinite(document)

    def _evaluate_definite(self, document: Any) -> Any:
        current = document
        for step in self._steps:
            kind = step.kind
            if kind == _FUNC:
                return _apply_function(step.arg, current)
            if kind == _MERGE:
                if not isinstance(current, dict):
                    raise self._not_found(document)
                return {name: current[name] for name in step.arg if name in current}
            if kind == _PROP:
                if not isinstance(current, dict) or step.arg not in current:
                    raise self._not_found(document)
                current = current[step.arg]
            else:
                if not isinstance(current, list):
                    raise self._not_found(document)
                try:
                    current = current[step.arg]
                except IndexError:
                    raise self._not_found(document) from None
        return current

    def _evaluate_indefinite(self, document: Any) -> Any:
        nodes = [document]
        for step in self._steps:
            if step.kind == _FUNC:
                return _apply_function(step.arg, nodes)
            nodes = _select(step, nodes, document)
            if not nodes:
                break
        return nodes

    def _not_found(self, document: Any) -> PathNotFound:
        """Walk again to find where and why the path stops, and word it as Jayway does."""
        current = document
        walked = self.root
        last = len(self._steps) - 1
        for i, step in enumerate(self._steps):
            if step.kind in (_PROP, _MERGE):
                if not isinstance(current, dict):
                    return PathNotFound(
                        f"Expected to find an object with property {step.text} in path {walked} but found "
                        f"'{_java_class(current)}'. This is not a json object according to the JsonProvider: "
                        f"'{_PROVIDER}'."
                    )
                if step.kind == _MERGE:
                    break
                if step.arg not in current:
                    if i == last:
                        break
                    return PathNotFound(f"Missing property in path {walked}{step.text}")
                current = current[step.arg]
            elif step.kind == _INDEX:
                if current is None:
                    return PathNotFound(f"The path {walked} is null")
                if not isinstance(current, list):
                    rest = "".join(s.text for s in self._steps[i:])
                    return PathNotFound(
                        f"Filter: {rest} can only be applied to arrays. Current context is: {java_str(current)}"
                    )
                try:
                    current = current[step.arg]
                except IndexError:
                    break
            walked += step.text
        return PathNotFound(f"No results for path: {self.jayway_text}")

    @property
    def jayway_text(self) -> str:
        """The path as Jayway prints it: $['a'][0]..."""
        return self.root + "".join(s.text for s in self._steps)

    # -- writing (ResultPath) --------------------------------------------------------------------------
    def set(self, document: Any, value: Any) -> Any:
        """A copy of `document` with `value` placed at this path; missing objects on the way are created."""
        if self._fast is None:
            raise PathSyntaxError(f"'{self.text}' is not a reference path; a value can only be placed at one node")
        if not self._fast:
            return value
        return self._set(document, 0, value, self.root)

    def _set(self, node: Any, i: int, value: Any, walked: str) -> Any:
        is_index, key = self._fast[i]  # type: ignore[index]
        step = self._steps[i]
        last = i == len(self._steps) - 1
        if is_index:
            if not isinstance(node, list):
                rest = "".join(s.text for s in self._steps[i:])
                raise PathNotFound(f"Filter: {rest} can only be applied to arrays. Current context is: {java_str(node)}")
            position = key + len(node) if key < 0 else key
            if not 0 <= position < len(node):
                raise PathNotFound(f"Index {key} is out of bounds for the array at {walked} (length {len(node)})")
            copy = list(node)
            copy[position] = value if last else self._set(node[position], i + 1, value, walked + step.text)
            return copy
        if not isinstance(node, dict):
            raise PathNotFound(
                f"Expected to find an object with property {step.text} in path {walked} but found "
                f"'{_java_class(node)}'. This is not a json object according to the JsonProvider: '{_PROVIDER}'."
            )
        result = dict(node)
        if last:
            result[key] = value
        else:
            result[key] = self._set(node.get(key, {}), i + 1, value, walked + step.text)
        return result


# --- evaluation of indefinite steps ------------------------------------------------------------------


def _children(node: Any) -> list[Any]:
    if isinstance(node, dict):
        return list(node.values())
    if isinstance(node, list):
        return list(node)
    return []


def _select(step: _Step, nodes: list[Any], root: Any) -> list[Any]:
    """Apply one step to every node, collecting what it selects (nothing when it does not apply)."""
    kind = step.kind
    out: list[Any] = []
    if kind == _PROP:
        name = step.arg
        for node in nodes:
            if isinstance(node, dict) and name in node:
                out.append(node[name])
    elif kind == _PROPS:
        for node in nodes:
            if isinstance(node, dict):
                out.extend(node[name] for name in step.arg if name in node)
    elif kind == _MERGE:
        for node in nodes:
            if isinstance(node, dict):
                out.append({name: node[name] for name in step.arg if name in node})
    elif kind in (_INDEX, _INDEXES):
        indexes = (step.arg,) if kind == _INDEX else step.arg
        for node in nodes:
            if isinstance(node, list):
                size = len(node)
                for index in indexes:
                    if -size <= index < size:
                        out.append(node[index])
    elif kind == _SLICE:
        for node in nodes:
            if isinstance(node, list):
                out.extend(node[i] for i in _slice_indexes(step.arg, len(node)))
    elif kind == _WILD:
        for node in nodes:
            out.extend(_children(node))
    elif kind == _SCAN:
        selector: _Step = step.arg
        for node in nodes:
            for descendant in _preorder(node):
                out.extend(_select(selector, [descendant], root))
    elif kind == _FILTER:
        predicate: Predicate = step.arg
        for node in nodes:
            if isinstance(node, dict):
                if predicate(node, root):
                    out.append(node)
            elif isinstance(node, list):
                out.extend(item for item in node if predicate(item, root))
    return out


def _preorder(node: Any) -> Iterator[Any]:
    """The node, then each descendant, depth first in document order (Jayway's scan walk)."""
    yield node
    for child in _children(node):
        if isinstance(child, dict | list):
            yield from _preorder(child)


def _slice_indexes(bounds: tuple[int | None, int | None], length: int) -> list[int]:
    """Jayway's slices: [a:] and [:b] count negative bounds from the end; [a:b] walks a..min(b, len)-1,
    reading a negative index from the end as a single index would."""
    start, stop = bounds
    if length == 0:
        return []
    if stop is None:  # [a:]
        first = max(0, length + start if start is not None and start < 0 else (start or 0))
        return list(range(first, length))
    if start is None:  # [:b]
        return list(range(0, min(length, length + stop if stop < 0 else stop)))
    indexes = (i + length if i < 0 else i for i in range(start, min(length, stop)))
    return [i for i in indexes if 0 <= i < length]


# --- functions ($.arr.length() ...) --------------------------------------------------------------------


def _numbers(value: Any) -> list[float]:
    items = value if isinstance(value, list) else []
    numbers = [float(v) for v in items if _is_number(v)]
    if not numbers:
        raise PathNotFound("Aggregation function attempted to calculate value using empty array")
    return numbers


def _stddev(values: list[float]) -> float:
    mean = sum(values) / len(values)
    return math.sqrt(max(0.0, sum(v * v for v in values) / len(values) - mean * mean))


_FUNCTIONS: dict[str, Callable[[Any], Any]] = {
    "length": lambda v: len(v) if isinstance(v, list | dict) else None,
    "size": lambda v: len(v) if isinstance(v, list | dict) else None,
    "min": lambda v: min(_numbers(v)),
    "max": lambda v: max(_numbers(v)),
    "sum": lambda v: float(sum(_numbers(v))),
    "avg": lambda v: sum(_numbers(v)) / len(_numbers(v)),
    "stddev": lambda v: _stddev(_numbers(v)),
    "keys": lambda v: list(v) if isinstance(v, dict) else None,
    "first": lambda v: v[0] if isinstance(v, list) and v else None,
    "last": lambda v: v[-1] if isinstance(v, list) and v else None,
}


def _apply_function(name: str, value: Any) -> Any:
    return _FUNCTIONS[name](value)


# --- parsing ---------------------------------------------------------------------------------------------

_NAME_END = frozenset(".[( ")
_FILTER_NAME_END = frozenset(".[() \t\n\r=!<>&|,~]")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_INT = re.compile(r"-?\d+")
_WORD_OPERATOR = re.compile(r"(nin|in|subsetof|anyof|noneof|size|empty|contains)\b")


class _Parser:
    """Recursive-descent parser over the path text; `pos` is the current character."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    # -- helpers ----------------------------------------------------------------------------------------
    def error(self, message: str, at: int | None = None) -> PathSyntaxError:
        where = self.pos if at is None else at
        return PathSyntaxError(f"{message} (at position {where} of '{self.text}')")

    def peek(self, offset: int = 0) -> str:
        i = self.pos + offset
        return self.text[i] if i < len(self.text) else ""

    def skip_spaces(self) -> None:
        while self.peek() in (" ", "\t", "\n", "\r"):
            self.pos += 1

    def expect(self, char: str) -> None:
        self.skip_spaces()
        if self.peek() != char:
            found = repr(self.peek()) if self.peek() else "the end of the path"
            raise self.error(f"Expected '{char}' but found {found}")
        self.pos += 1

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    # -- paths ------------------------------------------------------------------------------------------
    def root(self) -> str:
        if self.peek() == "@":
            self.pos += 1
            return "@"
        if self.peek() != "$":
            raise self.error("A JSONPath must start with '$'")
        self.pos += 1
        if self.peek() == "$":
            self.pos += 1
            return "$$"
        start = self.pos
        if self.peek() and (self.peek().isalpha() or self.peek() == "_"):
            while self.peek() and (self.peek().isalnum() or self.peek() == "_"):
                self.pos += 1
            return self.text[start : self.pos]
        return "$"

    def steps(self, in_filter: bool) -> list[_Step]:
        """Steps until the text ends (top level) or a character that cannot continue a path (filters)."""
        steps: list[_Step] = []
        while not self.at_end():
            char = self.peek()
            if char == ".":
                if self.peek(1) == ".":
                    self.pos += 2
                    steps.append(self.scan(in_filter))
                else:
                    self.pos += 1
                    if self.peek() == "[":
                        continue
                    steps.append(self.dot_step(in_filter))
            elif char == "[":
                steps.append(self.bracket_step(in_filter))
            elif in_filter:
                break
            elif char in " \t\n\r":
                raise self.error("Unexpected whitespace; use bracket notation ['my prop'] for names with blanks")
            else:
                raise self.error(f"Unexpected character {char!r}; expected '.' or '['")
            if steps[-1].kind == _FUNC and not self.at_end() and self.peek() in ".[":
                raise self.error("A function such as length() must be the last step of a path")
        return steps

    def scan(self, in_filter: bool) -> _Step:
        char = self.peek()
        if char == "[":
            selector = self.bracket_step(in_filter)
        elif char and char not in (_FILTER_NAME_END if in_filter else _NAME_END):
            selector = self.dot_step(in_filter)
        else:
            raise self.error("A deep scan '..' must be followed by a name, '*' or a bracket")
        if selector.kind == _FUNC:
            raise self.error("A function cannot follow a deep scan '..'")
        return _Step(_SCAN, selector, ".." + selector.text)

    def dot_step(self, in_filter: bool) -> _Step:
        ends = _FILTER_NAME_END if in_filter else _NAME_END
        if self.peek() == "*":
            self.pos += 1
            return _Step(_WILD, None, "[*]")
        start = self.pos
        while not self.at_end() and self.peek() not in ends:
            self.pos += 1
        name = self.text[start : self.pos]
        if not name:
            if self.at_end():
                raise self.error("A path must not end with '.'")
            raise self.error(f"Expected a property name but found {self.peek()!r}")
        if self.peek() == "(":
            self.pos += 1
            self.expect(")")
            if name not in _FUNCTIONS:
                raise self.error(f"Unknown function '{name}()'; known: {', '.join(sorted(_FUNCTIONS))}", start)
            return _Step(_FUNC, name, f".{name}()")
        return _Step(_PROP, name, f"['{name}']")

    def bracket_step(self, in_filter: bool) -> _Step:
        open_at = self.pos
        self.pos += 1  # '['
        self.skip_spaces()
        char = self.peek()
        if char == "?":
            self.pos += 1
            self.expect("(")
            predicate = self.or_expr()
            self.expect(")")
            self.expect("]")
            return _Step(_FILTER, predicate, "[?]")
        if char == "*":
            self.pos += 1
            self.expect("]")
            return _Step(_WILD, None, "[*]")
        if char in ("'", '"'):
            names = [self.quoted_name()]
            self.skip_spaces()
            while self.peek() == ",":
                self.pos += 1
                self.skip_spaces()
                if self.peek() not in ("'", '"'):
                    raise self.error("Expected a quoted property name after ','")
                names.append(self.quoted_name())
                self.skip_spaces()
            self.expect("]")
            if len(names) == 1:
                return _Step(_PROP, names[0], f"['{names[0]}']")
            text = "[" + ",".join(f"'{n}'" for n in names) + "]"
            continues = not self.at_end() and self.peek() in ".["
            return _Step(_PROPS if continues else _MERGE, tuple(names), text)
        if char == "]":
            raise self.error("Empty brackets '[]'", open_at)
        return self.index_step(open_at)

    def quoted_name(self) -> str:
        quote = self.peek()
        self.pos += 1
        start = self.pos
        while not self.at_end() and self.peek() != quote:
            self.pos += 2 if self.peek() == "\\" else 1
        if self.at_end():
            raise self.error("Unterminated quoted property name", start - 1)
        name = self.text[start : self.pos]
        self.pos += 1
        return name

    def index_step(self, open_at: int) -> _Step:
        close = self.text.find("]", self.pos)
        if close < 0:
            raise self.error("Missing ']'", open_at)
        body = self.text[self.pos : close].replace(" ", "")
        self.pos = close + 1
        if ":" in body:
            parts = body.split(":")
            if len(parts) != 2 or not all(p == "" or _INT.fullmatch(p) for p in parts) or parts == ["", ""]:
                raise self.error(f"Invalid array slice '[{body}]'; use [a:b], [a:] or [:b]", open_at)
            start = int(parts[0]) if parts[0] else None
            stop = int(parts[1]) if parts[1] else None
            return _Step(_SLICE, (start, stop), f"[{body}]")
        items = body.split(",")
        if not all(_INT.fullmatch(p) for p in items):
            raise self.error(f"Invalid bracket '[{body}]'; expected an index, a slice, '*', a quoted name or a filter",
                             open_at)
        indexes = tuple(int(p) for p in items)
        if len(indexes) == 1:
            return _Step(_INDEX, indexes[0], f"[{indexes[0]}]")
        return _Step(_INDEXES, indexes, "[" + ",".join(map(str, indexes)) + "]")

    # -- filter expressions -------------------------------------------------------------------------------
    def or_expr(self) -> Predicate:
        left = self.and_expr()
        while True:
            self.skip_spaces()
            if not self.text.startswith("||", self.pos):
                return left
            self.pos += 2
            right = self.and_expr()
            left = _or(left, right)

    def and_expr(self) -> Predicate:
        left = self.unary()
        while True:
            self.skip_spaces()
            if not self.text.startswith("&&", self.pos):
                return left
            self.pos += 2
            right = self.unary()
            left = _and(left, right)

    def unary(self) -> Predicate:
        self.skip_spaces()
        if self.peek() == "!" and self.peek(1) != "=":
            self.pos += 1
            inner = self.unary()
            return lambda item, root: not inner(item, root)
        if self.peek() == "(":
            self.pos += 1
            inner = self.or_expr()
            self.expect(")")
            return inner
        return self.relation()

    def relation(self) -> Predicate:
        start = self.pos
        left = self.operand()
        self.skip_spaces()
        operator = self.operator()
        if operator is None:
            if left.path is None:
                raise self.error("A filter condition needs a comparison, or a path to test for existence", start)
            return left.exists
        self.skip_spaces()
        if operator == "=~":
            pattern = self.regex()
            return lambda item, root: _regex_match(pattern, left.value(item, root))
        right = self.operand()
        compare = _OPERATORS[operator]
        return lambda item, root: compare(left.value(item, root), right.value(item, root))

    def operator(self) -> str | None:
        for op in ("==", "!=", "<=", ">=", "=~", "<", ">"):
            if self.text.startswith(op, self.pos):
                self.pos += len(op)
                return op
        match = _WORD_OPERATOR.match(self.text, self.pos)
        if match:
            self.pos = match.end()
            return match.group(1)
        return None

    def operand(self) -> _Operand:
        self.skip_spaces()
        char = self.peek()
        if char in ("@", "$"):
            start = self.pos
            root = self.root()
            if root not in ("@", "$"):
                raise self.error("Filter paths start with '@' (the current item) or '$' (the document)", start)
            steps = self.steps(in_filter=True)
            path = Path(self.text[start : self.pos], root, steps)
            return _Operand(path=path)
        return _Operand(literal=self.literal())

    def literal(self) -> Any:
        self.skip_spaces()
        char = self.peek()
        if char in ("'", '"'):
            return self.string_literal()
        if char == "[":
            self.pos += 1
            items: list[Any] = []
            self.skip_spaces()
            if self.peek() == "]":
                self.pos += 1
                return items
            while True:
                items.append(self.literal())
                self.skip_spaces()
                if self.peek() == ",":
                    self.pos += 1
                    continue
                self.expect("]")
                return items
        if char == "{":
            self.pos += 1
            obj: dict[str, Any] = {}
            self.skip_spaces()
            if self.peek() == "}":
                self.pos += 1
                return obj
            while True:
                self.skip_spaces()
                if self.peek() not in ("'", '"'):
                    raise self.error("Expected a quoted key in an object literal")
                key = self.string_literal()
                self.expect(":")
                obj[key] = self.literal()
                self.skip_spaces()
                if self.peek() == ",":
                    self.pos += 1
                    continue
                self.expect("}")
                return obj
        for word, value in (("true", True), ("false", False), ("null", None)):
            if self.text.startswith(word, self.pos):
                self.pos += len(word)
                return value
        match = _NUMBER.match(self.text, self.pos)
        if match:
            self.pos = match.end()
            return json.loads(match.group())
        found = repr(char) if char else "the end of the path"
        raise self.error(f"Expected a value (path, string, number, true, false, null, [..], {{..}}) but found {found}")

    def string_literal(self) -> str:
        quote = self.peek()
        self.pos += 1
        chars: list[str] = []
        while not self.at_end() and self.peek() != quote:
            if self.peek() == "\\" and self.pos + 1 < len(self.text):
                self.pos += 1
            chars.append(self.peek())
            self.pos += 1
        if self.at_end():
            raise self.error("Unterminated string literal")
        self.pos += 1
        return "".join(chars)

    def regex(self) -> re.Pattern[str]:
        self.skip_spaces()
        if self.peek() != "/":
            raise self.error("'=~' must be followed by a /regular expression/")
        start = self.pos
        self.pos += 1
        while not self.at_end() and self.peek() != "/":
            self.pos += 2 if self.peek() == "\\" else 1
        if self.at_end():
            raise self.error("Unterminated regular expression", start)
        body = self.text[start + 1 : self.pos]
        self.pos += 1
        flags = 0
        while self.peek() in ("i", "m", "s", "x", "u"):
            flags |= {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE, "u": 0}[self.peek()]
            self.pos += 1
        try:
            return re.compile(body.replace("\\/", "/"), flags)
        except re.error as err:
            raise self.error(f"Invalid regular expression /{body}/: {err}", start) from None


class _Operand:
    """A filter operand: a relative/absolute path or a literal."""

    __slots__ = ("literal_value", "path")

    def __init__(self, path: Path | None = None, literal: Any = None) -> None:
        self.path = path
        self.literal_value = literal

    def value(self, item: Any, root: Any) -> Any:
        path = self.path
        if path is None:
            return self.literal_value
        document = item if path.root == "@" else root
        if not path.is_definite:
            return path.evaluate(document)
        try:
            return path.evaluate(document)
        except PathNotFound:
            return _MISSING

    def exists(self, item: Any, root: Any) -> bool:
        value = self.value(item, root)
        if self.path is not None and not self.path.is_definite:
            return bool(value)
        return value is not _MISSING


def _or(left: Predicate, right: Predicate) -> Predicate:
    return lambda item, root: left(item, root) or right(item, root)


def _and(left: Predicate, right: Predicate) -> Predicate:
    return lambda item, root: left(item, root) and right(item, root)


def _ordered(a: Any, b: Any) -> bool:
    return (_is_number(a) and _is_number(b)) or (isinstance(a, str) and isinstance(b, str))


def _contains(collection: Any, value: Any) -> bool:
    return isinstance(collection, list) and any(_filter_equal(value, item) for item in collection)


def _size(value: Any, expected: Any) -> bool:
    return isinstance(value, list | str) and _is_number(expected) and len(value) == expected


def _empty(value: Any, expected: Any) -> bool:
    return isinstance(value, list | str) and isinstance(expected, bool) and (len(value) == 0) == expected


def _text_contains(value: Any, part: Any) -> bool:
    if isinstance(value, str):
        return isinstance(part, str) and part in value
    return _contains(value, part)


_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "==": _filter_equal,
    "!=": lambda a, b: not _filter_equal(a, b),
    "<": lambda a, b: _ordered(a, b) and a < b,
    "<=": lambda a, b: _ordered(a, b) and a <= b,
    ">": lambda a, b: _ordered(a, b) and a > b,
    ">=": lambda a, b: _ordered(a, b) and a >= b,
    "in": lambda a, b: _contains(b, a),
    "nin": lambda a, b: not _contains(b, a),
    "subsetof": lambda a, b: isinstance(a, list) and all(_contains(b, x) for x in a),
    "anyof": lambda a, b: isinstance(a, list) and any(_contains(b, x) for x in a),
    "noneof": lambda a, b: isinstance(a, list) and not any(_contains(b, x) for x in a),
    "size": _size,
    "empty": _empty,
    "contains": _text_contains,
}


def _regex_match(pattern: re.Pattern[str], value: Any) -> bool:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = value
    elif _is_number(value):
        text = java_str(value)
    else:
        text = ""
    return pattern.fullmatch(text) is not None


# --- public entry points ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def compile_path(text: str) -> Path:
    """Parse `text` once into a Path; PathSyntaxError says what is wrong."""
    if not isinstance(text, str):
        raise PathSyntaxError(f"A JSONPath must be a string, got {type(text).__name__}")
    stripped = text.strip()
    parser = _Parser(stripped)
    if not stripped:
        raise PathSyntaxError("A JSONPath must not be empty")
    if stripped[0] != "$":
        raise parser.error("A JSONPath must start with '$'", 0)
    root = parser.root()
    steps = parser.steps(in_filter=False)
    return Path(text, root, steps)


def is_reference_path(text: str) -> bool:
    """A Reference Path as ResultPath requires: rooted at `$`, only single names and indexes."""
    try:
        path = compile_path(text)
    except PathSyntaxError:
        return False
    return path.root == "$" and path.is_reference
