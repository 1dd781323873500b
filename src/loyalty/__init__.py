"""Loyalty: a multi-vendor loyalty platform (stamp cards, points, wallet passes)."""

__version__ = "0.1.0"
