"""Measurement of model parts: settings in, raw samples out."""
