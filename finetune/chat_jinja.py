"""The Jinja chat templates saved with the tokenizer (and carried into the GGUF by ``convert``).

Each renders exactly what :meth:`finetune.template.ChatTemplate.pieces` builds for training (tests
check it byte for byte): the turns, and with a ``tools`` list the Hermes / Qwen 2.5 tool format,
which our chat detects from ``<tool_call>`` and the ``tools`` section (``assistant/tools/formats.py``):
the tools in the system section, each call as ``<tool_call>\\n{"name": ..., "arguments": {...}}\\n</tool_call>``
after the reply's text, each ``tool`` message as a user turn wrapping ``<tool_response>``.

A call's arguments are written as given when they are a JSON string (what our chat sends this
template) and through ``tojson`` when they are an object (transformers' ``apply_chat_template``).
The sources are written one tag a line for reading and joined without the newlines.
"""

from __future__ import annotations

from finetune.tool_data import TOOLS_INTRO, TOOLS_OUTRO


def _lit(text: str) -> str:
    """``text`` as a Jinja string literal."""
    return "'" + text.replace("\\", "\\\\").replace("\n", "\\n").replace("'", "\\'") + "'"


def _join(source: str) -> str:
    return "".join(line.strip() for line in source.strip().splitlines())


_TOOLS = f"""
{{%- if tools -%}}
{{%- set tools_section = {_lit(TOOLS_INTRO)} + (tools | map('tojson') | join('\\n')) + {_lit(TOOLS_OUTRO)} -%}}
{{%- endif -%}}
"""

# the body of an assistant turn: its text, then each call on lines of its own
_CALLS = """
{{- (message['content'] or '') | trim -}}
{%- if message['role'] == 'assistant' and message['tool_calls'] -%}
{%- for tool_call in message['tool_calls'] -%}
{%- if not loop.first or ((message['content'] or '') | trim) -%}{{ '\\n' }}{%- endif -%}
{{- '<tool_call>\\n{"name": "' + tool_call['function']['name'] + '", "arguments": ' -}}
{%- set args = tool_call['function']['arguments'] -%}
{%- if args is mapping -%}{{- args | tojson -}}{%- else -%}{{ tool_call.function.arguments }}{%- endif -%}
{{- '}\\n</tool_call>' -}}
{%- endfor -%}
{%- endif -%}
"""

_RESPONSE = """
{{- '<tool_response>\\n' + (message['content'] | trim) + '\\n</tool_response>' -}}
"""

CHATML = _join(_TOOLS + """
{%- if tools and messages[0]['role'] == 'system' -%}
{{- '<|im_start|>system\\n' + (messages[0]['content'] | trim) + '\\n\\n' + tools_section + '<|im_end|>\\n' -}}
{%- set loop_messages = messages[1:] -%}
{%- elif tools -%}
{{- '<|im_start|>system\\n' + tools_section + '<|im_end|>\\n' -}}
{%- set loop_messages = messages -%}
{%- else -%}
{%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
{{- '<|im_start|>' + ('user' if message['role'] == 'tool' else message['role']) + '\\n' -}}
{%- if message['role'] == 'tool' -%}""" + _RESPONSE + "{%- else -%}" + _CALLS + """{%- endif -%}
{{- '<|im_end|>\\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}
""")

GEMMA = _join("{{ bos_token }}" + _TOOLS + """
{%- if messages[0]['role'] == 'system' -%}
{%- set first_user_prefix = (messages[0]['content'] | trim) + '\\n\\n' -%}
{%- set loop_messages = messages[1:] -%}
{%- else -%}
{%- set first_user_prefix = '' -%}
{%- set loop_messages = messages -%}
{%- endif -%}
{%- if tools -%}{%- set first_user_prefix = first_user_prefix + tools_section + '\\n\\n' -%}{%- endif -%}
{%- for message in loop_messages -%}
{%- set role = 'model' if message['role'] == 'assistant' else ('user' if message['role'] == 'tool' else message['role']) -%}
{{- '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else '') -}}
{%- if message['role'] == 'tool' -%}""" + _RESPONSE + "{%- else -%}" + _CALLS + """{%- endif -%}
{{- '<end_of_turn>\\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}{{ '<start_of_turn>model\\n' }}{%- endif -%}
""")
