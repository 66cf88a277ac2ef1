"""Pieces every capability shares: safe file input and output (more arrive with the core issue)."""
