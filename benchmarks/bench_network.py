"""Benchmark: what ``transport = "tcp"`` adds to a PoseNet sweep (issue 22's target).

All five built-in network profiles switched to ``tcp`` with 1 % loss and 20 draws; the transfers
a PoseNet sweep needs (every distinct cut size of the 31-operator model uplink, its output
downlink) are simulated exactly as :func:`splitbench.report.split_table.build_split_table` asks
for them (:func:`splitbench.network.tcp.transfer_times`), into a fresh cache:

* **first run**: every transfer simulated (ns-3 loaded in the child processes, one per core);
* **rerun**: the same call again, answered by the cache (what a report rebuild or a second
  sweep costs).

The measurements themselves are not part of this figure (they do not change with the
transport). Targets: first run at most 60 s, rerun under 1 s, on the machine as it is: the load
is printed beside the figures.

Run: ``python benchmarks/bench_network.py`` (about a minute).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import replace

from machine_load import cpu_snapshot, load_line, machine_share

FIRST_TARGET_S = 60.0
RERUN_TARGET_S = 1.0


def main() -> int:
    from splitbench.cutplan import output_bytes, plan_cuts
    from splitbench.graph import load_graph
    from splitbench.network import load_network_configs
    from splitbench_models.posenet import build_posenet_tflite

    graph = load_graph(build_posenet_tflite())
    n = graph.num_operators
    sizes = [cut.nbytes for cut in plan_cuts(graph)[:n]]
    out = output_bytes(graph)
    networks = [
        replace(c, transport="tcp", loss=0.01) for c in load_network_configs(None, draws=20)
    ]
    with tempfile.TemporaryDirectory(prefix="bench_network_") as cache:
        os.environ["SPLITBENCH_CACHE"] = cache
        from splitbench.network.tcp import transfer_times, transfers

        count = sum(
            len(transfers(c, d, s))
            for c in networks
            for d, group in (("up", set(sizes)), ("down", {out}))
            for s in group
        )
        print(
            f"PoseNet: {n} splits, {len(set(sizes))} distinct cut sizes "
            f"({sum(set(sizes)) / 1e6:.1f} MB), output {out} bytes; "
            f"{len(networks)} tcp profiles, 1 % loss, 20 draws: {count} transfers"
        )
        print(load_line())
        before = cpu_snapshot()
        started = time.monotonic()
        transfer_times(networks, sizes, [out])
        first = time.monotonic() - started
        after = cpu_snapshot()
        started = time.monotonic()
        transfer_times(networks, sizes, [out])
        rerun = time.monotonic() - started
    print(machine_share(before, after, first, "the simulation"))
    print(load_line())
    ok_first = "ok" if first <= FIRST_TARGET_S else "OVER"
    ok_rerun = "ok" if rerun < RERUN_TARGET_S else "OVER"
    print(f"first run {first:.1f} s (target <= {FIRST_TARGET_S:.0f} s: {ok_first})")
    print(f"rerun {rerun:.2f} s (target < {RERUN_TARGET_S:.0f} s: {ok_rerun})")
    return 0 if ok_first == ok_rerun == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
