"""The built wheel works on its own: installed into a fresh virtual environment outside the repository, it runs a
tiny-model task end to end from a folder that is not the checkout. This catches files the package needs but does
not ship (configs come through the harness/conf -> ../conf symlink and `[tool.setuptools.package-data]`).

Deselect with `-m "not package"`. The fresh environment reaches torch & co. through a .pth line naming the project
venv's site-packages (added after the wheel is installed, so pip never sees the editable install), so nothing is
downloaded (the wheel is built without build isolation when the venv has setuptools). The build runs on a copy of
the files git would commit, so ignored files cannot hide a gap.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.package]


def sh(*cmd: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def source_copy(dest: Path) -> Path:
    """The files git would commit (tracked + untracked, not ignored), symlinks kept; no tests or data."""
    listed = sh("git", "ls-files", "-z", "-co", "--exclude-standard", cwd=REPO).split("\0")
    for rel in filter(None, listed):
        src = REPO / rel
        if rel.startswith(("tests/", "fixtures/", "results/")) or not (src.is_file() or src.is_symlink()):
            continue
        out = dest / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, out, follow_symlinks=False)
    return dest


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("package")
    src = source_copy(tmp / "src")
    offline_build = ["--no-build-isolation", "--no-index"] if importlib.util.find_spec("setuptools") else []
    sh(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *offline_build, "-w", tmp / "dist", src, cwd=tmp)
    wheel = next((tmp / "dist").glob("blip2_repro-*.whl"))
    venv = tmp / "venv"
    sh(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp)
    python = venv / "bin" / "python"
    sh(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index", wheel, cwd=tmp)
    site = Path(sh(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp).strip())
    paths = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (site / "project_venv.pth").write_text("".join(f"{p}\n" for p in paths))
    work = tmp / "elsewhere"
    work.mkdir()
    return {"python": python, "wheel": wheel, "site": site, "work": work}


def env() -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HARNESS_CONF_DIR", "HARNESS_CLAIMS_DIR")}
    return out | {"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


def test_wheel_ships_every_config_and_manifest(installed):
    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    shipped = {n.removeprefix("harness/conf/") for n in names if n.startswith("harness/conf/")}
    in_repo = {p.relative_to(REPO / "conf").as_posix() for p in (REPO / "conf").rglob("*.yaml")}
    assert in_repo <= shipped, f"configs missing from the wheel: {sorted(in_repo - shipped)}"
    assert {"manifest/vqav2.yaml", "manifest/flickr30k.yaml"} <= shipped


def test_installed_package_runs_a_tiny_task_from_outside_the_repo(installed, tmp_path):
    python, work = installed["python"], installed["work"]
    code = "import harness, tasks; print(harness.__file__); print(tasks.__file__)"
    where = sh(python, "-c", code, cwd=work, env=env())
    assert all(Path(p).is_relative_to(installed["site"]) for p in where.split()), where
    results = tmp_path / "results"
    sh(python, "-m", "harness.run", "model=tiny-opt", "task=vqav2", f"task.data_root={REPO / 'fixtures' / 'data'}",
       f"results_dir={results}", "judge=false", "leaderboard=false", "runtime.progress=false", cwd=work, env=env())
    run_dir = next(results.glob("runs/vqav2/tiny-opt/*"))
    provenance = json.loads((run_dir / "provenance.json").read_text())
    assert provenance["status"] == "complete" and (run_dir / "metrics.json").is_file()
    assert provenance["protocol"]["data"]["manifest_match"] == "subset"  # conf/manifest shipped and read


def test_installed_package_finds_the_claims_registry(installed):
    """claims/*.yaml ship through harness/claims_data -> ../claims; without them the judge finds no claim."""
    code = "from harness.claims import load_registry; assert load_registry(), 'no claims'"
    sh(installed["python"], "-c", code, cwd=installed["work"], env=env())
