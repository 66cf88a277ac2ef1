"""Jobs on a Dask cluster instead of the local process pool: same routes, same records."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("fastapi")
distributed = pytest.importorskip("distributed")

from fastapi.testclient import TestClient  # noqa: E402

import serve_toy_tasks  # noqa: E402,F401
from hpcopt.errors import ConfigError  # noqa: E402
from hpcopt.serve import ServeConfig, create_app  # noqa: E402
from hpcopt.serve.tokens import TokenStore  # noqa: E402
from hpcopt.store import open_store  # noqa: E402


def test_dask_needs_an_address():
    with pytest.raises(ConfigError, match="dask_address"):
        ServeConfig(executor="dask")
    with pytest.raises(ConfigError, match="executor must be one of"):
        ServeConfig(executor="ray-ish")


@pytest.mark.slow
def test_jobs_run_on_a_dask_cluster(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "numbers.txt").write_text("2 4\n")
    store = open_store(f"sqlite:///{tmp_path / 'home' / 'store.db'}", home=tmp_path / "home")
    tok = TokenStore(store).create("read,run")[0]
    h = {"Authorization": f"Bearer {tok}"}
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        cfg = ServeConfig(data_roots=(root,), executor="dask", dask_address=cluster.scheduler_address,
                          imports=("serve_toy_tasks",))
        with TestClient(create_app(cfg, store=store)) as c:
            jid = c.post("/v1/tasks/testing.serve_sum/jobs", headers=h,
                         json={"parameters": {"data": "numbers.txt", "scale": 3}}).json()["job"]["id"]
            t0 = time.time()
            while (job := c.get(f"/v1/jobs/{jid}", headers=h).json()["job"])["status"] not in ("succeeded", "failed"):
                assert time.time() - t0 < 120, job
                time.sleep(0.2)
            assert job["status"] == "succeeded"
            assert c.get(f"/v1/jobs/{jid}/result", headers=h).json()["payload"]["total"] == 18.0
            run = store.get_run(job["run_id"])
            assert run.status == "succeeded" and run.pid != 0
            body = c.get("/metrics", headers=h).text
            assert 'hpcopt_tasks_total{outcome="succeeded",task="testing.serve_sum"} 1.0' in body
