"""Cooperative scheduler with a virtual or real clock.

Every running branch of an execution (the execution itself, each Parallel branch, each Map
iteration) is a *fiber*: a Python generator that yields instructions when it has to wait.
Fibers run in FIFO order, which interleaves concurrent branches the way Step Functions does
(all iterations start, then each takes its next step). Waiting never blocks the process: a
virtual clock jumps straight to the next due timer, so a one-hour timeout costs nothing.

Timers come in two kinds. *Internal* timers (Wait states, retry intervals, a Lambda's running
time) always fire. *Deadline* timers guard a wait on the outside world (a task token callback,
its heartbeat, the execution timeout): `run_until_idle` stops rather than jump to them when
nothing else is pending, because a person may still answer; `advance` and `run_until_complete`
fire them.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

Instruction = Any
FiberGen = Generator[Instruction, Any, Any]


class Aborted(BaseException):
    """Thrown into a fiber that is being cancelled (stop_execution, a failed sibling, a timeout).

    A BaseException so that a state's own `except Exception` error handling never swallows it.
    """


# --- instructions a fiber yields ---------------------------------------------------------


class Yield:
    """Give the other ready fibers a turn (an asynchronous boundary in Step Functions)."""


YIELD = Yield()


@dataclass(slots=True)
class Sleep:
    """Resume after `seconds`; with `timeout`, resume with "timeout" if that comes first."""

    seconds: float
    timeout: float | None = None


@dataclass(slots=True)
class AwaitToken:
    """Wait for a task-token callback; resumes with ("success", output) / ("failure", (error, cause))
    or ("timeout", error_name)."""

    token: str
    timeout: float | None
    heartbeat: float | None


@dataclass(slots=True)
class AwaitAny:
    """Wait until one of `fibers` has finished; resumes with that fiber."""

    fibers: list[Fiber]


@dataclass(eq=False)
class Fiber:
    gen: FiberGen
    name: str = ""
    done: bool = False
    result: Any = None
    error: BaseException | None = None
    waiters: list[Fiber] = field(default_factory=list)
    wait_generation: int = 0
    waiting_on: Any = None
    token: str | None = None
    abort_requested: bool = False
    heartbeat_seconds: float | None = None


class Clock:
    def now(self) -> datetime:
        raise NotImplementedError

    def advance_to(self, when: float) -> None:
        raise NotImplementedError

    def seconds(self) -> float:
        raise NotImplementedError

    def wall_seconds(self, seconds: float) -> float:
        """How many real seconds `seconds` of this clock last (the real-time loop sleeps that long)."""
        return seconds

    @contextlib.contextmanager
    def computing(self) -> Iterator[None]:
        """Around the engine's own work (running fibers, tasks included); most clocks ignore it."""
        yield


class VirtualClock(Clock):
    """Simulated time: starts at `start` and moves only when the scheduler jumps to a timer."""

    def __init__(self, start: datetime | None = None) -> None:
        base = start or datetime.now(UTC).replace(microsecond=0)
        self._epoch = base
        self._offset = 0.0

    def seconds(self) -> float:
        return self._offset

    def now(self) -> datetime:
        return self._epoch + timedelta(seconds=self._offset)

    def advance_to(self, when: float) -> None:
        if when > self._offset:
            self._offset = when


class RealClock(Clock):
    """Wall-clock time, for a person following along (the console).

    `speed` other than 1 runs time that many times faster from now on (a demo, a browser test):
    a playbook's minutes pass in seconds, with every timestamp still consistent. Such a clock
    stands still while the engine computes, so only what is simulated (Wait states, a Lambda's
    priced duration, timeouts) is sped up, never the local machine's own work (moto's calls, at
    forty times, would otherwise turn a tenth of a second into four).
    """

    def __init__(self, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._t0 = time.monotonic()
        self._epoch = datetime.now(UTC)
        self._stopped_at: float | None = None  # monotonic time the clock stopped at, while the engine computes

    def seconds(self) -> float:
        now = self._stopped_at if self._stopped_at is not None else time.monotonic()
        return (now - self._t0) * self.speed

    @contextlib.contextmanager
    def computing(self) -> Iterator[None]:
        if self.speed == 1 or self._stopped_at is not None:
            yield
            return
        self._stopped_at = time.monotonic()
        try:
            yield
        finally:
            self._t0 += time.monotonic() - self._stopped_at  # the time computing is taken out
            self._stopped_at = None

    def now(self) -> datetime:
        return self._epoch + timedelta(seconds=self.seconds())

    def advance_to(self, when: float) -> None:
        delay = when - self.seconds()
        if delay > 0:
            time.sleep(delay / self.speed)

    def wall_seconds(self, seconds: float) -> float:
        return seconds / self.speed


@dataclass(order=True)
class _Timer:
    when: float
    seq: int
    fiber: Fiber = field(compare=False)
    generation: int = field(compare=False)
    value: Any = field(compare=False)
    deadline: bool = field(compare=False)


class Scheduler:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._ready: deque[tuple[Fiber, Any, BaseException | None]] = deque()
        self._timers: list[_Timer] = []
        self._seq = itertools.count()
        self._tokens: dict[str, Fiber] = {}
        self._running = False
        self._current: Fiber | None = None
        self.lock = threading.RLock()
        self.wakeup = threading.Condition(self.lock)

    # --- fibers -------------------------------------------------------------------------
    def spawn(self, gen: FiberGen, name: str = "") -> Fiber:
        fiber = Fiber(gen, name)
        self._ready.append((fiber, None, None))
        self.wakeup.notify_all()
        return fiber

    def cancel(self, fiber: Fiber) -> None:
        """Abort a fiber now: its generator sees `Aborted` where it waits and cleans up."""
        if fiber.done:
            return
        if fiber is self._current:  # cancelling itself: abort at its next wait
            fiber.abort_requested = True
            return
        self._forget_wait(fiber)
        self._ready = deque(item for item in self._ready if item[0] is not fiber)
        self._step(fiber, None, Aborted())

    def _forget_wait(self, fiber: Fiber) -> None:
        fiber.wait_generation += 1
        if fiber.token is not None:
            self._tokens.pop(fiber.token, None)
            fiber.token = None
        waiting = fiber.waiting_on
        if isinstance(waiting, AwaitAny):
            for child in waiting.fibers:
                if fiber in child.waiters:
                    child.waiters.remove(fiber)
        fiber.waiting_on = None

    def _resume(self, fiber: Fiber, value: Any = None, exc: BaseException | None = None, first: bool = False) -> None:
        self._forget_wait(fiber)
        if first:
            self._ready.appendleft((fiber, value, exc))
        else:
            self._ready.append((fiber, value, exc))
        self.wakeup.notify_all()

    def _push_timer(self, fiber: Fiber, seconds: float, value: Any, deadline: bool) -> None:
        when = self.clock.seconds() + max(0.0, seconds)
        heapq.heappush(self._timers, _Timer(when, next(self._seq), fiber, fiber.wait_generation, value, deadline))

    def _step(self, fiber: Fiber, value: Any, exc: BaseException | None) -> None:
        outer, self._current = self._current, fiber
        try:
            instruction = fiber.gen.throw(exc) if exc is not None else fiber.gen.send(value)
        except StopIteration as stop:
            self._finish(fiber, stop.value, None)
            return
        except BaseException as error:  # the fiber's own failure (Aborted included)
            self._finish(fiber, None, error)
            return
        finally:
            self._current = outer
        if fiber.abort_requested:
            fiber.abort_requested = False
            self._ready.appendleft((fiber, None, Aborted()))
            return
        self._wait(fiber, instruction)

    def _wait(self, fiber: Fiber, instruction: Instruction) -> None:
        fiber.waiting_on = instruction
        if instruction is YIELD or instruction is None:
            fiber.waiting_on = None
            self._ready.append((fiber, None, None))
        elif isinstance(instruction, Sleep):
            if instruction.timeout is not None and instruction.timeout < instruction.seconds:
                self._push_timer(fiber, instruction.timeout, "timeout", False)
            else:
                self._push_timer(fiber, instruction.seconds, "done", False)
        elif isinstance(instruction, AwaitToken):
            fiber.token = instruction.token
            self._tokens[instruction.token] = fiber
            if instruction.timeout is not None:
                self._push_timer(fiber, instruction.timeout, ("timeout", "States.Timeout"), True)
            fiber.heartbeat_seconds = instruction.heartbeat
            if instruction.heartbeat is not None:
                self._push_timer(fiber, instruction.heartbeat, ("timeout", "States.HeartbeatTimeout"), True)
        elif isinstance(instruction, AwaitAny):
            finished = next((child for child in instruction.fibers if child.done), None)
            if finished is not None:
                fiber.waiting_on = None
                self._ready.append((fiber, finished, None))
            else:
                for child in instruction.fibers:
                    child.waiters.append(fiber)
        else:  # a programming error inside the engine: fail that fiber loudly
            self._finish(fiber, None, TypeError(f"unknown scheduler instruction {instruction!r}"))

    def _finish(self, fiber: Fiber, result: Any, error: BaseException | None) -> None:
        fiber.done = True
        fiber.result = result
        fiber.error = error
        self._forget_wait(fiber)
        for waiter in list(fiber.waiters):  # a parent reacts to its branch at once, as Step Functions does
            self._resume(waiter, fiber, first=True)
        fiber.waiters.clear()

    # --- callbacks from outside -----------------------------------------------------------
    def has_token(self, token: str) -> bool:
        return token in self._tokens

    def deliver(self, token: str, value: Any) -> bool:
        fiber = self._tokens.get(token)
        if fiber is None:
            return False
        self._resume(fiber, value)
        return True

    def heartbeat(self, token: str) -> bool:
        fiber = self._tokens.get(token)
        if fiber is None:
            return False
        if fiber.heartbeat_seconds is not None:
            # Re-arm: the old heartbeat timer is invalidated by bumping the generation, so the
            # task timeout must be re-armed for its remaining time too.
            remaining = [
                t for t in self._timers if t.fiber is fiber and t.generation == fiber.wait_generation
                and t.value != ("timeout", "States.HeartbeatTimeout")
            ]
            fiber.wait_generation += 1
            for t in remaining:
                heapq.heappush(self._timers, _Timer(t.when, next(self._seq), fiber, fiber.wait_generation, t.value, True))
            self._push_timer(fiber, fiber.heartbeat_seconds, ("timeout", "States.HeartbeatTimeout"), True)
        return True

    def add_deadline(self, fiber: Fiber, seconds: float, action: Callable[[], None]) -> None:
        """Run `action` after `seconds` unless `fiber` has finished (execution timeouts)."""
        heapq.heappush(
            self._timers,
            _Timer(self.clock.seconds() + seconds, next(self._seq), fiber, -1, action, True),
        )

    # --- running ----------------------------------------------------------------------------
    def _drain(self) -> None:
        while self._ready:
            fiber, value, exc = self._ready.popleft()
            if not fiber.done:
                self._step(fiber, value, exc)

    def _live(self, timer: _Timer) -> bool:
        if timer.fiber.done:
            return False
        return timer.generation == -1 or timer.generation == timer.fiber.wait_generation

    def _fire(self, timer: _Timer) -> None:
        self.clock.advance_to(timer.when)
        if timer.generation == -1:
            timer.value()
        else:
            self._resume(timer.fiber, timer.value)

    def _next_timer(self) -> _Timer | None:
        while self._timers and not self._live(self._timers[0]):
            heapq.heappop(self._timers)
        return self._timers[0] if self._timers else None

    def run(self, fire_deadlines: bool, until: float | None = None) -> None:
        """Run ready fibers and due timers. Without `fire_deadlines`, stop when only deadline
        timers (waits on the outside world) are left; with `until`, never go past that time."""
        if self._running:  # re-entered from a task handler: the outer loop will carry on
            return
        self._running = True
        try:
            while True:
                self._drain()
                timer = self._next_timer()
                if timer is None:
                    return
                if until is not None and timer.when > until:
                    return
                if not fire_deadlines and not self._has_internal_timer():
                    return
                heapq.heappop(self._timers)
                self._fire(timer)
                # Everything due at the same instant happens together, before anyone reacts.
                while (same := self._next_timer()) is not None and same.when == timer.when:
                    heapq.heappop(self._timers)
                    self._fire(same)
        finally:
            self._running = False

    def _has_internal_timer(self) -> bool:
        return any(not t.deadline and self._live(t) for t in self._timers)

    def next_due(self) -> float | None:
        timer = self._next_timer()
        return timer.when if timer else None

    def idle(self) -> bool:
        return not self._ready

    def live_fibers(self, fibers: Iterable[Fiber]) -> list[Fiber]:
        return [f for f in fibers if not f.done]
