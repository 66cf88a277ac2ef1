"""Constraint and derived-value expressions, evaluated with bounded cost.

An expression is parsed with :mod:`ast` and checked against a whitelist: names of
parameters (and earlier derived values), numbers and strings, ``+ - * / // % **``,
comparisons (chained too), ``and``/``or``/``not``, ``x if c else y`` and the functions
``min max abs log2 sqrt ceil floor``. It is never compiled or ``eval``-ed: a small
interpreter walks the checked tree over numpy arrays, so one configuration and the
whole Cartesian product (one array element per point) go through the same code and
cannot disagree.

Cost is bounded before anything is computed:

* the text (:data:`MAX_CHARS`), the number of nodes (:data:`MAX_NODES`) and the nesting
  depth (:data:`MAX_DEPTH`) are limited at parse time, integer literals too;
* integers stay within ``+-2**62`` (:data:`INT_BITS`), so int64 arithmetic never wraps:
  ``+ - *`` are checked on a float estimate and ``a ** b`` on ``b * log2|a|`` *before*
  the power is computed (``9**9**9**9`` is refused in microseconds, not computed);
* every evaluation has a step budget (array elements times nodes, :data:`MAX_STEPS`)
  and a wall-clock limit (``HPCOPT_MAX_CONSTRAINT_SECONDS``, default 30 s).

Each violation is an :class:`~hpcopt.errors.InputError` naming the spec file (when the
space has one), the expression and what is wrong. Semantics follow Python's where it is
defined, with two stated choices: a division (or ``//``, ``%``) by zero, ``0 ** -1``,
``log2`` of a number <= 0 and ``sqrt`` of a negative number make the point *undefined*
-- a constraint there is false, a derived value there makes the point invalid --, a
negative float to a fractional power is ``nan`` (comparisons with it are false), not a
complex number, and an integer to a negative integer power is refused (write ``2.0 **
-k``), so that every value's type follows from the parameters' types alone and one point
is computed exactly as the whole space is. ``and``/``or`` give booleans. Like Python, ``a and b`` does not look at
``b`` where ``a`` is false (nor ``x if c else y`` at the branch not taken), so a guard
such as ``x < 60 and 2 ** x < n`` works.
"""

from __future__ import annotations

import ast
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hpcopt.errors import ConfigError, InputError

#: integers in expressions and parameter values stay within +-2**INT_BITS
INT_BITS = 62
INT_LIMIT = 2 ** INT_BITS
#: longest expression text, most AST nodes, deepest nesting
MAX_CHARS = 1000
MAX_NODES = 300
MAX_DEPTH = 40
#: array elements x nodes one evaluation of a space's expressions may take
MAX_STEPS = 2_000_000_000
_DEFAULT_SECONDS = 30.0

FUNCTIONS = ("abs", "ceil", "floor", "log2", "max", "min", "sqrt")
_ONE_ARG = {"abs", "ceil", "floor", "log2", "sqrt"}
_ALLOWED_NODES = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.BinOp, ast.UnaryOp, ast.Compare,
    ast.Name, ast.Load, ast.Constant, ast.Call, ast.IfExp,
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow,
    ast.USub, ast.UAdd, ast.Not,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE,
)
_ALLOWED_TEXT = ("arithmetic (+ - * / // % **), comparisons, and/or/not, x if c else y, "
                 f"and the functions {', '.join(FUNCTIONS)}")
_OP_TEXT = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
            ast.Pow: "**"}


def max_seconds() -> float:
    from hpcopt.core.params import positive_env

    return positive_env("HPCOPT_MAX_CONSTRAINT_SECONDS", _DEFAULT_SECONDS, float)


class Budget:
    """Steps and seconds left for one evaluation of a space's expressions."""

    def __init__(self, steps: int | None = None, seconds: float | None = None) -> None:
        self.steps = MAX_STEPS if steps is None else steps
        self.max_steps = self.steps
        self._calls = 0
        self.limit_s = max_seconds() if seconds is None else seconds
        self.deadline = time.monotonic() + self.limit_s

    def charge(self, n: int, ev: "_Eval") -> None:
        self.steps -= max(1, n)
        if self.steps < 0:
            raise ev.error(f"evaluating it over {ev.n:,} points takes more than {self.max_steps:,} steps",
                           hint="narrow the parameter ranges or simplify the expressions")
        self._calls += 1
        if self._calls % 16 == 0 and time.monotonic() > self.deadline:
            raise ev.error(f"evaluating it took longer than {self.limit_s:g} s",
                           hint="narrow the parameter ranges, simplify the expressions, or raise "
                           "HPCOPT_MAX_CONSTRAINT_SECONDS")


def as_column(values: Iterable[Any]) -> np.ndarray:
    """A numpy column of parameter values: bool, int64, float64, str, or object when mixed."""
    vals = list(values)
    if vals and all(isinstance(v, (bool, np.bool_)) for v in vals):
        return np.asarray(vals, dtype=bool)
    if all(isinstance(v, (int, float, np.integer, np.floating)) for v in vals):
        if all(isinstance(v, (int, np.integer)) for v in vals):
            if any(abs(int(v)) > INT_LIMIT for v in vals):
                raise InputError(f"a parameter value exceeds the integer limit 2**{INT_BITS}", field="parameters")
            return np.asarray(vals, dtype=np.int64)
        return np.asarray(vals, dtype=np.float64)
    if all(isinstance(v, str) for v in vals):
        return np.asarray(vals, dtype=str)
    out = np.empty(len(vals), dtype=object)
    out[:] = vals
    return out


def _depth(tree: ast.AST) -> int:
    best, stack = 0, [(tree, 1)]
    while stack:
        node, d = stack.pop()
        best = max(best, d)
        stack.extend((c, d + 1) for c in ast.iter_child_nodes(node))
    return best


@dataclass
class Expression:
    """A checked expression over parameter (and derived) names."""

    text: str
    names: frozenset[str]
    what: str = "constraint"
    source: str | None = None
    _tree: Any = field(repr=False, default=None)

    @classmethod
    def parse(cls, text: str, known: Iterable[str], *, what: str = "constraint",
              source: str | None = None) -> "Expression":
        known = list(known)

        def err(msg: str, hint: str | None = None) -> InputError:
            return InputError(msg, source=source, field=what, hint=hint)

        if not isinstance(text, str):
            raise err(f"{what} must be a string; got {text!r} ({type(text).__name__})",
                      hint="write e.g. 'tile_i * tile_j <= 4096'")
        text = text.strip()
        if not text:
            raise err(f"empty {what} expression", hint="write e.g. 'tile_i * tile_j <= 4096'")
        shown = text if len(text) <= 80 else text[:77] + "..."
        if len(text) > MAX_CHARS:
            raise err(f"{what} {shown!r} is {len(text):,} characters long, more than {MAX_CHARS}",
                      hint="split it into several constraints or derived values")
        try:
            tree = ast.parse(text, mode="eval")
        except SyntaxError as exc:
            raise err(f"{what} {shown!r} is not a valid expression: {exc.msg}",
                      hint="use Python syntax: +, -, *, /, //, %, **, comparisons, and/or/not") from None
        except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
            raise err(f"{what} {shown!r} cannot be parsed ({type(exc).__name__}: {exc})"[:300]) from None
        nodes = list(ast.walk(tree))
        if len(nodes) > MAX_NODES:
            raise err(f"{what} {shown!r} has {len(nodes)} syntax nodes, more than {MAX_NODES}",
                      hint="split it into several constraints or derived values")
        if _depth(tree) > MAX_DEPTH:
            raise err(f"{what} {shown!r} is nested more than {MAX_DEPTH} levels deep", hint="simplify it")
        names: set[str] = set()
        func_nodes = {id(n.func) for n in nodes if isinstance(n, ast.Call)}
        for node in nodes:
            if not isinstance(node, _ALLOWED_NODES):
                raise err(f"{what} {shown!r} uses an unsupported construct ({type(node).__name__})",
                          hint=f"allowed: {_ALLOWED_TEXT}")
            if isinstance(node, ast.Call):
                fname = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
                if not isinstance(node.func, ast.Name) or fname not in FUNCTIONS or node.keywords:
                    raise err(f"{what} {shown!r} calls {fname!r}, which is not allowed",
                              hint=f"allowed functions: {', '.join(FUNCTIONS)}")
                want = "exactly 1 argument" if fname in _ONE_ARG else "at least 2 arguments"
                if (len(node.args) != 1) if fname in _ONE_ARG else (len(node.args) < 2):
                    raise err(f"{what} {shown!r}: {fname}() takes {want}, got {len(node.args)}")
            elif isinstance(node, ast.Name):
                if id(node) not in func_nodes:
                    names.add(node.id)
            elif isinstance(node, ast.Constant):
                v = node.value
                if isinstance(v, bool) or isinstance(v, float):
                    pass
                elif isinstance(v, int):
                    if abs(v) > INT_LIMIT:
                        raise err(f"{what} {shown!r}: the integer {str(v)[:20]}... is beyond the limit "
                                  f"2**{INT_BITS}", hint="use a float (e.g. 1e30) for very large numbers")
                elif isinstance(v, str):
                    pass
                else:
                    raise err(f"{what} {shown!r}: the constant {v!r} is not a number or a string")
        unknown = sorted(names - set(known))
        if unknown:
            raise err(f"{what} {shown!r} names unknown parameter {unknown[0]!r}",
                      hint=f"known names: {', '.join(known) or '(none)'}")
        return cls(text=text, names=frozenset(names), what=what, source=source, _tree=tree)

    def __getstate__(self) -> dict[str, Any]:
        return {"text": self.text, "names": self.names, "what": self.what, "source": self.source}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.text, self.names = state["text"], state["names"]
        self.what, self.source = state.get("what", "constraint"), state.get("source")
        self._tree = ast.parse(self.text, mode="eval")  # checked when it was first parsed

    def evaluate(self, env: Mapping[str, tuple[np.ndarray, np.ndarray | None]], n: int, *,
                 live: np.ndarray | None = None, budget: Budget | None = None,
                 point_names: Iterable[str] = ()) -> tuple[np.ndarray, np.ndarray]:
        """``(value, undefined)`` over ``n`` points; ``env`` maps a name to ``(column,
        undefined mask or None)``; ``live`` marks the points that matter (others may hold
        anything). ``point_names`` are the parameters named in error messages."""
        live = np.ones(n, dtype=bool) if live is None else np.asarray(live, dtype=bool)
        ev = _Eval(self, env, n, budget or Budget(), list(point_names))
        with np.errstate(all="ignore"):
            val, und = ev.eval(self._tree.body, live)
        return np.broadcast_to(val, (n,)) if np.ndim(val) == 0 else val, und

    def truth(self, value: np.ndarray) -> np.ndarray:
        return _truth(value, None)

    def __call__(self, env: Mapping[str, Any]) -> Any:
        """The value on one configuration (a Python value); InputError where undefined."""
        cols = {k: (as_column([v]), None) for k, v in env.items()}
        val, und = self.evaluate(cols, 1, point_names=list(env))
        if und[0]:
            raise InputError(f"{self.what} {self.text!r} is undefined at {dict(env)} (a division by zero or a "
                             "value outside a function's domain)", source=self.source, field=self.what)
        v = val[0]
        return v.item() if hasattr(v, "item") else v


def _numeric(kind: str) -> bool:
    return kind in "biuf"


def _truth(a: np.ndarray, ev: "_Eval | None") -> np.ndarray:
    k = a.dtype.kind
    if k == "b":
        return a
    if k in "iuf":
        return a != 0
    if k in "US":
        return a != ""
    return np.asarray([bool(x) for x in np.ravel(a)], dtype=bool).reshape(np.shape(a))


class _Eval:
    def __init__(self, expr: Expression, env, n: int, budget: Budget, point_names: list[str]) -> None:
        self.expr, self.env, self.n, self.budget, self.point_names = expr, env, n, budget, point_names
        self.none = np.zeros(n, dtype=bool)  # shared "defined everywhere" mask (never written to)

    def error(self, msg: str, hint: str | None = None) -> InputError:
        e = self.expr
        return InputError(f"{e.text!r}: {msg}", source=e.source, field=e.what, hint=hint)

    def _where(self, mask: np.ndarray, node: ast.AST) -> str:
        """The first point of ``mask``, for messages (none for a part without names)."""
        idx = np.flatnonzero(np.broadcast_to(mask, (self.n,)))
        if not idx.size or not self.point_names or not any(isinstance(x, ast.Name) for x in ast.walk(node)):
            return ""
        i = int(idx[0])
        pt = {}
        for name in self.point_names:
            col = self.env.get(name)
            if col is not None:
                v = np.broadcast_to(col[0], (self.n,))[i]
                pt[name] = v.item() if hasattr(v, "item") else v
        return f" at {pt}"

    def eval(self, node: ast.AST, live: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.budget.charge(self.n, self)
        none = self.none
        if isinstance(node, ast.Constant):
            v = node.value
            arr = np.asarray(v, dtype=bool if isinstance(v, bool) else (np.int64 if isinstance(v, int) else None))
            return arr, none
        if isinstance(node, ast.Name):
            col, und = self.env[node.id]
            return col, (none if und is None else und & live)
        if isinstance(node, ast.BinOp):
            a, ua = self.eval(node.left, live)
            b, ub = self.eval(node.right, live)
            val, u = self._binop(node, a, b, live)
            return val, ua | ub | u
        if isinstance(node, ast.UnaryOp):
            a, ua = self.eval(node.operand, live)
            if isinstance(node.op, ast.Not):
                return ~_truth(a, self), ua
            a = self._num(a, node)
            return (-a if isinstance(node.op, ast.USub) else a), ua
        if isinstance(node, ast.BoolOp):
            is_and = isinstance(node.op, ast.And)
            v0, und = self.eval(node.values[0], live)
            t = _truth(v0, self)
            for nxt in node.values[1:]:
                cur = live & (t if is_and else ~t)
                v, u = self.eval(nxt, cur)
                tv = _truth(v, self)
                und = und | (u & cur)
                t = (t & tv) if is_and else (t | tv)
            return t, und
        if isinstance(node, ast.Compare):
            left, und = self.eval(node.left, live)
            out = np.ones(self.n, dtype=bool)
            cur = live
            for op, right_node in zip(node.ops, node.comparators):
                right, u = self.eval(right_node, cur)
                und = und | (u & cur)
                out = out & self._compare(node, op, left, right)
                cur = cur & out
                left = right
            return out, und
        if isinstance(node, ast.IfExp):
            c, uc = self.eval(node.test, live)
            t = _truth(c, self)
            a, ua = self.eval(node.body, live & t)
            b, ub = self.eval(node.orelse, live & ~t)
            ka, kb = a.dtype.kind, b.dtype.kind
            if _numeric(ka) != _numeric(kb) or "O" in (ka, kb):
                a, b = a.astype(object), b.astype(object)
            return np.where(t, a, b), uc | (ua & t) | (ub & ~t)
        if isinstance(node, ast.Call):
            return self._call(node, live)
        raise self.error(f"unsupported construct {type(node).__name__}")  # pragma: no cover - checked at parse

    # -- operations
    def _num(self, a: np.ndarray, node: ast.AST) -> np.ndarray:
        k = a.dtype.kind
        if k == "b":
            return a.astype(np.int64)
        if k in "iu":
            return a.astype(np.int64, copy=False)
        if k == "f":
            return a
        raise self.error(f"arithmetic on a non-numeric value in {ast.unparse(node)!r}",
                         hint="only == and != apply to strings and mixed categorical choices")

    def _check_int(self, node: ast.AST, estimate: np.ndarray, live: np.ndarray) -> None:
        over = (np.abs(estimate) > INT_LIMIT) & live
        if over.any():
            big = float(np.max(np.abs(np.where(over, estimate, 0))))
            raise self.error(f"{ast.unparse(node)} reaches {big:.3g}{self._where(over, node)}, beyond the integer "
                             f"limit 2**{INT_BITS}", hint="use a float (e.g. 2.0 ** x) or bound the parameters")

    def _binop(self, node: ast.BinOp, a, b, live) -> tuple[np.ndarray, np.ndarray]:
        op = node.op
        a, b = self._num(a, node), self._num(b, node)
        ints = a.dtype.kind == "i" and b.dtype.kind == "i"
        none = self.none
        if isinstance(op, (ast.Add, ast.Sub, ast.Mult)):
            fn = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply}[type(op)]
            if ints:
                self._check_int(node, fn(a.astype(float), b.astype(float)), live)
            return fn(a, b), none
        if isinstance(op, (ast.Div, ast.FloorDiv, ast.Mod)):
            zero = np.broadcast_to(b == 0, (self.n,)) & live
            safe = np.where(b == 0, 1, b)
            if isinstance(op, ast.Div):
                return np.true_divide(a.astype(float), safe.astype(float)), zero
            fn = np.floor_divide if isinstance(op, ast.FloorDiv) else np.remainder
            return fn(a, safe), zero
        # power: bound the result before computing it
        if ints:
            neg = b < 0
            ab = np.abs(a).astype(float)
            bits = np.where((ab >= 2) & ~neg, b.astype(float) * np.log2(np.maximum(ab, 2.0)), 0.0)
            over = np.broadcast_to(bits > INT_BITS, (self.n,)) & live
            if over.any():
                worst = float(np.max(np.where(over, bits, 0.0)))
                raise self.error(f"{ast.unparse(node)} would have about {worst:.3g} bits{self._where(over, node)}; "
                                 f"integers are limited to {INT_BITS} bits",
                                 hint="use a float (e.g. 2.0 ** x) or bound the exponent")
            neg_live = np.broadcast_to(neg, (self.n,)) & live
            if neg_live.any():  # its type would depend on the data: refused, as numpy does
                raise self.error(f"{ast.unparse(node)} raises an integer to a negative power"
                                 f"{self._where(neg_live, node)}",
                                 hint="write a float base (e.g. 2.0 ** -k) or 1 / 2 ** k")
            return np.power(a, np.where(neg | (bits > INT_BITS), 0, b)), none
        fa, fb = a.astype(float), b.astype(float)
        undef = np.broadcast_to((fa == 0) & (fb < 0), (self.n,)) & live
        return np.power(np.where((fa == 0) & (fb < 0), 1.0, fa), fb), undef

    def _compare(self, node, op, a, b) -> np.ndarray:
        ka, kb = a.dtype.kind, b.dtype.kind
        eq = isinstance(op, (ast.Eq, ast.NotEq))
        if (_numeric(ka) and _numeric(kb)) or (ka in "US" and kb in "US"):
            fn = {ast.Eq: np.equal, ast.NotEq: np.not_equal, ast.Lt: np.less, ast.LtE: np.less_equal,
                  ast.Gt: np.greater, ast.GtE: np.greater_equal}[type(op)]
            return np.broadcast_to(fn(a, b), (self.n,))
        if eq and "O" not in (ka, kb):  # a number and a string: never equal (as in Python)
            return np.full(self.n, isinstance(op, ast.NotEq))
        if eq:
            import operator

            fn = operator.eq if isinstance(op, ast.Eq) else operator.ne
            A, B = np.broadcast_to(a, (self.n,)), np.broadcast_to(b, (self.n,))
            return np.fromiter((bool(fn(x, y)) for x, y in zip(A, B)), dtype=bool, count=self.n)
        raise self.error(f"{ast.unparse(node)!r} orders values that cannot be ordered (strings and numbers)",
                         hint="compare categorical choices with == or !=")

    def _call(self, node: ast.Call, live) -> tuple[np.ndarray, np.ndarray]:
        fname = node.func.id  # type: ignore[attr-defined]
        args, und = [], self.none
        for a in node.args:
            v, u = self.eval(a, live)
            args.append(self._num(v, node))
            und = und | u
        if fname in ("min", "max"):
            fn = np.minimum if fname == "min" else np.maximum
            out = args[0]
            for v in args[1:]:
                out = fn(out, v)
            return out, und
        x = args[0]
        if fname == "abs":
            return np.abs(x), und
        if fname in ("ceil", "floor"):
            if x.dtype.kind == "i":
                return x, und
            r = np.ceil(x) if fname == "ceil" else np.floor(x)
            bad = ~np.isfinite(r)
            und = und | (np.broadcast_to(bad, (self.n,)) & live)
            r = np.where(bad, 0.0, r)
            self._check_int(node, r, live)
            return r.astype(np.int64), und
        fx = x.astype(float)
        if fname == "log2":
            dom = fx > 0
        else:  # sqrt
            dom = fx >= 0
        und = und | (np.broadcast_to(~dom, (self.n,)) & live)
        safe = np.where(dom, fx, 1.0)
        return (np.log2(safe) if fname == "log2" else np.sqrt(safe)), und


__all__ = ["Expression", "Budget", "as_column", "FUNCTIONS", "INT_BITS", "INT_LIMIT", "MAX_CHARS", "MAX_NODES",
           "MAX_DEPTH", "MAX_STEPS", "max_seconds"]
