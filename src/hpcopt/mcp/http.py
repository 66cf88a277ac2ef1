"""The streamable HTTP transport behind a bearer-token check.

:func:`http_app` wraps the SDK's streamable HTTP app in :class:`BearerAuth`, an ASGI
middleware that lets a request through only when its ``Authorization: Bearer <token>``
header passes ``check_token(token)`` (truthy: let through; sync or async). The check is
pluggable so that the MCP face and the REST service can share one token store;
:func:`static_token` is the check for a single shared secret; ``hpcopt mcp --transport http``
uses the store's tokens (:func:`hpcopt.mcp.guard.store_token_check`). Every refusal is the same 401, whatever the reason, and a
check that raises refuses.
"""

from __future__ import annotations

import hmac
import inspect
import json
from collections.abc import Callable
from typing import Any

from hpcopt.errors import ConfigError

__all__ = ["TokenCheck", "BearerAuth", "static_token", "http_app", "serve_http"]

#: token -> truthy to let the request through; may be async (return an awaitable) for a check
#: that must not block the event loop (a store lookup, a slow hash)
TokenCheck = Callable[[str], Any]


def static_token(token: str) -> TokenCheck:
    """A check accepting exactly ``token`` (compared in constant time)."""
    if not isinstance(token, str) or len(token) < 16:
        raise ConfigError("the MCP HTTP token must be a string of at least 16 characters; got "
                          f"{'nothing' if not token else f'{len(token)} characters'} (generate one with: "
                          "python -c 'import secrets; print(secrets.token_urlsafe(32))')")
    expected = token.encode()

    def check(candidate: str) -> bool:
        return hmac.compare_digest(candidate.encode(), expected)

    return check


class BearerAuth:
    """ASGI middleware: HTTP requests need a bearer token that ``check`` accepts (401 otherwise)."""

    def __init__(self, app: Any, check: TokenCheck) -> None:
        self.app = app
        self.check = check

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":  # lifespan (starts the session manager) passes through
            await self.app(scope, receive, send)
            return
        header = dict(scope.get("headers") or ()).get(b"authorization", b"").decode("latin-1")
        scheme, _, token = header.partition(" ")
        ok = False
        if scheme.lower() == "bearer" and token.strip():
            try:
                verdict = self.check(token.strip())
                if inspect.isawaitable(verdict):  # a check that looks tokens up off the event loop
                    verdict = await verdict
                ok = bool(verdict)
            except Exception:  # a failing token store refuses; it never lets a request through
                ok = False
        if ok:
            await self.app(scope, receive, send)
            return
        body = json.dumps({"error": "unauthorized", "message": (
            "missing or invalid bearer token: send 'Authorization: Bearer <token>'")}).encode()
        await send({"type": "http.response.start", "status": 401, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"www-authenticate", b'Bearer realm="hpcopt"')]})
        await send({"type": "http.response.body", "body": body})


def http_app(server, check_token: TokenCheck, *, path: str = "/mcp", host: str = "127.0.0.1",
             json_response: bool = False, stateless: bool = False):
    """The ASGI app serving ``server`` over streamable HTTP at ``path``, behind ``check_token``."""
    if not callable(check_token):
        raise ConfigError("check_token must be a callable token -> bool (e.g. hpcopt.mcp.http.static_token(...))")
    app = server.streamable_http_app(streamable_http_path=path, host=host, json_response=json_response,
                                     stateless_http=stateless)
    return BearerAuth(app, check_token)


def serve_http(server, check_token: TokenCheck, *, host: str = "127.0.0.1", port: int = 8765,
               path: str = "/mcp") -> None:
    """Serve until interrupted (uvicorn)."""
    import uvicorn

    uvicorn.run(http_app(server, check_token, path=path, host=host), host=host, port=port, log_level="warning")
