"""The dashboard in a real headless browser (Playwright driving Debian's chromium) against the
real ``hpcopt serve``, over runs recorded by the real CLI on the bundled samples.

Every page must load without console errors or page errors, show its key elements, and the
runs compare flow (tick two runs, open the side-by-side view) must work end to end.
Screenshots go to ``$HPCOPT_TEST_ARTIFACTS/dashboard`` when set, else the test's temporary
folder (printed)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import free_port

pytest.importorskip("fastapi")
pytest.importorskip("plotly")
httpx = pytest.importorskip("httpx")

CHROMIUM = Path("/usr/bin/chromium")
HERE = Path(__file__).resolve().parent
SRC = HERE.parents[1] / "src"
BUNDLED = SRC / "hpcopt" / "data" / "bundled"
SMD = BUNDLED / "smd_machine-1-6_day"

pytestmark = pytest.mark.slow

BOWL = """
[study]
name = "bowl"
strategy = "random"
budget = 25
random_state = 0

[parameters]
x = [0, 1, 2, 3, 4, 5, 6]
y = [0, 1, 2, 3, 4, 5, 6]

[runner]
kind = "python"
function = "dash_toy_tune:bowl"
timing = "output"
"""



def _env(home: Path) -> dict:
    # HERE: the tuning study's objective (dash_toy_tune.bowl) is imported by the runner
    return {**os.environ, "HPCOPT_HOME": str(home), "PYTHONPATH": os.pathsep.join([str(SRC), str(HERE)])}


def _cli(home: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hpcopt", *args, "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env(home))


def _done(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err + out
    return json.loads(out)


def _serve(base: Path, home: Path, root: Path):
    """``hpcopt serve`` over ``home``'s store on a free loopback port; a read-only token for it."""
    token = _done(_cli(home, "tokens", "create", "--scope", "read", "--name", "dash"))["token"]
    port = free_port()
    log = base / "serve.log"
    proc = subprocess.Popen([sys.executable, "-m", "hpcopt", "serve", "--port", str(port), "--data-root", str(root),
                             "--workers", "1"], env=_env(home), stdout=log.open("ab"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    t0 = time.time()
    while True:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(f"{url}/v1/health", timeout=2).status_code == 200:
                return proc, url, token
        except httpx.HTTPError:
            pass
        if time.time() - t0 > 120:
            proc.kill()
            raise AssertionError("the service did not come up: " + log.read_text())
        time.sleep(0.2)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """A store with real runs (two policy comparisons, two simulations with their per-job tables,
    a detector evaluation with its scores, a tuning replay, a tuning study and its report, two
    versions of a registered detector, a registered runtime model and a prediction with it), the
    service over it, and a read-only token."""
    base = tmp_path_factory.mktemp("dash")
    home, root = base / "home", base / "root"
    root.mkdir()
    scores = root / "scores.csv"
    trace = str(BUNDLED / "hpc2n_alea_excerpt.swf.gz")
    train = str(SMD / "train/machine-1-6.txt.gz")

    def fit(detector: str) -> subprocess.Popen:
        return _cli(home, "detect", "fit", "--train", train, "--detector", detector, "--recenter-window", "0",
                    "--out", str(root / f"{detector}.hpd"), "--register", "smd-detector")

    jobs = [_cli(home, "compare", "--trace", trace, "--policies", "fcfs,fcfs+easy"),
            _cli(home, "compare", "--trace", trace, "--policies", "fcfs,sjf+easy"),
            *(_cli(home, "simulate", "--trace", trace, "--order", order, "--backfill", "easy",
                   "--jobs-out", str(root / f"jobs-{order}-easy.csv")) for order in ("fcfs", "sjf")),
            _cli(home, "detect", "evaluate", "--train", train,
                 "--test", str(SMD / "test/machine-1-6.txt.gz"), "--labels", str(SMD / "test_label/machine-1-6.txt.gz"),
                 "--interpretation", str(SMD / "interpretation_label/machine-1-6.txt.gz"), "--detector", "mad",
                 "--recenter-window", "0", "--scores-out", str(scores)),
            _cli(home, "tune", "replay", "--cache", str(BUNDLED / "kt_pnpoly_RTX3090_time.json.gz"),
                 "--strategy", "random"),
            fit("mad"),
            _cli(home, "estimate", "train", "--trace", trace, "--out", str(root / "runtime"), "--n-estimators", "30",
                 "--register", "runtime")]
    recorded = [_done(j) for j in jobs]
    recorded.append(_done(fit("pca")))  # after the first: the second version of the same name
    recorded.append(_done(_cli(home, "estimate", "predict", "--model", "model:runtime", "--trace", trace)))
    (root / "bowl.toml").write_text(BOWL)
    study = str(root / "tune.db")
    recorded.append(_done(_cli(home, "tune", "run", str(root / "bowl.toml"), "--storage", study)))
    recorded.append(_done(_cli(home, "tune", "report", "--storage", study)))
    import shutil

    shutil.copy(trace, root / "jobs.swf.gz")  # a trace the service may read (under its data root)
    proc, url, token = _serve(base, home, root)
    runner = _done(_cli(home, "tokens", "create", "--scope", "read,run", "--name", "dash-run"))["token"]
    try:
        yield {"url": url, "token": token, "run_token": runner, "home": home, "scores": scores, "recorded": recorded}
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
def empty_service(tmp_path_factory):
    """The service over a store with no runs and no models."""
    base = tmp_path_factory.mktemp("dash-empty")
    (base / "root").mkdir()
    proc, url, token = _serve(base, base / "home", base / "root")
    try:
        yield {"url": url, "token": token}
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    env = os.environ.get("HPCOPT_TEST_ARTIFACTS")
    folder = Path(env) / "dashboard" if env else tmp_path_factory.mktemp("dashboard-screens")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"dashboard screenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.is_file():
        pytest.skip(f"no chromium at {CHROMIUM} (Debian package 'chromium'; .ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (Python) is not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield b
        finally:
            b.close()


class Page:
    """A tab that collects console errors and page errors, signed in through the form."""

    def __init__(self, browser, service):
        self.page = browser.new_page(viewport={"width": 1200, "height": 900})
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.url = service["url"]
        self.token = service["token"]

    def sign_in(self, token: str | None = None) -> None:
        self.page.goto(f"{self.url}/dashboard/runs")
        self.page.wait_for_selector("#login:not([hidden])")
        self.page.fill("#token", token or self.token)
        self.page.click("#login button[type=submit]")
        self.page.wait_for_selector("body[data-ready]", state="attached", timeout=60_000)  # reloaded and drawn

    def open(self, path: str) -> None:
        self.page.goto(f"{self.url}{path}")
        self.page.wait_for_selector("body[data-ready]", state="attached", timeout=60_000)
        assert self.page.evaluate("document.body.dataset.ready") == "1", self.page.inner_text("#content")

    def clean(self) -> None:
        assert self.errors == [], self.errors


@pytest.fixture
def tab(browser, service):
    t = Page(browser, service)
    t.sign_in()
    yield t
    t.page.close()


def test_pages_and_assets_need_no_cdn_and_data_needs_a_token(service):
    url = service["url"]
    for page in ("runs", "compare", "models", "schedule", "detect", "tune"):
        r = httpx.get(f"{url}/dashboard/{page}")
        assert r.status_code == 200 and "text/html" in r.headers["content-type"]
        assert "default-src 'self'" in r.headers["content-security-policy"]
        assert "http://" not in r.text and "https://" not in r.text  # nothing from another origin
    assert httpx.get(f"{url}/dashboard", follow_redirects=False).headers["location"] == "/dashboard/runs"
    import plotly

    bundled = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    js = httpx.get(f"{url}/dashboard/static/plotly.min.js")
    assert js.status_code == 200 and hashlib.sha256(js.content).digest() == hashlib.sha256(bundled.read_bytes()).digest()
    css = httpx.get(f"{url}/dashboard/static/dashboard.css").text
    from hpcopt.report.html import STYLE

    assert css.startswith(STYLE)  # the HTML reports' own style, then the dashboard's additions
    assert httpx.get(f"{url}/dashboard/static/nope.js").status_code == 404
    det = next(r for r in service["recorded"] if r["schema"] == "hpcopt.detect.evaluation/1")
    runs = httpx.get(f"{url}/v1/runs", headers={"Authorization": f"Bearer {service['token']}"}).json()["runs"]
    det_id = next(r["id"] for r in runs if r["task"] == "detect.evaluate")
    art = f"{url}/dashboard/api/runs/{det_id}/artifacts/scores_out"
    assert httpx.get(art).status_code == 401
    got = httpx.get(art, headers={"Authorization": f"Bearer {service['token']}"})
    assert got.status_code == 200 and got.text == service["scores"].read_text()
    assert det["payload"]["scores_out"] == str(service["scores"])
    missing = httpx.get(f"{url}/dashboard/api/runs/{det_id}/artifacts/report",
                        headers={"Authorization": f"Bearer {service['token']}"})
    assert missing.status_code == 404 and "scores_out" in missing.json()["error"]["hint"]


def test_a_refused_token_shows_the_form_again(browser, service, shots):
    t = Page(browser, service)
    try:
        t.sign_in("hpc_not-a-real-token")
        t.page.wait_for_selector("#login:not([hidden])")
        t.page.wait_for_selector("#login-error:not(:empty)")
        assert "refused" in t.page.inner_text("#login-error")
        assert t.page.is_hidden("#main") and t.page.is_hidden("#signout")
        t.page.screenshot(path=str(shots / "refused-token.png"))
        # the browser logs the 401 answer itself; nothing else may fail
        assert all("401" in e for e in t.errors), t.errors
    finally:
        t.page.close()


def test_runs_page_lists_filters_and_compares_two_runs(tab, service, shots):
    from playwright.sync_api import expect

    p = tab.page
    p.wait_for_selector("#runs-table")
    rows = p.locator("#runs-table tbody tr")
    assert rows.count() == len(service["recorded"]) == 12  # every run the fixture recorded
    p.select_option("#f-task", "schedule.compare")
    expect(p.locator("#runs-table tbody tr")).to_have_count(2)
    p.screenshot(path=str(shots / "runs.png"), full_page=True)
    assert p.is_disabled("#compare-selected")
    boxes = p.locator("#runs-table input.pick")
    boxes.nth(0).check()
    boxes.nth(1).check()
    assert p.is_enabled("#compare-selected")
    ids = [boxes.nth(i).get_attribute("value") for i in range(2)]
    p.click("#compare-selected")
    p.wait_for_url("**/dashboard/compare?runs=*")
    p.wait_for_selector("body[data-ready='1']", state="attached", timeout=60_000)
    head = [h.inner_text() for h in p.locator("#compare-runs thead th").all()]
    assert head[1:] == [i[:12] for i in ids]  # one column per chosen run, side by side
    # the two comparisons ran different policy sets: their policies parameter differs and is highlighted
    diff = p.locator("#compare-params tr.diff td.l").all_inner_texts()
    assert "policies" in diff
    results = p.locator("#compare-results tbody tr td.l").all_inner_texts()
    assert "policies[fcfs].avg_wait" in results and "policies[fcfs+easy].avg_wait" in results
    # a key both runs share has the same value in both columns (fcfs alone is the same simulation)
    same = p.locator("#compare-results tr", has_text="policies[fcfs].avg_wait").locator("td").all_inner_texts()
    assert same[1] == same[2]
    # what both runs hold (fcfs, the cleaning, the machine) is equal, so no bar chart of differences
    assert p.locator("#compare-plot").count() == 0
    assert "results every run has are equal in all of them" in p.inner_text("#content")
    p.screenshot(path=str(shots / "compare.png"), full_page=True)
    tab.clean()


@pytest.mark.parametrize("page,selectors", [
    ("schedule", ["#policies-table", "#policies-plot .main-svg", "#bsld-plot .main-svg", "#cdf-plot .main-svg",
                  "#queue-plot .main-svg"]),
    ("detect", ["#detect-metrics", "#alerts-table", "#scores-plot .main-svg"]),
    ("tune", ["#tune-table", "#importance-plot .main-svg", "#tune-note"]),
    ("models", ["#models-table"]),
])
def test_capability_pages_render_stored_results(tab, service, shots, page, selectors):
    tab.open(f"/dashboard/{page}")
    for sel in selectors:
        tab.page.wait_for_selector(sel, timeout=30_000)
    text = tab.page.inner_text("#content")
    if page == "schedule":
        assert tab.page.locator("#policies-table tbody tr").count() == 2
        # one curve per recorded simulation of the same trace, drawn from its own per-job table
        sims = {f"{r['payload']['order']}+easy": r["payload"] for r in service["recorded"]
                if r["schema"] == "hpcopt.simulation/1"}
        names = tab.page.evaluate("document.getElementById('queue-plot').data.map(t => t.name.split(' ')[0])")
        assert sorted(names) == sorted(sims)
        peaks = tab.page.evaluate("document.getElementById('queue-plot').data.map(t => Math.max(...t.y))")
        assert sorted(peaks) == sorted(s["max_queue"] for s in sims.values())  # the simulator's own max queue
        ends = tab.page.evaluate("document.getElementById('cdf-plot').data.map(t => t.y[t.y.length - 1])")
        assert ends == [1, 1]
    if page == "detect":
        assert "MADDetector" in text and "random detector" in text
        assert tab.page.locator("#alerts-table tbody tr").count() >= 1
        # the score series drawn is the run's own file: one point per test row
        n = tab.page.evaluate("document.getElementById('scores-plot').data[0].y.length")
        assert n == 1440
    if page == "tune":
        # the newest tuning run is the study's report: the cost model's importance, with its caveat
        assert "tune.report" in tab.page.inner_text("#run-pick option:checked") and "Caveat" in text
        bars = tab.page.evaluate("(d => [d.x, d.y])(document.getElementById('importance-plot').data[0])")
        imp = next(r["payload"]["importance"] for r in service["recorded"] if r["schema"] == "tune.report/1")
        assert bars == [list(imp), list(imp.values())] and imp["x"] > imp["y"]  # x moves the bowl ten times more
        tab.page.screenshot(path=str(shots / "tune-report.png"), full_page=True)
        tab.page.select_option("#run-pick", label=tab.page.locator("#run-pick option", has_text="tune.replay")
                               .inner_text())
        tab.page.wait_for_selector("#tune-table td:text('best_over_optimum')")
    if page == "models":
        assert tab.page.locator("#models-table tbody tr").count() == 2
        tab.page.click("#models-table a:text('smd-detector')")
        tab.page.wait_for_selector("#versions h3")
        versions = tab.page.locator("#versions table").first.locator("tbody tr td:first-child").all_inner_texts()
        assert versions == ["v1", "v2"]
        assert "train_alert_rate" in tab.page.inner_text("#versions")  # the metrics the fit registered
        assert "hpcopt estimate predict --model model:smd-detector" in tab.page.inner_text("#versions .empty")
        tab.page.click("#models-table a:text('runtime')")
        tab.page.wait_for_selector("#drift-table")
        drift = next(r["payload"]["drift"] for r in service["recorded"] if r["schema"] == "estimate.predict/1")
        row = tab.page.locator("#drift-table tbody tr").all()
        assert len(row) == 1 and drift["advice"] in row[0].inner_text()
        assert row[0].locator("td").nth(1).inner_text() == "v1"
    tab.page.screenshot(path=str(shots / f"{page}.png"), full_page=True)
    tab.clean()


def test_a_task_submitted_from_the_runs_page_runs_and_opens_its_run(browser, service, shots):
    t = Page(browser, service)
    try:
        t.sign_in()  # the read-only token: the service refuses the submission, the page says why
        body = '{"trace": "jobs.swf.gz", "policies": ["fcfs", "fcfs+easy"]}'
        t.page.select_option("#s-task", "schedule.compare")
        t.page.fill("#s-params", body)
        t.page.click("#s-submit")
        t.page.wait_for_selector("#s-status.bad")
        assert "lacks the 'run' scope" in t.page.inner_text("#s-status")
        t.page.fill("#s-params", "{not json")
        t.page.click("#s-submit")
        t.page.wait_for_selector("#s-status.bad:has-text('not JSON')")
        t.page.click("#signout")
        t.page.wait_for_selector("#login:not([hidden])")
        t.page.fill("#token", service["run_token"])
        t.page.click("#login button[type=submit]")
        t.page.wait_for_selector("body[data-ready='1']", state="attached", timeout=60_000)
        t.page.select_option("#s-task", "schedule.compare")
        t.page.fill("#s-params", body)
        t.page.click("#s-submit")
        t.page.wait_for_selector("#s-run", timeout=300_000)
        assert "succeeded" in t.page.inner_text("#s-status")
        t.page.screenshot(path=str(shots / "submitted.png"), full_page=True)
        t.page.click("#s-run")
        t.page.wait_for_selector("body[data-ready='1']", state="attached", timeout=60_000)
        cells = t.page.locator("#compare-runs tbody tr").first.locator("td").all_inner_texts()
        assert cells[1] == "schedule.compare"
        # the service answered the refused submission 403; the browser logs that, nothing else may fail
        assert all("403" in e for e in t.errors), t.errors
    finally:
        t.page.close()


def test_detect_page_zooms_the_score_plot(tab):
    tab.open("/dashboard/detect")
    p = tab.page
    p.wait_for_selector("#scores-plot .main-svg")
    p.evaluate("Plotly.relayout('scores-plot', {'xaxis.range': [240, 270]})")
    rng = p.evaluate("document.getElementById('scores-plot').layout.xaxis.range")
    assert rng == [240, 270]
    tab.clean()


def test_a_changed_artifact_is_refused(service):
    h = {"Authorization": f"Bearer {service['token']}"}
    runs = httpx.get(f"{service['url']}/v1/runs?task=detect.evaluate", headers=h).json()["runs"]
    scores = service["scores"]
    scores.write_text(scores.read_text() + "0,0,0,0\n")
    r = httpx.get(f"{service['url']}/dashboard/api/runs/{runs[0]['id']}/artifacts/scores_out", headers=h)
    assert r.status_code == 409 and r.json()["error"]["type"] == "ArtifactChanged"


@pytest.mark.parametrize("page,command", [
    ("runs", "hpcopt compare --trace"),
    ("models", "hpcopt estimate train"),
    ("schedule", "hpcopt compare --trace"),
    ("detect", "hpcopt detect evaluate"),
    ("tune", "hpcopt tune replay"),
])
def test_an_empty_store_names_the_command_that_fills_each_page(browser, empty_service, shots, page, command):
    t = Page(browser, empty_service)
    try:
        t.sign_in()
        t.open(f"/dashboard/{page}")
        box = t.page.locator("#content .empty")
        assert box.count() == 1 and command in box.inner_text()  # never a made-up figure
        assert t.page.locator("#content .plot").count() == 0
        t.page.screenshot(path=str(shots / f"empty-{page}.png"))
        t.clean()
    finally:
        t.page.close()
