"""Which tokens end a reply: the one rule shared by the engine, convert's verify and the store."""

from __future__ import annotations

from models.gguf_file import TOKEN_TYPE_CONTROL, GGUFInfo

# Turn-end markers of the common chat template families (llama.cpp treats these as end-of-generation).
KNOWN_TURN_ENDS = (
    "<|im_end|>",
    "<end_of_turn>",
    "<|eot_id|>",
    "<|eom_id|>",
    "<|end|>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "</s>",
    "<EOT>",
    "<|return|>",
    "<|call|>",
    "<｜end▁of▁sentence｜>",
)


def end_of_generation_tokens(info: GGUFInfo) -> list[tuple[int, str]]:
    """Every token id the GGUF declares as ending generation, with its text, EOS first.

    EOS, EOT and EOM ids from the metadata, plus control tokens whose text is a known turn end
    (so a template's ``<|im_end|>`` stops generation even where EOS is ``<|endoftext|>``).
    """
    tokens = info.tokens
    types = info.token_types
    md = info.metadata
    ids: list[int] = []
    for key in ("tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"):
        value = md.get(key)
        if isinstance(value, int) and 0 <= value < max(len(tokens), value + 1) and value not in ids:
            ids.append(value)
    for i, text in enumerate(tokens):
        if text in KNOWN_TURN_ENDS and i not in ids:
            is_control = i < len(types) and types[i] == TOKEN_TYPE_CONTROL
            if is_control or text in (info.chat_template or ""):
                ids.append(i)
    return [(i, tokens[i] if i < len(tokens) else f"<token {i}>") for i in ids]
