"""`python -m harness.prompts {check,update,diff}`: the committed LM-input snapshots and how they change.

- `check`: render every protocol's snapshot (harness.prompt_snapshot) and diff it against tests/snapshots/prompts/;
  exit 2 on any difference (the test suite does the same).
- `update` (`make prompts-update`): rewrite the committed snapshots; review the diff and say why in the commit.
- `diff [--rev REV]` (`make prompts`): render REV (default HEAD) and the working tree with the same renderer and
  print a unified diff. REV's files come from `git archive` into a temporary folder (read-only for the repository).
"""

from __future__ import annotations

import argparse
import difflib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from harness.errors import HarnessError, cli_main
from harness.prompt_snapshot import render_all, write_all

REPO = Path(__file__).resolve().parents[1]
SNAPSHOTS = REPO / "tests" / "snapshots" / "prompts"


def read_dir(folder: Path) -> dict[str, str]:
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.json"))}


def unified(old: dict[str, str], new: dict[str, str], old_label: str, new_label: str) -> str:
    """One unified diff over all protocols; added and removed protocols appear whole."""
    chunks = []
    for name in sorted(set(old) | set(new)):
        a, b = old.get(name, ""), new.get(name, "")
        if a != b:
            chunks.extend(difflib.unified_diff(a.splitlines(keepends=True), b.splitlines(keepends=True),
                                               f"{old_label}/{name}.json", f"{new_label}/{name}.json"))
    return "".join(chunks)


def render_revision(rev: str, protocols: list[str] | None = None) -> dict[str, str]:
    """Snapshots of the checkout at `rev`, rendered by today's renderer (so only code, config and data differ)."""
    with tempfile.TemporaryDirectory(prefix="prompts-rev-") as tmp:
        tree = Path(tmp) / "tree"
        tree.mkdir()
        archive = subprocess.run(["git", "archive", "--format=tar", rev], cwd=REPO, capture_output=True)
        if archive.returncode != 0:
            raise HarnessError(f"git archive {rev}: {archive.stderr.decode().strip().splitlines()[0]}")
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
        shutil.copy(Path(__file__).with_name("prompt_snapshot.py"), tree / "harness" / "prompt_snapshot.py")
        env = {k: v for k, v in os.environ.items() if k != "HARNESS_CONF_DIR"}
        env.update(PYTHONPATH=str(tree), HF_HUB_OFFLINE="1")
        out = Path(tmp) / "out"
        command = [sys.executable, "-m", "harness.prompt_snapshot", str(out), *(protocols or [])]
        done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise HarnessError(f"cannot render prompts at {rev}: {last}")
        return read_dir(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.prompts", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="compare with tests/snapshots/prompts (exit 2 on a difference)")
    sub.add_parser("update", help="rewrite tests/snapshots/prompts")
    diff = sub.add_parser("diff", help="diff REV against the working tree")
    diff.add_argument("--rev", default="HEAD", help="git revision (default HEAD)")
    args = parser.parse_args(argv)
    current = render_all()
    if args.command == "update":
        for stale in set(read_dir(SNAPSHOTS)) - set(current):
            (SNAPSHOTS / f"{stale}.json").unlink()
        write_all(SNAPSHOTS, current)
        print(f"wrote {len(current)} snapshots to {SNAPSHOTS.relative_to(REPO)}")
        return 0
    if args.command == "check":
        text = unified(read_dir(SNAPSHOTS), current, "committed", "now")
        if text:
            print(text)
            raise HarnessError("LM inputs changed: review the diff above, then `make prompts-update`")
        print(f"{len(current)} protocol snapshots unchanged")
        return 0
    text = unified(render_revision(args.rev), current, args.rev, "working-tree")
    print(text or f"no LM-input or decoding difference between {args.rev} and the working tree")
    return 0


if __name__ == "__main__":
    sys.exit(cli_main(main))
