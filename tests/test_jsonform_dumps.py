"""`render.jsonform.dumps` writes exactly what ``json.dumps(data, indent=2, allow_nan=False)`` writes, faster (every
command's JSON): NaN and Infinity are not JSON, refused."""

import json

import pytest

import symback as sb
from symback.render.jsonform import dumps

CASES = [
    {}, [], (), "x", 3, 2.5, None, True, False, -0.0, 10**30,
    {"a": [], "b": {}, "c": [[], [{}], (1,)], "é\n\"": "ü\t\\", "d": [1, 2.5, None, True, False, "x"]},
    {1: 2, "a": [3]}, {None: 1, 2.5: "x", True: [False]},  # keys that are not strings: the standard library's rules
    [{"node": "x", "expr": "y"}] * 3,
]


@pytest.mark.parametrize("data", CASES, ids=range(len(CASES)))
def test_dumps_writes_what_json_dumps_writes(data):
    assert dumps(data) == json.dumps(data, indent=2)


def test_dumps_of_a_gradient_and_a_table():
    for data in (sb.grad("x*y + sin(x)").to_dict(), sb.grad("x*y + sin(x)").at(x=1, y=2).to_dict(),
                 sb.grad("Max(x, y)*z").to_dict(expand=True)):
        assert dumps(data) == json.dumps(data, indent=2)


def test_dumps_refuses_what_json_dumps_refuses():
    with pytest.raises(TypeError, match="not JSON serializable"):
        dumps({"a": [object()]})
    for value in (float("nan"), float("inf"), -float("inf")):
        for data in (value, [value], {"a": {"b": value}}, {1: value}):
            with pytest.raises(ValueError, match="not JSON compliant"):
                json.dumps(data, allow_nan=False)
            with pytest.raises(ValueError, match="not JSON compliant"):
                dumps(data)
