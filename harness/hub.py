"""Decide quickly whether a Hub id can be loaded, and say so in one line when it can't.

`from_pretrained` on an unreachable Hub retries for many seconds and ends in a long traceback. We look in the local
cache first and, if the files are not there, probe the Hub with a short socket timeout, so the user learns in
seconds which model or dataset is missing and what to do.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from harness.errors import HarnessError

PROBE_TIMEOUT_S = 3.0


def is_local(ref: str) -> bool:
    """A checkpoint or dataset given as an existing folder or file."""
    return Path(ref).expanduser().exists()


def offline_flag() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def hub_reachable(timeout: float = PROBE_TIMEOUT_S) -> bool:
    """One TCP connect to the Hub endpoint; no retries (a closed network answers in `timeout` at most)."""
    if offline_flag():
        return False
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def model_in_cache(repo_id: str, revision: str | None) -> bool:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, "config.json", revision=revision)
    return isinstance(found, str)


def require_model(repo_id: str, revision: str | None) -> bool:
    """Return `local_files_only` for `from_pretrained`, or raise a one-line error if the model can't be had."""
    if is_local(repo_id):
        return True
    if model_in_cache(repo_id, revision):
        return True
    if hub_reachable():
        return False
    why = "HF_HUB_OFFLINE is set" if offline_flag() else "the Hub cannot be reached"
    raise HarnessError(
        f"model {repo_id}{'@' + revision if revision else ''} is not in the local Hugging Face cache and {why}; "
        f"download it where there is internet (`hf download {repo_id}`) and copy the cache (HF_HOME), "
        f"or pass model.checkpoint=/path/to/local/folder"
    )


def require_dataset(repo_id: str, revision: str | None) -> None:
    """Datasets are read from the Hub only with `source: hf`; fail fast with the local alternative."""
    if is_local(repo_id) or hub_reachable():
        return
    why = "HF_HUB_OFFLINE is set" if offline_flag() else "the Hub cannot be reached"
    raise HarnessError(
        f"dataset {repo_id}{'@' + revision if revision else ''} cannot be read: {why}; "
        f"use the official files instead (task.source=official, DATA_ROOT=dir; see `make data`), "
        f"or a local copy (task.hf.repo=/path)"
    )
