"""Robust statistics of measured parts and the verdict they allow (issue 24)."""
