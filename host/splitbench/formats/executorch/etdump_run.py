"""Child process of the host profile: run a ``.pte`` N times with ETDump on and write it.

``python -m splitbench.formats.executorch.etdump_run PTE ETDUMP RUNS THREADS``. In its own
process because the runtime aborts (not raises) when its ETDump buffer overflows.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    pte, etdump, runs, threads = Path(argv[0]), Path(argv[1]), int(argv[2]), int(argv[3])
    from splitbench.formats.executorch.runner import input_specs, load, random_inputs, set_threads

    set_threads(threads)
    program, method = load(pte, etdump=True)
    method.set_inputs(random_inputs(input_specs(method.method_meta())))
    for _ in range(runs):
        method.execute()
    partial = etdump.with_name(etdump.name + ".partial")
    program.write_etdump_result_to_file(str(partial), str(partial.with_suffix(".debug")))
    partial.replace(etdump)
    partial.with_suffix(".debug").unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
