"""What a runner can observe besides time: peak memory and energy.

* ``max_rss`` -- the peak resident set size of the measured child process, in MiB,
  from the ``rusage`` that ``wait4`` returns for that very child (not the running
  maximum over all children that ``getrusage(RUSAGE_CHILDREN)`` gives). Commands and
  kernels are started through a small launcher, so the tuner's own memory is not
  charged to them. For a Python callable it needs the call to run in a forked child
  (``isolate=True`` or a timeout), and it is the memory the calls *added*: the child's
  peak minus its resident size right after the fork (the tuner's pages it shares).
* ``energy`` -- joules from the Linux RAPL counters under ``/sys/class/powercap``
  (``intel-rapl:N/energy_uj`` of every package, also used by AMD's ``amd_rapl``
  driver), read before and after each run, with the counter's wrap-around handled.
  The counters are per socket: everything else running on the socket is counted too.
  Where there are none, or they are not readable (root-only since Linux 5.10 on many
  distributions), the observer says so and is refused as an objective; no number is
  made up.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

OBJECTIVES = ("time", "max_rss", "energy")
UNITS = {"time": "s (or the runner's timing unit)", "max_rss": "MiB", "energy": "J"}
POWERCAP = "/sys/class/powercap"


_PACKAGE = re.compile(r"^intel-rapl:\d+$")


@dataclass
class _Zone:
    name: str
    energy: Path
    max_range: int


class RaplEnergy:
    """Reads the package-level RAPL energy counters under ``root``."""

    def __init__(self, root: str | os.PathLike = POWERCAP) -> None:
        self.root = Path(root)
        self.zones: list[_Zone] = []
        self.reason = ""
        if not self.root.is_dir():
            self.reason = f"{self.root} does not exist (no RAPL powercap interface on this machine)"
            return
        # packages only: intel-rapl:N (not intel-rapl:N:M sub-zones, nor intel-rapl-mmio:N,
        # which reports the same package through MMIO and would count it twice)
        cands = sorted(p for p in self.root.iterdir()
                       if _PACKAGE.match(p.name) and (p / "energy_uj").exists())
        if not cands:
            self.reason = f"no RAPL package zone (intel-rapl:N/energy_uj) under {self.root}"
            return
        for z in cands:
            try:
                name = (z / "name").read_text().strip() if (z / "name").exists() else z.name
                rng = int((z / "max_energy_range_uj").read_text())
                int((z / "energy_uj").read_text())
            except PermissionError:
                self.reason = f"{z / 'energy_uj'} is not readable (permission denied; RAPL is often root-only)"
                self.zones = []
                return
            except (OSError, ValueError) as exc:
                self.reason = f"cannot read {z}: {exc}"
                self.zones = []
                return
            if any(o.name == name for o in self.zones):  # the same package twice (e.g. re-enumerated)
                continue
            self.zones.append(_Zone(name, z / "energy_uj", rng))

    @property
    def available(self) -> bool:
        return bool(self.zones)

    def read(self) -> list[int]:
        return [int(z.energy.read_text()) for z in self.zones]

    def joules(self, before: list[int], after: list[int]) -> float:
        """Energy between two readings, summed over the packages (counters wrap at their range)."""
        total = 0
        for z, b, a in zip(self.zones, before, after):
            d = a - b
            if d < 0:
                d += z.max_range + 1
            total += d
        return total / 1e6

    def status(self) -> str:
        if self.available:
            return f"available: {', '.join(z.name for z in self.zones)} ({self.root})"
        return f"unavailable: {self.reason}"


def observer_status(powercap_root: str | os.PathLike = POWERCAP) -> dict[str, str]:
    """What this machine can observe, as text per objective."""
    return {
        "time": "available: wall clock, user CPU of the child (wait4), or a number from the output",
        "max_rss": ("available: peak RSS of each child from wait4" if hasattr(os, "wait4")
                    else "unavailable: os.wait4 is missing on this platform"),
        "energy": RaplEnergy(powercap_root).status(),
    }


def check_objectives(objectives, *, python_isolated: bool | None = None,
                     powercap_root: str | os.PathLike = POWERCAP) -> RaplEnergy | None:
    """Validate objective names; returns the energy reader when energy is asked for."""
    from hpcopt.errors import ConfigError

    objectives = list(objectives)
    if not objectives:
        raise ConfigError("give at least one objective")
    bad = [o for o in objectives if o not in OBJECTIVES]
    if bad:
        raise ConfigError(f"unknown objective {bad[0]!r}; one of: {', '.join(OBJECTIVES)}")
    if len(set(objectives)) != len(objectives):
        raise ConfigError(f"objectives repeat a name: {objectives}")
    if "max_rss" in objectives and python_isolated is False:
        raise ConfigError("objective 'max_rss' of a Python callable needs it to run in a child process: "
                          "give isolate=True or a timeout")
    if "energy" in objectives:
        rapl = RaplEnergy(powercap_root)
        if not rapl.available:
            raise ConfigError(f"objective 'energy' is unavailable on this machine: {rapl.reason}")
        return rapl
    return None


def aggregate(name: str, samples: list[float]) -> float:
    """Median of the repetitions, except peak memory: the largest."""
    import numpy as np

    vals = [v for v in samples if not math.isnan(v)]
    if not vals:
        return math.nan
    return float(max(vals)) if name == "max_rss" else float(np.median(vals))


__all__ = ["RaplEnergy", "observer_status", "check_objectives", "aggregate", "OBJECTIVES", "UNITS"]
