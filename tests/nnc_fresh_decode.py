"""Decode an NNC bitstream in a fresh process with nothing but ``nncodec.nnc_core`` and compare
it bit for bit with an encoder's reconstruction saved as ``.npz`` (what a receiver would run)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

_SCRIPT = """
import sys
import numpy as np
from nncodec.nnc_core import approximator, coder
bitstream, reference = sys.argv[1], sys.argv[2]
info = {"parameter_type": {}, "parameter_dimensions": {}, "parameter_index": {},
        "block_identifier": {}, "topology_storage_format": None,
        "topology_compression_format": None,
        "performance_maps": {"mps": {}, "lps": {}},
        "performance_map_flags": {k: {} for k in (
            "mps_sparsification_flag", "lps_sparsification_flag", "mps_pruning_flag",
            "lps_pruning_flag", "mps_unification_flag", "lps_unification_flag",
            "mps_decomposition_performance_map_flag",
            "lps_decomposition_performance_map_flag")}}
data = bytearray(open(bitstream, "rb").read())
dec = coder.decode(data, info, hls_stats={}, oob_dict={})
approximator.rec(dec)
rec = approximator.recompose_params(info, dec)["parameters"]
enc = np.load(reference)
assert sorted(rec) == sorted(enc.files), (sorted(rec), enc.files)
for k in enc.files:
    a, b = np.asarray(rec[k], np.float32), enc[k].astype(np.float32)
    assert a.shape == b.shape and a.tobytes() == b.tobytes(), k
print("bit-exact", len(enc.files))
"""


def decode_in_fresh_process(bitstream: Path, reference_npz: Path) -> subprocess.CompletedProcess:
    """Run the decoder in a new interpreter; stdout is ``bit-exact N`` when every array of
    ``reference_npz`` equals the decoded one byte for byte."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_SCRIPT), str(bitstream), str(reference_npz)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
