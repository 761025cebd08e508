"""irflow's Amazon States Language engine: Step Functions semantics, in-process, on a virtual clock."""

from .engine import Engine, Execution
from .errors import ClientError, DefinitionError, StatesError
from .resources import LambdaContext, LambdaFunctionError, RawPayload

__all__ = [
    "ClientError", "DefinitionError", "Engine", "Execution", "LambdaContext", "LambdaFunctionError",
    "RawPayload", "StatesError",
]
