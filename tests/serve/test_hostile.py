"""Hostile requests: each gets its expected 400/401/403/404/413/422/429, an error/1 body
without a stack trace, and nothing is written outside the data roots."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

import serve_toy_tasks  # noqa: E402,F401 - registers the toy tasks
from hpcopt.serve import ServeConfig, create_app  # noqa: E402
from hpcopt.serve.tokens import TokenStore  # noqa: E402
from hpcopt.store import open_store  # noqa: E402

SUM = "/v1/tasks/testing.serve_sum/jobs"
JOB0 = "0" * 32


def _snapshot(folder: Path) -> dict:
    return {str(p): (p.stat().st_size if p.is_file() else -1) for p in sorted(folder.rglob("*"))}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    root, outside, home = base / "root", base / "outside", base / "home"
    for d in (root, outside, home):
        d.mkdir()
    (root / "numbers.txt").write_text("1 2\n")
    (outside / "secret.txt").write_text("42\n")
    (outside / "sub").mkdir()
    (root / "link-out.txt").symlink_to(outside / "secret.txt")
    (root / "linkdir").symlink_to(outside / "sub")
    (root / "dangling").symlink_to(base / "nowhere")
    (root / "ok-link.txt").symlink_to(root / "numbers.txt")  # a link that stays inside is fine
    store = open_store(f"sqlite:///{home / 'store.db'}", home=home)
    ts = TokenStore(store)
    toks = {s: ts.create(s, name=s)[0] for s in ("read", "run", "admin", "read,run")}
    revoked, rec = ts.create("read,run", name="revoked")
    ts.revoke(rec.id)
    toks["revoked"] = revoked
    toks["wrong-secret"] = toks["read"][:-4] + ("AAAA" if not toks["read"].endswith("AAAA") else "BBBB")
    toks["unknown"] = "hpc_0123456789ab_" + "A" * 43
    toks["burst"] = ts.create("read", name="burst")[0]
    cfg = ServeConfig(data_roots=(root,), workers=1, imports=("serve_toy_tasks",), rate_per_s=1000,
                      rate_burst=1000, max_body_bytes=4096, max_upload_bytes=2048)
    before = _snapshot(outside)
    with TestClient(create_app(cfg, store=store)) as client:
        yield {"client": client, "tokens": toks, "root": root, "outside": outside, "base": base, "store": store,
               "ts": ts}
    assert _snapshot(outside) == before


def _sum(**params):
    return {"json": {"parameters": {"data": "numbers.txt", **params}}}


def _raw(text: str):
    return {"content": text.encode(), "headers": {"Content-Type": "application/json"}}


# (case id, method, url, token name or a literal Authorization header, request kwargs, expected status)
CASES = [
    # ---- authentication: 401
    ("no-token-runs", "GET", "/v1/runs", None, {}, 401),
    ("no-token-submit", "POST", SUM, None, _sum(), 401),
    ("no-token-metrics", "GET", "/metrics", None, {}, 401),
    ("no-token-openapi", "GET", "/v1/openapi.json", None, {}, 401),
    ("no-token-tasks", "GET", "/v1/tasks", None, {}, 401),
    ("no-token-job", "GET", f"/v1/jobs/{JOB0}", None, {}, 401),
    ("no-token-events", "GET", f"/v1/jobs/{JOB0}/events", None, {}, 401),
    ("no-token-cancel", "POST", f"/v1/jobs/{JOB0}/cancel", None, {}, 401),
    ("no-token-upload", "POST", "/v1/uploads/traces", None, {"files": {"file": ("a.txt", b"1")}}, 401),
    ("no-token-revoke", "DELETE", "/v1/tokens/abc", None, {}, 401),
    ("no-token-models", "GET", "/v1/models", None, {}, 401),
    ("empty-bearer", "GET", "/v1/runs", "Bearer ", {}, 401),
    ("basic-scheme", "GET", "/v1/runs", "Basic dXNlcjpwYXNz", {}, 401),
    ("garbage-token", "GET", "/v1/runs", "Bearer not-a-token", {}, 401),
    ("unknown-token", "GET", "/v1/runs", "unknown", {}, 401),
    ("wrong-secret", "GET", "/v1/runs", "wrong-secret", {}, 401),
    ("revoked-token", "GET", "/v1/runs", "revoked", {}, 401),
    ("revoked-submit", "POST", SUM, "revoked", _sum(), 401),
    ("huge-token", "GET", "/v1/runs", "Bearer " + "x" * 20000, {}, 401),
    ("token-in-query", "GET", "/v1/runs?access_token=whatever", None, {}, 401),
    ("sql-in-token", "GET", "/v1/runs", "Bearer hpc_' OR 1=1 --", {}, 401),
    # ---- scopes: 403
    ("read-submits", "POST", SUM, "read", _sum(), 403),
    ("read-cancels", "POST", f"/v1/jobs/{JOB0}/cancel", "read", {}, 403),
    ("read-uploads", "POST", "/v1/uploads/traces", "read", {"files": {"file": ("a.txt", b"1")}}, 403),
    ("read-lists-tokens", "GET", "/v1/tokens", "read", {}, 403),
    ("run-reads-runs", "GET", "/v1/runs", "run", {}, 403),
    ("run-lists-tokens", "GET", "/v1/tokens", "run", {}, 403),
    ("readrun-revokes", "DELETE", "/v1/tokens/abc", "read,run", {}, 403),
    ("read-metrics-ok-but-run-not", "GET", "/metrics", "run", {}, 403),
    # ---- paths outside the data roots: 400
    ("dotdot-input", "POST", SUM, "read,run", {"json": {"parameters": {"data": "../outside/secret.txt"}}}, 400),
    ("absolute-outside", "POST", SUM, "read,run", {"json": {"parameters": {"data": "/etc/passwd"}}}, 400),
    ("symlink-file-out", "POST", SUM, "read,run", {"json": {"parameters": {"data": "link-out.txt"}}}, 400),
    ("symlink-dir-out", "POST", SUM, "read,run", {"json": {"parameters": {"data": "linkdir/../sub/x"}}}, 400),
    ("dotdot-after-file", "POST", SUM, "read,run",
     {"json": {"parameters": {"data": "numbers.txt/../../outside/secret.txt"}}}, 400),
    ("output-dotdot", "POST", SUM, "read,run", _sum(out="../escape.json"), 400),
    ("output-through-link", "POST", SUM, "read,run", _sum(out="linkdir/new.json"), 400),
    ("output-absolute", "POST", SUM, "read,run", _sum(out="/tmp/hpcopt-evil.json"), 400),
    ("output-missing-dotdot", "POST", SUM, "read,run", _sum(out="newdir/../../x.json"), 400),
    ("null-byte", "POST", SUM, "read,run", {"json": {"parameters": {"data": "numbers.txt\u0000.swf"}}}, 400),
    ("missing-input", "POST", SUM, "read,run", {"json": {"parameters": {"data": "nope.txt"}}}, 400),
    ("dangling-link", "POST", SUM, "read,run", {"json": {"parameters": {"data": "dangling"}}}, 400),
    ("proc-self", "POST", SUM, "read,run", {"json": {"parameters": {"data": "/proc/self/environ"}}}, 400),
    # ---- oversize bodies: 413
    ("body-over-limit", "POST", SUM, "read,run", _sum(scale=1.0, out="x" * 5000), 413),
    ("chunked-over-limit", "POST", SUM, "read,run",
     {"content": iter([b'{"parameters": {"data": "', b"a" * 3000, b"a" * 3000, b'"}}']),
      "headers": {"Content-Type": "application/json"}}, 413),
    ("upload-over-limit", "POST", "/v1/uploads/traces", "read,run", {"files": {"file": ("big.txt", b"9" * 5000)}}, 413),
    # ---- malformed JSON: 400
    ("not-json", "POST", SUM, "read,run", _raw("{not json"), 400),
    ("truncated-json", "POST", SUM, "read,run", _raw('{"parameters": {"data": "numbers.txt"'), 400),
    ("binary-body", "POST", SUM, "read,run", {"content": b"\xff\xfe\x00\x01",
                                              "headers": {"Content-Type": "application/json"}}, 400),
    ("deep-nesting", "POST", SUM, "read,run", _raw('{"parameters": {"data": ' + "[" * 1900 + "]" * 1900 + "}}"), 400),
    # ---- huge or non-finite numbers, wrong shapes: 422
    ("int-of-4000-digits", "POST", SUM, "read,run",
     _raw('{"parameters": {"data": "numbers.txt", "seed": ' + "9" * 4000 + "}}"), 422),
    ("float-of-400-digits", "POST", SUM, "read,run",
     _raw('{"parameters": {"data": "numbers.txt", "scale": 1' + "0" * 400 + '.5}}'), 422),
    ("nan-literal", "POST", SUM, "read,run", _raw('{"parameters": {"data": "numbers.txt", "scale": NaN}}'), 422),
    ("infinity-literal", "POST", SUM, "read,run",
     _raw('{"parameters": {"data": "numbers.txt", "scale": Infinity}}'), 422),
    ("overflow-float", "POST", SUM, "read,run", _raw('{"parameters": {"data": "numbers.txt", "scale": 1e999}}'), 422),
    ("huge-int-seed", "POST", SUM, "read,run", _sum(seed=10**30), 422),
    ("huge-negative-seed", "POST", SUM, "read,run", _sum(seed=-(2**60)), 422),
    ("float-for-int", "POST", "/v1/tasks/testing.serve_slow/jobs", "read,run",
     {"json": {"parameters": {"steps": 1e20}}}, 422),
    ("unknown-parameter", "POST", SUM, "read,run", _sum(rm_rf=True), 422),
    ("missing-required", "POST", SUM, "read,run", {"json": {"parameters": {}}}, 422),
    ("parameters-not-object", "POST", SUM, "read,run", {"json": {"parameters": "data=numbers.txt"}}, 422),
    ("extra-top-level", "POST", SUM, "read,run", {"json": {"parameters": {"data": "numbers.txt"}, "sudo": 1}}, 422),
    ("body-is-array", "POST", SUM, "read,run", {"json": [1, 2, 3]}, 422),
    ("empty-body", "POST", SUM, "read,run", _raw(""), 422),
    ("path-as-number", "POST", SUM, "read,run", {"json": {"parameters": {"data": 5}}}, 422),
    ("wrong-type", "POST", SUM, "read,run", _sum(scale="lots"), 422),
    ("limit-too-large", "GET", "/v1/jobs?limit=100000000", "read", {}, 422),
    ("bad-job-status", "GET", "/v1/jobs?status=everything", "read", {}, 422),
    # ---- unknown things: 404 (and an unusable id: 400)
    ("unknown-task", "POST", "/v1/tasks/os.system/jobs", "read,run", _sum(), 404),
    ("unknown-job", "GET", f"/v1/jobs/{JOB0}", "read", {}, 404),
    ("job-id-not-hex", "GET", "/v1/jobs/zz..zz", "read", {}, 404),
    ("run-id-not-hex", "GET", "/v1/runs/zzzz", "read", {}, 400),
    ("upload-kind-traversal", "POST", "/v1/uploads/..%2F..%2Fetc", "read,run",
     {"files": {"file": ("a.txt", b"1")}}, 404),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_hostile_request(env, case):
    _id, method, url, tok, kwargs, expected = case
    kwargs = dict(kwargs)
    headers = dict(kwargs.pop("headers", {}))
    if tok is not None:
        headers["Authorization"] = tok if " " in tok else f"Bearer {env['tokens'][tok]}"
    r = env["client"].request(method, url, headers=headers, **kwargs)
    assert r.status_code == expected, (r.status_code, r.text[:400])
    body = r.json()["error"]
    assert body["schema"] == "error/1" and body["status"] == expected and body["message"]
    assert "Traceback" not in r.text and 'File "' not in r.text
    if expected == 401:
        assert r.headers.get("www-authenticate") == "Bearer"


def test_at_least_fifty_hostile_cases():
    assert len(CASES) >= 50
    assert {c[-1] for c in CASES} >= {400, 401, 403, 413, 422}


def test_a_burst_over_the_rate_limit_gets_429_with_retry_after(tmp_path):
    home = tmp_path / "home"
    store = open_store(f"sqlite:///{home / 'store.db'}", home=home)
    tok = TokenStore(store).create("read")[0]
    with TestClient(create_app(ServeConfig(rate_per_s=0.5, rate_burst=5), store=store)) as c:
        codes = [c.get("/v1/runs", headers={"Authorization": f"Bearer {tok}"}).status_code for _ in range(8)]
        assert codes == [200] * 5 + [429] * 3
        r = c.get("/v1/runs", headers={"Authorization": f"Bearer {tok}"})
        assert r.json()["error"]["type"] == "TooManyRequests" and int(r.headers["retry-after"]) >= 1
        # guessing tokens is limited per client as well
        bad = [c.get("/v1/runs", headers={"Authorization": "Bearer nope"}).status_code for _ in range(7)]
        assert bad == [401] * 5 + [429] * 2
        # health stays open
        assert c.get("/v1/health").status_code == 200
        body = c.get("/metrics", headers={"Authorization": f"Bearer {TokenStore(store).create('read')[0]}"}).text
        assert "hpcopt_http_rate_limited_total 6.0" in body  # 3 + 1 + 2 refused


def test_a_link_that_stays_inside_is_accepted(env):
    r = env["client"].post(SUM, headers={"Authorization": f"Bearer {env['tokens']['read,run']}"},
                           json={"parameters": {"data": "ok-link.txt"}})
    assert r.status_code == 202, r.text
    assert r.json()["job"]["parameters"]["data"] == str(env["root"] / "numbers.txt")


def test_nothing_was_written_outside_the_data_roots(env):
    # every refused job left no row; the only files are under the root, the store home and the outside dir
    allowed = (env["root"], env["outside"], env["base"] / "home")
    for p in env["base"].rglob("*"):
        assert any(p == a or p.is_relative_to(a) for a in allowed), p
    assert not Path("/tmp/hpcopt-evil.json").exists()
    assert os.listdir(env["outside"] / "sub") == []


def test_cors_only_for_configured_origins(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}", home=tmp_path)
    pre = {"Origin": "https://ok.example", "Access-Control-Request-Method": "GET"}
    with TestClient(create_app(ServeConfig(cors_origins=("https://ok.example",)), store=store)) as c:
        assert c.options("/v1/health", headers=pre).headers["access-control-allow-origin"] == "https://ok.example"
        evil = c.options("/v1/health", headers={**pre, "Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in evil.headers
    with TestClient(create_app(ServeConfig(), store=store)) as c:
        assert "access-control-allow-origin" not in c.get("/v1/health", headers=pre).headers


def test_a_bug_is_a_500_without_its_trace_or_message(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}", home=tmp_path)
    tok = TokenStore(store).create("read")[0]
    app = create_app(ServeConfig(), store=store)

    def broken():
        raise RuntimeError("password=hunter2 in /etc/shadow")

    app.add_api_route("/v1/broken", broken, methods=["GET"])
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/v1/broken", headers={"Authorization": f"Bearer {tok}"})
    assert r.status_code == 500 and r.json()["error"]["type"] == "InternalError"
    assert "hunter2" not in r.text and "Traceback" not in r.text and "shadow" not in r.text
