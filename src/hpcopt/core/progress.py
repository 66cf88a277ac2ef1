"""The one progress-callback type: ``progress(done, total, message)``.

Library code reports long work through it; the CLI draws a Rich bar, the MCP face turns
it into progress notifications. ``total`` may be 0 when unknown.
"""

from __future__ import annotations

from typing import Callable, Optional

ProgressFn = Callable[[int, int, str], None]

__all__ = ["ProgressFn", "report"]


def report(progress: Optional[ProgressFn], done: int, total: int, message: str = "") -> None:
    """Call ``progress`` if one was given (so callers need no ``if``)."""
    if progress is not None:
        progress(int(done), int(total), message)
