"""Parsers of files made outside the kit (benchmark_model, executor_runner) and ``collate``."""
