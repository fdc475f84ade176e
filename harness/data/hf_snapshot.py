"""Fetch a Hub dataset mirror into the data root, pinned to a commit, and remember which commit it was.

`make data SOURCE=hf` resolves the requested revision to a commit sha first and downloads exactly that commit
(`snapshot_download` skips files already complete, so a re-run resumes). The repo and commit are written next to
the files (`HF_SOURCE.json`), so a run that later reads the local copy records `repo@commit`, not a path. A local
folder given as the repo is copied instead (offline tests, or a copy made elsewhere).
"""

from __future__ import annotations

import fnmatch
import shutil
from pathlib import Path
from typing import Any

from harness import hub
from harness.errors import HarnessError
from harness.io import read_json, write_json

SOURCE_FILE = "HF_SOURCE.json"


def target_dir(root: Path, repo: str) -> Path:
    """`<root>/hf/<owner>/<name>` for a Hub id, `<root>/hf/<folder name>` for a local folder."""
    name = Path(repo).expanduser().name if hub.is_local(repo) else repo
    return root / "hf" / name


def recorded_source(folder: Path) -> dict[str, Any] | None:
    """The repo and commit a prepared local copy came from (None if it was not made by `make data`)."""
    path = folder / SOURCE_FILE
    return read_json(path) if path.is_file() else None


def _wanted(rel: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(rel, p) for p in patterns)


def _copy_local(src: Path, dest: Path, patterns: list[str]) -> list[str]:
    """Copy matching files, skipping those already there with the same size (resumable like the Hub path)."""
    copied = []
    for path in sorted(p for p in src.rglob("*") if p.is_file()):
        rel = path.relative_to(src).as_posix()
        if rel == SOURCE_FILE or not _wanted(rel, patterns):
            continue
        out = dest / rel
        if not (out.is_file() and out.stat().st_size == path.stat().st_size):
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, out)
        copied.append(rel)
    if not copied:
        raise HarnessError(f"{src}: no file matches {patterns}")
    return copied


def hand_instructions(repo: str, revision: str | None, patterns: list[str], dest: Path) -> str:
    include = " ".join(f"--include '{p}'" for p in patterns)
    rev = f" --revision {revision}" if revision else ""
    return f"hf download {repo} --repo-type dataset{rev} {include} --local-dir {dest}"


def fetch(spec: dict[str, Any], root: Path, repo: str | None = None) -> dict[str, Any]:
    """Download (or copy) the manifest's Hub mirror into the data root; returns the recorded source."""
    repo = repo or spec["repo"]
    patterns = list(spec.get("allow_patterns") or ["*"])
    revision = spec.get("revision")
    dest = target_dir(root, repo)
    if hub.is_local(repo):
        _copy_local(Path(repo).expanduser(), dest, patterns)
        source = {"repo": str(Path(repo).expanduser().resolve()), "commit": None, "allow_patterns": patterns}
    else:
        if not hub.hub_reachable():
            why = "HF_HUB_OFFLINE is set" if hub.offline_flag() else "the Hub cannot be reached"
            raise HarnessError(
                f"{why}: would fetch {repo} {' '.join(patterns)} into {dest}; by hand, where there is internet: "
                f"{hand_instructions(repo, revision, patterns, dest)}, then re-run with the same DATA_ROOT"
            )
        from huggingface_hub import HfApi, snapshot_download

        commit = HfApi().dataset_info(repo, revision=revision).sha
        snapshot_download(repo, repo_type="dataset", revision=commit, allow_patterns=patterns, local_dir=dest)
        source = {"repo": repo, "revision": revision, "commit": commit, "allow_patterns": patterns}
    write_json(dest / SOURCE_FILE, source)
    return source
