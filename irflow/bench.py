"""`make bench`: irflow's ASL engine beside moto's own Step Functions executor, same machine, same run.

The baseline is moto 5.2.5 running state machines for real (``mock_aws(config={"stepfunctions":
{"execute_state_machine": True}, "lambda": {"use_docker": False}})``; without Docker moto's
Lambda answers every invoke with its input, so both sides run identity functions). Each side is
driven through its public API the way a test would: moto through boto3 (its only interface),
irflow through `Engine`; an execution is timed from StartExecution until DescribeExecution shows
the end (for moto: joining its execution thread, so no polling delay is counted). Each
measurement is warmed up, repeated, and the median reported; a ratio is moto time / irflow time.

The benchmark is a list of named sections, each printing one row; add a `Section` to `SECTIONS`.

    python -m irflow.bench [--only SUBSTR]
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import platform
import re
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from irflow.engine import Engine

ROLE_ARN = "arn:aws:iam::{account}:role/irflow-bench"
REGION = "us-east-1"
MOTO_CONFIG: Any = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
EXECUTION_WAIT_SECONDS = 60.0
LAMBDA_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


# --- measuring ------------------------------------------------------------------------------


def median_seconds(action: Callable[[], object], *, warmup: int, repeat: int) -> float:
    """Median wall-clock time of `action` over `repeat` runs, after `warmup` untimed runs."""
    for _ in range(warmup):
        action()
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        action()
        samples.append(time.perf_counter() - began)
    return statistics.median(samples)


@dataclass
class Row:
    """One printed line: irflow's figure, moto's (if the section has a baseline), a target."""

    name: str
    unit: str
    irflow: float
    moto: float | None = None
    higher_is_better: bool = False
    target: str = ""
    met: bool | None = None
    note: str = ""

    @property
    def speedup(self) -> float | None:
        """How many times faster irflow is (moto time / irflow time)."""
        if self.moto is None or not self.irflow or not self.moto:
            return None
        return self.irflow / self.moto if self.higher_is_better else self.moto / self.irflow


# --- the two executors behind one small interface ---------------------------------------------


class IrflowBackend:
    """irflow's engine, virtual clock, with an identity Lambda function."""

    label = "irflow"

    def __init__(self) -> None:
        self.engine = Engine(clock="virtual")
        self.role = ROLE_ARN.format(account=self.engine.account_id)
        self.lambda_arn = self.engine.register_lambda("bench-identity", lambda event, _context: event)
        self._names = itertools.count()

    def create(self, definition: dict[str, Any]) -> str:
        name = f"sm-{next(self._names)}"
        created = self.engine.create_state_machine(name=name, definition=json.dumps(definition), roleArn=self.role)
        return str(created["stateMachineArn"])

    def run(self, arn: str, input_text: str) -> str:
        """Start an execution, let it end, and return its status."""
        started = self.engine.start_execution(stateMachineArn=arn, name=f"x-{next(self._names)}", input=input_text)
        self.engine.run_until_idle()
        return str(self.engine.describe_execution(executionArn=started["executionArn"])["status"])

    def run_with_history(self, arn: str, input_text: str) -> str:
        started = self.engine.start_execution(stateMachineArn=arn, name=f"x-{next(self._names)}", input=input_text)
        self.engine.run_until_complete()
        status = str(self.engine.describe_execution(executionArn=started["executionArn"])["status"])
        self.engine.get_execution_history(executionArn=started["executionArn"], maxResults=1000)
        return status

    def close(self) -> None:
        self.engine.close()


class MotoBackend:
    """moto's Step Functions executor in-process, with a Lambda function (no Docker)."""

    label = "moto"

    def __init__(self) -> None:
        import boto3
        from moto import mock_aws
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.stepfunctions.parser.utils import TMP_THREADS

        logging.getLogger("moto").setLevel(logging.CRITICAL)  # it logs every failed execution
        self._threads: list[threading.Thread] = TMP_THREADS
        self._mock = mock_aws(config=MOTO_CONFIG)
        self._mock.start()
        self.role = ROLE_ARN.format(account=DEFAULT_ACCOUNT_ID)
        boto3.client("iam", region_name=REGION).create_role(
            RoleName=self.role.rsplit("/", 1)[-1], AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST)
        )
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        self.lambda_arn = boto3.client("lambda", region_name=REGION).create_function(
            FunctionName="bench-identity", Runtime="python3.11", Role=self.role, Handler="index.handler",
            Code={"ZipFile": _identity_zip()},
        )["FunctionArn"]
        self._names = itertools.count()

    def create(self, definition: dict[str, Any]) -> str:
        name = f"sm-{next(self._names)}"
        return self.sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=self.role)[
            "stateMachineArn"
        ]

    def _start_and_wait(self, arn: str, input_text: str) -> str | None:
        """Start an execution and join moto's worker thread; the execution ARN, or None if it hung."""
        first_new = len(self._threads)
        started = self.sfn.start_execution(stateMachineArn=arn, name=f"x-{next(self._names)}", input=input_text)
        worker = self._threads[first_new]  # the execution's own thread is the first one it starts
        worker.join(EXECUTION_WAIT_SECONDS)
        return None if worker.is_alive() else started["executionArn"]

    def run(self, arn: str, input_text: str) -> str:
        execution = self._start_and_wait(arn, input_text)
        if execution is None:
            return "HUNG"
        return self.sfn.describe_execution(executionArn=execution)["status"]

    def run_with_history(self, arn: str, input_text: str) -> str:
        execution = self._start_and_wait(arn, input_text)
        if execution is None:
            return "HUNG"
        status = self.sfn.describe_execution(executionArn=execution)["status"]
        self.sfn.get_execution_history(executionArn=execution, maxResults=1000)
        return status

    def api_round_trip_seconds(self, arn: str) -> float:
        """What one boto3 call into moto costs (part of every moto figure)."""
        return median_seconds(lambda: self.sfn.describe_state_machine(stateMachineArn=arn), warmup=5, repeat=50)

    def close(self) -> None:
        self._mock.stop()


def _identity_zip() -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


@dataclass
class Bench:
    """The executors, made on first use and shared by the sections."""

    _irflow: IrflowBackend | None = None
    _moto: MotoBackend | None = None

    @property
    def irflow(self) -> IrflowBackend:
        if self._irflow is None:
            self._irflow = IrflowBackend()
        return self._irflow

    @property
    def moto(self) -> MotoBackend:
        if self._moto is None:
            self._moto = MotoBackend()
        return self._moto

    @property
    def moto_started(self) -> bool:
        return self._moto is not None

    def close(self) -> None:
        for backend in (self._irflow, self._moto):
            if backend is not None:
                backend.close()


# --- sections -------------------------------------------------------------------------------


def pass_chain(states: int) -> dict[str, Any]:
    chain: dict[str, Any] = {f"S{i}": {"Type": "Pass", "Next": f"S{i + 1}"} for i in range(states - 1)}
    chain[f"S{states - 1}"] = {"Type": "Pass", "End": True}
    return {"StartAt": "S0", "States": chain}


def two_lambda_machine(function_arn: str) -> dict[str, Any]:
    """Five states: a Lambda task (function ARN), a Pass, a lambda:invoke task, a Choice, a Succeed."""
    return {
        "StartAt": "Enrich",
        "States": {
            "Enrich": {"Type": "Task", "Resource": function_arn, "Next": "Tag"},
            "Tag": {"Type": "Pass", "Result": "checked", "ResultPath": "$.stage", "Next": "Contain"},
            "Contain": {
                "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": function_arn, "Payload.$": "$"},
                "OutputPath": "$.Payload", "Next": "Decide",
            },
            "Decide": {"Type": "Choice", "Choices": [{"Variable": "$.severity", "NumericGreaterThan": 5, "Next": "Done"}],
                       "Default": "Done"},
            "Done": {"Type": "Succeed"},
        },
    }


INLINE_MAP = {
    "StartAt": "Each",
    "States": {"Each": {
        "Type": "Map", "ItemsPath": "$.items", "End": True,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Item",
                          "States": {"Item": {"Type": "Pass", "End": True}}},
    }},
}


def _execution_seconds(backend: IrflowBackend | MotoBackend, definition: dict[str, Any], input_text: str,
                       warmup: int, repeat: int) -> float:
    arn = backend.create(definition)

    def once() -> None:
        status = backend.run(arn, input_text)
        if status != "SUCCEEDED":
            raise RuntimeError(f"{backend.label}: benchmark execution ended {status}")

    return median_seconds(once, warmup=warmup, repeat=repeat)


def section_pass_chain(bench: Bench) -> Row:
    states = 200
    definition = pass_chain(states)
    irflow = _execution_seconds(bench.irflow, definition, '{"n": 1}', warmup=5, repeat=50) / states
    moto = _execution_seconds(bench.moto, definition, '{"n": 1}', warmup=2, repeat=15) / states
    ratio = moto / irflow
    return Row(f"Pass chain, {states} states: per transition", "us", irflow * 1e6, moto * 1e6,
               target=">= 20x", met=ratio >= 20, note="execution time / 200 (start to describe)")


def section_two_lambdas(bench: Bench) -> Row:
    payload = '{"severity": 7, "finding": "i-0abc"}'
    irflow = _execution_seconds(bench.irflow, two_lambda_machine(bench.irflow.lambda_arn), payload, warmup=20, repeat=300)
    moto = _execution_seconds(bench.moto, two_lambda_machine(bench.moto.lambda_arn), payload, warmup=3, repeat=30)
    return Row("5 states, 2 Lambda tasks: per execution", "ms", irflow * 1e3, moto * 1e3,
               target="irflow < 1 ms", met=irflow < 1e-3)


def section_inline_map(bench: Bench) -> Row:
    items = json.dumps({"items": list(range(1000))})
    irflow = _execution_seconds(bench.irflow, INLINE_MAP, items, warmup=1, repeat=10)
    moto = _execution_seconds(bench.moto, INLINE_MAP, items, warmup=1, repeat=3)
    return Row("Inline Map, 1,000 items: per execution", "ms", irflow * 1e3, moto * 1e3)


NEEDS_REAL_TIME_OR_SERVICES = re.compile(r'"Resource"|"Type": "Wait"|"Retry"|TimeoutSeconds|HeartbeatSeconds')


def conformance_subset() -> list[tuple[dict[str, Any], Any, str]]:
    """Runnable recorded cases both executors can run at full speed: no Task (no Lambda or other
    service), no Wait, Retry or timeouts (moto sleeps for real). (definition, input, expected status)."""
    from tests.conformance.cases import load_cases, missing_data_reason

    if reason := missing_data_reason():
        raise LookupError(reason)
    return [
        (case.definition, case.input, str(case.expected.get("status")))
        for case in load_cases()
        if not case.skip and not case.lambdas and case.definition is not None
        and not NEEDS_REAL_TIME_OR_SERVICES.search(json.dumps(case.definition))
    ]


def _run_cases(backend: IrflowBackend | MotoBackend, cases: list[tuple[dict[str, Any], Any, str]]) -> tuple[float, Counter[str]]:
    """Create, run, describe and read the history of every case; (seconds, status matches/misses)."""
    outcome: Counter[str] = Counter()
    began = time.perf_counter()
    for definition, case_input, expected in cases:
        try:
            arn = backend.create(definition)
        except Exception:  # a refused definition is that case's outcome
            outcome["match" if expected == "CREATE_FAILED" else "miss"] += 1
            continue
        try:
            status = backend.run_with_history(arn, json.dumps(case_input))
        except Exception:  # an executor that errors on a case has still spent the time
            status = "ERROR"
        outcome["match" if status == expected else "miss"] += 1
    return time.perf_counter() - began, outcome


def section_conformance(bench: Bench) -> Row:
    try:
        cases = conformance_subset()
    except (ImportError, LookupError) as exc:
        return Row("Conformance cases", "cases/s", 0.0, note=f"skipped: {exc}")
    _run_cases(bench.irflow, cases[:20])  # warm-up
    _run_cases(bench.moto, cases[:20])
    irflow_runs = [_run_cases(bench.irflow, cases) for _ in range(3)]
    irflow_seconds = statistics.median(seconds for seconds, _ in irflow_runs)
    moto_seconds, moto_outcome = _run_cases(bench.moto, cases)  # one pass: it takes seconds
    irflow_outcome = irflow_runs[0][1]
    return Row(
        f"Conformance cases ({len(cases)} with no Task/Wait/Retry/timeout)", "cases/s",
        len(cases) / irflow_seconds, len(cases) / moto_seconds, higher_is_better=True,
        note=f"status matches AWS: irflow {irflow_outcome['match']}/{len(cases)}, moto {moto_outcome['match']}/{len(cases)}",
    )


HEADLINE_SCENARIO = "scenarios/ssh-brute-force.yaml"


def section_simulate_headline(bench: Bench) -> Row:
    """`irflow simulate` of the headline scenario as a whole process: what `make run` costs."""
    import subprocess

    command = [sys.executable, "-m", "irflow.cli", "simulate", HEADLINE_SCENARIO, "--json"]

    def once() -> None:
        subprocess.run(command, check=True, capture_output=True)

    seconds = median_seconds(once, warmup=1, repeat=3)
    return Row("irflow simulate (headline scenario), whole process", "s", seconds,
               target="< 2 s", met=seconds < 2.0, note=" ".join(command[2:]))


def _import_seconds(module: str) -> float:
    """Cumulative import time of `module` in a fresh interpreter, from `python -X importtime`."""
    import subprocess

    done = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"],
                          check=True, capture_output=True, text=True)
    for line in reversed(done.stderr.splitlines()):
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[2] == module:
            return int(parts[1]) / 1e6
    raise RuntimeError(f"no importtime line for {module}")


def section_task_imports(bench: Bench) -> Row:
    """Import time of every task handler module: the Lambda cold start before the handler runs."""
    from tasks.registry import all_tasks

    timings = {spec.module: statistics.median(_import_seconds(spec.module) for _ in range(3))
               for spec in all_tasks().values()}
    slowest = max(timings, key=lambda m: timings[m])
    worst = timings[slowest]
    listing = ", ".join(f"{m.split('.')[-1]} {t * 1e3:.0f}" for m, t in sorted(timings.items()))
    return Row(f"Task module import, slowest of {len(timings)} ({slowest})", "ms", worst * 1e3,
               target="< 300 ms each", met=worst < 0.3, note=f"ms per module: {listing}")


@dataclass(frozen=True)
class Section:
    name: str
    measure: Callable[[Bench], Row]


SECTIONS: list[Section] = [
    Section("pass-chain", section_pass_chain),
    Section("two-lambdas", section_two_lambdas),
    Section("inline-map", section_inline_map),
    Section("conformance", section_conformance),
    Section("simulate-headline", section_simulate_headline),
    Section("task-imports", section_task_imports),
]


# --- output -----------------------------------------------------------------------------------


def _figure(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    digits = 0 if value >= 100 else 1 if value >= 10 else 2 if value >= 1 else 3
    return f"{value:,.{digits}f} {unit}"


def format_row(row: Row) -> str:
    speedup = f"{row.speedup:,.0f}x" if row.speedup is not None else "-"
    verdict = "" if row.met is None else ("met" if row.met else "MISSED")
    target = f"{row.target} {verdict}".strip()
    line = f"{row.name:<58}{_figure(row.irflow, row.unit):>16}{_figure(row.moto, row.unit):>16}{speedup:>9}  {target}"
    return line + (f"\n{'':<4}{row.note}" if row.note else "")


def header() -> str:
    import moto

    return "\n".join([
        f"irflow bench: Python {platform.python_version()} on {platform.machine()} ({os.cpu_count()} CPUs), "
        f"moto {moto.__version__} executor as baseline (execute_state_machine, Lambda without Docker)",
        f"{'section':<58}{'irflow':>16}{'moto':>16}{'speedup':>9}  target",
        "-" * 110,
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m irflow.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="run only sections whose name contains this text")
    args = parser.parse_args(argv)
    chosen = [s for s in SECTIONS if not args.only or args.only in s.name]
    bench = Bench()
    print(header(), flush=True)
    try:
        for section in chosen:
            print(format_row(section.measure(bench)), flush=True)
        if bench.moto_started:
            arn = bench.moto.create(pass_chain(1))
            print(f"(every moto figure includes boto3 calls into moto: "
                  f"{bench.moto.api_round_trip_seconds(arn) * 1e3:.2f} ms per call here)")
    finally:
        bench.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
