"""The AWS-recorded conformance cases, and their Lambda functions as engine handlers.

The data lives outside the repository (``<repo>/../shared/conformance``, read-only; see its
README). Each case's ``lambdas`` describe what the test's functions did on AWS in a small
vocabulary; `lambda_handler` turns one description into a Python handler for the engine.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DATA_ENV = "IRFLOW_CONFORMANCE_DATA"


def data_dir() -> Path:
    """Where the recordings are: ``$IRFLOW_CONFORMANCE_DATA`` or ``<repo>/../shared/conformance``."""
    return Path(os.environ.get(DATA_ENV) or REPO.parent / "shared" / "conformance")


def missing_data_reason() -> str | None:
    """Why the cases cannot be loaded, or None when they can."""
    index = data_dir() / "index.json"
    if not index.is_file():
        return f"conformance data not found: {index} is missing (set {DATA_ENV} to its directory)"
    return None


@dataclass(frozen=True)
class Case:
    """One recorded execution (fields as in the data README)."""

    id: str
    category: str
    definition: dict[str, Any] | None
    input: Any
    expected: dict[str, Any]
    lambdas: dict[str, dict[str, Any]]
    normalise: dict[str, Any]
    skip: tuple[str, ...]

    @property
    def has_history(self) -> bool:
        return self.expected.get("history") is not None


def _skip_reasons(raw: Any) -> tuple[str, ...]:
    if not raw:
        return ()
    if isinstance(raw, str):
        return (raw,)
    if isinstance(raw, dict):
        return tuple(str(v) for v in raw.values())
    return tuple(str(item) for item in raw)


@cache
def categories() -> tuple[str, ...]:
    """Category names in the order of ``index.json``."""
    index = json.loads((data_dir() / "index.json").read_text())
    return tuple(index["categories"])


@cache
def load_category(category: str) -> tuple[Case, ...]:
    """All cases of one category, runnable or not."""
    index = json.loads((data_dir() / "index.json").read_text())
    raw_cases = json.loads((data_dir() / index["categories"][category]["file"]).read_text())
    return tuple(
        Case(
            id=raw["id"],
            category=raw.get("category", category),
            definition=raw.get("definition"),
            input=raw.get("input"),
            expected=raw.get("expected") or {},
            lambdas=raw.get("lambdas") or {},
            normalise=raw.get("normalise") or {},
            skip=_skip_reasons(raw.get("skip")),
        )
        for raw in raw_cases
    )


def load_cases(category: str | None = None, contains: str | None = None) -> list[Case]:
    """Cases of every category (or one), optionally only those whose id contains `contains`."""
    chosen = [category] if category else list(categories())
    return [c for cat in chosen for c in load_category(cat) if contains is None or contains in c.id]


# --- Lambda behaviour vocabulary -> handlers ------------------------------------------------

Handler = Callable[[Any, Any], Any]


def lambda_handler(behaviour: dict[str, Any]) -> Handler:
    """A handler doing what `behaviour` says the recorded function did.

    ``returnsInput`` / ``returns`` / ``returnsRaw`` (text, or ``{"repeat", "times"}``) give the
    response payload, ``raises`` an unhandled error (the engine formats its payload the way the
    Python runtime does), ``delaySeconds`` the (virtual) time the invocation takes.
    """
    from irflow.engine import LambdaFunctionError, RawPayload

    delay = float(behaviour.get("delaySeconds", 0))

    def handler(event: Any, context: Any) -> Any:
        if delay:
            context.simulate_duration(delay)
        if "raises" in behaviour:
            error = behaviour["raises"]
            raise LambdaFunctionError(error["errorType"], error["errorMessage"], error.get("stackTrace"))
        if "returnsRaw" in behaviour:
            raw = behaviour["returnsRaw"]
            text = raw["repeat"] * int(raw["times"]) if isinstance(raw, dict) else raw
            return RawPayload(text.encode("utf-8"))
        if "returns" in behaviour:
            return copy.deepcopy(behaviour["returns"])
        if behaviour.get("returnsInput"):
            return event
        raise ValueError(f"unknown Lambda behaviour {behaviour!r}")

    return handler


def register_lambdas(engine: Any, case: Case) -> None:
    """Register the case's functions under their ARNs; any other function does not exist."""
    for arn, function in case.lambdas.items():
        behaviour = function["behaviour"]
        if "functionTimeoutSeconds" in behaviour:
            engine.register_lambda(arn, lambda_handler(behaviour), timeout_seconds=behaviour["functionTimeoutSeconds"])
        else:
            engine.register_lambda(arn, lambda_handler(behaviour))
