"""Shipped test helpers: the input fuzzer (:mod:`hpcopt.testing.fuzz`, formats and targets in
:mod:`hpcopt.testing.fuzz_targets`)."""
