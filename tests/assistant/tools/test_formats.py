"""Format detection from chat templates, the override, the no-tools sentence, the template's input
shapes (rendered through Jinja), and render -> parse round trips for every format."""

from __future__ import annotations

import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

from assistant.tools.calls import ToolCall, ToolCallEvent, ToolError
from assistant.tools.formats import FORMATS, ToolsUnsupported, detect_format, format_by_name
from assistant.tools.messages import template_inputs
from assistant.tools.parser import parse_reply

# Small templates with the markers each family's tools / tool_calls branches render.
HERMES = (
    "{% if tools %}<tools>{% for t in tools %}{{ t | tojson }}{% endfor %}</tools>{% endif %}"
    "{% for m in messages %}{% if m.role == 'assistant' and m.tool_calls %}{% for tc in m.tool_calls %}"
    "{% if tc.function is defined %}{% set tc = tc.function %}{% endif %}"
    '<tool_call>{"name": "{{ tc.name }}", "arguments": {{ tc.arguments | tojson }}}</tool_call>{% endfor %}'
    "{% elif m.role == 'tool' %}<tool_response>{{ m.content }}</tool_response>{% else %}{{ m.content }}{% endif %}"
    "{% endfor %}"
)
QWEN_XML = (
    "{% if tools %}{% for t in tools %}{{ t.function.name }}{% endfor %}{% endif %}"
    "{% for m in messages %}{% if m.tool_calls %}{% for tc in m.tool_calls %}<tool_call>\n<function={{ tc.function.name }}>\n"
    "{% for k, v in tc.function.arguments.items() %}<parameter={{ k }}>\n{{ v if v is string else v | tojson }}\n</parameter>\n"
    "{% endfor %}</function>\n</tool_call>{% endfor %}{% else %}{{ m.content }}{% endif %}{% endfor %}"
)
LLAMA3 = (
    "{% if tools %}Given the functions {{ tools | tojson }} respond with "
    '{"name": function name, "parameters": dictionary of argument name and its value}{% endif %}'
    "{% for m in messages %}{% if m.tool_calls %}{% set tc = m.tool_calls[0].function %}"
    '{"name": "{{ tc.name }}", "parameters": {{ tc.arguments | tojson }}}'
    "{% elif m.role == 'tool' or m.role == 'ipython' %}<|start_header_id|>ipython<|end_header_id|>{{ m.content }}"
    "{% else %}{{ m.content }}{% endif %}{% endfor %}{# <|python_tag|> for built-ins #}"
)
MISTRAL = (
    "{% for m in messages %}{% if m.tool_calls %}[TOOL_CALLS][{% for tc in m.tool_calls %}"
    "{% if tc.id is not defined or tc.id | length != 9 %}{{ raise_exception('Tool call IDs should be alphanumeric "
    "strings with length 9!') }}{% endif %}{{ tc.function | tojson }}{% endfor %}]"
    "{% elif m.role == 'tool' %}[TOOL_RESULTS]{\"call_id\": \"{{ m.tool_call_id }}\", \"content\": {{ m.content | tojson }}}"
    "[/TOOL_RESULTS]{% elif m.content is not none %}{{ m.content }}{% endif %}{% endfor %}"
    "{% if tools %}[AVAILABLE_TOOLS]{{ tools | tojson }}[/AVAILABLE_TOOLS]{% endif %}"
)
LFM2 = (
    "{% if tools %}List of tools: <|tool_list_start|>{{ tools | tojson }}<|tool_list_end|>{% endif %}"
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{% if m.role == 'tool' %}<|tool_response_start|>{{ m.content }}"
    "<|tool_response_end|>{% else %}{{ m.content }}{% endif %}<|im_end|>\n{% endfor %}"
)
GEMMA = (
    "{% for t in tools %}<start_function_declaration>declaration:{{ t.function.name }}<end_function_declaration>{% endfor %}"
    "{% for m in messages %}{% if m.tool_calls %}{% for tc in m.tool_calls %}<start_function_call>call:{{ tc.function.name }}"
    "{{ '{' }}{% for k, v in tc.function.arguments | dictsort %}{{ k }}:<escape>{{ v }}<escape>{% endfor %}{{ '}' }}"
    "<end_function_call>{% endfor %}{% else %}{{ m.content }}{% endif %}{% endfor %}"
)
GENERIC = "{% if tools %}Tools: {{ tools | tojson }}{% endif %}{% for m in messages %}{{ m.content }}{% endfor %}"
STRING_ARGS = (
    "{% if tools %}{{ tools | tojson }}{% endif %}{% for m in messages %}{% for tc in m.tool_calls or [] %}"
    "<tool_call>{\"name\": \"{{ tc.function.name }}\", \"arguments\": {{ tc.function.arguments }}}</tool_call>"
    "{% endfor %}{{ m.content }}{% endfor %}"
)
CHATML = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"

TEMPLATES = {"hermes": HERMES, "qwen_xml": QWEN_XML, "llama3": LLAMA3, "mistral": MISTRAL, "pythonic": LFM2,
             "functiongemma": GEMMA, "generic": GENERIC}
TOOLS = [{"type": "function", "function": {"name": "search", "description": "Find notes.",
                                           "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}]
CONVERSATION = [
    {"role": "user", "content": "Find my note on Zürich"},
    {"role": "assistant", "content": "", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "search", "arguments": '{"q": "Zürich"}'}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "zurich.md: trip in May"},
    {"role": "assistant", "content": "You went in May."},
]


def render(template: str, ctx: dict) -> str:
    env = ImmutableSandboxedEnvironment()

    def raise_exception(msg: str) -> None:
        raise ValueError(msg)

    env.globals["raise_exception"] = raise_exception
    return env.from_string(template).render(**ctx)


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_detection_from_the_template(name: str) -> None:
    assert detect_format(TEMPLATES[name]).name == name


def test_override_by_name_wins_and_unknown_names_are_one_sentence() -> None:
    assert detect_format(CHATML, override="qwen2.5").name == "hermes"
    assert detect_format(None, override="lfm2").name == "pythonic"
    assert format_by_name("FunctionGemma").name == "functiongemma"
    with pytest.raises(ToolError, match="Unknown tool format 'nope'.*hermes"):
        detect_format(HERMES, override="nope")


def test_a_template_without_tools_is_one_clear_sentence() -> None:
    for source in (CHATML, "", None):
        with pytest.raises(ToolsUnsupported) as err:
            detect_format(source, who="The chat template of smollm2")
        text = str(err.value)
        assert text.startswith("The chat template of smollm2 has no tool support") and "--chat-template" in text
        assert text.count(".") == 1 and text.endswith(".")


def test_input_shapes_follow_the_template() -> None:
    assert detect_format(HERMES).arguments_as == "object"
    assert detect_format(STRING_ARGS).arguments_as == "string"
    assert detect_format(MISTRAL).empty_content == "null"
    assert detect_format(HERMES).empty_content == ""
    assert detect_format(LFM2).calls_in_content and not detect_format(HERMES).calls_in_content


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_templates_render_our_tool_conversation(name: str) -> None:
    fmt = detect_format(TEMPLATES[name])
    ctx = template_inputs(CONVERSATION, TOOLS, fmt)
    text = render(TEMPLATES[name], ctx)
    assert "Zürich" in text and "search" in text
    if name != "generic":
        assert any(m.open in text for m in fmt.markers) or '"parameters"' in text


def test_shapes_of_messages() -> None:
    mistral = template_inputs(CONVERSATION, TOOLS, detect_format(MISTRAL))["messages"]
    call_id = mistral[1]["tool_calls"][0]["id"]
    assert len(call_id) == 9 and call_id.isalnum() and mistral[2]["tool_call_id"] == call_id
    assert mistral[1]["content"] is None and mistral[2]["name"] == "search"
    strings = template_inputs(CONVERSATION, TOOLS, detect_format(STRING_ARGS))["messages"]
    assert strings[1]["tool_calls"][0]["function"]["arguments"] == '{"q": "Zürich"}'
    objects = template_inputs(CONVERSATION, TOOLS, detect_format(HERMES))["messages"]
    assert objects[1]["tool_calls"][0]["function"]["arguments"] == {"q": "Zürich"} and objects[1]["content"] == ""
    lfm = template_inputs(CONVERSATION, TOOLS, detect_format(LFM2))["messages"]
    assert lfm[1] == {"role": "assistant", "content": '<|tool_call_start|>[search(q="Zürich")]<|tool_call_end|>'}


def test_bad_arguments_in_a_request_are_one_sentence() -> None:
    bad = [{"role": "assistant", "tool_calls": [{"id": "x", "function": {"name": "search", "arguments": "{oops"}}]}]
    with pytest.raises(ToolError, match="arguments of the call to search are not valid JSON"):
        template_inputs(bad, TOOLS, detect_format(HERMES))


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_render_then_parse_round_trips(name: str) -> None:
    fmt = FORMATS[name]
    calls = [ToolCall(fmt.new_id(), "search", {"q": "Zürich \"Ost\" 東京", "n": 3, "tags": ["a", "b"], "x": None})]
    if name not in ("llama3", "generic"):  # those take one call opening the reply
        calls.append(ToolCall(fmt.new_id(), "search", {"q": "second"}))
    events = parse_reply(fmt, fmt.render(calls), {"search": {"type": "object", "properties": {"q": {"type": "string"}}}})
    got = [(e.call.name, e.call.arguments) for e in events if isinstance(e, ToolCallEvent)]
    assert got == [(c.name, c.arguments) for c in calls], events
