"""The docs: every tutorial's code runs as shown, and the site builds with --strict."""

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
SHARED = ROOT.parent / "shared" / "data"
BLOCK = re.compile(r"^```(python|bash)\n(.*?)^```", re.S | re.M)


def blocks(page: Path) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in BLOCK.finditer(page.read_text())]


def test_every_tutorial_has_code():
    assert len(TUTORIALS) > 1 and all(any(kind == "python" for kind, _ in blocks(p)) for p in TUTORIALS)


@pytest.mark.parametrize("page", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs(page, monkeypatch, tmp_path):
    if "<!-- requires: shared -->" in page.read_text() and not SHARED.is_dir():
        pytest.skip("needs ../shared/data")
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("HPCOPT_HOME", str(tmp_path))
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
