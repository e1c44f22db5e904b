"""`render.jsonform.dumps` writes exactly what ``json.dumps(data, indent=2)`` writes, faster (the grad command's JSON)."""

import json

import pytest

import symback as sb
from symback.render.jsonform import dumps

CASES = [
    {}, [], (), "x", 3, 2.5, None, True, False, float("nan"), float("inf"), -0.0, 10**30,
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
