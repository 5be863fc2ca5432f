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
    kv_state.py  conversations' KV state on disk: saved after a turn, restored on reopening, checked first
    batched.py   BatchedEngine: both contracts on the continuous-batching scheduler (serve, --parallel)
    scheduler.py one thread, one context, several sequences: each step one llama_decode for all of them
    slots.py     the scheduler's sequences, their KV cells and each step's batch; sequence.py: one request
                 (its sampler, stops, stats) and the RequestStream its caller reads (and cancels)
    prompt.py    messages -> prompt ids for BatchedEngine (template choice, replies' ids spliced back)
    loading.py   what both engines do once a model is open: the prompt builder, EOG ids, ModelInfo

Only base, fake and context are light; llama, sampling, embedder, batched, scheduler and slots import
llama_cpp inside functions.
"""
