"""The conformance checks, one module per pluggable kind (exported by :mod:`hpcopt.testing`)."""
