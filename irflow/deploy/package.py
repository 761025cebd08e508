"""`irflow package`: the Lambda code as one deterministic zip.

The zip holds `tasks/` and the third-party packages the tasks import that Lambda lacks. The
Python runtime already has boto3 (with botocore, s3transfer, jmespath, urllib3, dateutil, six)
and the Powertools layer brings Powertools with its extras (pydantic among them), so neither is
packed. Everything else a task imports outside the standard library is copied from the installed
distribution, with what it requires in turn.

Deterministic: entries sorted, fixed timestamps and permissions, no bytecode, so two builds of
the same tree give the same bytes (and the same S3 key, so an unchanged build deploys nothing).
"""

from __future__ import annotations

import ast
import hashlib
import io
import re
import sys
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path, PurePosixPath

# Distributions the Lambda Python runtime provides (the AWS SDK and what it depends on).
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer", "jmespath", "urllib3", "python-dateutil", "six"})
# Distributions in the Powertools v3 layer: Powertools with the `all` extras it is built with.
LAYER_PROVIDED = frozenset({
    "aws-lambda-powertools", "pydantic", "pydantic-core", "annotated-types", "typing-extensions",
    "typing-inspection", "aws-xray-sdk", "wrapt", "fastjsonschema", "aws-encryption-sdk", "jsonpath-ng",
})
# Compiled parts a distribution works without, left out of the zip: PyYAML's libyaml binding is an
# optional accelerator (without it `yaml.__with_libyaml__` is False and the pure-Python loader reads
# the log-detection rules).
OPTIONAL_COMPILED = {"pyyaml": ("yaml/_yaml.",)}
# Files of `tasks/` that are not code but ship with it (scripts run through SSM, data files).
DATA_SUFFIXES = frozenset({".json", ".yaml", ".yml", ".txt", ".sh", ".ps1"})
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
SIZE_TARGET = 1_000_000


class PackageError(Exception):
    """The code cannot be packaged for Lambda (a compiled dependency, a missing distribution)."""


@dataclass(frozen=True)
class Package:
    """A built zip: its bytes and what went into it."""

    data: bytes
    files: tuple[str, ...]
    vendored: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _task_sources(root: Path) -> list[Path]:
    tasks = root / "tasks"
    if not tasks.is_dir():
        raise PackageError(f"no tasks/ directory under {root}")
    found = []
    for path in tasks.rglob("*"):
        if not path.is_file() or "__pycache__" in path.parts or any(p.startswith(".") for p in path.parts):
            continue
        if path.suffix == ".py" or path.suffix in DATA_SUFFIXES:
            found.append(path)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def imported_top_levels(sources: Iterable[Path]) -> set[str]:
    """Top-level module names the given Python files import (absolute imports only)."""
    names: set[str] = set()
    for path in sources:
        if path.suffix != ".py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def third_party_distributions(modules: Iterable[str]) -> list[str]:
    """The distributions to vendor for these imports, with their requirements, minus what Lambda has."""
    by_module = metadata.packages_distributions()
    provided = RUNTIME_PROVIDED | LAYER_PROVIDED
    wanted: list[str] = []
    for module in sorted(set(modules)):
        if module in sys.stdlib_module_names or module == "tasks" or module == "__future__":
            continue
        dists = by_module.get(module)
        if not dists:
            raise PackageError(f"tasks import {module!r}, which no installed distribution provides")
        wanted.extend(dists)
    seen: set[str] = set()
    order: list[str] = []
    queue = [_normalise(d) for d in wanted]
    while queue:
        name = queue.pop(0)
        if name in seen or name in provided:
            continue
        seen.add(name)
        order.append(name)
        for requirement in metadata.distribution(name).requires or []:
            if "extra ==" in requirement:
                continue
            queue.append(_normalise(re.split(r"[\s;<>=!~\[(]", requirement, maxsplit=1)[0]))
    return sorted(order)


def _distribution_files(name: str) -> Iterator[tuple[str, Path]]:
    dist = metadata.distribution(name)
    for file in dist.files or []:
        posix = PurePosixPath(str(file))
        if posix.parts and (posix.parts[0].startswith("..") or "__pycache__" in posix.parts):
            continue
        if posix.suffix in {".pyc", ".pyo"} or posix.name in {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}:
            continue
        if posix.suffix in {".so", ".pyd", ".dylib"}:
            if posix.as_posix().startswith(OPTIONAL_COMPILED.get(name, ())):
                continue
            raise PackageError(f"{name} contains compiled code ({posix}); build it for the Lambda platform "
                               "or provide it as a layer")
        yield posix.as_posix(), Path(str(dist.locate_file(file)))


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # Unix, so the permission bits below are honoured everywhere
    info.external_attr = (0o100644 & 0xFFFF) << 16
    return info


def build(root: Path) -> Package:
    """Zip `root/tasks` and its vendored dependencies, deterministically."""
    sources = _task_sources(root)
    entries: dict[str, Path] = {p.relative_to(root).as_posix(): p for p in sources}
    vendored = third_party_distributions(imported_top_levels(sources))
    for dist in vendored:
        for arcname, path in _distribution_files(dist):
            entries.setdefault(arcname, path)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for arcname in sorted(entries):
            archive.writestr(_entry(arcname), entries[arcname].read_bytes(), compresslevel=9)
    return Package(buffer.getvalue(), tuple(sorted(entries)), tuple(vendored))
