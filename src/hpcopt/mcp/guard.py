"""The MCP server's share of the REST service's security: its tokens and its data roots.

``store_token_check(store_url, scope)`` lets a request through when its bearer token is a
live token of the store (``hpcopt tokens create``) with ``scope``; ``path_guard(roots)``
accepts a call only when every file parameter lies under the data roots (links followed)
and hands the call the checked absolute paths -- the same rules as ``hpcopt serve``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from hpcopt.core.tasks import TaskSpec
from hpcopt.errors import ConfigError

__all__ = ["store_token_check", "path_guard"]


def store_token_check(store_url: str | None = None, *, scope: str = "run") -> Callable[[str], Awaitable[bool]]:
    """A token check over the store's tokens (hashed, revocable; see :mod:`hpcopt.serve.tokens`)."""
    from hpcopt.serve.tokens import TokenStore
    from hpcopt.store import open_store

    tokens = TokenStore(open_store(store_url))

    async def check(token: str) -> bool:
        rec = tokens.cached(token)  # no database and no hashing: safe on the event loop
        if rec is None:  # the lookup and the scrypt hash run off the event loop
            import anyio.to_thread

            rec = await anyio.to_thread.run_sync(tokens.verify, token)
        return bool(rec) and rec.allows(scope)

    return check


def path_guard(roots: Sequence[str | Path]) -> Callable[[TaskSpec, dict], dict]:
    """A ``check_arguments`` hook confining every path parameter of a call to ``roots``."""
    from hpcopt.faces.paths import check_paths
    from hpcopt.faces.schema import path_parameters

    resolved = []
    for r in roots:
        p = Path(r).expanduser()
        if not p.is_dir():
            raise ConfigError(f"--data-root {r}: not a directory")
        resolved.append(p.resolve())
    resolved_roots = tuple(resolved)

    def guard(spec: TaskSpec, arguments: dict) -> dict:
        return check_paths(arguments, path_parameters(spec), resolved_roots)  # derived once per task

    return guard
