"""Offline collation: benchmark outputs and results databases into tables, workbooks and plots."""
