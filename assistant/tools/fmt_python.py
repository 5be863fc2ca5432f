"""Python-style calls: LFM2's ``<|tool_call_start|>[get_weather(city="Paris"), now()]<|tool_call_end|>``
and Llama 3.1's built-in form ``<|python_tag|>brave_search.call(query="...")``.

Read with ``ast`` (never evaluated): each call is a name (dotted names allowed) with keyword
arguments whose values are literals (strings, numbers, lists, dicts, True/False/None, and JSON's
true/false/null)."""

from __future__ import annotations

import ast
import json
import math
import warnings
from typing import Any

from assistant.tools.calls import ToolCall
from assistant.tools.fmt_common import BadCall, Parsed

MAX_SOURCE = 256 * 1024
_JSON_NAMES = {"true": True, "false": False, "null": None}


def parse_pythonic(body: str) -> list[Parsed]:
    source = body.strip()
    if not source:
        raise BadCall("The call is empty")
    if len(source) > MAX_SOURCE:
        raise BadCall("The call is too long to read")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escapes in a model's strings
            tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise BadCall(f"The call is not of the form [name(arg=value, ...)]: {exc.msg}") from None
    except (RecursionError, MemoryError, ValueError):
        raise BadCall("The call nests too deeply to read") from None
    node = tree.body
    nodes = node.elts if isinstance(node, ast.List | ast.Tuple) else [node]
    if not nodes:
        raise BadCall("The call list is empty")
    return [_call(n) for n in nodes]


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _call(node: ast.expr) -> Parsed:
    if not isinstance(node, ast.Call):
        raise BadCall("Each call must be of the form name(arg=value, ...)")
    name = _dotted(node.func)
    if not name:
        raise BadCall("A call's name must be a plain name")
    if name.endswith(".call"):  # Llama 3.1 built-ins: brave_search.call(query=...)
        name = name[: -len(".call")]
    if node.args:
        raise BadCall(f"The call to {name} passes arguments by position; name each one (arg=value)", name)
    args: dict[str, Any] = {}
    for kw in node.keywords:
        if kw.arg is None:
            raise BadCall(f"The call to {name} uses **; name each argument", name)
        args[kw.arg] = _literal(kw.value, name)
    return Parsed(name, args)


def _literal(node: ast.expr, name: str) -> Any:
    if isinstance(node, ast.Name) and node.id in _JSON_NAMES:
        return _JSON_NAMES[node.id]
    if isinstance(node, ast.List | ast.Tuple):
        return [_literal(e, name) for e in node.elts]
    if isinstance(node, ast.Dict):
        out = {}
        for k, v in zip(node.keys, node.values):
            key = _literal(k, name) if k is not None else None
            if not isinstance(key, str):
                raise BadCall(f"The call to {name} has a dict key that is not a string", name)
            out[key] = _literal(v, name)
        return out
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        raise BadCall(f"The call to {name} has an argument that is not a literal value", name) from None
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    raise BadCall(f"The call to {name} has an argument that is not a JSON value", name)


def _py(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "True", False: "False", None: "None"}[value]
    if isinstance(value, list):
        return "[" + ", ".join(_py(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {_py(v)}" for k, v in value.items()) + "}"
    return json.dumps(value, ensure_ascii=False)


def render_pythonic(calls: list[ToolCall]) -> str:
    inner = ", ".join(f"{c.name}(" + ", ".join(f"{k}={_py(v)}" for k, v in c.arguments.items()) + ")" for c in calls)
    return f"<|tool_call_start|>[{inner}]<|tool_call_end|>"
