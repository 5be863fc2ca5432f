"""Small hand-made GGUF files for tests of the header reader and the store."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_tiny_gguf(path: Path, *, arch: str = "llama", template: str | None = "{{ messages }}",
                    context_length: int = 256, n_tensors: int = 2) -> Path:
    import gguf

    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_context_length(context_length)
    writer.add_block_count(1)
    writer.add_embedding_length(8)
    writer.add_head_count(2)
    writer.add_head_count_kv(1)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(["<s>", "</s>", "<|im_end|>", "a", "b"])
    writer.add_token_types([3, 3, 3, 1, 1])
    writer.add_bos_token_id(0)
    writer.add_eos_token_id(1)
    if template:
        writer.add_chat_template(template)
    for i in range(n_tensors):
        writer.add_tensor(f"blk.0.t{i}.weight", np.arange(16, dtype=np.float32).reshape(2, 8))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
