"""Per-user choice between the learned model and the baselines."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpcopt.estimate.selection import PerUserSelection


def feed(sel, user, rows):
    for est, runtime in rows:
        sel.update(user, np.asarray(est, float), runtime)


def test_needs_min_jobs_before_switching():
    sel = PerUserSelection(3, window=20, z=2.0, min_jobs=5)
    # model says half the runtime, the request is exact: accuracy 0.5 vs 1.0, errors 50 vs 0
    feed(sel, 7, [((50, 100, 50), 100.0)] * 4)
    assert sel.choose(7) == 0
    feed(sel, 7, [((50, 100, 50), 100.0)])
    assert sel.choose(7) == 1
    assert sel.choose(8) == 0  # another user has no evidence


def test_hand_computed_paired_test():
    # differences in accuracy of source 1 over source 0: 0.5, 0.5, 0.0, 0.0, 0.5 (runtime 100)
    rows = [((50, 100, 50), 100.0), ((50, 100, 50), 100.0), ((100, 100, 50), 100.0),
            ((100, 100, 50), 100.0), ((50, 100, 50), 100.0)]
    d = np.array([0.5, 0.5, 0, 0, 0.5])
    t = d.mean() / (d.std(ddof=1) / np.sqrt(5))  # 0.3 / (0.27386 / 2.236) = 2.449
    assert t == pytest.approx(2.4495, abs=1e-3)
    sel = PerUserSelection(3, window=20, z=2.0)
    feed(sel, 1, rows)
    assert sel.choose(1) == 1
    sel = PerUserSelection(3, window=20, z=2.5)  # t = 2.45 is not enough
    feed(sel, 1, rows)
    assert sel.choose(1) == 0


def test_better_accuracy_but_worse_absolute_error_does_not_switch():
    # source 1 wins on accuracy on short jobs but loses heavily in seconds on one long job
    rows = [((10, 20, 10), 20.0)] * 6 + [((90000, 20000, 90000), 100000.0)]
    sel = PerUserSelection(3, window=20, z=1.0)
    feed(sel, 3, rows)
    a = np.array([[0.5, 1.0]] * 6 + [[0.9, 0.2]])
    assert (a[:, 1] - a[:, 0]).mean() > 0  # better accuracy on average...
    assert sel.choose(3) == 0  # ...but 11,428 s mean error against 1,428 s: stays with the model


def test_window_forgets_old_jobs():
    sel = PerUserSelection(2, window=5, z=2.0)
    feed(sel, 1, [((50, 100), 100.0)] * 5)
    assert sel.choose(1) == 1
    feed(sel, 1, [((100, 50), 100.0)] * 5)  # the model is right again: the old wins drop out
    assert sel.choose(1) == 0


def test_bad_settings():
    with pytest.raises(ValueError, match="window"):
        PerUserSelection(3, window=3, min_jobs=5)
    with pytest.raises(ValueError, match="at least one source"):
        PerUserSelection(0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(1, 1e5), st.floats(0, 1), st.floats(0, 1)), min_size=5, max_size=30))
def test_never_switches_to_a_source_that_is_never_more_accurate(rows):
    """If on every job each alternative is at most as accurate as the model, keep the model."""
    sel = PerUserSelection(3, window=30, z=0.0)
    for runtime, f1, f2 in rows:
        model = runtime  # exact
        feed(sel, 0, [((model, runtime * (1 + 10 * f1), runtime * (1 - f2)), runtime)])
    assert sel.choose(0) == 0
