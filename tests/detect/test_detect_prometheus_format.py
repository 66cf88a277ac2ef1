"""Prometheus exposition as a training/scoring input of the detect commands (--format prometheus)."""

from __future__ import annotations

import numpy as np
import pytest

from hpcopt.data.telemetry import detect_format, read_telemetry
from hpcopt.errors import InputError

TEXT = """# TYPE node_load1 gauge
node_load1{instance="n1"} 0.5 1000
node_load1{instance="n1"} 1.5 2000
node_load1{instance="n1"} 1.0 3000
# TYPE node_cpu_seconds_total counter
node_cpu_seconds_total{instance="n1"} 10 1000
node_cpu_seconds_total{instance="n1"} 12 2000
node_cpu_seconds_total{instance="n1"} 13 3000
"""


def test_one_instance_becomes_a_matrix_with_counters_as_rates(tmp_path):
    p = tmp_path / "scrapes.prom"
    p.write_text(TEXT)
    assert detect_format(p) == "prometheus"
    t = read_telemetry(p)
    assert t.format == "prometheus" and len(t.metric_names) == 2
    cpu = t.metric_names.index(next(n for n in t.metric_names if n.startswith("node_cpu")))
    load = 1 - cpu
    # text-format timestamps are milliseconds: one second apart; the counter's first row
    # only starts its rate, so two rows remain: rates 2/s and 1/s beside loads 1.5 and 1.0
    assert np.allclose(t.values[:, cpu], [2.0, 1.0]) and np.allclose(t.values[:, load], [1.5, 1.0])


def test_two_instances_are_refused(tmp_path):
    p = tmp_path / "two.prom"
    p.write_text(TEXT + 'node_load1{instance="n2"} 0.1 1000\nnode_load1{instance="n2"} 0.2 2000\n')
    with pytest.raises(InputError, match="2 entities"):
        read_telemetry(p, format="prometheus")
