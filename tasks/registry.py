"""The task registry: every module under `tasks/` that declares a `TASK` is a Lambda task.

A task module declares its name, the IAM actions it needs (in member accounts through
IrflowMemberRole, and on the central resources), whether it is destructive, and the pydantic
model of its input; its module docstring carries an example event (the block after
`Example event:`), which becomes `TaskSpec.example` so the documented example is the tested
one. Adding a task touches only its module: `all_tasks()` finds it with pkgutil. The deploy
templates build one function and one least-privilege role per spec; the local runtime
registers each handler with the engine under its placeholder.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
ACTION = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9*]+$")
EXAMPLE_MARKER = "Example event:"
NOT_TASKS = {"common", "registry"}


@dataclass(frozen=True)
class TaskSpec:
    """What the deploy templates and the local runtime need to know about one task."""

    name: str  # kebab-case, e.g. "isolate-instance"
    module: str  # "tasks.isolate_instance"
    handler: str  # the Lambda handler string, "tasks.isolate_instance.handler"
    member_permissions: tuple[str, ...]  # IAM actions done in the member account through IrflowMemberRole
    central_permissions: tuple[str, ...]  # IAM actions on central resources (table, bucket, topic, STS)
    destructive: bool
    example: dict[str, Any]
    model: str = ""  # the input model, "tasks.common.models.IncidentInput"
    evidence: bool = False  # collects evidence (snapshot, volatile data, memory)
    timeout_seconds: int = 60  # the Lambda function's timeout
    summary: str = field(default="", compare=False)

    @property
    def placeholder(self) -> str:
        """The ASL placeholder for this task's function ARN: "isolate-instance" -> "IsolateInstanceFunctionArn"."""
        return "".join(word.capitalize() for word in self.name.split("-")) + "FunctionArn"

    @classmethod
    def declare(cls, module: str, doc: str | None, *, name: str, member_permissions: tuple[str, ...],
                central_permissions: tuple[str, ...], destructive: bool, model: str, evidence: bool = False,
                timeout_seconds: int = 60) -> TaskSpec:
        """Build a module's spec: handler string from the module, example and summary from its docstring."""
        if not NAME.match(name):
            raise ValueError(f"task name {name!r} is not kebab-case")
        for action in (*member_permissions, *central_permissions):
            if not ACTION.match(action):
                raise ValueError(f"{name}: {action!r} is not an IAM action (service:Action)")
        summary = (doc or "").strip().splitlines()[0] if doc and doc.strip() else ""
        return cls(name=name, module=module, handler=f"{module}.handler",
                   member_permissions=tuple(member_permissions), central_permissions=tuple(central_permissions),
                   destructive=destructive, example=example_from_doc(doc, name), model=model, evidence=evidence,
                   timeout_seconds=timeout_seconds, summary=summary)


def example_from_doc(doc: str | None, name: str) -> dict[str, Any]:
    """The indented JSON block after `Example event:` in a docstring."""
    text = doc or ""
    at = text.find(EXAMPLE_MARKER)
    if at < 0:
        raise ValueError(f"{name}: the module docstring has no '{EXAMPLE_MARKER}' block")
    lines = text[at + len(EXAMPLE_MARKER):].splitlines()[1:]
    block: list[str] = []
    for line in lines:
        if line.strip() and not line.startswith((" ", "\t")):
            break
        block.append(line)
    try:
        example = json.loads(textwrap.dedent("\n".join(block)))
    except ValueError as error:
        raise ValueError(f"{name}: the docstring example is not JSON: {error}") from None
    if not isinstance(example, dict):
        raise ValueError(f"{name}: the docstring example must be a JSON object")
    return example


def all_tasks() -> dict[str, TaskSpec]:
    """Every task under `tasks/`, by name."""
    import tasks

    found: dict[str, TaskSpec] = {}
    for info in pkgutil.iter_modules(tasks.__path__):
        if info.name in NOT_TASKS or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"tasks.{info.name}")
        spec = getattr(module, "TASK", None)
        if isinstance(spec, TaskSpec):
            if spec.name in found:
                raise ValueError(f"two modules declare the task {spec.name!r}")
            found[spec.name] = spec
    return dict(sorted(found.items()))


def get(name: str) -> TaskSpec:
    """The task called `name`; KeyError naming the known ones otherwise."""
    tasks = all_tasks()
    if name not in tasks:
        raise KeyError(f"no task {name!r} (known: {', '.join(tasks)})")
    return tasks[name]


def load_handler(spec: TaskSpec) -> Callable[[dict[str, Any], Any], Any]:
    """The Lambda handler function named by `spec.handler`."""
    module, _, attribute = spec.handler.rpartition(".")
    handler: Callable[[dict[str, Any], Any], Any] = getattr(importlib.import_module(module), attribute)
    return handler


def load_model(spec: TaskSpec) -> Any:
    """The pydantic model class named by `spec.model`."""
    module, _, attribute = spec.model.rpartition(".")
    return getattr(importlib.import_module(module), attribute)
