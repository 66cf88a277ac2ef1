"""What the service is allowed to do: its address, data roots, limits and worker pool.

Read from a TOML file (``hpcopt serve --config serve.toml``) whose keys are the field
names below; command-line options override the file. Every value is checked here, so a
wrong setting stops the service at start with one clear message.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from hpcopt.errors import ConfigError

EXECUTORS = ("process", "dask")


@dataclass(frozen=True)
class ServeConfig:
    host: str = "127.0.0.1"
    port: int = 8321
    #: directories whose files task parameters may name; the first also receives uploads
    data_roots: tuple[Path, ...] = ()
    store_url: str | None = None
    #: the worker pool: "process" (a local process pool) or "dask" (a Dask cluster at dask_address)
    executor: str = "process"
    workers: int = 2
    dask_address: str | None = None
    #: modules imported by the service and each worker, registering extra tasks (plugins)
    imports: tuple[str, ...] = ()
    max_body_bytes: int = 1 * 2**20
    max_upload_bytes: int = 256 * 2**20
    #: per token: a bucket of ``rate_burst`` requests refilled at ``rate_per_s`` (0: no limit)
    rate_per_s: float = 50.0
    rate_burst: int = 100
    #: origins allowed by CORS; empty: no CORS headers at all
    cors_origins: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be an integer in 0..65535; got {self.port!r} instead")
        if self.executor not in EXECUTORS:
            raise ConfigError(f"executor must be one of {', '.join(EXECUTORS)}; got {self.executor!r} instead")
        if self.executor == "dask" and not self.dask_address:
            raise ConfigError("executor 'dask' needs dask_address (e.g. tcp://127.0.0.1:8786)")
        if not isinstance(self.workers, int) or self.workers < 1:
            raise ConfigError(f"workers must be a positive integer; got {self.workers!r} instead")
        for name in ("max_body_bytes", "max_upload_bytes", "rate_burst"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name} must be a positive integer; got {v!r} instead")
        if not isinstance(self.rate_per_s, (int, float)) or not math.isfinite(self.rate_per_s) or self.rate_per_s < 0:
            raise ConfigError(f"rate_per_s must be a finite number >= 0; got {self.rate_per_s!r} instead")
        roots = []
        for r in self.data_roots:
            p = Path(r).expanduser()
            if not p.is_dir():
                raise ConfigError(f"the data root {str(r)!r} is not a directory",)
            roots.append(p.resolve(strict=True))
        object.__setattr__(self, "data_roots", tuple(roots))
        object.__setattr__(self, "imports", tuple(self.imports))
        object.__setattr__(self, "cors_origins", tuple(self.cors_origins))

    @property
    def upload_root(self) -> Path | None:
        return self.data_roots[0] / "uploads" if self.data_roots else None

    def with_options(self, **options: Any) -> "ServeConfig":
        """A copy with the options that are not ``None`` replaced."""
        return replace(self, **{k: v for k, v in options.items() if v is not None})


def load_config(path: str | Path | None = None, **options: Any) -> ServeConfig:
    """The configuration from ``path`` (TOML, optional), then ``options`` on top."""
    values: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            values = tomllib.loads(p.read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read the service configuration {p} ({exc.strerror})") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p} is not valid TOML: {exc}") from None
        values = values.get("serve", values)
        known = {f.name for f in fields(ServeConfig)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"{p}: unknown setting {unknown[0]!r}; the settings are {', '.join(sorted(known))}")
        for key in ("data_roots", "imports", "cors_origins"):
            if key in values:
                if not isinstance(values[key], list):
                    raise ConfigError(f"{p}: {key} must be a list")
                values[key] = tuple(values[key])
    cfg = ServeConfig(**values)
    return cfg.with_options(**options) if options else cfg


