"""One registry shape for every pluggable kind (policies, detectors, strategies, ...).

A :class:`Registry` maps names to factories. Built-ins register at import; third-party
packages add theirs through the entry-point group ``hpcopt.plugins`` with names of the
form ``<kind>.<name>``, e.g. in a plugin's ``pyproject.toml``::

    [project.entry-points."hpcopt.plugins"]
    "detector.my_detector" = "my_pkg.detectors:MyDetector"

Unknown names get one error that lists what exists and suggests the closest name.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from hpcopt.errors import ConfigError

__all__ = ["Registry", "did_you_mean", "ENTRY_POINT_GROUP"]

ENTRY_POINT_GROUP = "hpcopt.plugins"
T = TypeVar("T")


def did_you_mean(name: str, choices: list[str] | tuple[str, ...]) -> str:
    """``"; did you mean 'x'?"`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


class Registry(Generic[T]):
    """Names to factories for one ``kind`` (``"order"``, ``"detector"``, ...)."""

    def __init__(self, kind: str, *, load_plugins: bool = True) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._help: dict[str, str] = {}
        self._plugins_loaded = not load_plugins
        self._plugin_errors: dict[str, str] = {}

    def register(self, name: str, item: T | None = None, *, help: str = "", replace: bool = False):
        """Register ``item`` under ``name``; without ``item``, a decorator."""
        if item is None:
            def deco(obj: T) -> T:
                self.register(name, obj, help=help, replace=replace)
                return obj
            return deco
        if not isinstance(name, str) or not name or name != name.strip():
            raise ConfigError(f"a {self.kind} name must be a non-empty string without surrounding spaces; "
                              f"got {name!r} instead")
        if name in self._items and not replace:
            raise ConfigError(f"a {self.kind} named {name!r} is already registered")
        self._items[name] = item
        self._help[name] = help or (getattr(item, "__doc__", None) or "").strip().split("\n")[0]
        return item

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        from importlib.metadata import entry_points

        prefix = f"{self.kind}."
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if not ep.name.startswith(prefix):
                continue
            name = ep.name[len(prefix):]
            if name in self._items:
                continue  # a built-in keeps its name
            try:
                self.register(name, ep.load(), help=f"plugin from {ep.value}")
            except Exception as exc:  # a broken plugin must not break the built-ins
                self._plugin_errors[name] = f"{type(exc).__name__}: {exc}"

    def names(self) -> list[str]:
        self._load_plugins()
        return list(self._items)

    def describe(self) -> dict[str, str]:
        self._load_plugins()
        return dict(self._help)

    def __contains__(self, name: object) -> bool:
        self._load_plugins()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def get(self, name: str) -> T:
        self._load_plugins()
        try:
            return self._items[name]
        except (KeyError, TypeError):
            pass
        if name in self._plugin_errors:
            raise ConfigError(f"the {self.kind} plugin {name!r} failed to load: {self._plugin_errors[name]}")
        names = list(self._items)
        raise ConfigError(f"unknown {self.kind} {name!r}{did_you_mean(name, names)}; "
                          f"choose one of: {', '.join(names)}")

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def create(self, name: str, /, **params: Any) -> Any:
        factory = self.get(name)
        if not callable(factory):
            raise ConfigError(f"the {self.kind} {name!r} is not a factory")
        return factory(**params)  # type: ignore[operator]

    def items(self) -> list[tuple[str, T]]:
        self._load_plugins()
        return list(self._items.items())


def _as_callable(obj: Any) -> Callable[..., Any]:  # pragma: no cover - typing helper
    return obj
