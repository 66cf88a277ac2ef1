"""The REST service through FastAPI's TestClient: routes, jobs in the real worker pool, the
store, tokens, metrics and the OpenAPI schema."""

from __future__ import annotations

import json
import time

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

import serve_toy_tasks  # noqa: E402,F401 - registers the toy tasks
from hpcopt.serve import ServeConfig, create_app  # noqa: E402
from hpcopt.serve.tokens import TokenStore  # noqa: E402
from hpcopt.store import open_store  # noqa: E402


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    (root / "numbers.txt").write_text("1 2 3 4\n")
    home = tmp_path_factory.mktemp("home")
    store = open_store(f"sqlite:///{home / 'store.db'}", home=home)
    ts = TokenStore(store)
    toks = {s: ts.create(s, name=s)[0] for s in ("read", "run", "admin", "read,run")}
    cfg = ServeConfig(data_roots=(root,), workers=2, imports=("serve_toy_tasks",), rate_per_s=1000, rate_burst=1000)
    app = create_app(cfg, store=store)
    with TestClient(app) as client:
        yield {"client": client, "root": root, "store": store, "tokens": toks, "app": app, "ts": ts}


def H(tok):
    return {"Authorization": f"Bearer {tok}"}


def wait_final(client, tok, job_id, timeout=120):
    t0 = time.time()
    while time.time() - t0 < timeout:
        job = client.get(f"/v1/jobs/{job_id}", headers=H(tok)).json()["job"]
        if job["status"] in ("succeeded", "failed", "cancelled", "interrupted"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def test_health_needs_no_token(env):
    r = env["client"].get("/v1/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "access-control-allow-origin" not in r.headers  # no CORS unless configured


def test_every_registered_task_has_a_submit_route(env):
    from hpcopt.core.tasks import TASKS
    from hpcopt.faces.schema import task_schema

    r = env["client"].get("/v1/tasks", headers=H(env["tokens"]["read"]))
    names = {t["name"] for t in r.json()["tasks"]}
    # every task but one whose required parameter has no JSON form (another test's toy, if registered)
    servable = {n for n in TASKS.names() if not task_schema(TASKS.get(n)).refusal}
    assert names == servable and "testing.serve_sum" in names
    paths = {route.path for route in env["app"].routes}
    assert all(f"/v1/tasks/{n}/jobs" in paths for n in names)
    one = env["client"].get("/v1/tasks/testing.serve_sum", headers=H(env["tokens"]["read"])).json()
    assert one["parameters"]["data"]["role"] == "input" and one["schema"] == "testing.serve_sum/1"


def test_submit_poll_result_recorded_in_store(env):
    c, tok = env["client"], env["tokens"]["read,run"]
    r = c.post("/v1/tasks/testing.serve_sum/jobs", headers=H(tok),
               json={"parameters": {"data": "numbers.txt", "scale": 2.5, "out": "sum.json", "seed": 4}})
    assert r.status_code == 202, r.text
    job = r.json()["job"]
    assert r.headers["location"] == f"/v1/jobs/{job['id']}" and job["status"] == "queued"
    done = wait_final(c, tok, job["id"])
    assert done["status"] == "succeeded" and done["run_id"]
    assert done["progress"]["done"] == 4 and done["progress"]["message"] == "summed"
    res = c.get(f"/v1/jobs/{job['id']}/result", headers=H(tok)).json()
    assert res["schema"] == "testing.serve_sum/1" and res["payload"] == {"total": 25.0, "n": 4}
    assert res["provenance"]["run_id"] == done["run_id"] and res["provenance"]["seed"] == 4
    # relative paths are taken under the first data root and passed on resolved
    assert res["provenance"]["parameters"]["data"] == str(env["root"] / "numbers.txt")
    assert json.loads((env["root"] / "sum.json").read_text()) == {"total": 25.0}
    run = env["store"].get_run(done["run_id"])
    assert run.status == "succeeded" and run.task == "testing.serve_sum" and run.seed == 4
    assert c.get(f"/v1/runs/{done['run_id']}", headers=H(tok)).json()["status"] == "succeeded"
    listed = c.get("/v1/runs", params={"task": "testing.serve_sum"}, headers=H(tok)).json()["runs"]
    assert done["run_id"] in {x["id"] for x in listed}


def test_failed_task_is_a_failed_job_with_the_library_error(env):
    c, tok = env["client"], env["tokens"]["read,run"]
    r = c.post("/v1/tasks/testing.serve_fail/jobs", headers=H(tok), json={"parameters": {"data": "numbers.txt"}})
    done = wait_final(c, tok, r.json()["job"]["id"])
    assert done["status"] == "failed" and done["error"]["type"] == "InputError"
    assert done["error"]["line"] == 1 and done["error"]["hint"] == "give a real trace"
    assert "traceback" not in json.dumps(done)
    assert env["store"].get_run(done["run_id"]).status == "failed"
    r = c.get(f"/v1/jobs/{done['id']}/result", headers=H(tok))
    assert r.status_code == 409 and r.json()["error"]["type"] == "NoResult"
    assert "traceback" not in json.dumps(c.get(f"/v1/runs/{done['run_id']}", headers=H(tok)).json())


def test_cancel_a_running_job_and_stream_its_events(env):
    c, tok = env["client"], env["tokens"]["read,run"]
    r = c.post("/v1/tasks/testing.serve_slow/jobs", headers=H(tok),
               json={"parameters": {"steps": 200, "step_s": 0.05}})
    jid = r.json()["job"]["id"]
    t0 = time.time()
    while c.get(f"/v1/jobs/{jid}", headers=H(tok)).json()["job"]["progress"] is None:
        assert time.time() - t0 < 60
        time.sleep(0.05)
    assert "hpcopt_jobs_queue_depth 1.0" in c.get("/metrics", headers=H(env["tokens"]["read"])).text
    assert c.post(f"/v1/jobs/{jid}/cancel", headers=H(tok)).status_code == 202
    done = wait_final(c, tok, jid)
    assert done["status"] == "cancelled"
    assert 0 < done["progress"]["done"] < 200
    assert env["store"].get_run(done["run_id"]).status == "interrupted"
    with c.stream("GET", f"/v1/jobs/{jid}/events", headers=H(tok)) as s:
        text = "".join(s.iter_text())
    assert s.headers["content-type"].startswith("text/event-stream")
    assert "event: status" in text and text.rstrip().endswith('"status": "cancelled"}')


def test_events_stream_progress_until_the_end(env):
    c, tok = env["client"], env["tokens"]["read,run"]
    jid = c.post("/v1/tasks/testing.serve_slow/jobs", headers=H(tok),
                 json={"parameters": {"steps": 6, "step_s": 0.3}}).json()["job"]["id"]
    with c.stream("GET", f"/v1/jobs/{jid}/events", headers=H(tok)) as s:
        events = [e for e in "".join(s.iter_text()).split("\n\n") if e]
    kinds = [e.split("\n")[0].removeprefix("event: ") for e in events]
    assert kinds[0] == "status" and kinds[-1] == "end" and "progress" in kinds
    last = json.loads(events[-1].split("data: ", 1)[1])
    assert last["status"] == "succeeded"
    done_values = [json.loads(e.split("data: ", 1)[1])["progress"]["done"] for e in events[:-1]
                   if json.loads(e.split("data: ", 1)[1])["progress"]]
    assert done_values == sorted(done_values) and done_values[-1] == 6


def test_queued_job_cancelled_before_it_starts(env):
    c, tok = env["client"], env["tokens"]["read,run"]
    busy = [c.post("/v1/tasks/testing.serve_slow/jobs", headers=H(tok),
                   json={"parameters": {"steps": 10, "step_s": 0.1}}).json()["job"]["id"] for _ in range(2)]
    queued = c.post("/v1/tasks/testing.serve_slow/jobs", headers=H(tok),
                    json={"parameters": {"steps": 1, "step_s": 0.01}}).json()["job"]["id"]
    job = c.post(f"/v1/jobs/{queued}/cancel", headers=H(tok)).json()["job"]
    # cancelled at once, or (when the pool has already taken it off its queue) before it starts
    assert job["status"] == "cancelled" or (job["status"] == "queued" and job["cancel_requested"])
    done = wait_final(c, tok, queued)
    assert done["status"] == "cancelled" and done["run_id"] is None
    for b in busy:
        assert wait_final(c, tok, b)["status"] == "succeeded"


def test_register_a_written_model_and_read_it_back(env, tmp_path):
    c, tok = env["client"], env["tokens"]["read,run"]
    # no toy task writes a model: the register field is only offered where a task does
    r = c.post("/v1/tasks/testing.serve_sum/jobs", headers=H(tok),
               json={"parameters": {"data": "numbers.txt"}, "register": "x"})
    assert r.status_code == 422
    models = c.get("/v1/models", headers=H(tok)).json()
    assert models["schema"] == "models/1"
    assert c.get("/v1/models/nothing-here", headers=H(tok)).status_code == 404


def test_upload_lands_under_the_data_root_and_is_a_task_input(env):
    c, tok = env["client"], env["tokens"]["read,run"]
    r = c.post("/v1/uploads/traces", headers=H(tok), files={"file": ("../../evil name.txt", b"5 6\n")})
    assert r.status_code == 201, r.text
    up = r.json()
    from pathlib import Path

    p = Path(up["path"])
    assert p.parent == env["root"] / "uploads" / "traces" and p.name.endswith("-evil_name.txt")
    assert p.read_bytes() == b"5 6\n" and up["size"] == 4
    jid = c.post("/v1/tasks/testing.serve_sum/jobs", headers=H(tok),
                 json={"parameters": {"data": up["path"]}}).json()["job"]["id"]
    assert wait_final(c, tok, jid)["status"] == "succeeded"
    assert c.get(f"/v1/jobs/{jid}/result", headers=H(tok)).json()["payload"]["total"] == 11.0


def test_metrics_count_requests_tasks_and_queue(env):
    c = env["client"]
    body = c.get("/metrics", headers=H(env["tokens"]["read"])).text
    assert 'hpcopt_http_requests_total{method="GET",route="/v1/health",status="200"}' in body
    assert "hpcopt_http_request_duration_seconds_bucket" in body
    assert 'hpcopt_tasks_total{outcome="succeeded",task="testing.serve_sum"}' in body
    assert 'hpcopt_task_duration_seconds_count{outcome="failed",task="testing.serve_fail"}' in body
    assert "hpcopt_jobs_queue_depth " in body


def test_tokens_admin_routes_and_revocation(env):
    c, ts = env["client"], env["ts"]
    tok, rec = ts.create("read", name="short-lived")
    assert c.get("/v1/runs", headers=H(tok)).status_code == 200
    listed = c.get("/v1/tokens", headers=H(env["tokens"]["admin"])).json()["tokens"]
    assert rec.id in {t["id"] for t in listed} and all("hash" not in t and "salt" not in t for t in listed)
    r = c.delete(f"/v1/tokens/{rec.id}", headers=H(env["tokens"]["admin"]))
    assert r.json()["token"]["revoked"] is True
    assert c.get("/v1/runs", headers=H(tok)).status_code == 401


def test_openapi_schema_structure(env):
    spec = env["client"].get("/v1/openapi.json", headers=H(env["tokens"]["read"])).json()
    assert spec["openapi"].startswith("3.") and spec["info"]["title"] == "hpcopt"
    paths = spec["paths"]
    for p in ("/v1/health", "/v1/tasks", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/events", "/v1/jobs/{job_id}/result",
              "/v1/jobs/{job_id}/cancel", "/v1/runs", "/v1/runs/{run_id}", "/v1/models", "/v1/uploads/{kind}",
              "/v1/tasks/testing.serve_sum/jobs", "/metrics"):
        assert p in paths, p
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert "security" not in paths["/v1/health"]["get"]
    for p, ops in paths.items():
        for method, op in ops.items():
            if p != "/v1/health":
                assert op.get("security") == [{"HTTPBearer": []}], (p, method)
    body = paths["/v1/tasks/testing.serve_sum/jobs"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    ref = body["$ref"].rsplit("/", 1)[1]
    params_ref = spec["components"]["schemas"][ref]["properties"]["parameters"]["$ref"].rsplit("/", 1)[1]
    params = spec["components"]["schemas"][params_ref]
    assert params["required"] == ["data"] and params["additionalProperties"] is False
    assert set(params["properties"]) == {"data", "scale", "out", "seed"}
    assert params["properties"]["scale"]["default"] == 1.0
    # no docs pages and no unauthenticated schema
    assert env["client"].get("/docs").status_code == 404 and env["client"].get("/openapi.json").status_code == 404


def test_metrics_carry_the_live_gauges_of_running_streams(env):
    c, tok = env["client"], env["tokens"]["read,run"]
    jid = c.post("/v1/tasks/testing.serve_stream/jobs", headers=H(tok),
                 json={"parameters": {"gauges_out": "stream.prom", "steps": 400, "step_s": 0.05}}).json()["job"]["id"]
    t0 = time.time()
    while True:
        job = c.get(f"/v1/jobs/{jid}", headers=H(tok)).json()["job"]
        if job["progress"] is not None and job["progress"]["done"] >= 3:
            break
        assert time.time() - t0 < 60
        time.sleep(0.05)
    body = c.get("/metrics", headers=H(env["tokens"]["read"])).text
    from prometheus_client.parser import text_string_to_metric_families

    fams = {f.name: f for f in text_string_to_metric_families(body)}
    alerts = {s.labels["entity"]: s.value for s in fams["hpcopt_detect_alerts"].samples if s.labels.get("job") == jid}
    assert set(alerts) == {"n1", "n2"} and alerts["n2"] == 2 * alerts["n1"] and alerts["n1"] >= 2
    score = [s for s in fams["hpcopt_detect_score"].samples if s.labels.get("job") == jid]
    assert score and score[0].value == alerts["n1"] + 0.5
    c.post(f"/v1/jobs/{jid}/cancel", headers=H(tok))
    assert wait_final(c, tok, jid)["status"] == "cancelled"
    assert f'job="{jid}"' not in c.get("/metrics", headers=H(env["tokens"]["read"])).text  # live ones only


def test_a_model_trained_registered_and_used_through_the_service(env):
    c, tok = env["client"], env["tokens"]["read,run"]
    r = c.post("/v1/tasks/testing.serve_fit/jobs", headers=H(tok),
               json={"parameters": {"data": "numbers.txt", "model": "models/mean"}, "register": "toy-mean",
                     "register_alias": "staging"})
    assert r.status_code == 202, r.text
    fit = wait_final(c, tok, r.json()["job"]["id"])
    assert fit["status"] == "succeeded", fit
    versions = c.get("/v1/models/toy-mean", headers=H(tok)).json()["models"]
    assert [v["version"] for v in versions] == [1] and versions[0]["aliases"] == ["staging"]
    assert versions[0]["run_id"] == fit["run_id"] and versions[0]["metrics"] == {"mean": 2.5}
    one = c.get("/v1/models/toy-mean/versions/1", headers=H(tok)).json()
    assert one["kind"] == "toy-mean" and "model.json" in one["files"]
    assert c.get("/v1/models/toy-mean/versions/7", headers=H(tok)).status_code == 404
    # a registered model is an input by reference, resolved (and verified) by the registry
    use = c.post("/v1/tasks/testing.serve_use/jobs", headers=H(tok),
                 json={"parameters": {"model": "model:toy-mean@staging", "x": 10}}).json()["job"]
    done = wait_final(c, tok, use["id"])
    assert done["status"] == "succeeded"
    assert c.get(f"/v1/jobs/{use['id']}/result", headers=H(tok)).json()["payload"] == {"residual": 7.5}
    assert env["store"].get_run(done["run_id"]).input_models == ["toy-mean:1"]


def test_a_service_settles_only_the_jobs_of_services_that_ended(tmp_path):
    import socket
    import subprocess
    import sys

    from hpcopt.serve.jobs import JobManager
    from hpcopt.serve.tables import jobs as jobs_table

    store = open_store(f"sqlite:///{tmp_path / 'store.db'}", home=tmp_path)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # another live service
    try:
        with store._engine.begin() as conn:
            conn.execute(jobs_table.insert().values(
                id="a" * 32, task="testing.serve_slow", parameters={}, status="queued", service_host=socket.gethostname(),
                service_pid=other.pid, cancel_requested=False, submitted_at=time.time()))
        assert JobManager(store).recovered == []  # its service lives: not ours to settle
    finally:
        other.kill()
        other.wait()
    assert JobManager(store).recovered == ["a" * 32]  # its service ended: recorded as an interrupted run
    job = JobManager(store).get("a" * 32)
    assert job["status"] == "interrupted" and store.get_run(job["run_id"]).status == "interrupted"
