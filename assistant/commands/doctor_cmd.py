"""``assistant doctor``: each check gives a one-word verdict (ok / warn / fail / info)."""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass

import click

from models.errors import AssistantError


@dataclass
class Check:
    name: str
    verdict: str
    detail: str


def _python() -> Check:
    ok = sys.version_info >= (3, 10)
    return Check("python", "ok" if ok else "fail", f"{platform.python_version()} ({sys.executable})")


def _llama() -> list[Check]:
    try:
        import llama_cpp
    except ImportError as exc:
        return [Check("llama.cpp", "fail", f"llama-cpp-python is not importable ({exc}); run `make install`.")]
    from assistant.engine.llama import gpu_backend, physical_cores

    info = llama_cpp.llama_print_system_info().decode("utf-8", "replace")
    features = sorted({part.split("=")[0].strip() for part in info.replace("|", "\n").splitlines()
                       if part.strip().endswith("= 1")})
    backend = gpu_backend()
    checks = [
        Check("llama.cpp", "ok", f"llama-cpp-python {llama_cpp.__version__}"),
        Check("cpu", "ok" if features else "warn",
              f"{physical_cores()} physical cores; {', '.join(features) or 'no SIMD features reported'}"),
    ]
    if backend == "CPU":
        machine = platform.machine().lower()
        hint = ('CMAKE_ARGS="-DGGML_METAL=on"' if sys.platform == "darwin" and machine == "arm64"
                else 'CMAKE_ARGS="-DGGML_CUDA=on"')
        checks.append(Check("gpu", "info", f"this build runs on the CPU only (rebuild with {hint} pip install "
                                           "--force-reinstall --no-cache-dir llama-cpp-python for a GPU)"))
    else:
        checks.append(Check("gpu", "ok", f"{backend} offload supported; all layers go to the GPU"))
    return checks


def _data_dir() -> Check:
    from models.paths import data_dir, ensure_dir

    try:
        path = ensure_dir(data_dir())
    except AssistantError as exc:
        return Check("data dir", "fail", str(exc))
    return Check("data dir", "ok", str(path))


def _default_model() -> Check:
    from models.gguf_file import read_gguf
    from models.resolve import default_model_name, resolve

    name = default_model_name()
    try:
        resolved = resolve(name)
        info = read_gguf(resolved.path, vocab=False)
    except AssistantError as exc:
        return Check("model", "fail", f"{name}: {exc}")
    return Check("model", "ok", f"{name} -> {resolved.path} ({info.arch}, {info.quant}, {info.file_size / 1e6:.0f} MB)")


def _memory() -> Check:
    import psutil

    vm = psutil.virtual_memory()
    verdict = "ok" if vm.available > 1 << 30 else "warn"
    return Check("memory", verdict, f"{vm.available / (1 << 30):.1f} GiB available of {vm.total / (1 << 30):.1f} GiB")


def run_checks() -> list[Check]:
    return [_python(), *_llama(), _memory(), _data_dir(), _default_model()]



@click.command()
def doctor() -> None:
    """Check Python, llama.cpp, CPU features, GPU support, the data dir and the default model."""
    failed = False
    for check in run_checks():
        click.echo(f"{check.verdict:<5} {check.name:<14} {check.detail}")
        failed = failed or check.verdict == "fail"
    if failed:
        raise SystemExit(1)
