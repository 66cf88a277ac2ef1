"""Small real samples shipped inside the package (see data/bundled/PROVENANCE.md).

They let the demo, the tutorials and the tests run on a fresh clone without
``../shared/data``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from hpcopt.errors import ConfigError

SAMPLES = {
    "hpc2n": "hpc2n_alea_excerpt.swf.gz",  # 3,170 jobs of HPC2N Seth (SWF)
    "smd-machine-1-6-day": "smd_machine-1-6_day",  # one day of SMD machine-1-6 (SMD layout folder)
    "kt-pnpoly-rtx3090": "kt_pnpoly_RTX3090_time.json.gz",  # a Kernel Tuner cache, 4,092 configurations
}


def sample_path(name: str) -> Path:
    """The path of a bundled sample by name (one of :data:`SAMPLES`)."""
    if name not in SAMPLES:
        from hpcopt.core.registry import did_you_mean

        raise ConfigError(f"unknown sample {name!r}{did_you_mean(name, list(SAMPLES))}; "
                          f"choose one of: {', '.join(SAMPLES)}")
    return Path(str(resources.files("hpcopt.data") / "bundled" / SAMPLES[name]))
