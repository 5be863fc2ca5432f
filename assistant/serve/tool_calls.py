"""Tools in requests of both APIs: the offered tools and ``tool_choice`` checked and turned into a
ToolPlan, and conversations with tool calls and tool results turned into engine Messages.

The server never runs a tool: the calls the model makes go back to the client (tool_replies.py).
The model's call format is only known once its engine has loaded it, so the plan's ``prepare`` runs
on the worker thread, just before the reply: it reads the format and sets the grammar (a call from
the first token for ``required`` or a named function; a lazy one from the format's marker for
``auto`` when the server's --tool-grammar is ``lazy``)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from assistant.engine.base import GenerationParams, Message
from assistant.serve.errors import ApiError, bad_request, unsupported
from assistant.serve.schemas import ChatMessage, OllamaMessage, message_text
from assistant.tools.calls import ToolError
from assistant.tools.formats import ToolFormat, ToolsUnsupported
from assistant.tools.grammar import ToolRules, argument_rules, call_grammar, lazy_supported

ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant", "tool": "tool"}
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_TOOL_KEYS = {"type", "function"}
_FUNCTION_KEYS = {"name", "description", "parameters", "strict"}
_SHAPE = '{"type": "function", "function": {"name", "description", "parameters"}}'
_CHOICES = '"none", "auto", "required" or {"type": "function", "function": {"name": ...}}'


@dataclass
class ToolPlan:
    """What a request asked of tools. ``fmt`` is set by ``prepare`` (the worker thread)."""

    tools: list[dict[str, Any]]  # OpenAI's shape, checked
    choice: Literal["auto", "required", "function"] = "auto"
    forced: str | None = None  # the named function
    parallel: bool | None = None  # the request's parallel_tool_calls (None: not said)
    lazy: bool = False  # the server's --tool-grammar lazy
    rules: ToolRules | None = None  # the argument grammars, when a grammar may be needed
    fmt: ToolFormat | None = None

    def offered(self) -> dict[str, Any]:
        return {t["function"]["name"]: t["function"]["parameters"] for t in self.tools}

    def prepare(self, engine: Any, params: GenerationParams) -> None:
        """The model's call format, and the grammar for it (the worker calls this once the model is loaded)."""
        tool_format = getattr(engine, "tool_format", None)
        if tool_format is None:
            raise ToolsUnsupported("This server's engine cannot render tools; remove 'tools' from the request.")
        fmt = self.fmt = tool_format()
        if self.rules is None:
            return
        grammar = None
        if self.choice != "auto":
            # several calls only when the client asked for them: a small model forced to call repeats itself
            grammar = call_grammar(fmt, self.rules, only=self.forced, parallel=self.parallel is True and not self.forced)
        elif self.lazy and lazy_supported(fmt) and not params.grammar and not params.ignore_eos:
            grammar = call_grammar(fmt, self.rules, parallel=self.parallel is True, lazy=True)
        if grammar is not None:
            params.grammar, params.grammar_triggers = grammar.gbnf, grammar.triggers or None


def check_tools(value: Any, param: str = "tools") -> list[dict[str, Any]]:
    """The ``tools`` of a request in OpenAI's shape; a 400 naming the first problem."""
    if not isinstance(value, list):
        raise bad_request(f"'{param}' must be a list of tools, each {_SHAPE}.", param=param)
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, tool in enumerate(value):
        where = f"{param}.{i}"
        if not isinstance(tool, dict):
            raise bad_request(f"'{where}' must be an object: {_SHAPE}.", param=where)
        _no_extras(tool, _TOOL_KEYS, where)
        if tool.get("type", "function") != "function":
            raise unsupported(f"{where}.type={tool.get('type')}", "function tools only")
        fn = tool.get("function")
        if not isinstance(fn, dict):
            raise bad_request(f"'{where}.function' is missing; a tool is {_SHAPE}.", param=f"{where}.function")
        _no_extras(fn, _FUNCTION_KEYS, f"{where}.function")
        name = fn.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise bad_request(f"Invalid '{where}.function.name': a tool's name is 1 to 64 letters, digits, "
                              "underscores or dashes.", param=f"{where}.function.name")
        if name in seen:
            raise bad_request(f"Two tools are named {name!r}; give each tool its own name.", param=f"{where}.function.name")
        seen.add(name)
        description = fn.get("description")
        if description is not None and not isinstance(description, str):
            raise bad_request(f"Invalid '{where}.function.description': a string is needed.", param=f"{where}.function.description")
        parameters = _check_schema(fn.get("parameters"), f"{where}.function.parameters")
        out.append({"type": "function", "function": {"name": name, "description": description or "",
                                                     "parameters": parameters}})
    return out


def _no_extras(obj: dict[str, Any], known: set[str], where: str) -> None:
    for key in obj:
        if key not in known:
            raise ApiError(400, f"Unrecognized request argument supplied: {where}.{key}.", param=f"{where}.{key}",
                           code="unknown_parameter")


def _check_schema(schema: Any, where: str) -> dict[str, Any]:
    if schema is None:
        return {"type": "object", "properties": {}}
    if not isinstance(schema, dict):
        raise bad_request(f"Invalid '{where}': a JSON schema object is needed.", param=where)
    if schema.get("type", "object") != "object":
        raise bad_request(f"Invalid '{where}': the arguments must be an object (\"type\": \"object\").", param=where)
    import jsonschema

    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise bad_request(f"Invalid '{where}': not a valid JSON schema ({exc.message}).", param=where) from None
    return schema


def plan(tools: Any, choice: Any = None, parallel: bool | None = None, *, lazy: bool = False) -> ToolPlan | None:
    """The request's tool plan, or None when no tool is offered or ``tool_choice`` is "none"."""
    offered = check_tools(tools) if tools is not None else []
    names = [t["function"]["name"] for t in offered]
    kind, forced = "auto", None
    if isinstance(choice, str) and choice in ("none", "auto", "required"):
        kind = choice
    elif isinstance(choice, dict) and choice.get("type") == "function" and isinstance(choice.get("function"), dict) \
            and isinstance(choice["function"].get("name"), str) and set(choice) <= {"type", "function"}:
        kind, forced = "function", choice["function"]["name"]
        if forced not in names:
            raise bad_request(f"'tool_choice' names {forced!r}, which is not among the tools offered "
                              f"({', '.join(names) or 'none'}); offer it in 'tools' or name another.", param="tool_choice")
    elif choice is not None:
        raise bad_request(f"Invalid 'tool_choice': use {_CHOICES}.", param="tool_choice")
    if kind in ("required", "function") and not offered:
        raise bad_request("'tool_choice' asks for a tool call but no tools were offered; add 'tools'.", param="tool_choice")
    if kind == "none" or not offered:
        return None
    out = ToolPlan(offered, "auto" if kind == "auto" else ("required" if kind == "required" else "function"),
                   forced, parallel, lazy)
    if out.choice != "auto" or lazy:
        try:
            out.rules = argument_rules(offered)
        except ToolError as exc:
            raise bad_request(str(exc), param="tools") from None
    return out


# -- messages -------------------------------------------------------------------------------------
def openai_messages(items: list[ChatMessage]) -> list[Message]:
    """OpenAI's messages as the engine's: assistant ``tool_calls`` (arguments as a JSON string) and
    ``tool`` messages answering them by ``tool_call_id``; every call must be answered."""
    if not items:
        raise bad_request("'messages' is empty; send at least one user message.", param="messages")
    out: list[Message] = []
    for i, m in enumerate(items):
        where = f"messages.{i}"
        if m.role not in ROLES:
            raise unsupported(f"{where}.role={m.role}", "use 'tools' and role \"tool\"")
        for name in ("function_call", "audio"):
            if (m.model_extra or {}).get(name):
                raise unsupported(f"{where}.{name}")
        calls = None
        if m.tool_calls:
            if m.role != "assistant":
                raise bad_request(f"'{where}.tool_calls' is only for assistant messages.", param=f"{where}.tool_calls")
            calls = [_call(c, f"{where}.tool_calls.{j}", None) for j, c in enumerate(m.tool_calls)]
        call_id = None
        if m.role == "tool":
            if not m.tool_call_id:
                raise bad_request(f"'{where}' is a tool message without 'tool_call_id'; add the id of the call it answers.",
                                  param=f"{where}.tool_call_id")
            call_id = m.tool_call_id
        out.append(Message(ROLES[m.role], message_text(m.content, where), tool_calls=calls, tool_call_id=call_id,
                           name=m.name if m.role == "tool" else None))
    _check_answers(out)
    return _with_user(out)


def ollama_messages(items: list[OllamaMessage]) -> list[Message]:
    """Ollama's messages: calls with arguments as an object and no ids (given here, call_<i>_<j>), and
    ``tool`` messages answering them in order (by ``tool_name`` when it is given)."""
    out: list[Message] = []
    waiting: list[dict[str, Any]] = []  # the last assistant's calls not answered yet
    for i, m in enumerate(items):
        where = f"messages.{i}"
        if m.images:
            raise unsupported(f"{where}.images", "text only")
        calls = None
        if m.tool_calls:
            if m.role != "assistant":
                raise bad_request(f"'{where}.tool_calls' is only for assistant messages.", param=f"{where}.tool_calls")
            calls = [_call(c, f"{where}.tool_calls.{j}", f"call_{i}_{j}") for j, c in enumerate(m.tool_calls)]
            waiting = list(calls)
        call_id, name = None, None
        if m.role == "tool":
            match = next((c for c in waiting if not m.tool_name or c["function"]["name"] == m.tool_name), None)
            if match is None:
                raise bad_request(f"'{where}' is a tool result that answers no call of the assistant message before it; "
                                  "send the assistant's tool_calls first.", param=where)
            waiting.remove(match)
            call_id, name = match["id"], match["function"]["name"]
        elif not calls:
            waiting = []
        out.append(Message(m.role, m.content, tool_calls=calls, tool_call_id=call_id, name=name))
    return _with_user(out)


def _with_user(messages: list[Message]) -> list[Message]:
    if not any(m.role == "user" for m in messages):
        raise bad_request("'messages' has no user message; add one.", param="messages")
    return messages


def _call(item: Any, where: str, default_id: str | None) -> dict[str, Any]:
    """One call of an assistant message, as the engine takes it (arguments as an object)."""
    if not isinstance(item, dict) or not isinstance(item.get("function"), dict):
        raise bad_request(f"Invalid '{where}': a call is {{\"id\", \"type\": \"function\", \"function\": "
                          "{\"name\", \"arguments\"}}.", param=where)
    call_id = item.get("id") or default_id
    if not isinstance(call_id, str) or not call_id:
        raise bad_request(f"'{where}.id' is missing; each call needs the id its tool message answers.", param=f"{where}.id")
    if item.get("type", "function") != "function":
        raise unsupported(f"{where}.type={item.get('type')}", "function calls only")
    fn = item["function"]
    name = fn.get("name")
    if not isinstance(name, str) or not name:
        raise bad_request(f"'{where}.function.name' is missing.", param=f"{where}.function.name")
    args = fn.get("arguments")
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except ValueError as exc:
            raise bad_request(f"Invalid '{where}.function.arguments': not valid JSON ({exc}); send a JSON object.",
                              param=f"{where}.function.arguments") from None
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise bad_request(f"Invalid '{where}.function.arguments': the arguments must be a JSON object.",
                          param=f"{where}.function.arguments")
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}


def _check_answers(messages: list[Message]) -> None:
    """Each call answered by a tool message right after its assistant message; each tool message a call's."""
    open_calls: dict[str, int] = {}  # id -> the index of the assistant message that made it
    for i, m in enumerate(messages):
        if m.role == "tool":
            if m.tool_call_id not in open_calls:
                raise bad_request(f"'messages.{i}' answers tool call {m.tool_call_id!r}, which the assistant message "
                                  "before it did not make; check its 'tool_call_id'.", param=f"messages.{i}.tool_call_id")
            del open_calls[m.tool_call_id]
            continue
        _unanswered(open_calls)
        if m.tool_calls:
            ids = [c["id"] for c in m.tool_calls]
            if len(set(ids)) != len(ids):
                raise bad_request(f"'messages.{i}.tool_calls' uses the same id twice; give each call its own id.",
                                  param=f"messages.{i}.tool_calls")
            open_calls = dict.fromkeys(ids, i)
    _unanswered(open_calls)


def _unanswered(open_calls: dict[str, int]) -> None:
    for call_id, i in open_calls.items():
        raise bad_request(f"The tool call {call_id!r} of messages.{i} has no tool message answering it; add "
                          f"{{\"role\": \"tool\", \"tool_call_id\": \"{call_id}\", \"content\": ...}} after it.",
                          param=f"messages.{i}.tool_calls")
