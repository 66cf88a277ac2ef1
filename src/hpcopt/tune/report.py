"""Study reports: a JSON summary and a self-contained HTML page (PNG figures embedded)."""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hpcopt.core.files import atomic_write_text
from hpcopt.errors import InputError
from hpcopt.tune.space import SearchSpace, space_from_dict
from hpcopt.tune.storage import Storage, Trial
from hpcopt.tune.study import Study, convergence, pareto_front
from hpcopt.report.html import figure_base64, html_page


@dataclass
class StoredStudy:
    """A study read back from storage for reporting (no strategy, no runner)."""

    name: str
    storage: Storage
    info: dict[str, Any]
    space: SearchSpace

    @property
    def trials(self) -> list[Trial]:
        return self.storage.trials(self.name)

    def history(self) -> list[Trial]:
        return self.storage.history(self.name)


def load_study(storage: str, name: str | None = None) -> StoredStudy:
    st = Storage(storage)
    names = st.study_names()
    if not names:
        raise InputError("the database holds no study", source=storage)
    if name is None:
        name = names[-1]
    info = st.study_info(name)
    return StoredStudy(name, st, info, space_from_dict(info["space"]))


def _as_view(study: Study | StoredStudy) -> StoredStudy:
    if isinstance(study, StoredStudy):
        return study
    return StoredStudy(study.name, study.storage, study.info, study.space)


def study_report(study: Study | StoredStudy) -> dict[str, Any]:
    view = _as_view(study)
    trials = [t for t in view.trials if t.state == "done" and t.result is not None]
    ok = [t for t in trials if t.result.ok]
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.result.status.value] = counts.get(t.result.status.value, 0) + 1
    first = -1.0 if (view.info.get("directions") or ["minimize"])[0] == "maximize" else 1.0
    best = min(ok, key=lambda t: first * t.result.value) if ok else None
    rep: dict[str, Any] = {
        "schema": "hpcopt.tune.report/1", "study": view.name, "strategy": view.info.get("strategy"),
        "random_state": view.info.get("random_state"), "trials": len(trials), "status_counts": counts,
        "best": {"config": best.config, "value": best.result.value, "spread": best.result.spread,
                 "number": best.number} if best else None,
        "failures": [{"number": t.number, "config": t.config, "status": t.result.status.value,
                      "message": t.result.message[:200]} for t in trials if not t.result.ok][:20],
        # failed trials whose configurations were measured again (--retry-failed): kept, not counted
        "superseded_failures": sum(1 for t in view.history() if t.state == "retried"),
    }
    if len(ok) >= 10 and all(t.result.value > 0 for t in ok):
        from hpcopt.tune.model import evaluate_cost_model

        try:
            ev = evaluate_cost_model(view.space, [t.config for t in ok], [t.result.value for t in ok],
                                     train_fraction=0.7, random_state=0)
            rep["cost_model"] = ev
            rep["importance"] = dict(sorted(ev["importance"].items(), key=lambda kv: -kv[1]))
        except InputError:
            pass
    n_obj = int(view.info.get("n_objectives", 1))
    if n_obj > 1:
        rep["objectives"] = view.info.get("objective_names")
        rep["directions"] = view.info.get("directions") or ["minimize"] * n_obj
    if n_obj > 1 and ok:
        signs = np.array([1.0 if d == "minimize" else -1.0 for d in rep["directions"]])
        vals = np.array([t.result.values for t in ok]) * signs
        rep["pareto_front"] = [{"config": ok[i].config, "values": list(ok[i].result.values)} for i in pareto_front(vals)]
    return rep


def write_html(study: Study | StoredStudy, path: str | Path) -> Path:
    """Convergence, parameter importance and (multi-objective) Pareto front in one HTML file."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    view = _as_view(study)
    rep = study_report(view)
    trials = view.trials
    figs: list[tuple[str, str]] = []
    xs, ys = convergence(trials)
    if xs.size:
        fig, ax = plt.subplots(figsize=(6.5, 3.6))
        done = [t for t in trials if t.state == "done"]
        vals = [t.result.value if t.result and t.result.ok else np.nan for t in done]
        ax.scatter(np.arange(1, len(vals) + 1), vals, s=10, alpha=0.5, label="trial")
        ax.step(xs, np.where(np.isfinite(ys), ys, np.nan), where="post", color="C3", label="best so far")
        ax.set_xlabel("trial")
        ax.set_ylabel("objective")
        ax.set_title("convergence")
        ax.legend()
        fig.tight_layout()
        figs.append(("Convergence", figure_base64(fig)))
    if rep.get("importance"):
        fig, ax = plt.subplots(figsize=(6.5, 3.0))
        names, vals = zip(*rep["importance"].items())
        ax.barh(names[::-1], vals[::-1])
        ax.set_xlabel("importance (random-forest cost model)")
        fig.tight_layout()
        figs.append(("Parameter importance", figure_base64(fig)))
    if rep.get("pareto_front"):
        ok = [t for t in trials if t.result and t.result.ok and t.result.values]
        allv = np.array([t.result.values for t in ok])
        front = np.array([p["values"] for p in rep["pareto_front"]])
        fig, ax = plt.subplots(figsize=(5.5, 4.0))
        ax.scatter(allv[:, 0], allv[:, 1], s=10, alpha=0.4, label="trials")
        order = np.argsort(front[:, 0])
        ax.plot(front[order, 0], front[order, 1], "o-", color="C3", label="Pareto front")
        names = view.info.get("objective_names") or ["objective 0", "objective 1"]
        ax.set_xlabel(names[0])
        ax.set_ylabel(names[1])
        ax.legend()
        fig.tight_layout()
        figs.append(("Pareto front", figure_base64(fig)))
    rows = sorted([t for t in trials if t.result is not None], key=lambda t: (not t.result.ok, t.result.value or 0))[:25]
    table = "".join(
        f"<tr><td>{t.number}</td><td>{html.escape(str(t.config))}</td><td>{t.result.status.value}</td>"
        f"<td>{'' if t.result.value is None else f'{t.result.value:.6g}'}</td>"
        f"<td>{html.escape(t.result.message[:120])}</td></tr>" for t in rows)
    body = [f"<h1>Tuning study {html.escape(view.name)}</h1>",
            f"<p>strategy {html.escape(str(rep['strategy']))}, seed {rep['random_state']}, {rep['trials']} trials; "
            f"statuses {html.escape(str(rep['status_counts']))}</p>"]
    if rep["best"]:
        body.append(f"<p><b>best</b> {rep['best']['value']:.6g}: {html.escape(str(rep['best']['config']))}</p>")
    if rep.get("cost_model"):
        cm = rep["cost_model"]
        body.append(f"<p>cost model (trained on {cm['train']}, tested on {cm['test']}): median abs. % error "
                    f"{100 * cm['median_ape']:.1f} % (median predictor: {100 * cm['baseline_median_ape']:.1f} %), "
                    f"Spearman {cm['spearman']:.2f}</p>")
    for title, b64 in figs:
        body.append(f"<h2>{title}</h2><img alt='{title}' src='data:image/png;base64,{b64}'>")
    body.append("<h2>Trials (best first)</h2><table border=1 cellpadding=3><tr><th>#</th><th>config</th>"
                f"<th>status</th><th>value</th><th>message</th></tr>{table}</table>")
    retried = [t for t in view.history() if t.state == "retried"]
    if retried:
        rows_r = "".join(
            f"<tr><td>{t.number}</td><td>{html.escape(str(t.config))}</td><td>{t.result.status.value}</td>"
            f"<td>{html.escape(t.result.message[:120])}</td></tr>" for t in retried[:25] if t.result is not None)
        body.append(f"<h2>Failures measured again ({len(retried)})</h2><p>These trials failed and their "
                    "configurations were measured again (<code>--retry-failed</code>); they are kept as they were "
                    "and do not count toward the budget.</p><table border=1 cellpadding=3><tr><th>#</th>"
                    f"<th>config</th><th>status</th><th>message</th></tr>{rows_r}</table>")
    return _write_page(path, "hpcopt tune report", body)


def _write_page(path: str | Path, title: str, body: list[str]) -> Path:
    return atomic_write_text(Path(path), html_page(title, "\n".join(body)))


def write_compare_html(res: dict[str, Any], path: str | Path) -> Path:
    """The strategy comparison as one HTML page: the score table and a convergence plot per space."""
    from hpcopt.tune.methodology import convergence_figure

    spaces = res["spaces"]
    head = "".join(f"<th>{html.escape(s['name'])} (B={s['budget']})</th>" for s in spaces)
    rows = []
    for n, sc in sorted(res["scores"].items(), key=lambda kv: -kv[1]):
        mark = " (default)" if n == res.get("default_strategy") else ""
        cells = "".join(f"<td>{s['strategies'][n]['score']:.3f} &plusmn; {s['strategies'][n]['score_std']:.2f}</td>"
                        for s in spaces)
        rows.append(f"<tr><td>{html.escape(n + mark)}</td>{cells}<td>{sc:.3f}</td></tr>")
    body = ["<h1>Tuning strategies compared on replay caches</h1>",
            f"<p>methodology score (0 = random search, 1 = the optimum at once), {res.get('repeats', '?')} runs "
            "per strategy and space</p>",
            f"<table border=1 cellpadding=3><tr><th>strategy</th>{head}<th>mean</th></tr>{''.join(rows)}</table>"]
    for s in spaces:
        body.append(f"<h2>{html.escape(s['name'])}</h2><img alt='convergence {html.escape(s['name'])}' "
                    f"src='data:image/png;base64,{figure_base64(convergence_figure(s))}'>")
    return _write_page(path, "hpcopt tune compare-strategies", body)


__all__ = ["StoredStudy", "load_study", "study_report", "write_html", "write_compare_html"]
