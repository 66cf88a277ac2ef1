"""How a use case's options become a configured detector and threshold (one place for every face).

``threshold`` is ``pot`` or ``far`` (a fixed threshold from the training scores) or ``spot``
or ``dspot`` (POT on the training scores, then updated on the unlabelled scored rows);
:func:`split_threshold` turns it into the detector's threshold method and the streaming
update. Options that would have no effect are refused, not ignored.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from hpcopt.detect.defaults import DEFAULT_CONFIG as _DC
from hpcopt.errors import ConfigError, InputError

__all__ = ["ADAPTIVE", "split_threshold", "score_threshold", "adapt_params", "configured_detector",
           "check_training_rows", "naming"]

ADAPTIVE = ("spot", "dspot")


def split_threshold(threshold: str) -> tuple[str, str | None]:
    """'spot'/'dspot' -> ('pot', adapt): POT on training scores, then updated on the stream."""
    if threshold in ADAPTIVE:
        return "pot", threshold
    if threshold in ("pot", "far"):
        return threshold, None
    raise ConfigError(f"--threshold must be pot, far, spot or dspot; got {threshold!r}")


def score_threshold(threshold: str) -> str | None:
    """Scoring with a saved detector: 'fixed' (its own threshold) -> None, or 'spot'/'dspot'."""
    if threshold == "fixed":
        return None
    if threshold in ADAPTIVE:
        return threshold
    raise ConfigError(f"--threshold must be fixed, spot or dspot; got {threshold!r}")


def adapt_params(adapt: str | None, depth: int | None, max_peaks: int | None, censored: bool = False) -> dict:
    """SPOT/DSPOT options; options that would have no effect are refused, not ignored."""
    if depth is not None and adapt != "dspot":
        raise ConfigError("--depth is DSPOT's moving-average depth: use it with dspot only")
    if adapt is None:
        if max_peaks is not None:
            raise ConfigError("--max-peaks applies to the streaming thresholds (spot, dspot) only")
        if censored:
            raise ConfigError("--censored applies to the streaming thresholds (spot, dspot) only")
        return {}
    out: dict = {"censored": bool(censored)}
    if depth is not None:
        out["depth"] = depth
    if max_peaks is not None:
        out["max_peaks"] = max_peaks
    return out


def configured_detector(name: str, threshold: str, *, risk: float = _DC["risk"], level: float = _DC["level"],
                        rate: float = _DC["rate"], smoothing: int = _DC["smoothing"], seed: int = _DC["seed"],
                        n_threads: int | None = None, recenter_window: int = 0):
    """The named detector with a use case's threshold, smoothing and seed (an unfitted object)."""
    from hpcopt.detect import make_detector

    params = dict(threshold=threshold, risk=risk, level=level, rate=rate, smoothing=smoothing, random_state=seed)
    if name == "lstm" and n_threads is not None:
        params["n_threads"] = n_threads
    if recenter_window:
        params["recenter_window"] = recenter_window
    return make_detector(name, **params)


def check_training_rows(det, n_rows: int, recenter_window: int, source: str) -> None:
    """A recentred detector needs more rows than its window: say so before fitting, with the way out."""
    needed = max(10, int(det.context_) + 2)
    if recenter_window and n_rows < needed:
        raise InputError(f"{n_rows} training rows, but --recenter-window {recenter_window} needs at least {needed} "
                         "(the window plus the detector's look-back)", source=source,
                         hint=f"pass --recenter-window 0 (off) or a window of at most "
                              f"{max(1, n_rows - needed + recenter_window)}")


@contextmanager
def naming(source: str) -> Iterator[None]:
    """A detector's complaint about the data it was given names that file."""
    try:
        yield
    except InputError as exc:
        if exc.source is not None:
            raise
        raise InputError(exc.reason, source=source, line=exc.line, field=exc.field, hint=exc.hint) from None
