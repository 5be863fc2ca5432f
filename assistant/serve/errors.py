"""Errors a request can meet, in OpenAI's shape (``{"error": {"message", "type", "code", "param"}}``) or
Ollama's (``{"error": "..."}``), each with its HTTP status. Our own AssistantError sentences pass through."""

from __future__ import annotations

from typing import Any

from assistant.engine.base import BadGrammar, ContextTooLong
from models.errors import AssistantError, BadModelFile, ModelNotFound, NotEnoughMemory

__all__ = ["ApiError", "ContextTooLong", "bad_request", "from_exception", "queue_full", "unsupported"]


class ApiError(Exception):
    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error", code: str | None = None,
                 param: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = headers or {}

    def openai_body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "code": self.code, "param": self.param}}

    def ollama_body(self) -> dict[str, Any]:
        return {"error": self.message}


def bad_request(message: str, *, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)


def unsupported(field: str, why: str = "") -> ApiError:
    tail = f" ({why})" if why else ""
    return ApiError(400, f"'{field}' is not supported by this server{tail}; remove it from the request.",
                    param=field, code="unsupported_parameter")


def queue_full(retry_after: int) -> ApiError:
    return ApiError(503, "The server is busy: its request queue is full; retry in a few seconds.",
                    type="server_error", code="queue_full", headers={"Retry-After": str(retry_after)})


def from_exception(exc: BaseException) -> ApiError:
    """Our errors become 4xx with their sentence; anything else is a 500 that names no internals."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, ModelNotFound):
        return ApiError(404, str(exc), code="model_not_found", param="model")
    if isinstance(exc, NotEnoughMemory):
        return ApiError(400, str(exc), code="insufficient_memory", param="model")
    if isinstance(exc, BadModelFile):
        return ApiError(400, str(exc), code="bad_model_file", param="model")
    if isinstance(exc, BadGrammar):
        return ApiError(400, "llama.cpp could not parse the grammar made from response_format.", param="response_format")
    if isinstance(exc, ContextTooLong) or (isinstance(exc, AssistantError) and "too long for the context" in str(exc)):
        return ApiError(400, str(exc), code="context_length_exceeded", param="messages")
    if isinstance(exc, AssistantError):
        return ApiError(400, str(exc))
    return ApiError(500, f"The server failed on this request ({type(exc).__name__}); see its log.", type="server_error")
