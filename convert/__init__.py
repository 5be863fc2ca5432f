"""``assistant convert``: an HF checkpoint (or a Hub id, or a GGUF to re-quantize) to a verified,
quantized GGUF in the model store.

    source.py       what SRC is: a checkpoint folder, a Hub id, or a GGUF
    checks.py       what a checkpoint may declare, checked before any weight is read
    safetensors_lazy.py  tensors read one at a time from memory-mapped shards
    arch/           one module per architecture, registered by ``architectures[0]``
    vocab.py, pretokenizer.py  the tokenizer (BPE or SentencePiece) and its llama.cpp pre-tokenizer
    specials.py     special token ids, BOS/EOS as the tokenizer adds them, the chat template
    vocab_types.py  the Vocab record and the helpers vocab.py and specials.py share
    metadata.py     general.*, general.sampling.*, provenance
    write.py        the unquantized GGUF (gguf-py's GGUFWriter, tensor by tensor)
    quantize.py     llama.cpp's quantizer through llama_cpp.llama_model_quantize
    requant.py      SRC is a GGUF: re-quantize it (optionally with a new template or defaults)
    verify/         tokenization parity, logits against transformers (or peft), perplexity ratio; adapter.py:
                    an adapter's effect, the chat's end of turn, template and EOT
    options.py      ConvertOptions, ConvertResult, the default name, the --template reader
    steps.py        the steps every path shares: unquantized GGUF, quantize, verify, into the store
    pipeline.py     all of it, into the store or a file, leaving nothing behind on failure
    adapter_source.py  a LoRA adapter folder (peft's format), checked against its base
    adapter_base.py    the adapter's base, found offline (--base, provenance.json, adapter_config.json)
    adapter_bases.py   the base GGUF in the store that a --adapter export runs over
    adapter_pipeline.py  an adapter merged (merge.py) or written as a GGUF LoRA adapter (lora_gguf.py)
    modelfile.py    an Ollama Modelfile beside the GGUF
    native.py       llama.cpp's and gguf-py's own output sent to the convert log
    hf_from_gguf.py an HF folder dequantized from a GGUF (the tests' and the benchmark's real model)
    errors.py       ConvertError and VerifyFailed (both AssistantError)

Imports ``models`` only. Nothing here imports torch, transformers or llama_cpp at module level.
"""
