"""Tiny models built from configs (no download): a Llama with a small byte-level BPE tokenizer
trained here with ``tokenizers`` (with or without ChatML tokens), and a Gemma 3 with Gemma's turn
tokens. Plus small conversation files in each data format."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Recursion is when a function calls itself to solve a smaller part of the problem.",
    "Paris is the capital of France, and Tokyo is the capital of Japan.",
    "Write a short poem about the sea. The sea is wide and blue and deep.",
    "How do I sort a list in Python? Use sorted(items) or items.sort().",
    "Hello! How can I help you today? Thanks, that was helpful.",
    "What is two plus two? Two plus two is four.",
    "Name a colour. Red. Name a fruit. An apple is a fruit.",
] * 4

CONVERSATIONS = [
    ["What is two plus two?", "Two plus two is four."],
    ["Name a colour.", "Red."],
    ["What is the capital of France?", "Paris is the capital of France."],
    ["Say hello.", "Hello! How can I help you today?"],
    ["Name a fruit.", "An apple is a fruit.", "Name another.", "A pear."],
    ["How do I sort a list in Python?", "Use sorted(items) or items.sort()."],
]


@pytest.fixture(autouse=True, scope="session")
def _one_thread() -> None:
    """Tiny models run fastest on one thread, and the machine's cores are shared."""
    import torch

    torch.set_num_threads(1)


def build_tokenizer(folder: Path, specials: list[str], bos: str, eos: str, pad: str | None, add_bos: bool) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=420, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS, trainer)
    if add_bos:
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tok.token_to_id(bos))]
        )
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=eos, pad_token=pad)
    fast.save_pretrained(folder)


def _llama(folder: Path, specials: list[str], tied: bool, layers: int = 2, hidden: int = 32) -> Path:
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    build_tokenizer(folder, specials, "<s>", "</s>", None, add_bos=True)
    tok = AutoTokenizer.from_pretrained(folder)
    import torch

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=512, tie_word_embeddings=tied,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """No turn tokens in the vocabulary: the run adds ChatML's; untied lm_head."""
    return _llama(tmp_path_factory.mktemp("tiny-llama"), ["<s>", "</s>"], tied=False)


@pytest.fixture(scope="session")
def tiny_chatml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ChatML tokens already in the vocabulary: reused; tied embeddings."""
    return _llama(tmp_path_factory.mktemp("tiny-chatml"), ["<s>", "</s>", "<|im_start|>", "<|im_end|>"], tied=True)


@pytest.fixture(scope="session")
def tiny_chatml64(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """As tiny_chatml, 64 wide: bitsandbytes' 4-bit CPU kernels need layer widths of whole 64-blocks."""
    return _llama(tmp_path_factory.mktemp("tiny-chatml64"), ["<s>", "</s>", "<|im_start|>", "<|im_end|>"], tied=True,
                  hidden=64)


@pytest.fixture(scope="session")
def tiny_gemma(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import AutoTokenizer, Gemma3ForCausalLM, Gemma3TextConfig

    folder = tmp_path_factory.mktemp("tiny-gemma")
    build_tokenizer(folder, ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"],
                    "<bos>", "<eos>", "<pad>", add_bos=True)
    tok = AutoTokenizer.from_pretrained(folder)
    torch.manual_seed(0)
    config = Gemma3TextConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, head_dim=16, max_position_embeddings=512, sliding_window=64,
        layer_types=["sliding_attention", "full_attention"], pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
    )
    Gemma3ForCausalLM(config).save_pretrained(folder)
    return folder


def write_jsonl(path: Path, rows: Sequence[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def lima_file(tmp_path: Path) -> Path:
    rows = [{"conversations": c, "source": "multi_turn" if len(c) > 2 else "test"} for c in CONVERSATIONS]
    return write_jsonl(tmp_path / "tiny_lima.jsonl", rows)


@pytest.fixture
def dev_file(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "dev.jsonl", [{"id": "add", "prompt": "What is two plus two?"}, "Name a colour."])


def read_metrics(run_dir: Path) -> list[dict]:
    """The per-step rows (the ``kind: epoch`` rows are in :func:`read_epochs`)."""
    return [r for r in _rows(run_dir) if r.get("kind") != "epoch"]


def read_epochs(run_dir: Path) -> list[dict]:
    return [r for r in _rows(run_dir) if r.get("kind") == "epoch"]


def _rows(run_dir: Path) -> list[dict]:
    return [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if x.strip()]
