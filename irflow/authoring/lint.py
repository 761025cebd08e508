"""`irflow lint [PATHS] [--json]`: valid ASL and the house rules, as `file:line: rule-id message`.

Validity is checked twice: by irflow's engine (what CreateStateMachine refuses) and by
statelint (the reference ASL validator, from PyPI), each on the definition with placeholders
replaced by stand-in ARNs. The house rules are in `rules.py`. Exit status 1 on any problem.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import rules
from .catalog import Catalog
from .definition import Definition, DefinitionLoadError, load, pointer_from_dotted, pointer_from_path

DEFINITION_GLOB = "*.asl.json"
# Unreachable states are reported once, by the `unreachable-state` rule.
UNREACHABLE = re.compile(r"is not reachable|No transition found to state")
ENGINE_PROBLEM_SPLIT = re.compile(r", (?=[A-Z_]+: )")
ENGINE_LOCATION = re.compile(r"^(?:[A-Z_]+: )?(?P<message>.*?)(?: at (?P<where>/[^']*))?$", re.S)


@dataclass(frozen=True)
class Problem:
    """One line of lint output."""

    file: str
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.rule} {self.message}"


def find_definitions(paths: Iterable[Path]) -> list[Path]:
    """The definition files named by `paths`: files as given, directories searched for `*.asl.json`."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(path.rglob(DEFINITION_GLOB)))
        else:
            found.append(path)
    return found


def lint_file(path: Path, catalog: Catalog, shown: str | None = None) -> list[Problem]:
    """Every problem in one definition file, in line order (its playbook.yaml's placeholders are known)."""
    name = shown or str(path)
    try:
        definition = load(path)
    except DefinitionLoadError as err:
        rule = "plain-asl" if "placeholder" in err.message else "asl-valid"
        return [Problem(name, err.line, rule, err.message)]
    except OSError as err:
        return [Problem(name, 1, "asl-valid", f"cannot read the definition: {err.strerror}")]
    catalog = catalog.with_playbook(path.parent)
    problems = [Problem(name, definition.line_of(f.pointer), f.rule, f.message)
                for f in [*validity(definition), *rules.check(definition, catalog)]]
    return sorted(problems, key=lambda p: (p.line, p.rule))


def validity(definition: Definition) -> Iterator[rules.Finding]:
    """ASL problems from the engine's create-time validation, then statelint's on lines the engine left clean."""
    from statelint.config import Config
    from statelint.linter import Linter
    from statelint.problem import ProblemType

    from irflow.engine.errors import DefinitionError
    from irflow.engine.validation import validate_definition

    data = definition.substituted()
    engine_lines: set[int] = set()
    try:
        validate_definition(data)
    except DefinitionError as err:
        text = err.message.removeprefix("Invalid State Machine Definition: '").removesuffix("'")
        for part in ENGINE_PROBLEM_SPLIT.split(text):
            if UNREACHABLE.search(part):
                continue
            match = ENGINE_LOCATION.match(part)
            assert match is not None  # the pattern matches any text
            pointer = pointer_from_path(match.group("where") or "/")
            engine_lines.add(definition.line_of(pointer))
            yield rules.Finding("asl-valid", pointer, match.group("message"))
    # statelint wants a float BackoffRate (2.0); AWS takes an integer too, so that check is off.
    for message in Linter.validate(data, Config({ProblemType.FLOAT})):
        if UNREACHABLE.search(message):
            continue
        at = message.find("State Machine")
        pointer = pointer_from_dotted(data, message[at + len("State Machine"):]) if at != -1 else ()
        if definition.line_of(pointer) not in engine_lines:
            yield rules.Finding("asl-statelint", pointer, message)


def run(paths: list[str], as_json: bool, catalog: Catalog | None = None, out: Any = None) -> int:
    """Lint `paths` (default: every playbook under `workflows/`), print the problems, return the exit status."""
    out = out or sys.stdout
    catalog = catalog or Catalog.from_registry()
    targets = find_definitions([Path(p) for p in paths] or [Path("workflows")])
    problems: list[Problem] = []
    for path in targets:
        problems.extend(lint_file(path, catalog, _shown(path)))
    if as_json:
        json.dump({"files": [_shown(p) for p in targets], "problems": [
            {**asdict(p), "reason": rules.REASONS.get(p.rule, "")} for p in problems]}, out, indent=2)
        out.write("\n")
    else:
        for problem in problems:
            print(problem, file=out)
        if not targets:
            print("irflow lint: no definitions (*.asl.json) found", file=sys.stderr)
        else:  # a closing line on stderr, so stdout stays one `file:line: rule message` per problem
            count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}" if problems else "no problems"
            print(f"irflow lint: {len(targets)} definition{'s' if len(targets) != 1 else ''}, {count}",
                  file=sys.stderr)
    return 1 if problems else 0


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def list_rules(out: Any = None) -> int:
    for rule, reason in rules.REASONS.items():
        print(f"{rule}: {reason}", file=out or sys.stdout)
    return 0


def register(subparsers: Any) -> None:
    """Add `irflow lint` to the CLI."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "lint", help="check playbook definitions: valid ASL and the house rules",
        description="Check definitions (default: workflows/) for valid ASL and the house rules. "
                    "Prints file:line: rule-id message; exit 1 on any problem.")
    parser.add_argument("paths", nargs="*", metavar="PATH", help="definition files or folders to search for *.asl.json")
    parser.add_argument("--json", action="store_true", help="one JSON document, for CI")
    parser.add_argument("--rules", action="store_true", help="list the rules with their reasons and exit")
    parser.set_defaults(run=lambda args: list_rules() if args.rules else run(args.paths, args.json))
