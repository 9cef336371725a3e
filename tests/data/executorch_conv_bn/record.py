"""Record the ETDump and ETRecord beside this file (see README.md); run from the repository:

PYTHONPATH=host:tests python tests/data/executorch_conv_bn/record.py
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNS, THREADS = 10, 1


def main() -> int:
    from executorch_models import write_models
    from splitbench.formats.executorch.profile import make_profiling_program, run_etdump
    from splitbench.intake.convert_torch import convert_export
    from splitbench.intake.pytorch import intake

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_models(folder)
        export = intake(f"{folder / 'et_models.py'}:conv_bn", workdir=folder / "run")
        whole = convert_export(export, "executorch")
        pte, etrecord = make_profiling_program(whole)
        run_etdump(pte, HERE / "conv_bn.etdump", RUNS, THREADS)
        shutil.copyfile(etrecord, HERE / "conv_bn.etrecord")
    return 0


if __name__ == "__main__":
    sys.exit(main())
