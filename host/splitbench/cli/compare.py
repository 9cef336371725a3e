"""``splitbench compare``: are two runs of one model different, part by part and in verdict?"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from splitbench.cli.app import NetworkDrawsOpt, app, console
from splitbench.cli.statistic_option import StatisticOpt, checked_statistic
from splitbench.errors import SplitbenchError


@app.command()
def compare(
    dir_a: Annotated[Path, typer.Argument(metavar="DIR_A", help="Run directory A (the base).")],
    dir_b: Annotated[Path, typer.Argument(metavar="DIR_B", help="Run directory B.")],
    out: Annotated[
        Path | None,
        typer.Option(
            help="Folder for compare.csv and compare.html (default: DIR_B/compare-vs-<name of "
            "DIR_A>)."
        ),
    ] = None,
    statistic: StatisticOpt = "median",
    min_effect: Annotated[
        float,
        typer.Option(
            help="Smallest difference that counts, in percent of run A's estimate (default 3: "
            "a quiet machine drifts a few percent between two runs). A difference is "
            "significant when its 95 % interval excludes 0 and it is larger than this."
        ),
    ] = 3.0,
    network: Annotated[
        Path | None,
        typer.Option(
            help="TOML network configurations for the best split per network (default: the "
            "built-in set); their names must be those the runs were reported for."
        ),
    ] = None,
    network_draws: NetworkDrawsOpt = 20,
) -> None:
    """Compare two runs of the same model (two phones, two settings, before and after a
    change): per split and part (head on the client, tail on the server) the difference B − A
    of the statistic with its 95 % interval and whether it is significant, and per network the
    best split of each run and whether it changed. Writes compare.csv and compare.html."""
    import math

    checked_statistic(statistic)
    if not math.isfinite(min_effect) or not 0 <= min_effect < 100:
        raise SplitbenchError(f"--min-effect is a percentage from 0 to 100, got {min_effect:g}")
    from splitbench.network import load_network_configs
    from splitbench.report.compare import compare_runs, summary_lines
    from splitbench.report.compare_runs import CompareError, check_comparable, load_run
    from splitbench.report.compare_write import default_out, write_comparison

    run_a, run_b = load_run(dir_a), load_run(dir_b)
    check_comparable(run_a, run_b)
    networks = load_network_configs(network, draws=network_draws)
    reported = run_a.networks or run_b.networks
    if reported is not None and set(reported) != {cfg.name for cfg in networks}:
        raise CompareError(
            f"the runs were reported for the networks {', '.join(reported)}; pass "
            "--network FILE with those (the one the sweeps used)"
        )
    result = compare_runs(run_a, run_b, networks, statistic=statistic, min_effect_pct=min_effect)
    csv_path, html_path = write_comparison(result, out or default_out(dir_a, dir_b))
    for line in summary_lines(result):
        console.print(line, highlight=False, soft_wrap=True)
    console.print(f"wrote {csv_path}, {html_path}", highlight=False, soft_wrap=True)
