"""JSONata templates as Step Functions evaluates them (irflow.engine.jsonata_eval).

The tables come from Step Functions executions recorded on real AWS (the conformance cases
evaluatejsonata, outputdecl, arguments, querylanguage, assign, intrinsicfunctions and scenarios;
each row names its case) plus AWS's documented rules for Step Functions' own functions.
"""

from __future__ import annotations

import random
import re
import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from irflow.engine import jsonata_eval
from irflow.engine.errors import QUERY_EVALUATION_ERROR, StatesError
from irflow.engine.jsonata_eval import (
    JsonataSyntaxError,
    QueryEvaluationError,
    compile_expression,
    evaluate,
    is_expression,
    validate,
)

INPUT = {"input_value": "string literal", "input_values": [1, 2, 3]}
CONTEXT = {
    "Execution": {"Id": "arn:aws:states:us-east-1:111111111111:execution:m:e", "Input": INPUT, "Name": "e"},
    "StateMachine": {"Id": "arn:aws:states:us-east-1:111111111111:stateMachine:m", "Name": "m"},
    "State": {"Name": "State0", "EnteredTime": "2024-11-06T09:42:03.000Z"},
}
# outputdecl BASE_LITERALS: nothing in here is a template, everything is copied as is
LITERALS = {
    "constant_null": None,
    "constant_int": 0,
    "constant_float": 0.1,
    "constant_bool": True,
    "constant_str": "constant string",
    "constant_not_jsonata": " {% states.input %} ",
    "constant_varpath_states": "$states.input",
    "constant_varpath": "$no.such.var.path",
    "constant_jp_input": "$",
    "constant_jp_input.$": "$",
    "constant_jp_input_path": "$.input_value",
    "constant_jp_context": "$$",
    "constant_if": "States.Format('Format:{}', 101)",
    "constant_lst_empty": [],
    "constant_lst": [None, 0, 0.1, True, [], {"constant": 0}, " {% states.input %} ", "$states.input"],
    "constant_obj_empty": {},
    "constant_obj": {"in_obj_constant_str": "constant string", "in_obj_constant_obj": {"constant": 0}},
}

# (case, value, $states, variables, expected result)
EVALUATIONS: list[tuple[str, Any, dict[str, Any], dict[str, Any], Any]] = [
    ("regular_expressions[BASE]", '{% $contains("hello$world", /^hello\\$/) %}', {}, {}, True),
    ("regular_expressions[BASE_SINGLE_QUOTE]", "{% $contains('hello$world', /^hello\\$/) %}", {}, {}, True),
    ("regular_expressions[BASE_FALSE]", '{% $contains("hello$world", /^hello\\ /) %}', {}, {}, False),
    ("base_map[ITEMS]", [1, '{% $number("2") %}', 3], {}, {}, [1, 2, 3]),
    ("base_map[ITEMS_DOUBLE_QUOTES]", [1, "{% $number('2') %}", 3], {}, {}, [1, 2, 3]),
    ("base_task[TIMEOUT_SECONDS]", "{% $variable := 1 %}", {}, {}, 1),
    ("base_task_from_input", "{% $states.input.input_value %}", {"input": {"input_value": 1}}, {}, 1),
    ("base_map_from_input[ITEMS]", "{% $states.input.input_value %}", {"input": {"input_value": [1, 2, 3]}}, {},
     [1, 2, 3]),
    ("merge_with_dynamic_args", "{% $merge([$states.input.part1, $states.input.part2]) %}",
     {"input": {"part1": {"hello": "world"}, "part2": {"foo": "bar"}}}, {}, {"hello": "world", "foo": "bar"}),
    ("outputdecl[BASE_EMPTY]", {}, {"input": INPUT}, {}, {}),
    ("outputdecl[BASE_LITERALS]", LITERALS, {"input": INPUT}, {}, LITERALS),
    ("outputdecl[BASE_EXPR]",
     {"ja_states_context": "{% $states.context %}", "ja_states_input": "{% $states.input %}",
      "ja_var_access": "{% $var_input_value %}", "ja_expr": "{% $sum($states.input.input_values) + $var_constant_1 %}"},
     {"input": INPUT, "context": CONTEXT}, {"var_input_value": "string literal", "var_constant_1": 1},
     {"ja_states_context": CONTEXT, "ja_states_input": INPUT, "ja_var_access": "string literal", "ja_expr": 7}),
    ("outputdecl[BASE_DIRECT_EXPR]", "{% $sum($states.input.input_values) + $var_constant_1 %}",
     {"input": INPUT}, {"var_constant_1": 1}, 7),
    ("outputdecl[BASE_LAMBDA] result access",
     {"ja_states_result": "{% $states.result %}", "ja_states_result_access": "{% $states.result.ja_expr %}"},
     {"input": INPUT, "result": {"ja_expr": 7}}, {}, {"ja_states_result": {"ja_expr": 7}, "ja_states_result_access": 7}),
    ("output_any_non_dict[NULL]", None, {"input": INPUT}, {}, None),
    ("output_any_non_dict[INT]", 0, {"input": INPUT}, {}, 0),
    ("output_any_non_dict[FLOAT]", 0.1, {"input": INPUT}, {}, 0.1),
    ("output_any_non_dict[BOOL]", True, {"input": INPUT}, {}, True),
    ("output_any_non_dict[STR_LIT]", "string literal", {"input": INPUT}, {}, "string literal"),
    ("output_any_non_dict[JSONATA_EXPR]", "{% $states.input %}", {"input": {"input_value": "x"}}, {},
     {"input_value": "x"}),
    ("output_any_non_dict[LIST_EMPY]", [], {"input": INPUT}, {}, []),
    ("output_any_non_dict[LIST_RICH]",
     [None, 0, 0.1, True, "string", [], "$nosuchvar", "$.no.such.path", "{% $states.input %}", {"key": "{% true %}"}],
     {"input": {"input_value": "x"}}, {},
     [None, 0, 0.1, True, "string", [], "$nosuchvar", "$.no.such.path", {"input_value": "x"}, {"key": True}]),
    ("output_to_state[JSONATA_OUTPUT_TO_JSONPATH]", {"foo": "foobar", "bar": "{% $states.input %}"},
     {"input": {"input_data": "test"}}, {}, {"foo": "foobar", "bar": {"input_data": "test"}}),
    ("variable_sampling[JSONPATH_ASSIGN_JSONATA_REF]", {"theAnswer": 18, "oldAnswer": "{% $theAnswer %}"}, {},
     {"theAnswer": 42}, {"theAnswer": 18, "oldAnswer": 42}),
    ("task_dataflow_to_state Arguments",
     {"FunctionName": "{% $states.input.functionName %}",
      "Payload": {"theQuestion": "{% $states.input.enigma.mystery.riddle %}", "theAnswer": "{% $answer %}"}},
     {"input": {"functionName": "fn", "enigma": {"mystery": {"riddle": "What?"}}}}, {"answer": 42},
     {"FunctionName": "fn", "Payload": {"theQuestion": "What?", "theAnswer": 42}}),
    ("assign_in_catch_state", {"result": "{% $states.errorOutput %}"},
     {"input": {}, "errorOutput": {"Error": "Exception", "Cause": "boom"}}, {},
     {"result": {"Error": "Exception", "Cause": "boom"}}),
    ("escape_sequence[JSONATA_COMPARISON_ASSIGN]", "{% $var = '\"' %}", {}, {"var": '"'}, True),
    ("escape_sequence[JSONATA_COMPARISON_OUTPUT]", "{% $states.input = '\"' %}", {"input": '"'}, {}, True),
    ("map_state_item_selector[JSONATA]",
     {"map_item_value": "{% $states.context.Map.Item.Value %}", "var_sample": "{% $ItemsVar %}",
      "string_literal": "string literal"},
     {"context": {"Map": {"Item": {"Index": 0, "Value": "Item1"}}}}, {"ItemsVar": ["Item1", "Item2"]},
     {"map_item_value": "Item1", "var_sample": ["Item1", "Item2"], "string_literal": "string literal"}),
    ("choice_aws_docs_scenario", "{% $not($states.input.type = 'Private') %}",
     {"input": {"type": "Private", "value": 22}}, {}, False),
    ("choice_aws_docs_scenario", "{% $states.input.value >= 20 and $states.input.value < 30 %}",
     {"input": {"type": "Private", "value": 22}}, {}, True),
    ("choice_singleton_composite", '{% $states.input.str_value = "string literal" %}',
     {"input": {"str_value": "string literal"}}, {}, True),
    ("map_state_items_eval_jsonata[mixed]", "{% [1, 'two', 3] %}", {}, {}, [1, "two", 3]),
    ("map_state_items_eval_jsonata[empty]", "{% [] %}", {}, {}, []),
    ("map_state_items_eval_jsonata[singleton]", "{% [0] %}", {}, {}, [0]),
    ("wait_seconds_jsonata", "{% $states.input.waitSeconds %}", {"input": {"waitSeconds": 0}}, {}, 0),
    ("fail_error_jsonata", "{% $states.input.error %}", {"input": {"error": "Exception"}}, {}, "Exception"),
]

# intrinsicfunctions: $partition(fst, snd), $range(fst, snd, trd) and $parse(FunctionInput)
PARTITIONS = [
    ([0], 1, [[0]]), ([0], 2, [[0]]), ([0], 3, [[0]]), ([0], 4, [[0]]), ([0], 5, [[0]]),
    ([0, 1], 1, [[0], [1]]), ([0, 1], 2, [[0, 1]]), ([0, 1], 3, [[0, 1]]), ([0, 1], 4, [[0, 1]]),
    ([0, 1], 5, [[0, 1]]), ([0, 1, 2], 1, [[0], [1], [2]]), ([0, 1, 2], 2, [[0, 1], [2]]),
    ([0, 1, 2], 3, [[0, 1, 2]]), ([0, 1, 2], 4, [[0, 1, 2]]), ([0, 1, 2], 5, [[0, 1, 2]]),
    ([0, 1, 2, 3], 1, [[0], [1], [2], [3]]), ([0, 1, 2, 3], 2, [[0, 1], [2, 3]]),
    ([0, 1, 2, 3], 3, [[0, 1, 2], [3]]), ([0, 1, 2, 3], 4, [[0, 1, 2, 3]]), ([0, 1, 2, 3], 5, [[0, 1, 2, 3]]),
]
RANGES = [((0, 9, 3), [0, 3, 6, 9]), ((0, 10, 3), [0, 3, 6, 9]), ((1, 9, 9), 1), ((1, 9, 2), [1, 3, 5, 7, 9])]
PARSES = [
    ("-0", 0), ("1", 1), ("1.1", 1.1), ("true", True), ('"HelloWorld"', "HelloWorld"),
    ('[1, 2, "HelloWorld"]', [1, 2, "HelloWorld"]), ('{"Arg1": 1, "Arg2": []}', {"Arg1": 1, "Arg2": []}),
]
# test_hash (States.Hash, which $hash replaces): "input data" under each algorithm
HASHES = [
    ("MD5", "812f45842bc6d66ee14572ce20db8e86"),
    ("SHA-1", "aaff4a450a104cd177d28d18d74485e8cae074b7"),
    ("SHA-256", "b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3"),
    ("SHA-384", "d28a7d5cf25a74f11a50a18452b75e04bb3d70c9dd0510d6123aa008c756511b87525bdc835ebb27e1fb9e9374a15562"),
    ("SHA-512", "6ce4adb348546d4f449c4d25aad9a7c9cb711d9e91982d3f0b29ca2f3f47d4ce2deba23bf2954f0f1d593fc50283731a5"
                "33d30d425402d4f91316d871303aac4"),
]

# (case, value, field, expect, $states, variables, state, entered event id, AWS's cause after the prefix
#  "An error occurred while executing the state '<state>' (entered at the event id #<id>). ")
FAILURES: list[tuple[str, Any, str, str | None, dict[str, Any], dict[str, Any], str, int, str]] = [
    ("undefined_reference[BASE_UNDEFINED_OUTPUT]", "{% $doesNotExist %}", "Output", None, {}, {}, "State0", 2,
     "The JSONata expression '$doesNotExist' specified for the field 'Output' returned nothing (undefined)."),
    ("undefined_reference[BASE_UNDEFINED_OUTPUT_FIELD]", {"result": "{% $doesNotExist %}"}, "Output", None, {}, {},
     "State0", 2,
     "The JSONata expression '$doesNotExist' specified for the field 'Output/result' returned nothing (undefined)."),
    ("undefined_reference[BASE_UNDEFINED_OUTPUT_MULTIPLE_STATES]", {"result": "{% $doesNotExist %}"}, "Output",
     None, {}, {}, "State2", 6,
     "The JSONata expression '$doesNotExist' specified for the field 'Output/result' returned nothing (undefined)."),
    ("undefined_reference[BASE_UNDEFINED_ASSIGN]", {"result": "{% $doesNotExist %}"}, "Assign", None, {}, {},
     "State0", 2,
     "The JSONata expression '$doesNotExist' specified for the field 'Assign/result' returned nothing (undefined)."),
    ("undefined_reference[BASE_UNDEFINED_ARGUMENTS]", "{% $doesNotExist %}", "Arguments", None, {}, {}, "State0", 2,
     "The JSONata expression '$doesNotExist' specified for the field 'Arguments' returned nothing (undefined)."),
    ("undefined_reference[BASE_UNDEFINED_ARGUMENTS_FIELD]", {"FunctionName": "{% $doesNotExist %}"}, "Arguments",
     None, {}, {}, "State0", 2,
     "The JSONata expression '$doesNotExist' specified for the field 'Arguments/FunctionName' returned nothing "
     "(undefined)."),
    ("math_random_seeded", {"FunctionResult": "{% $randomSeeded($states.input.FunctionInput.fst) %}"}, "Output",
     None, {"input": {"FunctionInput": "fst"}}, {}, "State_0", 2,
     "The JSONata expression '$randomSeeded($states.input.FunctionInput.fst)' specified for the field "
     "'Output/FunctionResult' threw an error during evaluation. T1006: Attempted to invoke a non-function"),
    ("map_state_items_eval_jsonata_fail[function]", "{% $fn := function($x){$x} %}", "Items", "array", {}, {},
     "MapIterateState", 2,
     "The JSONata expression '$fn := function($x){$x}' specified for the field 'Items' returned an unsupported "
     "result type."),
]
for _kind, _literal, _shown in [
    ("number", "1", "1"), ("string", "'string'", '"string"'), ("boolean", "true", "true"),
    ("object", "{'foo': 'bar'}", '{"foo":"bar"}'), ("null", "null", "null"),
]:
    FAILURES.append((
        f"map_state_items_eval_jsonata_fail[{_kind}]", f"{{% {_literal} %}}", "Items", "array", {}, {},
        "MapIterateState", 2,
        f"The JSONata expression '{_literal}' specified for the field 'Items' returned an unexpected result type. "
        f"Expected 'array', but was '{_kind}' for value: {_shown}",
    ))
    FAILURES.append((
        f"map_state_items_variable_sampling[{_kind}]", "{% $ItemsVar %}", "Items", "array", {},
        {"ItemsVar": {"number": 1, "string": "string", "boolean": True, "object": {"foo": "bar"}, "null": None}[_kind]},
        "MapIterateState", 4,
        f"The JSONata expression '$ItemsVar' specified for the field 'Items' returned an unexpected result type. "
        f"Expected 'array', but was '{_kind}' for value: {_shown}",
    ))


def run(value: Any, states: dict[str, Any] | None = None, variables: dict[str, Any] | None = None,
        rng: random.Random | None = None, **options: Any) -> Any:
    states = {"input": {}, "context": {}, **(states or {})}
    return evaluate(value, states, variables or {}, rng or random.Random(0), **options)


@pytest.mark.parametrize(("case", "value", "states", "variables", "expected"), EVALUATIONS,
                         ids=[row[0] for row in EVALUATIONS])
def test_recorded_evaluations(case: str, value: Any, states: dict[str, Any], variables: dict[str, Any],
                              expected: Any) -> None:
    assert run(value, states, variables) == expected


@pytest.mark.parametrize(("items", "size", "expected"), PARTITIONS)
def test_partition_as_recorded(items: list[int], size: int, expected: Any) -> None:
    states = {"input": {"FunctionInput": {"fst": items, "snd": size}}}
    value = "{% $partition($states.input.FunctionInput.fst, $states.input.FunctionInput.snd) %}"
    assert run(value, states) == expected


@pytest.mark.parametrize(("arguments", "expected"), RANGES)
def test_range_as_recorded(arguments: tuple[int, int, int], expected: Any) -> None:
    states = {"input": {"FunctionInput": dict(zip(("fst", "snd", "trd"), arguments, strict=True))}}
    value = ("{% $range($states.input.FunctionInput.fst, $states.input.FunctionInput.snd, "
             "$states.input.FunctionInput.trd) %}")
    assert run(value, states) == expected


@pytest.mark.parametrize(("text", "expected"), PARSES)
def test_parse_as_recorded(text: str, expected: Any) -> None:
    result = run("{% $parse($states.input.FunctionInput) %}", {"input": {"FunctionInput": text}})
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(("algorithm", "digest"), HASHES)
def test_hash_matches_states_hash(algorithm: str, digest: str) -> None:
    assert run("{% $hash($states.input.data, $states.input.algorithm) %}",
               {"input": {"data": "input data", "algorithm": algorithm}}) == digest


@pytest.mark.parametrize(("case", "value", "field", "expect", "states", "variables", "state", "entered", "cause"),
                         FAILURES, ids=[row[0] for row in FAILURES])
def test_recorded_failures(case: str, value: Any, field: str, expect: str | None, states: dict[str, Any],
                           variables: dict[str, Any], state: str, entered: int, cause: str) -> None:
    with pytest.raises(QueryEvaluationError) as raised:
        run(value, states, variables, field=field, expect=expect)
    err = raised.value
    assert isinstance(err, StatesError) and err.error == QUERY_EVALUATION_ERROR
    assert err.cause == cause  # the interpreter adds the state prefix
    assert err.location == re.search(r"for the field '([^']*)'", cause).group(1)  # type: ignore[union-attr]


# --- Step Functions' rules beyond the recordings -------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    ("{% 1.0 + 2 %}", 3), ("{% 3/2 %}", 1.5), ("{% $states.input.whole %}", 2), ("{% $number('2') %}", 2),
    ("{% $states.input.items.n %}", [3, 9]), ("{% $states.input.items[n > 4].n %}", 9),
])
def test_numbers_stay_integers_when_integral(value: str, expected: Any) -> None:
    result = run(value, {"input": {"whole": 2.0, "items": [{"n": 3}, {"n": 9}]}})
    assert result == expected and type(result) is type(expected)


def test_null_is_a_value_not_undefined() -> None:
    states = {"input": {"bar": None, "arr": [1, None]}}
    assert run({"v": "{% $states.input.bar %}", "w": "{% $nothing %}", "a": "{% $states.input.arr %}"},
               states, {"nothing": None}) == {"v": None, "w": None, "a": [1, None]}
    assert run("{% null %}") is None
    assert run("{% $exists($states.input.bar) %}", states) is True


def test_non_templates_are_copied_not_shared() -> None:
    value = {"a": [1, {"b": "{%x"}], "c": " {% $x %}"}
    result = run(value)
    assert result == value and result is not value and result["a"] is not value["a"]


@pytest.mark.parametrize(("text", "expected"), [
    ("{% $x %}", True), ("{%$x%}", True), ("{%%}", True), (" {% $x %}", False), ("{% $x %} ", False),
    ("{%}", False), ("$x", False), (1, False), (None, False),
])
def test_is_expression(text: Any, expected: bool) -> None:
    assert is_expression(text) is expected


def test_compiled_expressions_are_cached() -> None:
    assert compile_expression("{% $states.input.a %}") is compile_expression("{% $states.input.a %}")
    assert compile_expression("{%  $states.input.a  %}").text == "$states.input.a"


# (template, code, detail)
REFUSED = [
    ("{% a[1,2) %}", "INVALID_JSONATA_EXPRESSION", "Expected ], got ,"),
    ("{% %}", "INVALID_JSONATA_EXPRESSION", "Unexpected end of expression"),
    ("{% 'unterminated %}", "INVALID_JSONATA_EXPRESSION", "String literal must be terminated by a matching quote"),
    ("{% phone %}", "UNSUPPORTED_JSONATA_EXPRESSION", "Reference to 'phone' at the top level is not supported."),
    ("{% states.input %}", "UNSUPPORTED_JSONATA_EXPRESSION", "Reference to 'states' at the top level is not supported."),
    ("{% $ %}", "UNSUPPORTED_JSONATA_EXPRESSION", "Reference to '$' at the top level is not supported."),
    ("{% $$ %}", "UNSUPPORTED_JSONATA_EXPRESSION", "Reference to '$$' is not supported."),
    ("{% $$.a %}", "UNSUPPORTED_JSONATA_EXPRESSION", "Reference to '$$' is not supported."),
    ("{% {aaa: 1} %}", "UNSUPPORTED_JSONATA_EXPRESSION", "Reference to 'aaa' at the top level is not supported."),
    ("{% $count(foo) + 1 %}", "UNSUPPORTED_JSONATA_EXPRESSION", "Reference to 'foo' at the top level is not supported."),
    ("{% $map($states.input.a, function($v){ b }) %}", "UNSUPPORTED_JSONATA_EXPRESSION",
     "Reference to 'b' at the top level is not supported."),
    ("{% x ~> $string() %}", "UNSUPPORTED_JSONATA_EXPRESSION", "Reference to 'x' at the top level is not supported."),
]
ACCEPTED = [
    "{% $states.input.items[value > 3] %}", "{% $states.input.arr[$ > 3] %}", "{% $states.input.items^(price) %}",
    "{% $states.input.items{type: price} %}", "{% $map($states.input.a, function($v){ $v.b }) %}",
    "{% {'key': $states.input.x} %}", "{% ($x := 1; $x + $y) %}", "{% $states.input.a ? 'y' : 'n' %}",
    "{% $states.input.(a + b) %}",
]


@pytest.mark.parametrize(("template", "code", "detail"), REFUSED)
def test_validate_refuses_what_aws_refuses(template: str, code: str, detail: str) -> None:
    with pytest.raises(JsonataSyntaxError) as raised:
        validate({"Payload": {"list": ["fine", "{% $states.input %}", template]}})
    assert (raised.value.code, raised.value.detail, raised.value.path) == (code, detail, "/Payload/list[2]")
    assert str(raised.value) == f"{code}: {detail}"
    with pytest.raises(JsonataSyntaxError):
        compile_expression(template)


@pytest.mark.parametrize("template", ACCEPTED)
def test_validate_accepts_names_read_below_the_top_level(template: str) -> None:
    validate(template)
    validate({"a": [template, " {% phone %} ", "$$", 1, None]})


def test_partition_edges() -> None:
    assert run("{% $partition([1, 2, 3, 4, 5], 2.9) %}") == [[1, 2], [3, 4], [5]]
    assert run("{% $partition($states.input.one, 2) %}", {"input": {"one": 5}}) == [[5]]
    for undefined in ("{% $partition([1, 2], 0) %}", "{% $partition([], 2) %}"):
        with pytest.raises(QueryEvaluationError, match="returned nothing"):
            run(undefined)


def test_range_edges() -> None:
    assert run("{% $range(10, 0, -4) %}") == [10, 6, 2]
    assert run("{% $range(-1.7, 2, 1) %}") == [-1, 0, 1, 2]
    for undefined in ("{% $range(0, 10) %}", "{% $range(0, 10, -1) %}", "{% $range(0, 10, 0) %}"):
        with pytest.raises(QueryEvaluationError, match="returned nothing"):
            run(undefined)
    with pytest.raises(QueryEvaluationError, match="memory limit exceeded"):
        run(f"{{% $range(1, {jsonata_eval.MAX_RANGE_ELEMENTS + 1}, 1) %}}")


def test_hash_needs_a_known_algorithm() -> None:
    with pytest.raises(QueryEvaluationError, match="returned nothing"):
        run("{% $hash('data') %}")
    with pytest.raises(QueryEvaluationError, match="'sha-256' is not supported"):
        run("{% $hash('data', 'sha-256') %}")


def test_random_is_seeded_by_argument_or_by_the_execution_rng() -> None:
    seeded = run("{% [$random(42), $random(42.8), $random(7)] %}")
    assert seeded[0] == seeded[1] != seeded[2] and all(0 <= n < 1 for n in seeded)
    assert run("{% $random(42) %}", rng=random.Random(1)) == seeded[0]
    drawn = {"a": "{% $random() %}", "b": "{% $random() %}", "id": "{% $uuid() %}",
             "order": "{% $shuffle([1, 2, 3, 4, 5]) %}"}
    first = run(drawn, rng=random.Random(5))
    assert first == run(drawn, rng=random.Random(5)) != run(drawn, rng=random.Random(6))
    assert first["a"] != first["b"] and sorted(first["order"]) == [1, 2, 3, 4, 5]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", first["id"])


def test_now_and_millis_read_the_engine_clock() -> None:
    moment = datetime(2024, 11, 6, 9, 42, 3, 250000, tzinfo=UTC)
    assert run({"now": "{% $now() %}", "ms": "{% $millis() %}", "day": "{% $now('[Y]-[M01]-[D01]') %}"},
               now=moment) == {"now": "2024-11-06T09:42:03.250Z", "ms": 1730886123250, "day": "2024-11-06"}
    assert isinstance(run("{% $millis() %}"), int)


def test_eval_is_not_available() -> None:
    with pytest.raises(QueryEvaluationError, match="T1006: Attempted to invoke a non-function"):
        run("{% $eval('1 + 1') %}")


@pytest.mark.parametrize(("value", "detail"), [
    ("{% $states.input.x + 'a' %}",
     "threw an error during evaluation. T2002: The right side of the + operator must evaluate to a number"),
    ("{% 1/0 %}", "threw an error during evaluation. D1001: Number out of range: Infinity"),
    ("{% $error('custom') %}", "threw an error during evaluation. D3137: custom"),
    ("{% $number('abc') + {} %}", "threw an error during evaluation."),
    ("{% $parse('{') %}", "threw an error during evaluation. The argument of $parse is not valid JSON"),
    ("{% {'f': $uppercase} %}", "returned an unsupported result type."),
    ("{% ($f := function($n){ 1 + $f($n + 1) }; $f(0)) %}", "threw an error during evaluation. D1011: Stack overflow"),
])
def test_evaluation_errors(value: str, detail: str) -> None:
    with pytest.raises(QueryEvaluationError) as raised:
        run(value, {"input": {"x": 1}}, field="Output")
    assert raised.value.cause is not None and detail in raised.value.cause
    assert raised.value.location == "Output"


def test_a_runaway_loop_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonata_eval, "TIMEOUT_MS", 50)
    with pytest.raises(QueryEvaluationError, match="D1012: Evaluation timeout"):
        run("{% ($f := function($n){ $f($n + 1) }; $f(0)) %}")


def test_variables_shadow_step_functions_functions_and_states_is_reserved() -> None:
    assert run("{% $partition %}", variables={"partition": "mine"}) == "mine"
    assert run("{% $states.input.a %}", {"input": {"a": 1}}, {"states": {"input": {"a": 2}}}) == 2


def test_field_locations_name_array_indexes_and_keys() -> None:
    with pytest.raises(QueryEvaluationError) as raised:
        run({"a": {"b": [0, "{% $missing %}"]}}, field="Choices[1]/Output")
    assert raised.value.location == "Choices[1]/Output/a/b[1]"


def test_evaluation_is_thread_safe() -> None:
    failures: list[str] = []
    moment = datetime(2024, 1, 1, tzinfo=UTC)

    def worker(n: int) -> None:
        for i in range(200):
            got = run({"sum": "{% $sum($states.input.values) + $n %}", "now": "{% $millis() %}",
                       "doubled": "{% $map($states.input.values, function($v){ $v * $n }) %}"},
                      {"input": {"values": [i, 1]}}, {"n": n}, now=moment)
            expected = {"sum": i + 1 + n, "now": 1704067200000, "doubled": [i * n, n]}
            if got != expected:
                failures.append(f"{n}/{i}: {got} != {expected}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(2, 8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
