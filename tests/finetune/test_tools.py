"""TRL's tool format: rows with ``tools``, assistant ``tool_calls`` and ``tool`` messages parse, train
with loss on the assistant's text, calls and EOT only, and the saved template renders them as
training saw them and is what our chat detects as the Hermes format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from finetune.data import Example, Turn, load_dataset
from finetune.errors import FinetuneError
from finetune.template import IGNORE, apply_to_tokenizer, choose_template, encode
from finetune.tool_data import Call

from .conftest import write_jsonl

TOOLS: list[dict[str, Any]] = [{"type": "function", "function": {"name": "get_weather", "description": "The weather <now> & here",
                                           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}},
         {"name": "add", "description": "Add two numbers", "parameters": {"type": "object"}}]
ROW: dict[str, Any] = {
    "tools": json.dumps(TOOLS),
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris, and 2+3?"},
        {"role": "assistant", "content": "Let me check.", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "°C"}}},
            {"id": "c2", "type": "function", "function": {"name": "add", "arguments": '{"b": 3, "a": 2}'}}]},
        {"role": "tool", "tool_call_id": "c1", "name": "get_weather", "content": "18 C, sunny"},
        {"role": "tool", "tool_call_id": "c2", "content": "5"},
        {"role": "assistant", "content": "18 C and sunny; 2+3 is 5."},
        {"role": "user", "content": "And Rome?"},
        {"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'}}]},
    ],
}
CALLS = ('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "unit": "°C"}}\n</tool_call>\n'
         '<tool_call>\n{"name": "add", "arguments": {"b": 3, "a": 2}}\n</tool_call>')
ROME = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Rome"}}\n</tool_call>'


def _example(tmp_path: Path) -> Example:
    data = load_dataset(str(write_jsonl(tmp_path / "tools.jsonl", [ROW])))
    assert data.formats == {"messages": 1}
    return data.examples[0]


def _setup(folder: Path) -> tuple[Any, Any]:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    template = choose_template(tok)
    apply_to_tokenizer(tok, template)
    return tok, template


def test_a_tool_row_parses_to_turns_calls_and_tools(tmp_path: Path) -> None:
    ex = _example(tmp_path)
    assert [t.role for t in ex.turns] == ["system", "user", "assistant", "tool", "tool", "assistant", "user", "assistant"]
    assert ex.turns[2].calls == (Call("get_weather", '{"city": "Paris", "unit": "°C"}', "c1"),
                                 Call("add", '{"b": 3, "a": 2}', "c2"))
    assert ex.turns[3] == Turn("tool", "18 C, sunny") and ex.turns[7].content == ""
    assert [t["function"]["name"] for t in ex.tools] == ["get_weather", "add"]
    assert ex.tools[1] == {"type": "function", "function": {"name": "add", "description": "Add two numbers",
                                                            "parameters": {"type": "object"}}}
    assert ex.exchanges == 2 and ex.replies == 3


def test_the_rendered_text_puts_tools_in_the_system_turn_and_results_in_user_turns(tmp_path: Path) -> None:
    from finetune.template import ChatTemplate
    from finetune.tool_data import tojson

    text = ChatTemplate("chatml", "<|im_start|>", "<|im_end|>", None).render(_example(tmp_path).turns, _example(tmp_path).tools)
    tools = "\n".join(tojson(t) for t in _example(tmp_path).tools)
    assert '"description": "The weather \\u003cnow\\u003e \\u0026 here"' in tools  # Jinja's own tojson spelling
    assert text.startswith("<|im_start|>system\nBe brief.\n\n# Tools\n\n") and f"<tools>\n{tools}\n</tools>" in text
    assert (f"<|im_start|>assistant\nLet me check.\n{CALLS}<|im_end|>\n"
            "<|im_start|>user\n<tool_response>\n18 C, sunny\n</tool_response><|im_end|>\n"
            "<|im_start|>user\n<tool_response>\n5\n</tool_response><|im_end|>\n"
            "<|im_start|>assistant\n18 C and sunny; 2+3 is 5.<|im_end|>\n") in text
    assert text.endswith(f"<|im_start|>user\nAnd Rome?<|im_end|>\n<|im_start|>assistant\n{ROME}<|im_end|>\n")


@pytest.mark.parametrize("fixture", ["tiny_chatml", "tiny_llama", "tiny_gemma"])
def test_loss_is_on_the_replies_calls_and_eot_only(request: pytest.FixtureRequest, fixture: str, tmp_path: Path) -> None:
    tok, template = _setup(request.getfixturevalue(fixture))
    ex = _example(tmp_path)
    enc = encode(tok, template, ex, max_length=4096)
    labelled = [i for i, x in enumerate(enc.labels) if x != IGNORE]
    eot = template.eot
    want = f"Let me check.\n{CALLS}{eot}18 C and sunny; 2+3 is 5.{eot}{ROME}{eot}"
    assert tok.decode([enc.input_ids[i] for i in labelled]) == want
    # each reply's tokens start right after the rendered conversation before it, ending with one EOT
    positions: list[int] = []
    for k, turn in enumerate(ex.turns):
        if turn.role == "assistant":
            start = len(tok(template.prompt(ex.turns[:k], ex.tools), add_special_tokens=False).input_ids)
            end = len(tok(template.render(ex.turns[: k + 1], ex.tools), add_special_tokens=False).input_ids) - 1
            positions += list(range(start, end))  # the newline after the EOT is not labelled
    assert labelled == positions
    text = tok.decode(enc.input_ids)
    assert "<tools>" in text and "<tool_response>" in text and "<tools>" not in want and "<tool_response>" not in want


@pytest.mark.parametrize("fixture", ["tiny_chatml", "tiny_llama", "tiny_gemma"])
def test_the_saved_template_renders_tools_as_training_did_and_is_detected_as_hermes(
        request: pytest.FixtureRequest, fixture: str, tmp_path: Path) -> None:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    from assistant.tools.formats import detect_format
    from assistant.tools.messages import template_inputs

    tok, template = _setup(request.getfixturevalue(fixture))
    tok.save_pretrained(tmp_path / "saved")
    source = (tmp_path / "saved" / "chat_template.jinja").read_text()
    fmt = detect_format(source)
    assert (fmt.name, fmt.arguments_as, fmt.calls_in_content) == ("hermes", "string", False)
    ex = _example(tmp_path)
    # what our chat hands the template (assistant/tools/messages.py), in its own Jinja environment's shape
    ctx = template_inputs(ROW["messages"], TOOLS, fmt)
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    compiled = env.from_string(source)
    bos = tok.bos_token or ""
    assert compiled.render(**ctx, bos_token=bos, add_generation_prompt=False) == template.render(ex.turns, ex.tools)
    assert (compiled.render(messages=ctx["messages"][:-1], tools=ctx["tools"], bos_token=bos, add_generation_prompt=True)
            == template.prompt(ex.turns[:-1], ex.tools))
    # transformers' apply_chat_template, arguments as objects (its tojson keeps key order and UTF-8)
    assert tok.apply_chat_template(ROW["messages"], tokenize=False) == template.render(ex.turns)


@pytest.mark.parametrize(("message", "error"), [
    ({"role": "assistant", "tool_calls": [{"type": "function", "function": {"arguments": {}}}]}, "tool call 1 has no function name"),
    ({"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "[1, 2]"}}]}, "arguments that are not a JSON object"),
    ({"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{'a': 1}"}}]}, "arguments that are not valid JSON"),
    ({"role": "assistant", "tool_calls": {"name": "f"}}, "'tool_calls' is not a list"),
    ({"role": "user", "content": "x", "tool_calls": [{"function": {"name": "f"}}]}, "only the assistant calls tools"),
    ({"role": "tool", "content": 5}, "message 3 is not a string"),
])
def test_malformed_tool_rows_get_one_sentence_each(tmp_path: Path, message: dict[str, Any], error: str) -> None:
    rows = [{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]},
            {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}, message,
                          {"role": "assistant", "content": "b"}]}]
    with pytest.raises(FinetuneError, match=r"1 bad row\(s\) \(lines 2;") as err:
        load_dataset(str(write_jsonl(tmp_path / "bad.jsonl", rows)))
    assert len(err.value.details) == 1 and error in err.value.details[0], err.value.details


@pytest.mark.parametrize(("row", "error"), [
    ({"tools": "not json", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]},
     "'tools' is a string that is not valid JSON"),
    ({"tools": [{"description": "x"}], "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]},
     "tool 1 has no function name"),
    ({"messages": [{"role": "user", "content": "q"}, {"role": "tool", "content": "r"}, {"role": "assistant", "content": "a"}]},
     "turn 2 is a tool result with no assistant tool call before it"),
    ({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "tool_calls": [{"function": {"name": "f"}}]},
                   {"role": "user", "content": "r"}, {"role": "assistant", "content": "a"}]},
     "turn 3 is user where the results of turn 2's tool calls were expected"),
    ({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "tool_calls": [{"function": {"name": "f"}}]},
                   {"role": "tool", "content": "r"}]}, "ends with a tool result"),
    ({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "tool_calls": [{"function": {"name": "f"}}]},
                   {"role": "tool", "content": "r"}, {"role": "user", "content": "again"}]},
     "turn 4 is user where assistant was expected (the assistant answers the tool results)"),
])
def test_malformed_tool_conversations(tmp_path: Path, row: dict[str, Any], error: str) -> None:
    with pytest.raises(FinetuneError) as err:
        load_dataset(str(write_jsonl(tmp_path / "bad.jsonl", [row])))
    assert len(err.value.details) == 1 and error in err.value.details[0], err.value.details


@pytest.mark.parametrize("fixture", ["tiny_chatml", "tiny_gemma"])
def test_our_chats_own_template_engine_renders_it_as_training_did(request: pytest.FixtureRequest, fixture: str,
                                                                  tmp_path: Path) -> None:
    """The bounded sandbox and tool shaping `assistant chat` uses once the template is in a GGUF."""
    from assistant.engine.base import Message
    from assistant.engine.template import ChatTemplate as ChatEngineTemplate
    from assistant.tools.formats import detect_format
    from assistant.tools.messages import template_inputs

    tok, template = _setup(request.getfixturevalue(fixture))
    ex = _example(tmp_path)
    fmt = detect_format(tok.chat_template)
    messages = [Message(m["role"], m.get("content") or "", m.get("tool_calls"), m.get("tool_call_id"), m.get("name"))
                for m in ROW["messages"]]
    engine = ChatEngineTemplate(tok.chat_template, "gguf", bos_token=tok.bos_token or "")
    text = engine.render(messages, add_generation_prompt=False, shape=lambda ms: template_inputs(ms, TOOLS, fmt))
    assert text == template.render(ex.turns, ex.tools)
