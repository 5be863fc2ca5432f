"""The local model store: paths, manifests, GGUF inspection and name resolution.

Never imports torch, transformers or llama_cpp at module level.
"""
