"""Fault injection: crashes, lost database connections, a full pool and bad input (see README.md)."""
