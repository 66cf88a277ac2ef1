"""The model registry: named models, numbered versions, aliases, lineage, checksums.

A registered version is a copy of a model directory inside the store's home
(``$HPCOPT_HOME/models/<name>/<version>/``) with the SHA-256 of every file recorded; every
:meth:`ModelRegistry.path` verifies them, so a damaged or swapped file is one clear error
before any loader reads it. Only data formats are accepted (JSON, numpy ``.npz``,
LightGBM text, torch state dicts, safetensors, CSV/Parquet...): a file that is a Python
pickle is refused, because loading a pickle runs code.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpcopt.core.results import json_safe
from hpcopt.errors import ConfigError, InputError

if TYPE_CHECKING:  # pragma: no cover
    from hpcopt.store.core import Store

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
_ALIAS = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,99}$")
_PICKLE_SUFFIXES = {".pkl", ".pickle", ".joblib"}


@dataclass(frozen=True)
class ModelVersionRecord:
    name: str
    version: int
    kind: str
    path: str
    files: dict
    meta: dict
    metrics: dict
    run_id: str | None
    created_at: float
    aliases: tuple = ()

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["aliases"] = list(self.aliases)
        return json_safe(d)


def _looks_like_pickle(path: Path) -> bool:
    if path.suffix.lower() in _PICKLE_SUFFIXES:
        return True
    with open(path, "rb") as fh:
        head = fh.read(2)
    # protocol 2+ pickles start with PROTO (0x80) and the protocol number
    return len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"a model name is 1-200 letters, digits, '.', '_' or '-', starting with a letter or "
                          f"digit; got {name!r} instead")


class ModelRegistry:
    def __init__(self, store: "Store") -> None:
        self._store = store

    @property
    def root(self) -> Path:
        return self._store.home / "models"

    def register(self, name: str, source: str | Path, *, kind: str, meta: dict | None = None,
                 metrics: dict | None = None, run_id: str | None = None) -> ModelVersionRecord:
        """Copy the model directory (or single file) ``source`` in as the next version of ``name``."""
        import sqlalchemy as sa
        from sqlalchemy.exc import IntegrityError

        from hpcopt.core.provenance import file_sha256
        from hpcopt.store.schema import ModelVersion

        _check_name(name)
        src = Path(source)
        if not src.exists():
            raise InputError("no such model file or directory", source=str(src))
        files = [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.is_file() or p.is_symlink())
        if not files:
            raise InputError("the model directory is empty", source=str(src))
        for f in files:
            if f.is_symlink():
                raise InputError(f"holds a symbolic link ({f.relative_to(src)}); a model directory must hold "
                                 "plain files only", source=str(src))
            if _looks_like_pickle(f):
                raise InputError(f"{f.name} is a Python pickle; loading it would run code. Save the model in a "
                                 "data format (JSON, .npz, LightGBM text, safetensors, ...)",
                                 source=str(src))
        target_root = self.root / name
        target_root.mkdir(parents=True, exist_ok=True)
        for _attempt in range(20):
            tmp = Path(tempfile.mkdtemp(prefix=".incoming-", dir=target_root))
            try:
                if src.is_file():
                    shutil.copy2(src, tmp / src.name)
                else:
                    shutil.copytree(src, tmp, dirs_exist_ok=True, symlinks=True)
                sums = {str(p.relative_to(tmp)): file_sha256(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
                with self._store._session.begin() as s:
                    latest = s.scalar(sa.select(sa.func.max(ModelVersion.version)).where(ModelVersion.name == name))
                    version = (latest or 0) + 1
                    final = target_root / str(version)
                    if final.exists():  # left by a crash before its row was committed
                        shutil.rmtree(final)
                    os.replace(tmp, final)
                    row = ModelVersion(name=name, version=version, kind=kind, path=str(final), files=sums,
                                       meta=json_safe(meta or {}), metrics=json_safe(metrics or {}),
                                       run_id=run_id, created_at=time.time())
                    s.add(row)
                return self.get(name, version)
            except IntegrityError:  # another process took this version number: try the next
                shutil.rmtree(tmp, ignore_errors=True)
                continue
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp, ignore_errors=True)
        raise ConfigError(f"could not allocate a version of model {name!r} after 20 attempts")

    def _resolve(self, s, name: str, version: int | None, alias: str | None):
        import sqlalchemy as sa

        from hpcopt.store.schema import ModelAlias, ModelVersion

        _check_name(name)
        if alias is not None:
            a = s.get(ModelAlias, (name, alias))
            if a is None:
                raise InputError(f"model {name!r} has no alias {alias!r}",
                                 hint="set it with 'hpcopt models alias NAME ALIAS VERSION'")
            version = a.version
        q = sa.select(ModelVersion).where(ModelVersion.name == name)
        q = q.where(ModelVersion.version == version) if version is not None else \
            q.order_by(ModelVersion.version.desc())
        row = s.scalars(q.limit(1)).first()
        if row is None:
            what = f"version {version} of model {name!r}" if version is not None else f"a model named {name!r}"
            raise InputError(f"there is no {what} in the store", hint="list them with 'hpcopt models list'")
        return row

    def _record(self, s, row) -> ModelVersionRecord:
        import sqlalchemy as sa

        from hpcopt.store.schema import ModelAlias

        aliases = tuple(a.alias for a in s.scalars(sa.select(ModelAlias).where(
            ModelAlias.name == row.name, ModelAlias.version == row.version).order_by(ModelAlias.alias)))
        return ModelVersionRecord(row.name, row.version, row.kind, row.path, dict(row.files), dict(row.meta),
                                  dict(row.metrics), row.run_id, row.created_at, aliases)

    def get(self, name: str, version: int | None = None, *, alias: str | None = None) -> ModelVersionRecord:
        with self._store._session() as s:
            return self._record(s, self._resolve(s, name, version, alias))

    def path(self, name: str, version: int | None = None, *, alias: str | None = None) -> Path:
        """The version's directory, after checking every file against its recorded SHA-256."""
        from hpcopt.core.provenance import file_sha256

        rec = self.get(name, version, alias=alias)
        base = Path(rec.path)
        present = {str(p.relative_to(base)) for p in base.rglob("*") if p.is_file()} if base.is_dir() else set()
        for rel, digest in rec.files.items():
            f = base / rel
            if not f.is_file():
                raise InputError(f"model {rec.name} version {rec.version}: file {rel} is missing", source=str(base))
            if f.is_symlink() or file_sha256(f) != digest:
                raise InputError(f"model {rec.name} version {rec.version}: file {rel} does not match its recorded "
                                 "SHA-256 (damaged or replaced)", source=str(base),
                                 hint="register the model again")
        extra = present - set(rec.files)
        if extra:
            raise InputError(f"model {rec.name} version {rec.version}: unexpected files {sorted(extra)}",
                             source=str(base))
        return base

    def set_alias(self, name: str, alias: str, version: int) -> ModelVersionRecord:
        from hpcopt.store.schema import ModelAlias

        if not isinstance(alias, str) or not _ALIAS.match(alias) or alias.isdigit():
            raise ConfigError(f"an alias is a letter then letters, digits, '_' or '-'; got {alias!r} instead")
        with self._store._session.begin() as s:
            row = self._resolve(s, name, version, None)
            existing = s.get(ModelAlias, (name, alias))
            if existing is None:
                s.add(ModelAlias(name=name, alias=alias, version=row.version))
            else:
                existing.version = row.version
        return self.get(name, version)

    def list(self, name: str | None = None) -> list[ModelVersionRecord]:
        import sqlalchemy as sa

        from hpcopt.store.schema import ModelVersion

        q = sa.select(ModelVersion).order_by(ModelVersion.name, ModelVersion.version)
        if name is not None:
            _check_name(name)
            q = q.where(ModelVersion.name == name)
        with self._store._session() as s:
            return [self._record(s, r) for r in s.scalars(q)]
