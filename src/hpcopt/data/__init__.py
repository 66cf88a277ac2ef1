"""Formats in and out, and the typed tables every capability shares."""

from hpcopt.data.workload import CleaningReport, Workload, SWF_FIELDS
from hpcopt.data.swf import read_swf, write_swf
from hpcopt.data.slurm import read_sacct, read_job_table
from hpcopt.data.load import load_workload
from hpcopt.data.samples import sample_path

__all__ = [
    "CleaningReport",
    "Workload",
    "SWF_FIELDS",
    "read_swf",
    "write_swf",
    "read_sacct",
    "read_job_table",
    "load_workload",
    "sample_path",
]
