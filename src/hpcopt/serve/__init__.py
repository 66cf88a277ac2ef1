"""The REST face of hpcopt (``hpcopt serve``): FastAPI over the tasks, the store and a worker pool.

``create_app(ServeConfig(data_roots=("/data",)))`` builds the ASGI app; ``hpcopt serve``
runs it with uvicorn on 127.0.0.1. Routes are versioned under ``/v1``; every task in
:data:`hpcopt.core.tasks.TASKS` gets its submit route. See ``docs/howto/serve.md``.
"""

from hpcopt.serve.config import ServeConfig, load_config

__all__ = ["ServeConfig", "load_config", "create_app"]


def create_app(*args, **kwargs):
    """Build the app (imports FastAPI only when called); see :func:`hpcopt.serve.app.create_app`."""
    from hpcopt.serve.app import create_app as _create

    return _create(*args, **kwargs)
