"""Suite-wide fixtures: a private ASSISTANT_HOME per test, a shared cache for big derived files,
and no network beyond loopback."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LIMA_TRAIN = REPO.parent / "shared" / "data" / "lima" / "train.jsonl"
SHARED_CACHE = Path(os.environ.get("ASSISTANT_TEST_CACHE", REPO / ".cache" / "test-shared"))

_LOOPBACK = {"127.0.0.1", "::1", "localhost", "0.0.0.0", ""}


def _is_loopback(address: object) -> bool:
    if not (isinstance(address, tuple) and address):
        return False
    host = str(address[0])
    return host in _LOOPBACK or host.startswith("127.")


@pytest.fixture(autouse=True, scope="session")
def _block_network() -> object:
    """Tests never reach beyond this machine: non-loopback connects raise."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guarded_connect(self: socket.socket, address: object) -> object:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
            raise OSError(f"network access blocked in tests: {address!r}")
        return real_connect(self, address)  # type: ignore[arg-type]

    def guarded_connect_ex(self: socket.socket, address: object) -> int:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
            raise OSError(f"network access blocked in tests: {address!r}")
        return real_connect_ex(self, address)  # type: ignore[arg-type]

    socket.socket.connect = guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = guarded_connect_ex  # type: ignore[method-assign]
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    yield
    socket.socket.connect = real_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = real_connect_ex  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def assistant_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("ASSISTANT_HOME", str(home))
    SHARED_CACHE.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("ASSISTANT_SHARED_CACHE", str(SHARED_CACHE))
    return home


@pytest.fixture(scope="session")
def shared_cache() -> Path:
    SHARED_CACHE.mkdir(parents=True, exist_ok=True)
    return SHARED_CACHE


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    from models.bundled import smollm2_path

    return smollm2_path()


@pytest.fixture(scope="session")
def lima_train() -> Path:
    if not LIMA_TRAIN.is_file():
        pytest.skip(f"the LIMA training set is not at {LIMA_TRAIN} (it lives in ../shared, never in the repo)")
    return LIMA_TRAIN


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    try:
        import torch

        has_cuda = bool(torch.cuda.is_available())
    except ImportError:
        has_cuda = False
    if has_cuda:
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
