"""Detectors: random baseline, robust median/MAD z-scores, PCA reconstruction, Isolation
Forest, and a score-normalising ensemble. All share :class:`~hpcopt.detect.base.BaseDetector`.
"""

from __future__ import annotations

import numpy as np

from hpcopt.detect.base import BaseDetector, ProgressFn
from hpcopt.errors import ConfigError, require

__all__ = ["RandomDetector", "MADDetector", "PCADetector", "IForestDetector", "EnsembleDetector",
           "RecentredDetector", "MetricNormDetector", "recentre", "standard_scale"]


def standard_scale(X: np.ndarray, min_scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Column means and standard deviations, the latter floored at ``min_scale``.

    The floor matters: a metric that is constant in training (scale 0) must still give a
    finite, large z-score when it moves.
    """
    return X.mean(axis=0), np.maximum(X.std(axis=0), min_scale)


def _check_pos(obj, name: str, value, allow_zero: bool = False) -> None:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        raise ConfigError(f"The '{name}' parameter of {type(obj).__name__} must be a "
                          f"{'non-negative' if allow_zero else 'positive'} number; got {value!r} instead.")


class RandomDetector(BaseDetector):
    """Uniform random scores and a random culprit ranking: the floor every number is read against.

    The scores are a deterministic function of ``random_state`` and the row count.
    """

    def __init__(self, *, threshold: str = "far", risk: float = 1e-3, level: float = 0.98, rate: float = 0.01,
                 smoothing: int = 1, random_state: int | None = 0) -> None:
        super().__init__(threshold=threshold, risk=risk, level=level, rate=rate, smoothing=smoothing,
                         random_state=random_state)

    def _fit(self, X, progress):
        self.seed_ = 0 if self.random_state is None else int(self.random_state)

    def _raw_scores(self, X):
        return np.random.default_rng(self.seed_).random(X.shape[0])

    def _contributions(self, X):
        return np.random.default_rng(self.seed_ + 1).random(X.shape)


class MADDetector(BaseDetector):
    """Per-metric robust z-scores ``|x - median| / (1.4826 * MAD)``; the score is their mean.

    The scale is floored at ``max(min_scale, 0.1 * std)`` so that metrics that are almost
    constant in training do not explode; z-scores are clipped at ``clip``. A metric's
    contribution is its z-score.

    With ``change_window = L > 0`` each metric also gets a *change* z-score: its distance
    from the mean of its previous ``L`` values, in the same robust units; the level and
    change z-scores add up. This catches a metric that jumps inside its normal range, and
    ranks culprits by what changed at the alert rather than by what is always high. The
    first ``L`` rows of an array compare with the (edge-padded) rows before them.
    """

    def __init__(self, *, min_scale: float = 0.01, clip: float = 1e3, change_window: int = 0,
                 threshold: str = "pot", risk: float = 0.01, level: float = 0.95, rate: float = 0.01,
                 smoothing: int = 5, random_state: int | None = 0) -> None:
        super().__init__(threshold=threshold, risk=risk, level=level, rate=rate, smoothing=smoothing,
                         random_state=random_state)
        self.min_scale = min_scale
        self.clip = clip
        self.change_window = change_window

    @property
    def context_(self) -> int:  # type: ignore[override]
        return int(self.change_window)

    def _fit(self, X, progress):
        _check_pos(self, "min_scale", self.min_scale)
        _check_pos(self, "clip", self.clip)
        if not isinstance(self.change_window, (int, np.integer)) or self.change_window < 0:
            raise ConfigError(f"The 'change_window' parameter of MADDetector must be an int >= 0; "
                              f"got {self.change_window!r} instead.")
        mad = np.median(np.abs(X - self.median_), axis=0) * 1.4826
        self.scale_ = np.maximum(np.maximum(mad, 0.1 * X.std(axis=0)), self.min_scale)

    def _z(self, X):
        z = np.minimum(np.abs(X - self.median_) / self.scale_, self.clip)
        L = int(self.change_window)
        if L > 0:
            P = np.concatenate([np.repeat(X[:1], L, axis=0), X], axis=0)
            c = np.cumsum(np.concatenate([np.zeros((1, X.shape[1])), P], axis=0), axis=0)
            prev_mean = (c[L:-1] - c[:-L - 1]) / L  # mean of the L rows before each row
            z = z + np.minimum(np.abs(X - prev_mean) / self.scale_, self.clip)
        return z

    def _raw_scores(self, X):
        return self._z(X).mean(axis=1)

    def _contributions(self, X):
        return self._z(X)


class PCADetector(BaseDetector):
    """Squared reconstruction error of standardised data in the principal subspace.

    ``n_components`` is an int or the share of variance to keep (scikit-learn's
    ``PCA``). Standardisation uses the training mean and standard deviation, the latter
    floored at ``min_scale`` (in data units: SMD/ASD are scaled to [0, 1]), and z-scores are
    clipped at +-``clip`` so that one metric that was constant in training cannot swamp
    all the others. A metric's contribution is its squared residual; they sum to the score.

    ``recenter_window = L > 0`` adapts to level shifts (a metric that moves to a new
    normal level and stays there, e.g. after a configuration change): each metric is first
    shifted so that the median of its previous ``L`` rows sits at its training median.
    A shift then alarms for at most about ``L/2`` rows; anomalies longer than that fade too.
    """

    def __init__(self, *, n_components: float | int = 0.95, min_scale: float = 0.01, clip: float = 10.0,
                 recenter_window: int = 0, threshold: str = "pot", risk: float = 0.01, level: float = 0.95,
                 rate: float = 0.01, smoothing: int = 5, random_state: int | None = 0) -> None:
        super().__init__(threshold=threshold, risk=risk, level=level, rate=rate, smoothing=smoothing,
                         random_state=random_state)
        self.n_components = n_components
        self.min_scale = min_scale
        self.clip = clip
        self.recenter_window = recenter_window

    @property
    def context_(self) -> int:  # type: ignore[override]
        return int(self.recenter_window)

    def _fit(self, X, progress):
        _check_pos(self, "min_scale", self.min_scale)
        _check_pos(self, "clip", self.clip)
        if not isinstance(self.recenter_window, (int, np.integer)) or self.recenter_window < 0:
            raise ConfigError(f"The 'recenter_window' parameter of PCADetector must be an int >= 0; "
                              f"got {self.recenter_window!r} instead.")
        decomposition = require("sklearn.decomposition", "detect")
        nc = self.n_components
        if isinstance(nc, float) and not 0 < nc < 1:
            raise ConfigError(f"The 'n_components' parameter of PCADetector must be an int >= 1 or a float in (0, 1); "
                              f"got {nc!r} instead.")
        if isinstance(nc, (int, np.integer)) and not 1 <= nc <= X.shape[1]:
            raise ConfigError(f"The 'n_components' parameter of PCADetector must be in 1..{X.shape[1]}; got {nc!r}.")
        self.mean_, self.scale_ = standard_scale(self._recenter(X), self.min_scale)
        pca = decomposition.PCA(n_components=nc, svd_solver="full", random_state=self.random_state)
        pca.fit(self._z(X))
        self.components_ = pca.components_.copy()
        self.n_components_ = int(pca.n_components_)

    def _recenter(self, X):
        return recentre(X, self.recenter_window, self.median_)

    def _z(self, X):
        return np.clip((self._recenter(X) - self.mean_) / self.scale_, -self.clip, self.clip)

    def _residual(self, X):
        Z = self._z(X)
        return Z - (Z @ self.components_.T) @ self.components_

    def _raw_scores(self, X):
        R = self._residual(X)
        return np.einsum("ij,ij->i", R, R)

    def _contributions(self, X):
        return self._residual(X) ** 2


class IForestDetector(BaseDetector):
    """scikit-learn's ``IsolationForest`` on standardised data; score = ``-score_samples``.

    Contributions are by occlusion: the drop in score when the metric is set to its
    training median (Isolation Forest has no additive per-metric decomposition).

    After fitting, the forest is kept as its trees' node arrays (``forest_``, see
    :func:`_flatten_forest`) and scored by
    :func:`_forest_scores`, which repeats scikit-learn's arithmetic step by step (so the
    scores are bit-identical). A saved detector is then plain arrays, checked at load (no
    pickle, no scikit-learn internals that a crafted file could drive out of bounds).
    """

    def __init__(self, *, n_estimators: int = 100, max_samples: int | str = 256, min_scale: float = 0.01,
                 clip: float = 10.0, threshold: str = "pot", risk: float = 0.01, level: float = 0.95,
                 rate: float = 0.01, smoothing: int = 5, random_state: int | None = 0) -> None:
        super().__init__(threshold=threshold, risk=risk, level=level, rate=rate, smoothing=smoothing,
                         random_state=random_state)
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.min_scale = min_scale
        self.clip = clip

    def _fit(self, X, progress):
        ensemble = require("sklearn.ensemble", "detect")
        if not isinstance(self.n_estimators, (int, np.integer)) or self.n_estimators < 1:
            raise ConfigError(f"The 'n_estimators' parameter of IForestDetector must be an int >= 1; "
                              f"got {self.n_estimators!r} instead.")
        self.mean_, self.scale_ = standard_scale(X, self.min_scale)
        forest = ensemble.IsolationForest(n_estimators=self.n_estimators, max_samples=self.max_samples,
                                          random_state=self.random_state, n_jobs=1)
        forest.fit(self._z(X))
        self.forest_ = _flatten_forest(forest)

    def _z(self, X):
        return np.clip((X - self.mean_) / self.scale_, -self.clip, self.clip)

    def _raw_scores(self, X):
        return _forest_scores(self.forest_, self._z(X))

    def _restore_state(self, state) -> None:
        super()._restore_state(state)
        _check_forest(self.forest_, int(self.n_features_in_))


def _flatten_forest(forest) -> dict:
    """An ``IsolationForest``'s trees as flat node arrays: ``children`` (global node indices,
    a leaf pointing at itself twice), split ``feature`` (a column of the input) and
    ``threshold`` (+inf at leaves, so a walk that reached one stays there), each leaf's
    path-length term ``value``, the ``roots``, the ``depth`` of the deepest tree and the
    normalising ``denominator``."""
    from sklearn.ensemble._iforest import _average_path_length

    children, feat, thr, val, roots = [], [], [], [], []
    offset, depth = 0, 0
    for est, features, dpl, apl in zip(forest.estimators_, forest.estimators_features_,
                                       forest._decision_path_lengths, forest._average_path_length_per_tree):
        t = est.tree_
        leaf = t.children_left < 0
        own = np.arange(t.node_count) + offset
        roots.append(offset)
        children.append(np.stack([np.where(leaf, own, t.children_left + offset),
                                  np.where(leaf, own, t.children_right + offset)], axis=1))
        feat.append(np.where(leaf, 0, np.asarray(features)[np.maximum(t.feature, 0)]))
        thr.append(np.where(leaf, np.inf, t.threshold.astype(np.float64)))
        val.append(dpl + apl - 1.0)  # as scikit-learn adds it per leaf
        depth = max(depth, int(t.max_depth))
        offset += t.node_count
    denom = len(forest.estimators_) * _average_path_length([forest._max_samples])
    return {"children": np.concatenate(children).astype(np.int64), "feature": np.concatenate(feat).astype(np.int64),
            "threshold": np.concatenate(thr), "value": np.concatenate(val).astype(np.float64),
            "roots": np.asarray(roots, dtype=np.int64), "depth": np.asarray([depth], dtype=np.int64),
            "denominator": np.asarray(denom, dtype=np.float64).reshape(1)}


def _check_forest(f, n_features: int) -> None:
    """A loaded forest must be a set of trees whose walks stay in bounds (numpy would raise,
    but the file is refused at load instead, with the reason)."""
    keys = {"children", "feature", "threshold", "value", "roots", "depth", "denominator"}
    if not isinstance(f, dict) or set(f) != keys or not all(isinstance(v, np.ndarray) for v in f.values()):
        raise ValueError("forest_ must hold the arrays " + ", ".join(sorted(keys)))
    n = f["feature"].shape[0]
    shapes = {"children": (n, 2), "feature": (n,), "threshold": (n,), "value": (n,), "depth": (1,),
              "denominator": (1,)}
    for k, shape in shapes.items():
        if f[k].shape != shape:
            raise ValueError(f"forest_ array {k} has shape {f[k].shape}; expected {shape}")
    for k in ("children", "feature", "roots", "depth"):
        if f[k].dtype != np.int64:
            raise ValueError(f"forest_ array {k} must be int64")
    roots = f["roots"]
    if roots.ndim != 1 or roots.size < 1 or roots[0] != 0 or np.any(np.diff(roots) < 1) or roots[-1] >= n:
        raise ValueError("forest_ tree roots are not increasing node indices")
    end = np.repeat(np.r_[roots[1:], n], np.diff(np.r_[roots, n]))  # end of each node's tree
    idx = np.arange(n)
    c = f["children"]
    leaf = (c[:, 0] == idx) & (c[:, 1] == idx)
    inner_ok = (c > idx[:, None]).all(axis=1) & (c < end[:, None]).all(axis=1)
    if not np.all(leaf | inner_ok):
        raise ValueError("forest_ children point outside their tree")
    if np.any(f["feature"] < 0) or np.any(f["feature"] >= n_features):
        raise ValueError(f"forest_ split features lie outside 0..{n_features - 1}")
    if not 0 <= int(f["depth"][0]) <= n or not np.isfinite(f["value"]).all() or not np.isfinite(f["denominator"]).all():
        raise ValueError("forest_ depth or path lengths are out of range")


def _forest_scores(f: dict, Z: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """``-IsolationForest.score_samples``: 2 ** -(mean path length / c(max_samples))."""
    Z32 = np.asarray(Z, dtype=np.float32)  # scikit-learn validates X to float32
    flat_children = f["children"].ravel()
    feat, thr, val, roots = f["feature"], f["threshold"], f["value"], f["roots"]
    depths = np.zeros(Z32.shape[0])
    for a in range(0, Z32.shape[0], chunk):
        Zc = Z32[a:a + chunk]
        flat = Zc.ravel()
        base = (np.arange(Zc.shape[0]) * Zc.shape[1])[:, None]
        node = np.broadcast_to(roots, (Zc.shape[0], roots.size)).copy()
        for _ in range(int(f["depth"][0])):  # right child where x > threshold (left on <=, as scikit-learn)
            right = flat[base + feat[node]] > thr[node]
            node = flat_children[2 * node + right]
        v = val[node]
        d = depths[a:a + chunk]
        for t in range(roots.size):  # tree by tree, in scikit-learn's order of additions
            d += v[:, t]
    denom = f["denominator"]
    return 2 ** (-np.divide(depths, denom, out=np.ones_like(depths), where=denom != 0))


class EnsembleDetector(BaseDetector):
    """Average of member scores, each normalised on its own training scores.

    A member's raw score ``s`` becomes ``(s - median) / (q99 - median)`` with the median
    and 99th percentile of its training scores, so members on different scales weigh
    alike. A metric's contribution is the average over members of its share of the
    member's contributions times the member's (non-negative) normalised score, or, with
    ``explain_member=i``, member ``i``'s own contributions (e.g. ``0``, the MAD member with
    its change term, which ranks culprits best on SMD while PCA helps the detection).
    ``detectors`` defaults to MAD (with a 30-step change term) + PCA + Isolation Forest.
    """

    def __init__(self, *, detectors: list[BaseDetector] | None = None, explain_member: int | None = None,
                 threshold: str = "pot", risk: float = 0.01, level: float = 0.95, rate: float = 0.01,
                 smoothing: int = 5, random_state: int | None = 0) -> None:
        super().__init__(threshold=threshold, risk=risk, level=level, rate=rate, smoothing=smoothing,
                         random_state=random_state)
        self.detectors = detectors
        self.explain_member = explain_member

    @property
    def transductive(self) -> bool:  # type: ignore[override]
        return any(m.transductive for m in getattr(self, "members_", None) or self._members())

    def _members(self) -> list[BaseDetector]:
        if self.detectors is None:
            return [MADDetector(change_window=30, random_state=self.random_state),
                    PCADetector(random_state=self.random_state), IForestDetector(random_state=self.random_state)]
        if not self.detectors:
            raise ConfigError("The 'detectors' parameter of EnsembleDetector must not be empty.")
        return list(self.detectors)

    def _fit(self, X, progress):
        import copy

        n_members = len(self._members())
        if self.explain_member is not None and not (
                isinstance(self.explain_member, (int, np.integer)) and 0 <= self.explain_member < n_members):
            raise ConfigError(f"The 'explain_member' parameter of EnsembleDetector must be None or a member index "
                              f"in 0..{n_members - 1}; got {self.explain_member!r} instead.")
        self.members_ = []
        self.norm_ = []
        members = self._members()
        for i, det in enumerate(members):
            det = copy.deepcopy(det)
            det.fit(X)
            raw = det._train_raw_scores(X)
            med, q99 = float(np.median(raw)), float(np.quantile(raw, 0.99))
            self.members_.append(det)
            self.norm_.append((med, max(q99 - med, 1e-12)))
            if progress:
                progress(i + 1, len(members), type(det).__name__)
        self.context_ = max(d.context_ for d in self.members_)

    def _normalised(self, X, *, training: bool = False):
        return [((d._train_raw_scores(X) if training else d._raw_scores(X)) - m) / s
                for d, (m, s) in zip(self.members_, self.norm_)]

    def _raw_scores(self, X):
        return np.mean(self._normalised(X), axis=0)

    def _train_raw_scores(self, X):
        return np.mean(self._normalised(X, training=True), axis=0)

    def _contributions(self, X, *, training: bool = False):
        if self.explain_member is not None:
            member = self.members_[self.explain_member]
            return member._train_contributions(X) if training else member._contributions(X)
        out = np.zeros_like(X)
        for det, s in zip(self.members_, self._normalised(X, training=training)):
            C = det._train_contributions(X) if training else det._contributions(X)
            tot = C.sum(axis=1, keepdims=True)
            share = np.divide(C, tot, out=np.full_like(C, 1.0 / C.shape[1]), where=tot > 0)
            out += share * np.maximum(s, 0.0)[:, None]
        return out / len(self.members_)

    def _train_contributions(self, X):
        return self._contributions(X, training=True)


def recentre(X: np.ndarray, window: int, level: np.ndarray) -> np.ndarray:
    """Shift each column so that the median of its previous ``window`` rows sits at ``level``.

    Rows before the array are taken as copies of the first row, so the result for row ``i``
    depends only on rows ``<= i`` (causal).
    """
    import pandas as pd

    L = int(window)
    if L == 0:
        return X
    P = np.concatenate([np.repeat(X[:1], L, axis=0), X], axis=0)
    prev_median = pd.DataFrame(P).rolling(L).median().to_numpy()[L - 1:-1]
    return X - prev_median + level


class RecentredDetector(BaseDetector):
    """Wrap any detector so that lasting level shifts become the new normal.

    Each metric is shifted so that the median of its previous ``window`` rows sits at its
    training median before the inner ``detector`` sees it (the same transformation as
    :class:`PCADetector`'s ``recenter_window``). A shift alarms at its onset and fades after
    about ``window / 2`` rows; so do anomalies longer than that. The threshold and the
    smoothing are this wrapper's; the inner detector's raw scores and contributions are used.
    """

    def __init__(self, *, detector: BaseDetector | None = None, window: int = 1440, threshold: str = "pot",
                 risk: float = 0.01, level: float = 0.95, rate: float = 0.01, smoothing: int = 5,
                 random_state: int | None = 0) -> None:
        super().__init__(threshold=threshold, risk=risk, level=level, rate=rate, smoothing=smoothing,
                         random_state=random_state)
        self.detector = detector
        self.window = window

    @property
    def transductive(self) -> bool:  # type: ignore[override]
        inner = getattr(self, "inner_", self.detector)
        return bool(inner is not None and inner.transductive)

    @property
    def context_(self) -> int:  # type: ignore[override]
        inner = getattr(self, "inner_", self.detector)
        return int(self.window) + int(getattr(inner, "context_", 0) if inner is not None else 0)

    def _fit(self, X, progress):
        import copy

        if self.detector is None:
            raise ConfigError("The 'detector' parameter of RecentredDetector is required.")
        if not isinstance(self.window, (int, np.integer)) or self.window < 1:
            raise ConfigError(f"The 'window' parameter of RecentredDetector must be an int >= 1; "
                              f"got {self.window!r} instead.")
        self.inner_ = copy.deepcopy(self.detector).fit(recentre(X, self.window, self.median_), progress=progress)

    def _raw_scores(self, X):
        return self.inner_._raw_scores(recentre(X, self.window, self.median_))

    def _train_raw_scores(self, X):  # the inner detector was fitted on exactly these recentred rows
        return self.inner_._train_raw_scores(recentre(X, self.window, self.median_))

    def _contributions(self, X):
        return self.inner_._contributions(recentre(X, self.window, self.median_))

    def _train_contributions(self, X):
        return self.inner_._train_contributions(recentre(X, self.window, self.median_))


class MetricNormDetector(BaseDetector):
    """Score a row by its per-metric residuals, each on its own training scale.

    The inner ``detector``'s per-metric contributions (a reconstruction model's squared
    errors, MAD's z-scores) are normalised per metric with the median ``m_j`` and the
    ``quantile`` ``q_j`` of that metric's training contributions, ``(c_j - m_j) / (q_j - m_j)``
    (the denominator floored at ``min_scale``), and reduced over the metrics by ``reduce``:
    ``"max"`` (the most surprising metric decides), ``"mean"``, or ``"topk"`` (mean of the
    ``k`` largest). Without it, a reconstruction error is the plain sum over metrics, so
    metrics that are always hard to reconstruct dominate and a large error in one metric
    that is usually reconstructed well is diluted. Label-free and causal: the scales come
    from the training rows only and each row is scored from its own residuals. A metric's
    contribution is its normalised residual, clipped at 0.
    """

    def __init__(self, *, detector: BaseDetector | None = None, reduce: str = "max", k: int = 3,
                 quantile: float = 0.99, min_scale: float = 1e-6, threshold: str = "pot", risk: float = 0.01,
                 level: float = 0.95, rate: float = 0.01, smoothing: int = 5, random_state: int | None = 0) -> None:
        super().__init__(threshold=threshold, risk=risk, level=level, rate=rate, smoothing=smoothing,
                         random_state=random_state)
        self.detector = detector
        self.reduce = reduce
        self.k = k
        self.quantile = quantile
        self.min_scale = min_scale

    @property
    def context_(self) -> int:  # type: ignore[override]
        inner = getattr(self, "inner_", self.detector)
        return int(getattr(inner, "context_", 0)) if inner is not None else 0

    def _fit(self, X, progress):
        import copy

        if self.detector is None:
            raise ConfigError("The 'detector' parameter of MetricNormDetector is required.")
        if self.reduce not in ("max", "mean", "topk"):
            raise ConfigError(f"The 'reduce' parameter of MetricNormDetector must be 'max', 'mean' or 'topk'; "
                              f"got {self.reduce!r} instead.")
        if not isinstance(self.k, (int, np.integer)) or self.k < 1 or (self.reduce == "topk" and self.k > X.shape[1]):
            raise ConfigError(f"The 'k' parameter of MetricNormDetector must be an int in 1..{X.shape[1]}; "
                              f"got {self.k!r} instead.")
        if not isinstance(self.quantile, (int, float, np.floating)) or not 0.5 < self.quantile < 1:
            raise ConfigError(f"The 'quantile' parameter of MetricNormDetector must be in (0.5, 1); "
                              f"got {self.quantile!r} instead.")
        _check_pos(self, "min_scale", self.min_scale)
        self.inner_ = copy.deepcopy(self.detector).fit(X, progress=progress)
        C = self.inner_._train_contributions(X)
        self.centre_ = np.median(C, axis=0)
        self.spread_ = np.maximum(np.quantile(C, self.quantile, axis=0) - self.centre_, self.min_scale)

    def _normalised(self, X, *, training: bool = False):
        C = self.inner_._train_contributions(X) if training else self.inner_._contributions(X)
        return (C - self.centre_) / self.spread_

    def _train_raw_scores(self, X):
        return self._reduce(self._normalised(X, training=True))

    def _raw_scores(self, X):
        return self._reduce(self._normalised(X))

    def _reduce(self, Z):
        if self.reduce == "max":
            return Z.max(axis=1)
        if self.reduce == "mean":
            return Z.mean(axis=1)
        return np.sort(Z, axis=1)[:, -int(self.k):].mean(axis=1)

    def _contributions(self, X):
        return np.maximum(self._normalised(X), 0.0)
