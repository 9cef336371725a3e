"""Benchmark: ``splitbench compress`` on mediapipe:hand_landmark_full over 7 QPs (target: under
2 minutes), and every bitstream decodes bit-exactly.

Runs the real command as a subprocess, timed from the outside (process start to exit), with
``--qp -15,-20,-25,-30,-35,-40,-45 --scenario pose-landmarks`` (each configuration: NNC encode,
decode, write the decoded model, evaluate it on the sample photos). Then, for every bitstream,
a fresh Python process decodes it with ``nncodec.nnc_core`` alone and the values are compared
with the weights of the decoded model the kit wrote (float16, the stored type): equal byte for
byte, or the benchmark fails. The per-configuration times come from results.csv.

Run: ``python benchmarks/bench_compress.py`` (about a minute and a half on two idle cores).
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from machine_load import cpu_snapshot, load_line, machine_share

TARGET_S = 120.0
QPS = "-15,-20,-25,-30,-35,-40,-45"
MODEL = "mediapipe:hand_landmark_full"
SPLITBENCH = Path(sys.executable).parent / "splitbench"

CHECK = textwrap.dedent(
    """
    import sys
    import numpy as np
    from nncodec.nnc_core import approximator, coder
    from splitbench.compress.tflite_params import load_params
    bitstream, model = sys.argv[1], sys.argv[2]
    info = {"parameter_type": {}, "parameter_dimensions": {}, "parameter_index": {},
            "block_identifier": {}, "topology_storage_format": None,
            "topology_compression_format": None, "performance_maps": {"mps": {}, "lps": {}},
            "performance_map_flags": {k: {} for k in (
                "mps_sparsification_flag", "lps_sparsification_flag", "mps_pruning_flag",
                "lps_pruning_flag", "mps_unification_flag", "lps_unification_flag",
                "mps_decomposition_performance_map_flag",
                "lps_decomposition_performance_map_flag")}}
    dec = coder.decode(bytearray(open(bitstream, "rb").read()), info, hls_stats={}, oob_dict={})
    approximator.rec(dec)
    rec = approximator.recompose_params(info, dec)["parameters"]
    stored = load_params(model).arrays
    bad = [k for k, v in stored.items()
           if np.asarray(rec[k]).astype(v.dtype).reshape(v.shape).tobytes() != v.tobytes()]
    print("bit-exact" if not bad else f"DIFFERENT: {bad[:3]}")
    """
)


def main() -> None:
    print(load_line())
    out = Path(tempfile.mkdtemp(prefix="bench-compress-"))
    try:
        before = cpu_snapshot()
        start = time.perf_counter()
        proc = subprocess.run(
            [
                str(SPLITBENCH),
                "compress",
                MODEL,
                "--coder",
                "nnc",
                "--qp",
                QPS,
                "--scenario",
                "pose-landmarks",
                "--out",
                str(out),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - start
        share = machine_share(before, cpu_snapshot(), wall, "compress")
        if proc.returncode != 0:
            sys.exit(f"compress failed:\n{proc.stderr[-3000:]}")
        with open(out / "results.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        exact = 0
        for row in rows:
            tag = row["unique_tag"]
            check = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    CHECK,
                    str(out / "bitstreams" / f"{tag}.nnc"),
                    str(out / "decoded" / f"{tag}.tflite"),
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            verdict = check.stdout.strip() or check.stderr.strip()[-200:]
            exact += verdict == "bit-exact"
            size = f"{int(row['rec_size']):>10,} B ({100 * float(row['compress_ratio']):5.1f} %)"
            print(
                f"  {tag:11s} {size}  displacement {float(row['rec_perf']):7.3f} px"
                f"  encode {float(row['enc_time']):5.2f} s  decode {float(row['dec_time']):5.2f} s"
                f"  eval {float(row['rec_eval_time']):5.2f} s  fresh-process decode: {verdict}"
            )
        verdict = "OK" if wall < TARGET_S and exact == len(rows) == 7 else "MISSED"
        print(
            f"compress {MODEL} --qp {QPS}: {wall:.1f} s wall (target < {TARGET_S:.0f} s), "
            f"{exact}/{len(rows)} bitstreams bit-exact in a fresh process  {verdict}"
        )
        print(share)
        print(load_line())
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
