"""Every reader and file-taking command on mutants of the real samples: no traceback, no
native crash, no hang, no silent acceptance of a value the format forbids.

Run alone with ``pytest -m fuzz tests/fuzz``; ``HPCOPT_FUZZ_MUTANTS`` (default 5000) and
``HPCOPT_FUZZ_SEED`` (default 0) change the run. Each failure is listed with its reproducer
key; ``python benchmarks/fuzz_inputs.py --reproduce KEY --raise`` reruns it with the
traceback. The long run is ``benchmarks/fuzz_inputs.py``.
"""

import os
from collections import Counter

import pytest

from conftest import TEST_DATA
from hpcopt.testing.fuzz import FAILURES, OUTCOMES
from hpcopt.testing.fuzz_targets import TARGETS, build_corpus, fuzz

pytestmark = pytest.mark.fuzz

N_MUTANTS = int(os.environ.get("HPCOPT_FUZZ_MUTANTS", "5000"))
SEED = int(os.environ.get("HPCOPT_FUZZ_SEED", "0"))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    work = build_corpus(TEST_DATA, tmp_path_factory.mktemp("fuzz"))
    return fuzz(work, N_MUTANTS, seed=SEED, workers=2, timeout=10.0)


def _line(r: dict) -> str:
    return (f"{r.get('format')} | {r.get('target')} | {r.get('mutator')} ({str(r.get('detail'))[:70]}) | "
            f"{r.get('outcome')} {r.get('exc_type')} | {str(r.get('message'))[:140]} | reproduce: {r.get('key')}")


def test_every_target_reads_its_clean_sample(run):
    bad = [b for b in run["baselines"] if b.get("outcome") != "success"]
    assert not bad, "clean samples refused (the target is not fuzzed):\n" + "\n".join(_line(b) for b in bad)
    assert {b["target"] for b in run["baselines"]} == set(TARGETS)


def test_mutants_give_clean_errors_or_honest_successes(run):
    res = run["results"]
    assert len(res) >= N_MUTANTS, len(res)
    assert {r["outcome"] for r in res} <= set(OUTCOMES)
    assert {r["target"] for r in res} == set(TARGETS) - set(run["skipped_targets"])
    failures = [r for r in res if r["outcome"] in FAILURES]
    if failures:
        counts = Counter((r["target"], r["outcome"]) for r in failures)
        by_sig: dict = {}
        for r in failures:
            by_sig.setdefault((r["target"], r["outcome"], r.get("exc_type"), str(r.get("message"))[:60]), r)
        lines = [_line(r) for r in list(by_sig.values())[:60]]
        table = "\n".join(f"  {t}: {o} x{n}" for (t, o), n in sorted(counts.items()))
        pytest.fail(f"{len(failures)} of {len(res)} mutants failed (seed {SEED}):\n{table}\n"
                    f"first of each signature (format | target | mutator | outcome | message | key):\n"
                    + "\n".join(lines), pytrace=False)
