import numpy as np
import pytest

from hpcopt.data import load_workload, read_job_table, read_sacct
from hpcopt.errors import InputError

SACCT = """JobIDRaw|User|Group|Partition|QOS|Submit|Start|End|ElapsedRaw|AllocCPUS|ReqCPUS|TimelimitRaw|ReqMem|NNodes|State
100|alice|proj|batch|normal|2024-01-01T00:00:00|2024-01-01T00:00:10|2024-01-01T01:00:10|3600|4|4|120|4000M|1|COMPLETED
100.batch|alice|proj|batch|normal|2024-01-01T00:00:00|2024-01-01T00:00:10|2024-01-01T01:00:10|3600|4|4||4000M|1|COMPLETED
101|bob|proj|debug|normal|2024-01-01T00:05:00|2024-01-01T00:06:00|2024-01-01T00:07:00|60|8|8|UNLIMITED|2Gc|2|CANCELLED by 1
102|alice|proj|batch|normal|2024-01-01T00:10:00|Unknown|Unknown|0|0|2|30|1G|1|PENDING
"""


def test_sacct_maps_to_swf_fields(tmp_path):
    p = tmp_path / "acct.txt"
    p.write_text(SACCT)
    w = read_sacct(p)
    assert len(w) == 3
    assert any("1 job-step" in note for note in w.read_notes)
    np.testing.assert_array_equal(w.column("submit"), [0, 300, 600])
    np.testing.assert_array_equal(w.column("wait"), [10, 60, -1])
    np.testing.assert_array_equal(w.column("runtime"), [3600, 60, 0])
    np.testing.assert_array_equal(w.column("req_time"), [7200, -1, 1800])  # TimelimitRaw is in minutes
    np.testing.assert_array_equal(w.column("status"), [1, 5, -1])
    np.testing.assert_array_equal(w.column("user"), [1, 2, 1])
    # 4000M per node over 4 CPUs = 1000 MB = 1,024,000 KB per CPU; 2Gc is per CPU
    np.testing.assert_allclose(w.column("req_mem")[:2], [4000 * 1024 / 4, 2 * 1024**2])
    assert w.header["UnixStartTime"] == "1704067200"
    assert load_workload(p).column("runtime").tolist() == [3600, 60, 0]  # auto-detected


def test_sacct_missing_column_says_what_to_export(tmp_path):
    p = tmp_path / "acct.txt"
    p.write_text(SACCT.replace("|Submit|", "|Foo|"))
    with pytest.raises(InputError, match="no submit-time column.*sacct -P"):
        read_sacct(p)


def test_sacct_bad_time_names_line_and_column(tmp_path):
    p = tmp_path / "acct.txt"
    p.write_text(SACCT.replace("2024-01-01T00:05:00", "yesterday"))
    with pytest.raises(InputError, match=r"line 4, column Submit: 'yesterday' is not a date"):
        read_sacct(p)


@pytest.mark.shared
def test_nrel_eagle_table():
    from conftest import SHARED_DATA

    w = read_job_table(SHARED_DATA / "traces" / "nrel_eagle_sample_1000.csv.gz")
    assert len(w) == 1000
    s = w.summary()
    assert s["users"] == 15 and s["has_requested_time"]
    assert (w.column("req_time") == 172800).any()
