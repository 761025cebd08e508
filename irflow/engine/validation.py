"""Create-time validation: refuse what CreateStateMachine / ValidateStateMachineDefinition refuse.

Every problem is reported with where it is (`/States/Name/Field`) and why, all at once, in the
message format AWS uses (`Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: ...'`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .errors import DefinitionError
from .intrinsics import IntrinsicSyntaxError, compile_intrinsic, is_intrinsic
from .jsonata_eval import JsonataSyntaxError, is_expression
from .jsonata_eval import validate as validate_jsonata
from .jsonpath import PathSyntaxError, compile_path, is_reference_path
from .resources import parse_resource

STATE_TYPES = {"Pass", "Task", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map"}
COMMON = {"Type", "Comment", "QueryLanguage"}
FLOW = {"Next", "End"}
ERROR_HANDLING = {"Retry", "Catch"}
JSONPATH_ONLY = {"InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector", "ItemsPath",
                 "SecondsPath", "TimestampPath", "TimeoutSecondsPath", "HeartbeatSecondsPath", "ErrorPath",
                 "CausePath", "MaxConcurrencyPath", "ToleratedFailureCountPath", "ToleratedFailurePercentagePath",
                 "Iterator"}
JSONATA_ONLY = {"Arguments", "Output", "Items"}
FIELDS: dict[str, set[str]] = {
    "Pass": FLOW | {"Result", "InputPath", "OutputPath", "ResultPath", "Parameters", "Assign", "Output"},
    "Task": FLOW | ERROR_HANDLING | {"Resource", "TimeoutSeconds", "TimeoutSecondsPath", "HeartbeatSeconds",
                                     "HeartbeatSecondsPath", "Credentials", "InputPath", "OutputPath", "ResultPath",
                                     "Parameters", "ResultSelector", "Assign", "Arguments", "Output"},
    "Choice": {"Choices", "Default", "InputPath", "OutputPath", "Assign", "Output"},
    "Wait": FLOW | {"Seconds", "SecondsPath", "Timestamp", "TimestampPath", "InputPath", "OutputPath", "Assign",
                    "Output"},
    "Succeed": {"InputPath", "OutputPath", "Output"},
    "Fail": {"Error", "Cause", "ErrorPath", "CausePath"},
    "Parallel": FLOW | ERROR_HANDLING | {"Branches", "InputPath", "OutputPath", "ResultPath", "Parameters",
                                         "ResultSelector", "Assign", "Arguments", "Output"},
    "Map": FLOW | ERROR_HANDLING | {"Iterator", "ItemProcessor", "ItemsPath", "Items", "ItemSelector",
                                    "Parameters", "MaxConcurrency", "MaxConcurrencyPath", "ToleratedFailureCount",
                                    "ToleratedFailureCountPath", "ToleratedFailurePercentage",
                                    "ToleratedFailurePercentagePath", "ItemReader", "ItemBatcher", "ResultWriter",
                                    "Label", "InputPath", "OutputPath", "ResultPath", "ResultSelector", "Assign",
                                    "Output"},
}
CHOICE_OPERATORS = {
    f"{kind}{relation}{suffix}"
    for kind in ("String", "Numeric", "Timestamp")
    for relation in ("Equals", "LessThan", "GreaterThan", "LessThanEquals", "GreaterThanEquals")
    for suffix in ("", "Path")
} | {"StringMatches", "BooleanEquals", "BooleanEqualsPath", "IsNull", "IsPresent", "IsNumeric", "IsString",
     "IsBoolean", "IsTimestamp"}
PATH_FIELDS = ("InputPath", "OutputPath", "ItemsPath", "SecondsPath", "TimestampPath", "TimeoutSecondsPath",
               "HeartbeatSecondsPath", "MaxConcurrencyPath", "ToleratedFailureCountPath",
               "ToleratedFailurePercentagePath")
TEMPLATE_FIELDS = ("Parameters", "ResultSelector", "ItemSelector", "Assign")


def validate_definition(definition: Any) -> None:
    """Raise DefinitionError listing every problem in `definition` (a parsed JSON value)."""
    problems = list(_machine(definition, "", top=True))
    if problems:
        raise DefinitionError("Invalid State Machine Definition: '" + ", ".join(problems) + "'")


def _schema(message: str, where: str) -> str:
    return f"SCHEMA_VALIDATION_FAILED: {message} at {where or '/'}"


def _machine(machine: Any, where: str, top: bool = False, language: str = "JSONPath") -> Iterator[str]:
    if not isinstance(machine, dict):
        yield _schema("Expected an object", where)
        return
    allowed = {"StartAt", "States", "Comment"} | ({"Version", "TimeoutSeconds", "QueryLanguage"} if top
                                                 else {"ProcessorConfig"})
    for key in machine:
        if key not in allowed:
            yield _schema(f"Field '{key}' is not supported", f"{where}/{key}")
    if top:
        language = machine.get("QueryLanguage", "JSONPath")
        if language not in ("JSONPath", "JSONata"):
            yield _schema("QueryLanguage must be JSONPath or JSONata", f"{where}/QueryLanguage")
            return
        if "Version" in machine and machine["Version"] != "1.0":
            yield _schema("Version must be \"1.0\"", f"{where}/Version")
        timeout = machine.get("TimeoutSeconds")
        if timeout is not None and (not isinstance(timeout, int) or isinstance(timeout, bool) or timeout <= 0):
            yield _schema("TimeoutSeconds must be a positive integer", f"{where}/TimeoutSeconds")
    states = machine.get("States")
    start = machine.get("StartAt")
    if not isinstance(states, dict) or not states:
        yield _schema("States must be a non-empty object", f"{where}/States")
        return
    if not isinstance(start, str):
        yield _schema("StartAt must be a string", f"{where}/StartAt")
        return
    if start not in states:
        yield f"MISSING_TRANSITION_TARGET: Missing 'Next' target: {start} at {where}/StartAt"
    for name, state in states.items():
        if len(name) > 80:
            yield _schema("State names must be at most 80 characters", f"{where}/States/{name}")
        yield from _state(name, state, f"{where}/States/{name}", states, language)
    if start in states:
        yield from _reachability(start, states, where)


def _targets(state: Mapping[str, Any]) -> Iterator[str]:
    if isinstance(state.get("Next"), str):
        yield state["Next"]
    if isinstance(state.get("Default"), str):
        yield state["Default"]
    for rule in state.get("Choices") or ():
        if isinstance(rule, dict) and isinstance(rule.get("Next"), str):
            yield rule["Next"]
    for catcher in state.get("Catch") or ():
        if isinstance(catcher, dict) and isinstance(catcher.get("Next"), str):
            yield catcher["Next"]


def _reachability(start: str, states: Mapping[str, Any], where: str) -> Iterator[str]:
    seen = {start}
    queue = [start]
    while queue:
        state = states.get(queue.pop())
        if not isinstance(state, dict):
            continue
        for target in _targets(state):
            if target in states and target not in seen:
                seen.add(target)
                queue.append(target)
    for name in states:
        if name not in seen:
            yield f"MISSING_TRANSITION_TARGET: State \"{name}\" is not reachable at {where}/States/{name}"
    terminal = any(
        isinstance(states[n], dict) and (states[n].get("End") is True or states[n].get("Type") in ("Succeed", "Fail"))
        for n in seen
    )
    if not terminal:
        yield _schema("No terminal state: the workflow can never end", f"{where}/States")


def _state(name: str, state: Any, where: str, states: Mapping[str, Any], inherited: str) -> Iterator[str]:
    if not isinstance(state, dict):
        yield _schema("A state must be an object", where)
        return
    state_type = state.get("Type")
    if state_type not in STATE_TYPES:
        yield _schema(f"Unknown state type '{state_type}'", f"{where}/Type")
        return
    language = state.get("QueryLanguage", inherited)
    if language not in ("JSONPath", "JSONata"):
        yield _schema("QueryLanguage must be JSONPath or JSONata", f"{where}/QueryLanguage")
        return
    if inherited == "JSONata" and language == "JSONPath":
        yield _schema("A JSONPath state cannot be used in a JSONata state machine", f"{where}/QueryLanguage")
    for key in state:
        if key not in COMMON | FIELDS[state_type]:
            yield _schema(f"Field '{key}' is not supported by {state_type} states", f"{where}/{key}")
        elif language == "JSONata" and key in JSONPATH_ONLY:
            yield _schema(f"Field '{key}' is not supported when QueryLanguage is JSONata", f"{where}/{key}")
        elif language == "JSONPath" and key in JSONATA_ONLY:
            yield _schema(f"Field '{key}' is only supported when QueryLanguage is JSONata", f"{where}/{key}")
    yield from _transitions(state, state_type, where, states)
    yield from _expressions(state, state_type, where, language)
    yield from _literals(state, where, language)
    if state_type == "Task":
        try:
            parse_resource(state.get("Resource"))  # type: ignore[arg-type]
        except DefinitionError as err:
            yield _schema(err.message, f"{where}/Resource")
    if state_type == "Wait":
        modes = [k for k in ("Seconds", "SecondsPath", "Timestamp", "TimestampPath") if k in state]
        if len(modes) != 1:
            yield _schema("A Wait state needs exactly one of Seconds, SecondsPath, Timestamp, TimestampPath", where)
        stamp = state.get("Timestamp")
        if isinstance(stamp, str) and not (language == "JSONata" and is_expression(stamp)):
            from .interpreter import parse_timestamp

            if parse_timestamp(stamp) is None:
                yield _schema("String does not match RFC3339 timestamp", f"{where}/Timestamp")
    if state_type == "Fail":
        for plain, path in (("Error", "ErrorPath"), ("Cause", "CausePath")):
            if plain in state and path in state:
                yield _schema(f"{plain} and {path} are mutually exclusive", where)
    if state_type == "Choice":
        yield from _choices(state, where, states, language)
    if state_type == "Parallel":
        branches = state.get("Branches")
        if not isinstance(branches, list) or not branches:
            yield _schema("Branches must be a non-empty array", f"{where}/Branches")
        else:
            for i, branch in enumerate(branches):
                yield from _machine(branch, f"{where}/Branches[{i}]", language=language)
    if state_type == "Map":
        yield from _map(state, where, language)
    for i, retrier in enumerate(state.get("Retry") or ()):
        yield from _error_rule(retrier, f"{where}/Retry[{i}]", states, is_catch=False)
    for i, catcher in enumerate(state.get("Catch") or ()):
        yield from _error_rule(catcher, f"{where}/Catch[{i}]", states, is_catch=True)
        if language == "JSONata" and isinstance(catcher, dict) and "ResultPath" in catcher:
            yield _schema("ResultPath is not supported when QueryLanguage is JSONata", f"{where}/Catch[{i}]")


def _literals(state: Mapping[str, Any], where: str, language: str) -> Iterator[str]:
    """Types and ranges of the literal fields (a JSONata template may stand in for most of them)."""
    for key in ("Comment", "Error", "Cause", "Default", "Next"):
        value = state.get(key)
        if key in state and not isinstance(value, str):
            yield _schema(f"{key} must be a string", f"{where}/{key}")
    positive = ("TimeoutSeconds", "HeartbeatSeconds")
    non_negative = ("Seconds", "MaxConcurrency", "ToleratedFailureCount")
    for key in (*positive, *non_negative):
        if key not in state:
            continue
        value = state[key]
        if language == "JSONata" and is_expression(value):
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            yield _schema(f"{key} must be an integer", f"{where}/{key}")
        elif value < (1 if key in positive else 0):
            yield _schema(f"{key} must be {'positive' if key in positive else 'zero or more'}", f"{where}/{key}")
    timeout, heartbeat = state.get("TimeoutSeconds"), state.get("HeartbeatSeconds")
    if isinstance(timeout, int) and isinstance(heartbeat, int) and not isinstance(heartbeat, bool) and heartbeat >= timeout:
        yield _schema("HeartbeatSeconds must be smaller than TimeoutSeconds", f"{where}/HeartbeatSeconds")
    pct = state.get("ToleratedFailurePercentage")
    if "ToleratedFailurePercentage" in state and not (language == "JSONata" and is_expression(pct)) and (
            isinstance(pct, bool) or not isinstance(pct, int | float) or not 0 <= pct <= 100):
        yield _schema("ToleratedFailurePercentage must be a number from 0 to 100", f"{where}/ToleratedFailurePercentage")
    for kind in ("Retry", "Catch"):
        rules = state.get(kind)
        if rules is None:
            continue
        if not isinstance(rules, list):
            yield _schema(f"{kind} must be an array", f"{where}/{kind}")
            continue
        for i, rule in enumerate(rules[:-1]):
            if isinstance(rule, dict) and "States.ALL" in (rule.get("ErrorEquals") or []):
                yield _schema(f"States.ALL must be in the last {kind} rule", f"{where}/{kind}[{i}]/ErrorEquals")


def _transitions(state: Mapping[str, Any], state_type: str, where: str, states: Mapping[str, Any]) -> Iterator[str]:
    if state_type in ("Choice", "Succeed", "Fail"):
        return
    has_next, has_end = "Next" in state, state.get("End") is True
    if has_next and has_end:
        yield _schema("Next and End are mutually exclusive", where)
    elif not has_next and not has_end:
        yield _schema("A state needs either Next or \"End\": true", where)
    if has_next and state["Next"] not in states:
        yield f"MISSING_TRANSITION_TARGET: Missing 'Next' target: {state['Next']} at {where}/Next"


def _expressions(state: Mapping[str, Any], state_type: str, where: str, language: str) -> Iterator[str]:
    if language == "JSONata":
        for key, value in state.items():
            if key in ("Type", "Comment", "QueryLanguage", "Next", "End", "Resource", "Choices", "Branches",
                       "ItemProcessor", "Retry", "Catch", "Default"):
                continue
            try:
                validate_jsonata(value)
            except JsonataSyntaxError as err:
                yield _schema(f"Invalid JSONata expression: {err}", f"{where}/{key}")
        for i, catcher in enumerate(state.get("Catch") or ()):
            for key in ("Output", "Assign"):
                if isinstance(catcher, dict) and key in catcher:
                    try:
                        validate_jsonata(catcher[key])
                    except JsonataSyntaxError as err:
                        yield _schema(f"Invalid JSONata expression: {err}", f"{where}/Catch[{i}]/{key}")
        return
    for key in PATH_FIELDS:
        if key in state and state[key] is not None:
            yield from _path(state[key], f"{where}/{key}", allow_null=key in ("InputPath", "OutputPath"))
    if "ResultPath" in state and state["ResultPath"] is not None:
        yield from _result_path(state["ResultPath"], f"{where}/ResultPath")
    for key in ("ErrorPath", "CausePath"):
        if key in state:
            yield from _dynamic(state[key], f"{where}/{key}")
    for key in TEMPLATE_FIELDS:
        if key in state:
            yield from _template(state[key], f"{where}/{key}")
    for i, catcher in enumerate(state.get("Catch") or ()):
        if isinstance(catcher, dict):
            if catcher.get("ResultPath") is not None:
                yield from _result_path(catcher["ResultPath"], f"{where}/Catch[{i}]/ResultPath")
            if "Assign" in catcher:
                yield from _template(catcher["Assign"], f"{where}/Catch[{i}]/Assign")


def _path(text: Any, where: str, allow_null: bool = False) -> Iterator[str]:
    if text is None and allow_null:
        return
    if not isinstance(text, str):
        yield _schema("Expected a JSONPath string", where)
        return
    try:
        compile_path(text)
    except PathSyntaxError as err:
        yield _schema(f"Invalid JSONPath '{text}': {err}", where)


def _result_path(text: Any, where: str) -> Iterator[str]:
    if not isinstance(text, str) or not is_reference_path(text):
        yield _schema(f"ResultPath must be a reference path (e.g. $.result), got {text!r}", where)


def _dynamic(text: Any, where: str) -> Iterator[str]:
    if isinstance(text, str) and is_intrinsic(text):
        try:
            compile_intrinsic(text)
        except IntrinsicSyntaxError as err:
            yield _schema(f"Invalid intrinsic function '{text}': {err}", where)
    else:
        yield from _path(text, where)


def _template(value: Any, where: str) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key.endswith(".$"):
                if not isinstance(item, str):
                    yield _schema(f"The value of '{key}' must be a JSONPath or an intrinsic function", f"{where}/{key}")
                else:
                    yield from _dynamic(item, f"{where}/{key}")
            else:
                yield from _template(item, f"{where}/{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _template(item, f"{where}[{i}]")


def _choices(state: Mapping[str, Any], where: str, states: Mapping[str, Any], language: str) -> Iterator[str]:
    choices = state.get("Choices")
    if not isinstance(choices, list) or not choices:
        yield _schema("Choices must be a non-empty array", f"{where}/Choices")
        return
    if "Default" in state and state["Default"] not in states:
        yield f"MISSING_TRANSITION_TARGET: Missing 'Next' target: {state['Default']} at {where}/Default"
    for i, rule in enumerate(choices):
        at = f"{where}/Choices[{i}]"
        if not isinstance(rule, dict):
            yield _schema("A choice rule must be an object", at)
            continue
        if "Next" not in rule:
            yield _schema("A top-level choice rule needs Next", at)
        elif rule["Next"] not in states:
            yield f"MISSING_TRANSITION_TARGET: Missing 'Next' target: {rule['Next']} at {at}/Next"
        if language == "JSONata":
            if "Condition" not in rule:
                yield _schema("A JSONata choice rule needs Condition", at)
            else:
                try:
                    validate_jsonata(rule["Condition"])
                except JsonataSyntaxError as err:
                    yield _schema(f"Invalid JSONata expression: {err}", f"{at}/Condition")
        else:
            yield from _rule(rule, at)
        if "Assign" in rule and language == "JSONPath":
            yield from _template(rule["Assign"], f"{at}/Assign")


def _rule(rule: Any, where: str, nested: bool = False) -> Iterator[str]:
    if not isinstance(rule, dict):
        yield _schema("A choice rule must be an object", where)
        return
    if nested:
        for key in ("Next", "Assign", "Output"):
            if key in rule:
                yield _schema(f"A nested choice rule cannot have {key}", f"{where}/{key}")
    for combinator in ("And", "Or"):
        if combinator in rule:
            if not isinstance(rule[combinator], list) or not rule[combinator]:
                yield _schema(f"{combinator} must be a non-empty array", f"{where}/{combinator}")
                return
            for i, sub in enumerate(rule[combinator]):
                yield from _rule(sub, f"{where}/{combinator}[{i}]", nested=True)
            return
    if "Not" in rule:
        yield from _rule(rule["Not"], f"{where}/Not", nested=True)
        return
    if "Variable" not in rule:
        yield _schema("A choice rule needs Variable (or And / Or / Not)", where)
        return
    yield from _path(rule["Variable"], f"{where}/Variable")
    operators = [k for k in rule if k in CHOICE_OPERATORS]
    unknown = [k for k in rule if k not in CHOICE_OPERATORS | {"Variable", "Next", "Comment", "Assign", "Output"}]
    for key in unknown:
        yield _schema(f"Unknown choice rule field '{key}'", f"{where}/{key}")
    if len(operators) != 1:
        yield _schema("A choice rule needs exactly one comparison operator", where)
        return
    operator = operators[0]
    operand = rule[operator]
    if operator.endswith("Path"):
        yield from _path(operand, f"{where}/{operator}")
    elif operator.startswith("Is") or operator == "BooleanEquals":
        if not isinstance(operand, bool):
            yield _schema(f"{operator} expects a boolean", f"{where}/{operator}")
    elif operator.startswith("Numeric"):
        if isinstance(operand, bool) or not isinstance(operand, int | float):
            yield _schema(f"{operator} expects a number", f"{where}/{operator}")
    elif not isinstance(operand, str):
        yield _schema(f"{operator} expects a string", f"{where}/{operator}")
    elif operator.startswith("Timestamp"):
        from .interpreter import parse_timestamp

        if parse_timestamp(operand) is None:
            yield _schema("String does not match RFC3339 timestamp", f"{where}/{operator}")


def _map(state: Mapping[str, Any], where: str, language: str) -> Iterator[str]:
    processor = state.get("ItemProcessor", state.get("Iterator"))
    if "ItemProcessor" in state and "Iterator" in state:
        yield _schema("ItemProcessor and Iterator are mutually exclusive", where)
    if processor is None:
        yield _schema("A Map state needs ItemProcessor", where)
        return
    for key in ("ItemReader", "ItemBatcher", "ResultWriter"):
        if key in state:
            yield (f"UNSUPPORTED_FEATURE: {key} (distributed Map reading from or writing to S3) is not supported by "
                   f"irflow's local engine yet; give the items in the state input instead at {where}/{key}")
    yield from _machine(processor, f"{where}/ItemProcessor", language=language)
    config = processor.get("ProcessorConfig", {}) if isinstance(processor, dict) else {}
    if isinstance(config, dict) and config.get("Mode", "INLINE") not in ("INLINE", "DISTRIBUTED"):
        yield _schema("ProcessorConfig.Mode must be INLINE or DISTRIBUTED", f"{where}/ItemProcessor/ProcessorConfig")


def _error_rule(rule: Any, where: str, states: Mapping[str, Any], is_catch: bool) -> Iterator[str]:
    if not isinstance(rule, dict):
        yield _schema("Expected an object", where)
        return
    allowed = {"ErrorEquals", "Next", "ResultPath", "Assign", "Output", "Comment"} if is_catch else {
        "ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate", "MaxDelaySeconds", "JitterStrategy", "Comment"}
    for key in rule:
        if key not in allowed:
            yield _schema(f"Field '{key}' is not supported in a {'catcher' if is_catch else 'retrier'}", f"{where}/{key}")
    errors = rule.get("ErrorEquals")
    if not isinstance(errors, list) or not errors or not all(isinstance(e, str) for e in errors):
        yield _schema("ErrorEquals must be a non-empty array of strings", f"{where}/ErrorEquals")
    elif "States.ALL" in errors and len(errors) > 1:
        yield _schema("States.ALL must appear alone in ErrorEquals", f"{where}/ErrorEquals")
    if is_catch:
        if "Next" not in rule:
            yield _schema("A catcher needs Next", where)
        elif rule["Next"] not in states:
            yield f"MISSING_TRANSITION_TARGET: Missing 'Next' target: {rule['Next']} at {where}/Next"
    else:
        for key in ("IntervalSeconds", "MaxAttempts", "MaxDelaySeconds"):
            value = rule.get(key)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                yield _schema(f"{key} must be a non-negative integer", f"{where}/{key}")
        rate = rule.get("BackoffRate")
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int | float) or rate < 1.0):
            yield _schema("BackoffRate must be a number >= 1.0", f"{where}/BackoffRate")
        jitter = rule.get("JitterStrategy")
        if jitter is not None and jitter not in ("FULL", "NONE"):
            yield _schema("JitterStrategy must be FULL or NONE", f"{where}/JitterStrategy")
