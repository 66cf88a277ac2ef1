"""Search spaces: typed parameters, constraints as expressions, derived values.

A :class:`SearchSpace` holds parameters (integer, real, categorical, power-of-two,
ordered), constraints written as Python-like expressions over the parameters
(``"tile_i * tile_j <= 4096"``, ``"n % tile == 0"``) and derived values
(``{"threads": "block_x * block_y"}``) that constraints and runners can use.

Expressions are checked and evaluated by :mod:`hpcopt.tune.expr` (a whitelisted AST,
bounded powers and integers, a step and time budget), on one configuration or on every
point of the Cartesian product at once through the same code, so counting the valid
points of a 10^6-point space takes well under a second and agrees with the point-wise
answer.

Parameter ranges are bounded before anything is allocated: integer bounds stay within
``+-2**62``, an integer range is never listed to count or sample it (``high = 1e12`` is a
valid, sampled-only parameter), and :meth:`Parameter.values` refuses to list more than
:data:`MAX_VALUES` values.

A configuration is a ``dict`` mapping parameter names to values. Spaces made from a
replay cache can instead be given an explicit list of points (``points=``): only those
are valid.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpcopt.errors import InputError
from hpcopt.tune.expr import INT_BITS, INT_LIMIT, Budget, Expression, as_column

#: Spaces with more Cartesian points than this are not enumerated (sampling only).
MAX_ENUMERATE = 5_000_000
#: a parameter lists at most this many values (larger integer ranges are sampled lazily)
MAX_VALUES = MAX_ENUMERATE

# --------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class Parameter:
    """Base class: a named tunable parameter."""

    name: str

    #: whether the parameter takes a finite list of values
    discrete = True
    #: whether the values are ordered (distance between values has meaning)
    ordered = True

    def values(self) -> list[Any]:  # pragma: no cover - overridden
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:  # pragma: no cover - overridden
        raise NotImplementedError

    def n_values(self) -> int:
        """How many values (computed, never listed)."""
        return len(self.values())

    def value_at(self, i: int) -> Any:
        return self.values()[i]

    def sample(self, rng: np.random.Generator) -> Any:
        return self.value_at(int(rng.integers(self.n_values())))

    def sample_many(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` random values as a column (for estimating a large space's valid share)."""
        vals = as_column(self.values())
        return vals[rng.integers(len(vals), size=n)]

    def index(self, value: Any) -> int:
        """Position of ``value`` in :meth:`values` (raises InputError if absent)."""
        vals = self.values()
        try:
            return vals.index(value)
        except ValueError:
            # tolerate 4 vs 4.0 and numpy scalars
            for i, v in enumerate(vals):
                if _same(v, value):
                    return i
            raise InputError(
                f"{value!r} is not a value of parameter {self.name!r}",
                field=self.name,
                hint=f"allowed: {_short(vals)}",
            ) from None

    def encode(self, value: Any) -> float:
        """A number for surrogate models: the value for numeric ordered ones, else the index."""
        return float(self.index(value))


def _same(a: Any, b: Any) -> bool:
    try:
        return a == b or (float(a) == float(b))
    except (TypeError, ValueError):
        return False


def _short(vals: Sequence[Any], n: int = 8) -> str:
    if len(vals) <= n:
        return ", ".join(map(repr, vals))
    return ", ".join(map(repr, vals[:n])) + f", ... ({len(vals)} values)"


@dataclass(frozen=True)
class Integer(Parameter):
    """Integers ``low, low+step, ..., <= high``; ``log=True`` samples log-uniformly."""

    low: int = 0
    high: int = 0
    step: int = 1
    log: bool = False

    def __post_init__(self) -> None:
        for what in ("low", "high", "step"):
            v = getattr(self, what)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise InputError(f"{what} must be an integer; got {v!r}", field=self.name)
            if abs(int(v)) > INT_LIMIT:
                raise InputError(f"{what} ({v}) is beyond the integer limit 2**{INT_BITS}", field=self.name,
                                 hint="give bounds between -2**62 and 2**62")
            object.__setattr__(self, what, int(v))
        if self.high < self.low:
            raise InputError(f"high ({self.high}) is below low ({self.low})", field=self.name,
                             hint="give low <= high")
        if self.step < 1:
            raise InputError(f"step must be at least 1, got {self.step}", field=self.name)

    def n_values(self) -> int:
        return (self.high - self.low) // self.step + 1

    def value_at(self, i: int) -> int:
        if not 0 <= i < self.n_values():
            raise IndexError(i)
        return self.low + i * self.step

    def values(self) -> list[int]:
        n = self.n_values()
        if n > MAX_VALUES:
            raise InputError(f"parameter {self.name!r} has {n:,} values ({self.low}..{self.high} step {self.step}), "
                             f"more than {MAX_VALUES:,} to list", field=self.name,
                             hint="narrow the range or raise the step; a sampling strategy (random, tpe) can "
                             "still search it")
        return list(range(self.low, self.high + 1, self.step))

    def sample_many(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.low + self.step * rng.integers(self.n_values(), size=n, dtype=np.int64)

    def index(self, value: Any) -> int:
        try:
            v = int(value)
        except (TypeError, ValueError):
            v = None
        if v is None or v != value or v < self.low or v > self.high or (v - self.low) % self.step:
            raise InputError(f"{value!r} is not a value of parameter {self.name!r}", field=self.name,
                             hint=f"integers {self.low}..{self.high} step {self.step}")
        return (v - self.low) // self.step

    def encode(self, value: Any) -> float:
        return math.log2(value) if self.log and value > 0 else float(value)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "int", "low": self.low, "high": self.high, "step": self.step, "log": self.log}


@dataclass(frozen=True)
class Real(Parameter):
    """A real number in ``[low, high]`` (continuous: never enumerated)."""

    low: float = 0.0
    high: float = 1.0
    log: bool = False
    discrete = False

    def __post_init__(self) -> None:
        for what in ("low", "high"):
            v = getattr(self, what)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
                raise InputError(f"{what} must be a number; got {v!r}", field=self.name)
            if not math.isfinite(float(v)):
                raise InputError(f"{what} must be a finite number; got {v!r}", field=self.name)
            object.__setattr__(self, what, float(v))
        if not (self.high > self.low):
            raise InputError(f"high ({self.high}) must exceed low ({self.low})", field=self.name)
        if not math.isfinite(self.high - self.low):
            raise InputError(f"the range {self.low}..{self.high} is too wide to sample", field=self.name,
                             hint="give bounds whose difference is a finite float")
        if self.log and self.low <= 0:
            raise InputError("a log-scaled real needs low > 0", field=self.name)

    def values(self) -> list[float]:
        raise InputError(f"parameter {self.name!r} is real-valued and cannot be enumerated",
                         field=self.name, hint="use a sampling strategy (random, tpe, cmaes)")

    def sample(self, rng: np.random.Generator) -> float:
        if self.log:
            return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        return float(rng.uniform(self.low, self.high))

    def n_values(self) -> int:  # pragma: no cover - not meaningful
        raise InputError(f"parameter {self.name!r} is real-valued", field=self.name)

    def sample_many(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.log:
            return np.exp(rng.uniform(math.log(self.low), math.log(self.high), size=n))
        return rng.uniform(self.low, self.high, size=n)

    def index(self, value: Any) -> int:  # pragma: no cover - not meaningful
        raise InputError(f"parameter {self.name!r} is real-valued", field=self.name)

    def encode(self, value: Any) -> float:
        return math.log(value) if self.log else float(value)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "real", "low": self.low, "high": self.high, "log": self.log}


def _check_choices(name: str, choices: tuple[Any, ...]) -> None:
    """Choices are numbers, strings or booleans, bounded and listed once."""
    if len(choices) > MAX_VALUES:
        raise InputError(f"{len(choices):,} values, more than {MAX_VALUES:,}", field=name)
    seen: dict[Any, Any] = {}
    for v in choices:
        if isinstance(v, (bool, np.bool_)):
            key: Any = ("b", bool(v))
        elif isinstance(v, (int, np.integer)):
            if abs(int(v)) > INT_LIMIT:
                raise InputError(f"value {v} is beyond the integer limit 2**{INT_BITS}", field=name)
            key = ("n", float(v))
        elif isinstance(v, (float, np.floating)):
            if not math.isfinite(float(v)):
                raise InputError(f"value {v!r} is not a finite number", field=name)
            key = ("n", float(v))
        elif isinstance(v, str):
            key = ("s", v)
        else:
            raise InputError(f"value {v!r} ({type(v).__name__}) is not a number, string or boolean", field=name,
                             hint="list numbers, strings or booleans")
        if key in seen:
            raise InputError(f"value {v!r} is listed twice" + ("" if seen[key] == v and type(seen[key]) is type(v)
                                                               else f" (as {seen[key]!r})"), field=name,
                             hint="list each value once")
        seen[key] = v


@dataclass(frozen=True)
class Categorical(Parameter):
    """Unordered choices (strings, numbers, booleans)."""

    choices: tuple[Any, ...] = ()
    ordered = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "choices", tuple(self.choices))
        if not self.choices:
            raise InputError("a categorical parameter needs at least one choice", field=self.name)
        _check_choices(self.name, self.choices)

    def values(self) -> list[Any]:
        return list(self.choices)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "categorical", "choices": list(self.choices)}


@dataclass(frozen=True)
class Ordinal(Parameter):
    """An ordered list of values, e.g. ``[16, 32, 48, 64]`` or ``["O1", "O2", "O3"]``."""

    choices: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "choices", tuple(self.choices))
        if not self.choices:
            raise InputError("an ordered parameter needs at least one value", field=self.name)
        _check_choices(self.name, self.choices)

    def values(self) -> list[Any]:
        return list(self.choices)

    def encode(self, value: Any) -> float:
        if all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in self.choices):
            return float(value)
        return float(self.index(value))

    def to_dict(self) -> dict[str, Any]:
        return {"type": "ordinal", "values": list(self.choices)}


@dataclass(frozen=True)
class PowerOfTwo(Parameter):
    """Powers of two between ``low`` and ``high`` inclusive (both powers of two)."""

    low: int = 1
    high: int = 1

    def __post_init__(self) -> None:
        for what in ("low", "high"):
            v = getattr(self, what)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise InputError(f"{what} must be an integer; got {v!r}", field=self.name)
            if abs(int(v)) > INT_LIMIT:
                raise InputError(f"{what} ({v}) is beyond the limit 2**{INT_BITS}", field=self.name)
            object.__setattr__(self, what, int(v))
        for bound in (self.low, self.high):
            if bound < 1 or bound & (bound - 1):
                raise InputError(f"{bound} is not a power of two", field=self.name,
                                 hint="bounds of a power-of-two parameter must be 1, 2, 4, ...")
        if self.high < self.low:
            raise InputError(f"high ({self.high}) is below low ({self.low})", field=self.name)

    def values(self) -> list[int]:
        out, v = [], self.low
        while v <= self.high:
            out.append(v)
            v *= 2
        return out

    def encode(self, value: Any) -> float:
        return math.log2(value)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "pow2", "low": self.low, "high": self.high}


# --------------------------------------------------------------------------- the space


class SearchSpace:
    """Parameters, constraints and derived values.

    Parameters
    ----------
    parameters:
        The tunable parameters, in order (names must be unique).
    constraints:
        Expressions that must all be true for a configuration to be valid.
    derived:
        ``name -> expression`` values computed from the parameters (in order, so a derived
        value may use earlier ones); constraints may use them.
    points:
        Optional explicit list of valid configurations (tuples in parameter order); when
        given only these are valid (used for replay caches).
    """

    def __init__(
        self,
        parameters: Sequence[Parameter],
        constraints: Sequence[str] = (),
        derived: Mapping[str, str] | None = None,
        points: Iterable[Sequence[Any]] | None = None,
        *,
        source: str | None = None,
    ) -> None:
        self.source = source
        self.parameters: list[Parameter] = list(parameters)
        if not self.parameters:
            raise InputError("the search space has no parameters", source=source, field="parameters",
                             hint="declare at least one parameter")
        names = [p.name for p in self.parameters]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise InputError(f"parameter {dup[0]!r} is declared twice", source=source, field="parameters")
        for n in names:
            if not n.isidentifier():
                raise InputError(f"parameter name {n!r} is not an identifier", source=source, field="parameters",
                                 hint="use letters, digits and underscores")
        self.names = names
        self.derived: dict[str, Expression] = {}
        known = list(names)
        for dname, expr in (derived or {}).items():
            if dname in known:
                raise InputError(f"derived value {dname!r} clashes with a parameter", source=source, field="derived")
            if not str(dname).isidentifier():
                raise InputError(f"derived value name {dname!r} is not an identifier", source=source,
                                 field="derived", hint="use letters, digits and underscores")
            self.derived[dname] = Expression.parse(expr, known, what=f"derived value {dname!r}", source=source)
            known.append(dname)
        self.constraints = [Expression.parse(c, known, what="constraint", source=source) for c in constraints]
        self._points: list[tuple[Any, ...]] | None = None
        if points is not None:
            self._points = [tuple(p) for p in points]
            for p in self._points[:1]:
                if len(p) != len(names):
                    raise InputError(f"point {p} has {len(p)} values for {len(names)} parameters",
                                     source=source, field="points")
            self._point_set = set(self._points)
        self._valid_cache: list[tuple[Any, ...]] | None = None
        self._valid_memo: dict[tuple[Any, ...], bool] = {}
        self._dtypes: dict[str, np.dtype] = {}

    # -- basic facts
    @property
    def discrete(self) -> bool:
        return all(p.discrete for p in self.parameters)

    def cartesian_size(self) -> float:
        """Number of points of the Cartesian product (``inf`` with a real parameter); computed
        from the parameters' sizes, nothing is listed."""
        if not self.discrete:
            return math.inf
        return float(math.prod(p.n_values() for p in self.parameters))

    def __repr__(self) -> str:
        return f"SearchSpace({', '.join(self.names)}; {len(self.constraints)} constraints)"

    # -- evaluation (one code path for one point and for many)
    def _evaluate(self, columns: Mapping[str, np.ndarray], n: int, *, budget: Budget | None = None,
                  want_derived: bool = False):
        """Validity mask over ``n`` points given as columns (and the derived columns).

        A point is valid when every derived value is defined there and every constraint is
        true; like Python's ``all``, a constraint is looked at only where the earlier ones hold."""
        budget = budget or Budget()
        env: dict[str, tuple[np.ndarray, np.ndarray | None]] = {k: (v, None) for k, v in columns.items()}
        mask = np.ones(n, dtype=bool)
        for dname, expr in self.derived.items():
            val, und = expr.evaluate(env, n, budget=budget, point_names=self.names)
            env[dname] = (val, und)
            mask &= ~und
        for c in self.constraints:
            if not mask.any():
                break
            val, und = c.evaluate(env, n, live=mask, budget=budget, point_names=self.names)
            mask &= c.truth(val) & ~und
        return (mask, env) if want_derived else mask

    def _columns(self, config: Mapping[str, Any]) -> dict[str, np.ndarray]:
        return {p.name: self._column(p, [config[p.name]]) for p in self.parameters}

    def _column(self, p: Parameter, values: list[Any]) -> np.ndarray:
        """Values of ``p`` as a column of the same dtype as the whole space's column, so one
        point is computed exactly as it is in the enumeration (``[2, 2.5]`` is float there)."""
        dtype = self._dtypes.get(p.name)
        if dtype is None:
            if isinstance(p, (Integer, PowerOfTwo)):
                dtype = np.dtype(np.int64)
            elif not p.discrete:
                dtype = np.dtype(np.float64)
            else:
                dtype = as_column(p.values()).dtype
            self._dtypes[p.name] = dtype
        col = as_column(values)
        if col.dtype != dtype and col.dtype.kind in "biuf" and dtype.kind in "biuf":
            return col.astype(dtype)
        if col.dtype != dtype and dtype.kind == "O":
            out = np.empty(len(values), dtype=object)
            out[:] = values
            return out
        return col

    # -- single configurations
    def with_derived(self, config: Mapping[str, Any]) -> dict[str, Any]:
        env = dict(config)
        if not self.derived:
            return env
        _, cols = self._evaluate(self._columns(config), 1, want_derived=True)
        for dname, expr in self.derived.items():
            val, und = cols[dname]
            if und[0]:
                raise InputError(f"derived value {dname!r} ({expr.text!r}) is undefined at {dict(config)} "
                                 "(a division by zero or a value outside a function's domain)",
                                 source=self.source, field="derived")
            v = val[0]
            env[dname] = v.item() if hasattr(v, "item") else v
        return env

    def check(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """Return the configuration as a clean dict or raise InputError (unknown/missing names)."""
        missing = [n for n in self.names if n not in config]
        extra = [k for k in config if k not in self.names]
        if missing:
            raise InputError(f"configuration lacks parameter {missing[0]!r}", field=missing[0])
        if extra:
            raise InputError(f"configuration has unknown parameter {extra[0]!r}", field=extra[0],
                             hint=f"known: {', '.join(self.names)}")
        out = {}
        for p in self.parameters:
            v = config[p.name]
            if p.discrete:
                v = p.value_at(p.index(v))
            else:
                try:
                    v = float(v)
                except (TypeError, ValueError):
                    raise InputError(f"{v!r} is not a number", field=p.name) from None
                if not (p.low <= v <= p.high):  # type: ignore[attr-defined]
                    raise InputError(f"{v} is outside [{p.low}, {p.high}]", field=p.name)  # type: ignore[attr-defined]
            out[p.name] = v
        return out

    def is_valid(self, config: Mapping[str, Any]) -> bool:
        if self._points is not None:
            return self.key(config) in self._point_set
        if not self.constraints and not self.derived:
            return True
        # strategies propose the same configurations again and again: remember the answer
        # (keyed with the value types: 4 ** 40 and 4.0 ** 40 are not the same computation)
        try:
            memo_key = tuple((type(config[n]), config[n]) for n in self.names)
            hit = self._valid_memo.get(memo_key)
        except TypeError:
            memo_key, hit = None, None
        if hit is not None:
            return hit
        ok = bool(self._evaluate(self._columns(config), 1)[0])
        if memo_key is not None:
            if len(self._valid_memo) >= 65536:
                self._valid_memo.clear()
            self._valid_memo[memo_key] = ok
        return ok

    def violated(self, config: Mapping[str, Any]) -> list[str]:
        """The text of every constraint the configuration breaks (or where it is undefined)."""
        _, env = self._evaluate(self._columns(config), 1, want_derived=True)
        out = []
        for c in self.constraints:
            val, und = c.evaluate(env, 1, point_names=self.names)
            if und[0] or not c.truth(val)[0]:
                out.append(c.text)
        return out

    def key(self, config: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(config[n] for n in self.names)

    def to_config(self, point: Sequence[Any]) -> dict[str, Any]:
        return dict(zip(self.names, point))

    # -- enumeration
    def valid_points(self) -> list[tuple[Any, ...]]:
        """Every valid configuration as a tuple (discrete spaces only), in lexicographic order."""
        if self._valid_cache is not None:
            return self._valid_cache
        if self._points is not None:
            pts = self._points
            if self.constraints or self.derived:
                pts = [p for p in pts if self.is_valid_ignoring_points(self.to_config(p))]
            self._valid_cache = list(pts)
            return self._valid_cache
        idx, mask, vals = self._valid_mask()
        ok = idx[mask]
        self._valid_cache = [tuple(vals[j][i] for j, i in enumerate(row)) for row in ok.tolist()]
        return self._valid_cache

    def is_valid_ignoring_points(self, config: Mapping[str, Any]) -> bool:
        return bool(self._evaluate(self._columns(config), 1)[0]) if (self.constraints or self.derived) else True

    def _valid_mask(self) -> tuple[np.ndarray, np.ndarray, list[list[Any]]]:
        """(value-index matrix of the Cartesian product, validity mask, values per parameter)."""
        if not self.discrete:
            raise InputError("a space with real-valued parameters cannot be enumerated", source=self.source,
                             field="parameters", hint="use a sampling strategy such as random, tpe or cmaes")
        size = self.cartesian_size()
        if size > MAX_ENUMERATE:
            raise InputError(f"the space has {size:.3g} points, more than {MAX_ENUMERATE:.0e} to enumerate",
                             source=self.source, field="parameters",
                             hint="narrow the ranges or use a sampling strategy")
        vals = [p.values() for p in self.parameters]
        idx_grids = np.meshgrid(*[np.arange(len(v)) for v in vals], indexing="ij")
        idx = np.stack([g.ravel() for g in idx_grids], axis=1) if idx_grids else np.zeros((1, 0), int)
        n = idx.shape[0]
        if self.constraints or self.derived:
            cols = {}
            for j, (p, v) in enumerate(zip(self.parameters, vals)):
                try:
                    col = as_column(v)
                except InputError as exc:
                    raise InputError(exc.reason, source=self.source, field=f"parameters.{p.name}") from None
                cols[p.name] = col[idx[:, j]]
            mask = self._evaluate(cols, n)
        else:
            mask = np.ones(n, dtype=bool)
        return idx, mask, vals

    def size_report(self) -> dict[str, Any]:
        """Cartesian size, valid count and fraction (valid estimated by sampling when huge)."""
        cart = self.cartesian_size()
        rep: dict[str, Any] = {"parameters": len(self.parameters), "constraints": len(self.constraints),
                               "cartesian_size": cart if math.isfinite(cart) else None}
        if self._points is not None or self._valid_cache is not None:
            n = len(self.valid_points())
            rep.update(valid=n, valid_fraction=(n / cart if cart else 0.0), exact=True)
        elif self.discrete and not (self.constraints or self.derived):
            rep.update(valid=cart, valid_fraction=1.0, exact=True)  # counted, nothing listed
        elif self.discrete and cart <= MAX_ENUMERATE:
            n = int(self._valid_mask()[1].sum())
            rep.update(valid=n, valid_fraction=(n / cart if cart else 0.0), exact=True)
        else:
            rng = np.random.default_rng(0)
            draws = 20_000
            cols = {p.name: p.sample_many(rng, draws) for p in self.parameters}
            ok = int(self._evaluate(cols, draws).sum()) if (self.constraints or self.derived) else draws
            rep.update(valid=(ok / draws * cart if math.isfinite(cart) else None),
                       valid_fraction=ok / draws, exact=False)
        return rep

    # -- sampling and encoding
    def _sample_raw(self, rng: np.random.Generator) -> dict[str, Any]:
        return {p.name: p.sample(rng) for p in self.parameters}

    def enumerable(self) -> bool:
        return self._points is not None or (self.discrete and self.cartesian_size() <= MAX_ENUMERATE)

    def sample_valid(self, rng: np.random.Generator, max_tries: int = 100_000) -> dict[str, Any]:
        if self.enumerable():
            pts = self.valid_points()
            if not pts:
                raise InputError("the search space has no valid configuration", field="constraints",
                                 hint="relax the constraints")
            return self.to_config(pts[int(rng.integers(len(pts)))])
        # draws as before, one configuration after another, but checked in growing batches
        # through the vectorised evaluation (the first valid draw is the same as one by one)
        tries, batch = 0, 8
        while tries < max_tries:
            k = min(batch, max_tries - tries)
            draws = [self._sample_raw(rng) for _ in range(k)]
            tries += k
            if not (self.constraints or self.derived):
                return draws[0]
            cols = {p.name: self._column(p, [d[p.name] for d in draws]) for p in self.parameters}
            ok = np.flatnonzero(self._evaluate(cols, k))
            if ok.size:
                return draws[int(ok[0])]
            batch = min(batch * 2, 1024)
        raise InputError(f"no valid configuration found in {max_tries} random draws", field="constraints",
                         hint="the constraints exclude (almost) the whole space; relax them")

    def encode(self, configs: Iterable[Mapping[str, Any]]) -> np.ndarray:
        """Numeric matrix (one row per configuration) for surrogate models."""
        rows = [[p.encode(c[p.name]) for p in self.parameters] for c in configs]
        return np.asarray(rows, dtype=float).reshape(len(rows), len(self.parameters))

    def encode_points(self, points: Sequence[Sequence[Any]]) -> np.ndarray:
        cols = []
        for j, p in enumerate(self.parameters):
            lookup = {}
            col = np.empty(len(points))
            for i, pt in enumerate(points):
                v = pt[j]
                try:
                    e = lookup[v]
                except (KeyError, TypeError):
                    e = p.encode(v)
                    try:
                        lookup[v] = e
                    except TypeError:
                        pass
                col[i] = e
            cols.append(col)
        return np.stack(cols, axis=1) if cols else np.zeros((len(points), 0))

    def to_dict(self) -> dict[str, Any]:
        return {
            "parameters": {p.name: p.to_dict() for p in self.parameters},
            "constraints": [c.text for c in self.constraints],
            "derived": {k: v.text for k, v in self.derived.items()},
        }


_PARAM_KEYS = {
    "int": {"type", "low", "high", "step", "log"},
    "real": {"type", "low", "high", "log"},
    "categorical": {"type", "choices"},
    "ordinal": {"type", "values"},
    "pow2": {"type", "low", "high"},
    "power_of_two": {"type", "low", "high"},
}


def did_you_mean(word: str, allowed: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for a near miss, else an empty string."""
    import difflib

    close = difflib.get_close_matches(str(word), sorted(allowed), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _type_name(v: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "a list",
            dict: "a table"}.get(type(v), type(v).__name__)


def _spec_int(v: Any, what: str, src: str | None, fld: str) -> int:
    """An integer from a spec: an int, or a float with an integral value (``1e12``)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise InputError(f"{what} must be an integer; got {v!r} ({_type_name(v)})", source=src, field=fld)
    if isinstance(v, float):
        if not math.isfinite(v) or v != int(v):
            raise InputError(f"{what} must be an integer; got {v!r}", source=src, field=fld)
        if abs(v) > INT_LIMIT:
            raise InputError(f"{what} ({v:g}) is beyond the integer limit 2**{INT_BITS}", source=src, field=fld)
        v = int(v)
    if abs(v) > INT_LIMIT:
        raise InputError(f"{what} ({v}) is beyond the integer limit 2**{INT_BITS}", source=src, field=fld)
    return v


def _spec_num(v: Any, what: str, src: str | None, fld: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise InputError(f"{what} must be a number; got {v!r} ({_type_name(v)})", source=src, field=fld)
    if not math.isfinite(float(v)):
        raise InputError(f"{what} must be a finite number; got {v!r}", source=src, field=fld)
    return float(v)


def _spec_bool(v: Any, what: str, src: str | None, fld: str) -> bool:
    if not isinstance(v, bool):
        raise InputError(f"{what} must be true or false; got {v!r} ({_type_name(v)})", source=src, field=fld)
    return v


def _spec_list(v: Any, what: str, src: str | None, fld: str) -> tuple[Any, ...]:
    if not isinstance(v, (list, tuple)):
        raise InputError(f"{what} must be a list; got {v!r} ({_type_name(v)})", source=src, field=fld)
    return tuple(v)


def parameter_from_spec(name: str, spec: Mapping[str, Any] | Sequence[Any], *, source: str | None = None) -> Parameter:
    """Build a parameter from a TOML/JSON-style description, every key checked.

    ``[1, 2, 4]`` is an ordered list; ``{type = "int", low = 1, high = 8}``, ``{type = "real", ...}``,
    ``{type = "categorical", choices = [...]}``, ``{type = "pow2", low = 1, high = 64}``,
    ``{type = "ordinal", values = [...]}``.
    """
    fld = f"parameters.{name}"
    src = source
    try:
        if isinstance(spec, (list, tuple)):
            return Ordinal(name, tuple(spec))
        if not isinstance(spec, Mapping):
            raise InputError(f"cannot read parameter {name!r} from {spec!r}", source=src, field=fld,
                             hint="give a list of values or a table with a 'type'")
        kind = spec.get("type")
        if kind not in _PARAM_KEYS:
            raise InputError(f"unknown parameter type {kind!r}" + did_you_mean(str(kind), _PARAM_KEYS),
                             source=src, field=f"{fld}.type", hint="one of: int, real, categorical, ordinal, pow2")
        allowed = _PARAM_KEYS[kind]
        for k in spec:
            if k not in allowed:
                raise InputError(f"unknown key {k!r} for a parameter of type {kind!r}" + did_you_mean(k, allowed),
                                 source=src, field=f"{fld}.{k}", hint=f"allowed: {', '.join(sorted(allowed))}")
        need = {"int": ("low", "high"), "real": ("low", "high"), "categorical": ("choices",),
                "ordinal": ("values",)}.get(kind, ("low", "high"))
        for k in need:
            if k not in spec:
                raise InputError(f"parameter {name!r} of type {kind!r} lacks {k!r}", source=src, field=fld)
        if kind == "int":
            return Integer(name, _spec_int(spec["low"], "low", src, f"{fld}.low"),
                           _spec_int(spec["high"], "high", src, f"{fld}.high"),
                           _spec_int(spec.get("step", 1), "step", src, f"{fld}.step"),
                           _spec_bool(spec.get("log", False), "log", src, f"{fld}.log"))
        if kind == "real":
            return Real(name, _spec_num(spec["low"], "low", src, f"{fld}.low"),
                        _spec_num(spec["high"], "high", src, f"{fld}.high"),
                        _spec_bool(spec.get("log", False), "log", src, f"{fld}.log"))
        if kind == "categorical":
            return Categorical(name, _spec_list(spec["choices"], "choices", src, f"{fld}.choices"))
        if kind == "ordinal":
            return Ordinal(name, _spec_list(spec["values"], "values", src, f"{fld}.values"))
        return PowerOfTwo(name, _spec_int(spec["low"], "low", src, f"{fld}.low"),
                          _spec_int(spec["high"], "high", src, f"{fld}.high"))
    except InputError as exc:
        if exc.source is not None and (exc.field or "").startswith(fld):
            raise
        raise InputError(exc.reason, source=src, field=fld, hint=exc.hint) from None


def space_from_dict(d: Mapping[str, Any]) -> SearchSpace:
    """Inverse of :meth:`SearchSpace.to_dict` (explicit replay points are not stored)."""
    params = [parameter_from_spec(k, v) for k, v in d["parameters"].items()]
    return SearchSpace(params, d.get("constraints", []), d.get("derived", {}))


__all__ = [
    "Parameter", "Integer", "Real", "Categorical", "Ordinal", "PowerOfTwo",
    "Expression", "SearchSpace", "parameter_from_spec", "space_from_dict", "MAX_ENUMERATE", "MAX_VALUES",
    "did_you_mean",
]
