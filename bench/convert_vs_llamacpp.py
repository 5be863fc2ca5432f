"""Benchmark ``assistant convert`` against llama.cpp's own converter.

The real model is the bundled SmolLM2-135M-Instruct dequantized into an HF folder (built once into
the shared cache). Both sides go HF -> f16 GGUF -> q4_k_m with no verification:

- ours:   assistant convert HF --outtype f16 --quant q4_k_m --no-verify --out ...
- theirs: convert_hf_to_gguf.py HF --outtype f16, then llama_model_quantize to q4_k_m (the same
          quantizer llama-quantize runs), from the llama-cpp-python sdist on PyPI, downloaded into
          .cache/bench at bench time (never committed).

Reported: wall-time ratio ours/theirs (target <= 1.0), peak-RSS ratio (target <= 1.0), whether
the f16 and q8_0 tensors and the tokenizer metadata are identical, and whether both files tokenize
the verify texts identically. Last line: the bench JSON line, ``ratio`` = the time ratio.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
CACHE = REPO / ".cache" / "bench"  # same cache as bench/llama_sdist.py
os.environ.setdefault("ASSISTANT_SHARED_CACHE", str(REPO / ".cache" / "test-shared"))
PY = sys.executable
QUANTIZE = (
    "import ctypes,sys,llama_cpp as l;p=l.llama_model_quantize_default_params();p.ftype=int(sys.argv[3]);"
    "sys.exit(l.llama_model_quantize(sys.argv[1].encode(),sys.argv[2].encode(),ctypes.byref(p)))"
)


def reference_dir() -> Path:
    """llama.cpp's converter from the llama-cpp-python sdist (bench/llama_sdist.py downloads it once
    into .cache/bench with `pip download --no-deps --no-binary :all:`); LLAMACPP_DIR overrides."""
    if os.environ.get("LLAMACPP_DIR"):
        return Path(os.environ["LLAMACPP_DIR"])
    from bench.llama_sdist import llama_cpp_source

    return llama_cpp_source()


def measure(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} ... failed ({proc.returncode}):\n{err.decode(errors='replace')[-2000:]}")
    return wall, usage.ru_maxrss * 1024


def ours(hf: Path, out: Path, quant: str, outtype: str | None, home: Path) -> tuple[float, int]:
    cmd = [PY, "-m", "assistant", "convert", str(hf), "--quant", quant, "--no-verify", "--out", str(out), "--force"]
    if outtype:
        cmd += ["--outtype", outtype]
    return measure(cmd, {"ASSISTANT_HOME": str(home)})


def theirs(ref: Path, hf: Path, out: Path, outtype: str) -> tuple[float, int]:
    return measure([PY, str(ref / "convert_hf_to_gguf.py"), str(hf), "--outtype", outtype, "--outfile", str(out)])


def compare_tensors(a: Path, b: Path) -> tuple[int, int]:
    import gguf
    import numpy as np

    ta = {t.name: t for t in gguf.GGUFReader(a).tensors}
    tb = {t.name: t for t in gguf.GGUFReader(b).tensors}
    same = sum(1 for n, t in ta.items() if n in tb and t.tensor_type == tb[n].tensor_type
               and np.asarray(t.data).tobytes() == np.asarray(tb[n].data).tobytes())
    return same, max(len(ta), len(tb))


def tokenizer_diff(a: Path, b: Path) -> list[str]:
    import gguf

    fa = {f.name: f.contents() for f in gguf.GGUFReader(a).fields.values() if f.name.startswith("tokenizer.")}
    fb = {f.name: f.contents() for f in gguf.GGUFReader(b).fields.values() if f.name.startswith("tokenizer.")}
    return [f"{k}: {fa.get(k)!r} vs {fb.get(k)!r}" for k in sorted(set(fa) | set(fb)) if fa.get(k) != fb.get(k)]


def same_tokenization(a: Path, b: Path) -> tuple[int, int]:
    from convert.native import quiet
    from convert.verify.checks import llama
    from convert.verify.texts import build

    texts = [t for t, _ in build(["<|im_start|>", "<|im_end|>", "<|endoftext|>"], None)]
    with quiet():
        la, lb = llama(a, vocab_only=True), llama(b, vocab_only=True)
        same = sum(la.tokenize(t.encode(), add_bos=True, special=True) == lb.tokenize(t.encode(), add_bos=True, special=True)
                   for t in texts)
    return same, len(texts)


def main() -> dict[str, Any]:
    from convert.hf_from_gguf import cached
    from models.bundled import smollm2_path

    ref = reference_dir()
    hf = cached(smollm2_path())
    work = CACHE / "work"
    work.mkdir(parents=True, exist_ok=True)
    home = work / "home"
    reps = int(os.environ.get("BENCH_REPS", "2"))

    ours_runs, theirs_runs = [], []
    for _ in range(reps):  # alternate, keep the best of each (the machine is shared)
        ours_runs.append(ours(hf, work / "ours-q4_k_m.gguf", "q4_k_m", "f16", home))
        t1, r1 = theirs(ref, hf, work / "theirs-f16.gguf", "f16")
        t2, r2 = measure([PY, "-c", QUANTIZE, str(work / "theirs-f16.gguf"), str(work / "theirs-q4_k_m.gguf"), "15"])
        theirs_runs.append((t1 + t2, max(r1, r2)))
    o_time, o_rss = min(r[0] for r in ours_runs), min(r[1] for r in ours_runs)
    t_time, t_rss = min(r[0] for r in theirs_runs), min(r[1] for r in theirs_runs)

    ours(hf, work / "ours-f16.gguf", "f16", None, home)
    ours(hf, work / "ours-q8_0.gguf", "q8_0", None, home)  # from the checkpoint's float32
    theirs(ref, hf, work / "theirs-q8_0.gguf", "q8_0")
    f16_same, f16_n = compare_tensors(work / "ours-f16.gguf", work / "theirs-f16.gguf")
    q8_same, q8_n = compare_tensors(work / "ours-q8_0.gguf", work / "theirs-q8_0.gguf")
    q4_same, q4_n = compare_tensors(work / "ours-q4_k_m.gguf", work / "theirs-q4_k_m.gguf")
    diff = tokenizer_diff(work / "ours-f16.gguf", work / "theirs-f16.gguf")
    tok_same, tok_n = same_tokenization(work / "ours-f16.gguf", work / "theirs-f16.gguf")
    shutil.rmtree(work, ignore_errors=True)  # ~1 GB of GGUFs; only the figures are kept

    print(f"model: {hf.name} (dequantized into {hf})")
    print(f"HF -> f16 -> q4_k_m  ours {o_time:6.1f} s {o_rss / 2**20:7.0f} MiB peak   "
          f"llama.cpp {t_time:6.1f} s {t_rss / 2**20:7.0f} MiB peak   (best of {reps})")
    print(f"tensors identical: f16 {f16_same}/{f16_n}, q8_0 {q8_same}/{q8_n}, q4_k_m {q4_same}/{q4_n}")
    print(f"tokenizer metadata identical: {not diff}" + "".join(f"\n  differs: {d[:160]}" for d in diff))
    print(f"tokenization identical on {tok_same}/{tok_n} texts")
    return {
        "bench": "convert_vs_llamacpp",
        "ratio": round(o_time / t_time, 3),
        "anchor": f"llama.cpp convert_hf_to_gguf.py + llama_model_quantize (llama-cpp-python sdist), {hf.name}",
        "ours_s": round(o_time, 2),
        "theirs_s": round(t_time, 2),
        "rss_ratio": round(o_rss / t_rss, 3),
        "ours_rss_mib": round(o_rss / 2**20),
        "theirs_rss_mib": round(t_rss / 2**20),
        "f16_tensors_identical": f"{f16_same}/{f16_n}",
        "q8_0_tensors_identical": f"{q8_same}/{q8_n}",
        "q4_k_m_tensors_identical": f"{q4_same}/{q4_n}",
        "tokenizer_metadata_identical": not diff,
        "tokenizer_metadata_diff": [d.split(":")[0] for d in diff],
        "tokenization_identical": f"{tok_same}/{tok_n}",
    }


if __name__ == "__main__":
    print(json.dumps(main()))
