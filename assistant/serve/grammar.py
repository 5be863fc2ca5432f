"""JSON mode and JSON schemas (``response_format``, Ollama's ``format``) as llama.cpp GBNF grammars.
The engine applies the grammar (GenerationParams.grammar); this module only writes it."""

from __future__ import annotations

import json
from typing import Any

from assistant.serve.errors import bad_request


def json_grammar(schema: dict[str, Any] | None) -> str:
    """GBNF for any JSON object (``None``) or for a JSON schema, through llama-cpp-python's converter."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        return json_schema_to_gbnf(json.dumps(schema if schema is not None else {"type": "object"}))
    except Exception as exc:  # the converter raises bare exceptions for schemas it cannot express
        raise bad_request(f"The JSON schema cannot be turned into a grammar ({exc}); simplify it.",
                          param="response_format") from exc
