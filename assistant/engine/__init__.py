"""The ChatEngine contract (base), its llama.cpp implementation (llama) and a scripted fake (fake).

Only ``base`` and ``fake`` are light; ``llama`` imports llama_cpp inside its functions.
"""
