"""assistant/tools/grammar.py: every format's call grammar is one llama.cpp accepts, and the bundled
model decoding under it writes a call its format's parser reads, naming an offered tool with
arguments that fit the schema."""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from typing import Any

import pytest

from assistant.tools.calls import ToolCallEvent, ToolError
from assistant.tools.formats import FORMATS
from assistant.tools.grammar import argument_rules, call_grammar, lazy_supported, tool_grammar
from assistant.tools.parser import parse_reply
from assistant.tools.validate import schema_problem

TOOLS: list[dict[str, Any]] = [
    {"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string", "maxLength": 24}, "days": {"type": "integer"}},
        "required": ["city"]}}},
    {"type": "function", "function": {"name": "read-file", "parameters": {  # a dash, a $ref, words in a const
        "type": "object", "$defs": {"path": {"type": "string", "maxLength": 40}},
        "properties": {"path": {"$ref": "#/$defs/path"}, "mode": {"const": "read only"}}, "required": ["path"]}}},
    {"type": "function", "function": {"name": "now"}},
]
MODES = [{}, {"lazy": True}, {"parallel": False}, {"only": "read-file", "parallel": False}]


@pytest.fixture(scope="module")
def llm() -> Iterator[Any]:
    from models.bundled import smollm2_path
    from models.llama_open import open_llama

    model = open_llama(smollm2_path(), n_ctx=256, vocab_only=True)
    yield model
    model.close()


@pytest.fixture(scope="module")
def vocab(llm: Any) -> Any:
    import llama_cpp

    return llama_cpp.llama_model_get_vocab(llm.model)


def allowed_after(llm: Any, chain: Any, text: str) -> int:
    """How many tokens the chain leaves possible after the tokens of ``text``."""
    import llama_cpp

    for token in llm.tokenize(text.encode(), add_bos=False, special=False):
        llama_cpp.llama_sampler_accept(chain, token)
    n = llm.n_vocab()
    data = (llama_cpp.llama_token_data * n)()
    for i in range(n):
        data[i].id, data[i].logit, data[i].p = i, 0.0, 0.0
    candidates = llama_cpp.llama_token_data_array(data, n, -1, False)
    llama_cpp.llama_sampler_apply(chain, ctypes.byref(candidates))
    return sum(1 for i in range(n) if data[i].logit != float("-inf"))


def test_a_lazy_grammar_starts_at_its_trigger(llm: Any) -> None:
    import llama_cpp

    from assistant.engine.base import BadGrammar, GenerationParams
    from assistant.engine.sampling import make_sampler

    g = tool_grammar(FORMATS["hermes"], TOOLS, lazy=True)
    params = GenerationParams(temperature=0, grammar=g.gbnf, grammar_triggers=g.triggers)
    for text, free in (("Let me think about <tool", True), ("I will call it. <tool_call>\n", False)):
        chain = make_sampler(llm, params, set())
        try:
            assert (allowed_after(llm, chain, text) == llm.n_vocab()) is free, text
        finally:
            llama_cpp.llama_sampler_free(chain)
    # Text after the marker that cannot begin a call leaves the model free (llama.cpp would abort the
    # process on constrained text its grammar rejects); after a whole call, little is left.
    for text, most in (("Sure <tool_call>, I will", True), ('<tool_call>\n{"name": "now", "arguments": {}}</tool_call>', False)):
        chain = make_sampler(llm, params, set())
        try:
            assert (allowed_after(llm, chain, text) > llm.n_vocab() // 2) is most, text
        finally:
            llama_cpp.llama_sampler_free(chain)
    with pytest.raises(BadGrammar, match="not a valid regular expression"):
        make_sampler(llm, GenerationParams(grammar=g.gbnf, grammar_triggers=["(<tool_call>"]), set())


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("mode", MODES, ids=["all", "lazy", "one-call", "named"])
def test_llama_cpp_accepts_every_grammar(vocab: Any, fmt: str, mode: dict[str, Any]) -> None:
    import llama_cpp

    g = tool_grammar(FORMATS[fmt], TOOLS, **mode)
    if mode.get("lazy") and lazy_supported(FORMATS[fmt]):
        patterns = (ctypes.c_char_p * len(g.triggers))(*[t.encode() for t in g.triggers])
        sampler = llama_cpp.llama_sampler_init_grammar_lazy_patterns(vocab, g.gbnf.encode(), b"root", patterns,
                                                                     len(g.triggers), None, 0)
    else:
        assert not g.triggers
        sampler = llama_cpp.llama_sampler_init_grammar(vocab, g.gbnf.encode(), b"root")
    assert sampler, g.gbnf
    llama_cpp.llama_sampler_free(sampler)
    if mode.get("only"):
        assert "read-file" in g.gbnf and "get_weather" not in g.gbnf


def test_rules_are_renamed_per_tool_and_literals_kept() -> None:
    rules = argument_rules(TOOLS)
    assert rules.names == ("get_weather", "read-file", "now")
    assert rules.keys == (("city", "days"), ("path", "mode"), ())
    assert rules.required[0] == {"city"}
    lines = rules.gbnf.splitlines()
    assert all(line.split(" ::= ")[0][:3] in ("t0-", "t1-", "t2-") for line in lines)
    assert any(line.endswith(r'::= "\"read only\""') for line in lines)  # words inside a literal are not rules
    with pytest.raises(ToolError, match="tool 'bad'"):
        argument_rules([{"type": "function", "function": {"name": "bad", "parameters": {"$ref": "#/nowhere"}}}])
    with pytest.raises(ToolError, match="No tool named 'x'"):
        call_grammar(FORMATS["hermes"], rules, only="x")


def test_triggers_are_the_markers_and_reply_opening_formats_have_none() -> None:
    assert tool_grammar(FORMATS["hermes"], TOOLS, lazy=True).triggers == ["(<tool_call>)"]
    assert tool_grammar(FORMATS["mistral"], TOOLS, lazy=True).triggers == [r"(\[TOOL_CALLS\])"]
    for name in ("llama3", "generic"):
        assert not lazy_supported(FORMATS[name]) and tool_grammar(FORMATS[name], TOOLS, lazy=True).triggers == []


@pytest.mark.slow
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_the_model_writes_a_valid_call_under_each_format(fmt: str) -> None:
    from assistant.engine.base import GenerationParams, LoadOptions
    from assistant.engine.llama import LlamaEngine

    engine = LlamaEngine()
    engine.load(None, LoadOptions(n_ctx=1024, n_threads=1))
    try:
        g = tool_grammar(FORMATS[fmt], TOOLS, parallel=False)
        prompt = "Question: what is the weather in Oslo? Answer with one tool call.\n"
        text = "".join(c.text for c in engine.complete(prompt, GenerationParams(temperature=0, grammar=g.gbnf,
                                                                                max_tokens=120)))
    finally:
        engine.close()
    offered = {t["function"]["name"]: t["function"].get("parameters", {}) for t in TOOLS}
    events = parse_reply(FORMATS[fmt], text, offered)
    calls = [e.call for e in events if isinstance(e, ToolCallEvent)]
    assert len(calls) == 1 and len(events) == 1, (text, events)
    if fmt not in ("pythonic", "functiongemma", "qwen_xml"):  # those grammars fix the keys, not the types
        assert schema_problem(calls[0].name, offered[calls[0].name], calls[0].arguments) is None, text
