"""Qwen 3.5's XML calls, inside the same ``<tool_call>`` markers as Hermes:

    <tool_call>
    <function=get_weather>
    <parameter=city>
    Paris
    </parameter>
    </function>
    </tool_call>

A parameter's value is text; it becomes JSON (a number, a list...) where the tool's schema says the
parameter is not a string and the text parses as JSON."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from assistant.tools.calls import ToolCall
from assistant.tools.fmt_common import BadCall, Parsed

_FUNCTION = re.compile(r"<function=([^>\n]*)>(.*?)(?:</function>|\Z)", re.DOTALL)
_PARAMETER = re.compile(r"<parameter=([^>\n]*)>(.*?)(?:</parameter>|(?=<parameter=)|\Z)", re.DOTALL)


def looks_like_xml(body: str) -> bool:
    return body.lstrip().startswith("<function=")


def parse_xml(body: str, schemas: Mapping[str, Any] | None) -> list[Parsed]:
    found = list(_FUNCTION.finditer(body))
    if not found:
        raise BadCall("The call has no <function=NAME> element")
    rest = _FUNCTION.sub("", body).strip()
    if rest:
        raise BadCall(f"The call has text outside its <function> element ({rest[:40]!r})")
    out = []
    for match in found:
        name = match.group(1).strip()
        if not name:
            raise BadCall("The call's <function=...> has no name")
        inner = match.group(2)
        if not match.group(0).endswith("</function>"):
            raise BadCall(f"The call to {name} is cut off before </function>", name)
        props = _properties(schemas, name)
        args: dict[str, Any] = {}
        for param in _PARAMETER.finditer(inner):
            key = param.group(1).strip()
            args[key] = _value(_trim_newlines(param.group(2)), props.get(key))
        leftover = _PARAMETER.sub("", inner).strip()
        if leftover:
            raise BadCall(f"The call to {name} has text outside its <parameter> elements ({leftover[:40]!r})", name)
        out.append(Parsed(name, args))
    return out


def _properties(schemas: Mapping[str, Any] | None, name: str) -> Mapping[str, Any]:
    schema = (schemas or {}).get(name) or {}
    props = schema.get("properties") if isinstance(schema, Mapping) else None
    return props if isinstance(props, Mapping) else {}


def _trim_newlines(text: str) -> str:
    if text.startswith("\n"):
        text = text[1:]
    if text.endswith("\n"):
        text = text[:-1]
    return text


def _value(text: str, schema: Any) -> Any:
    kind = schema.get("type") if isinstance(schema, Mapping) else None
    if kind == "string" or (isinstance(kind, list) and "string" in kind):
        return text
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return text  # left as text; the schema check names the parameter if a string is wrong here


def render_xml(calls: list[ToolCall]) -> str:
    parts = []
    for call in calls:
        params = "".join(
            f"<parameter={key}>\n{value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)}\n</parameter>\n"
            for key, value in call.arguments.items()
        )
        parts.append(f"<tool_call>\n<function={call.name}>\n{params}</function>\n</tool_call>")
    return "\n".join(parts)
