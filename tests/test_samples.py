"""The bundled samples are what their PROVENANCE.md says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hpcopt.data.samples import SAMPLES, sample_path
from hpcopt.errors import ConfigError

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def test_every_sample_exists():
    for name in SAMPLES:
        assert sample_path(name).exists()
    with pytest.raises(ConfigError, match="did you mean 'hpc2n'"):
        sample_path("hpc2m")


def test_smd_day():
    from hpcopt.data.telemetry import load_labelled_series

    s = load_labelled_series(sample_path("smd-machine-1-6-day"), "machine-1-6")
    assert s.train.shape == (1440, 38) and s.test.shape == (1440, 38)
    assert int(s.labels.sum()) == 11 and [(g.start, g.end) for g in s.interpretation] == [(246, 252), (653, 658)]


@pytest.mark.shared
@pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data")
def test_samples_equal_their_sources():
    from hpcopt.data.telemetry import load_labelled_series
    from hpcopt.tune import load_cache

    small = load_cache(sample_path("kt-pnpoly-rtx3090"))
    full = load_cache(SHARED / "autotune_cache" / "kt_pnpoly_RTX3090.json.gz")
    assert small.points == full.points and np.array_equal(small.values, full.values, equal_nan=True)
    assert small.statuses == full.statuses and small.optimum == full.optimum
    day = load_labelled_series(sample_path("smd-machine-1-6-day"), "machine-1-6")
    src = load_labelled_series(SHARED / "telemetry" / "smd", "machine-1-6")
    assert np.array_equal(day.train, src.train[:1440]) and np.array_equal(day.test, src.test[:1440])
    assert np.array_equal(day.labels, src.labels[:1440])
