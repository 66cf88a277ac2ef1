"""MkDocs hook: the results pages' tables are rendered from the benchmarks' JSON at build time.

A page asks for a table with one line of its own::

    <!-- results: tune_kernels.json table=tune-kernels -->

``tune_kernels.json`` is read from ``benchmarks/results/`` (``HPCOPT_RESULTS_DIR`` overrides
it), ``tune-kernels`` names a renderer below. Under each table a line states the command,
the machine and the date recorded in the JSON (``benchmarks/_record.py`` writes them;
older JSON without that block says so). A missing or unreadable JSON, or an unknown
table, is an error naming the page and the command that makes the file, so
``mkdocs build --strict`` fails; a non-strict build shows the error on the page.
The protocol of each measurement is prose on the page, stated once.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIRECTIVE = re.compile(r"<!--\s*results:\s*(?P<file>[\w.-]+\.json)\s+table=(?P<table>[\w-]+)\s*-->")
log = logging.getLogger("mkdocs.hooks.results")

TABLES: dict[str, Callable[[dict], str]] = {}


class ResultsError(Exception):
    """A table cannot be rendered: missing or bad JSON, unknown table."""


def table(name: str):
    def deco(fn):
        TABLES[name] = fn
        return fn
    return deco


def results_dir() -> Path:
    return Path(os.environ.get("HPCOPT_RESULTS_DIR") or ROOT / "benchmarks" / "results")


def references(markdown: str) -> list[tuple[str, str]]:
    """The (file, table) pairs a page asks for, in order."""
    return [(m["file"], m["table"]) for m in DIRECTIVE.finditer(markdown)]


def load(file: str, directory: Path | None = None) -> dict:
    path = (directory or results_dir()) / file
    if not path.is_file():
        raise ResultsError(f"{path} is missing: run the benchmark named on the page with "
                           f"--out benchmarks/results/{file} and commit the JSON")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsError(f"{path} is not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ResultsError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def render(file: str, name: str, directory: Path | None = None) -> str:
    if name not in TABLES:
        raise ResultsError(f"unknown results table {name!r} (known: {', '.join(sorted(TABLES))})")
    data = load(file, directory)
    try:
        body = TABLES[name](data)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ResultsError(f"benchmarks/results/{file} does not have what table {name!r} shows "
                           f"({type(exc).__name__}: {exc}); rerun its benchmark") from None
    return f"{body}\n\n{caption(file, data)}\n"


def caption(file: str, data: dict) -> str:
    src = f"`benchmarks/results/{file}`"
    rec = data.get("recorded")
    if not isinstance(rec, dict):
        return (f"*Rendered from {src}. That JSON predates the recorded block: its command, machine and "
                "date are the ones stated in the text above, not stored in the file.*")
    m = rec.get("machine") or {}
    machine = ", ".join(str(x) for x in (m.get("cpu"), f"{m.get('cpus')} cpus" if m.get("cpus") else None,
                                         f"load {m['loadavg_1m_end']} at the end" if m.get("loadavg_1m_end") is not None else None)
                        if x)
    v = rec.get("versions") or {}
    git = rec.get("git") or {}
    commit = (git.get("commit") or "")[:10]
    state = f" at `{commit}`{' with uncommitted changes' if git.get('dirty') else ''}" if commit else ""
    wall = f", {rec['wall_seconds']:.0f} s" if isinstance(rec.get("wall_seconds"), (int, float)) else ""
    return (f"*Rendered from {src}: `{rec.get('command')}` on {machine or 'an unrecorded machine'}, "
            f"{rec.get('date')}{wall}; Python {v.get('python')}, hpcopt {v.get('hpcopt')}{state}.*")


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ARG001 - MkDocs' signature
    def sub(m: re.Match) -> str:
        try:
            return render(m["file"], m["table"])
        except ResultsError as exc:
            log.error(f"{page.file.src_path}: {exc}")  # counted by --strict even under -q
            return f'!!! failure "Results missing"\n    {exc}\n'

    return DIRECTIVE.sub(sub, markdown)


# ---- formatting ---------------------------------------------------------------------------------

def fmt(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{x:.{digits}f}"


def intc(x) -> str:
    return "-" if x is None else f"{round(x):,}"


def rate(x) -> str:
    """Jobs per second as 817k / 1.77M."""
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x / 1e6:.2f}M" if x >= 1e6 else f"{x / 1e3:.0f}k" if x >= 1e3 else f"{x:.0f}"


def rows(header: list[str], body: list[list[str]]) -> str:
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
                      *("| " + " | ".join(r) + " |" for r in body)])


TRACE_LABELS = {
    "KTH-SP2-1996_predictsim.swf.gz": "KTH-SP2", "LLNL-Atlas-2006-2.1-cln.swf.gz": "LLNL-Atlas",
    "CEA-Curie_predictsim_excerpt.swf.gz": "CEA-Curie excerpt", "hpc2n_alea_excerpt.swf.gz": "HPC2N excerpt",
    "wagap-2013_alea.swf.gz": "wagap", "nrel_eagle_sample_1000.csv.gz": "NREL Eagle sample",
}


def trace_label(name: str) -> str:
    return TRACE_LABELS.get(Path(name).name, Path(name).name)


# ---- schedule -----------------------------------------------------------------------------------

@table("simulate-matrix")
def _simulate_matrix(d: dict) -> str:
    body = []
    for r in d["rows"]:
        timed_out = r.get("baseline_timed_out")
        base = f"< {rate(r['baseline_jobs_per_s'])}" if timed_out else rate(r.get("baseline_jobs_per_s"))
        speed = (f">= {r['speedup']:.1f}x (stopped)" if timed_out else f"{r['speedup']:.1f}x") if "speedup" in r else "-"
        same = {True: "yes", False: "**no**", None: "-"}[r.get("same_start_times")]
        body.append([f"{r['order']}+{r['backfill']}", rate(r["jobs_per_s"]), r.get("baseline", "-"), base, speed,
                     same, intc(r["max_queue"])])
    head = rows(["order + backfilling", f"hpcopt, jobs/s ({d['rows'][0]['jobs']:,} jobs)", "baseline",
                 "baseline, jobs/s", "speedup", "same start times", "max queue"], body)
    rss = max(r["peak_rss_mb"] for r in d["rows"])
    slowest = min(d["rows"], key=lambda r: r["jobs_per_s"])
    extra = [f"Peak resident set of the whole process: {rss:.0f} MB. Slowest combination: "
             f"{slowest['order']}+{slowest['backfill']}, {rate(slowest['jobs_per_s'])} jobs/s."]
    if "min_speedup" in d:
        low = min(d["rows"], key=lambda r: r["speedup"])
        bound = " (a lower bound: that baseline was stopped)" if low.get("baseline_timed_out") else ""
        extra.append(f"Smallest speedup: {d['min_speedup']:.1f}x, {low['order']}+{low['backfill']}{bound}; "
                     f"baselines stopped at the time limit: "
                     f"{d['baselines_timed_out']}; every finished baseline gave the same start times: "
                     f"{'yes' if d['all_same_start_times'] else '**no**'}.")
    return head + "\n\n" + " ".join(extra)


@table("parse-swf")
def _parse_swf(d: dict) -> str:
    t = d["trace"]
    body = [["hpcopt", f"{d['new']['seconds']:.1f}", f"{d['new']['peak_rss_mb']:,.0f}"]]
    if "baseline" in d:
        body.append(["line-by-line reader (baseline)", f"{d['baseline']['seconds']:.1f}",
                     f"{d['baseline']['peak_rss_mb']:,.0f}"])
    out = rows([f"reader ({t['jobs']:,} jobs, {t['bytes'] / 1e6:.0f} MB of SWF)", "seconds (median)", "peak RSS (MB)"],
               body)
    if "speedup" in d:
        out += (f"\n\nSpeedup {d['speedup']:.1f}x, memory ratio {d['memory_ratio']:.2f}, same table: "
                f"{'yes' if d['same_table'] else '**no**'}; {d['repeat']} parses per reader, "
                f"load average {d['loadavg_1m']:.1f} at the start.")
    return out


# ---- estimate -----------------------------------------------------------------------------------

@table("estimate-accuracy")
def _estimate_accuracy(d: dict) -> str:
    body = []
    for t in d["traces"]:
        est = t["estimators"]
        best_acc = max(e["all"]["accuracy"] for e in est.values())
        best_mae = min(e["all"]["mae"] for e in est.values())
        for name, e in est.items():
            a = e["all"]
            later = e.get("later_half", {})
            cov = f"{fmt(a['coverage'])} / {fmt(later.get('coverage'))}" if "coverage" in a else "-"

            def bold(s, best, v=None):
                return f"**{s}**" if v == best else s

            body.append([trace_label(t["trace"]), str(a["jobs"]), name,
                         bold(intc(a["mae"]), best_mae, a["mae"]), intc(a["median_ae"]),
                         bold(fmt(a["accuracy"]), best_acc, a["accuracy"]), fmt(a["underestimation_rate"]), cov,
                         intc(e.get("median_interval_width")), fmt(e["new_users"]["accuracy"]),
                         fmt(e["frequent_users"]["accuracy"]), f"{e['wall_s']:.1f}"])
    return rows(["trace", "jobs", "estimator", "MAE (s)", "median AE (s)", "accuracy", "underest.",
                 "coverage all / later half", "median width (s)", "new-user acc", "frequent-user acc", "wall (s)"],
                body) + f"\n\nBest accuracy and MAE per trace in bold. Whole benchmark: {d['total_wall_s']:.0f} s."


@table("estimate-quarters")
def _estimate_quarters(d: dict) -> str:
    body = [[trace_label(t["trace"]), *(fmt(q) for q in t["estimators"]["gbm"]["coverage_by_quarter"]),
             str(t["estimators"]["gbm"]["trainings"])] for t in d["traces"]]
    return rows(["trace", "Q1", "Q2", "Q3", "Q4", "trainings"], body)


@table("estimate-selection")
def _estimate_selection(d: dict) -> str:
    body = []
    for t in d["traces"]:
        g = t["estimators"]["gbm"]
        src = g.get("sources", {})
        body.append([trace_label(t["trace"]), f"{fmt(g['model_only']['accuracy'])} / {intc(g['model_only']['mae'])}",
                     f"{fmt(g['all']['accuracy'])} / {intc(g['all']['mae'])}",
                     f"{src.get('requested', 0)} / {src.get('tsafrir', 0)} of {g['all']['jobs']}"])
    return rows(["trace", "model alone: accuracy / MAE (s)", "with the choice: accuracy / MAE (s)",
                 "answers from requested / Tsafrir"], body)


@table("estimate-offline-coverage")
def _estimate_offline(d: dict) -> str:
    levels = list(d["traces"][0]["offline_coverage_by_level"])
    body = [[trace_label(t["trace"]), *(fmt(t["offline_coverage_by_level"][k]) for k in levels)] for t in d["traces"]]
    return rows(["trace", *levels], body)


@table("estimate-targets")
def _estimate_targets(d: dict) -> str:
    keys = list(d["traces"][0]["targets"])
    body = [[trace_label(t["trace"]), *("met" if t["targets"][k] else "**not met**" for k in keys)] for t in d["traces"]]
    return rows(["trace", *(k.replace("_", " ") for k in keys)], body)


SCHED_POLICIES = [("easy_requested", "EASY, requested"), ("easy_oracle", "EASY, oracle"),
                  ("easy_tsafrir", "EASY, Tsafrir"), ("easy_sjbf_tsafrir", "EASY++ (Tsafrir + SJBF)"),
                  ("easy_gbm", "EASY, GBM"), ("easy_sjbf_gbm", "EASY-SJBF, GBM")]


@table("estimate-scheduling")
def _estimate_scheduling(d: dict) -> str:
    present = [(k, label) for k, label in SCHED_POLICIES if any(k in t for t in d["traces"].values())]
    body = []
    gaps: dict[str, list[float]] = {k: [] for k, _ in present}
    for name, t in d["traces"].items():
        cells = []
        for k, _ in present:
            p = t.get(k)
            if p is None:
                cells.append("-")
                continue
            s = f"{p['avg_bsld_mean']:.2f} ({p['avg_bsld_min']:.2f}-{p['avg_bsld_max']:.2f})"
            g = p.get("gap_of_means")
            if k not in ("easy_requested", "easy_oracle") and g is not None and math.isfinite(g):
                s += f", gap {g:.2f} [{p['gap_closed_min']:.2f}, {p['gap_closed_max']:.2f}]"
                gaps[k].append(g)
            cells.append(s)
        body.append([trace_label(name), *cells])
    mean_gaps = ", ".join(f"{label} {sum(gaps[k]) / len(gaps[k]):.2f}" for k, label in present if gaps[k])
    return (rows(["trace", *(label for _, label in present)], body)
            + f"\n\nGap closed, mean over the traces with a gap: {mean_gaps}. Runs per policy: {d['shakes']} "
              f"(seeds {', '.join(map(str, d['seeds']))}).")


# ---- tune ---------------------------------------------------------------------------------------

@table("tune-replay-score")
def _tune_replay(d: dict) -> str:
    spaces = list(d["per_space"])
    default = d["default_strategy"]
    body = []
    for s in sorted(d["scores"], key=lambda s: (s != default, -d["scores"][s])):
        name = f"**{s}** (default)" if s == default else s
        cells = [f"{fmt(d['per_space'][sp][s]['score'])} ± {fmt(d['per_space'][sp][s]['std'], 2)}"
                 if s in d["per_space"][sp] else "-" for sp in spaces]
        mean = fmt(d["scores"][s])
        body.append([name, *cells, f"**{mean}**" if s == default else mean])
    head = [f"strategy (score ± std over {d['repeats']} runs)",
            *(f"{sp} (B={d['per_space'][sp]['budget']})" for sp in spaces), "mean"]
    secs = "; ".join(f"{sp}: " + ", ".join(f"{s} {v['seconds_per_run']:.0f} s" for s, v in d["per_space"][sp].items()
                                           if isinstance(v, dict)) for sp in spaces)
    return rows(head, body) + f"\n\nSeed base {d['seed_base']}; seconds per run: {secs}."


def _cfg(c: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in c.items())


@table("tune-kernels")
def _tune_kernels(d: dict) -> str:
    body = []
    for name, r in d["kernels"].items():
        iqr = r["speedup_iqr"]
        body.append([f"{name} ({' '.join(map(str, r.get('run_args') or []))})", _cfg(r["best_config"]),
                     f"{r['evaluations']} ({r['best_found_at_evaluation']})", f"{r['reference_seconds']:.3g} s",
                     f"{r['tuned_seconds']:.3g} s", f"**{r['speedup']:.2f}x** ({iqr[0]:.2f}-{iqr[1]:.2f})",
                     "equal" if r["checksums_equal"] else "**differ**", r["strategy"]])
    return rows(["kernel (arguments)", "best configuration", "evaluations (best at)", "plain -O3", "tuned",
                 "speedup (IQR of pairs)", "checksums", "strategy"], body) + \
        f"\n\nTarget ({d['target']}): {'met' if d['met'] else '**not met**'}."


@table("tune-flags")
def _tune_flags(d: dict) -> str:
    body = []
    for name, r in d["kernels"].items():
        statuses = ", ".join(f"{v} {k.lower().replace('_', ' ')}" for k, v in (r.get("status_counts") or {}).items())
        improved = r["best_flags"] != r["baseline_flags"]
        if improved:
            lo, hi = r["speedup_iqr"]
            flags, best, speed = " ".join(r["best_flags"]), f"{r['best_seconds']:.3g} s", f"{r['speedup']:.2f}x ({lo:.2f}-{hi:.2f})"
        else:
            flags = (f"{' '.join(r['baseline_flags'])} (the search's best, {' '.join(r['candidate_flags']) or '-'}, "
                     f"measured {r['measured_speedup']:.2f}x interleaved)")
            best, speed = "-", f"{r['speedup']:.2f}x"
        body.append([f"{name} ({' '.join(map(str, r.get('run_args') or []))})" if r.get("run_args") else name, flags,
                     f"{r['baseline_seconds']:.3g} s", best, speed, statuses])
    body.append(["**geometric mean**", "", "", "", f"**{d['geomean_speedup']:.2f}x**", ""])
    return rows(["kernel", "best flags", "-O3", "best", "speedup (IQR)", "statuses"], body) + \
        f"\n\nTarget: {d['target']}."


@table("tune-transfer")
def _tune_transfer(d: dict) -> str:
    med = d["median_best_seconds_at_k"]
    ks = list(med["cold"])
    label = {"cold": "cold start", "warm": f"warm start from n={d['source']['n']}"}
    body = [[label.get(m, m), *(f"{v[k]:.3g} s" for k in ks)] for m, v in med.items()]
    return rows(["k", *ks], body) + (f"\n\nSource study: n={d['source']['n']}, {d['source']['budget']} evaluations; "
                                     f"target n={d['target']['n']}, {d['target']['budget']} evaluations, "
                                     f"seeds {d['target']['seeds']}.")


@table("tune-cost-model")
def _tune_cost_model(d: dict) -> str:
    body = []
    for space, per in d["spaces"].items():
        for split, r in per.items():
            body.append([space, f"{r['train']} / {r['test']}", f"{100 * r['median_ape']:.1f} %", fmt(r["spearman"]),
                         f"{100 * r['baseline_median_ape']:.1f} %"])
    return rows(["space", "train / test configurations", "median abs. % error", "Spearman",
                 "median predictor's error"], body)


# ---- detect -------------------------------------------------------------------------------------

@table("detect-speed")
def _detect_speed(d: dict) -> str:
    body = [[name, f"{r['rows']:,}", str(r["repeats"]), f"{r['seconds_median']:.3f}", f"{r['samples_per_s'] / 1e6:.2f} M",
             {True: "met", False: "**not met**", None: ""}[r.get("target_100k_met")]]
            for name, r in d["scoring"].items()]
    out = rows(["detector", "rows scored", "repeats", "median seconds", "samples/s", "target >= 100,000/s"], body)
    if "lstm" in d:
        lstm = d["lstm"]
        out += (f"\n\nLSTM: fit on {lstm['train_rows']:,} rows in {lstm['fit_s']:.0f} s with {lstm['threads']} threads "
                f"(target under 300 s: {'met' if lstm['fit_under_300s'] else '**not met**'}), "
                f"scoring {lstm['score_samples_per_s'] / 1e3:.0f}k samples/s.")
    return out + f"\n\nEntity {d['entity']}, {d['metrics']} metrics (its test rows tiled to {d['rows']:,})."


@table("tune-dist")
def _tune_dist(d: dict) -> str:
    st, sh, ex, to, mem = d["storage"], d["shared_study"], d["executors"], d["timeout"], d["memory"]
    storage = ", ".join(f"{k} {1e3 * v['seconds_per_trial_median']:.1f} ms" for k, v in st.items())
    shared = "; ".join(f"{k} {v['wall_s']:.2f} s (1 process: {v['one_process_wall_s']:.2f} s), {v['trials']} trials, "
                       f"{v['measured_twice']} measured twice, {v['owners']} owners" for k, v in sh.items())
    execs = ", ".join(f"{k} {v['wall_s']:.2f} s{'' if v['same_results_as_serial'] else ' (**results differ from serial**)'}"
                      for k, v in ex.items())
    calls = to["median_seconds_per_trivial_call"]
    obs = d.get("observers") or {}
    energy = obs.get("energy") if isinstance(obs, dict) else None
    body = [
        ["cost of one stored trial (start + finish, each write committed and fsynced; median over runs)", storage],
        [f"{next(iter(sh.values()))['processes']} processes on one study, 60 evaluations of a 20 ms (sleeping) callable, "
         "against the same study in one process", shared],
        ["12 evaluations of a 0.2 s deterministic callable, 2 workers (results stored)", execs],
        [f"callable sleeping 60 s, `timeout={to['timeout_s']}`", f"{to['status']} after {to['seconds_to_timeout_result']:.2f} s"],
        ["a trivial call in a child process instead of in-process",
         f"{1e3 * calls['child_process']:.1f} ms vs {1e3 * calls['in_process']:.3f} ms per call"],
        ["peak memory of children allocating 16 and 256 MiB",
         f"{mem['max_rss_mib_16']:.1f} and {mem['max_rss_mib_256']:.1f} MiB: difference {mem['difference_mib']:.1f} MiB "
         f"for {mem['expected_difference_mib']} allocated"],
    ]
    if energy is not None:
        body.append(["energy (RAPL) on this machine", json.dumps(energy) if not isinstance(energy, str) else energy])
    return rows(["what", "figure"], body)
