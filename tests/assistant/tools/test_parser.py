"""The streaming parser: every format, streams split at every byte of the marked region, multibyte
arguments, held-back prefixes, bad calls as events, parallel ids, and OpenAI deltas."""

from __future__ import annotations

import json
import random

import pytest

from assistant.tools.calls import TextEvent, ToolCallError, ToolCallEvent
from assistant.tools.deltas import OpenAIDeltas, merge_deltas
from assistant.tools.formats import FORMATS
from assistant.tools.parser import ToolCallParser, join_text, parse_reply

SCHEMAS = {
    "get_weather": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}},
    "search": {"type": "object", "properties": {"q": {"type": "string"}}},
}
ARGS = {"city": "Zürich 東京 🌤", "days": 3}

# format -> (the reply, where the marked region starts and ends in it)
REPLIES = {
    "hermes": 'Let me check. <tool_call>\n{"name": "get_weather", "arguments": {"city": "Zürich 東京 🌤", "days": 3}}\n</tool_call> Done.',
    "qwen_xml": "Checking.\n<tool_call>\n<function=get_weather>\n<parameter=city>\nZürich 東京 🌤\n</parameter>\n"
                "<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>",
    "llama3": '{"name": "get_weather", "parameters": {"city": "Zürich 東京 🌤", "days": 3}}',
    "mistral": '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Zürich 東京 🌤", "days": 3}}]',
    "functiongemma": "Sure <start_function_call>call:get_weather{city:<escape>Zürich 東京 🌤<escape>,days:3}<end_function_call>",
    "pythonic": 'One moment. <|tool_call_start|>[get_weather(city="Zürich 東京 🌤", days=3)]<|tool_call_end|>OK',
    "generic": '\n{"name": "get_weather", "arguments": {"city": "Zürich 東京 🌤", "days": 3}}',
}


def summary(events: list) -> list[tuple]:
    """Events without the random ids."""
    out: list[tuple] = []
    for e in join_text(events):
        if isinstance(e, TextEvent):
            out.append(("text", e.text))
        elif isinstance(e, ToolCallEvent):
            out.append(("call", e.call.name, e.call.arguments))
        else:
            out.append(("error", e.name, e.message))
    return out


def feed_all(fmt_name: str, pieces: list, offered=SCHEMAS) -> list:
    parser = ToolCallParser(FORMATS[fmt_name], offered)
    events = []
    for piece in pieces:
        events += parser.feed(piece)
    return events + parser.finish()


@pytest.mark.parametrize("name", sorted(REPLIES))
def test_each_format_parses_its_call(name: str) -> None:
    events = summary(parse_reply(FORMATS[name], REPLIES[name], SCHEMAS))
    calls = [e for e in events if e[0] == "call"]
    assert calls == [("call", "get_weather", ARGS)], events
    text = "".join(e[1] for e in events if e[0] == "text")
    assert "tool_call" not in text and "TOOL_CALLS" not in text and "function" not in text


@pytest.mark.parametrize("name", sorted(REPLIES))
def test_split_at_every_byte_matches_the_whole(name: str) -> None:
    data = REPLIES[name].encode("utf-8")
    whole = summary(parse_reply(FORMATS[name], REPLIES[name], SCHEMAS))
    for i in range(1, len(data)):
        assert summary(feed_all(name, [data[:i], data[i:]])) == whole, f"split at byte {i}"
    assert summary(feed_all(name, [data[i : i + 1] for i in range(len(data))])) == whole


@pytest.mark.parametrize("name", sorted(REPLIES))
def test_random_piece_sizes_match_the_whole(name: str) -> None:
    rng = random.Random(name)
    text = REPLIES[name]
    whole = summary(parse_reply(FORMATS[name], text, SCHEMAS))
    for _ in range(30):
        pieces, pos = [], 0
        while pos < len(text):
            step = rng.randint(1, 7)
            pieces.append(text[pos : pos + step])
            pos += step
        assert summary(feed_all(name, pieces)) == whole


def test_text_streams_at_once_and_a_marker_prefix_is_held() -> None:
    parser = ToolCallParser(FORMATS["hermes"], SCHEMAS)
    assert summary(parser.feed("Hello there")) == [("text", "Hello there")]
    assert summary(parser.feed(" <tool")) == [("text", " ")]  # "<tool" may become <tool_call>
    assert summary(parser.feed("s are useful")) == [("text", "<tools are useful")]
    assert summary(parser.feed(" a < b")) == [("text", " a < b")]
    assert parser.finish() == []


def test_held_prefix_at_the_end_is_text() -> None:
    assert summary(feed_all("hermes", ["see <tool_ca"])) == [("text", "see <tool_ca")]
    assert summary(feed_all("llama3", ['{"na'])) == [("text", '{"na')]


def test_reply_opening_json_that_is_not_a_call_is_text() -> None:
    for fmt in ("llama3", "generic"):
        assert summary(feed_all(fmt, ['{"answer": 42}'])) == [("text", '{"answer": 42}')]
        # JSON later in a reply is never a call
        text = 'The call looks like {"name": "get_weather", "parameters": {}}'
        assert summary(feed_all(fmt, [text])) == [("text", text)]


def test_parallel_calls_keep_distinct_ids() -> None:
    text = "".join(f'<tool_call>{{"name": "search", "arguments": {{"q": "{i}"}}}}</tool_call>' for i in range(5))
    events = parse_reply(FORMATS["hermes"], text, SCHEMAS)
    ids = [e.call.id for e in events if isinstance(e, ToolCallEvent)]
    assert len(ids) == 5 and len(set(ids)) == 5
    mistral = parse_reply(FORMATS["mistral"], '[TOOL_CALLS][{"name": "search", "arguments": {"q": "a"}, "id": "abcDEF123"},'
                                              '{"name": "search", "arguments": {"q": "b"}, "id": "abcDEF123"}]', SCHEMAS)
    mids = [e.call.id for e in mistral if isinstance(e, ToolCallEvent)]
    assert mids[0] == "abcDEF123" and mids[1] != mids[0] and len(mids[1]) == 9


def test_several_calls_in_one_region_and_in_python_lists() -> None:
    events = summary(parse_reply(FORMATS["pythonic"], '<|tool_call_start|>[search(q="a"), search(q=\'b\')]<|tool_call_end|>',
                                 SCHEMAS))
    assert events == [("call", "search", {"q": "a"}), ("call", "search", {"q": "b"})]
    named = summary(parse_reply(FORMATS["mistral"], '[TOOL_CALLS]search[ARGS]{"q": "a"}[TOOL_CALLS]search[ARGS]{"q": "b"}',
                                SCHEMAS))
    assert named == [("call", "search", {"q": "a"}), ("call", "search", {"q": "b"})]


@pytest.mark.parametrize("body, why", [
    ('{"name": "search", "arguments": {"q": "cut', "cut off"),
    ("{'name': 'search', 'arguments': {'q': 'x'}}", "single quotes"),
    ('{"name": "search", "arguments": {"q": "x"}} and then I will answer', "text after"),
    ('{"arguments": {"q": "x"}}', 'no "name"'),
    ('{"name": "search", "arguments": [1, 2]}', "JSON object"),
    ('{"name": "search", "arguments": "{not json"}', "not valid JSON"),
])
def test_malformed_calls_become_errors_never_exceptions(body: str, why: str) -> None:
    for text in (f"<tool_call>{body}</tool_call>", f"<tool_call>{body}"):
        events = parse_reply(FORMATS["hermes"], text, SCHEMAS)
        errors = [e for e in events if isinstance(e, ToolCallError)]
        assert len(errors) == 1 and why in errors[0].message, events
        assert "<tool_call>" in errors[0].message  # the model is shown the right form
        assert not [e for e in events if isinstance(e, ToolCallEvent)]


def test_arguments_as_a_json_string_are_read() -> None:
    events = summary(parse_reply(FORMATS["hermes"], '<tool_call>{"name": "search", "arguments": "{\\"q\\": \\"x\\"}"}</tool_call>',
                                 SCHEMAS))
    assert events == [("call", "search", {"q": "x"})]


def test_a_tool_that_was_not_offered_is_an_error() -> None:
    events = parse_reply(FORMATS["hermes"], '<tool_call>{"name": "rm_rf", "arguments": {}}</tool_call>', SCHEMAS)
    assert isinstance(events[0], ToolCallError) and events[0].name == "rm_rf"
    assert "get_weather, search" in events[0].message
    # with no offered set (the server returns calls to its client), any name passes
    assert isinstance(parse_reply(FORMATS["hermes"], '<tool_call>{"name": "rm_rf"}</tool_call>')[0], ToolCallEvent)


def test_an_endless_call_is_cut_and_reported() -> None:
    parser = ToolCallParser(FORMATS["hermes"], SCHEMAS, max_call_chars=1000)
    events = parser.feed('<tool_call>{"name": "search", "arguments": {"q": "')
    for _ in range(100):
        events += parser.feed("x" * 100)
    events += parser.feed('"}}</tool_call>after') + parser.finish()
    assert [type(e).__name__ for e in join_text(events)] == ["ToolCallError", "TextEvent"]
    assert events[-1].text == "after" or join_text(events)[-1].text == "after"


def test_garbage_never_raises() -> None:
    rng = random.Random(7)
    alphabet = ['<tool_call>', '</tool_call>', '{', '}', '"', "[TOOL_CALLS]", "[ARGS]", "<function=", "<parameter=",
                "<|tool_call_start|>", "<|tool_call_end|>", "(", ")", "=", "<escape>", "call:", "\\", "é", "x", " ",
                "<start_function_call>", "<end_function_call>", "<|python_tag|>", "[", "]", ","]
    for name in FORMATS:
        for _ in range(60):
            pieces = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 4))) for _ in range(rng.randint(1, 30))]
            events = feed_all(name, pieces)
            assert all(isinstance(e, TextEvent | ToolCallEvent | ToolCallError) for e in events)


def test_deltas_reassemble_exactly_to_the_non_streamed_calls() -> None:
    text = "".join(f'<tool_call>{{"name": "get_weather", "arguments": {json.dumps({"city": c, "days": i})}}}</tool_call>'
                   for i, c in enumerate(["Zürich 東京 🌤", 'quote " and \\ backslash', ""]))
    parser = ToolCallParser(FORMATS["hermes"], SCHEMAS)
    deltas, items = OpenAIDeltas(fragment_chars=5), []
    for i in range(0, len(text), 3):
        for event in parser.feed(text[i : i + 3]):
            if isinstance(event, ToolCallEvent):
                items += deltas.items(event.call)
    parser.finish()
    expected = [c.as_openai() for c in parser.calls]
    assert merge_deltas(items) == expected
    assert [i["id"] for i in items if "id" in i] == [c.id for c in parser.calls]  # id and name once per call
    assert sum(1 for i in items if i["function"].get("name")) == 3
    assert [json.loads(c["function"]["arguments"]) for c in expected][0]["city"] == "Zürich 東京 🌤"


def test_llama3_calls_separated_by_semicolons() -> None:
    text = '{"name": "search", "parameters": {"q": "a"}}; {"name": "search", "parameters": {"q": "b"}}'
    assert summary(parse_reply(FORMATS["llama3"], text, SCHEMAS)) == [("call", "search", {"q": "a"}),
                                                                       ("call", "search", {"q": "b"})]


def test_an_error_has_a_stand_in_call_for_the_history() -> None:
    err = parse_reply(FORMATS["hermes"], "<tool_call>{'name': 'search'}</tool_call>", SCHEMAS)[0]
    assert isinstance(err, ToolCallError)
    stand_in, result = err.as_call(), err.as_result()
    assert (stand_in.id, stand_in.name, stand_in.arguments) == (err.id, "invalid_tool_call", {})
    assert result.is_error and "single quotes" in result.content
