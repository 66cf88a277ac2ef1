"""Per-token rate limits (token buckets) and the request-body size limit (ASGI middleware)."""

from __future__ import annotations

import threading
import time


class RateLimiter:
    """One bucket of ``burst`` requests per key, refilled at ``rate`` per second (rate 0: no limit)."""

    def __init__(self, rate: float, burst: int, *, clock=time.monotonic) -> None:
        self.rate, self.burst, self.clock = float(rate), int(burst), clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when a request may go now, else the seconds to wait."""
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > 100_000:  # keys of clients long gone
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 3600}
            return (1.0 - tokens) / self.rate


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """Refuse (413) a request whose body is over its limit, by header or by counting what arrives."""

    def __init__(self, app, *, limit: int, upload_limit: int, upload_prefix: str, on_refuse) -> None:
        self.app, self.limit, self.upload_limit, self.upload_prefix = app, limit, upload_limit, upload_prefix
        self.on_refuse = on_refuse

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.upload_limit if scope["path"].startswith(self.upload_prefix) else self.limit
        for k, v in scope.get("headers", ()):
            if k == b"content-length":
                try:
                    n = int(v)
                except ValueError:
                    return await self.on_refuse(scope, send, 400, "BadRequest", "the Content-Length header is "
                                                "not a number")
                if n > limit:
                    return await self.on_refuse(scope, send, 413, "PayloadTooLarge",
                                                f"the request body has {n} bytes; the limit is {limit}")
        seen = 0
        state = {"over": False, "sent": False}

        async def counted():
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    state["over"] = True
                    raise BodyTooLarge()
            return msg

        async def refuse():
            if not state["sent"]:
                state["sent"] = True
                await self.on_refuse(scope, send, 413, "PayloadTooLarge",
                                     f"the request body is over the limit of {limit} bytes")

        async def watch(msg):
            # whatever the app made of the interrupted body (a parse error, say), the answer is 413
            if state["over"]:
                if msg["type"] == "http.response.start":
                    await refuse()
                return
            if msg["type"] == "http.response.start":
                state["sent"] = True
            await send(msg)

        try:
            await self.app(scope, counted, watch)
        except BodyTooLarge:
            await refuse()
