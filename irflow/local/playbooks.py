"""Playbooks as the local runtime reads them: `workflows/<name>/` definition, triggers and policy.

`definition.asl.json` is plain ASL with `${Placeholder}` inside string values; `playbook.yaml`
gives the name, description, `triggers` (EventBridge event patterns), `policy`, and
`placeholders`, the mapping from policy keys (dotted for nested ones) to the placeholders they
fill. `render` fills every placeholder the way CloudFormation's `DefinitionSubstitutions` does
(text replacement in the definition) and refuses a definition that still has one unfilled.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


class PlaybookError(Exception):
    """A playbook that cannot be loaded or rendered; one line for the user."""


@dataclass
class Playbook:
    name: str
    description: str
    directory: Path
    definition: str  # the template, placeholders unfilled
    triggers: list[dict[str, Any]]
    policy: dict[str, Any]
    placeholders: dict[str, str] = field(default_factory=dict)  # policy key -> placeholder

    def placeholder_names(self) -> set[str]:
        return set(PLACEHOLDER.findall(self.definition))

    def policy_values(self) -> dict[str, str]:
        """Placeholder -> value, from the policy (booleans as true/false, as ASL strings)."""
        values = {}
        for key, placeholder in self.placeholders.items():
            value: Any = self.policy
            for part in key.split("."):
                if not isinstance(value, dict) or part not in value:
                    raise PlaybookError(f"playbook {self.name}: placeholder {placeholder} names policy key {key!r}, "
                                        "which the policy does not have")
                value = value[part]
            values[placeholder] = json.dumps(value) if isinstance(value, bool) else str(value)
        return values

    def render(self, values: dict[str, str]) -> str:
        """The definition with every `${Name}` replaced (values are JSON-escaped into their strings)."""
        missing = sorted(self.placeholder_names() - set(values))
        if missing:
            raise PlaybookError(f"playbook {self.name}: no value for placeholder(s) {', '.join(missing)}")
        text = PLACEHOLDER.sub(lambda m: json.dumps(values[m.group(1)])[1:-1], self.definition)
        json.loads(text)
        return text


def load(directory: Path) -> Playbook:
    """Read one `workflows/<name>/` directory."""
    import yaml

    try:
        meta = yaml.safe_load((directory / "playbook.yaml").read_text(encoding="utf-8")) or {}
        definition = (directory / "definition.asl.json").read_text(encoding="utf-8")
    except (OSError, yaml.YAMLError) as error:
        raise PlaybookError(f"playbook {directory.name}: {error}") from error
    try:
        json.loads(definition)
    except ValueError as error:
        raise PlaybookError(f"playbook {directory.name}: definition.asl.json is not JSON: {error}") from error
    triggers = meta.get("triggers") or []
    if not isinstance(triggers, list) or not all(isinstance(t, dict) for t in triggers):
        raise PlaybookError(f"playbook {directory.name}: triggers must be a list of EventBridge event patterns")
    placeholders = meta.get("placeholders") or {}
    if not isinstance(placeholders, dict):
        raise PlaybookError(f"playbook {directory.name}: placeholders must map policy keys to placeholder names")
    return Playbook(
        name=str(meta.get("name") or directory.name),
        description=str(meta.get("description") or ""),
        directory=directory,
        definition=definition,
        triggers=triggers,
        policy=meta.get("policy") or {},
        placeholders={str(k): str(v) for k, v in placeholders.items()},
    )


def load_all(root: Path) -> dict[str, Playbook]:
    """Every playbook under `root` (a directory with both files), by name."""
    found = {}
    for directory in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        if (directory / "playbook.yaml").exists() and (directory / "definition.asl.json").exists():
            playbook = load(directory)
            found[playbook.name] = playbook
    return found
