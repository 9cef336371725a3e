"""Child process of the host profile: run a ``.pte`` N times with ETDump on and write it.

``python -m splitbench.formats.executorch.etdump_run PTE ETDUMP RUNS THREADS [DEBUG_BYTES]``.

In executorch 1.5.1 the ETDump event buffer grows as events come (checked: 1.5 million events,
200 MB, no limit met); the only fixed buffer is the debug buffer for intermediate outputs,
``DEBUG_BYTES`` (0, the kit's default: no intermediate outputs are kept), and when it is too
small the runtime aborts the process instead of raising. So this runs in its own process.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    pte, etdump, runs, threads = Path(argv[0]), Path(argv[1]), int(argv[2]), int(argv[3])
    debug_bytes = int(argv[4]) if len(argv) > 4 else 0
    from splitbench.formats.executorch.runner import input_specs, load, random_inputs, set_threads

    set_threads(threads)
    program, method = load(pte, etdump=True, debug_buffer_size=debug_bytes)
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
