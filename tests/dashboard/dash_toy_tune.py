"""A deterministic objective for the dashboard's tuning study (imported by the tune runner)."""


def bowl(x: int, y: int) -> float:
    """A bowl with its minimum 1.0 at x = 3, y = 1; y matters ten times less than x."""
    return 1.0 + (x - 3) ** 2 + 0.1 * (y - 1) ** 2
