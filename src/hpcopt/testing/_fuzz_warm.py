"""Imported by the fuzzer's fork server: loads the compiled parts once for every worker."""

from hpcopt.testing.fuzz_targets import warm

warm()
