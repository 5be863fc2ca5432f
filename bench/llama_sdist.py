"""llama.cpp's own sources and tools, from the llama-cpp-python sdist on PyPI, fetched into a cache
at bench time (never committed): the native anchors the benchmarks compare against."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VERSION = "0.3.36"
CACHE = Path(os.environ.get("ASSISTANT_BENCH_CACHE", ROOT / ".cache" / "bench"))


def llama_cpp_source() -> Path:
    """The vendored llama.cpp tree of llama-cpp-python==VERSION (downloads the sdist once)."""
    target = CACHE / f"llama_cpp_python-{VERSION}"
    src = target / "vendor" / "llama.cpp"
    if src.is_dir():
        return src
    CACHE.mkdir(parents=True, exist_ok=True)
    archive = CACHE / f"llama_cpp_python-{VERSION}.tar.gz"
    if not archive.exists():
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                        f"llama-cpp-python=={VERSION}", "-d", str(CACHE)], check=True, stdout=sys.stderr)
    with tarfile.open(archive) as tar:
        tar.extractall(CACHE, filter="data")
    return src


def llama_tool(name: str) -> Path:
    """Build one llama.cpp tool (e.g. llama-bench) with the same CMake flags as our wheel."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from build_llama import cmake_args

    src = llama_cpp_source()
    build = CACHE / "llama-build"
    binary = build / "bin" / name
    if binary.exists():
        return binary
    args = [a for a in cmake_args().split() if a]
    print(f"building {name} from {src} ({' '.join(args) or 'native'}) ...", file=sys.stderr)
    subprocess.run(["cmake", "-S", str(src), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release", "-DLLAMA_CURL=OFF",
                    "-DLLAMA_BUILD_TESTS=OFF", *args], check=True, stdout=sys.stderr)
    subprocess.run(["cmake", "--build", str(build), "--target", name, "-j", str(os.cpu_count() or 2)],
                   check=True, stdout=sys.stderr)
    return binary


if __name__ == "__main__":
    print(llama_tool(sys.argv[1] if len(sys.argv) > 1 else "llama-bench"))
