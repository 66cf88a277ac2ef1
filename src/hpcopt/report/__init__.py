"""Figures (matplotlib) and self-contained HTML reports."""

from hpcopt.report.html import write_compare_report

__all__ = ["write_compare_report"]
