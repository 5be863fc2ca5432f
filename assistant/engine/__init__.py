"""The engine: a loaded GGUF that streams replies.

    base.py      the contracts: ChatEngine (every front end), ServingEngine (the server's extras),
                 Message, GenerationParams, LoadOptions, ModelInfo, Stats, Chunk, the engine's errors
    llama.py     LlamaEngine: both contracts on llama.cpp (prefix reuse, thread picking, stops)
    sampling.py  GenerationParams -> a llama.cpp sampler chain (grammar, penalties, top-k/p, min-p, seed)
    embedder.py  embeddings from the loaded file (a second context in embedding mode)
    template.py  the chat template, rendered in a sandbox (sandbox.py) with bounded time and size
    context.py   fitting a conversation into the context; memory.py: will the model fit in RAM
    stops.py     stop strings across token boundaries; threads.py: CPU threads per reply
    stderr.py    llama.cpp's log to a file, not the terminal
    fake.py      a scripted engine for tests of everything above the engine

Only base, fake and context are light; llama, sampling and embedder import llama_cpp inside functions.
"""
