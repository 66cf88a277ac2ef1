"""The dashboard's routes, mounted on the service's app by :func:`mount`.

The pages and their assets carry no data, so they need no token; every figure on them
comes from the service's ``/v1`` routes (read scope), fetched by the page with the bearer
token the user typed once (kept in the tab's ``sessionStorage``, never in a cookie, so no
other site can make the browser send it). A strict Content-Security-Policy keeps every
script on the service's own origin: plotly is the package's own bundled file, no CDN.

Two data routes live here, both over a file a recorded run wrote, read only if it still has
the SHA-256 the store recorded: a CSV artifact as it is (a detector's scores), and a
simulation's per-job table as its wait-time CDF and queue over time (computed by
:mod:`hpcopt.schedule.metrics`).
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path
from string import Template

PAGES = {  # path -> (title, what the page shows)
    "runs": "Runs",
    "compare": "Compare runs",
    "models": "Models",
    "schedule": "Scheduling",
    "detect": "Detection",
    "tune": "Tuning",
}
NAV = ("runs", "models", "schedule", "detect", "tune")
MAX_ARTIFACT_BYTES = 32 << 20
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'")
_STATIC = {"dashboard.js": "text/javascript; charset=utf-8", "dashboard.css": "text/css; charset=utf-8"}


def _asset(name: str) -> str:
    return resources.files("hpcopt.dashboard").joinpath(name).read_text(encoding="utf-8")


def plotly_js_path() -> Path:
    """plotly's own bundled ``plotly.min.js`` (the ``dashboard`` extra installs plotly)."""
    from hpcopt.core.optional import require

    plotly = require("plotly", extra="dashboard")
    path = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        from hpcopt.errors import ConfigError

        raise ConfigError(f"plotly {plotly.__version__} has no bundled plotly.min.js at {path}",
                          hint="reinstall it: pip install 'hpcopt[dashboard]'")
    return path


def render_page(page: str) -> str:
    """The HTML shell of ``page``: the shared report style, the nav, a mount point for the script."""
    from html import escape

    nav = "".join(f'<a href="/dashboard/{p}"{" class=active" if p == page else ""}>{escape(PAGES[p])}</a>'
                  for p in NAV)
    # .tmpl, not .html: the repository ignores *.html (written reports), and so would the wheel
    return Template(_asset("templates/page.tmpl")).substitute(title=escape(PAGES[page]), page=page, nav=nav)


def stylesheet() -> str:
    """The HTML reports' one style (:data:`hpcopt.report.html.STYLE`), then the dashboard's few additions."""
    from hpcopt.report.html import STYLE

    return STYLE + "\n/* dashboard */\n" + _asset("static/dashboard.css")


def mount(app, *, read, reader) -> None:
    """Add ``/dashboard/...`` to ``app``; ``read`` is the service's read-scope dependency, ``reader`` its store view."""
    from fastapi import Depends
    from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

    from hpcopt.serve.app import ServiceError, found

    headers = {"Content-Security-Policy": CSP, "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}
    pages = {p: render_page(p) for p in PAGES}
    static = {name: (stylesheet() if name == "dashboard.css" else _asset(f"static/{name}"), media)
              for name, media in _STATIC.items()}

    @app.get("/dashboard", include_in_schema=False)
    def home():
        return RedirectResponse("/dashboard/runs", status_code=307)

    @app.get("/dashboard/static/plotly.min.js", include_in_schema=False)
    def plotly_js():
        return FileResponse(plotly_js_path(), media_type="text/javascript; charset=utf-8", headers=headers)

    @app.get("/dashboard/static/{name}", include_in_schema=False)
    def asset(name: str):
        if name not in static:
            raise ServiceError(404, f"no dashboard asset named {name!r}")
        text, media = static[name]
        return Response(text, media_type=media, headers=headers)

    def verified(run_id: str, name: str, suffixes: tuple[str, ...]) -> tuple[Path, bytes]:
        """The bytes of the run's recorded artifact ``name``, if it is still the file the run wrote."""
        run = found(reader.get_run, run_id)
        art = next((a for a in run.artifacts if a["name"] == name), None)
        if art is None:
            raise ServiceError(404, f"run {run_id} recorded no artifact named {name!r}",
                               hint="recorded: " + (", ".join(a["name"] for a in run.artifacts) or "none"))
        path = Path(art["path"])
        if path.suffix.lower() not in suffixes:
            raise ServiceError(404, f"the artifact {name!r} is not a {' or '.join(suffixes)} file")
        if not path.is_file() or path.stat().st_size > MAX_ARTIFACT_BYTES:
            raise ServiceError(404, f"the artifact {name!r} ({path}) is gone or over {MAX_ARTIFACT_BYTES} bytes")
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != art["sha256"]:
            raise ServiceError(409, f"the artifact {name!r} ({path}) changed since run {run_id} wrote it",
                               type="ArtifactChanged", hint="rerun the task to record a fresh file")
        return path, data

    @app.get("/dashboard/api/runs/{run_id}/artifacts/{name}", tags=["dashboard"])
    def run_artifact(run_id: str, name: str, _t=Depends(read)):
        """A CSV file the run wrote and the store recorded (a detector's scores, say)."""
        return Response(verified(run_id, name, (".csv",))[1], media_type="text/csv; charset=utf-8")

    @app.get("/dashboard/api/runs/{run_id}/jobs", tags=["dashboard"])
    def run_jobs(run_id: str, _t=Depends(read)) -> dict:
        """A simulation's per-job table (its ``jobs_out``) as its wait-time CDF and queue over time."""
        import io

        import pandas as pd

        from hpcopt.schedule.metrics import queue_over_time, wait_cdf

        path, data = verified(run_id, "jobs_out", (".csv", ".parquet"))
        jobs = pd.read_parquet(io.BytesIO(data)) if path.suffix.lower() == ".parquet" else pd.read_csv(io.BytesIO(data))
        missing = {"submit", "start", "wait"} - set(jobs.columns)
        if missing:
            raise ServiceError(422, f"the per-job table {path} lacks the columns {', '.join(sorted(missing))}")
        return {"schema": "dashboard.jobs/1", "run": run_id, "jobs": len(jobs), "wait_cdf": wait_cdf(jobs["wait"]),
                "queue": queue_over_time(jobs["submit"], jobs["start"])}

    for page, text in pages.items():
        app.add_api_route(f"/dashboard/{page}", _page_handler(text, headers, HTMLResponse), methods=["GET"],
                          include_in_schema=False, name=f"dashboard:{page}")


def _page_handler(text: str, headers: dict, response_class):
    def handler():
        return response_class(text, headers=headers)

    return handler
