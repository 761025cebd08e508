"""Scaffolds, generated into a temporary copy of the repository, lint clean and pass their own tests there."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from irflow.authoring import scaffold

REPO = Path(__file__).resolve().parents[2]
COPIED = ("irflow", "tasks", "workflows", "scenarios", "pyproject.toml", "tests/__init__.py", "tests/tasks")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of the code the scaffolds build on (not the venv, not git), to generate into."""
    ignore = shutil.ignore_patterns("__pycache__", "*_cache", "*.pyc")
    for name in COPIED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=ignore)
        elif source.exists():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, tmp_path / name)
    return tmp_path


def in_copy(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a Python module in the copy, so `irflow` and `tasks` are imported from there."""
    return subprocess.run([sys.executable, "-m", *args], cwd=repo, capture_output=True, text=True, timeout=300,
                          check=False)


def test_a_new_task_is_registered_and_passes_its_test(repo: Path) -> None:
    done = in_copy(repo, "irflow.cli", "new", "task", "quarantine-bucket")
    assert done.returncode == 0, done.stderr
    module, test = repo / "tasks" / "quarantine_bucket.py", repo / "tests" / "tasks" / "test_quarantine_bucket.py"
    assert done.stdout.splitlines() == [f"created {module}", f"created {test}"]
    tested = in_copy(repo, "pytest", "-o", "addopts=", "-q", "-p", "no:cacheprovider", str(test))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "3 passed" in tested.stdout
    linted = in_copy(repo, "ruff", "check", "--config", str(repo / "pyproject.toml"), str(module), str(test))
    assert linted.returncode == 0, linted.stdout


def test_a_new_playbook_lints_clean_and_passes_its_test(repo: Path) -> None:
    done = in_copy(repo, "irflow.cli", "new", "playbook", "port-probe")
    assert done.returncode == 0, done.stderr
    folder = repo / "workflows" / "port-probe"
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == [
        "README.md", "definition.asl.json", "playbook.yaml", "scenarios/basic.yaml"]
    linted = in_copy(repo, "irflow.cli", "lint", "workflows/port-probe")
    assert (linted.returncode, linted.stdout) == (0, "")
    tested = in_copy(repo, "pytest", "-o", "addopts=", "-q", "-p", "no:cacheprovider", "tests/workflows/test_port_probe.py")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "2 passed" in tested.stdout


def test_names_and_existing_files_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert scaffold.main("task", "Quarantine_Bucket", tmp_path) == 2
    assert "must be kebab-case" in capsys.readouterr().err
    assert scaffold.main("task", "quarantine-bucket", tmp_path) == 0
    assert scaffold.main("task", "quarantine-bucket", tmp_path) == 2
    assert "already exists; nothing was written" in capsys.readouterr().err
