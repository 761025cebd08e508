"""Error types of the engine.

`StatesError` is a runtime error with an AWS error name (``States.Runtime``, ``Lambda.Unknown``,
a task's own ``errorType``...) and a cause; it travels through Retry/Catch exactly as on AWS.
`DefinitionError` and the API errors are raised to the caller, like the boto3 client raises them.
"""

from __future__ import annotations


class StatesError(Exception):
    """A failure inside an execution, named as Step Functions names it."""

    def __init__(self, error: str, cause: str | None = None) -> None:
        super().__init__(f"{error}: {cause}" if cause else error)
        self.error = error
        self.cause = cause


# Error names Step Functions itself raises.
ALL = "States.ALL"
TASK_FAILED = "States.TaskFailed"
TIMEOUT = "States.Timeout"
HEARTBEAT_TIMEOUT = "States.HeartbeatTimeout"
RUNTIME = "States.Runtime"
DATA_LIMIT_EXCEEDED = "States.DataLimitExceeded"
RESULT_PATH_MATCH_FAILURE = "States.ResultPathMatchFailure"
PARAMETER_PATH_FAILURE = "States.ParameterPathFailure"
QUERY_EVALUATION_ERROR = "States.QueryEvaluationError"
BRANCH_FAILED = "States.BranchFailed"
NO_CHOICE_MATCHED = "States.NoChoiceMatched"
INTRINSIC_FAILURE = "States.IntrinsicFailure"
EXCEED_TOLERATED_FAILURE_THRESHOLD = "States.ExceedToleratedFailureThreshold"
ITEM_READER_FAILED = "States.ItemReaderFailed"
PERMISSIONS = "States.Permissions"


class ClientError(Exception):
    """An error the Step Functions API returns to its caller (boto3 raises these as ClientError)."""

    code = "ClientError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.response = {"Error": {"Code": self.code, "Message": message}}


class DefinitionError(ClientError):
    """The definition would be refused by CreateStateMachine / ValidateStateMachineDefinition."""

    code = "InvalidDefinition"


class InvalidArn(ClientError):
    code = "InvalidArn"


class InvalidName(ClientError):
    code = "InvalidName"


class InvalidExecutionInput(ClientError):
    code = "InvalidExecutionInput"


class InvalidOutput(ClientError):
    code = "InvalidOutput"


class InvalidToken(ClientError):
    code = "InvalidToken"


class TaskDoesNotExist(ClientError):
    code = "TaskDoesNotExist"


class TaskTimedOut(ClientError):
    code = "TaskTimedOut"


class StateMachineDoesNotExist(ClientError):
    code = "StateMachineDoesNotExist"


class StateMachineAlreadyExists(ClientError):
    code = "StateMachineAlreadyExists"


class ExecutionDoesNotExist(ClientError):
    code = "ExecutionDoesNotExist"


class ExecutionAlreadyExists(ClientError):
    code = "ExecutionAlreadyExists"


class ValidationException(ClientError):
    code = "ValidationException"
