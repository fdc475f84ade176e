"""Read rows of a Hub dataset mirror (streaming: lmms-lab/VQAv2 would otherwise build a ~34 GB Arrow cache)."""

from __future__ import annotations

from itertools import islice
from typing import Any

from harness import hub
from harness.errors import HarnessError


def load_rows(
    repo: str, split: str, revision: str | None, limit: int | None
) -> tuple[list[dict], dict[str, Any]]:
    """First `limit` rows (all if None) of `repo`/`split`, plus provenance (repo, split, revision)."""
    if not repo:
        raise HarnessError("task.source=hf but task.hf.repo is not set")
    hub.require_dataset(repo, revision)
    import datasets

    try:
        ds = datasets.load_dataset(repo, split=split, revision=revision, streaming=True)
    except (ConnectionError, FileNotFoundError, ValueError) as err:
        raise HarnessError(f"dataset {repo} split {split}: {str(err).splitlines()[0]}") from None
    rows = list(islice(ds, limit) if limit is not None else ds)
    info = {
        "id": f"{repo}:{split}",
        "repo": repo,
        "split": split,
        "revision": revision,
        "rows_read": len(rows),
    }
    return rows, info
