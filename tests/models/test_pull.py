"""``models pull`` against a loopback fake of the Hub (HF_ENDPOINT), and with no network at all."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from models.errors import AssistantError
from models.pull import choose_file, default_name, download_folder, parse_repo, plan, pull
from models.store import Store
from tests.models.gguf_samples import write_tiny_gguf

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class FakeHub:
    files: dict[str, dict[str, bytes]]  # repo -> path -> content
    url: str = ""
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # method, path, Range
    corrupt: bool = False  # serve different bytes than the advertised sha256

    def sha(self, repo: str, path: str) -> str:
        return hashlib.sha256(self.files[repo][path]).hexdigest()


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, body: bytes, headers: dict[str, str], head: bool = False) -> None:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def _route(self, head: bool) -> None:
            hub.requests.append((self.command, self.path, self.headers.get("Range")))
            path = self.path.split("?")[0]
            m = re.match(r"^/api/models/([^/]+/[^/]+)/tree/([^/]+)$", path)
            if m:
                repo = m.group(1)
                if repo not in hub.files:
                    return self._send(404, b'{"error": "Repository not found"}',
                                      {"X-Error-Code": "RepoNotFound", "Content-Type": "application/json"})
                listing = [{"type": "file", "path": p, "size": len(b), "oid": "0" * 40,
                            "lfs": {"oid": hub.sha(repo, p), "size": len(b), "pointerSize": 130}}
                           for p, b in hub.files[repo].items()]
                return self._send(200, json.dumps(listing).encode(), {"Content-Type": "application/json"})
            m = re.match(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", path)
            if not m or m.group(1) not in hub.files:
                return self._send(404, b"", {"X-Error-Code": "RepoNotFound"}, head)
            repo, file = m.group(1), m.group(3)
            if file not in hub.files[repo]:
                return self._send(404, b"", {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": COMMIT}, head)
            body = hub.files[repo][file]
            sha = hub.sha(repo, file)
            if hub.corrupt and not head:
                body = body[:-1] + bytes([body[-1] ^ 1])
            headers = {"X-Repo-Commit": COMMIT, "ETag": f'"{sha}"', "X-Linked-Etag": f'"{sha}"',
                       "X-Linked-Size": str(len(body)), "Accept-Ranges": "bytes"}
            rng = self.headers.get("Range")
            if rng and not head:
                start = int(rng.split("=")[1].split("-")[0])
                headers["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
                return self._send(206, body[start:], headers)
            self._send(200, body, headers, head)

        def do_GET(self) -> None:  # noqa: N802
            self._route(head=False)

        def do_HEAD(self) -> None:  # noqa: N802
            self._route(head=True)

    return Handler


@pytest.fixture
def gguf_bytes(tmp_path: Path) -> bytes:
    return write_tiny_gguf(tmp_path / "src.gguf", n_tensors=6).read_bytes()


@pytest.fixture
def hub(gguf_bytes: bytes, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    from huggingface_hub import constants

    fake = FakeHub({
        "acme/Tiny-GGUF": {"tiny-Q4_K_M.gguf": gguf_bytes, "README.md": b"# tiny"},
        "acme/Many-GGUF": {"m-Q3_K_S.gguf": gguf_bytes, "m-Q6_K.gguf": gguf_bytes, "m-Q5_0.gguf": gguf_bytes},
    })
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("HF_ENDPOINT", fake.url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    yield fake
    server.shutdown()
    server.server_close()


def test_pull_picks_the_gguf_and_records_sha256_and_provenance(hub: FakeHub, gguf_bytes: bytes) -> None:
    model = pull("acme/Tiny-GGUF", progress=False)
    assert model.name == "tiny-q4_k_m"
    assert model.gguf_path.read_bytes() == gguf_bytes
    m = Store().get("tiny-q4_k_m").manifest
    assert m.sha256 == hashlib.sha256(gguf_bytes).hexdigest() and m.arch == "llama"
    assert m.provenance["repo"] == "acme/Tiny-GGUF" and m.provenance["file"] == "tiny-Q4_K_M.gguf"
    assert m.provenance["revision"] == COMMIT and m.provenance["source"] == "hub"
    assert not any((model.folder.parent / ".downloads").glob("*/*"))  # nothing left behind
    with pytest.raises(AssistantError, match="already exists.*--force"):
        pull("acme/Tiny-GGUF", progress=False)
    pull("acme/Tiny-GGUF", progress=False, overwrite=True, name="again")
    assert Store().has("again")


def test_pull_resumes_a_partial_download(hub: FakeHub, gguf_bytes: bytes) -> None:
    p = plan("acme/Tiny-GGUF")
    folder = download_folder(p, hub.sha("acme/Tiny-GGUF", "tiny-Q4_K_M.gguf"))
    folder.mkdir(parents=True)
    half = len(gguf_bytes) // 2
    (folder / "tiny-Q4_K_M.gguf.part").write_bytes(gguf_bytes[:half])
    model = pull("acme/Tiny-GGUF", name="tiny", progress=False)
    gets = [r for r in hub.requests if r[0] == "GET" and "/resolve/" in r[1]]
    assert gets[-1][2] == f"bytes={half}-"  # only the missing half was asked for
    assert model.gguf_path.read_bytes() == gguf_bytes
    assert model.manifest.sha256 == hashlib.sha256(gguf_bytes).hexdigest()


def test_pull_rejects_bytes_that_do_not_match_the_sha256(hub: FakeHub) -> None:
    hub.corrupt = True
    with pytest.raises(AssistantError, match="arrived with sha256 .*pull again"):
        pull("acme/Tiny-GGUF", progress=False)
    assert not Store().has("tiny-q4_k_m")
    assert not list((Store().root / ".downloads").glob("*/*.part"))


def test_pull_file_choice_and_hub_errors(hub: FakeHub) -> None:
    with pytest.raises(AssistantError, match=r"has 3 GGUF files; pick one with --file \(m-Q3_K_S.gguf, m-Q5_0.gguf, m-Q6_K.gguf\)"):
        pull("acme/Many-GGUF", progress=False)
    assert pull("acme/Many-GGUF:q6_k", progress=False).name == "m-q6_k"
    assert pull("acme/Many-GGUF", file="m-Q3_K_S.gguf", name="three", progress=False).manifest.provenance["file"] == "m-Q3_K_S.gguf"
    with pytest.raises(AssistantError, match="No repository acme/Nope"):
        pull("acme/Nope", progress=False)
    with pytest.raises(AssistantError, match="No file missing.gguf in acme/Tiny-GGUF"):
        pull("acme/Tiny-GGUF", file="missing.gguf", progress=False)
    with pytest.raises(AssistantError, match="not a .gguf file"):
        pull("acme/Tiny-GGUF", file="README.md", progress=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_no_network_is_one_fast_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    for url in (f"http://127.0.0.1:{_free_port()}", "https://huggingface.co"):  # refused; blocked (no network)
        monkeypatch.setenv("HF_ENDPOINT", url)
        start = time.monotonic()
        with pytest.raises(AssistantError, match=r"^Cannot reach .*check the network") as info:
            pull("acme/Tiny-GGUF", progress=False)
        assert time.monotonic() - start < 10
        assert "\n" not in str(info.value)


def test_offline_mode_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(AssistantError, match="HF_HUB_OFFLINE is set"):
        pull("acme/Tiny-GGUF", progress=False)


def test_repo_parsing_and_names() -> None:
    assert parse_repo("acme/X-GGUF") == ("acme/X-GGUF", None)
    assert parse_repo("hf.co/acme/X-GGUF:Q4_K_M") == ("acme/X-GGUF", "Q4_K_M")
    assert parse_repo("https://huggingface.co/acme/X-GGUF/") == ("acme/X-GGUF", None)
    for bad in ("acme", "../etc/passwd", "a/b/c", ""):
        with pytest.raises(AssistantError, match="not a Hub repository"):
            parse_repo(bad)
    assert default_name("sub/SmolLM2-135M-Instruct.Q4_K_M.gguf") == "smollm2-135m-instruct.q4_k_m"
    assert choose_file(["a-Q8_0.gguf", "a-Q4_K_M.gguf"], "r", None) == "a-Q4_K_M.gguf"
    assert choose_file(["a-Q6_K_L.gguf", "a-Q6_K.gguf"], "r", "Q6_K") == "a-Q6_K.gguf"
    assert choose_file(["a-Q6_K_L.gguf", "a-Q6_K.gguf"], "r", "q6_k_l") == "a-Q6_K_L.gguf"
    assert choose_file(["a-Q4_0_4_4.gguf", "a-Q4_0.gguf", "a-Q8_0.gguf"], "r", None) == "a-Q4_0.gguf"
    with pytest.raises(AssistantError, match="split GGUF"):
        choose_file(["big-00001-of-00002.gguf", "big-00002-of-00002.gguf"], "r", None)
    with pytest.raises(AssistantError, match="no .gguf file"):
        choose_file(["README.md"], "r", None)


def test_pull_command_end_to_end(hub: FakeHub, gguf_bytes: bytes) -> None:
    from tests.assistant.cli_helpers import run_cli

    env = {"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0"}
    done = run_cli("models", "pull", "acme/Tiny-GGUF", "--name", "tiny", env=env)
    assert done.returncode == 0, done.stderr
    assert f"Pulled tiny (sha256 {hashlib.sha256(gguf_bytes).hexdigest()[:12]}...)" in done.stdout
    assert "tiny " in run_cli("models", "list").stdout
    dead = {**env, "HF_ENDPOINT": f"http://127.0.0.1:{_free_port()}"}
    done = run_cli("models", "pull", "acme/Tiny-GGUF", "--name", "other", env=dead)
    assert done.returncode == 1 and done.stderr.startswith("Error: Cannot reach http://127.0.0.1:")
    assert done.stderr.count("\n") == 1
