"""Command line interface (placeholder until the sweep lands)."""


def main() -> None:
    raise SystemExit("splitbench: not built yet")
