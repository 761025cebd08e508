"""Intrinsic functions (``States.Format(...)`` and friends) for JSONPath states.

`compile_intrinsic` parses a call once (cached) into a tree of argument nodes; `Intrinsic.evaluate`
runs it, asking the interpreter to resolve each JSONPath argument. Grammar, names and arity are
checked at compile time (IntrinsicSyntaxError, used to reject definitions); bad argument values
fail at run time with ``States.IntrinsicFailure``.

Behaviour taken from AWS recordings: string literals accept only the escapes ``\\'``, ``\\{``,
``\\}`` and ``\\\\`` (``\\"`` is refused at create time); States.Format renders objects as Java maps
(``{a=1, b=[]}``); States.MathAdd rounds each operand as Java's Math.round before adding;
States.StringSplit splits on any character of the delimiter and drops empty pieces;
States.StringToJson of a blank string is null.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import math
import random
import re
import uuid
from collections.abc import Callable
from typing import Any

from .errors import INTRINSIC_FAILURE, StatesError
from .jsonpath import PathSyntaxError, compile_path, java_str, json_equal
from .payload import to_json

__all__ = ["Intrinsic", "IntrinsicSyntaxError", "compile_intrinsic", "is_intrinsic"]

Resolve = Callable[[str], Any]

MAX_NESTING = 10  # AWS: up to 10 intrinsic functions nested within one field
MAX_RANGE_ITEMS = 1000
MAX_ENCODE_CHARS = 10000

_CALL_START = re.compile(r"States\.([A-Za-z0-9]+)\(")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")


class IntrinsicSyntaxError(ValueError):
    """The intrinsic call text is malformed (grammar, unknown function, arity, literal, path)."""


def _fail(function: str, message: str) -> StatesError:
    return StatesError(INTRINSIC_FAILURE, f"Invalid arguments in {function}: {message}")


# --- argument nodes ------------------------------------------------------------------------------------


class _Literal:
    """A literal argument. `parts` splits a string literal at its unescaped `{}` placeholders."""

    __slots__ = ("parts", "value")

    def __init__(self, value: Any, parts: tuple[str, ...] | None = None) -> None:
        self.value = value
        self.parts = parts

    def evaluate(self, resolve: Resolve, rng: random.Random) -> Any:
        return self.value


class _PathArgument:
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def evaluate(self, resolve: Resolve, rng: random.Random) -> Any:
        return resolve(self.text)


class Intrinsic:
    """A compiled intrinsic call: `evaluate` computes its value (nested calls and paths included)."""

    __slots__ = ("args", "function", "name", "text")

    def __init__(self, text: str, name: str, args: list[_Node]) -> None:
        self.text = text
        self.name = name
        self.args = args
        self.function = _FUNCTIONS[name][2]

    def __repr__(self) -> str:
        return f"Intrinsic({self.text!r})"

    def evaluate(self, resolve: Resolve, rng: random.Random) -> Any:
        """Run the call; JSONPath arguments go through `resolve`, randomness through `rng`."""
        values = [arg.evaluate(resolve, rng) for arg in self.args]
        return self.function(self, values, rng)


_Node = _Literal | _PathArgument | Intrinsic


# --- the functions ---------------------------------------------------------------------------------------


def _java_round(value: float) -> int:
    """Java's Math.round: halves go up (-1.5 -> -1, 2.5 -> 3)."""
    return math.floor(value + 0.5)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _integer(function: str, value: Any, what: str) -> int:
    """An integer argument; whole floats (3.0) are accepted, anything else fails."""
    if _is_number(value) and float(value).is_integer():
        return int(value)
    raise _fail(function, f"{what} must be an integer, got {to_json(value)}")


def _array(function: str, value: Any, what: str = "the first argument") -> list[Any]:
    if not isinstance(value, list):
        raise _fail(function, f"{what} must be an array, got {to_json(value)}")
    return value


def _string(function: str, value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise _fail(function, f"{what} must be a string, got {to_json(value)}")
    return value


def _canonical(value: Any) -> Any:
    """A hashable form of a JSON value with json_equal's notion of equality."""
    if isinstance(value, bool):
        return ("b", value)
    if _is_number(value):
        return ("n", value)
    if isinstance(value, dict):
        return ("o", frozenset((k, _canonical(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("a", tuple(_canonical(v) for v in value))
    return ("s", value)


def _format(call: Intrinsic, values: list[Any], rng: random.Random) -> str:
    template = call.args[0]
    if isinstance(template, _Literal) and template.parts is not None:
        parts = list(template.parts)
    else:
        parts = _string("States.Format", values[0], "the format string").split("{}")
    arguments = values[1:]
    if len(parts) - 1 != len(arguments):
        raise _fail(
            "States.Format",
            f"the format string has {len(parts) - 1} placeholder(s) {{}} but {len(arguments)} argument(s) were given",
        )
    out = [parts[0]]
    for argument, part in zip(arguments, parts[1:], strict=True):
        out.append(java_str(argument))
        out.append(part)
    return "".join(out)


def _string_to_json(call: Intrinsic, values: list[Any], rng: random.Random) -> Any:
    text = _string("States.StringToJson", values[0], "the argument")
    if not text.strip():
        return None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except ValueError as err:
        raise _fail("States.StringToJson", f"the argument is not valid JSON text: {err}") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"'{name}' is not a JSON value")


def _json_to_string(call: Intrinsic, values: list[Any], rng: random.Random) -> str:
    return to_json(values[0])


def _array_of(call: Intrinsic, values: list[Any], rng: random.Random) -> list[Any]:
    return values


def _array_partition(call: Intrinsic, values: list[Any], rng: random.Random) -> list[list[Any]]:
    items = _array("States.ArrayPartition", values[0])
    size = _integer("States.ArrayPartition", values[1], "the chunk size")
    if size <= 0:
        raise _fail("States.ArrayPartition", f"the chunk size must be a positive integer, got {size}")
    return [items[i : i + size] for i in range(0, len(items), size)]


def _array_contains(call: Intrinsic, values: list[Any], rng: random.Random) -> bool:
    items = _array("States.ArrayContains", values[0])
    return any(json_equal(values[1], item) for item in items)


def _array_range(call: Intrinsic, values: list[Any], rng: random.Random) -> list[int]:
    start = _integer("States.ArrayRange", values[0], "the start")
    end = _integer("States.ArrayRange", values[1], "the end")
    step = _integer("States.ArrayRange", values[2], "the step")
    if step == 0:
        raise _fail("States.ArrayRange", "the step must not be 0")
    items = range(start, end + (1 if step > 0 else -1), step)
    if len(items) > MAX_RANGE_ITEMS:
        raise _fail("States.ArrayRange", f"the range has {len(items)} items; at most {MAX_RANGE_ITEMS} are allowed")
    return list(items)


def _array_get_item(call: Intrinsic, values: list[Any], rng: random.Random) -> Any:
    items = _array("States.ArrayGetItem", values[0])
    index = _integer("States.ArrayGetItem", values[1], "the index")
    if not 0 <= index < len(items):
        raise _fail("States.ArrayGetItem", f"the index {index} is out of bounds for an array of length {len(items)}")
    return items[index]


def _array_length(call: Intrinsic, values: list[Any], rng: random.Random) -> int:
    return len(_array("States.ArrayLength", values[0], "the argument"))


def _array_unique(call: Intrinsic, values: list[Any], rng: random.Random) -> list[Any]:
    seen: set[Any] = set()
    out = []
    for item in _array("States.ArrayUnique", values[0], "the argument"):
        key = _canonical(item)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _base64_encode(call: Intrinsic, values: list[Any], rng: random.Random) -> str:
    text = _string("States.Base64Encode", values[0], "the argument")
    if len(text) > MAX_ENCODE_CHARS:
        raise _fail("States.Base64Encode", f"the input exceeds {MAX_ENCODE_CHARS} characters")
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _base64_decode(call: Intrinsic, values: list[Any], rng: random.Random) -> str:
    text = _string("States.Base64Decode", values[0], "the argument")
    if len(text) > MAX_ENCODE_CHARS:
        raise _fail("States.Base64Decode", f"the input exceeds {MAX_ENCODE_CHARS} characters")
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as err:
        raise _fail("States.Base64Decode", f"the argument is not valid base64-encoded UTF-8 text: {err}") from None


_HASHES = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}


def _hash(call: Intrinsic, values: list[Any], rng: random.Random) -> str:
    data, algorithm = values
    if data is None:
        raise _fail("States.Hash", "the data to hash must not be null")
    text = data if isinstance(data, str) else to_json(data)
    if len(text) > MAX_ENCODE_CHARS:
        raise _fail("States.Hash", f"the data to hash exceeds {MAX_ENCODE_CHARS} characters")
    if algorithm not in _HASHES:
        raise _fail("States.Hash", f"the algorithm must be one of {', '.join(_HASHES)}, got {to_json(algorithm)}")
    return hashlib.new(_HASHES[algorithm], text.encode("utf-8")).hexdigest()


def _json_merge(call: Intrinsic, values: list[Any], rng: random.Random) -> dict[str, Any]:
    first, second, deep = values
    if not isinstance(first, dict) or not isinstance(second, dict):
        bad = first if not isinstance(first, dict) else second
        raise _fail("States.JsonMerge", f"the first two arguments must be JSON objects, got {to_json(bad)}")
    if not isinstance(deep, bool):
        raise _fail("States.JsonMerge", f"the third argument must be a boolean, got {to_json(deep)}")
    if deep:
        raise _fail("States.JsonMerge", "only the shallow merging mode is supported; the third argument must be false")
    return {**first, **second}


def _math_random(call: Intrinsic, values: list[Any], rng: random.Random) -> int:
    numbers = []
    for value, what in zip(values, ("the start", "the end", "the seed"), strict=False):
        if not _is_number(value):
            raise _fail("States.MathRandom", f"{what} must be a number, got {to_json(value)}")
        numbers.append(_java_round(value))
    start, end = numbers[0], numbers[1]
    if start >= end:
        raise _fail("States.MathRandom", f"the start ({start}) must be less than the end ({end})")
    if len(numbers) == 3:
        return start + _JavaRandom(numbers[2]).next_int(end - start)
    return rng.randrange(start, end)


def _math_add(call: Intrinsic, values: list[Any], rng: random.Random) -> int:
    for value in values:
        if not _is_number(value):
            raise _fail("States.MathAdd", f"the arguments must be numbers, got {to_json(value)}")
    return _java_round(values[0]) + _java_round(values[1])


def _string_split(call: Intrinsic, values: list[Any], rng: random.Random) -> list[str]:
    text = _string("States.StringSplit", values[0], "the first argument")
    delimiters = _string("States.StringSplit", values[1], "the delimiter")
    if not delimiters:
        return [text] if text else []
    pattern = "[" + re.escape(delimiters) + "]"
    return [piece for piece in re.split(pattern, text) if piece]


def _uuid(call: Intrinsic, values: list[Any], rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


class _JavaRandom:
    """java.util.Random, so that a seeded States.MathRandom gives the same number as on AWS's JVM."""

    _MULTIPLIER = 0x5DEECE66D
    _MASK = (1 << 48) - 1

    def __init__(self, seed: int) -> None:
        self._seed = (seed ^ self._MULTIPLIER) & self._MASK

    def _next(self, bits: int) -> int:
        self._seed = (self._seed * self._MULTIPLIER + 0xB) & self._MASK
        value = self._seed >> (48 - bits)
        return value - (1 << 32) if value >= 1 << 31 else value

    def next_int(self, bound: int) -> int:
        r = self._next(31)
        m = bound - 1
        if bound & m == 0:
            return (bound * r) >> 31
        u = r
        r = u % bound
        while u - r + m >= 1 << 31:  # the int overflow Java checks for
            u = self._next(31)
            r = u % bound
        return r


_Function = Callable[[Intrinsic, list[Any], random.Random], Any]

# name -> (minimum arguments, maximum arguments or None for any number, implementation)
_FUNCTIONS: dict[str, tuple[int, int | None, _Function]] = {
    "States.Format": (1, None, _format),
    "States.StringToJson": (1, 1, _string_to_json),
    "States.JsonToString": (1, 1, _json_to_string),
    "States.Array": (0, None, _array_of),
    "States.ArrayPartition": (2, 2, _array_partition),
    "States.ArrayContains": (2, 2, _array_contains),
    "States.ArrayRange": (3, 3, _array_range),
    "States.ArrayGetItem": (2, 2, _array_get_item),
    "States.ArrayLength": (1, 1, _array_length),
    "States.ArrayUnique": (1, 1, _array_unique),
    "States.Base64Encode": (1, 1, _base64_encode),
    "States.Base64Decode": (1, 1, _base64_decode),
    "States.Hash": (2, 2, _hash),
    "States.JsonMerge": (3, 3, _json_merge),
    "States.MathRandom": (2, 3, _math_random),
    "States.MathAdd": (2, 2, _math_add),
    "States.StringSplit": (2, 2, _string_split),
    "States.UUID": (0, 0, _uuid),
}


# --- parsing ----------------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, message: str, at: int | None = None) -> IntrinsicSyntaxError:
        where = self.pos if at is None else at
        return IntrinsicSyntaxError(f"{message} (at position {where})")

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_spaces(self) -> None:
        while self.peek() in (" ", "\t", "\n", "\r"):
            self.pos += 1

    def call(self, depth: int) -> Intrinsic:
        start = self.pos
        match = _CALL_START.match(self.text, self.pos)
        if not match:
            raise self.error("Expected an intrinsic function call such as States.Format(...)")
        name = f"States.{match.group(1)}"
        if name not in _FUNCTIONS:
            raise self.error(f"Unknown intrinsic function '{name}'; known: {', '.join(sorted(_FUNCTIONS))}", start)
        if depth > MAX_NESTING:
            raise self.error(f"Intrinsic functions can be nested at most {MAX_NESTING} deep", start)
        self.pos = match.end()
        args: list[_Node] = []
        self.skip_spaces()
        if self.peek() == ")":
            self.pos += 1
        else:
            while True:
                args.append(self.argument(depth))
                self.skip_spaces()
                char = self.peek()
                self.pos += 1
                if char == ")":
                    break
                if char != ",":
                    found = repr(char) if char else "the end of the text"
                    raise self.error(f"Expected ',' or ')' after an argument of {name} but found {found}", self.pos - 1)
        low, high, _ = _FUNCTIONS[name]
        if len(args) < low or (high is not None and len(args) > high):
            expected = str(low) if low == high else (f"at least {low}" if high is None else f"{low} to {high}")
            raise self.error(f"{name} takes {expected} argument(s) but {len(args)} were given", start)
        return Intrinsic(self.text[start : self.pos], name, args)

    def argument(self, depth: int) -> _Node:
        self.skip_spaces()
        char = self.peek()
        if char == "'":
            return self.string()
        if char == "$":
            return self.path()
        if self.text.startswith("States.", self.pos):
            return self.call(depth + 1)
        for word, value in (("true", True), ("false", False), ("null", None)):
            if self.text.startswith(word, self.pos) and not self.text[self.pos + len(word) :][:1].isalnum():
                self.pos += len(word)
                return _Literal(value)
        match = _NUMBER.match(self.text, self.pos)
        if match and not self.text[match.end() :][:1].isalnum():
            self.pos = match.end()
            return _Literal(json.loads(match.group()))
        found = repr(char) if char else "the end of the text"
        raise self.error(
            f"Expected an argument ('string', number, true, false, null, a JSONPath or an intrinsic call) but found "
            f"{found}"
        )

    def string(self) -> _Literal:
        """A quoted literal: \\' \\{ \\} \\\\ are the only escapes; unescaped {} are Format placeholders."""
        start = self.pos
        self.pos += 1
        parts: list[str] = []
        current: list[str] = []
        while True:
            char = self.peek()
            if not char:
                raise self.error("Unterminated string literal", start)
            if char == "'":
                self.pos += 1
                break
            if char == "\\":
                escaped = self.text[self.pos + 1 : self.pos + 2]
                if not escaped:
                    raise self.error("Unterminated string literal ending in a backslash", start)
                if escaped not in ("'", "{", "}", "\\"):
                    shown = repr("\\" + escaped)
                    raise self.error(f"Invalid escape {shown} in a string literal; only \\' \\{{ \\}} \\\\ are allowed")
                current.append(escaped)
                self.pos += 2
            elif char == "{" and self.text.startswith("{}", self.pos):
                parts.append("".join(current))
                current = []
                self.pos += 2
            else:
                current.append(char)
                self.pos += 1
        parts.append("".join(current))
        return _Literal("{}".join(parts), tuple(parts))

    def path(self) -> _PathArgument:
        """A JSONPath argument runs to the next ',' or ')' outside brackets, parentheses and quotes."""
        start = self.pos
        depth = 0
        quote = ""
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if quote:
                if char == "\\":
                    self.pos += 1
                elif char == quote:
                    quote = ""
            elif char in ("'", '"') and depth > 0:
                quote = char
            elif char in "[(":
                depth += 1
            elif char in "])":
                if depth == 0:
                    break
                depth -= 1
            elif char == "," and depth == 0:
                break
            self.pos += 1
        text = self.text[start : self.pos].strip()
        try:
            compile_path(text)
        except PathSyntaxError as err:
            raise self.error(f"Invalid JSONPath argument '{text}': {err}", start) from None
        return _PathArgument(text)


def is_intrinsic(text: str) -> bool:
    """True when `text` is written as an intrinsic call (starts with States.Name( )."""
    return isinstance(text, str) and _CALL_START.match(text) is not None


@functools.lru_cache(maxsize=4096)
def compile_intrinsic(text: str) -> Intrinsic:
    """Parse an intrinsic call once; IntrinsicSyntaxError says what is wrong."""
    parser = _Parser(text)
    call = parser.call(depth=1)
    parser.skip_spaces()
    if parser.pos != len(text):
        raise parser.error(f"Unexpected text after the closing ')': {text[parser.pos:]!r}")
    return call
