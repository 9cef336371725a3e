"""ExecuTorch parts: splitbench's way (decompositions once, parts cut from the edge program,
lowered in parallel workers) against export + lower per part from the eager module, side by
side in one run, on torchvision:mobilenet_v2.

    python benchmarks/bench_executorch.py [--splits 20] [--baseline-splits 4] [--jobs N]

* **splitbench**: ``edge_model`` once (``torch.export`` program → edge dialect with the
  operators XNNPACK keeps), then head and tail of each of ``--splits`` evenly spaced splits cut
  out of it and lowered (``to_backend(XnnpackPartitioner())`` + ``to_executorch()``) by a pool of
  ``--jobs`` worker processes, into an empty cache. Wall time from the export to the last part.
* **baseline**: what a user's script does per part: take the part as an eager module (the
  exported program's part as a ``GraphModule``), ``torch.export.export`` it and
  ``to_edge_transform_and_lower(..., partitioner=[XnnpackPartitioner()]).to_executorch()``.
  Because that costs minutes per split here, it is timed on ``--baseline-splits`` of the same
  splits (evenly chosen) and its mean per part is scaled to all parts; both counts are printed.

Prints both times, the ratio, the machine's load, and whether every part of both ways ran.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine_load import cpu_snapshot, machine_share


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="torchvision:mobilenet_v2")
    ap.add_argument("--splits", type=int, default=20)
    ap.add_argument("--baseline-splits", type=int, default=4)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-et-"))
    try:
        return _run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # its parts are hundreds of MB


def _run(args: argparse.Namespace, work: Path) -> int:
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower
    from splitbench.formats.executorch.lower import PartCache, edge_model
    from splitbench.formats.executorch.splitter import head_spec, part_program, tail_spec
    from splitbench.formats.executorch.units import program_units
    from splitbench.intake.pytorch import example_inputs, intake, load_program

    export = intake(args.model, workdir=work)
    print(f"{args.model}: export {export.path.name}; jobs {args.jobs}; load {os.getloadavg()}")

    # -- splitbench --------------------------------------------------------------------------
    snap = cpu_snapshot(include_self=True)
    started = time.perf_counter()
    program = load_program(export.path)
    edge = edge_model(program)
    t_edge = time.perf_counter() - started
    n = edge.units.num_units
    ks = [round(i * n / (args.splits + 1)) for i in range(1, args.splits + 1)]
    cuts = edge.units.all_cuts()
    specs = [
        s
        for k in ks
        for s in (head_spec(edge.units, k, cuts[k]), tail_spec(edge.units, k, cuts[k]))
    ]
    cache = PartCache(edge, work / "cache", jobs=args.jobs)
    try:
        made = cache.lower_all(specs)
    finally:
        cache.close()
    ours = time.perf_counter() - started
    failed = [r for r in made if isinstance(r, Exception)]
    print(
        f"splitbench: {len(specs)} parts of {len(ks)} splits (of {n + 1}) in {ours:.1f} s "
        f"(decompositions once: {t_edge:.1f} s); failures: {len(failed)}"
    )
    print(machine_share(snap, cpu_snapshot(include_self=True), ours, "splitbench's way"))

    # -- baseline: export + lower per part from the eager module ------------------------------
    aten = program.run_decompositions({})  # functional ATen graph, as a user's split would see
    units = program_units(aten)
    na = units.num_units
    acuts = units.all_cuts()
    chosen = ks[:: max(1, len(ks) // max(1, args.baseline_splits))][: args.baseline_splits]
    snap = cpu_snapshot(include_self=True)
    started = time.perf_counter()
    baseline_parts = 0
    for k in chosen:
        ka = round(k * na / n)
        for spec in (head_spec(units, ka, acuts[ka]), tail_spec(units, ka, acuts[ka])):
            if spec.empty:
                continue
            module = part_program(aten, units, spec).module()
            values = dict(zip(units.inputs, example_inputs(program), strict=True))
            args_ = tuple(values.get(name) for name in spec.inputs)
            if any(a is None for a in args_):  # a tail: run the head eagerly for its inputs
                head = part_program(aten, units, head_spec(units, ka, acuts[ka])).module()
                outs = head(*example_inputs(program))
                outs = outs if isinstance(outs, tuple | list) else (outs,)
                hs = head_spec(units, ka, acuts[ka])
                values.update(dict(zip(hs.outputs, outs, strict=True)))
                args_ = tuple(values[name] for name in spec.inputs)
            t0 = time.perf_counter()
            with torch.no_grad():
                exported = torch.export.export(module, args_)
                to_edge_transform_and_lower(
                    exported, partitioner=[XnnpackPartitioner()]
                ).to_executorch()
            baseline_parts += 1
            took = time.perf_counter() - t0
            print(f"  baseline split {k}, part of {len(spec.inputs)} input(s): {took:.1f} s")
    base = time.perf_counter() - started
    per_part = base / max(1, baseline_parts)
    scaled = per_part * len(specs)
    print(
        f"baseline: {baseline_parts} parts of {len(chosen)} splits in {base:.1f} s, "
        f"{per_part:.1f} s per part -> {scaled:.1f} s for all {len(specs)} parts"
    )
    print(machine_share(snap, cpu_snapshot(include_self=True), base, "the baseline"))
    print(f"ratio (baseline / splitbench, all {len(specs)} parts): {scaled / ours:.1f}x")
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
