"""Cut the fuzz corpus's small real samples out of ../shared/data (run once; see PROVENANCE.md).

Usage: python tests/data/fuzz/cut_samples.py  (from the repository root, with ../shared/data present)
"""

import gzip
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[3] / "shared" / "data"


def lines(path: Path) -> list[str]:
    return gzip.decompress(path.read_bytes()).decode("utf-8").splitlines()


def write(name: str, rows: list[str]) -> None:
    (HERE / name).write_text("\n".join(rows) + "\n", encoding="utf-8")


def main() -> None:
    # NREL Eagle job table: header + the first 100 jobs
    write("nrel_eagle_100.csv", lines(SHARED / "traces" / "nrel_eagle_sample_1000.csv.gz")[:101])
    # SMD machine-1-6: train rows 0..119; test rows 200..319 around the labelled segment 246-252
    smd = SHARED / "telemetry" / "smd"
    write("smd_m16_train.txt", lines(smd / "train" / "machine-1-6.txt.gz")[:120])
    write("smd_m16_test.txt", lines(smd / "test" / "machine-1-6.txt.gz")[200:320])
    write("smd_m16_labels.txt", lines(smd / "test_label" / "machine-1-6.txt.gz")[200:320])
    segs = []
    for ln in lines(smd / "interpretation_label" / "machine-1-6.txt.gz"):
        span, _, dims = ln.partition(":")
        s, e = (int(v) for v in span.split("-"))
        if s >= 200 and e <= 320:
            segs.append(f"{s - 200}-{e - 200}:{dims}")
    write("smd_m16_interpretation.txt", segs)
    # HPAS/LDMS store_csv: the healthy ExaMiniMD run's first 60 meminfo samples
    write("hpas_meminfo_60.csv", lines(SHARED / "telemetry" / "hpas_ldms" / "runs" / "ExaMiniMD" / "meminfo.csv.gz")[:61])
    # Prometheus scrapes and JSON lines built from the same HPAS samples (node_exporter's
    # names for the meminfo fields, kB -> bytes, LDMS time in ms)
    hpas = lines(SHARED / "telemetry" / "hpas_ldms" / "runs" / "ExaMiniMD" / "meminfo.csv.gz")[:61]
    cols = hpas[0].lstrip("#").split(",")
    keep_cols = ("MemFree", "MemAvailable", "Cached", "Active")
    idx = [cols.index(c) for c in keep_cols]
    rows = [r.split(",") for r in hpas[1:]]
    for k in range(3):
        r = rows[k]
        ms = int(round(float(r[0]) * 1000))
        out = []
        for c, i in zip(keep_cols, idx):
            name = f"node_memory_{c}_bytes"
            out += [f"# HELP {name} Memory information field {c}_bytes.", f"# TYPE {name} gauge",
                    f'{name}{{instance="{r[2]}"}} {int(r[i]) * 1024} {ms}']
        write(f"prom_scrape_{k + 1}.prom", out)
    write("jsonl_meminfo_60.jsonl", [
        f'{{"timestamp": {float(r[0])}, "entity": "{r[2]}", "values": [{", ".join(str(int(r[i]) * 1024) for i in idx)}]}}'
        for r in rows])
    # E2EWatch LDMS wide table (5 rows, with a header): whole file
    write("ldms_e2ewatch.csv", lines(SHARED / "telemetry" / "formats" / "ldms_cray_aries_sample_e2ewatch.csv.gz"))
    # NAB: ec2_cpu_utilization_24ae8d rows 0..399 and its first window only
    nab = SHARED / "telemetry" / "nab"
    rows = lines(nab / "data" / "realAWSCloudwatch" / "ec2_cpu_utilization_24ae8d.csv.gz")
    first = next(i for i, r in enumerate(rows) if r.startswith("2014-02-26 13:45"))
    last = next(i for i, r in enumerate(rows) if r.startswith("2014-02-27 06:25"))
    write("nab_ec2_cpu_400.csv", [rows[0]] + rows[first - 150:first - 150 + 400])
    assert last < first + 250, (first, last)
    lab = lines(nab / "labels.csv.gz")
    keep = [lab[0]] + [r for r in lab[1:] if r.startswith("realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv,window,0,")]
    write("nab_labels.csv", keep)
    # Kernel Tuner cache: pnpoly on an RTX 3090, the first 30 records
    d = json.loads(gzip.decompress((SHARED / "autotune_cache" / "kt_pnpoly_RTX3090.json.gz").read_bytes()))
    d["cache"] = dict(list(d["cache"].items())[:30])
    (HERE / "kt_pnpoly_30.json").write_text(json.dumps(d, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
