"""Tool-call formats: how a model writes a call, detected from its chat template.

    fmt = detect_format(template_source)            # or detect_format(src, override="hermes")
    fmt.name, fmt.markers, fmt.parse(opener, body, schemas), fmt.render(calls), fmt.new_id()

Detection reads the markers that the template's ``tools`` / ``tool_calls`` branches render, and how
it reads a call's arguments (an object or a string) and an empty content (``""`` or null); the
shape of the template's inputs is built from those by ``messages.template_inputs``. A template that
never renders tools raises :class:`ToolsUnsupported`, one sentence saying what to do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from assistant.tools.calls import ToolCall, ToolError, new_call_id
from assistant.tools.fmt_common import BadCall, Parsed
from assistant.tools.fmt_gemma import parse_gemma, render_gemma
from assistant.tools.fmt_json import (
    mistral_id,
    parse_hermes,
    parse_llama3,
    parse_mistral,
    parse_python_tag,
    render_generic,
    render_hermes,
    render_llama3,
    render_mistral,
)
from assistant.tools.fmt_python import parse_pythonic, render_pythonic
from assistant.tools.fmt_xml import render_xml

REPLY_START = "{"  # the opener the parser reports for a JSON object that opened the reply


class ToolsUnsupported(ToolError):
    """A chat template with no tool support."""


@dataclass(frozen=True)
class Marker:
    """Where a call starts (``open``) and ends: at ``close``; else, with ``json_end``, where the JSON
    value after ``open`` (and after ``args_tag`` when the model writes one) ends; else at the end
    of the reply."""

    open: str
    close: str = ""
    json_end: bool = False
    args_tag: str = ""


ParseFn = Callable[[str, str, Mapping[str, Any] | None], list[Parsed]]


@dataclass(frozen=True)
class ToolFormat:
    name: str
    description: str
    markers: tuple[Marker, ...]
    parse_body: ParseFn = field(repr=False)
    render_calls: Callable[[list[ToolCall]], str] = field(repr=False)
    example: str = ""  # how a call looks, for error messages to the model
    reply_start_json: bool = False  # a JSON object opening the reply is a call
    make_id: Callable[[], str] = field(default=new_call_id, repr=False)
    # The template's input shape (messages.template_inputs reads these):
    arguments_as: Literal["object", "string"] = "object"
    empty_content: Literal["", "null"] = ""
    calls_in_content: bool = False  # the template ignores tool_calls: calls go into content as text

    def parse(self, opener: str, body: str, schemas: Mapping[str, Any] | None = None) -> list[Parsed]:
        """The calls in one marked region (``opener`` is the marker that began it); BadCall if none."""
        return self.parse_body(opener, body, schemas)

    def render(self, calls: list[ToolCall]) -> str:
        """The text the model writes for ``calls`` (its own format)."""
        return self.render_calls(calls)

    def new_id(self) -> str:
        return self.make_id()


def _hermes(opener: str, body: str, schemas: Mapping[str, Any] | None) -> list[Parsed]:
    if opener == REPLY_START:
        return parse_llama3(body)
    return parse_hermes(body, schemas)


def _llama3(opener: str, body: str, schemas: Mapping[str, Any] | None) -> list[Parsed]:
    return parse_python_tag(body) if opener == "<|python_tag|>" else parse_llama3(body)


def _only(fn: Callable[[str], list[Parsed]]) -> ParseFn:
    return lambda opener, body, schemas: fn(body)


_TOOL_CALL = Marker("<tool_call>", "</tool_call>")

FORMATS: dict[str, ToolFormat] = {f.name: f for f in (
    ToolFormat("hermes", "Hermes / Qwen 2.5: <tool_call>{json}</tool_call>", (_TOOL_CALL,), _hermes,
               render_hermes, '<tool_call>{"name": "NAME", "arguments": {...}}</tool_call>'),
    ToolFormat("qwen_xml", "Qwen 3.5 XML: <tool_call><function=NAME><parameter=P>...", (_TOOL_CALL,), _hermes,
               render_xml, "<tool_call>\n<function=NAME>\n<parameter=ARG>\nvalue\n</parameter>\n</function>\n</tool_call>"),
    ToolFormat("llama3", "Llama 3.x: a JSON object {\"name\", \"parameters\"} opening the reply, or <|python_tag|>",
               (Marker("<|python_tag|>", "<|eom_id|>"),), _llama3, render_llama3,
               '{"name": "NAME", "parameters": {...}}', reply_start_json=True),
    ToolFormat("mistral", "Mistral: [TOOL_CALLS][{...}] or [TOOL_CALLS]NAME[ARGS]{...}",
               (Marker("[TOOL_CALLS]", json_end=True, args_tag="[ARGS]"),), _only(parse_mistral), render_mistral,
               '[TOOL_CALLS][{"name": "NAME", "arguments": {...}}]', make_id=mistral_id),
    ToolFormat("functiongemma", "FunctionGemma: <start_function_call>call:NAME{arg:<escape>text<escape>}<end_function_call>",
               (Marker("<start_function_call>", "<end_function_call>"),), _only(parse_gemma), render_gemma,
               "<start_function_call>call:NAME{arg:<escape>text<escape>}<end_function_call>"),
    ToolFormat("pythonic", "Python-style calls (LFM2): <|tool_call_start|>[name(arg=value)]<|tool_call_end|>",
               (Marker("<|tool_call_start|>", "<|tool_call_end|>"),), _only(parse_pythonic), render_pythonic,
               '<|tool_call_start|>[NAME(arg="value")]<|tool_call_end|>'),
    ToolFormat("generic", "Generic JSON: a reply that is {\"name\", \"arguments\"} (or <tool_call>{json}</tool_call>)",
               (_TOOL_CALL,), _hermes, render_generic, '{"name": "NAME", "arguments": {...}}', reply_start_json=True),
)}

ALIASES = {"qwen2.5": "hermes", "qwen2": "hermes", "qwen3.5": "qwen_xml", "qwen3_xml": "qwen_xml", "xml": "qwen_xml",
           "llama3.1": "llama3", "llama3.2": "llama3", "lfm2": "pythonic", "python": "pythonic",
           "function_gemma": "functiongemma", "json": "generic"}

# (format, markers any of which the template renders), checked in order: Qwen 3.5's template also
# renders <tool_call>, so XML comes before Hermes.
_DETECT: tuple[tuple[str, tuple[tuple[str, ...], ...]], ...] = (
    ("functiongemma", (("<start_function_call>",), ("<start_function_declaration>",))),
    ("qwen_xml", (("<function=", "<parameter="),)),
    ("hermes", (("<tool_call>",),)),
    ("mistral", (("[TOOL_CALLS]",),)),
    ("pythonic", (("<|tool_call_start|>",), ("<|tool_list_start|>",))),
    ("llama3", (("<|python_tag|>",), ('"parameters"', "ipython"))),
)
_USES_TOOLS = re.compile(r"\btools\b|\btool_calls\b")
_ARGS_OBJECT = re.compile(r"arguments\s*\|\s*(tojson|items|dictsort)|arguments\.items\(\)|arguments\s+is\s+(not\s+)?(string|mapping)")
_ARGS_RAW = re.compile(r"arguments\s*(\}\}|~|\+)")
_NONE_TEST = re.compile(r"content\s+is\s+(not\s+)?none|content\s*==\s*none", re.IGNORECASE)


def format_by_name(name: str, where: str = "the manifest") -> ToolFormat:
    key = ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in FORMATS:
        raise ToolError(f"Unknown tool format {name!r} in {where}; use one of: {', '.join(FORMATS)}.")
    return FORMATS[key]


def detect_format(template: str | None, override: str | None = None, *, who: str = "The model's chat template") -> ToolFormat:
    """The format of the model whose chat template is ``template``; ``override`` (a format name, from
    the model's manifest key ``tool_format``) wins. Raises ToolsUnsupported when neither says one."""
    source = template or ""
    if override:
        return _shaped(format_by_name(override), source)
    for name, alternatives in _DETECT:
        if any(all(m in source for m in markers) for markers in alternatives):
            return _shaped(FORMATS[name], source)
    if source and _USES_TOOLS.search(source):
        return _shaped(FORMATS["generic"], source)
    raise ToolsUnsupported(
        f"{who} has no tool support (it never renders a list of tools); pass a tools-capable template with "
        "--chat-template FILE, or name the model's format with \"tool_format\" in its manifest."
    )


def _shaped(fmt: ToolFormat, source: str) -> ToolFormat:
    """``fmt`` with the input shape this template reads."""
    if not source:
        return fmt
    arguments_as: Literal["object", "string"] = "object"
    if not _ARGS_OBJECT.search(source) and _ARGS_RAW.search(source):
        arguments_as = "string"
    empty: Literal["", "null"] = "null" if _NONE_TEST.search(source) else ""
    in_content = "tool_calls" not in source
    return replace(fmt, arguments_as=arguments_as, empty_content=empty, calls_in_content=in_content)


__all__ = ["FORMATS", "REPLY_START", "BadCall", "Marker", "Parsed", "ToolFormat", "ToolsUnsupported",
           "detect_format", "format_by_name"]
