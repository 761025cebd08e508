"""Intrinsic functions: AWS-recorded results, runtime failures and create-time syntax errors, as tables."""

from __future__ import annotations

import hashlib
import random
import re
from typing import Any

import pytest

from irflow.engine.errors import INTRINSIC_FAILURE, StatesError
from irflow.engine.intrinsics import IntrinsicSyntaxError, compile_intrinsic, is_intrinsic
from irflow.engine.jsonpath import PathNotFound, compile_path


def evaluate(text: str, data: Any = None, context: Any = None, variables: dict[str, Any] | None = None,
             rng: random.Random | None = None) -> Any:
    """Evaluate `text` the way the interpreter does: `$` is `data`, `$$` the context, `$name` a variable."""

    def resolve(path_text: str) -> Any:
        path = compile_path(path_text)
        document = data if path.root == "$" else context if path.root == "$$" else (variables or {})[path.root]
        try:
            return path.evaluate(document)
        except PathNotFound as missing:
            raise StatesError("States.Runtime", str(missing)) from None

    return compile_intrinsic(text).evaluate(resolve, rng or random.Random(7))


# (expression, $.FunctionInput, FunctionResult) from tests/aws/.../intrinsic_functions recorded on AWS
# (conformance category `intrinsicfunctions`, JSONPath Pass states; random and uuid results are masked there).
RECORDED = [
    ('States.Array()', 'HelloWorld', []),
    ('States.Array($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': '', 'snd': ''}, ['', '']),
    ('States.Array($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': ' ', 'snd': ' '}, [' ', ' ']),
    ('States.Array($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': 'HelloWorld', 'snd': 'HelloWorld'}, ['HelloWorld', 'HelloWorld']),
    ('States.Array($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': None, 'snd': None}, [None, None]),
    ('States.Array($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': 1, 'snd': 1}, [1, 1]),
    ('States.Array($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': 1.1, 'snd': 1.1}, [1.1, 1.1]),
    ('States.Array($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': '{"Arg1": 1, "Arg2": []}', 'snd': '{"Arg1": 1, "Arg2": []}'}, ['{"Arg1": 1, "Arg2": []}', '{"Arg1": 1, "Arg2": []}']),
    ('States.Array($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': {'Arg1': 1, 'Arg2': []}, 'snd': {'Arg1': 1, 'Arg2': []}}, [{'Arg1': 1, 'Arg2': []}, {'Arg1': 1, 'Arg2': []}]),
    ('States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': [], 'snd': 1}, []),
    ('States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': [], 'snd': 2}, []),
    ('States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': [], 'snd': 3}, []),
    ('States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': [], 'snd': 4}, []),
    ('States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': [], 'snd': 5}, []),
    ('States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': [0], 'snd': 1}, [[0]]),
    ('States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': [0], 'snd': 2}, [[0]]),
    ('States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': [0], 'snd': 3}, [[0]]),
    ('States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': [0], 'snd': 4}, [[0]]),
    ('States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': [0], 'snd': 5}, [[0]]),
    ('States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': [0, 1], 'snd': 1}, [[0], [1]]),
    ('States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': [0, 1], 'snd': 2}, [[0, 1]]),
    ('States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': [0, 1], 'snd': 3}, [[0, 1]]),
    ('States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': [0, 1], 'snd': 4}, [[0, 1]]),
    ('States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': [0, 1], 'snd': 5}, [[0, 1]]),
    ('States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': [0, 1, 2], 'snd': 1}, [[0], [1], [2]]),
    ('States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': [0, 1, 2], 'snd': 2}, [[0, 1], [2]]),
    ('States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': [0, 1, 2], 'snd': 3}, [[0, 1, 2]]),
    ('States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': [0, 1, 2], 'snd': 4}, [[0, 1, 2]]),
    ('States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': [0, 1, 2], 'snd': 5}, [[0, 1, 2]]),
    ('States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': [0, 1, 2, 3], 'snd': 1}, [[0], [1], [2], [3]]),
    ('States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': [0, 1, 2, 3], 'snd': 2}, [[0, 1], [2, 3]]),
    ('States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': [0, 1, 2, 3], 'snd': 3}, [[0, 1, 2], [3]]),
    ('States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': [0, 1, 2, 3], 'snd': 4}, [[0, 1, 2, 3]]),
    ('States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': [0, 1, 2, 3], 'snd': 5}, [[0, 1, 2, 3]]),
    ('States.ArrayContains($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': [], 'snd': None}, False),
    ('States.ArrayContains($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': [], 'snd': []}, False),
    ('States.ArrayContains($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': [], 'snd': 1}, False),
    ('States.ArrayContains($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': [[1, 2, 3], 2], 'snd': None}, False),
    ('States.ArrayContains($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': [[1, 2, 3], 2], 'snd': [1, 2, 3]}, True),
    ('States.ArrayContains($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': [{'1': 2, '2': []}], 'snd': []}, False),
    ('States.ArrayContains($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': [{'1': 2, '2': []}], 'snd': {'1': 2, '2': []}}, True),
    ('States.ArrayContains($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': [True, False], 'snd': True}, True),
    ('States.ArrayContains($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': [True, False], 'snd': False}, True),
    ('States.ArrayRange($.FunctionInput.fst, $.FunctionInput.snd, $.FunctionInput.trd)', {'fst': 0, 'snd': 9, 'trd': 3}, [0, 3, 6, 9]),
    ('States.ArrayRange($.FunctionInput.fst, $.FunctionInput.snd, $.FunctionInput.trd)', {'fst': 0, 'snd': 10, 'trd': 3}, [0, 3, 6, 9]),
    ('States.ArrayRange($.FunctionInput.fst, $.FunctionInput.snd, $.FunctionInput.trd)', {'fst': 1, 'snd': 9, 'trd': 9}, [1]),
    ('States.ArrayRange($.FunctionInput.fst, $.FunctionInput.snd, $.FunctionInput.trd)', {'fst': 1, 'snd': 9, 'trd': 2}, [1, 3, 5, 7, 9]),
    ('States.ArrayGetItem($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': [1, 2, 3, 4, 5, 6, 7, 8, 9], 'snd': 5}, 6),
    ('States.ArrayLength($.FunctionInput)', [1, 2, 3, 4, 5, 6, 7, 8, 9], 9),
    ('States.ArrayLength($.FunctionInput)', [None, None, True, True, False, False, 1, 1, 1.1, 0, 0, 'HelloWorld', 'HelloWorld', [], [], [None], [None], {'a': 1, 'b': 2}, {'a': 1, 'b': 2}, {'a': 1, 'b': 1}], 20),
    ('States.Base64Encode($.FunctionInput)', '', ''),
    ('States.Base64Encode($.FunctionInput)', 'Data to encode', 'RGF0YSB0byBlbmNvZGU='),
    ('States.Base64Decode($.FunctionInput)', '', ''),
    ('States.Base64Decode($.FunctionInput)', 'RGF0YSB0byBlbmNvZGU=', 'Data to encode'),
    ("States.Format('Formatting argument {}.', $.FunctionInput)", '', 'Formatting argument .'),
    ("States.Format('Formatting argument {}.', $.FunctionInput)", ' ', 'Formatting argument  .'),
    ("States.Format('Formatting argument {}.', $.FunctionInput)", 'HelloWorld', 'Formatting argument HelloWorld.'),
    ("States.Format('Formatting argument {}.', $.FunctionInput)", None, 'Formatting argument null.'),
    ("States.Format('Formatting argument {}.', $.FunctionInput)", 1, 'Formatting argument 1.'),
    ("States.Format('Formatting argument {}.', $.FunctionInput)", 1.1, 'Formatting argument 1.1.'),
    ("States.Format('Formatting argument {}.', $.FunctionInput)", '{"Arg1": 1, "Arg2": []}', 'Formatting argument {"Arg1": 1, "Arg2": []}.'),
    ("States.Format('Formatting arguments fst={} and snd={}.', $.FunctionInput.fst, $.FunctionInput.snd)", {'fst': '', 'snd': ''}, 'Formatting arguments fst= and snd=.'),
    ("States.Format('Formatting arguments fst={} and snd={}.', $.FunctionInput.fst, $.FunctionInput.snd)", {'fst': ' ', 'snd': ' '}, 'Formatting arguments fst=  and snd= .'),
    ("States.Format('Formatting arguments fst={} and snd={}.', $.FunctionInput.fst, $.FunctionInput.snd)", {'fst': 'HelloWorld', 'snd': 'HelloWorld'}, 'Formatting arguments fst=HelloWorld and snd=HelloWorld.'),
    ("States.Format('Formatting arguments fst={} and snd={}.', $.FunctionInput.fst, $.FunctionInput.snd)", {'fst': None, 'snd': None}, 'Formatting arguments fst=null and snd=null.'),
    ("States.Format('Formatting arguments fst={} and snd={}.', $.FunctionInput.fst, $.FunctionInput.snd)", {'fst': 1, 'snd': 1}, 'Formatting arguments fst=1 and snd=1.'),
    ("States.Format('Formatting arguments fst={} and snd={}.', $.FunctionInput.fst, $.FunctionInput.snd)", {'fst': 1.1, 'snd': 1.1}, 'Formatting arguments fst=1.1 and snd=1.1.'),
    ("States.Format('Formatting arguments fst={} and snd={}.', $.FunctionInput.fst, $.FunctionInput.snd)", {'fst': '{"Arg1": 1, "Arg2": []}', 'snd': '{"Arg1": 1, "Arg2": []}'}, 'Formatting arguments fst={"Arg1": 1, "Arg2": []} and snd={"Arg1": 1, "Arg2": []}.'),
    ("States.Format('Formatting arguments fst={} and snd={}.', $.FunctionInput.fst, $.FunctionInput.snd)", {'fst': {'Arg1': 1, 'Arg2': []}, 'snd': {'Arg1': 1, 'Arg2': []}}, 'Formatting arguments fst={Arg1=1, Arg2=[]} and snd={Arg1=1, Arg2=[]}.'),
    ("States.StringSplit('Hello\nWorld', '\n')", None, ['Hello', 'World']),
    ('States.Hash($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': 'input data', 'snd': 'MD5'}, '812f45842bc6d66ee14572ce20db8e86'),
    ('States.Hash($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': 'input data', 'snd': 'SHA-1'}, 'aaff4a450a104cd177d28d18d74485e8cae074b7'),
    ('States.Hash($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': 'input data', 'snd': 'SHA-256'}, 'b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3'),
    ('States.Hash($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': 'input data', 'snd': 'SHA-384'}, 'd28a7d5cf25a74f11a50a18452b75e04bb3d70c9dd0510d6123aa008c756511b87525bdc835ebb27e1fb9e9374a15562'),
    ('States.Hash($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': 'input data', 'snd': 'SHA-512'}, '6ce4adb348546d4f449c4d25aad9a7c9cb711d9e91982d3f0b29ca2f3f47d4ce2deba23bf2954f0f1d593fc50283731a533d30d425402d4f91316d871303aac4'),
    ('States.StringToJson($.FunctionInput)', '', None),
    ('States.StringToJson($.FunctionInput)', ' ', None),
    ('States.StringToJson($.FunctionInput)', 'null', None),
    ('States.StringToJson($.FunctionInput)', '-0', 0),
    ('States.StringToJson($.FunctionInput)', '1', 1),
    ('States.StringToJson($.FunctionInput)', '1.1', 1.1),
    ('States.StringToJson($.FunctionInput)', 'true', True),
    ('States.StringToJson($.FunctionInput)', '"HelloWorld"', 'HelloWorld'),
    ('States.StringToJson($.FunctionInput)', '[1, 2, "HelloWorld"]', [1, 2, 'HelloWorld']),
    ('States.StringToJson($.FunctionInput)', '{"Arg1": 1, "Arg2": []}', {'Arg1': 1, 'Arg2': []}),
    ('States.JsonToString($.FunctionInput)', None, 'null'),
    ('States.JsonToString($.FunctionInput)', 0, '0'),
    ('States.JsonToString($.FunctionInput)', 1, '1'),
    ('States.JsonToString($.FunctionInput)', 1.1, '1.1'),
    ('States.JsonToString($.FunctionInput)', True, 'true'),
    ('States.JsonToString($.FunctionInput)', 'HelloWorld', '"HelloWorld"'),
    ('States.JsonToString($.FunctionInput)', [1, 2, 'HelloWorld'], '[1,2,"HelloWorld"]'),
    ('States.JsonToString($.FunctionInput)', {'Arg1': 1, 'Arg2': []}, '{"Arg1":1,"Arg2":[]}'),
    ('States.JsonMerge($.FunctionInput.fst, $.FunctionInput.snd, false)', {'fst': {'a': {'a1': 1, 'a2': 2}, 'b': 2, 'd': 3}, 'snd': {'a': {'a3': 1, 'a4': 2}, 'c': 3, 'd': 4}}, {'a': {'a3': 1, 'a4': 2}, 'b': 2, 'c': 3, 'd': 4}),
    ('States.MathAdd($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': -9, 'snd': 3}, -6),
    ('States.MathAdd($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': 1.49, 'snd': 1.5}, 3),
    ('States.MathAdd($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': 1.5, 'snd': 1.51}, 4),
    ('States.MathAdd($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': -1.49, 'snd': -1.5}, -2),
    ('States.MathAdd($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': -1.5, 'snd': -1.51}, -3),
    ('States.MathAdd($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': 1.49, 'snd': 0}, 1),
    ('States.MathAdd($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': 1.49, 'snd': -1.49}, 0),
    ('States.MathAdd($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': 1.5, 'snd': 0}, 2),
    ('States.MathAdd($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': 1.51, 'snd': 0}, 2),
    ('States.MathAdd($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': -1.49, 'snd': 0}, -1),
    ('States.MathAdd($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': -1.5, 'snd': 0}, -1),
    ('States.MathAdd($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': -1.51, 'snd': 0}, -2),
    ('States.MathAdd($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': 0.5, 'snd': 0}, 1),
    ('States.MathAdd($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': 2.5, 'snd': 0}, 3),
    ('States.MathAdd($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': 3.5, 'snd': 0}, 4),
    ('States.MathAdd($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': -0.5, 'snd': 0.5}, 1),
    ('States.MathAdd($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': -0.5, 'snd': 0}, 0),
    ('States.MathAdd($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': -2.5, 'snd': 0}, -2),
    ('States.MathAdd($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': -3.5, 'snd': 0}, -3),
    ('States.StringSplit($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': ' ', 'snd': ','}, [' ']),
    ('States.StringSplit($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': ' , ', 'snd': ','}, [' ', ' ']),
    ('States.StringSplit($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': ', , ,', 'snd': ','}, [' ', ' ']),
    ('States.StringSplit($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': ',,,,', 'snd': ','}, []),
    ('States.StringSplit($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': '1,2,3,4,5', 'snd': ','}, ['1', '2', '3', '4', '5']),
    ('States.StringSplit($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': 'This.is+a,test=string', 'snd': '.+,='}, ['This', 'is', 'a', 'test', 'string']),
    ('States.StringSplit($.FunctionInput.fst, $.FunctionInput.snd)', {'fst': 'split on T and \nnew line', 'snd': 'T\n'}, ['split on ', ' and ', 'new line']),
]


@pytest.mark.parametrize(("expression", "function_input", "expected"), RECORDED)
def test_recorded_results(expression: str, function_input: Any, expected: Any) -> None:
    result = evaluate(expression, {"FunctionInput": function_input})
    assert result == expected
    assert type(result) is type(expected)  # ints stay ints (MathAdd, ArrayRange, StringToJson("-0"))


STATE_MACHINE = {"Id": "arn:aws:states:us-east-1:111111111111:stateMachine:irflow-demo-machine", "Name": "irflow-demo-machine"}
CONTEXT = {
    "Execution": {"Name": "exec-1", "Input": {"input_field": {"constant_input_field": "constant_value"},
                                            "FunctionInput": "Value1,Value2\nValue3,,,\ntrue,'HelloWorld'\n"}},
    "StateMachine": STATE_MACHINE,
}
VARIABLES = {
    "rawString": "Hello World", "encodedString": "SGVsbG8gV29ybGQ=", "inputString": "Hash this string",
    "json1": {"a": 1, "b": 2}, "json2": {"c": 3, "d": 4}, "jsonString": '{"key":"value"}',
    "jsonObject": {"test": "object"}, "value1": 5, "value2": 3, "csvString": "a,b,c,d,e", "name": "John",
    "place": "LocalStack", "AnswerTemplate": "It's {}!", "xCurrent": 9, "yCurrent": 44, "zCurrent": 6, "bias": 4.3,
}
ARRAYS = {"inputArray": [1, 2, 3, 4, 5, 6], "duplicateArray": [1, 2, 2, 3, 3, 4], "Error": "error string",
          "Cause": "cause string"}

# Other recorded uses: the context object, variables (Assign), nesting, literals and escapes.
RECORDED_OTHER = [
    # TestGeneric::test_context_json_path: objects render as Java maps
    ("States.Format('Formatting arguments fst={} and snd={}.', $$.Execution.Name, $$.StateMachine)",
     f"Formatting arguments fst=exec-1 and snd={{Id={STATE_MACHINE['Id']}, Name=irflow-demo-machine}}."),
    # TestGeneric::test_nested_calls_1 / _2
    ("States.ArrayGetItem(States.StringSplit($$.StateMachine.Name, '-'), 0)", "irflow"),
    ("States.ArrayGetItem(States.StringSplit($$.StateMachine.Name, '-'), "
     "States.MathAdd(States.ArrayLength(States.StringSplit($$.StateMachine.Name, '-')), -1))", "machine"),
    # TestGeneric::test_escape_sequence (the JSON text held real newlines)
    ("States.StringSplit('Hello\nWorld', '\n')", ["Hello", "World"]),
    # TestJsonManipulation::test_json_merge_escaped_argument: unescaped { } are fine outside Format
    ("States.JsonMerge(States.StringToJson('{\"constant_in_literal\": \"false\"}'), $$.Execution.Input.input_field, "
     "false)", {"constant_in_literal": "false", "constant_input_field": "constant_value"}),
    # TestStringOperations::test_string_split_context_object
    ("States.StringSplit($$.Execution.Input.FunctionInput, ',')",
     ["Value1", "Value2\nValue3", "\ntrue", "'HelloWorld'\n"]),
    # TestAssignReferenceVariables BASE_REFERENCE_IN_INTRINSIC_FUNCTION / BASE_ASSIGN_FROM_INTRINSIC_FUNCTION
    ("States.Base64Encode($rawString)", "SGVsbG8gV29ybGQ="),
    ("States.Base64Decode($encodedString)", "Hello World"),
    ("States.Hash($inputString, 'SHA-256')", "1cac63f39fd68d8c531f27b807610fb3d50f0fc3f186995767fb6316e7200a3e"),
    ("States.JsonMerge($json1, $json2, false)", {"a": 1, "b": 2, "c": 3, "d": 4}),
    ("States.StringToJson($jsonString)", {"key": "value"}),
    ("States.JsonToString($jsonObject)", '{"test":"object"}'),
    ("States.MathAdd($value1, $value2)", 8),
    ("States.StringSplit($csvString, ',')", ["a", "b", "c", "d", "e"]),
    ("States.Format('Hello {}, welcome to {}!', $name, $place)", "Hello John, welcome to LocalStack!"),
    ("States.Format($AnswerTemplate, 'Pikachu')", "It's Pikachu!"),
    ("States.MathAdd(States.MathAdd(States.MathAdd($yCurrent, $xCurrent), $zCurrent), $bias)", 63),
    ("States.Array('a', 'b', 'c')", ["a", "b", "c"]),
    ("States.ArrayPartition($.inputArray, 2)", [[1, 2], [3, 4], [5, 6]]),
    ("States.ArrayContains($.inputArray, 5)", True),
    ("States.ArrayRange(1, 10, 2)", [1, 3, 5, 7, 9]),
    ("States.ArrayGetItem($.inputArray, 2)", 3),
    ("States.ArrayLength($.inputArray)", 6),
    ("States.ArrayUnique($.duplicateArray)", [1, 2, 3, 4]),
    # TestSnfBase::test_state_fail_intrinsic (ErrorPath / CausePath)
    ("States.Format('{}', $.Error)", "error string"),
    ("States.Format('This is a custom error message for {}, caused by {}.', $.Error, $.Cause)",
     "This is a custom error message for error string, caused by cause string."),
]


@pytest.mark.parametrize(("expression", "expected"), RECORDED_OTHER)
def test_recorded_context_variables_and_nesting(expression: str, expected: Any) -> None:
    assert evaluate(expression, ARRAYS, CONTEXT, VARIABLES) == expected


# Behaviour beyond the recordings: literals, escapes, Java renderings, edge values.
BEHAVIOUR = [
    ("States.Format('a \\{\\} b {} \\'q\\' \\\\ end', 1)", "a {} b 1 'q' \\ end"),
    ("States.Format('{}{}', 'x', 'y')", "xy"),
    ("States.Format('{} {} {} {}', true, null, 2.5, -3)", "true null 2.5 -3"),
    ("States.Format('{}', $.big)", "1.0E21"),  # Java's Double.toString
    ("States.Format('{}', $.list)", "[1, x, null, {k=v}]"),
    ("States.Format($.template, 1)", "n=1"),
    ("States.Array(1, 1.5, -2, true, false, null, 'x', $.obj)", [1, 1.5, -2, True, False, None, "x", {"k": "v"}]),
    ("States.ArrayContains($.mixed, 1)", False),  # true is not 1
    ("States.ArrayContains($.list, $.obj)", True),
    ("States.ArrayUnique($.mixed)", [True, False, None, "1", {"a": [1]}]),
    ("States.ArrayRange(5, 1, -2)", [5, 3, 1]),
    ("States.ArrayRange(1, 5, -1)", []),
    ("States.ArrayRange(0, 999, 1)", list(range(1000))),
    ("States.ArrayPartition($.list, 3)", [[1, "x", None], [{"k": "v"}]]),
    ("States.ArrayGetItem($.list, 3.0)", {"k": "v"}),
    ("States.StringSplit('a,,b', '')", ["a,,b"]),
    ("States.StringSplit('', ',')", []),
    ("States.StringToJson('  {\"a\": [1, 2.5, \"x\"]}  ')", {"a": [1, 2.5, "x"]}),
    ("States.JsonToString($.unicode)", '{"s":"é ✓"}'),
    ("States.Base64Encode('é ✓')", "w6kg4pyT"),
    ("States.Base64Decode('w6kg4pyT')", "é ✓"),
    ("States.Hash('input data', 'MD5')", "812f45842bc6d66ee14572ce20db8e86"),
    ("States.Hash($.obj, 'SHA-1')", hashlib.sha1(b'{"k":"v"}').hexdigest()),  # non-strings hash their JSON text
    ("States.MathAdd(-2147483648, 2147483647)", -1),
    ("States.MathAdd(0.5, -0.5)", 1),  # Math.round(0.5) + Math.round(-0.5) = 1 + 0
    ("States.JsonMerge($.obj, $.empty, false)", {"k": "v"}),
    ("States.Array( )", []),
    ("States.Array(  'a'  ,  $.obj  )", ["a", {"k": "v"}]),
    ("States.Array($.list[?(@ == 'x')], $.list[1:3])", [["x"], ["x", None]]),
]
DATA = {"big": 1e21, "list": [1, "x", None, {"k": "v"}], "template": "n={}", "obj": {"k": "v"}, "empty": {},
        "mixed": [True, False, None, "1", {"a": [1]}, {"a": [1]}, True], "unicode": {"s": "é ✓"}}


@pytest.mark.parametrize(("expression", "expected"), BEHAVIOUR)
def test_behaviour(expression: str, expected: Any) -> None:
    assert evaluate(expression, DATA) == expected


# Runtime failures: States.IntrinsicFailure, with a cause naming the function and the problem.
FAILURES = [
    ("States.Format('{} {}', 1)", "States.Format: the format string has 2 placeholder(s)"),
    ("States.Format($.obj, 1)", "States.Format: the format string must be a string"),
    ("States.StringToJson('{nope')", "States.StringToJson: the argument is not valid JSON text"),
    ("States.StringToJson('NaN')", "States.StringToJson: the argument is not valid JSON text"),
    ("States.StringToJson($.list)", "States.StringToJson: the argument must be a string"),
    ("States.ArrayPartition($.obj, 2)", "States.ArrayPartition: the first argument must be an array"),
    ("States.ArrayPartition($.list, 0)", "States.ArrayPartition: the chunk size must be a positive integer"),
    ("States.ArrayPartition($.list, 1.5)", "States.ArrayPartition: the chunk size must be an integer"),
    ("States.ArrayContains('abc', 'a')", "States.ArrayContains: the first argument must be an array"),
    ("States.ArrayRange(0, 10, 0)", "States.ArrayRange: the step must not be 0"),
    ("States.ArrayRange(0, 1000, 1)", "States.ArrayRange: the range has 1001 items; at most 1000"),
    ("States.ArrayRange('0', 1, 1)", "States.ArrayRange: the start must be an integer"),
    ("States.ArrayGetItem($.list, 4)", "States.ArrayGetItem: the index 4 is out of bounds for an array of length 4"),
    ("States.ArrayGetItem($.list, -1)", "States.ArrayGetItem: the index -1 is out of bounds"),
    ("States.ArrayGetItem($.list, true)", "States.ArrayGetItem: the index must be an integer"),
    ("States.ArrayLength('abc')", "States.ArrayLength: the argument must be an array"),
    ("States.ArrayUnique($.obj)", "States.ArrayUnique: the argument must be an array"),
    ("States.Base64Encode(1)", "States.Base64Encode: the argument must be a string"),
    ("States.Base64Encode($.long)", "States.Base64Encode: the input exceeds 10000 characters"),
    ("States.Base64Decode('not base64!')", "States.Base64Decode: the argument is not valid base64-encoded UTF-8"),
    ("States.Base64Decode('//79')", "States.Base64Decode: the argument is not valid base64-encoded UTF-8"),
    ("States.Hash('x', 'SHA-2')", "States.Hash: the algorithm must be one of MD5, SHA-1, SHA-256, SHA-384, SHA-512"),
    ("States.Hash(null, 'MD5')", "States.Hash: the data to hash must not be null"),
    ("States.Hash($.long, 'MD5')", "States.Hash: the data to hash exceeds 10000 characters"),
    ("States.JsonMerge($.obj, $.list, false)", "States.JsonMerge: the first two arguments must be JSON objects"),
    ("States.JsonMerge($.obj, $.obj, true)", "States.JsonMerge: only the shallow merging mode is supported"),
    ("States.JsonMerge($.obj, $.obj, 'false')", "States.JsonMerge: the third argument must be a boolean"),
    ("States.MathAdd(1, '2')", "States.MathAdd: the arguments must be numbers"),
    ("States.MathAdd(true, 2)", "States.MathAdd: the arguments must be numbers"),
    ("States.MathRandom(5, 5)", "States.MathRandom: the start (5) must be less than the end (5)"),
    ("States.MathRandom(1, 'x')", "States.MathRandom: the end must be a number"),
    ("States.StringSplit($.list, ',')", "States.StringSplit: the first argument must be a string"),
    ("States.StringSplit('a', 1)", "States.StringSplit: the delimiter must be a string"),
    ("States.ArrayLength(States.StringToJson('{}'))", "States.ArrayLength: the argument must be an array"),
]
FAILURE_DATA = {**DATA, "long": "x" * 10001}


@pytest.mark.parametrize(("expression", "cause"), FAILURES)
def test_runtime_failures(expression: str, cause: str) -> None:
    with pytest.raises(StatesError) as raised:
        evaluate(expression, FAILURE_DATA)
    assert raised.value.error == INTRINSIC_FAILURE
    assert raised.value.cause is not None
    assert raised.value.cause.startswith(f"Invalid arguments in {cause}")


def test_path_arguments_that_do_not_resolve_fail_through_the_resolver() -> None:
    with pytest.raises(StatesError) as raised:
        evaluate("States.Array($.nope)", {})
    assert (raised.value.error, raised.value.cause) == ("States.Runtime", "No results for path: $['nope']")


# Create-time errors: the definition is refused (AWS: "must be a valid JSONPath or a valid intrinsic function").
SYNTAX_ERRORS = [
    # TestBaseScenarios::test_illegal_escapes: \" is not an escape in an intrinsic string literal (CREATE_FAILED)
    ("States.StringToJson('{\"text\":\"An \\\"escaped double quote\\\" here\"}')", "Invalid escape '\\\\\"'"),
    ("States.Format('He said, \\\"Hello, {}!\\\"', 'Test \\\"Name\\\" Here')", "Invalid escape '\\\\\"'"),
    ("States.Format('a\\n')", "Invalid escape '\\\\n'"),
    ("States.Format('abc\\')", "Unterminated string literal"),  # \' is an escaped quote
    ("States.Format('abc\\", "Unterminated string literal ending in a backslash"),
    ("States.Nope(1)", "Unknown intrinsic function 'States.Nope'"),
    ("States.format('x')", "Unknown intrinsic function 'States.format'"),
    ("States.Format()", "States.Format takes at least 1 argument(s) but 0 were given"),
    ("States.UUID(1)", "States.UUID takes 0 argument(s) but 1 were given"),
    ("States.MathRandom(1)", "States.MathRandom takes 2 to 3 argument(s) but 1 were given"),
    ("States.JsonMerge($.a, $.b)", "States.JsonMerge takes 3 argument(s) but 2 were given"),
    ("States.Array('a'", "Expected ',' or ')' after an argument of States.Array but found the end of the text"),
    ("States.Array('a' 'b')", "Expected ',' or ')' after an argument of States.Array but found \"'\""),
    ("States.Array('a',)", "Expected an argument"),
    ("States.Array(,'a')", "Expected an argument"),
    ("States.Array('abc)", "Unterminated string literal"),
    ("States.Array(abc)", "Expected an argument"),
    ("States.Array(\"abc\")", "Expected an argument"),
    ("States.Array(True)", "Expected an argument"),
    ("States.Array(1x)", "Expected an argument"),
    ("States.Array(1) extra", "Unexpected text after the closing ')'"),
    ("States.Array($.a b)", "Invalid JSONPath argument '$.a b'"),
    ("States.Array($.)", "Invalid JSONPath argument '$.'"),
    ("States.Array(States.Nope())", "Unknown intrinsic function 'States.Nope'"),
    ("States.Array(" * 11 + ")" * 11, "nested at most 10 deep"),
]


@pytest.mark.parametrize(("text", "message"), SYNTAX_ERRORS)
def test_syntax_errors(text: str, message: str) -> None:
    with pytest.raises(IntrinsicSyntaxError, match=re.escape(message)):
        compile_intrinsic(text)


def test_ten_nested_calls_are_accepted() -> None:
    text = "States.Array(" * 10 + ")" * 10
    assert evaluate(text) == [[[[[[[[[[]]]]]]]]]]


@pytest.mark.parametrize(("text", "expected"), [
    ("States.Format('x')", True), ("States.UUID()", True), ("States.Nope(", True),
    ("$.a", False), ("States.Format", False), (" States.Format('x')", False), ("States.", False), ("", False),
])
def test_is_intrinsic(text: str, expected: bool) -> None:
    assert is_intrinsic(text) is expected


def test_compiled_calls_are_cached() -> None:
    assert compile_intrinsic("States.MathAdd($.a, 1)") is compile_intrinsic("States.MathAdd($.a, 1)")


# States.MathRandom with a seed is java.util.Random(seed).nextInt(end - start) + start (values from a JVM).
@pytest.mark.parametrize(("expression", "expected"), [
    ("States.MathRandom(0, 999, 3)", 239),
    ("States.MathRandom(0, 10, 42)", 0),
    ("States.MathRandom(100, 110, 42)", 100),
    ("States.MathRandom(0, 1048576, -7)", 282194),
    ("States.MathRandom(0, 1000000007, 123456789)", 426010958),
])
def test_seeded_math_random_matches_java(expression: str, expected: int) -> None:
    assert evaluate(expression, rng=random.Random(1)) == evaluate(expression, rng=random.Random(2)) == expected


def test_math_random_stays_in_range_and_uses_the_execution_rng() -> None:
    values = {evaluate("States.MathRandom($.start, $.end)", {"start": 12.5, "end": 44.51}, rng=random.Random(i))
              for i in range(300)}
    assert min(values) == 13 and max(values) == 44  # bounds rounded as Java does; the end is exclusive
    first = [evaluate("States.MathRandom(-99999, -9999)", rng=random.Random(5)) for _ in range(3)]
    assert len(set(first)) == 1  # the same execution seed gives the same number


def test_uuid_is_a_version_4_uuid_drawn_from_the_rng() -> None:
    rng = random.Random(11)
    first, second = evaluate("States.UUID()", rng=rng), evaluate("States.UUID()", rng=rng)
    pattern = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
    assert re.fullmatch(pattern, first) and re.fullmatch(pattern, second) and first != second
    assert evaluate("States.UUID()", rng=random.Random(11)) == first
