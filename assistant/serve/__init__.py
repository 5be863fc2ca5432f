"""``assistant serve``: an OpenAI- and Ollama-compatible HTTP server over one ChatEngine and the model store.

This package owns the HTTP side only: the ASGI app (``app``), the request schemas (``schemas``), the
OpenAI and Ollama routes, the engine worker with its FIFO queue, model switching and keep-alive
(``worker``), the security checks (``security``: Host header, API key, CORS, body limit) and the error
shape (``errors``). Templates, stop handling and sampling stay in ``assistant.engine``; ``engine`` here
only adds what a server needs on top of it (raw-text completions, grammars, penalties, embeddings).
Starlette, uvicorn and pydantic are imported only by this package, which only ``assistant serve`` imports.
"""
