"""The Hugging Face Hub, online only: datasets (``GAIR/lima`` is gated) and base models by id.

Every failure becomes one sentence: gated and not accepted, no token, not found, offline.
"""

from __future__ import annotations

from typing import Any

from finetune.errors import FinetuneError


def _explain(exc: Exception, repo_id: str, kind: str) -> FinetuneError:
    from huggingface_hub import errors as hf_errors

    page = f"https://huggingface.co/{'datasets/' if kind == 'dataset' else ''}{repo_id}"
    if isinstance(exc, hf_errors.GatedRepoError):
        return FinetuneError(
            f"The {kind} {repo_id} is gated and this account has no access: accept its terms at {page} "
            "and log in with `hf auth login` (or set HF_TOKEN)."
        )
    if isinstance(exc, hf_errors.RepositoryNotFoundError):
        return FinetuneError(
            f"The {kind} {repo_id} was not found on the Hub (or it is private); check the id, or log in with `hf auth login`."
        )
    if isinstance(exc, (hf_errors.OfflineModeIsEnabled, hf_errors.LocalEntryNotFoundError, ConnectionError, OSError)):
        return FinetuneError(
            f"{repo_id} is not a local path and the Hub cannot be reached (offline); pass a local file or folder instead."
        )
    return FinetuneError(f"Reading the {kind} {repo_id} from the Hub failed ({exc}); try again or pass a local path.")


def download_dataset(repo_id: str, split: str = "train") -> tuple[bytes, str]:
    """The bytes of the split's JSON/JSONL file(s) and an origin string like ``hf://datasets/GAIR/lima``."""
    from huggingface_hub import HfApi, hf_hub_download

    try:
        files = HfApi().list_repo_files(repo_id, repo_type="dataset")
        wanted = sorted(f for f in files if f.rsplit("/", 1)[-1].startswith(split) and f.endswith((".jsonl", ".json")))
        if not wanted:
            raise FinetuneError(
                f"The dataset {repo_id} has no {split}*.jsonl or {split}*.json file; download it and pass the file."
            )
        blobs = []
        for name in wanted:
            local = hf_hub_download(repo_id, name, repo_type="dataset")
            with open(local, "rb") as fh:
                blobs.append(fh.read().rstrip(b"\n"))
    except FinetuneError:
        raise
    except Exception as exc:  # huggingface_hub raises many HTTP/OS types
        raise _explain(exc, repo_id, "dataset") from exc
    return b"\n".join(blobs) + b"\n", f"hf://datasets/{repo_id}"


def download_model(repo_id: str) -> str:
    """A local snapshot folder of a base model (config, tokenizer, safetensors)."""
    from huggingface_hub import snapshot_download

    try:
        folder: Any = snapshot_download(
            repo_id, allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.tiktoken"]
        )
    except Exception as exc:
        raise _explain(exc, repo_id, "model") from exc
    return str(folder)
