"""The statistic choices, importable without numpy/scipy (the CLI's options need them)."""

STATISTICS = ("median", "mean")  # --statistic choices; "median" is the default
