"""`python -m harness.prepare {fetch,check} --task T --data-root DIR`: get a task's data and prove it is the split.

`fetch` (`make data`) downloads the official archives named in `conf/manifest/<task>.yaml` (or the Hub mirror with
`--source hf`), extracts them into the documented layout, verifies counts and images against the manifest through
the task's own loader, and writes `<data_root>/MANIFEST.json`. Re-running resumes: complete files are skipped,
partial downloads continue. Offline, it says in one line what it would fetch and where to put it by hand. `check`
(`make data-check`) verifies an existing root and downloads nothing. Both exit non-zero unless the data is the full
split; checksums not yet pinned in the manifest are printed so a maintainer can pin them.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

from harness.data import download, hf_snapshot, local_manifest, unpack
from harness.data.datacheck import Report, check_hf, check_official, referenced_images, task_config
from harness.data.manifest import require_manifest
from harness.errors import HarnessError, cli_main

DOWNLOADS = ".downloads"


def _destination(cfg: Any, root: Path, role: str) -> Path:
    if role not in cfg.task.files:
        raise HarnessError(f"manifest names file role {role!r}, which conf/task/{cfg.task.name}.yaml lacks")
    return root / cfg.task.files[role]


def _satisfied(item: dict[str, Any], cfg: Any, root: Path) -> bool:
    """Every destination of a download exists (a folder: and is not empty)."""
    for rule in item["extract"]:
        dest = _destination(cfg, root, rule["role"])
        if not (dest.is_file() or (dest.is_dir() and any(dest.iterdir()))):
            return False
    return True


def _archive(item: dict[str, Any], root: Path) -> Path:
    """The local archive path; a hand-placed truncated one becomes a `.part` to resume."""
    path = root / DOWNLOADS / item["name"]
    if path.is_file() and not unpack.is_whole_zip(path):
        path.rename(path.with_name(path.name + ".part"))
    return path


def _url(item: dict[str, Any], mirror: str | None) -> str:
    return f"{mirror.rstrip('/')}/{item['name']}" if mirror else item["url"]


def _offline_line(missing: list[dict[str, Any]], hosts: list[str], root: Path, cfg: Any, mirror: str | None,
                  note: str) -> str:
    what = ", ".join(f"{i['name']} ({_url(i, mirror)})" for i in missing)
    places = ", ".join(str(_destination(cfg, root, r["role"])) for i in missing for r in i["extract"])
    return (f"cannot reach {', '.join(hosts)}: would fetch {what}; put them by hand into {root / DOWNLOADS}/ "
            f"(or the extracted files at {places}) and re-run `make data TASK={cfg.task.name} DATA_ROOT={root}`"
            f"{note}")


def fetch_official(task: str, root: Path, items: list[dict[str, Any]], mirror: str | None, note: str = "") -> dict:
    """Download and extract what is missing; returns {archive name: {url, sha256, bytes}} for MANIFEST.json.
    `note` ends the offline line (what else the user must supply)."""
    cfg = task_config(task, root)
    todo = [i for i in items if _archive(i, root).is_file() or not _satisfied(i, cfg, root)]
    missing = [i for i in todo if not _archive(i, root).is_file()]
    hosts = download.unreachable([_url(i, mirror) for i in missing])
    if hosts:
        raise HarnessError(_offline_line(missing, hosts, root, cfg, mirror, note))
    done = {}
    for item in todo:
        path, url = _archive(item, root), _url(item, mirror)
        if path.is_file():
            observed = download.sha256_of(path)
            if item.get("sha256") and observed != item["sha256"]:
                raise HarnessError(f"{path}: sha256 {observed} != pinned {item['sha256']}; delete it and re-run")
        else:
            print(f"fetching {url} -> {path}")
            observed = download.download(url, path, item.get("sha256"))
        if not item.get("sha256"):
            print(f"sha256 {observed}  {item['name']} (not pinned in conf/manifest/{task}.yaml)")
        for rule in item["extract"]:
            dest = _destination(cfg, root, rule["role"])
            matched, written = unpack.extract(path, rule["member"], dest, "*" in rule["member"])
            print(f"extracted {written} of {matched} {rule['member']} -> {dest}")
        done[item["name"]] = {"url": url, "sha256": observed, "bytes": path.stat().st_size}
    return done


def copy_user_images(task: str, root: Path, manifest: dict[str, Any], folder: Path | None) -> None:
    """Images with no public download (Flickr30K): copy the missing ones the split references from a user folder."""
    spec = manifest.get("user_images")
    if not spec:
        return
    missing = {Path(p).name: Path(p) for p in referenced_images(task, root) if not Path(p).is_file()}
    if not missing:
        return
    if folder is None:
        raise HarnessError(f"{len(missing):,} {task} images missing under {root}: {spec['hint']}")
    if not folder.is_dir():
        raise HarnessError(f"FLICKR_IMAGES={folder}: not a folder")
    found = {p.name: p for p in folder.rglob("*") if p.is_file() and p.name in missing}
    absent = sorted(set(missing) - set(found))
    if absent:
        raise HarnessError(f"{folder}: {len(absent):,} of the {len(missing):,} missing {task} images are not in it, "
                           f"e.g. {absent[:3]}")
    for name, out in sorted(missing.items()):
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{name}.tmp")
        shutil.copyfile(found[name], tmp)
        tmp.replace(out)
    print(f"copied {len(missing):,} images from {folder}")


def _report(task: str, root: Path, source: str, hf_repo: str | None) -> Report:
    if source == "official":
        return check_official(task, root)
    manifest = require_manifest(task)
    return check_hf(task, root, hf_snapshot.target_dir(root, hf_repo or manifest["hf"]["repo"]))


def _finish(report: Report, root: Path) -> int:
    for rel, meta in report.files.items():
        if meta["role"] in report.unpinned:
            print(f"sha256 {meta['sha256']}  {rel} (observed; not pinned in conf/manifest/{report.task}.yaml)")
    if not report.ok:
        raise HarnessError(f"{report.summary()} (data root {root})")
    print(f"ok: {report.summary()}")
    return 0


def fetch(args: argparse.Namespace) -> int:
    manifest = require_manifest(args.task)
    root = args.data_root.expanduser().resolve()
    if args.source == "hf" and not manifest.get("hf"):
        raise HarnessError(f"conf/manifest/{args.task}.yaml names no Hub mirror; use --source official")
    if not manifest.get("official") and args.source == "official":
        print(f"conf/manifest/{args.task}.yaml records no download source: checking the files in place")
    official = manifest.get("official", [])
    if args.source == "hf":  # a mirror may still need some official files (Flickr30K: the Karpathy split JSON)
        official = [i for i in official if i["name"] in (manifest["hf"].get("official") or [])]
    images = manifest.get("user_images") if args.source == "official" else None
    note = f"; the {args.task} images have no download: {images['hint']}" if images else ""
    earlier = (local_manifest.read(root).get("tasks", {}).get(args.task) or {}).get("downloads") or {}
    downloads = {**earlier, **fetch_official(args.task, root, official, args.mirror, note)}
    hf = hf_snapshot.fetch(manifest["hf"], root, args.hf_repo) if args.source == "hf" else None
    if args.source == "official":
        copy_user_images(args.task, root, manifest, args.flickr_images)
    report = _report(args.task, root, args.source, args.hf_repo)
    path = local_manifest.record(root, args.task, local_manifest.entry(report, downloads, hf))
    print(f"wrote {path}")
    if hf:
        repo = hf_snapshot.target_dir(root, args.hf_repo or manifest["hf"]["repo"])
        print(f"runs read the mirror with: ARGS='task.source=hf task.hf.repo={repo}'")
    return _finish(report, root)


def check(args: argparse.Namespace) -> int:
    root = args.data_root.expanduser().resolve()
    report = _report(args.task, root, args.source, args.hf_repo)
    changed = local_manifest.changed_files(root, args.task, report)
    if changed:
        raise HarnessError(f"{', '.join(changed)} changed since `make data` recorded {root / local_manifest.NAME}")
    return _finish(report, root)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        raise HarnessError(f"{self.prog}: {message} (see --help)")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m harness.prepare", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, help_text in (("fetch", "download, extract, verify, write MANIFEST.json"),
                            ("check", "verify an existing data root; download nothing")):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--task", required=True, help="task name (conf/manifest/<task>.yaml)")
        p.add_argument("--data-root", type=Path, required=True, metavar="DIR")
        p.add_argument("--source", choices=("official", "hf"), default="official")
        p.add_argument("--hf-repo", metavar="ID_OR_DIR", help="another Hub mirror, or a local folder to copy")
        if name == "fetch":
            p.add_argument("--mirror", metavar="URL", help="fetch every archive as URL/<archive name> instead")
            p.add_argument("--flickr-images", type=Path, metavar="DIR", help="folder holding the Flickr30K images")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return fetch(args) if args.command == "fetch" else check(args)


if __name__ == "__main__":
    sys.exit(cli_main(main))
