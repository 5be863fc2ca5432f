"""Arguments checked against a tool's JSON schema (``jsonschema``, imported on first use), as one
sentence the model can act on."""

from __future__ import annotations

from typing import Any


def schema_problem(name: str, schema: dict[str, Any], arguments: dict[str, Any]) -> str | None:
    """None when ``arguments`` fit ``schema``; else a sentence naming the first problem. A schema that
    is itself invalid (a server's mistake) is not held against the call."""
    if not schema:
        return None
    import jsonschema

    try:
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        errors = sorted(cls(schema).iter_errors(arguments), key=lambda e: (len(e.path), str(e.path)))
    except jsonschema.SchemaError:
        return None
    except (RecursionError, ValueError, TypeError):
        return f"The arguments of {name} could not be checked against its schema; send simpler arguments."
    if not errors:
        return None
    err = errors[0]
    where = "/".join(str(p) for p in err.absolute_path)
    message = err.message if len(err.message) <= 200 else err.message[:199] + "…"
    at = f" at {where!r}" if where else ""
    return f"The arguments of {name} do not fit its schema{at}: {message}."
