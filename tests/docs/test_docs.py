"""The docs: every tutorial's and how-to's code runs as shown, and the site builds with --strict."""

from __future__ import annotations

import json
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
    r = subprocess.run(["mkdocs", "build", "--strict", "-d", str(tmp_path / "site")], cwd=ROOT,
                       capture_output=True, text=True, timeout=600, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    cli = (tmp_path / "site" / "reference" / "cli" / "index.html").read_text()
    assert "hpcopt simulate" in cli and "--trace" in cli  # generated from the Typer app
    api = (tmp_path / "site" / "reference" / "api" / "index.html").read_text()
    for name in ("hpcopt.core.results.Result", "hpcopt.store.runner.run_task", "hpcopt.schedule.tasks.compare_trace",
                 "hpcopt.detect.tasks.fit", "hpcopt.tune.tasks.space", "hpcopt.testing.checks.detector.check_detector"):
        assert f'id="{name}"' in api, f"the API reference lacks {name}"  # rendered from the docstrings


# ---- results pages: tables rendered from benchmarks/results/*.json by docs/results_hook.py ----

def _results_hook():
    import importlib.util

    spec = importlib.util.spec_from_file_location("results_hook", ROOT / "docs" / "results_hook.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


RESULT_PAGES = sorted((ROOT / "docs").rglob("*.md"))


def test_every_results_json_a_page_cites_exists_parses_and_renders():
    hook = _results_hook()
    refs = [(page, f, t) for page in RESULT_PAGES for f, t in hook.references(page.read_text())]
    pages = {page.name for page, _, _ in refs}
    assert {"schedule.md", "estimate.md", "tune.md"} <= pages, pages
    for page, file, name in refs:
        path = ROOT / "benchmarks" / "results" / file
        assert path.is_file(), f"{page.relative_to(ROOT)} cites {file}, which is not in benchmarks/results/"
        data = json.loads(path.read_text())
        text = hook.render(file, name)
        assert text.count("\n|") >= 2 and f"benchmarks/results/{file}" in text, (page.name, file, name)
        if "recorded" in data:  # the command, machine and date stored in the JSON are stated under the table
            rec = data["recorded"]
            assert rec["command"].startswith(("python benchmarks/", "OMP_NUM_THREADS")) and rec["command"] in text
            assert rec["date"] in text and str(rec["machine"]["cpus"]) in text


def test_results_table_shows_the_json_values():
    hook = _results_hook()
    text = hook.render("estimate_accuracy.json", "estimate-accuracy")
    data = json.loads((ROOT / "benchmarks" / "results" / "estimate_accuracy.json").read_text())
    kth = next(t for t in data["traces"] if t["trace"].startswith("KTH"))["estimators"]["gbm"]["all"]
    # hand-formatted from the JSON: the best MAE and accuracy of the trace in bold
    row = f"| KTH-SP2 | {kth['jobs']} | gbm | **{round(kth['mae']):,}** | {round(kth['median_ae']):,} | **{kth['accuracy']:.3f}** |"
    assert row in text


def test_results_errors_are_clear(tmp_path):
    hook = _results_hook()
    with pytest.raises(hook.ResultsError, match="unknown results table 'nope'"):
        hook.render("estimate_accuracy.json", "nope")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(hook.ResultsError, match="not readable JSON"):
        hook.render("bad.json", "tune-kernels", tmp_path)
    (tmp_path / "other.json").write_text('{"spaces": 1}')
    with pytest.raises(hook.ResultsError, match="does not have what table 'tune-kernels' shows"):
        hook.render("other.json", "tune-kernels", tmp_path)
    with pytest.raises(hook.ResultsError, match="absent.json is missing"):
        hook.render("absent.json", "tune-kernels", tmp_path)


@pytest.mark.skipif(shutil.which("mkdocs") is None, reason="mkdocs not installed (pip install -e '.[docs]')")
@pytest.mark.parametrize("present", [True, False], ids=["json-present", "json-missing"])
def test_strict_build_fails_when_a_results_json_is_missing(tmp_path, present):
    """A small site using the hook: it builds with the JSON there and fails --strict without it."""
    docs, results = tmp_path / "docs", tmp_path / "results"
    docs.mkdir()
    results.mkdir()
    (docs / "index.md").write_text("# R\n\n<!-- results: estimate_accuracy.json table=estimate-targets -->\n")
    if present:
        shutil.copy(ROOT / "benchmarks" / "results" / "estimate_accuracy.json", results)
    (tmp_path / "mkdocs.yml").write_text(f"site_name: t\ndocs_dir: docs\nhooks:\n  - {ROOT / 'docs' / 'results_hook.py'}\n")
    r = subprocess.run(["mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300,
                       env={**os.environ, "HPCOPT_RESULTS_DIR": str(results), "NO_MKDOCS_2_WARNING": "1"})
    if present:
        assert r.returncode == 0, r.stderr[-2000:]
        html = (tmp_path / "site" / "index.html").read_text()
        assert "KTH-SP2" in html and "benchmarks/results/estimate_accuracy.json" in html
    else:
        assert r.returncode != 0
        assert "index.md" in r.stderr and "estimate_accuracy.json is missing" in r.stderr, r.stderr[-2000:]
