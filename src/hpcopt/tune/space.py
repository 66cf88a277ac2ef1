"""Search spaces: typed parameters, constraints as expressions, derived values.

A :class:`SearchSpace` holds parameters (integer, real, categorical, power-of-two,
ordered), constraints written as Python-like expressions over the parameters
(``"tile_i * tile_j <= 4096"``, ``"n % tile == 0"``) and derived values
(``{"threads": "block_x * block_y"}``) that constraints and runners can use.

Expressions are parsed with :mod:`ast` and checked against a small whitelist of node
types and functions: an unknown name or an unsupported construct is an
:class:`~hpcopt.errors.InputError` that says which expression and what is allowed. They
are evaluated either on one configuration or, vectorised with numpy, on every point of
the Cartesian product at once, so counting the valid points of a 10^6-point space takes
well under a second.

A configuration is a ``dict`` mapping parameter names to values. Spaces made from a
replay cache can instead be given an explicit list of points (``points=``): only those
are valid.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hpcopt.errors import InputError

#: Spaces with more Cartesian points than this are not enumerated (sampling only).
MAX_ENUMERATE = 5_000_000

_ALLOWED_FUNCS = {
    "min": (min, np.minimum),
    "max": (max, np.maximum),
    "abs": (abs, np.abs),
    "log2": (math.log2, np.log2),
    "sqrt": (math.sqrt, np.sqrt),
    "ceil": (math.ceil, np.ceil),
    "floor": (math.floor, np.floor),
}
_ALLOWED_NODES = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.BinOp, ast.UnaryOp, ast.Compare,
    ast.Name, ast.Load, ast.Constant, ast.Call, ast.IfExp,
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow,
    ast.USub, ast.UAdd, ast.Not,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE,
)


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

    def sample(self, rng: np.random.Generator) -> Any:
        vals = self.values()
        return vals[int(rng.integers(len(vals)))]

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
        if self.high < self.low:
            raise InputError(f"high ({self.high}) is below low ({self.low})", field=self.name,
                             hint="give low <= high")
        if self.step < 1:
            raise InputError(f"step must be at least 1, got {self.step}", field=self.name)

    def values(self) -> list[int]:
        return list(range(int(self.low), int(self.high) + 1, int(self.step)))

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
        if not (self.high > self.low):
            raise InputError(f"high ({self.high}) must exceed low ({self.low})", field=self.name)
        if self.log and self.low <= 0:
            raise InputError("a log-scaled real needs low > 0", field=self.name)

    def values(self) -> list[float]:
        raise InputError(f"parameter {self.name!r} is real-valued and cannot be enumerated",
                         field=self.name, hint="use a sampling strategy (random, tpe, cmaes)")

    def sample(self, rng: np.random.Generator) -> float:
        if self.log:
            return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        return float(rng.uniform(self.low, self.high))

    def index(self, value: Any) -> int:  # pragma: no cover - not meaningful
        raise InputError(f"parameter {self.name!r} is real-valued", field=self.name)

    def encode(self, value: Any) -> float:
        return math.log(value) if self.log else float(value)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "real", "low": self.low, "high": self.high, "log": self.log}


@dataclass(frozen=True)
class Categorical(Parameter):
    """Unordered choices (strings, numbers, booleans)."""

    choices: tuple[Any, ...] = ()
    ordered = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "choices", tuple(self.choices))
        if not self.choices:
            raise InputError("a categorical parameter needs at least one choice", field=self.name)

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


# --------------------------------------------------------------------------- expressions


class _Vectorise(ast.NodeTransformer):
    """Rewrite ``and``/``or``/``not``/``x if c else y`` into numpy calls for arrays."""

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        self.generic_visit(node)
        fn = "__and" if isinstance(node.op, ast.And) else "__or"
        out = node.values[0]
        for nxt in node.values[1:]:
            out = ast.Call(func=ast.Name(id=fn, ctx=ast.Load()), args=[out, nxt], keywords=[])
        return out

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.Not):
            return ast.Call(func=ast.Name(id="__not", ctx=ast.Load()), args=[node.operand], keywords=[])
        return node

    def visit_IfExp(self, node: ast.IfExp) -> ast.AST:
        self.generic_visit(node)
        return ast.Call(func=ast.Name(id="__where", ctx=ast.Load()),
                        args=[node.test, node.body, node.orelse], keywords=[])

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        if len(node.ops) == 1:
            return node
        # a < b < c  ->  (a < b) & (b < c)
        parts, left = [], node.left
        for op, right in zip(node.ops, node.comparators):
            parts.append(ast.Compare(left=left, ops=[op], comparators=[right]))
            left = right
        out = parts[0]
        for nxt in parts[1:]:
            out = ast.Call(func=ast.Name(id="__and", ctx=ast.Load()), args=[out, nxt], keywords=[])
        return out


@dataclass
class Expression:
    """A checked expression over parameter (and derived) names."""

    text: str
    names: frozenset[str]
    _scalar: Any = field(repr=False, default=None)
    _vector: Any = field(repr=False, default=None)

    @classmethod
    def parse(cls, text: str, known: Iterable[str], *, what: str = "constraint") -> "Expression":
        known = list(known)
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"empty {what} expression", field=what, hint="write e.g. 'tile_i * tile_j <= 4096'")
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError as exc:
            raise InputError(f"{what} {text!r} is not a valid expression: {exc.msg}", field=what,
                             hint="use Python syntax: +, -, *, /, //, %, **, comparisons, and/or/not") from None
        names: set[str] = set()
        for node in ast.walk(tree):
            if not isinstance(node, _ALLOWED_NODES):
                raise InputError(f"{what} {text!r} uses an unsupported construct ({type(node).__name__})",
                                 field=what, hint="allowed: arithmetic, comparisons, and/or/not, "
                                 f"x if c else y, and the functions {', '.join(sorted(_ALLOWED_FUNCS))}")
            if isinstance(node, ast.Call):
                if not isinstance(node.func, ast.Name) or node.func.id not in _ALLOWED_FUNCS or node.keywords:
                    fname = getattr(node.func, "id", ast.unparse(node.func))
                    raise InputError(f"{what} {text!r} calls {fname!r}, which is not allowed", field=what,
                                     hint=f"allowed functions: {', '.join(sorted(_ALLOWED_FUNCS))}")
            elif isinstance(node, ast.Name) and node.id not in _ALLOWED_FUNCS:
                names.add(node.id)
        unknown = sorted(names - set(known))
        if unknown:
            raise InputError(f"{what} {text!r} names unknown parameter {unknown[0]!r}", field=what,
                             hint=f"known names: {', '.join(known) or '(none)'}")
        scalar = compile(tree, f"<{what}>", "eval")
        vtree = ast.fix_missing_locations(_Vectorise().visit(ast.parse(text.strip(), mode="eval")))
        vector = compile(vtree, f"<{what}>", "eval")
        return cls(text=text.strip(), names=frozenset(names), _scalar=scalar, _vector=vector)

    def __getstate__(self) -> dict[str, Any]:
        # code objects do not pickle: keep the (already checked) text, compile again on load
        return {"text": self.text, "names": self.names}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.text, self.names = state["text"], state["names"]
        tree = ast.parse(self.text, mode="eval")
        self._scalar = compile(tree, "<expression>", "eval")
        vtree = ast.fix_missing_locations(_Vectorise().visit(ast.parse(self.text, mode="eval")))
        self._vector = compile(vtree, "<expression>", "eval")

    def __call__(self, env: Mapping[str, Any]) -> Any:
        scope = {k: f[0] for k, f in _ALLOWED_FUNCS.items()}
        scope.update(env)
        try:
            return eval(self._scalar, {"__builtins__": {}}, scope)  # noqa: S307 - whitelisted AST
        except ZeroDivisionError:
            return False
        except (TypeError, ValueError, OverflowError) as exc:
            raise InputError(f"cannot evaluate {self.text!r} on {dict(env)}: {exc}", field="constraint") from None

    def vectorised(self, env: Mapping[str, np.ndarray]) -> np.ndarray:
        scope: dict[str, Any] = {k: f[1] for k, f in _ALLOWED_FUNCS.items()}
        scope.update({"__and": np.logical_and, "__or": np.logical_or, "__not": np.logical_not,
                      "__where": np.where})
        scope.update(env)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            try:
                return eval(self._vector, {"__builtins__": {}}, scope)  # noqa: S307 - whitelisted AST
            except (TypeError, ValueError, ZeroDivisionError) as exc:
                raise InputError(f"cannot evaluate {self.text!r} on the whole space: {exc}",
                                 field="constraint") from None


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
    ) -> None:
        self.parameters: list[Parameter] = list(parameters)
        if not self.parameters:
            raise InputError("the search space has no parameters", field="parameters",
                             hint="declare at least one parameter")
        names = [p.name for p in self.parameters]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise InputError(f"parameter {dup[0]!r} is declared twice", field="parameters")
        for n in names:
            if not n.isidentifier():
                raise InputError(f"parameter name {n!r} is not an identifier", field="parameters",
                                 hint="use letters, digits and underscores")
        self.names = names
        self.derived: dict[str, Expression] = {}
        known = list(names)
        for dname, expr in (derived or {}).items():
            if dname in known:
                raise InputError(f"derived value {dname!r} clashes with a parameter", field="derived")
            self.derived[dname] = Expression.parse(expr, known, what=f"derived value {dname!r}")
            known.append(dname)
        self.constraints = [Expression.parse(c, known, what="constraint") for c in constraints]
        self._points: list[tuple[Any, ...]] | None = None
        if points is not None:
            self._points = [tuple(p) for p in points]
            for p in self._points[:1]:
                if len(p) != len(names):
                    raise InputError(f"point {p} has {len(p)} values for {len(names)} parameters",
                                     field="points")
            self._point_set = set(self._points)
        self._valid_cache: list[tuple[Any, ...]] | None = None

    # -- basic facts
    @property
    def discrete(self) -> bool:
        return all(p.discrete for p in self.parameters)

    def cartesian_size(self) -> float:
        """Number of points of the Cartesian product (``inf`` with a real parameter)."""
        if not self.discrete:
            return math.inf
        return float(math.prod(len(p.values()) for p in self.parameters))

    def __repr__(self) -> str:
        return f"SearchSpace({', '.join(self.names)}; {len(self.constraints)} constraints)"

    # -- single configurations
    def with_derived(self, config: Mapping[str, Any]) -> dict[str, Any]:
        env = dict(config)
        for dname, expr in self.derived.items():
            env[dname] = expr(env)
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
                v = p.values()[p.index(v)]
            else:
                v = float(v)
                if not (p.low <= v <= p.high):  # type: ignore[attr-defined]
                    raise InputError(f"{v} is outside [{p.low}, {p.high}]", field=p.name)  # type: ignore[attr-defined]
            out[p.name] = v
        return out

    def is_valid(self, config: Mapping[str, Any]) -> bool:
        if self._points is not None:
            return self.key(config) in self._point_set
        env = self.with_derived(config)
        return all(bool(c(env)) for c in self.constraints)

    def violated(self, config: Mapping[str, Any]) -> list[str]:
        """The text of every constraint the configuration breaks."""
        env = self.with_derived(config)
        return [c.text for c in self.constraints if not bool(c(env))]

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
            if self.constraints:
                pts = [p for p in pts if all(bool(c(self.with_derived(self.to_config(p))))
                                             for c in self.constraints)]
            self._valid_cache = list(pts)
            return self._valid_cache
        idx, mask, vals = self._valid_mask()
        ok = idx[mask]
        self._valid_cache = [tuple(vals[j][i] for j, i in enumerate(row)) for row in ok.tolist()]
        return self._valid_cache

    def _valid_mask(self) -> tuple[np.ndarray, np.ndarray, list[list[Any]]]:
        """(value-index matrix of the Cartesian product, validity mask, values per parameter)."""
        if not self.discrete:
            raise InputError("a space with real-valued parameters cannot be enumerated", field="parameters",
                             hint="use a sampling strategy such as random, tpe or cmaes")
        size = self.cartesian_size()
        if size > MAX_ENUMERATE:
            raise InputError(f"the space has {size:.3g} points, more than {MAX_ENUMERATE:.0e} to enumerate",
                             field="parameters", hint="narrow the ranges or use a sampling strategy")
        vals = [p.values() for p in self.parameters]
        idx_grids = np.meshgrid(*[np.arange(len(v)) for v in vals], indexing="ij")
        idx = np.stack([g.ravel() for g in idx_grids], axis=1) if idx_grids else np.zeros((1, 0), int)
        mask = np.ones(idx.shape[0], dtype=bool)
        if self.constraints:
            env: dict[str, Any] = {}
            for j, (p, v) in enumerate(zip(self.parameters, vals)):
                arr = np.asarray(v, dtype=object)
                try:
                    arr = np.asarray(v)
                except (TypeError, ValueError):
                    pass
                env[p.name] = arr[idx[:, j]]
            for dname, expr in self.derived.items():
                env[dname] = np.broadcast_to(expr.vectorised(env), (idx.shape[0],))
            for c in self.constraints:
                res = np.broadcast_to(np.asarray(c.vectorised(env), dtype=bool), mask.shape)
                mask &= res
        return idx, mask, vals

    def size_report(self) -> dict[str, Any]:
        """Cartesian size, valid count and fraction (valid estimated by sampling when huge)."""
        cart = self.cartesian_size()
        rep: dict[str, Any] = {"parameters": len(self.parameters), "constraints": len(self.constraints),
                               "cartesian_size": cart if math.isfinite(cart) else None}
        if self._points is not None or self._valid_cache is not None:
            n = len(self.valid_points())
            rep.update(valid=n, valid_fraction=(n / cart if cart else 0.0), exact=True)
        elif self.discrete and cart <= MAX_ENUMERATE:
            n = int(self._valid_mask()[1].sum())
            rep.update(valid=n, valid_fraction=(n / cart if cart else 0.0), exact=True)
        else:
            rng = np.random.default_rng(0)
            draws = 20_000
            ok = sum(self.is_valid(self._sample_raw(rng)) for _ in range(draws))
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
        for _ in range(max_tries):
            c = self._sample_raw(rng)
            if self.is_valid(c):
                return c
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


def parameter_from_spec(name: str, spec: Mapping[str, Any] | Sequence[Any], *, source: str | None = None) -> Parameter:
    """Build a parameter from a TOML/JSON-style description.

    ``[1, 2, 4]`` is an ordered list; ``{type = "int", low = 1, high = 8}``, ``{type = "real", ...}``,
    ``{type = "categorical", choices = [...]}``, ``{type = "pow2", low = 1, high = 64}``,
    ``{type = "ordinal", values = [...]}``.
    """
    fld = f"parameters.{name}"
    if isinstance(spec, (list, tuple)):
        return Ordinal(name, tuple(spec))
    if not isinstance(spec, Mapping):
        raise InputError(f"cannot read parameter {name!r} from {spec!r}", source=source, field=fld,
                         hint="give a list of values or a table with a 'type'")
    kind = spec.get("type")
    try:
        if kind == "int":
            return Integer(name, int(spec["low"]), int(spec["high"]), int(spec.get("step", 1)), bool(spec.get("log", False)))
        if kind == "real":
            return Real(name, float(spec["low"]), float(spec["high"]), bool(spec.get("log", False)))
        if kind == "categorical":
            return Categorical(name, tuple(spec["choices"]))
        if kind == "ordinal":
            return Ordinal(name, tuple(spec["values"]))
        if kind in ("pow2", "power_of_two"):
            return PowerOfTwo(name, int(spec["low"]), int(spec["high"]))
    except KeyError as exc:
        raise InputError(f"parameter {name!r} of type {kind!r} lacks {exc.args[0]!r}", source=source,
                         field=fld) from None
    except InputError as exc:
        raise InputError(exc.reason, source=source, field=fld, hint=exc.hint) from None
    raise InputError(f"unknown parameter type {kind!r}", source=source, field=fld,
                     hint="one of: int, real, categorical, ordinal, pow2")




def space_from_dict(d: Mapping[str, Any]) -> SearchSpace:
    """Inverse of :meth:`SearchSpace.to_dict` (explicit replay points are not stored)."""
    params = [parameter_from_spec(k, v) for k, v in d["parameters"].items()]
    return SearchSpace(params, d.get("constraints", []), d.get("derived", {}))


__all__ = [
    "Parameter", "Integer", "Real", "Categorical", "Ordinal", "PowerOfTwo",
    "Expression", "SearchSpace", "parameter_from_spec", "space_from_dict", "MAX_ENUMERATE",
]
