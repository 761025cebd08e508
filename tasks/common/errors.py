"""Errors a task raises on purpose, named as Step Functions sees them.

The Lambda Python runtime reports a failed invocation's `errorType` as the exception class's
`__name__` and its `errorMessage` as `str(exception)`; Step Functions turns them into the task's
`Error` and (inside the JSON payload) `Cause`. So each class here is renamed `irflow.<Name>`,
and the playbooks catch exactly those names (`"ErrorEquals": ["irflow.AccessDenied"]`).
"""

from __future__ import annotations

from typing import Any

PREFIX = "irflow."


class IrflowError(Exception):
    """Base of the errors a playbook can route on; the message is the cause a person reads."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.error_name = PREFIX + cls.__name__
        cls.__name__ = cls.error_name  # what the Lambda runtime reports as errorType

    error_name = PREFIX + "Error"


class InvalidFinding(IrflowError):
    """The event is not a GuardDuty EC2 finding irflow can act on (the message names the field)."""


class InvalidInput(IrflowError):
    """A task was called with input that does not match its model (a playbook wiring error)."""


class AccessDenied(IrflowError):
    """The member account's role cannot be assumed, or cannot do what the playbook needs."""


class InstanceNotFound(IrflowError):
    """The instance named by the finding no longer exists in the member account."""


class Throttled(IrflowError):
    """AWS throttled a call; the playbook retries the task with back-off."""


class ToolUnavailable(IrflowError):
    """A forensic tool (AVML, WinPmem) is not staged in the evidence bucket or fails its digest check."""


class NothingToRelease(IrflowError):
    """release-instance found no recorded original state for the instance."""


class ApprovalNotFound(IrflowError):
    """No approval has this id."""


class ApprovalAlreadyDecided(IrflowError):
    """The approval was already decided or timed out; a decision is used once."""


class ApprovalExpired(IrflowError):
    """The approval's time ran out (or its execution stopped waiting) before the decision arrived."""


class ApprovalRejected(IrflowError):
    """A person rejected the action (sent to Step Functions through SendTaskFailure)."""
