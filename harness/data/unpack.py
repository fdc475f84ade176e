"""Extract the files a manifest names from a downloaded zip into the data-root layout, resumably.

Archives are matched by entry basename (`v2_mscoco_val2014_annotations.json`, `COCO_val2014_*.jpg`), so a zip that
nests its files one folder deeper still works. A destination that already has the entry's size is skipped (a re-run
after an interruption redoes only what is missing); each file is written under a temporary name and renamed, so a
present file is a whole file. zipfile checks every entry's CRC as it reads it.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import zipfile
from pathlib import Path, PurePosixPath

from harness.errors import HarnessError


def is_whole_zip(path: Path) -> bool:
    """A zip whose central directory (written last) can be read: a truncated download fails this."""
    try:
        with zipfile.ZipFile(path) as archive:
            return bool(archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _write(archive: zipfile.ZipFile, info: zipfile.ZipInfo, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        with archive.open(info) as src, tmp.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def extract(zip_path: Path, member: str, dest: Path, into_dir: bool) -> tuple[int, int]:
    """Extract entries whose basename matches `member` to `dest` (a file, or a folder when `into_dir`).

    Returns (entries matched, entries written); none matching is an error naming the archive.
    """
    matched = written = 0
    try:
        with zipfile.ZipFile(zip_path) as archive:
            for info in archive.infolist():
                name = PurePosixPath(info.filename).name
                if info.is_dir() or not fnmatch.fnmatchcase(name, member):
                    continue
                matched += 1
                out = dest / name if into_dir else dest
                if out.is_file() and out.stat().st_size == info.file_size:
                    continue
                _write(archive, info, out)
                written += 1
    except zipfile.BadZipFile as err:
        raise HarnessError(f"{zip_path}: not a readable zip ({err}); delete it and re-run to download again") from None
    if not matched:
        raise HarnessError(f"{zip_path}: no entry matches {member!r}; is it the right archive?")
    if not into_dir and matched > 1:
        raise HarnessError(f"{zip_path}: {matched} entries match {member!r}, expected one")
    return matched, written
