"""The docs: every tutorial's and how-to's code runs as shown, and the site builds with --strict."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TUTORIALS = sorted((ROOT / "docs" / "tutorials").glob("*.md")) + [ROOT / "README.md"]
BLOCK = re.compile(r"^```(python|bash)\n(.*?)^```", re.S | re.M)
# how-tos with code to run (those that only show commands for a server use ```console blocks)
HOWTOS = sorted(p for p in (ROOT / "docs" / "howto").glob("*.md") if "```python" in p.read_text())
PAGES = TUTORIALS + HOWTOS
SHARED = ROOT.parent / "shared" / "data"


def blocks(page: Path) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in BLOCK.finditer(page.read_text())]


def _keep_registries(monkeypatch) -> None:
    """What a page registers (the plugins how-to adds an order, a detector, a strategy) ends with the page."""
    from hpcopt.detect import DETECTORS
    from hpcopt.schedule.policies import BACKFILLS, ORDERS
    from hpcopt.tune.strategies import STRATEGIES

    for registry in (ORDERS, BACKFILLS, DETECTORS, STRATEGIES):
        registry.names()  # plugins loaded first, so that the copies hold them
        monkeypatch.setattr(registry, "_items", dict(registry._items))
        monkeypatch.setattr(registry, "_help", dict(registry._help))


def test_every_tutorial_has_code():
    assert len(TUTORIALS) > 1 and all(any(kind == "python" for kind, _ in blocks(p)) for p in TUTORIALS)


def test_the_howtos_with_code_are_run():
    assert {p.stem for p in HOWTOS} >= {"plugins", "slurm", "tune-spec", "prometheus"}


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT).with_suffix("")) for p in PAGES])
def test_tutorial_runs(page, monkeypatch, tmp_path):
    if "<!-- requires: shared -->" in page.read_text() and not SHARED.is_dir():
        pytest.skip("needs ../shared/data")
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("HPCOPT_HOME", str(tmp_path))
    _keep_registries(monkeypatch)
    namespace: dict = {"__name__": f"tutorial_{page.stem}"}
    for i, (kind, code) in enumerate(blocks(page)):
        if kind == "python":
            exec(compile(code, f"{page.name}[block {i}]", "exec"), namespace)  # noqa: S102 - our own docs
            continue
        if page.name == "README.md":
            continue  # its bash block is the install and test commands themselves
        for line in code.strip().splitlines():
            argv = shlex.split(line)
            assert argv[0] == "hpcopt", f"{page.name}: bash blocks hold hpcopt commands only: {line}"
            r = subprocess.run([sys.executable, "-m", "hpcopt", *argv[1:]], capture_output=True, text=True,
                               timeout=600, cwd=ROOT, env={**os.environ, "HPCOPT_HOME": str(tmp_path)})
            assert r.returncode == 0, f"{page.name}: {line}\n{r.stderr[-2000:]}"


@pytest.mark.skipif(shutil.which("mkdocs") is None, reason="mkdocs not installed (pip install -e '.[docs]')")
def test_site_builds_strict(tmp_path):
    r = subprocess.run(["mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")], cwd=ROOT,
                       capture_output=True, text=True, timeout=600, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    cli = (tmp_path / "site" / "reference" / "cli" / "index.html").read_text()
    assert "hpcopt simulate" in cli and "--trace" in cli  # generated from the Typer app
    api = (tmp_path / "site" / "reference" / "api" / "index.html").read_text()
    for name in ("hpcopt.core.results.Result", "hpcopt.store.runner.run_task", "hpcopt.schedule.tasks.compare_trace",
                 "hpcopt.detect.tasks.fit", "hpcopt.tune.tasks.space", "hpcopt.testing.check_detector.check_detector"):
        assert f'id="{name}"' in api, f"the API reference lacks {name}"  # rendered from the docstrings
