"""Output options shared by the schedule, estimate and trace commands: --report FILE.html
and --force, checked before any work so a long run never ends in a refused write."""

from __future__ import annotations

from pathlib import Path

FORCE_HELP = "Overwrite output files (or replace a model directory) that already exist."
REPORT_HELP = "Write a self-contained HTML report to FILE.html (missing folders are created)."


def check_report(report: Path | None, inputs: list, force: bool) -> None:
    """--report FILE.html: an .html name, not an input of the command, not an existing file without --force."""
    from hpcopt.core.files import prepare_report

    prepare_report(report, inputs=inputs, force=force)
