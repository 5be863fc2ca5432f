"""Build the llama-cpp-python wheel once per (version, CMake flags) into .cache/wheels and print its path.

Why not a plain `pip install llama-cpp-python`: pip's wheel cache ignores CMAKE_ARGS, and on CPUs
that report AMX (Sapphire Rapids and later, common in cloud VMs) llama.cpp's native build crashes
in its AMX matmul (seen here: SIGSEGV in ggml_backend_amx_mul_mat). On such CPUs we build without
-march=native, enabling every other SIMD extension the CPU has. A CMAKE_ARGS in the environment
(e.g. -DGGML_CUDA=on or -DGGML_METAL=on) is used as given.
"""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
from pathlib import Path

VERSION = "0.3.36"
ROOT = Path(__file__).resolve().parent.parent
X86_FLAGS = {  # /proc/cpuinfo flag -> ggml CMake option
    "sse4_2": "GGML_SSE42", "avx": "GGML_AVX", "avx2": "GGML_AVX2", "fma": "GGML_FMA", "f16c": "GGML_F16C",
    "bmi2": "GGML_BMI2", "avx_vnni": "GGML_AVX_VNNI", "avx512f": "GGML_AVX512", "avx512vbmi": "GGML_AVX512_VBMI",
    "avx512_vnni": "GGML_AVX512_VNNI", "avx512_bf16": "GGML_AVX512_BF16",
}


def cmake_args() -> str:
    if os.environ.get("CMAKE_ARGS"):
        return os.environ["CMAKE_ARGS"]
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64"):
        return ""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split("flags", 2)[1].split("\n", 1)[0].split())
    except (OSError, IndexError):
        return ""
    if "amx_int8" not in flags and "amx_tile" not in flags:
        return ""  # the native build is fine
    opts = ["-DGGML_NATIVE=OFF"] + [f"-D{opt}={'ON' if flag in flags else 'OFF'}" for flag, opt in X86_FLAGS.items()]
    return " ".join(opts + ["-DGGML_AMX_TILE=OFF", "-DGGML_AMX_INT8=OFF", "-DGGML_AMX_BF16=OFF"])


def main() -> None:
    args = cmake_args()
    key = hashlib.sha256(f"{VERSION} {args} {platform.python_version()}".encode()).hexdigest()[:12]
    out = ROOT / ".cache" / "wheels" / key
    wheels = sorted(out.glob("llama_cpp_python-*.whl")) if out.is_dir() else []
    if not wheels:
        out.mkdir(parents=True, exist_ok=True)
        print(f"Building llama-cpp-python {VERSION} (CMAKE_ARGS={args or '<native>'}); this takes a few minutes.",
              file=sys.stderr)
        env = {**os.environ, "CMAKE_ARGS": args}
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir", "-w", str(out), f"llama-cpp-python=={VERSION}"],
            check=True, env=env, stdout=sys.stderr,
        )
        wheels = sorted(out.glob("llama_cpp_python-*.whl"))
    print(wheels[-1])


if __name__ == "__main__":
    main()
