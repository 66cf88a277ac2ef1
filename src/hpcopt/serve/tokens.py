"""Bearer tokens with scopes, kept in the store as salted scrypt hashes.

A token reads ``hpc_<id>_<secret>``: ``id`` (12 hex characters) finds the row, the
secret (43 URL-safe characters, 256 random bits) is checked against its scrypt hash in
constant time. Only the salt and the hash are stored; the token is shown once, when it is
created. Scopes: ``read`` (GET routes), ``run`` (submit, cancel, upload) and ``admin``
(every route, token administration).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass

import sqlalchemy as sa

from hpcopt.errors import ConfigError, InputError
from hpcopt.serve.tables import tokens as _t

SCOPES = ("read", "run", "admin")
TOKEN_RE = re.compile(r"^hpc_(?P<id>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{43})$")
# The secret carries 256 random bits, so no guessing attack gains from a slow hash; scrypt
# (with a per-token salt) only keeps a leaked table from yielding usable tokens. A modest
# cost (2 MiB, a few ms) is enough, and a verified token is cached anyway (by the SHA-256
# of the whole token), its row re-read every RECHECK_S seconds to see a revocation.
_SCRYPT = {"n": 2**11, "r": 8, "p": 1, "maxmem": 64 * 2**20, "dklen": 32}
RECHECK_S = 2.0
LAST_USED_EVERY_S = 60.0


@dataclass(frozen=True)
class TokenRecord:
    id: str
    name: str
    scopes: tuple[str, ...]
    created_at: float
    last_used_at: float | None
    revoked_at: float | None

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "scopes": list(self.scopes), "created_at": self.created_at,
                "last_used_at": self.last_used_at, "revoked_at": self.revoked_at,
                "revoked": self.revoked_at is not None}


def parse_scopes(text: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """``"read,run"`` -> ``("read", "run")``; unknown scopes are a ConfigError."""
    items = [s.strip() for s in (text.split(",") if isinstance(text, str) else text) if s.strip()]
    if not items:
        raise ConfigError(f"give at least one scope of {', '.join(SCOPES)}")
    bad = [s for s in items if s not in SCOPES]
    if bad:
        raise ConfigError(f"unknown scope {bad[0]!r}; the scopes are {', '.join(SCOPES)}")
    return tuple(s for s in SCOPES if s in items)


def _hash(secret: str, salt: bytes) -> str:
    return hashlib.scrypt(secret.encode(), salt=salt, **_SCRYPT).hex()


def _record(row) -> TokenRecord:
    return TokenRecord(id=row.id, name=row.name, scopes=tuple(row.scopes), created_at=row.created_at,
                       last_used_at=row.last_used_at, revoked_at=row.revoked_at)


class TokenStore:
    """Create, list, revoke and verify tokens in a store (:class:`hpcopt.store.Store`)."""

    def __init__(self, store, *, reader=None) -> None:
        self._engine = store._engine  # the service's tables live in the store's database
        self._read = (reader or store)._engine
        self._cache: dict[str, tuple[TokenRecord, float]] = {}
        self._used: dict[str, float] = {}
        self._lock = threading.Lock()

    def create(self, scopes, *, name: str = "") -> tuple[str, TokenRecord]:
        """A new token: ``(the token text, shown only now; its record)``."""
        sc = parse_scopes(scopes)
        if len(name) > 200:
            raise ConfigError("a token name has at most 200 characters")
        tid = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_bytes(16)
        now = time.time()
        with self._engine.begin() as c:
            c.execute(_t.insert().values(id=tid, name=name or tid, salt=salt.hex(), hash=_hash(secret, salt),
                                         scopes=list(sc), created_at=now, last_used_at=None, revoked_at=None))
        return f"hpc_{tid}_{secret}", TokenRecord(tid, name or tid, sc, now, None, None)

    def list(self) -> list[TokenRecord]:
        with self._engine.connect() as c:
            return [_record(r) for r in c.execute(sa.select(_t).order_by(_t.c.created_at))]

    def get(self, token_id: str) -> TokenRecord:
        with self._engine.connect() as c:
            row = c.execute(sa.select(_t).where(_t.c.id == token_id)).first()
        if row is None:
            raise InputError(f"no token with id {token_id!r}", hint="list them with 'hpcopt tokens list'")
        return _record(row)

    def revoke(self, token_id: str) -> TokenRecord:
        rec = self.get(token_id)
        if rec.revoked_at is None:
            with self._engine.begin() as c:
                c.execute(_t.update().where(_t.c.id == token_id).values(revoked_at=time.time()))
        with self._lock:
            self._cache = {k: v for k, v in self._cache.items() if v[0].id != token_id}
        return self.get(token_id)

    def cached(self, token: str) -> TokenRecord | None | bool:
        """The record of a token verified less than RECHECK_S ago; ``False`` for a malformed token;
        ``None`` when :meth:`verify` must look (no database, no hashing here: safe on an event loop)."""
        m = TOKEN_RE.match(token or "")
        if m is None:
            return False
        with self._lock:
            hit = self._cache.get(hashlib.sha256(token.encode()).hexdigest())
        if hit is None or time.monotonic() - hit[1] >= RECHECK_S or \
                time.time() - self._used.get(hit[0].id, 0.0) >= LAST_USED_EVERY_S:
            return None
        return hit[0]

    def verify(self, token: str) -> TokenRecord | None:
        """The live record of ``token``, or ``None`` when it is malformed, unknown, wrong or revoked."""
        m = TOKEN_RE.match(token or "")
        if m is None:
            return None
        key = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and now - hit[1] < RECHECK_S:
            rec = hit[0]
        else:
            with self._read.connect() as c:
                row = c.execute(sa.select(_t).where(_t.c.id == m["id"])).first()
            if row is None or row.revoked_at is not None:
                with self._lock:
                    self._cache.pop(key, None)
                return None
            if hit is None and not hmac.compare_digest(_hash(m["secret"], bytes.fromhex(row.salt)), row.hash):
                return None
            rec = _record(row)
            with self._lock:
                self._cache[key] = (rec, now)
        self._touch(rec.id)
        return rec

    def _touch(self, token_id: str) -> None:
        # last use is written at most once a minute per token: reads must not turn into writes
        now = time.time()
        with self._lock:
            if now - self._used.get(token_id, 0.0) < LAST_USED_EVERY_S:
                return
            self._used[token_id] = now
        with self._engine.begin() as c:
            c.execute(_t.update().where(_t.c.id == token_id).values(last_used_at=now))
