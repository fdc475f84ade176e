"""Resumable downloads over HTTP(S) or file:// with a fast, retry-free offline answer.

Archives here are gigabytes (COCO val2014 is about 6 GB), so an interrupted download must continue where it
stopped: bytes go to `<name>.part`, a re-run asks the server for the rest (`Range: bytes=N-`) and appends, or starts
over when the server ignores ranges. A file is moved to its final name only when complete, so a final name always
means a whole file. Before anything is fetched, `unreachable` tries one TCP connect per host (a few seconds at
most), so an offline machine hears in one line what would be fetched instead of waiting through retries.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from harness.errors import HarnessError

CHUNK = 1 << 20
CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 60.0
RETRIES = 3


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def unreachable(urls: list[str], timeout: float = CONNECT_TIMEOUT_S) -> list[str]:
    """Hosts of `urls` that do not accept a TCP connection (file:// URLs are always reachable)."""
    down: list[str] = []
    for url in urls:
        parts = urlparse(url)
        if parts.scheme == "file" or parts.hostname in down:
            continue
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            with socket.create_connection((parts.hostname or "", port), timeout=timeout):
                pass
        except OSError:
            down.append(parts.hostname or url)
    return down


def _open(url: str, start: int) -> tuple[object, int, int | None]:
    """(response, offset the body starts at, total size if known)."""
    request = urllib.request.Request(url, headers={"Range": f"bytes={start}-"} if start else {})
    try:
        response = urllib.request.urlopen(request, timeout=READ_TIMEOUT_S)
    except urllib.error.HTTPError as err:
        if err.code == 416 and start:  # nothing left after `start`: the part file is already whole
            return None, start, start
        raise
    status = getattr(response, "status", 200)
    length = response.headers.get("Content-Length")
    if status == 206:
        total = response.headers.get("Content-Range", "").rpartition("/")[2]
        return response, start, int(total) if total.isdigit() else None
    return response, 0, int(length) if length and length.isdigit() else None


def _progress(name: str, done: int, total: int | None, last: list[float]) -> None:
    now = time.monotonic()
    if now - last[0] < 5 and (total is None or done < total):
        return
    last[0] = now
    share = f" ({100 * done / total:.0f}% of {total / 1e6:.1f} MB)" if total else ""
    print(f"  {name}: {done / 1e6:.1f} MB{share}", file=sys.stderr)


def _fetch_once(url: str, part: Path) -> int | None:
    start = part.stat().st_size if part.exists() else 0
    response, offset, total = _open(url, start)
    if response is None:
        return total
    mode = "ab" if offset == start and start else "wb"
    if mode == "wb" and start:
        print(f"  {part.name}: the server ignores ranges, starting over", file=sys.stderr)
    done, last = offset, [0.0]
    with response, part.open(mode) as out:  # type: ignore[attr-defined]
        for chunk in iter(lambda: response.read(CHUNK), b""):  # type: ignore[attr-defined]
            out.write(chunk)
            done += len(chunk)
            _progress(part.name, done, total, last)
    if total is not None and done != total:
        raise ConnectionError(f"connection closed at byte {done:,} of {total:,}")
    return total


def download(url: str, dest: Path, sha256: str | None = None) -> str:
    """Fetch `url` to `dest`, resuming `dest.part`; returns the file's sha256 (checked when `sha256` is given)."""
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, RETRIES + 1):
        try:
            _fetch_once(url, part)
            break
        except (http.client.HTTPException, OSError) as err:  # URLError, ConnectionError, TimeoutError are OSErrors
            if isinstance(err, urllib.error.HTTPError) and err.code < 500:
                raise HarnessError(f"{url}: HTTP {err.code} {err.reason}; set another URL with --mirror") from None
            have = part.stat().st_size if part.exists() else 0
            if attempt == RETRIES:
                raise HarnessError(
                    f"{url}: {err} after {RETRIES} attempts; {have:,} bytes kept in {part}, re-run to resume"
                ) from None
            print(f"  {dest.name}: {err}; resuming from byte {have:,}", file=sys.stderr)
    observed = sha256_of(part)
    if sha256 and observed != sha256:
        bad = part.with_name(part.name + ".bad")
        os.replace(part, bad)
        raise HarnessError(f"{url}: sha256 {observed} != pinned {sha256}; kept as {bad}, nothing extracted")
    os.replace(part, dest)
    return observed
