"""``assistant serve``: an OpenAI- and Ollama-compatible HTTP server over one ServingEngine and the model store.

    app.py             the ASGI app: routes, request log, error handler
    state.py           ServeConfig and ServeState (the worker, the pinned model, request -> GenerationParams)
    openai_routes.py   /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/models
    ollama_routes.py   /api/chat, /api/generate, /api/embed, /api/tags, /api/show, /api/ps ...
    schemas.py         the request bodies (pydantic); grammar.py: JSON mode / schemas as GBNF
    tool_calls.py      tools in requests: tools / tool_choice checked (ToolPlan: the call format and the
                       grammar, set on the worker thread), messages with tool calls and tool results
    tool_replies.py    replies with tools: calls parsed from the text (CallReader), each API's message / deltas
    worker.py          the engine's thread: a bounded FIFO queue, model switching, keep-alive
    parallel.py        --parallel N > 1: ParallelWorker, up to N replies at once on BatchedEngine (drain, then switch)
    streaming.py       SSE / NDJSON, the body limit, client disconnects
    security.py        Host header, API key, CORS; errors.py: both APIs' error shapes
    run.py             uvicorn on a loopback port (also in a background thread, for tests)

Templates, stops and sampling stay in assistant.engine; the server never renders a prompt itself.
Starlette, uvicorn and pydantic are imported only by this package, which only ``assistant serve`` imports.
"""
