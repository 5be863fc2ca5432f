"""``tokenizer.ggml.pre`` derived from the tokenizer's own pre-tokenizer definition.

llama.cpp splits text with a fixed list of regexes per pre-tokenizer name (src/llama-vocab.cpp).
We read the split patterns out of tokenizer.json (ByteLevel, Split, Digits, Sequence), normalise
them, and look for the llama.cpp name whose regex list is the same. A tokenizer re-saved by a
fine-tune keeps its patterns, so it converts even though its vocabulary hash is new. When the text
differs, the patterns are compared by behaviour on probe texts; when nothing matches, convert refuses
(a wrong pre-tokenizer silently degrades every prompt).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from convert.errors import ConvertError

# The regexes as tokenizer.json writes them (llama.cpp's comments quote these "original" forms).
GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
CONTRACTIONS_I = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)"
CONTRACTIONS = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
LLAMA3 = CONTRACTIONS_I + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
QWEN2 = CONTRACTIONS_I + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
QWEN35 = CONTRACTIONS_I + r"|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
UFAKZEKA = r"[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
SEED_CODER = CONTRACTIONS_I + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+"
MINICPM5 = CONTRACTIONS_I + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
_UPPER = r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]"
_LOWER = r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]"
TEKKEN = (
    rf"[^\r\n\p{{L}}\p{{N}}]?{_UPPER}*{_LOWER}+|[^\r\n\p{{L}}\p{{N}}]?{_UPPER}+{_LOWER}*|\p{{N}}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
GPT4O = (
    rf"[^\r\n\p{{L}}\p{{N}}]?{_UPPER}*{_LOWER}+{CONTRACTIONS_I}?|[^\r\n\p{{L}}\p{{N}}]?{_UPPER}+{_LOWER}*{CONTRACTIONS_I}?"
    r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
DEEPSEEK3 = [
    r"\p{N}{1,3}",
    r"[一-龥぀-ゟ゠-ヿ]+",
    r"[!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
]


@dataclass(frozen=True)
class PreTokenizer:
    name: str  # the value of tokenizer.ggml.pre that llama.cpp accepts
    patterns: tuple[str, ...]
    ignore_merges: bool | None = None  # llama.cpp forces this for some names
    clean_spaces: bool | None = None  # llama.cpp's detokenizer clean-up for this name


# Preference order: the first name whose patterns and flags match wins.
KNOWN: tuple[PreTokenizer, ...] = (
    PreTokenizer("llama-bpe", (LLAMA3,), ignore_merges=True),
    PreTokenizer("dbrx", (LLAMA3,), ignore_merges=False),
    PreTokenizer("qwen2", (QWEN2,)),
    PreTokenizer("qwen35", (QWEN35,)),
    PreTokenizer("smollm", (r"\p{N}", GPT2), clean_spaces=False),
    PreTokenizer("starcoder", (r"\p{N}", GPT2), clean_spaces=True),
    PreTokenizer("gpt-2", (GPT2,)),
    PreTokenizer("tekken", (TEKKEN,), ignore_merges=True),
    PreTokenizer("gpt-4o", (GPT4O,)),
    PreTokenizer("seed-coder", (SEED_CODER,)),
    PreTokenizer("minicpm5", (r"\p{N}{1,3}", MINICPM5)),
    PreTokenizer("ufakzeka", (UFAKZEKA,)),
    PreTokenizer("deepseek-v3", tuple(DEEPSEEK3)),
)


class UnknownPreTokenizer(ConvertError):
    pass


def normalise(pattern: str) -> str:
    return pattern.replace(CONTRACTIONS_I, CONTRACTIONS).replace(r"\p{N}{1}", r"\p{N}")


def split_patterns(pre: dict[str, Any] | None) -> list[str] | None:
    """The regex list a tokenizer.json pre_tokenizer applies, or None when it is not regex-shaped."""
    if pre is None:
        return []
    kind = pre.get("type")
    if kind == "Sequence":
        out: list[str] = []
        for item in pre.get("pretokenizers", []):
            sub = split_patterns(item)
            if sub is None:
                return None
            out.extend(sub)
        return out
    if kind == "ByteLevel":
        if pre.get("add_prefix_space"):
            return None
        return [GPT2] if pre.get("use_regex", True) else []
    if kind == "Split":
        if pre.get("behavior") != "Isolated" or pre.get("invert"):
            return None
        pattern = pre.get("pattern") or {}
        if "Regex" in pattern:
            return [pattern["Regex"]]
        if "String" in pattern:
            import re

            return [re.escape(pattern["String"])]
        return None
    if kind == "Digits":
        return [r"\p{N}"] if pre.get("individual_digits") else [r"\p{N}+"]
    return None


def derive(tokenizer_json: dict[str, Any], *, clean_up_spaces: bool | None = None, where: str = "tokenizer.json") -> str:
    """The llama.cpp pre-tokenizer name for a byte-level BPE tokenizer.json, or refuse."""
    pre = tokenizer_json.get("pre_tokenizer")
    patterns = split_patterns(pre)
    ignore_merges = bool((tokenizer_json.get("model") or {}).get("ignore_merges", False))
    if patterns:
        mine = tuple(normalise(p) for p in patterns)
        candidates = [k for k in KNOWN if tuple(normalise(p) for p in k.patterns) == mine]
        if not candidates:
            candidates = [k for k in KNOWN if _same_behaviour(tokenizer_json, k)]
        best = _pick(candidates, ignore_merges, clean_up_spaces)
        if best is not None:
            return best.name
    kind = (pre or {}).get("type", "none")
    raise UnknownPreTokenizer(
        f"The pre-tokenizer in {where} ({kind}) matches none that llama.cpp knows, so llama.cpp would split text "
        "differently from training; convert the model with the tokenizer of its base model."
    )


def _pick(cands: list[PreTokenizer], ignore_merges: bool, clean: bool | None) -> PreTokenizer | None:
    def fits(k: PreTokenizer) -> bool:
        return (k.ignore_merges is None or k.ignore_merges == ignore_merges) and (
            k.clean_spaces is None or clean is None or k.clean_spaces == clean
        )

    fitting = [k for k in cands if fits(k)]
    best = fitting or cands
    return best[0] if best else None


PROBES = (
    "Hello world! It's 2024-06-01, isn't it? I'VE said: 'no'.",
    "def f(x):\n    return x**2  # 12345678 numbers\r\n\n\n\ttab",
    "Ünïcödé — naïve café; 東京タワー 日本語 한국어 中文, Ελληνικά, русский.",
    "   leading spaces, trailing   \n  and\u00a0nbsp, emoji 🤖🎉 x=3.14159e-10",
    "CamelCaseWords and ALLCAPS and mixedUP lower'll",
)


def _same_behaviour(tokenizer_json: dict[str, Any], known: PreTokenizer) -> bool:
    """Does the tokenizer's own pre-tokenizer split the probes exactly as ``known``'s regexes do?"""
    try:
        import json

        import regex
        from tokenizers import Tokenizer
    except ImportError:
        return False
    try:
        tok = Tokenizer.from_str(json.dumps(tokenizer_json))
        if tok.pre_tokenizer is None:
            return False
        compiled = [regex.compile(p) for p in known.patterns]
        for text in PROBES:
            theirs = [off for _, off in tok.pre_tokenizer.pre_tokenize_str(text)]
            if theirs != _split(text, compiled):
                return False
        return True
    except Exception:
        return False


def _split(text: str, compiled: list[Any]) -> list[tuple[int, int]]:
    """llama.cpp's sequential split: each regex splits every piece into matches and gaps."""
    chunks = [(0, len(text))]
    for rx in compiled:
        new: list[tuple[int, int]] = []
        for start, end in chunks:
            pos = start
            for m in rx.finditer(text, start, end):
                if m.start() > pos:
                    new.append((pos, m.start()))
                if m.end() > m.start():
                    new.append((m.start(), m.end()))
                pos = max(pos, m.end())
            if pos < end:
                new.append((pos, end))
        chunks = new
    return chunks
