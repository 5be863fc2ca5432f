"""``assistant models pull REPO``: one GGUF file from the Hugging Face Hub into the store.

huggingface-hub does the Hub side (file listing, URL, auth headers, HEAD metadata, the ranged
download with its progress bar). The partial file lives in the store's ``.downloads`` folder, keyed
by repo, file and the file's hash, so an interrupted pull resumes where it stopped. The finished
file is checked against the Hub's sha256 (LFS files) and the sha256 goes into the manifest.
``HF_ENDPOINT`` points it at a mirror (tests use a loopback fake). Never called at chat time.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from models.errors import AssistantError, BadModelFile
from models.hashing import sha256_file
from models.names import validate_name
from models.paths import ensure_dir, models_dir
from models.store import Store, StoredModel

DEFAULT_ENDPOINT = "https://huggingface.co"
PREFERRED_QUANTS = ("q4_k_m", "q4_0", "q5_k_m", "q8_0")
_SPLIT = re.compile(r"-\d{5}-of-\d{5}\.gguf$", re.IGNORECASE)
_REPO = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class PullPlan:
    repo: str
    filename: str
    revision: str | None
    endpoint: str


def endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def parse_repo(value: str) -> tuple[str, str | None]:
    """``owner/name``, ``hf.co/owner/name``, a Hub URL, optionally ``:QUANT`` -> (repo, quant tag)."""
    text = value.strip()
    for prefix in ("https://huggingface.co/", "http://huggingface.co/", "huggingface.co/", "hf.co/"):
        if text.startswith(prefix):
            text = text[len(prefix):]
    tag = None
    if ":" in text:
        text, tag = text.split(":", 1)
    text = text.strip("/")
    if not _REPO.match(text):
        raise AssistantError(f"{value!r} is not a Hub repository; use OWNER/NAME, e.g. bartowski/SmolLM2-135M-Instruct-GGUF.")
    return text, (tag or None)


def default_name(filename: str) -> str:
    stem = Path(filename).name[: -len(".gguf")] if filename.lower().endswith(".gguf") else Path(filename).stem
    name = re.sub(r"[^A-Za-z0-9._+-]+", "-", stem).strip("-.").lower()[:80]
    return validate_name(name or "model")


def _has_quant(filename: str, quant: str) -> bool:
    """``Q6_K`` matches ``x-Q6_K.gguf`` but not ``x-Q6_K_L.gguf``."""
    return re.search(rf"(?<![a-z0-9]){re.escape(quant.lower())}(?![a-z0-9_])", Path(filename).name.lower()) is not None


def safe_repo_path(filename: str, repo: str) -> str:
    """A repository file name the store may download: relative, no ``..``, no drive, no NUL.

    The store only ever writes ``Path(filename).name`` inside its own folder, but a name that tries
    to leave it is refused outright rather than quietly rewritten.
    """
    parts = filename.replace("\\", "/").split("/")
    if (not filename or "\0" in filename or filename.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", filename)
            or any(part in ("..", "") for part in parts)):
        raise AssistantError(f"{repo} names a file {filename!r} that points outside the repository; "
                             "the store refuses it (pick another file or repository).")
    return filename


def choose_file(files: list[str], repo: str, tag: str | None) -> str:
    ggufs = [f for f in files if f.lower().endswith(".gguf")]
    if not ggufs:
        raise AssistantError(f"{repo} has no .gguf file; pick a GGUF repository or convert a checkpoint with `assistant convert`.")
    single = [f for f in ggufs if not _SPLIT.search(f)]
    if tag:
        matches = [f for f in single if _has_quant(f, tag)] or [f for f in single if tag.lower() in Path(f).name.lower()]
        if len(matches) == 1:
            return matches[0]
        raise AssistantError(f"{len(matches)} GGUF files in {repo} match {tag!r}; pick one with --file "
                             f"({', '.join(sorted(matches or single)[:8])}).")
    if not single:
        raise AssistantError(f"{repo} only has split GGUF files ({ggufs[0]}, ...), which the store does not join; "
                             "pick a single-file GGUF repository.")
    if len(single) == 1:
        return single[0]
    for quant in PREFERRED_QUANTS:
        matches = [f for f in single if _has_quant(f, quant)]
        if len(matches) == 1:
            return matches[0]
    raise AssistantError(f"{repo} has {len(single)} GGUF files; pick one with --file ({', '.join(sorted(single)[:8])}).")


def check_reachable(url: str, timeout: float = 5.0) -> None:
    """Fail fast, in one sentence, when the Hub cannot be reached at all."""
    from huggingface_hub import constants

    if constants.is_offline_mode() or os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        raise AssistantError("HF_HUB_OFFLINE is set, so nothing can be pulled; unset it, or import a local file "
                             "with `assistant models import FILE.gguf --name NAME`.")
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        socket.create_connection((parsed.hostname or "", port), timeout=timeout).close()
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise AssistantError(f"Cannot reach {parsed.scheme}://{parsed.netloc} ({reason}); check the network "
                             "(or HF_ENDPOINT), or import a local file with `assistant models import FILE.gguf`.") from exc


def _hub_error(exc: Exception, repo: str, filename: str | None) -> AssistantError:
    from huggingface_hub import errors

    what = f"{repo}/{filename}" if filename else repo
    if isinstance(exc, errors.GatedRepoError):
        return AssistantError(f"{repo} is gated; accept its terms on the Hub and log in (`hf auth login` or HF_TOKEN).")
    if isinstance(exc, errors.RepositoryNotFoundError):
        return AssistantError(f"No repository {repo} on the Hub (or it is private); check the name, or log in for private ones.")
    if isinstance(exc, (errors.EntryNotFoundError, errors.RemoteEntryNotFoundError)):
        return AssistantError(f"No file {filename} in {repo}; run without --file to pick one, or check the name.")
    if isinstance(exc, errors.RevisionNotFoundError):
        return AssistantError(f"No such revision in {repo}; check --revision.")
    if isinstance(exc, errors.HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else "?"
        return AssistantError(f"The Hub answered HTTP {status} for {what}; try again later.")
    return AssistantError(f"Downloading {what} failed ({type(exc).__name__}: {exc}); run the same pull again to resume.")


def plan(repo_arg: str, file: str | None = None, revision: str | None = None) -> PullPlan:
    repo, tag = parse_repo(repo_arg)
    base = endpoint()
    check_reachable(base)
    if file:
        if not file.lower().endswith(".gguf"):
            raise AssistantError(f"--file {file} is not a .gguf file; the store holds GGUF models.")
        return PullPlan(repo, safe_repo_path(file, repo), revision, base)
    from huggingface_hub import HfApi

    try:
        files = [entry.path for entry in HfApi(endpoint=base).list_repo_tree(repo, revision=revision, recursive=True)
                 if type(entry).__name__ == "RepoFile"]
    except Exception as exc:  # the Hub's many error types -> one sentence
        raise _hub_error(exc, repo, None) from exc
    return PullPlan(repo, safe_repo_path(choose_file(files, repo, tag), repo), revision, base)


def _silent_tqdm() -> Any:
    from huggingface_hub.utils import tqdm

    class Silent(tqdm):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    return Silent


def download_folder(p: PullPlan, etag: str) -> Path:
    key = hashlib.sha256(f"{p.endpoint}|{p.repo}|{p.filename}|{etag}".encode()).hexdigest()[:16]
    return models_dir() / ".downloads" / key


def pull(repo_arg: str, *, file: str | None = None, name: str | None = None, revision: str | None = None,
         overwrite: bool = False, store: Store | None = None, progress: bool = True) -> StoredModel:
    """Download (or resume) one GGUF and add it to the store with its sha256 and provenance."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import build_hf_headers

    store = store or Store()
    p = plan(repo_arg, file, revision)
    model_name = validate_name(name) if name else default_name(p.filename)
    if store.has(model_name) and not overwrite:
        raise AssistantError(f"A model named {model_name!r} already exists; pass --name for another or --force to replace it.")
    url = hf_hub_url(p.repo, p.filename, revision=p.revision, endpoint=p.endpoint)
    try:
        meta = get_hf_file_metadata(url, endpoint=p.endpoint)
    except Exception as exc:
        raise _hub_error(exc, p.repo, p.filename) from exc
    expected_sha = meta.etag if meta.etag and _SHA256.match(meta.etag) else None  # LFS files: the sha256
    folder = ensure_dir(download_folder(p, meta.etag or meta.commit_hash or "none"))
    target = folder / Path(p.filename).name
    partial = folder / (target.name + ".part")
    if not target.exists():
        with open(partial, "ab") as fh:
            resume = fh.tell()
            if meta.size is not None and resume > meta.size:
                fh.truncate(0)
                resume = 0
            try:
                http_get(meta.location, fh, resume_size=resume, headers=build_hf_headers(),
                         expected_size=meta.size, displayed_filename=Path(p.filename).name,
                         tqdm_class=None if progress else _silent_tqdm())
            except KeyboardInterrupt:
                fh.flush()
                got = fh.tell() / 1e6
                total = f" of {meta.size / 1e6:.1f}" if meta.size else ""
                raise AssistantError(f"Download stopped at {got:.1f}{total} MB; run the same pull again to resume.",
                                     exit_code=130) from None
            except Exception as exc:
                raise _hub_error(exc, p.repo, p.filename) from exc
        digest = sha256_file(partial)
        if expected_sha and digest != expected_sha:
            partial.unlink()
            raise AssistantError(f"{p.filename} arrived with sha256 {digest[:12]}..., not the Hub's {expected_sha[:12]}...; "
                                 "the partial download was deleted, pull again.")
        partial.rename(target)
    else:
        if target.is_symlink() or target.resolve().parent != folder.resolve():
            raise AssistantError(f"{target} is a link, not a downloaded file; delete {folder} and pull again.")
        digest = expected_sha or sha256_file(target)
    provenance: dict[str, Any] = {
        "source": "hub", "repo": p.repo, "file": p.filename, "revision": meta.commit_hash or p.revision,
        "endpoint": p.endpoint, "pulled": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    try:  # the header is checked (absurd sizes refused) before anything is stored
        model = store.add(model_name, target, move=True, overwrite=overwrite, sha256=digest,
                          update={"provenance": provenance})
    except BadModelFile:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    shutil.rmtree(folder, ignore_errors=True)
    return model
