"""RLScheduler (Zhang et al., SC'20) README tables, all 40 cells, to 4 decimals."""

import pytest

from hpcopt.schedule.rlscheduler import RLSCHEDULER_STARTS, simulate_rlscheduler

ORDERS = ("fcfs", "wfp3", "unicep", "sjf", "f1")
PUBLISHED = {
    ("lublin1", "bsld", False): (7273.7714, 19753.5275, 22274.7447, 277.3483, 258.3664),
    ("lublin1", "bsld", True): (235.8173, 133.8738, 307.2329, 73.3065, 75.0682),
    ("lublin1", "util", False): (0.6566, 0.7465, 0.6908, 0.7616, 0.8160),
    ("lublin1", "util", True): (0.8682, 0.8644, 0.8834, 0.7784, 0.8401),
    ("lublin2", "bsld", False): (7842.4709, 9523.1751, 11265.3115, 787.8874, 698.3368),
    ("lublin2", "bsld", True): (247.6067, 318.3531, 379.5924, 91.9934, 148.2494),
    ("lublin2", "util", False): (0.4041, 0.5433, 0.5104, 0.5619, 0.4775),
    ("lublin2", "util", True): (0.5870, 0.5829, 0.5865, 0.5928, 0.5519),
}


@pytest.mark.parametrize("trace", ["lublin1", "lublin2"])
@pytest.mark.parametrize("backfill", [False, True], ids=["none", "greedy"])
@pytest.mark.parametrize("order", ORDERS)
def test_published_cell(request, trace, backfill, order):
    workload = request.getfixturevalue(trace)
    result = simulate_rlscheduler(workload, order, backfill)
    i = ORDERS.index(order)
    assert round(result["avg_bsld"], 4) == PUBLISHED[(trace, "bsld", backfill)][i]
    assert round(result["utilization"], 4) == PUBLISHED[(trace, "util", backfill)][i]
    assert result["jobs"] == 1024 * 10 and result["starts"] == list(RLSCHEDULER_STARTS)


def test_real_wait_changes_wfp3_and_only_it(lublin1):
    """With the real wait (now - submit), WFP3 differs from the published cell; FCFS does not."""
    published = simulate_rlscheduler(lublin1, "wfp3", False)
    real = simulate_rlscheduler(lublin1, "wfp3", False, wait="now")
    assert real["avg_bsld"] < published["avg_bsld"] / 10
    assert simulate_rlscheduler(lublin1, "fcfs", True, wait="now")["avg_bsld"] == pytest.approx(235.8173, abs=5e-5)
