"""The server over its real transports, through the SDK's client: stdio (a subprocess, also as
``hpcopt mcp``) and streamable HTTP behind the bearer-token check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import anyio
import httpx2
import mcp
import pytest
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.client.streamable_http import streamable_http_client

import mcp_toy_tasks
from conftest import REPO, free_port
from hpcopt.core.tasks import TASKS, import_all_tasks
from hpcopt.mcp import build_server
from hpcopt.mcp.http import http_app, static_token
from hpcopt.mcp.tools import tool_name

TOKEN = "test-token-0123456789abcdef"
HERE = Path(__file__).resolve().parent
SERVE_TOYS = ("import mcp_toy_tasks; from hpcopt.mcp import serve_stdio; "
              "serve_stdio(tasks=mcp_toy_tasks.TOY_TASKS)")


def _env(home: Path) -> dict[str, str]:
    return {"PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(HERE)]), "HPCOPT_HOME": str(home)}


def _agent(client_target, numbers: Path, **client_kw):
    """List tools, call one with progress, call one that fails, read the run back: what every transport must do."""
    seen = []

    async def progress(done, total, message):
        seen.append((done, total, message))

    async def main():
        async with mcp.Client(client_target, **client_kw) as c:
            tools = sorted(t.name for t in (await c.list_tools()).tools)
            counted = await c.call_tool("testing_mcp_count", {"n": 3, "delay_s": 0.15}, progress_callback=progress)
            bad = await c.call_tool("testing_mcp_fit", {"data": str(numbers.with_name("none.txt")),
                                                        "model": str(numbers.with_name("m"))})
            rid = counted.structured_content["provenance"]["run_id"]
            run = json.loads((await c.read_resource(f"hpcopt://runs/{rid}")).contents[0].text)
            prompts = [p.name for p in (await c.list_prompts()).prompts]
            return tools, counted, bad, run, prompts

    tools, counted, bad, run, prompts = anyio.run(main)
    assert tools == sorted(tool_name(n) for n in mcp_toy_tasks.TOY_TASKS)
    assert not counted.is_error and counted.structured_content["payload"] == {"n": 3, "sum": 6}
    assert seen == [(1.0, 3.0, "step 1"), (2.0, 3.0, "step 2"), (3.0, 3.0, "step 3")]
    assert bad.is_error and "none.txt: No such file or directory" in bad.content[0].text
    assert run["status"] == "succeeded" and run["result"] == counted.structured_content
    assert "queue_slow" in prompts


@pytest.fixture
def numbers(tmp_path):
    f = tmp_path / "numbers.txt"
    f.write_text("1 2 3 6\n")
    return f


def test_stdio(tmp_path, numbers):
    params = mcp.StdioServerParameters(command=sys.executable, args=["-c", SERVE_TOYS], env=_env(tmp_path),
                                       cwd=str(tmp_path))
    _agent(params, numbers)
    assert (tmp_path / "store.db").is_file()  # the subprocess recorded into its HPCOPT_HOME


def test_hpcopt_mcp_command_over_stdio(tmp_path):
    """``hpcopt mcp`` as a desktop client launches it: every registered capability task is a tool."""
    params = mcp.StdioServerParameters(command=sys.executable, args=["-m", "hpcopt", "mcp"], env=_env(tmp_path),
                                       cwd=str(tmp_path))

    async def main():
        async with mcp.Client(params) as c:
            tools = {t.name for t in (await c.list_tools()).tools}
            traces = json.loads((await c.read_resource("hpcopt://traces")).contents[0].text)
            return tools, traces, c.server_info

    tools, traces, info = anyio.run(main)
    import_all_tasks()
    assert tools == {tool_name(n) for n in TASKS.names() if not n.startswith("testing.")}
    assert info.name == "hpcopt" and "hpc2n" in {t["name"] for t in traces["traces"]}



@pytest.fixture
def http_server(tmp_path):
    """The toy server on streamable HTTP (uvicorn in a thread), behind the static token."""
    import uvicorn

    from hpcopt.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 's.db'}", home=tmp_path)
    port = free_port()
    app = http_app(build_server(tasks=mcp_toy_tasks.TOY_TASKS, store=store), static_token(TOKEN))
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline and th.is_alive(), "the HTTP server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/mcp"
    srv.should_exit = True
    th.join(10)


def test_streamable_http_with_token(http_server, numbers):
    client = create_mcp_http_client(headers={"Authorization": f"Bearer {TOKEN}"})
    _agent(streamable_http_client(http_server, http_client=client), numbers)


@pytest.mark.parametrize("header", [None, "Bearer wrong-token-0123456789", f"Basic {TOKEN}", "Bearer"])
def test_streamable_http_refuses_without_the_token(http_server, header):
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {"Accept": "application/json, text/event-stream"} | ({"Authorization": header} if header else {})
    r = httpx2.post(http_server, json=body, headers=headers)
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    assert "missing or invalid bearer token" in r.json()["message"]


def test_a_failing_token_check_refuses():
    from hpcopt.mcp.http import BearerAuth

    def broken(token):
        raise RuntimeError("token store down")

    sent = []

    async def app(scope, receive, send):  # pragma: no cover - must not be reached
        raise AssertionError("the request went through")

    async def send(msg):
        sent.append(msg)

    scope = {"type": "http", "headers": [(b"authorization", f"Bearer {TOKEN}".encode())]}
    anyio.run(BearerAuth(app, broken), scope, None, send)
    assert sent[0]["status"] == 401


def test_an_async_token_check_is_awaited():
    from hpcopt.mcp.http import BearerAuth

    asked, reached, sent = [], [], []

    async def check(token):
        asked.append(token)
        await anyio.sleep(0)
        return token == TOKEN

    async def app(scope, receive, send):
        reached.append(scope["type"])

    async def send(msg):
        sent.append(msg)

    auth = BearerAuth(app, check)
    for token in (TOKEN, "other-token-0123456789"):
        anyio.run(auth, {"type": "http", "headers": [(b"authorization", f"Bearer {token}".encode())]}, None, send)
    anyio.run(auth, {"type": "lifespan"}, None, send)  # the app's startup is not a request: no token
    assert asked == [TOKEN, "other-token-0123456789"] and reached == ["http", "lifespan"]
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [401]


def test_static_token_is_long_enough():
    from hpcopt.errors import ConfigError

    with pytest.raises(ConfigError, match="at least 16 characters"):
        static_token("short")
    assert static_token(TOKEN)(TOKEN) and not static_token(TOKEN)(TOKEN + "x")


def test_hpcopt_mcp_http_command(tmp_path):
    """``hpcopt mcp --transport http``: needs data roots; serves behind the store's tokens with the run scope."""
    port = free_port()
    env = {**os.environ, **_env(tmp_path)}
    cmd = [sys.executable, "-m", "hpcopt", "mcp", "--transport", "http", "--port", str(port)]
    refused = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 64 and "--data-root" in refused.stderr

    def token(scope):
        out = subprocess.run([sys.executable, "-m", "hpcopt", "tokens", "create", "--scope", scope, "--json"],
                             env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)["token"]

    run_token, read_token = token("run"), token("read")
    proc = subprocess.Popen([*cmd, "--data-root", str(tmp_path)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}/mcp"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read()
            try:
                r = httpx2.post(url, json={}, timeout=2)
                break
            except httpx2.TransportError:
                assert time.monotonic() < deadline, "hpcopt mcp --transport http did not start"
                time.sleep(0.2)
        assert r.status_code == 401
        for bad in (TOKEN, read_token):  # not a store token; a token without the run scope
            assert httpx2.post(url, json={}, headers={"Authorization": f"Bearer {bad}"}, timeout=5).status_code == 401

        async def main():
            client = create_mcp_http_client(headers={"Authorization": f"Bearer {run_token}"})
            async with mcp.Client(streamable_http_client(url, http_client=client)) as c:
                return json.loads((await c.read_resource("hpcopt://runs")).contents[0].text)

        assert anyio.run(main)["schema"] == "store.runs/1"
    finally:
        proc.terminate()
        proc.wait(20)


def test_path_guard_confines_file_parameters(tmp_path):
    """Paths outside the data roots are refused (links followed); inside ones come back absolute."""
    from hpcopt.mcp.guard import path_guard
    from hpcopt.faces.paths import PathRefused
    from hpcopt.store.runner import get_task

    root = tmp_path / "root"
    root.mkdir()
    (root / "t.swf").write_text("1 0 0 10 1 -1 -1 1 20 -1 1 1 1 -1 1 -1 -1 -1\n")
    (root / "escape.swf").symlink_to(tmp_path / "outside.swf")
    (tmp_path / "outside.swf").write_text("x")
    guard = path_guard([root])
    spec = get_task("trace.info")
    assert guard(spec, {"trace": "t.swf"})["trace"] == str((root / "t.swf").resolve())
    for bad in ("../outside.swf", str(tmp_path / "outside.swf"), "escape.swf"):
        with pytest.raises(PathRefused):
            guard(spec, {"trace": bad})
