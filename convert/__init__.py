"""``assistant convert``: an HF checkpoint (or a Hub id, or a GGUF to re-quantize) to a verified,
quantized GGUF in the model store.

    source.py       what SRC is: a checkpoint folder, a Hub id, or a GGUF
    safetensors_lazy.py  tensors read one at a time from memory-mapped shards
    arch/           one module per architecture, registered by ``architectures[0]``
    vocab.py, pretokenizer.py  the tokenizer (BPE or SentencePiece) and its llama.cpp pre-tokenizer
    metadata.py     general.*, general.sampling.*, provenance
    write.py        the unquantized GGUF (gguf-py's GGUFWriter, tensor by tensor)
    quantize.py     llama.cpp's quantizer through llama_cpp.llama_model_quantize
    verify/         tokenization parity, logits against transformers, perplexity ratio
    pipeline.py     all of it, into the store or a file, leaving nothing behind on failure

Nothing here imports torch, transformers or llama_cpp at module level.
"""
