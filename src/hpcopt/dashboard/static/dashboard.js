// hpcopt dashboard: a face over the service's /v1 routes. It renders stored Result payloads
// and computes nothing of its own; where the store has no data, it names the command that makes it.
"use strict";

const KEY = "hpcopt.token";
const content = () => document.getElementById("content");

// ---------------------------------------------------------------- DOM helpers (text only, never raw HTML)
function el(tag, attrs, ...kids) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) n.addEventListener(k.slice(2), v);
    else if (k === "class") n.className = v;
    else n.setAttribute(k, v === true ? "" : v);
  }
  for (const c of kids.flat()) if (c !== null && c !== undefined) n.append(c instanceof Node ? c : String(c));
  return n;
}
function fmt(v) {
  if (typeof v === "number") {
    if (!Number.isFinite(v)) return String(v);
    if (Number.isInteger(v)) return v.toLocaleString("en");
    return Math.abs(v) < 10 ? v.toFixed(4) : v.toLocaleString("en", {maximumFractionDigits: 1});
  }
  if (v === null || v === undefined) return "-";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}
function when(t) { return t ? new Date(t * 1000).toISOString().replace("T", " ").slice(0, 19) : "-"; }
function table(head, rows, opts) {
  const o = opts || {};
  return el("table", {id: o.id, class: o.cls},
    el("thead", {}, el("tr", {}, head.map((h, i) => el("th", {class: i === 0 ? "l" : null}, h)))),
    el("tbody", {}, rows));
}
function empty(what, command) {
  return el("div", {class: "empty"}, el("p", {}, what), command ? el("p", {}, "Make it with: ", el("code", {}, command)) : null);
}
function note(text) { return el("p", {class: "note"}, text); }
function plot(id, traces, layout) {
  const div = el("div", {id, class: "plot"});
  content().append(div);
  window.Plotly.newPlot(div, traces, Object.assign({margin: {t: 40, r: 20}, font: {family: "system-ui,sans-serif"}},
    layout), {responsive: true, displaylogo: false});
  return div;
}

// ---------------------------------------------------------------- the service, with the token
class Unauthorized extends Error {}
async function api(path, accept) {
  const token = sessionStorage.getItem(KEY);
  const r = await fetch(path, {headers: {Authorization: "Bearer " + token, Accept: accept || "application/json"}});
  if (r.status === 401) throw new Unauthorized("the token was refused");
  if (!r.ok) {
    let msg = r.status + " " + r.statusText;
    try { const e = (await r.json()).error; msg = e.message + (e.hint ? " (" + e.hint + ")" : ""); } catch (_) { /* not JSON */ }
    throw new Error(msg);
  }
  return accept ? r.text() : r.json();
}
async function post(path, body) {
  const r = await fetch(path, {method: "POST", headers: {Authorization: "Bearer " + sessionStorage.getItem(KEY),
    "Content-Type": "application/json", Accept: "application/json"}, body: JSON.stringify(body)});
  const data = await r.json().catch(() => ({}));
  if (r.status === 401) throw new Unauthorized("the token was refused");
  if (!r.ok) { const e = data.error || {}; throw new Error((e.message || r.status + " " + r.statusText) + (e.hint ? " (" + e.hint + ")" : "")); }
  return data;
}
const runs = (q) => api("/v1/runs?" + new URLSearchParams(Object.assign({limit: "200"}, q || {}))).then((d) => d.runs);
const run = (id) => api("/v1/runs/" + encodeURIComponent(id));
const payloadOf = (r) => (r.result && r.result.payload) || {};

// scalar leaves of a payload as dotted keys (what the compare view lines up side by side)
function flatten(obj, prefix, out) {
  out = out || {};
  for (const [k, v] of Object.entries(obj || {})) {
    const key = prefix ? prefix + "." + k : k;
    if (v !== null && typeof v === "object" && !Array.isArray(v)) flatten(v, key, out);
    else if (Array.isArray(v) && v.length && v.every((x) => x && typeof x === "object" && !Array.isArray(x))) {
      const label = Object.keys(v[0]).find((c) => typeof v[0][c] === "string");
      v.forEach((x, i) => flatten(x, key + "[" + (label ? x[label] : i) + "]", out));
    } else out[key] = v;
  }
  return out;
}

// a picker over the runs of some tasks: the newest is shown, the others one click away
async function runPicker(tasks, render, emptyText, command) {
  const all = (await Promise.all(tasks.map((t) => runs({task: t, status: "succeeded"})))).flat()
    .sort((a, b) => b.started_at - a.started_at);
  if (!all.length) { content().append(empty(emptyText, command)); return; }
  const sel = el("select", {id: "run-pick", "aria-label": "run"},
    all.map((r) => el("option", {value: r.id}, `${when(r.started_at)}  ${r.task}  ${r.id.slice(0, 8)}`)));
  const holder = el("div", {id: "run-view"});
  const show = async () => {
    holder.replaceChildren();
    const r = await run(sel.value);
    const box = el("div", {});
    holder.append(box);
    await render(r, box);
  };
  sel.addEventListener("change", () => show().catch(fail));
  content().append(el("p", {}, "Run: ", sel, " ", el("a", {href: "", id: "run-link"}, "details")), holder);
  sel.addEventListener("change", () => { document.getElementById("run-link").href = "/dashboard/compare?runs=" + sel.value; });
  document.getElementById("run-link").href = "/dashboard/compare?runs=" + sel.value;
  await show();
}

// ---------------------------------------------------------------- pages
const PAGES = {};

PAGES.runs = async function () {
  const c = content();
  const tasks = (await api("/v1/tasks")).tasks.map((t) => t.name);
  const task = el("select", {id: "f-task", "aria-label": "task"}, el("option", {value: ""}, "every task"),
    tasks.map((t) => el("option", {value: t}, t)));
  const status = el("select", {id: "f-status", "aria-label": "status"}, el("option", {value: ""}, "every status"),
    ["succeeded", "failed", "running", "interrupted"].map((s) => el("option", {value: s}, s)));
  const text = el("input", {id: "f-text", type: "search", placeholder: "filter by id, schema, parameter", "aria-label": "filter"});
  const button = el("button", {id: "compare-selected", type: "button", disabled: true}, "Compare selected");
  const holder = el("div", {});
  c.append(el("div", {class: "filters"}, task, status, text, button), holder);
  const chosen = new Set();
  button.addEventListener("click", () => { location.href = "/dashboard/compare?runs=" + [...chosen].join(","); });
  let rows = [];
  const draw = () => {
    const needle = text.value.trim().toLowerCase();
    const shown = rows.filter((r) => !needle || JSON.stringify(r).toLowerCase().includes(needle));
    holder.replaceChildren(shown.length ? table(["", "run", "task", "status", "schema", "seed", "started", "seconds"],
      shown.map((r) => el("tr", {"data-run": r.id},
        el("td", {}, el("input", {type: "checkbox", class: "pick", value: r.id, checked: chosen.has(r.id),
          "aria-label": "select " + r.id, onchange: (e) => {
            e.target.checked ? chosen.add(r.id) : chosen.delete(r.id);
            button.disabled = chosen.size < 2;
            button.textContent = `Compare selected (${chosen.size})`;
          }})),
        el("td", {class: "l"}, el("a", {href: "/dashboard/compare?runs=" + r.id}, r.id.slice(0, 12))),
        el("td", {class: "l"}, r.task), el("td", {class: r.status === "failed" ? "bad" : null}, r.status),
        el("td", {class: "l"}, r.result_schema || "-"), el("td", {}, fmt(r.seed)), el("td", {}, when(r.started_at)),
        el("td", {}, fmt(r.duration_s)))), {id: "runs-table"})
      : empty("No recorded runs match.", "hpcopt compare --trace TRACE.swf   (every task run is recorded unless --no-record)"));
  };
  const load = async () => {
    const q = {};
    if (task.value) q.task = task.value;
    if (status.value) q.status = status.value;
    rows = await runs(q);
    draw();
  };
  task.addEventListener("change", () => load().catch(fail));
  status.addEventListener("change", () => load().catch(fail));
  text.addEventListener("input", draw);
  await load();
  c.append(submitPanel(tasks, load));
};

// submit a task through the service's job route (needs a token with the run scope), follow the job
function submitPanel(tasks, reload) {
  const name = el("select", {id: "s-task", "aria-label": "task to run"}, tasks.map((t) => el("option", {value: t}, t)));
  const params = el("textarea", {id: "s-params", rows: 4, cols: 80, "aria-label": "parameters",
    placeholder: '{"trace": "jobs.swf", "policies": ["fcfs", "fcfs+easy"]}'});
  const out = el("p", {id: "s-status"});
  const go = el("button", {id: "s-submit", type: "button"}, "Submit");
  go.addEventListener("click", async () => {
    out.replaceChildren();
    out.className = "";
    try {
      let body;
      try { body = JSON.parse(params.value || "{}"); } catch (e) { throw new Error("the parameters are not JSON: " + e.message); }
      const job = (await post(`/v1/tasks/${encodeURIComponent(name.value)}/jobs`, {parameters: body})).job;
      out.textContent = `job ${job.id}: ${job.status}`;
      let j = job;
      while (!["succeeded", "failed", "cancelled", "interrupted"].includes(j.status)) {
        await new Promise((res) => setTimeout(res, 500));
        j = (await api("/v1/jobs/" + job.id)).job;
        const pr = j.progress ? ` (${fmt(j.progress.done || j.progress.step)} / ${fmt(j.progress.total)})` : "";
        out.textContent = `job ${job.id}: ${j.status}${pr}`;
      }
      out.replaceChildren(`job ${job.id}: ${j.status}`, j.error ? ` (${j.error.message})` : "", " ",
        j.run_id ? el("a", {id: "s-run", href: "/dashboard/compare?runs=" + j.run_id}, "its run") : "");
      if (j.status !== "succeeded") out.className = "bad";
      await reload();
    } catch (err) {
      if (err instanceof Unauthorized) return fail(err);
      out.className = "bad";
      out.textContent = String(err.message || err);
    }
  });
  return el("section", {id: "submit"}, el("h2", {}, "Run a task"),
    note("Submitted through POST /v1/tasks/NAME/jobs: the token needs the run scope; file parameters name files under the service's data roots (a relative path is taken under the first)."),
    el("p", {}, name), params, el("p", {}, go), out);
}

PAGES.compare = async function () {
  const ids = (new URLSearchParams(location.search).get("runs") || "").split(",").filter(Boolean);
  if (!ids.length) { content().append(empty("No runs chosen: tick two or more on the Runs page.", null)); return; }
  const rs = await Promise.all(ids.map(run));
  const flat = rs.map((r) => flatten(payloadOf(r)));
  const params = rs.map((r) => r.parameters || {});
  const head = ["", ...rs.map((r) => r.id.slice(0, 12))];
  const row = (label, vals) => {
    const differ = vals.length > 1 && new Set(vals.map((v) => JSON.stringify(v))).size > 1;
    return el("tr", {class: differ ? "diff" : null}, el("td", {class: "l"}, label), vals.map((v) => el("td", {}, fmt(v))));
  };
  const c = content();
  c.append(note(rs.length > 1 ? "Side by side; rows whose values differ are highlighted." : "One run."));
  c.append(el("h2", {}, "Runs"), table(head, [
    row("task", rs.map((r) => r.task)), row("status", rs.map((r) => r.status)), row("schema", rs.map((r) => r.result_schema)),
    row("seed", rs.map((r) => r.seed)), row("started", rs.map((r) => when(r.started_at))),
    row("seconds", rs.map((r) => r.duration_s)), row("hpcopt", rs.map((r) => (r.versions || {}).hpcopt)),
  ], {id: "compare-runs", cls: "side-table"}));
  const pkeys = [...new Set(params.flatMap(Object.keys))].sort();
  c.append(el("h2", {}, "Parameters"), table(head, pkeys.map((k) => row(k, params.map((p) => p[k]))), {id: "compare-params"}));
  const keys = [...new Set(flat.flatMap(Object.keys))].filter((k) => flat.some((f) => typeof f[k] === "number")).sort();
  c.append(el("h2", {}, "Results"), keys.length ? table(head, keys.map((k) => row(k, flat.map((f) => f[k]))), {id: "compare-results"})
    : note("These runs hold no numeric results."));
  if (keys.length && rs.length > 1) {
    const both = keys.filter((k) => flat.every((f) => typeof f[k] === "number"));
    const shared = both.filter((k) => flat.some((f) => f[k] !== flat[0][k])).slice(0, 40);
    if (both.length && !shared.length) c.append(note(`The ${both.length} results every run has are equal in all of them.`));
    if (shared.length) {
      c.append(el("h2", {}, "Results every run has that differ, relative to the first run"));
      plot("compare-plot", rs.map((r, i) => ({type: "bar", name: r.id.slice(0, 12), x: shared,
        y: shared.map((k) => (flat[0][k] ? flat[i][k] / flat[0][k] : null))})),
      {barmode: "group", yaxis: {title: {text: "value / first run's value"}}, xaxis: {automargin: true}});
    }
  }
  rs.forEach((r) => { if (r.error) c.append(el("h2", {}, "Error of " + r.id.slice(0, 12)), el("pre", {}, JSON.stringify(r.error, null, 2))); });
};

PAGES.models = async function () {
  const ms = (await api("/v1/models")).models;
  if (!ms.length) {
    content().append(empty("The model registry is empty.",
      "hpcopt estimate train --trace TRACE.swf --out models/rt --register runtime   (or: hpcopt detect fit ... --register NAME)"));
    return;
  }
  const names = [...new Set(ms.map((m) => m.name))];
  content().append(table(["model", "versions", "kind", "aliases", "latest metrics"], names.map((n) => {
    const vs = ms.filter((m) => m.name === n).sort((a, b) => b.version - a.version);
    return el("tr", {}, el("td", {class: "l"}, el("a", {href: "#" + n, onclick: () => versions(n).catch(fail)}, n)),
      el("td", {}, vs.length), el("td", {class: "l"}, vs[0].kind), el("td", {class: "l"}, vs.flatMap((v) => v.aliases.map((a) => `${a}=v${v.version}`)).join(", ")),
      el("td", {class: "l"}, Object.entries(vs[0].metrics || {}).slice(0, 4).map(([k, v]) => `${k}=${fmt(v)}`).join(", ")));
  }), {id: "models-table"}), el("div", {id: "versions"}));
  async function versions(name) {
    const vs = (await api("/v1/models/" + encodeURIComponent(name))).models.sort((a, b) => a.version - b.version);
    const box = document.getElementById("versions");
    box.replaceChildren(el("h2", {}, name));
    const mkeys = [...new Set(vs.flatMap((v) => Object.keys(v.metrics || {})))].sort();
    box.append(table(["version", "created", "run", "aliases", ...mkeys], vs.map((v) => el("tr", {},
      el("td", {class: "l"}, "v" + v.version), el("td", {}, when(v.created_at)),
      el("td", {}, v.run_id ? el("a", {href: "/dashboard/compare?runs=" + v.run_id}, v.run_id.slice(0, 12)) : "-"),
      el("td", {}, v.aliases.join(", ")), mkeys.map((k) => el("td", {}, fmt((v.metrics || {})[k])))))));
    // drift advice: what the runs that used a version (estimate.predict, via model:NAME) said of it
    const used = (await Promise.all((await runs({task: "estimate.predict", status: "succeeded", limit: "50"})).map((r) => run(r.id))))
      .filter((r) => (r.input_models || []).some((m) => m.startsWith(name + ":")) && payloadOf(r).drift);
    box.append(el("h3", {}, "Drift advice"));
    box.append(used.length ? table(["run", "version", "trace", "advice", "recent / training error", "retrain"], used.map((r) => {
      const d = payloadOf(r).drift;
      return el("tr", {}, el("td", {class: "l"}, el("a", {href: "/dashboard/compare?runs=" + r.id}, r.id.slice(0, 12))),
        el("td", {}, r.input_models.filter((m) => m.startsWith(name + ":")).map((m) => "v" + m.split(":").pop()).join(", ")),
        el("td", {class: "l"}, payloadOf(r).trace), el("td", {class: "l"}, d.advice), el("td", {}, fmt(d.ratio)),
        el("td", {class: d.retrain ? "bad" : null}, d.retrain ? "yes" : "no"));
    }), {id: "drift-table"}) : empty("No run has checked this model for drift.", `hpcopt estimate predict --model model:${name} --trace RECENT.swf`));
  }
};

PAGES.schedule = async function () {
  await runPicker(["schedule.compare"], async (r, c) => {
    const p = payloadOf(r);
    const pol = p.policies || [];
    c.append(note(`Trace ${p.trace}, ${fmt(p.procs)} processors, reservations on ${p.runtime} runtimes` +
      (p.runtime_model ? ` (model ${p.runtime_model})` : "") + "."));
    const cols = Object.keys(pol[0] || {}).filter((k) => k !== "policy");
    c.append(table(["policy", ...cols], pol.map((x) => el("tr", {}, el("td", {class: "l"}, x.policy), cols.map((k) => el("td", {}, fmt(x[k]))))), {id: "policies-table"}));
    const div = el("div", {id: "policies-plot", class: "plot"});
    c.append(div);
    window.Plotly.newPlot(div, ["avg_wait", "median_wait", "p95_wait"].map((k) => ({type: "bar", name: k, x: pol.map((x) => x.policy), y: pol.map((x) => x[k])})),
      {title: {text: "Wait times per policy (s)"}, barmode: "group", margin: {t: 40}}, {responsive: true, displaylogo: false});
    const div2 = el("div", {id: "bsld-plot", class: "plot"});
    c.append(div2);
    window.Plotly.newPlot(div2, [{type: "bar", name: "avg bounded slowdown", x: pol.map((x) => x.policy), y: pol.map((x) => x.avg_bsld)},
      {type: "scatter", mode: "markers", name: "utilization", yaxis: "y2", x: pol.map((x) => x.policy), y: pol.map((x) => x.utilization)}],
    {title: {text: "Bounded slowdown and utilization"}, yaxis2: {overlaying: "y", side: "right", range: [0, 1.05], title: {text: "utilization"}}, margin: {t: 40}},
    {responsive: true, displaylogo: false});
    if (p.cleaning) c.append(el("h2", {}, "Cleaning"), el("pre", {}, JSON.stringify(p.cleaning, null, 2)));
    await perJob(r, p, c);
  }, "No policy comparison is recorded.", "hpcopt compare --trace TRACE.swf");
};

// wait-time CDFs and queue over time: from the per-job tables of simulations of the same trace
async function perJob(cmp, p, c) {
  c.append(el("h2", {}, "Wait-time CDFs and queue over time"));
  const trace = (cmp.inputs || {}).trace;
  const sims = await Promise.all((await runs({task: "schedule.simulate", status: "succeeded", limit: "50"})).map((s) => run(s.id)));
  const same = sims.filter((s) => (s.inputs || {}).trace === trace && (s.artifacts || []).some((a) => a.name === "jobs_out"));
  if (!same.length) {
    c.append(el("div", {class: "empty", id: "per-job-note"}, el("p", {}, "These figures need per-job data, which a hpcopt.compare/1 " +
      "result does not hold. Record a simulation of the same trace with its per-job table (one per policy):"),
      el("p", {}, el("code", {}, `hpcopt simulate --trace ${p.trace} --order fcfs --backfill easy --jobs-out jobs-fcfs-easy.csv`)),
      el("p", {}, "or see them in the comparison's HTML report: ", el("code", {}, `hpcopt compare --trace ${p.trace} --report compare.html`))));
    return;
  }
  const figs = await Promise.all(same.map((s) => api(`/dashboard/api/runs/${encodeURIComponent(s.id)}/jobs`)));
  const label = (s) => { const q = payloadOf(s); return `${q.order}+${q.backfill} (${s.id.slice(0, 8)})`; };
  const t0 = Math.min(...figs.map((f) => f.queue.time[0]));
  c.append(note(`From ${same.length} recorded simulation(s) of the same trace (same input SHA-256) with a per-job table.`));
  const cdf = el("div", {id: "cdf-plot", class: "plot"});
  const queue = el("div", {id: "queue-plot", class: "plot"});
  c.append(cdf, queue);
  window.Plotly.newPlot(cdf, figs.map((f, i) => ({type: "scatter", mode: "lines", line: {shape: "hv"}, name: label(same[i]),
    x: f.wait_cdf.wait_s.map((w) => Math.max(w, 1)), y: f.wait_cdf.share})),
  {title: {text: "Wait-time CDF per policy"}, xaxis: {type: "log", title: {text: "wait time (s, log; waits under 1 s drawn at 1 s)"}},
    yaxis: {title: {text: "share of jobs"}, range: [0, 1.02]}, margin: {t: 40}}, {responsive: true, displaylogo: false});
  window.Plotly.newPlot(queue, figs.map((f, i) => ({type: "scatter", mode: "lines", line: {shape: "hv", width: 1}, name: label(same[i]),
    x: f.queue.time.map((t) => (t - t0) / 86400), y: f.queue.queue})),
  {title: {text: "Queued jobs over time"}, xaxis: {title: {text: "days since the first submit"}, rangeslider: {visible: true}},
    yaxis: {title: {text: "queued jobs"}}, margin: {t: 40}}, {responsive: true, displaylogo: false});
}


PAGES.detect = async function () {
  await runPicker(["detect.evaluate", "detect.score"], async (r, c) => {
    const p = payloadOf(r);
    if (r.task === "detect.evaluate") {
      c.append(note(`${p.detector} on ${p.entity}: ${fmt(p.n_test)} test rows, ${fmt(p.n_metrics)} metrics, threshold ${fmt(p.threshold && p.threshold.value)} (${p.threshold && p.threshold.method}).`));
      const base = p.random_baseline || {};
      const ks = ["f1", "precision", "recall", "auroc", "auprc", "event_recall", "pa_f1", "false_alarms_per_day"];
      c.append(table(["metric", "detector", "random detector"], ks.map((k) => el("tr", {}, el("td", {class: "l"}, k), el("td", {}, fmt(p[k])), el("td", {}, fmt(base[k])))), {id: "detect-metrics"}));
      if (p.protocol) c.append(note("Protocol: " + p.protocol));
    } else {
      c.append(note(`${fmt(p.n_rows)} rows scored, threshold ${fmt(p.threshold)} (${p.threshold_method}), alert rate ${fmt(p.alert_rate)}. ${p.note || ""}`));
    }
    const alerts = p.alerts || [];
    c.append(el("h2", {}, "Alerts and their culprit metrics"), alerts.length
      ? table(["rows", "peak score", "culprits (metric: contribution)"], alerts.map((a) => el("tr", {},
        el("td", {class: "l"}, `${a.start}-${a.end}`), el("td", {}, fmt(a.peak_score)),
        el("td", {class: "l"}, a.culprits.map((x) => `${x.metric}: ${fmt(x.contribution)}`).join(", ")))), {id: "alerts-table"})
      : note("No alerts."));
    const art = (r.artifacts || []).find((a) => a.name === "scores_out");
    if (!art) {
      c.append(el("div", {class: "empty", id: "scores-note"}, el("p", {}, "The score plot needs the per-row scores, which this run did not write."),
        el("p", {}, "Rerun with ", el("code", {}, "--scores-out scores.csv"), " to record them.")));
      return;
    }
    const csv = await api(`/dashboard/api/runs/${encodeURIComponent(r.id)}/artifacts/scores_out`, "text/csv");
    const lines = csv.trim().split("\n");
    const cols = lines[0].split(",");
    const data = Object.fromEntries(cols.map((k) => [k, []]));
    for (const line of lines.slice(1)) line.split(",").forEach((v, i) => data[cols[i]].push(Number(v)));
    const traces = [{type: "scatter", mode: "lines", name: "score", x: data.index, y: data.score, line: {width: 1}}];
    if (data.threshold) traces.push({type: "scatter", mode: "lines", name: "threshold", x: data.index, y: data.threshold, line: {dash: "dot"}});
    else if (p.threshold) {
      const thr = typeof p.threshold === "number" ? p.threshold : p.threshold.value;
      traces.push({type: "scatter", mode: "lines", name: "threshold", x: [data.index[0], data.index[data.index.length - 1]], y: [thr, thr], line: {dash: "dot"}});
    }
    const shapes = alerts.map((a) => ({type: "rect", xref: "x", yref: "paper", x0: a.start, x1: a.end, y0: 0, y1: 1, fillcolor: "#d62728", opacity: 0.15, line: {width: 0}}));
    if (data.label) data.label.forEach((v, i) => { if (v && !data.label[i - 1]) shapes.push({type: "line", xref: "x", yref: "paper", x0: i, x1: i, y0: 0, y1: 1, line: {color: "#2ca02c", width: 1}}); });
    const div = el("div", {id: "scores-plot", class: "plot"});
    c.append(el("h2", {}, "Scores (drag to zoom, double-click to reset)"), div,
      note("Red bands: alerts; green lines: starts of labelled anomalies (when the run had labels)."));
    window.Plotly.newPlot(div, traces, {shapes, xaxis: {title: {text: "row"}, rangeslider: {visible: true}}, yaxis: {title: {text: "anomaly score"}}, margin: {t: 20}},
      {responsive: true, displaylogo: false});
  }, "No detection run is recorded.", "hpcopt detect evaluate --train TRAIN --test TEST --labels LABELS --scores-out scores.csv");
};

PAGES.tune = async function () {
  await runPicker(["tune.replay", "tune.run", "tune.report", "tune.compare_strategies"], (r, c) => {
    const p = payloadOf(r);
    const flat = flatten(p);
    const nums = Object.keys(flat).filter((k) => typeof flat[k] === "number");
    c.append(table(["value", r.task], nums.map((k) => el("tr", {}, el("td", {class: "l"}, k), el("td", {}, fmt(flat[k])))), {id: "tune-table"}));
    const imp = p.importance;
    if (imp && typeof imp === "object") {
      const names = Object.keys(imp).filter((k) => typeof imp[k] === "number");
      const cm = p.cost_model || {};
      const div = el("div", {id: "importance-plot", class: "plot"});
      c.append(el("h2", {}, "Parameter importance"), div, note("Caveat: this is the importance inside a cost model fitted on " +
        `the study's own trials (${fmt(cm.train)} to fit, ${fmt(cm.test)} held out: median error ${fmt(cm.median_ape)} against ` +
        `${fmt(cm.baseline_median_ape)} for the median, Spearman ${fmt(cm.spearman)}). It describes that model, not the kernel; ` +
        "it is only as trustworthy as the model's held-out error, and correlated parameters share their importance."));
      window.Plotly.newPlot(div, [{type: "bar", x: names, y: names.map((k) => imp[k])}], {margin: {t: 20}, yaxis: {title: {text: "importance"}}},
        {responsive: true, displaylogo: false});
    }
    const front = p.pareto_front;
    if (Array.isArray(front) && front.length && (p.objectives || []).length >= 2) {
      const [a, b] = p.objectives;
      const div = el("div", {id: "pareto-plot", class: "plot"});
      c.append(el("h2", {}, "Pareto front"), div);
      window.Plotly.newPlot(div, [{type: "scatter", mode: "markers+lines", line: {shape: "hv"}, name: "Pareto front",
        x: front.map((f) => f.values[0]), y: front.map((f) => f.values[1]), text: front.map((f) => JSON.stringify(f.config))}],
      {xaxis: {title: {text: `${a} (${p.directions[0]})`}}, yaxis: {title: {text: `${b} (${p.directions[1]})`}}, margin: {t: 20}},
      {responsive: true, displaylogo: false});
    }
    c.append(el("div", {class: "empty", id: "tune-note"}, el("p", {}, "Convergence curves need every trial's value, which these " +
      "results do not hold; a stored study's HTML report draws them (with the importance and the Pareto front):"),
      el("p", {}, el("code", {}, "hpcopt tune report --storage hpcopt-tune.db --study NAME --report study.html"))));
  }, "No tuning run is recorded.", "hpcopt tune replay --cache CACHE.json.gz --strategy bo");
};

// ---------------------------------------------------------------- sign-in and start
function fail(err) {
  if (err instanceof Unauthorized) { sessionStorage.removeItem(KEY); return signIn("The token was refused; enter another."); }
  content().append(el("p", {class: "bad", id: "error"}, String(err.message || err)));
}
function signIn(message) {
  document.getElementById("main").hidden = true;
  document.getElementById("signout").hidden = true;
  const form = document.getElementById("login");
  form.hidden = false;
  document.getElementById("login-error").textContent = message || "";
}
async function start() {
  const form = document.getElementById("login");
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem(KEY, document.getElementById("token").value.trim());
    location.reload();
  });
  const out = document.getElementById("signout");
  out.addEventListener("click", () => { sessionStorage.removeItem(KEY); location.reload(); });
  if (!sessionStorage.getItem(KEY)) return signIn("");
  out.hidden = false;
  const page = document.body.dataset.page;
  try {
    await PAGES[page]();
    document.body.dataset.ready = "1";
  } catch (err) { fail(err); document.body.dataset.ready = "error"; }
}
document.addEventListener("DOMContentLoaded", () => start());
