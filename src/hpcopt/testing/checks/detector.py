"""Conformance check of the detector contract (:class:`hpcopt.detect.base.BaseDetector`).

``check_detector(factory)`` raises :class:`AssertionError` naming the broken rule, as
scikit-learn's ``check_estimator`` does. ``factory`` is a zero-argument callable that returns
a new unfitted detector (``lambda: make_detector("pca", random_state=0)``) or a detector
instance (then :func:`hpcopt.core.params.clone` makes the fresh copies). The rules:

1. ``get_params`` / ``set_params`` / ``clone`` round trip: a clone has equal parameters and
   no learned state; ``set_params(**get_params())`` changes nothing and returns the object;
   an unknown parameter is a :class:`~hpcopt.errors.ConfigError`;
2. an unfitted detector refuses to score with a ConfigError that says "not fitted";
3. ``fit`` returns the detector; ``decision_function`` gives one finite score per row,
   ``predict`` 0/1 per row, ``explain`` a finite non-negative ``(rows, metrics)`` array, the
   threshold is finite; fitting and scoring do not change their input arrays;
4. two detectors from the factory fitted on the same rows give the same scores (determinism
   under the factory's ``random_state``);
5. causality, for a detector that can score a stream (not ``transductive``): the scores of
   rows ``<= t`` do not change when rows ``> t`` do;
6. bad input is an :class:`~hpcopt.errors.InputError`: NaN in training or scored rows, a
   3-D array, too few rows, a scored matrix with another number of metrics;
7. save / load through :mod:`hpcopt.detect.model_file` gives identical scores,
   contributions and threshold.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = ["check_detector", "detector_check_data"]


def detector_check_data(n_train: int = 400, n_test: int = 120, n_metrics: int = 4, seed: int = 0):
    """Training and test rows the check uses: correlated normal metrics, a level shift in one
    metric of the test rows (so alerts and culprits have something to find)."""
    rng = np.random.default_rng(seed)
    f = rng.normal(size=(n_train + n_test, 1))
    X = np.hstack([f + 0.1 * rng.normal(size=(n_train + n_test, 1)) for _ in range(n_metrics)])
    X += 0.05 * np.arange(n_metrics)
    train, test = X[:n_train].copy(), X[n_train:].copy()
    test[n_test // 2:n_test // 2 + 10, 1] += 6.0
    return train, test


def _same_params(a: Any, b: Any) -> bool:
    """Parameter values equal, nested detectors compared by class and parameters."""
    if hasattr(a, "get_params") and not isinstance(a, type):
        return type(a) is type(b) and _same_dict(a.get_params(), b.get_params())
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(_same_params(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        return True
    return bool(a == b)


def _same_dict(a: dict, b: dict) -> bool:
    return set(a) == set(b) and all(_same_params(a[k], b[k]) for k in a)


def _fail(name: str, rule: str) -> AssertionError:
    return AssertionError(f"check_detector({name}): {rule}")


def _expect_error(name: str, what: str, kinds: tuple, fn: Callable[[], Any], match: str | None = None) -> None:
    try:
        fn()
    except kinds as exc:
        if match is not None and match not in str(exc):
            raise _fail(name, f"{what}: the error does not say {match!r}: {exc}") from None
        return
    except Exception as exc:  # noqa: BLE001 - any other exception is the violation
        raise _fail(name, f"{what}: raised {type(exc).__name__} ({exc}) instead of "
                          f"{' or '.join(k.__name__ for k in kinds)}") from None
    raise _fail(name, f"{what}: no error was raised")


def check_detector(factory: Callable[[], Any] | Any, *, data=None, rtol: float = 1e-7) -> None:
    """Run every rule of the module docstring on detectors from ``factory``; AssertionError on a violation."""
    from hpcopt.core.params import clone
    from hpcopt.detect.model_file import load_detector
    from hpcopt.errors import ConfigError, InputError

    if not isinstance(factory, type) and hasattr(factory, "fit"):  # an instance, not a factory
        proto = factory
        factory = lambda: clone(proto)  # noqa: E731
    train, test = detector_check_data() if data is None else data
    train = np.asarray(train, dtype=np.float64)
    test = np.asarray(test, dtype=np.float64)
    det = factory()
    name = type(det).__name__
    for attr in ("fit", "decision_function", "predict", "explain", "get_params", "set_params", "save"):
        if not callable(getattr(det, attr, None)):
            raise _fail(name, f"has no {attr}() method")

    # 1. parameters
    try:
        params = det.get_params()
    except Exception as exc:  # noqa: BLE001
        raise _fail(name, f"get_params() failed ({type(exc).__name__}: {exc}); __init__ must store each "
                          "parameter under its own name") from None
    if not isinstance(params, dict) or not params:
        raise _fail(name, "get_params() must return a non-empty dict of the __init__ parameters")
    twin = clone(det)
    if type(twin) is not type(det) or not _same_dict(twin.get_params(), params):
        raise _fail(name, f"clone() does not reproduce the parameters: {twin.get_params()} != {params}")
    if det.set_params(**params) is not det:
        raise _fail(name, "set_params() must return the detector itself")
    if not _same_dict(det.get_params(), params):
        raise _fail(name, "set_params(**get_params()) changed the parameters")
    _expect_error(name, "set_params with an unknown parameter", (ConfigError,),
                  lambda: det.set_params(no_such_parameter_xyz=1))

    # 2. unfitted
    _expect_error(name, "scoring before fit", (ConfigError,), lambda: det.decision_function(test), "not fitted")

    # 3. fit and shapes; inputs untouched
    train_copy, test_copy = train.copy(), test.copy()
    try:
        fitted = det.fit(train)
        s = np.asarray(det.decision_function(test))
        a = np.asarray(det.predict(test))
        c = np.asarray(det.explain(test))
    except Exception as exc:  # noqa: BLE001 - well-formed rows must fit and score
        raise _fail(name, f"fitting or scoring well-formed rows raised {type(exc).__name__}: {exc}") from None
    if fitted is not det:
        raise _fail(name, "fit() must return the detector itself")
    if not np.array_equal(train, train_copy) or not np.array_equal(test, test_copy):
        raise _fail(name, "fitting or scoring changed the input array")
    n, m = test.shape
    if s.shape != (n,) or not np.isfinite(s).all():
        raise _fail(name, f"decision_function must give {n} finite scores; got shape {s.shape}"
                          + ("" if s.shape != (n,) else f", {int((~np.isfinite(s)).sum())} not finite"))
    if a.shape != (n,) or not set(np.unique(a).tolist()) <= {0, 1}:
        raise _fail(name, f"predict must give {n} values of 0 or 1; got shape {a.shape}, values {np.unique(a)[:5]}")
    thr = float(det.threshold_.value)
    if not np.isfinite(thr) or not np.array_equal(a, (s > thr).astype(a.dtype)):
        raise _fail(name, "predict must be decision_function > threshold_ (a finite threshold)")
    if c.shape != (n, m) or not np.isfinite(c).all() or (c < 0).any():
        raise _fail(name, f"explain must give a finite non-negative ({n}, {m}) array; got shape {c.shape}")
    if int(getattr(det, "n_features_in_", -1)) != m:
        raise _fail(name, f"n_features_in_ must be {m} after fitting on {m} metrics")
    if hasattr(twin, "threshold_"):
        raise _fail(name, "clone() of an unfitted detector must carry no learned state")

    # 4. determinism
    s2 = np.asarray(factory().fit(train).decision_function(test))
    if s2.shape != s.shape or not np.allclose(s, s2, rtol=rtol, atol=1e-12):
        raise _fail(name, f"two fits with the same random_state give different scores (max difference "
                          f"{float(np.max(np.abs(s - s2))) if s2.shape == s.shape else 'shape'})")

    # 5. causality
    if not det.transductive:
        rng = np.random.default_rng(12345)
        cut = n // 2
        changed = test.copy()
        changed[cut + 1:] = changed[cut + 1:] + rng.normal(scale=3.0, size=changed[cut + 1:].shape)
        s3 = np.asarray(det.decision_function(changed))
        if not np.allclose(s[:cut + 1], s3[:cut + 1], rtol=rtol, atol=1e-12):
            t = int(np.flatnonzero(~np.isclose(s[:cut + 1], s3[:cut + 1], rtol=rtol, atol=1e-12))[0])
            raise _fail(name, f"not causal: the score of row {t} changed when only rows after {cut} changed "
                              "(a streaming detector may look back, never ahead; declare transductive=True "
                              "if it cannot score a stream)")

    # 6. bad input
    bad = train.copy()
    bad[3, 1] = np.nan
    _expect_error(name, "fit on rows with NaN", (InputError,), lambda: factory().fit(bad))
    _expect_error(name, "fit on a 3-D array", (InputError,), lambda: factory().fit(train.reshape(-1, 2, m)))
    _expect_error(name, "fit on 2 rows", (InputError,), lambda: factory().fit(train[:2]))
    bad_test = test.copy()
    bad_test[5, 0] = np.inf
    _expect_error(name, "scoring rows with inf", (InputError,), lambda: det.decision_function(bad_test))
    _expect_error(name, "scoring another number of metrics", (InputError,),
                  lambda: det.decision_function(test[:, :-1]))

    # 7. save / load
    with tempfile.TemporaryDirectory() as tmp:
        path = det.save(Path(tmp) / "detector.hpd")
        back = load_detector(path)
    if type(back) is not type(det):
        raise _fail(name, f"loads back as {type(back).__name__}")
    if not np.array_equal(np.asarray(back.decision_function(test)), s):
        raise _fail(name, "the loaded detector gives other scores than the saved one")
    if not np.array_equal(np.asarray(back.explain(test)), c):
        raise _fail(name, "the loaded detector gives other contributions than the saved one")
    if float(back.threshold_.value) != thr:
        raise _fail(name, "the loaded detector has another threshold")
