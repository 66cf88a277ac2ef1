"""The REST face: versioned routes over the tasks, the store and the worker pool.

Every registered task ``NAME`` gets ``POST /v1/tasks/NAME/jobs`` with a body checked
against its signature; the job is polled at ``/v1/jobs/ID``, streamed at
``/v1/jobs/ID/events`` (server-sent events) and its Result read at
``/v1/jobs/ID/result``. Runs and models come from the store. No capability logic lives
here: a route parses, calls the library and returns what it gave.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import tempfile
import time

from fastapi import Depends, FastAPI, File, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from hpcopt.errors import HpcoptError, InputError, error_payload
from hpcopt.faces.paths import PathRefused, check_paths, safe_filename
from hpcopt.faces.schema import parameters_model, path_parameters, task_schema
from hpcopt.serve.config import ServeConfig
from hpcopt.serve.jobs import JobManager, import_modules
from hpcopt.serve.limits import BodyLimit, RateLimiter
from hpcopt.serve.metrics import ServiceMetrics
from hpcopt.serve.params import HugeNumber, check_numbers, submit_model
from hpcopt.serve.readview import read_view
from hpcopt.serve.tables import FINAL, JOB_STATUSES
from hpcopt.serve.tokens import TokenRecord, TokenStore

log = logging.getLogger("hpcopt.serve")

API = "/v1"
UPLOAD_KINDS = ("traces", "telemetry")
_TITLES = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
           409: "Conflict", 413: "PayloadTooLarge", 422: "ValidationError", 429: "TooManyRequests",
           500: "InternalError"}


class ServiceError(HTTPException):
    """An HTTP error with the error/1 body's type, message and hint."""

    def __init__(self, status: int, message: str, *, type: str | None = None, hint: str | None = None,
                 headers: dict | None = None) -> None:
        super().__init__(status, message, headers=headers)
        self.type, self.hint = type or _TITLES.get(status, "Error"), hint


class NotFound(InputError):
    """The library's answer to a lookup of something that is not there (the service answers 404)."""


def found(fn, *args, **kwargs):
    """``fn(*args, **kwargs)``, its InputError (no such run, job, model, token) a 404."""
    try:
        return fn(*args, **kwargs)
    except NotFound:
        raise
    except InputError as exc:
        raise NotFound(exc.reason, source=exc.source, hint=exc.hint) from None


def _error(status: int, type_: str, message: str, *, headers: dict | None = None, **extra) -> JSONResponse:
    body = error_payload(None, type=type_, message=message, status=status, **extra)
    return JSONResponse(body, status_code=status, headers=headers)


def create_app(config: ServeConfig | None = None, *, store=None) -> FastAPI:
    """The ASGI application for ``config`` (the store opened from ``config.store_url`` unless given)."""
    config = config or ServeConfig()
    if store is None:
        from hpcopt.store import open_store

        store = open_store(config.store_url)
    import_modules(config.imports)
    from hpcopt.core.tasks import TASKS

    metrics = ServiceMetrics()
    reader = read_view(store)  # every GET reads through it; writes go through the store
    tokens = TokenStore(store, reader=reader)
    limiter = RateLimiter(config.rate_per_s, config.rate_burst)
    jobs = JobManager(store, reader=reader, executor=config.executor, workers=config.workers,
                      dask_address=config.dask_address, imports=config.imports, on_done=metrics.job_done)
    metrics.queue_depth.set_function(jobs.queue_depth)
    metrics.watch_gauge_files(lambda: jobs.gauge_files(TASKS))

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(_app):
        yield
        jobs.shutdown()

    app = FastAPI(title="hpcopt", version=_version(), summary="AI for HPC operation: tasks, runs and models",
                  docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.config, app.state.store, app.state.tokens, app.state.jobs = config, store, tokens, jobs
    app.state.metrics = metrics

    # ------------------------------------------------------------------ errors: one JSON shape
    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request, exc: StarletteHTTPException):
        return _error(exc.status_code, getattr(exc, "type", None) or _TITLES.get(exc.status_code, "Error"),
                      str(exc.detail), hint=getattr(exc, "hint", None), headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request, exc: RequestValidationError):
        errs = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errs):
            return _error(400, "MalformedJSON", "the request body is not valid JSON")
        details = [{"loc": [str(x) for x in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": e.get("type")}
                   for e in errs[:20]]
        first = details[0] if details else {"loc": [], "msg": "invalid request"}
        return _error(422, "ValidationError", f"{'.'.join(first['loc'])}: {first['msg']}", details=details)

    @app.exception_handler(HpcoptError)
    async def _library_error(_request, exc: HpcoptError):
        status = 404 if isinstance(exc, NotFound) else 400
        return JSONResponse(error_payload(exc, type="NotFound" if status == 404 else None, status=status),
                            status_code=status)

    @app.exception_handler(Exception)
    async def _internal(_request, exc: Exception):
        log.exception("internal error")  # the trace goes to the service log, never to the client
        return _error(500, "InternalError", "internal error; the service log has the details")

    async def refuse(scope, send, status, type_, message):
        resp = _error(status, type_, message)
        await resp(scope, None, send)

    # ------------------------------------------------------------------ auth, scopes, rate limits
    bearer = HTTPBearer(auto_error=False, description="a token from 'hpcopt tokens create'")

    def client_key(request: Request) -> str:
        return f"ip:{request.client.host if request.client else '?'}"

    def need(scope: str):
        async def dep(request: Request, cred: HTTPAuthorizationCredentials | None = Depends(bearer)) -> TokenRecord:
            rec = None
            if cred is not None and cred.scheme.lower() == "bearer":
                rec = tokens.cached(cred.credentials)  # the common case: no thread, no database
                if rec is None:
                    rec = await asyncio.to_thread(tokens.verify, cred.credentials)
                rec = rec or None
            if rec is None:
                wait = limiter.take(client_key(request))  # failed attempts are limited per client too
                if wait:
                    metrics.rate_limited.inc()
                    raise ServiceError(429, "too many requests", headers={"Retry-After": str(int(wait) + 1)})
                raise ServiceError(401, "missing or invalid bearer token" if cred is None else
                                   "invalid, unknown or revoked bearer token",
                                   hint="send 'Authorization: Bearer <token>' (hpcopt tokens create)",
                                   headers={"WWW-Authenticate": "Bearer"})
            if not rec.allows(scope):
                raise ServiceError(403, f"this token lacks the {scope!r} scope (it has: {', '.join(rec.scopes)})")
            wait = limiter.take(f"token:{rec.id}")
            if wait:
                metrics.rate_limited.inc()
                raise ServiceError(429, f"rate limit of {config.rate_per_s:g} requests/s for this token exceeded",
                                   headers={"Retry-After": str(int(wait) + 1)})
            return rec

        return dep

    read, run, admin = need("read"), need("run"), need("admin")

    # ------------------------------------------------------------------ health and metrics
    @app.get(f"{API}/health", tags=["service"])
    async def health() -> dict:
        """Liveness: no token needed, nothing secret."""
        return {"schema": "serve.health/1", "status": "ok", "version": _version(),
                "queue_depth": jobs.queue_depth()}

    @app.get("/metrics", tags=["service"], response_class=Response)
    def metrics_route(_t: TokenRecord = Depends(read)) -> Response:
        """Prometheus exposition of the service's metrics."""
        return Response(metrics.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get(f"{API}/openapi.json", tags=["service"])
    def openapi_route(_t: TokenRecord = Depends(read)) -> dict:
        return app.openapi()

    # ------------------------------------------------------------------ tasks
    specs = {name: TASKS.get(name) for name in sorted(TASKS.names())}
    for name in [n for n, s in specs.items() if task_schema(s).refusal]:  # no client could call it: not served
        log.warning("%s", task_schema(specs.pop(name)).refusal)
    described = {name: _describe(s) for name, s in specs.items()}  # fixed once the app is built

    @app.get(f"{API}/tasks", tags=["tasks"])
    async def list_tasks(_t: TokenRecord = Depends(read)) -> dict:
        return {"schema": "tasks/1", "tasks": list(described.values())}

    @app.get(f"{API}/tasks/{{name}}", tags=["tasks"])
    async def get_task(name: str, _t: TokenRecord = Depends(read)) -> dict:
        if name not in specs:
            raise ServiceError(404, f"no task named {name!r}", hint="GET /v1/tasks lists them")
        return described[name]

    for name, spec in specs.items():
        _add_submit_route(app, spec, submit_model(spec, parameters_model(spec)), path_parameters(spec), run, jobs,
                          metrics, config)

    # ------------------------------------------------------------------ jobs
    @app.get(f"{API}/jobs", tags=["jobs"])
    def list_jobs(status: str | None = Query(None), limit: int = Query(50, ge=1, le=1000),
                  _t: TokenRecord = Depends(read)) -> dict:
        if status is not None and status not in JOB_STATUSES:
            raise ServiceError(422, f"status must be one of {', '.join(JOB_STATUSES)}")
        return {"schema": "serve.jobs/1", "jobs": jobs.list(status=status, limit=limit)}

    @app.get(f"{API}/jobs/{{job_id}}", tags=["jobs"])
    def get_job(job_id: str, _t: TokenRecord = Depends(read)) -> dict:
        return {"schema": "serve.job/1", "job": found(jobs.get, job_id)}

    @app.get(f"{API}/jobs/{{job_id}}/result", tags=["jobs"])
    def job_result(job_id: str, _t: TokenRecord = Depends(read)) -> dict:
        job = found(jobs.get, job_id)
        if job["status"] != "succeeded":
            raise ServiceError(409, f"job {job_id} is {job['status']}; it has no result" +
                               (f" ({job['error'].get('message')})" if job.get("error") else ""),
                               type="NoResult", hint="poll GET /v1/jobs/ID until its status is final")
        return reader.get_run(job["run_id"]).result

    @app.post(f"{API}/jobs/{{job_id}}/cancel", tags=["jobs"], status_code=202)
    def cancel_job(job_id: str, _t: TokenRecord = Depends(run)) -> dict:
        return {"schema": "serve.job/1", "job": found(jobs.cancel, job_id)}

    @app.get(f"{API}/jobs/{{job_id}}/events", tags=["jobs"], response_class=StreamingResponse)
    async def job_events(job_id: str, request: Request, _t: TokenRecord = Depends(read)):
        """Server-sent events: ``progress`` and ``status`` as they change, then ``end``."""
        first = await asyncio.to_thread(found, jobs.get, job_id)

        async def stream():
            last = None
            job = first
            while True:
                snap = (job["status"], json.dumps(job["progress"], sort_keys=True))
                if snap != last:
                    kind = "status" if last is None or snap[0] != last[0] else "progress"
                    yield f"event: {kind}\ndata: {json.dumps(job)}\n\n"
                    last = snap
                if job["status"] in FINAL:
                    yield f"event: end\ndata: {json.dumps({'id': job_id, 'status': job['status']})}\n\n"
                    return
                if await request.is_disconnected():
                    return
                await asyncio.sleep(0.25)
                job = await asyncio.to_thread(jobs.get, job_id)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    # ------------------------------------------------------------------ runs and models
    @app.get(f"{API}/runs", tags=["store"])
    def list_runs(task: str | None = Query(None, max_length=200), status: str | None = Query(None),
                  limit: int = Query(50, ge=1, le=1000), _t: TokenRecord = Depends(read)) -> dict:
        return {"schema": "runs/1", "runs": [_run_summary(r) for r in
                                             reader.list_runs(task=task, status=status, limit=limit, reap=False, light=True)]}

    @app.get(f"{API}/runs/{{run_id}}", tags=["store"])
    def get_run(run_id: str, _t: TokenRecord = Depends(read)) -> dict:
        return _strip_trace(found(reader.get_run, run_id).to_dict())

    @app.get(f"{API}/models", tags=["store"])
    def list_models(_t: TokenRecord = Depends(read)) -> dict:
        return {"schema": "models/1", "models": [m.to_dict() for m in reader.models.list()]}

    @app.get(f"{API}/models/{{name}}", tags=["store"])
    def model_versions(name: str, _t: TokenRecord = Depends(read)) -> dict:
        versions = [m.to_dict() for m in reader.models.list(name)]
        if not versions:
            raise ServiceError(404, f"no model named {name!r}")
        return {"schema": "models/1", "models": versions}

    @app.get(f"{API}/models/{{name}}/versions/{{version}}", tags=["store"])
    def model_version(name: str, version: int, _t: TokenRecord = Depends(read)) -> dict:
        return found(reader.models.get, name, version).to_dict()

    # ------------------------------------------------------------------ uploads
    @app.post(f"{API}/uploads/{{kind}}", tags=["uploads"], status_code=201)
    def upload(kind: str, file: UploadFile = File(...), _t: TokenRecord = Depends(run)) -> dict:
        """Store a trace or telemetry file under the first data root; its path is a task input."""
        if kind not in UPLOAD_KINDS:
            raise ServiceError(404, f"uploads are {', '.join(UPLOAD_KINDS)}; not {kind!r}")
        if config.upload_root is None:
            raise ServiceError(400, "the service has no data roots, so it takes no uploads",
                               hint="start it with --data-root DIR")
        folder = config.upload_root / kind
        folder.mkdir(parents=True, exist_ok=True)
        h, size = hashlib.sha256(), 0
        fd, tmp = tempfile.mkstemp(prefix=".upload-", dir=folder)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := file.file.read(1 << 20):
                    size += len(chunk)
                    if size > config.max_upload_bytes:
                        raise ServiceError(413, f"the upload is over {config.max_upload_bytes} bytes")
                    h.update(chunk)
                    out.write(chunk)
            digest = h.hexdigest()
            final = folder / f"{digest[:12]}-{safe_filename(file.filename)}"
            os.replace(tmp, final)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return {"schema": "serve.upload/1", "kind": kind, "path": str(final), "sha256": digest, "size": size}

    # ------------------------------------------------------------------ tokens (admin)
    @app.get(f"{API}/tokens", tags=["admin"])
    def list_tokens(_t: TokenRecord = Depends(admin)) -> dict:
        return {"schema": "tokens/1", "tokens": [t.to_dict() for t in tokens.list()]}

    @app.delete(f"{API}/tokens/{{token_id}}", tags=["admin"])
    def revoke_token(token_id: str, _t: TokenRecord = Depends(admin)) -> dict:
        return {"schema": "tokens/1", "token": found(tokens.revoke, token_id).to_dict()}

    # ------------------------------------------------------------------ the dashboard (pages over these routes)
    from hpcopt.dashboard import mount as mount_dashboard

    mount_dashboard(app, read=read, reader=reader)

    # ------------------------------------------------------------------ middleware (outermost last)
    if config.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(config.cors_origins), allow_methods=["GET", "POST",
                           "DELETE"], allow_headers=["Authorization", "Content-Type"])
    app.add_middleware(BodyLimit, limit=config.max_body_bytes, upload_limit=config.max_upload_bytes,
                       upload_prefix=f"{API}/uploads/", on_refuse=refuse)
    app.add_middleware(_Observe, metrics=metrics)
    return app


def _add_submit_route(app, spec, body_model, paths, run_dep, jobs, metrics, config) -> None:
    def submit(body, request: Request, token: TokenRecord = Depends(run_dep)) -> JSONResponse:
        params = body.parameters.model_dump(mode="json", exclude_unset=True, by_alias=True)
        try:
            check_numbers(params)
        except HugeNumber as exc:
            raise ServiceError(422, str(exc), type="HugeNumber") from None
        try:
            params = check_paths(params, paths, config.data_roots)
        except PathRefused as exc:
            raise ServiceError(400, str(exc), type="PathRefused",
                               hint="name files under the service's data roots; a relative path is taken "
                                    "under the first") from None
        job = jobs.submit(spec.name, params, register=getattr(body, "register_as", None),
                          register_alias=getattr(body, "register_alias", None), token_id=token.id)
        metrics.submitted.labels(spec.name).inc()
        return JSONResponse({"schema": "serve.job/1", "job": job}, status_code=202,
                            headers={"Location": f"{API}/jobs/{job['id']}"})

    submit.__annotations__["body"] = body_model  # this task's own body model (built at start)
    app.add_api_route(f"{API}/tasks/{spec.name}/jobs", submit, methods=["POST"], status_code=202, tags=["tasks"],
                      summary=f"run {spec.name}", description=spec.summary, name=f"submit:{spec.name}",
                      response_model=None)


class _Observe:
    """Request counts and latency by route template; two headers every answer gets."""

    def __init__(self, app, *, metrics: ServiceMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        status = [500]

        async def send_(msg):
            if msg["type"] == "http.response.start":
                status[0] = msg["status"]
                msg.setdefault("headers", [])
                msg["headers"] = [*msg["headers"], (b"x-content-type-options", b"nosniff"),
                                  (b"cache-control", b"no-store")]
            await send(msg)

        try:
            await self.app(scope, receive, send_)
        finally:
            route = scope.get("route")
            label = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(scope["method"], label, str(status[0])).inc()
            self.metrics.latency.labels(scope["method"], label).observe(time.perf_counter() - t0)


def _describe(spec) -> dict:
    return {"name": spec.name, "schema": spec.schema_id, "summary": spec.summary, "parameters": spec.parameters(),
            "submit": f"{API}/tasks/{spec.name}/jobs"}


def _strip_trace(d: dict) -> dict:
    if isinstance(d.get("error"), dict):
        d["error"] = {k: v for k, v in d["error"].items() if k != "traceback"}
    return d


def _run_summary(r) -> dict:
    return {"id": r.id, "task": r.task, "status": r.status, "seed": r.seed, "result_schema": r.result_schema,
            "started_at": r.started_at, "finished_at": r.finished_at, "duration_s": r.duration_s}


def _version() -> str:
    from hpcopt import __version__

    return __version__


