"""JSONata for irflow's ASL engine: Step Functions' ``"{% ... %}"`` templates.

A state whose query language is JSONata writes expressions as strings that start with ``{%`` and
end with ``%}``, anywhere in a field's value (the value itself, an object member, an array
element). `evaluate` walks such a value, evaluates every template with ``$states`` and the
workflow variables bound, and copies everything else unchanged. Expressions run on the
jsonata-python library with Step Functions' rules on top:

* Step Functions' own functions: ``$partition``, ``$range``, ``$hash``, ``$random`` (optional
  seed), ``$uuid`` and ``$parse``; ``$eval`` is not available (calling it fails with T1006).
  ``$random()``, ``$uuid()`` and ``$shuffle`` draw from the execution's RNG and ``$now()`` /
  ``$millis()`` read the engine's clock, so a run is reproducible.
* Failures are ``States.QueryEvaluationError`` with AWS's causes (`QueryEvaluationError`): an
  expression that returns nothing (undefined) fails its field rather than dropping it, a
  JSONata error is reported as ``<code>: <message>``, a function is an unsupported result. The
  cause names the field (``Output/result``, ``Items[1]``); the interpreter adds the
  ``An error occurred while executing the state ...`` prefix.
* Create-time checks (`validate`): a syntax error is ``INVALID_JSONATA_EXPRESSION``; a read of
  the context item (``foo``, ``$``, ``$$``) is ``UNSUPPORTED_JSONATA_EXPRESSION``, since the
  expression has no context item (the input is ``$states.input``).

Results are plain JSON values (integral numbers as ``int``). They may share structure with the
inputs they were read from (``$states.input`` is returned as is): treat them as immutable.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import lru_cache
from itertools import islice
from random import Random
from typing import Any

from jsonata import JException, Jsonata, Timebox
from jsonata.functions import Functions
from jsonata.parser import Parser
from jsonata.utils import Utils

from .errors import QUERY_EVALUATION_ERROR, StatesError
from .payload import to_json

# Runaway protection for one template: wall-clock budget and evaluation depth. The depth bound
# stays well inside Python's recursion limit (each JSONata level costs several Python frames).
TIMEOUT_MS = 5000
MAX_DEPTH = 1000
# $range refuses to build more elements than this (AWS refuses a range this long as well).
MAX_RANGE_ELEMENTS = 360_145

HASH_ALGORITHMS = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}

_NULL = Utils.NULL_VALUE


class JsonataSyntaxError(ValueError):
    """A template CreateStateMachine would refuse.

    `code` is AWS's diagnostic (``INVALID_JSONATA_EXPRESSION`` or ``UNSUPPORTED_JSONATA_EXPRESSION``),
    `detail` the sentence after it, `path` where the template sits inside the validated value
    (``""`` for the value itself, ``"/a/b[0]"`` below it). ``str(err)`` is ``"<code>: <detail>"``.
    """

    def __init__(self, code: str, detail: str, path: str = "") -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.path = path


class QueryEvaluationError(StatesError):
    """States.QueryEvaluationError from a template; `location` is the field, as AWS names it."""

    def __init__(self, cause: str, location: str) -> None:
        super().__init__(QUERY_EVALUATION_ERROR, cause)
        self.location = location


class Expression:
    """One compiled template. Shared by all executions; each thread evaluates its own copy."""

    def __init__(self, text: str, compiled: Jsonata) -> None:
        self.text = text  # the expression between the delimiters, trimmed: how AWS quotes it
        self._compiled = compiled
        self._local = threading.local()

    def run(self, bindings: Jsonata.Frame) -> Any:
        """Evaluate with `bindings` (no context item); the raw JSONata result, None = undefined."""
        instance = getattr(self._local, "instance", None)
        if instance is None:
            instance = self._local.instance = copy.copy(self._compiled)
        # jsonata-python reads its per-thread "current" instance for $now, lambdas and the
        # evaluation state; point it at this expression for the duration of the call.
        current = Jsonata.CURRENT
        previous = getattr(current, "jsonata", None)
        current.jsonata = instance
        try:
            Timebox(bindings, TIMEOUT_MS, MAX_DEPTH)
            return instance.evaluate(None, bindings)
        finally:
            current.jsonata = previous


def is_expression(value: object) -> bool:
    """A string that is a JSONata template: starts with ``{%`` and ends with ``%}``, no padding."""
    return isinstance(value, str) and len(value) >= 4 and value.startswith("{%") and value.endswith("%}")


def compile_expression(text: str) -> Expression:
    """Compile the template `text` (the full ``"{% ... %}"`` string); cached.

    Raises JsonataSyntaxError when AWS would refuse the definition for it.
    """
    if not is_expression(text):
        raise JsonataSyntaxError("INVALID_JSONATA_EXPRESSION", f"Not a JSONata template: {text!r}")
    return _compile(text[2:-2].strip())


@lru_cache(maxsize=8192)
def _compile(body: str) -> Expression:
    try:
        compiled = Jsonata(body)
    except JException as err:
        raise JsonataSyntaxError("INVALID_JSONATA_EXPRESSION", _message(err)) from None
    except RecursionError:
        raise JsonataSyntaxError("INVALID_JSONATA_EXPRESSION", "The expression is nested too deeply") from None
    except Exception as err:  # the parser lets a few Python errors through
        raise JsonataSyntaxError("INVALID_JSONATA_EXPRESSION", str(err)) from None
    if compiled.errors:
        raise JsonataSyntaxError("INVALID_JSONATA_EXPRESSION", _message(compiled.errors[0]))
    reference = _top_level_reference(compiled.ast)
    if reference is not None:
        detail = (
            "Reference to '$$' is not supported."
            if reference == "$$"
            else f"Reference to '{reference}' at the top level is not supported."
        )
        raise JsonataSyntaxError("UNSUPPORTED_JSONATA_EXPRESSION", detail)
    compiled.set_output_convert_nulls(False)  # keep null (NULL_VALUE) apart from undefined (None)
    return Expression(body, compiled)


def validate(value: object) -> None:
    """Compile every template inside the JSON `value`; raises JsonataSyntaxError (with its path)."""
    if is_expression(value):
        compile_expression(value)  # type: ignore[arg-type]
    elif isinstance(value, dict):
        for key, item in value.items():
            _validate_below(item, f"/{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _validate_below(item, f"[{index}]")


def _validate_below(value: object, step: str) -> None:
    try:
        validate(value)
    except JsonataSyntaxError as err:
        raise JsonataSyntaxError(err.code, err.detail, step + err.path) from None


def evaluate(
    value: object,
    states: dict[str, Any],
    variables: dict[str, Any],
    rng: Random,
    *,
    field: str = "",
    expect: str | None = None,
    now: datetime | None = None,
) -> Any:
    """Evaluate every template in the JSON `value`; copy everything else.

    `states` is bound as ``$states`` ({"input", "context"} and, where they exist, "result" and
    "errorOutput"), every workflow variable as ``$name``. `field` names the field `value` came
    from (``"Output"``, ``"Choices[0]/Condition"``) for error causes. `expect`, a JSONata type
    name (``"array"``, ``"boolean"``, ...), is the type a template that is the whole value must
    return. `now` is the engine's clock for ``$now()``/``$millis()`` (the wall clock without it).
    Raises QueryEvaluationError.
    """
    if not isinstance(value, dict | list | str):
        return value
    scope = _Scope(states, variables, rng, now)
    outer = getattr(_ACTIVE, "scope", None)
    _ACTIVE.scope = scope
    try:
        if is_expression(value):
            result = _evaluate_template(value, scope)  # type: ignore[arg-type]
            if expect is not None and type_name(result) != expect:
                raise _Failure(
                    value,  # type: ignore[arg-type]
                    f"returned an unexpected result type. Expected '{expect}', but was "
                    f"'{type_name(result)}' for value: {to_json(result)}",
                )
            return result
        return _walk(value, scope)
    except _Failure as failure:
        location = field + failure.where
        quoted = failure.template[2:-2].strip()
        cause = f"The JSONata expression '{quoted}' specified for the field '{location}' {failure.detail}"
        raise QueryEvaluationError(cause, location) from None
    finally:
        _ACTIVE.scope = outer


# --- evaluation ----------------------------------------------------------------------------


class _Failure(Exception):
    """An evaluation failure on its way up to the field; `where` grows as it leaves each level."""

    def __init__(self, template: str, detail: str) -> None:
        super().__init__(detail)
        self.template = template
        self.detail = detail
        self.where = ""


class _Scope:
    """What one `evaluate` call binds (``$states``, the variables, Step Functions' functions),
    and the RNG and clock those functions read while it runs."""

    def __init__(self, states: dict[str, Any], variables: dict[str, Any], rng: Random, now: datetime | None) -> None:
        self.rng = rng
        self.millis = int(now.timestamp() * 1000) if now is not None else round(time.time() * 1000)
        self.values: dict[str, Any] = {**_FUNCTIONS, "states": states}
        for name, item in variables.items():
            self.values[name] = _NULL if item is None else item

    def frame(self) -> Jsonata.Frame:
        """A fresh frame for one template (its runaway guard is per template)."""
        frame = Jsonata.Frame(None)
        frame.bindings.update(self.values)
        return frame


_ACTIVE = threading.local()  # .scope: the _Scope of the `evaluate` call running on this thread


def _scope() -> _Scope:
    scope: _Scope = _ACTIVE.scope
    return scope


def _walk(value: Any, scope: _Scope) -> Any:
    if isinstance(value, str):
        return _evaluate_template(value, scope) if is_expression(value) else value
    if isinstance(value, dict):
        copied = {}
        for key, item in value.items():
            try:
                copied[key] = _walk(item, scope)
            except _Failure as failure:
                failure.where = f"/{key}{failure.where}"
                raise
        return copied
    if isinstance(value, list):
        items = []
        for index, item in enumerate(value):
            try:
                items.append(_walk(item, scope))
            except _Failure as failure:
                failure.where = f"[{index}]{failure.where}"
                raise
        return items
    return value


def _evaluate_template(template: str, scope: _Scope) -> Any:
    try:
        expression = compile_expression(template)
    except JsonataSyntaxError as err:  # only reachable for a definition that skipped validation
        raise _Failure(template, f"threw an error during evaluation. {err.detail}") from None
    try:
        raw = expression.run(scope.frame())
    except JException as err:
        raise _Failure(template, f"threw an error during evaluation. {err.error}: {_message(err)}") from None
    except _FunctionError as err:
        raise _Failure(template, f"threw an error during evaluation. {err}") from None
    except ZeroDivisionError:
        raise _Failure(template, "threw an error during evaluation. D1001: Number out of range: Infinity") from None
    except RecursionError:
        raise _Failure(template, "threw an error during evaluation. D1011: Stack overflow") from None
    except Exception as err:  # jsonata-python lets some Python errors through ($number('abc'))
        raise _Failure(template, f"threw an error during evaluation. {err}") from None
    if raw is None:
        raise _Failure(template, "returned nothing (undefined).")
    try:
        return _to_json(raw)
    except _Unsupported:
        raise _Failure(template, "returned an unsupported result type.") from None
    except JException as err:
        raise _Failure(template, f"threw an error during evaluation. {err.error}: {_message(err)}") from None


class _FunctionError(Exception):
    """A Step Functions function refused its arguments; the message is the whole explanation."""


class _Unsupported(Exception):
    """The result holds something JSON cannot carry (a function, a regex)."""


def _to_json(value: Any) -> Any:
    """JSONata's result as plain JSON; containers are rebuilt only where something changes."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is dict:
        copied: dict[str, Any] | None = None
        for index, (key, item) in enumerate(value.items()):
            new = _to_json(item)
            if copied is None and new is not item:
                copied = dict(islice(value.items(), index))
            if copied is not None:
                copied[key] = new
        return value if copied is None else copied
    if kind is list:
        items: list[Any] | None = None
        for index, item in enumerate(value):
            new = _to_json(item)
            if items is None and new is not item:
                items = value[:index]
            if items is not None:
                items.append(new)
        return value if items is None else items
    if kind is float:
        if not math.isfinite(value):
            raise JException("D1001", -1, value)
        return int(value) if value.is_integer() else value
    if value is _NULL:
        return None
    if isinstance(value, list):  # jsonata's own sequences and arrays become plain lists
        return [_to_json(item) for item in value]
    raise _Unsupported()  # a function or a regex


# --- Step Functions' functions ---------------------------------------------------------------


class _Native(Jsonata.JFunctionCallable):
    """A Python function callable from JSONata; missing arguments arrive as None (undefined)."""

    def __init__(self, implementation: Callable[..., Any]) -> None:
        self.implementation = implementation

    def call(self, input: Any, args: Sequence[Any] | None) -> Any:
        return self.implementation(*[None if arg is _NULL else arg for arg in (args or ())])


def _function(implementation: Callable[..., Any], signature: str) -> Jsonata.JFunction:
    return Jsonata.JFunction(_Native(implementation), signature)


def _random(seed: Any = None) -> float:
    if seed is None:
        return _scope().rng.random()
    return Random(_integer(seed)).random()


def _uuid() -> str:
    return str(uuid.UUID(int=_scope().rng.getrandbits(128), version=4))


def _shuffle(items: Any) -> Any:
    if items is None:
        return None
    shuffled = list(items)
    _scope().rng.shuffle(shuffled)
    return shuffled


def _now(picture: str | None = None, timezone: str | None = None) -> Any:
    return Functions.datetime_from_millis(_scope().millis, picture, timezone)


def _millis() -> int:
    return _scope().millis


def _integer(number: Any) -> int:
    """Step Functions' functions take integers; a fraction is cut towards zero."""
    return int(number)


def _partition(items: Any, size: Any = None) -> Any:
    if items is None or size is None:
        return None
    chunk = _integer(size)
    if chunk <= 0 or not items:
        return None
    items = list(items)
    return [items[start : start + chunk] for start in range(0, len(items), chunk)]


def _range(start: Any, end: Any, step: Any = None) -> Any:
    if start is None or end is None or step is None:
        return None
    first, last, delta = _integer(start), _integer(end), _integer(step)
    if delta == 0:
        return None
    count = (last - first) // delta + 1
    if count > MAX_RANGE_ELEMENTS:
        raise _FunctionError("Expression evaluation memory limit exceeded")
    # a sequence: a single element collapses to the bare number, as on AWS; none is undefined
    return Utils.create_sequence_from_iter(first + delta * i for i in range(max(count, 0)))


def _hash(data: Any, algorithm: Any = None) -> Any:
    if data is None or algorithm is None:
        return None
    name = HASH_ALGORITHMS.get(algorithm)
    if name is None:
        raise _FunctionError(
            f"The hashing algorithm '{algorithm}' is not supported; use one of {', '.join(HASH_ALGORITHMS)}"
        )
    return hashlib.new(name, data.encode("utf-8")).hexdigest()


def _parse(text: Any) -> Any:
    if text is None:
        return None
    try:
        parsed = json.loads(text)
    except ValueError as err:
        raise _FunctionError(f"The argument of $parse is not valid JSON: {err}") from None
    return _NULL if parsed is None else parsed


_FUNCTIONS: dict[str, Any] = {
    "partition": _function(_partition, "<an:a>"),
    "range": _function(_range, "<nnn?:a<n>>"),
    "hash": _function(_hash, "<ss?:s>"),
    "random": _function(_random, "<n?:n>"),
    "uuid": _function(_uuid, "<:s>"),
    "parse": _function(_parse, "<s:x>"),
    "shuffle": _function(_shuffle, "<a:a>"),
    "now": _function(_now, "<s?s?:s>"),
    "millis": _function(_millis, "<:n>"),
    "eval": None,  # not available in Step Functions: calling it is calling a non-function (T1006)
}


# --- helpers ---------------------------------------------------------------------------------


def _message(err: Exception) -> str:
    """JSONata's message for `err`, with the wording of jsonata-js ("function", not "Object").

    jsonata-python's message table says "Object" wherever the original says "function".
    """
    if not isinstance(err, JException):
        return str(err)
    template = JException.error_codes.get(err.error)
    if template is None or "Object" not in template or template.startswith("{{{"):
        return str(err)
    fixed = re.sub(r"\{\{\w+\}\}", "{}", template.replace("Object", "function"))
    inserts = (err.current, err.expected) if err.extra is None else (err.current, err.expected, err.extra)
    try:
        return fixed.format(*inserts)
    except (IndexError, KeyError, ValueError):
        return str(err)


def type_name(value: Any) -> str:
    """The JSONata type name of a JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _top_level_reference(node: Any) -> str | None:
    """The first read of the (absent) context item in the expression tree, or None.

    Only what is evaluated against the top-level context counts: a path's first step, the
    operands of operators, function arguments, block members, a lambda's body (it keeps the
    context it was defined in), object-constructor keys and values. A path's later steps,
    predicates, sort terms and groupings run against the values before them and are not read.
    """
    if not isinstance(node, Parser.Symbol):
        return None
    kind = node.type
    if kind == "path":
        return _top_level_reference(node.steps[0]) if node.steps else None
    if kind == "name":
        return str(node.value)
    if kind == "variable":
        return "$" if node.value == "" else ("$$" if node.value == "$" else None)
    children: list[Any] = []
    if kind == "unary":
        if str(node.value) == "[":
            children = list(node.expressions or ())
        elif str(node.value) == "{":
            children = [part for pair in node.lhs_object or () for part in pair]
        else:
            children = [node.expression]
    elif kind in ("binary", "apply"):
        children = [node.lhs, node.rhs]
    elif kind in ("function", "partial"):
        children = [node.procedure, *(node.arguments or ())]
    elif kind == "lambda":
        children = [node.body]
    elif kind == "condition":
        children = [node.condition, node.then, node._else]
    elif kind == "block":
        children = list(node.expressions or ())
    elif kind == "bind":
        children = [node.rhs]
    for child in children:
        found = _top_level_reference(child)
        if found is not None:
            return found
    return None
