"""What a definition may call: the registered tasks (by placeholder) and the known resource placeholders.

The lint rules take a `Catalog` rather than importing the registry themselves, so rule tests can
describe a tiny world of tasks, and `irflow lint` uses the real one (`Catalog.from_registry()`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

APPROVAL_TASK = "request-approval"
RECORD_TASK = "record"
# The central resources every playbook may name; the local runtime and the deploy fill them.
CENTRAL_PLACEHOLDERS = frozenset({"IncidentsTableName", "EvidenceBucketName", "NotificationTopicArn"})


@dataclass(frozen=True)
class TaskInfo:
    """A task as the rules see it."""

    name: str
    placeholder: str
    destructive: bool = False
    evidence: bool = False

    @property
    def approval(self) -> bool:
        return self.name == APPROVAL_TASK

    @property
    def records(self) -> bool:
        return self.name == RECORD_TASK


@dataclass(frozen=True)
class Catalog:
    """Registered tasks keyed by placeholder, and the placeholders that name deployed resources."""

    tasks: Mapping[str, TaskInfo] = field(default_factory=dict)
    resources: frozenset[str] = frozenset()

    @classmethod
    def of(cls, tasks: Iterable[TaskInfo], resources: Iterable[str] = ()) -> Catalog:
        return cls({t.placeholder: t for t in tasks}, frozenset(resources))

    @classmethod
    def from_registry(cls) -> Catalog:
        """The real catalog: `tasks.registry.all_tasks()` and the central resource placeholders."""
        from tasks.registry import all_tasks

        tasks = [TaskInfo(spec.name, spec.placeholder, bool(spec.destructive), bool(spec.evidence))
                 for spec in all_tasks().values()]
        return cls.of(tasks, CENTRAL_PLACEHOLDERS)

    def with_playbook(self, directory: Path) -> Catalog:
        """This catalog plus the policy placeholders the playbook in `directory` declares (playbook.yaml)."""
        import yaml

        meta_file = directory / "playbook.yaml"
        try:
            meta = yaml.safe_load(meta_file.read_text(encoding="utf-8")) if meta_file.exists() else None
        except yaml.YAMLError:
            meta = None
        declared = meta.get("placeholders") if isinstance(meta, dict) else None
        if not isinstance(declared, dict):
            return self
        return Catalog(self.tasks, self.resources | {str(v) for v in declared.values()})

    def task(self, placeholder: str | None) -> TaskInfo | None:
        return self.tasks.get(placeholder) if placeholder else None

    def known(self, placeholder: str) -> bool:
        return placeholder in self.tasks or placeholder in self.resources
