"""Grammars (llama.cpp GBNF) that make a model write a valid tool call in its own format.

    rules = argument_rules(tools)                   # each tool's JSON schema as GBNF (ToolError if not)
    g = call_grammar(fmt, rules, only="get_weather", parallel=False)    # a call from the first token
    g = call_grammar(fmt, rules, lazy=True)         # free text until the format's marker, then a call
    params.grammar, params.grammar_triggers = g.gbnf, g.triggers or None

The arguments come from llama-cpp-python's ``json_schema_to_gbnf`` (one conversion per tool, its rules
renamed ``t<i>-...``); the call around them is written here in the format's literal markers (rules
``tc-...``): Hermes / Qwen ``<tool_call>{"name": ..., "arguments": ...}</tool_call>`` (an object or a
list of them; Qwen 3.5's XML too when forced), Llama 3 ``{"name": ..., "parameters": ...}``
(``;``-separated), Mistral ``[TOOL_CALLS][...]``, the generic JSON object, Python-style
``<|tool_call_start|>[name(key=value)]<|tool_call_end|>`` and FunctionGemma's
``<start_function_call>call:name{key:value}<end_function_call>`` (the last two with JSON values
and the tool's own keys, not its schema's types).

Lazy grammars start at the format's opening marker (a llama.cpp trigger pattern, searched in the
text written so far; its group marks where the constrained text begins). The text that completed
the marker was sampled freely, so right after the marker the grammar also takes any text that cannot
begin a call (llama.cpp aborts the process if the first constrained text does not fit the grammar):
a model that writes the marker and then something else is left free, and its parser reads it.
Formats whose call opens the reply with no marker (Llama 3 JSON, generic) have no lazy grammar.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from assistant.tools.calls import ToolError
from assistant.tools.formats import ToolFormat
from assistant.tools.messages import tool_schema

_RULE = re.compile(r"^([A-Za-z0-9-]+)\s*::=\s*(.*)$")
_WORD = re.compile(r"[A-Za-z0-9-]+")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# The converter's string character takes raw control characters (invalid JSON) and any "<"; ours
# takes neither a control character nor "</" or "<|", so a string cannot run over a closing marker
# (</tool_call>, <|tool_call_end|>) that a parser would cut the call at.
_CHAR = r'[^"\\]'
_STRICT_CHAR = r'[^"\\<\x7F\x00-\x1F] | "<" [^/|"\\\x7F\x00-\x1F]'

# The opening marker of each format that has one (lazy grammars start there).
TRIGGERS = {"hermes": "<tool_call>", "qwen_xml": "<tool_call>", "mistral": "[TOOL_CALLS]",
            "pythonic": "<|tool_call_start|>", "functiongemma": "<start_function_call>"}

_COMMON = r"""tc-sp ::= " "?
tc-ws ::= "\n"?
tc-lead ::= [ \t\r\n]*
tc-any ::= [^\x00]
tc-value ::= tc-obj | tc-arr | tc-str | tc-num | "true" | "false" | "null"
tc-obj ::= "{" tc-sp ( tc-str tc-sp ":" tc-sp tc-value ( tc-sp "," tc-sp tc-str tc-sp ":" tc-sp tc-value )* )? tc-sp "}"
tc-arr ::= "[" tc-sp ( tc-value ( tc-sp "," tc-sp tc-value )* )? tc-sp "]"
tc-str ::= "\"" ( [^"\\<\x7F\x00-\x1F] | "<" [^/|"\\\x7F\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} ) )* "\""
tc-num ::= "-"? [0-9]+ ( "." [0-9]+ )? ( [eE] [-+]? [0-9]+ )?
tc-ident ::= [A-Za-z_] [A-Za-z0-9_]{0,63}
tc-gval ::= "<escape>" [^<]* "<escape>" | tc-num | "true" | "false" | "null" | tc-obj | tc-arr
"""


@dataclass(frozen=True)
class ToolRules:
    """Each offered tool's argument grammar (rule ``t<i>-root``), converted once per request."""

    names: tuple[str, ...]
    keys: tuple[tuple[str, ...] | None, ...]  # each tool's property names (None: any); Python-style and Gemma calls
    required: tuple[frozenset[str], ...]
    gbnf: str


@dataclass(frozen=True)
class CallGrammar:
    gbnf: str  # root rule "root"
    triggers: list[str]  # lazy: llama.cpp trigger patterns; empty: the grammar applies from the first token


def gbnf_literal(text: str) -> str:
    """``text`` as a GBNF string literal."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return f'"{escaped}"'


def argument_rules(tools: Sequence[Any]) -> ToolRules:
    """The argument grammars of ``tools`` (OpenAI dicts or Tool objects); ToolError naming the tool
    whose schema cannot become a grammar."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    names: list[str] = []
    keys: list[tuple[str, ...] | None] = []
    required: list[frozenset[str]] = []
    parts: list[str] = []
    for i, tool in enumerate(tools):
        fn = tool_schema(tool)["function"]
        name, schema = str(fn["name"]), fn.get("parameters") or {"type": "object", "properties": {}}
        try:
            converted = json_schema_to_gbnf(json.dumps(schema))
            parts.append(_renamed(converted, f"t{i}-"))
        except Exception as exc:  # the converter raises bare exceptions for schemas it cannot express
            raise ToolError(f"The parameters schema of tool {name!r} cannot be turned into a grammar ({exc}); "
                            "simplify it.") from exc
        names.append(name)
        props = schema.get("properties") if isinstance(schema, dict) else None
        keys.append(tuple(k for k in props if _IDENT.match(k)) if isinstance(props, dict) else None)
        needed = schema.get("required") if isinstance(schema, dict) else None
        required.append(frozenset(k for k in needed if isinstance(k, str)) if isinstance(needed, list) else frozenset())
    return ToolRules(tuple(names), tuple(keys), tuple(required), "\n".join(parts))


def _renamed(gbnf: str, prefix: str) -> str:
    """Every rule of ``gbnf`` (one per line, as the converter writes them) with ``prefix`` added."""
    out = []
    for line in gbnf.splitlines():
        if not line.strip():
            continue
        match = _RULE.match(line)
        if not match:
            raise ValueError(f"unexpected grammar line {line[:40]!r}")
        body = match.group(2)
        if match.group(1) == "char" and body.startswith(_CHAR):
            body = _STRICT_CHAR + body[len(_CHAR) :]
        out.append(f"{prefix}{match.group(1)} ::= {_rename_refs(body, prefix)}")
    return "\n".join(out)


def _rename_refs(body: str, prefix: str) -> str:
    out: list[str] = []
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c in '"[{':
            close = {'"': '"', "[": "]", "{": "}"}[c]
            j = i + 1
            while j < n and body[j] != close:
                j += 2 if body[j] == "\\" else 1
            out.append(body[i : j + 1])
            i = j + 1
        elif (m := _WORD.match(body, i)) is not None:
            out.append(prefix + m.group(0))
            i = m.end()
        else:
            out.append(c)
            i += 1
    return "".join(out)


def call_grammar(fmt: ToolFormat, rules: ToolRules, *, only: str | None = None, parallel: bool = True,
                 lazy: bool = False) -> CallGrammar:
    """A grammar for calls to the tools of ``rules`` (only ``only`` when named) in ``fmt``'s format.
    ``lazy``: text is free until the format's marker (see lazy_supported)."""
    picked = [i for i, name in enumerate(rules.names) if only is None or name == only]
    if not picked:
        raise ToolError(f"No tool named {only!r} was offered.")
    lazy = lazy and lazy_supported(fmt)
    name = fmt.name
    if name in ("hermes", "qwen_xml"):
        root = _hermes(fmt, rules, picked, parallel, lazy)
    elif name == "mistral":
        calls = _json_calls(rules, picked, "arguments")
        many = ' ( "," tc-sp tc-call )*' if parallel else ""
        root = _marked("[TOOL_CALLS]", f'"[" tc-sp tc-call{many} tc-sp "]"', "[", lazy) + calls
    elif name == "llama3":
        calls = _json_calls(rules, picked, "parameters")
        root = "root ::= tc-call" + (' ( tc-sp ";" tc-sp tc-call )*' if parallel else "") + "\n" + calls
    elif name == "pythonic":
        calls = _python_calls(rules, picked)
        many = ' ( "," tc-sp tc-py )*' if parallel else ""
        body = f'"[" tc-sp tc-py{many} tc-sp "]" tc-ws "<|tool_call_end|>"'
        root = _marked("<|tool_call_start|>", body, "[", lazy) + calls
    elif name == "functiongemma":
        calls = _gemma_calls(rules, picked)
        root = _marked("<start_function_call>", 'tc-gem tc-ws "<end_function_call>"', "c", lazy, parallel) + calls
    else:  # generic: one JSON object opening the reply
        root = "root ::= tc-call\n" + _json_calls(rules, picked, "arguments")
    gbnf = "\n".join((root.rstrip("\n"), _COMMON.rstrip("\n"), rules.gbnf))
    return CallGrammar(gbnf, [_trigger(TRIGGERS[name])] if lazy else [])


def lazy_supported(fmt: ToolFormat) -> bool:
    """Whether ``fmt`` has a marker a lazy grammar can start at."""
    return fmt.name in TRIGGERS


def _trigger(marker: str) -> str:
    return "(" + re.escape(marker) + ")"


def _hermes(fmt: ToolFormat, rules: ToolRules, picked: list[int], parallel: bool, lazy: bool) -> str:
    many = ' ( "," tc-ws tc-call )*' if parallel else ""
    empty = ' | "[" tc-ws "]"' if lazy else ""  # SmolLM2's "no call": an empty list
    body = f'tc-call | "[" tc-ws tc-call{many} tc-ws "]"{empty}'
    if fmt.name == "qwen_xml" and not lazy:
        body += " | tc-xml"
    lines = [
        "root ::= tc-block" + (" ( tc-ws tc-block )*" if parallel else ""),
        'tc-block ::= "<tool_call>" ' + ('tc-lead ( tc-body tc-ws "</tool_call>" | tc-free )' if lazy
                                         else 'tc-ws tc-body tc-ws "</tool_call>"'),
        f"tc-body ::= {body}",
        r"tc-free ::= [^{\[ \t\r\n] tc-any*",
    ]
    xml = _xml_calls(rules, picked) if fmt.name == "qwen_xml" and not lazy else ""
    return "\n".join(lines) + "\n" + _json_calls(rules, picked, "arguments") + xml


def _marked(marker: str, body: str, first: str, lazy: bool, parallel: bool = False) -> str:
    """``root``: ``marker`` then ``body`` (lazy: or free text not starting with ``first``)."""
    if lazy:
        lines = [f"root ::= {gbnf_literal(marker)} tc-lead ( {body} | tc-free )",
                 f"tc-free ::= [^{re.escape(first)} \\t\\r\\n] tc-any*"]
    else:
        lines = [f"root ::= {gbnf_literal(marker)} tc-ws {body}"]
    if parallel:  # FunctionGemma writes one marked call after another
        lines[0] = lines[0].replace("root ::=", "tc-one ::=")
        lines.insert(0, "root ::= tc-one ( tc-ws tc-one )*")
    return "\n".join(lines) + "\n"


def _json_calls(rules: ToolRules, picked: list[int], args_key: str) -> str:
    alternatives = " | ".join(f"t{i}-call" for i in picked)
    lines = [f"tc-call ::= {alternatives}"]
    for i in picked:
        name = gbnf_literal(json.dumps(rules.names[i], ensure_ascii=False))
        lines.append(f'''t{i}-call ::= "{{" tc-sp "\\"name\\"" tc-sp ":" tc-sp {name} tc-sp "," tc-sp '''
                     f'''"\\"{args_key}\\"" tc-sp ":" tc-sp t{i}-root tc-sp "}}"''')
    return "\n".join(lines) + "\n"


def _keywords(rules: ToolRules, i: int, sep: str, value: str, comma: str) -> tuple[str, str]:
    """(the arguments of tool i as ``key=value`` pairs, its rule ``t<i>-kw``); no pairs for no properties."""
    keys = rules.keys[i]
    if keys == ():
        return "", ""
    key = "( " + " | ".join(gbnf_literal(k) for k in keys) + " )" if keys else "tc-ident"
    return (f" ( t{i}-kw ( {comma} t{i}-kw )* )?",
            f"\nt{i}-kw ::= {key} tc-sp {gbnf_literal(sep)} tc-sp {value}")


def _python_calls(rules: ToolRules, picked: list[int]) -> str:
    lines = ["tc-py ::= " + " | ".join(f"t{i}-py" for i in picked)]
    for i in picked:
        pairs, kw = _keywords(rules, i, "=", "tc-value", 'tc-sp "," tc-sp')
        lines.append(f'''t{i}-py ::= {gbnf_literal(rules.names[i] + "(")} tc-sp{pairs} tc-sp ")"{kw}''')
    return "\n".join(lines) + "\n"


def _xml_calls(rules: ToolRules, picked: list[int]) -> str:
    """Qwen 3.5's <function=NAME><parameter=KEY>text</parameter></function> (values as text)."""
    lines = ["tc-xml ::= " + " | ".join(f"t{i}-xml" for i in picked),
             'tc-xval ::= [^<]*']
    for i in picked:
        keys = rules.keys[i]
        head = f"t{i}-xml ::= {gbnf_literal('<function=' + rules.names[i] + '>')} tc-ws"
        if keys == ():
            lines.append(f'{head} "</function>"')
            continue
        if keys is None:
            lines.append(f'{head} ( t{i}-xkw tc-ws )* "</function>"')
            lines.append(f't{i}-xkw ::= "<parameter=" tc-ident ">" tc-xval "</parameter>"')
            continue
        items = []  # each property at most once, in the schema's order; the required ones always
        for k in keys:
            item = f'{gbnf_literal("<parameter=" + k + ">")} tc-xval "</parameter>" tc-ws'
            items.append(item if k in rules.required[i] else f"( {item} )?")
        lines.append(f'{head} {" ".join(items)} "</function>"')
    return "\n".join(lines) + "\n"


def _gemma_calls(rules: ToolRules, picked: list[int]) -> str:
    lines = ["tc-gem ::= " + " | ".join(f"t{i}-gem" for i in picked)]
    for i in picked:
        pairs, kw = _keywords(rules, i, ":", "tc-gval", '","')
        lines.append(f'''t{i}-gem ::= {gbnf_literal("call:" + rules.names[i] + "{")}{pairs} "}}"{kw}''')
    return "\n".join(lines) + "\n"


def tool_grammar(fmt: ToolFormat, tools: Sequence[Any], *, only: str | None = None, parallel: bool = True,
                 lazy: bool = False) -> CallGrammar:
    """``call_grammar`` straight from a tool list (what the bench and a front end call)."""
    return call_grammar(fmt, argument_rules(tools), only=only, parallel=parallel, lazy=lazy)
